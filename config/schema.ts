/**
 * The stack config schema: the users' interface. Every key lives in the `model-fleet:` namespace.
 *
 * Shapes and per-field bounds are declared here with zod (strict objects: a misspelt key is an error, not a
 * silently ignored setting); rules that relate several fields live in `crossChecks.ts`.
 */
import * as semver from "semver";
import { z } from "zod";

/** RFC 1123 label, as Kubernetes requires for names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Kubernetes resource quantity (the API server's own grammar, without the exotic exponent forms). */
export const QUANTITY = /^([+]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const dnsLabel = z
    .string()
    .max(63, "must be at most 63 characters")
    .regex(DNS_LABEL, "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending alphanumeric)");
const posInt = z.int().min(1);
const nonNegInt = z.int().min(0);
const quantity = z.string().regex(QUANTITY, "must be a Kubernetes quantity such as 500m, 2 or 8Gi");

export const environmentSchema = z.enum(["development", "production"]);

export const clusterSchema = z.strictObject({
    /** Name of the existing EKS cluster. */
    name: z.string().trim().min(1, "must be a non-empty EKS cluster name"),
});

export const retentionSchema = z.strictObject({
    /** Newest release images (tags `v*`) kept per repository. */
    keepReleases: z.int().min(1, "must be ≥ 1").max(1000, "must be ≤ 1000"),
    /** Untagged images expire after this many days. */
    untaggedDays: z.int().min(1, "must be ≥ 1").max(3650, "must be ≤ 3650"),
    /** Tag globs whose images are never expired (ECR allows `*` wildcards). */
    protectTags: z
        .array(
            z
                .string()
                .min(1, "must be a non-empty tag pattern")
                .regex(/^[A-Za-z0-9_.*-]+$/, "may only contain letters, digits, '_', '.', '-' and '*'")
                .refine((p) => (p.match(/\*/g) ?? []).length <= 4, "may contain at most 4 '*' wildcards (ECR limit)"),
        )
        .default([]),
});

export const harborSchema = z.strictObject({
    /** Harbor base URL; https only. */
    url: z.url({ protocol: /^https$/, error: "must be an https:// URL" }),
    /** Harbor project that holds the model repositories. */
    project: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, "must be a valid Harbor project name").max(255),
    /** Harbor user that manages the project (an admin or project admin). */
    username: z.string().min(1, "must be set"),
    /** That user's password: set it with `pulumi config set --secret --path registry.harbor.password`. */
    password: z.string().min(1, "must be set (as a Pulumi secret)"),
});

export const registrySchema = z.strictObject({
    /** `ecr` or `harbor`. */
    type: z.enum(["ecr", "harbor"], { error: "must be 'ecr' or 'harbor'" }),
    /** Repositories are `<repositoryPrefix>/<model>`. */
    repositoryPrefix: z
        .string()
        .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, "must be a lower-case ECR/Harbor namespace")
        .default("model-fleet"),
    retention: retentionSchema,
    /** Allow deleting repositories that still hold images. Defaults to true in development only. */
    forceDelete: z.boolean().optional(),
    /** ECR only: replicate this registry's `<prefix>/` repositories to another region (dev → prod). */
    replication: z
        .strictObject({
            region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-west-2"),
            registryId: z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id").optional(),
        })
        .optional(),
    harbor: harborSchema.optional(),
});

export const migSchema = z.strictObject({
    /** How the device plugin exposes MIG devices. */
    strategy: z.enum(["none", "single", "mixed"], { error: "must be 'none', 'single' or 'mixed'" }),
    /** MIG profile → instances per GPU, e.g. {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}. */
    layout: z.record(z.string(), z.int().min(1, "must be ≥ 1 instance per GPU")).default({}),
});

export const gpuPoolSchema = z.strictObject({
    name: dnsLabel.max(20, "must be at most 20 characters (it is part of IAM role and node-group names)"),
    instanceType: z.string().regex(/^[a-z0-9-]+\.[a-z0-9]+$/, "must be an EC2 instance type such as g6.xlarge"),
    /** EKS-optimised NVIDIA AMI family. */
    amiType: z
        .enum(["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"], {
            error: "must be AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA (AL2 is end of life)",
        })
        .default("AL2023_x86_64_NVIDIA"),
    capacityType: z.enum(["ON_DEMAND", "SPOT"], { error: "must be ON_DEMAND or SPOT" }).default("ON_DEMAND"),
    minSize: nonNegInt,
    maxSize: posInt,
    desiredSize: nonNegInt,
    /** Nodes replaced at once during a node-group update. */
    maxUnavailable: posInt.default(1),
    /** Root volume size: NVIDIA images and model weights are large. */
    diskSizeGiB: z.int().min(50, "must be ≥ 50 GiB").max(16384).default(200),
    mig: migSchema.optional(),
});

const buildSource = z.strictObject({
    build: z.strictObject({
        /** Docker build context, relative to the project root. */
        context: z.string().min(1, "must be a build context path"),
        /** Dockerfile path relative to the context. */
        dockerfile: z.string().min(1).optional(),
    }),
});
const digestSource = z.strictObject({
    digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>"),
});

export const canarySchema = z.strictObject({
    /** Traffic weights, strictly increasing, each in 1..100. */
    steps: z.array(z.int("must be an integer").min(1, "must be in 1..100").max(100, "must be in 1..100")).min(1, "needs at least one step"),
    /** Pause after each weight before its analysis. */
    pauseSeconds: z.int().min(0).max(86400),
    analysis: z.strictObject({
        /** Minimum non-5xx share of canary requests, 0..1. */
        successRate: z.number().gt(0, "must be in (0, 1]").max(1, "must be in (0, 1]"),
        /** Maximum canary p99 latency, milliseconds. */
        p99LatencyMs: z.number().gt(0, "must be > 0"),
        /** Maximum drop of the canary's quality gauge below stable's (absolute, 0..1). */
        maxAccuracyDrop: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]").optional(),
    }),
});

export const modelSchema = z.strictObject({
    name: dnsLabel.max(40, "must be at most 40 characters (derived object names add suffixes)"),
    version: z.string().refine((v) => semver.valid(v) === v, "must be a semantic version such as 2.1.4 (no leading v)"),
    image: z.union([buildSource, digestSource], { error: "must be either {build: {context, dockerfile?}} or {digest: \"sha256:…\"}" }),
    port: z.int().min(1024, "must be in 1024..65535 (the server runs as non-root)").max(65535).default(8080),
    resources: z.strictObject({ cpu: quantity, memory: quantity }),
    gpu: z
        .strictObject({
            pool: z.string().min(1),
            /** MIG profile, when the pool's strategy is mixed (or single). */
            profile: z.string().min(1).optional(),
            /** Whole GPUs (or MIG devices under `single`) per replica. */
            count: posInt.default(1),
        })
        .optional(),
    autoscaling: z.strictObject({
        minReplicas: posInt,
        maxReplicas: posInt.max(100),
        targetCpuUtilization: z.int().min(10).max(100).default(70),
        targetRequestsPerSecond: z.number().gt(0).optional(),
    }),
    /** Time the startup probe allows for loading weights. */
    startupBudgetSeconds: z.int().min(10).max(3600).default(600),
    canary: canarySchema.optional(),
});

export const rolloutsSchema = z.strictObject({
    prometheusUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    trafficRouting: z.enum(["none", "nginx", "istio"], { error: "must be 'none', 'nginx' or 'istio'" }),
    /** Host for the nginx Ingress / Istio VirtualService of canary models. */
    ingressHost: z.string().regex(/^[a-z0-9.-]+$/).optional(),
});

export const servingSchema = z
    .strictObject({
        namespace: dnsLabel.default("models"),
        ingressNamespace: dnsLabel.default("ingress-nginx"),
        monitoringNamespace: dnsLabel.default("monitoring"),
        prometheusOperator: z.boolean().default(false),
    })
    .default({ namespace: "models", ingressNamespace: "ingress-nginx", monitoringNamespace: "monitoring", prometheusOperator: false });

export const buildSchema = z
    .strictObject({
        /** Refuse to build from a dirty work tree. Defaults to true in production. */
        requireCleanTree: z.boolean().optional(),
        /** Value of the `org.opencontainers.image.source` label. */
        sourceUrl: z.url().default("https://github.com/example/model-fleet"),
    })
    .default({ sourceUrl: "https://github.com/example/model-fleet" });

/** The whole `model-fleet:` namespace, keyed as in the stack file. */
export const configSchema = z.strictObject({
    environment: environmentSchema.optional(),
    cluster: clusterSchema,
    registry: registrySchema,
    gpuPools: z.array(gpuPoolSchema).default([]),
    models: z.array(modelSchema).min(1, "must declare at least one model"),
    rollouts: rolloutsSchema,
    serving: servingSchema,
    build: buildSchema,
});

export type RawConfig = z.infer<typeof configSchema>;
export type Environment = z.infer<typeof environmentSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;
export type MigConfig = z.infer<typeof migSchema>;
export type GpuPoolConfig = z.infer<typeof gpuPoolSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type CanaryConfig = z.infer<typeof canarySchema>;
export type RolloutsConfig = z.infer<typeof rolloutsSchema>;
export type ServingConfig = z.infer<typeof servingSchema>;
export type ImageSource = ModelConfig["image"];
