/**
 * The stack config schema: the users' interface. Every key lives in the `model-fleet:` namespace.
 *
 * Shapes and per-field bounds are declared here with zod (strict objects: a misspelt key is an error, not a
 * silently ignored setting); rules that relate several fields live in `crossChecks.ts`.
 */
import * as semver from "semver";
import { isPlainImagePattern } from "../domain/admission";
import { DIGEST, isReleaseTag } from "../domain/image/tag";
import { IMAGE_VOLUME_MIN_KUBERNETES, KUBERNETES_MINOR } from "../domain/image/weights";
import { cardFields } from "../domain/card/modelCard";
import { DEFAULT_BACKGROUND_START_DELAY_SECONDS, DEFAULT_MEASUREMENT } from "../domain/measurement";
import { z } from "zod";

/** RFC 1123 label, as Kubernetes requires for names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes resource quantity (the API server's own grammar, without the exotic exponent forms). */
export const QUANTITY = /^([+]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const dnsLabel = z
    .string()
    .max(63, "must be at most 63 characters")
    .regex(DNS_LABEL, "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending alphanumeric)");
const posInt = z.int().min(1);
const nonNegInt = z.int().min(0);
const quantity = z.string().regex(QUANTITY, "must be a Kubernetes quantity such as 500m, 2 or 8Gi");

/** A cosign key reference: a KMS URI, `k8s://`, `env://`, `pkcs11:` or a key file path (cosign's `--key` forms). */
export const COSIGN_KEY_REF =
    /^(awskms:\/\/|gcpkms:\/\/|azurekms:\/\/|hashivault:\/\/|k8s:\/\/[a-z0-9-]+\/[a-z0-9.-]+$|env:\/\/[A-Za-z_][A-Za-z0-9_]*$|pkcs11:|[^:]+$)/;
/** An AWS KMS key ARN (not an alias: an alias can be re-pointed at another key). */
export const KMS_KEY_ARN = /^arn:aws(-cn|-us-gov)?:kms:([a-z]{2}(-[a-z]+)+-\d):(\d{12}):key\/([A-Za-z0-9-]+)$/;
/** An IAM role ARN. */
export const IAM_ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role\/[\w+=,.@/-]+$/;
/** `awskms:///<key arn>`: how cosign (and promotion records) name a KMS signing key. */
export const AWSKMS_KEY_REF = /^awskms:\/\/\/arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/[A-Za-z0-9-]+$/;

export const environmentSchema = z.enum(["development", "production"]);

export const clusterKindSchema = z.enum(["eks", "kubeconfig"], { error: "must be 'eks' or 'kubeconfig'" });

export const clusterSchema = z.strictObject({
    kind: clusterKindSchema
        .default("eks")
        .describe("`eks`: an existing EKS cluster (AWS). `kubeconfig`: any conformant cluster reached through a kubeconfig file; no AWS resource or call."),
    name: z.string().trim().min(1, "must be a non-empty cluster name").describe("Name of the existing EKS cluster (with `kubeconfig`: a display name)."),
    kubeconfig: z
        .string()
        .min(1, "must be a kubeconfig file path")
        .optional()
        .describe("`kubeconfig` clusters only: path of the kubeconfig file (relative to the project root). Never the ambient KUBECONFIG."),
    context: z.string().min(1).optional().describe("`kubeconfig` clusters only: context of that file. Default: its current-context."),
    version: z
        .string()
        .regex(KUBERNETES_MINOR, "must be a Kubernetes minor version such as 1.35")
        .optional()
        .describe(
            `Kubernetes minor version of the cluster's control plane and nodes, e.g. \`1.35\`. Default: not stated. Required by \`models[].weights\` (image volumes are on by default from ${IMAGE_VOLUME_MIN_KUBERNETES}; [weights](design/weights.md)).`,
        ),
});

export const addonsSchema = z
    .strictObject({
        gpu: z
            .boolean()
            .default(true)
            .describe("Install the GPU add-ons (NVIDIA device plugin, or the GPU Operator for MIG pools). Turn off when the cluster already runs them."),
        argoRollouts: z
            .boolean()
            .default(true)
            .describe("Install the Argo Rollouts controller chart. Turn off when the cluster already runs it (its CRDs must exist)."),
        metricsServer: z
            .boolean()
            .default(true)
            .describe("Install metrics-server (chart 3.13.0, app v0.8.0): the CPU metric of every model's HPA. Turn off when the cluster already runs it."),
        keda: z
            .boolean()
            .default(true)
            .describe(
                "Install KEDA (chart 2.21.0) when a model autoscales through KEDA (serving.autoscaler). Turn off when the cluster already runs it (its CRDs must exist).",
            ),
    })
    .prefault({});

export const retentionSchema = z.strictObject({
    keepReleases: z.int().min(1, "must be ≥ 1").max(1000, "must be ≤ 1000").describe("Newest release images (tags `v*`) kept per repository."),
    untaggedDays: z.int().min(1, "must be ≥ 1").max(3650, "must be ≤ 3650").describe("Untagged images expire after this many days."),
    protectTags: z
        .array(
            z
                .string()
                .min(1, "must be a non-empty tag pattern")
                .regex(/^[A-Za-z0-9_.*-]+$/, "may only contain letters, digits, '_', '.', '-' and '*'")
                .refine((p) => (p.match(/\*/g) ?? []).length <= 4, "may contain at most 4 '*' wildcards (ECR limit)"),
        )
        .default([])
        .describe("Tag globs whose images are never expired (ECR allows `*` wildcards)."),
});

export const harborSchema = z.strictObject({
    url: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).describe("Harbor base URL; https only."),
    project: z
        .string()
        .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, "must be a valid Harbor project name")
        .max(255)
        .describe("Harbor project that holds the model repositories."),
    username: z.string().min(1, "must be set").describe("Harbor user that manages the project (an admin or project admin)."),
    password: z
        .string()
        .min(1, "must be set (as a Pulumi secret)")
        .describe("That user's password: set it with `pulumi config set --secret --path registry.harbor.password`."),
    requireSignatures: z
        .boolean()
        .optional()
        .describe(
            "Harbor refuses pulls of artifacts without a cosign signature (project `enable_content_trust_cosign`). Default: true on a stack that builds no image, false on one that builds. Not allowed on a stack that builds: its fresh digest is signed only after `pulumi up` (`npm run sign`), so Harbor would refuse the workload's pull and the update would wait on it until it times out.",
        ),
});

export const registrySchema = z.strictObject({
    type: z
        .enum(["ecr", "harbor", "external"], { error: "must be 'ecr', 'harbor' or 'external'" })
        .describe("`ecr`, `harbor`, or `external` (a registry the program does not manage; images by digest only)."),
    repositoryPrefix: z
        .string()
        .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, "must be a lower-case ECR/Harbor namespace")
        .default("model-fleet")
        .describe("Repositories are `<repositoryPrefix>/<model>`."),
    retention: retentionSchema
        .optional()
        .describe("Retention rules; protected and newest releases are never expired. Required for ecr and harbor; not allowed with external."),
    externalPrefix: z
        .string()
        .regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$/, "must be <host>[:port]/<path> such as registry.example.com/models")
        .optional()
        .describe("`external` only: images are `<externalPrefix>/<model>@<digest>` in a registry the program does not manage."),
    forceDelete: z.boolean().optional().describe("Allow deleting repositories that still hold images. Defaults to true in development only."),
    replication: z
        .strictObject({
            region: z
                .string()
                .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-west-2")
                .describe("Destination region (prod's)."),
            registryId: z
                .string()
                .regex(/^\d{12}$/, "must be a 12-digit AWS account id")
                .optional()
                .describe("Destination account; defaults to this account."),
        })
        .optional()
        .describe("ECR only: replicate this registry's `<prefix>/` repositories to another region (dev → prod)."),
    harbor: harborSchema.optional().describe("Harbor connection, when type is harbor."),
    verifyPromotedImages: z
        .boolean()
        .default(true)
        .describe("Before deploying a promoted digest, check that the registry holds it under its release tag (needs registry read access at preview)."),
    repositories: z
        .array(dnsLabel)
        .default([])
        .describe(
            "Extra repositories `<prefix>/<name>` to declare before their model runs here (prod: declare a new model's repository before dev's replication creates it).",
        ),
});

export const migSchema = z.strictObject({
    strategy: z.enum(["none", "single", "mixed"], { error: "must be 'none', 'single' or 'mixed'" }).describe("How the device plugin exposes MIG devices."),
    layout: z
        .record(z.string(), z.int().min(1, "must be ≥ 1 instance per GPU"))
        .default({})
        .describe('MIG profile → instances per GPU, e.g. {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}.'),
});

export const gpuPoolSchema = z.strictObject({
    name: dnsLabel
        .max(20, "must be at most 20 characters (it is part of IAM role and node-group names)")
        .describe("Pool name (DNS label), unique; models refer to it."),
    instanceType: z
        .string()
        .regex(/^[a-z0-9-]+\.[a-z0-9]+$/, "must be an EC2 instance type such as g6.xlarge")
        .describe("GPU instance type: p4d/p4de/p5/p5e/p5en (MIG-capable) or g5/g6/g6e."),
    amiType: z
        .enum(["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"], {
            error: "must be AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA (AL2 is end of life)",
        })
        .default("AL2023_x86_64_NVIDIA")
        .describe("EKS-optimised NVIDIA AMI family."),
    capacityType: z.enum(["ON_DEMAND", "SPOT"], { error: "must be ON_DEMAND or SPOT" }).default("ON_DEMAND").describe("EC2 purchasing option."),
    minSize: nonNegInt.optional().describe("EKS: minimum nodes; ≤ desiredSize. Required on EKS."),
    maxSize: posInt.optional().describe("EKS: maximum nodes; the capacity plan warns when models at maxReplicas need more. Required on EKS."),
    desiredSize: nonNegInt.optional().describe("EKS: initial nodes; ≤ maxSize (the cluster autoscaler owns it afterwards). Required on EKS."),
    nodeSelector: z
        .record(z.string().min(1), z.string())
        .optional()
        .describe("`kubeconfig` clusters: labels that select the pool's existing nodes (required there, not allowed on EKS)."),
    nodes: posInt.optional().describe("`kubeconfig` clusters: how many nodes the pool has; the capacity plan's limit (required there)."),
    maxUnavailable: posInt.default(1).describe("Nodes replaced at once during a node-group update."),
    diskSizeGiB: z.int().min(50, "must be ≥ 50 GiB").max(16384).default(200).describe("Root volume size: NVIDIA images and model weights are large."),
    mig: migSchema.optional().describe("MIG partitioning (MIG-capable instance types only)."),
});

const buildSource = z.strictObject({
    build: z.strictObject({
        context: z.string().min(1, "must be a build context path").describe("Docker build context, relative to the project root."),
        dockerfile: z.string().min(1).optional().describe("Dockerfile path relative to the context."),
    }),
});
const digestSource = z.strictObject({
    digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>").describe("Promoted image digest (set by `npm run promote`)."),
    tag: z
        .string()
        .refine(isReleaseTag, "must be a release tag v<semver>-<7 lower-case hex sha>")
        .optional()
        .describe("Release tag the digest was pushed with (set by `npm run promote`); ECR retention never expires it."),
    previousTag: z
        .string()
        .refine(isReleaseTag, "must be a release tag v<semver>-<7 lower-case hex sha>")
        .optional()
        .describe("Release tag of the image this one replaced (set by `npm run promote`): the abort/rollback target, also never expired."),
    signingKey: z
        .string()
        .regex(COSIGN_KEY_REF, "must be a cosign key reference such as awskms:///arn:aws:kms:<region>:<account>:key/<id>")
        .optional()
        .describe("The key the digest was signed with (set by `npm run promote` from the source stack's `signing` output); admission trusts it."),
    vulnerabilityOverride: z
        .strictObject({
            digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>").describe("The digest the override was granted for."),
            reason: z.string().trim().min(1, "must give a reason").describe("Why the findings are accepted."),
            by: z.string().min(1).describe("Who granted it (git user or $USER)."),
            at: z.iso.datetime({ error: "must be an ISO 8601 UTC timestamp" }).describe("When (ISO 8601, UTC)."),
            findings: z.string().optional().describe("The blocking findings at that time, e.g. `CRITICAL 1, HIGH 3`."),
        })
        .optional()
        .describe("Set by `npm run promote -- --allow-vulnerable <reason>`: the digest was promoted despite scan findings at or above the threshold."),
    regressionOverride: z
        .strictObject({
            digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>").describe("The digest the override was granted for."),
            reason: z.string().trim().min(1, "must give a reason").describe("Why the card gate's refusal is accepted."),
            by: z.string().min(1).describe("Who granted it (git user or $USER)."),
            at: z.iso.datetime({ error: "must be an ISO 8601 UTC timestamp" }).describe("When (ISO 8601, UTC)."),
            refused: z
                .string()
                .optional()
                .describe("What the card gate refused at that time, e.g. `held-out accuracy 0.811111 vs the running version's 0.971111: 0.16 worse, …`."),
        })
        .optional()
        .describe(
            "Set by `npm run promote -- --allow-regression <reason>`: the digest was promoted although the card gate refused it (no verified card, another held-out split, or an accuracy drop beyond `canary.analysis.maxAccuracyDrop`; docs/model-card.md).",
        ),
});

/** Model weights as an OCI artifact of their own, mounted read-only with an image volume ([weights](design/weights.md)). */
export const weightsSchema = z.strictObject({
    digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>").describe("Digest of the weights artifact; the pod mounts `<repository>@<digest>`."),
    tag: z
        .string()
        .refine(isReleaseTag, "must be a release tag v<semver>-<7 lower-case hex sha>")
        .optional()
        .describe("Release tag the artifact was pushed with; retention never expires it (as `image.tag`). The pod never references it."),
    previousTag: z
        .string()
        .refine(isReleaseTag, "must be a release tag v<semver>-<7 lower-case hex sha>")
        .optional()
        .describe(
            "Release tag of the weights this artifact replaced (set by `npm run promote`): the weights `npm run rollback` restores with `image.previousTag`, also never expired.",
        ),
    repository: dnsLabel
        .optional()
        .describe(
            "Repository `<repositoryPrefix>/<name>` (or `<externalPrefix>/<name>`) holding the artifact: a model's repository or a `registry.repositories` entry. Default: the model's own.",
        ),
});

/** The analysis thresholds of a canary gate (and, in part, of a blue-green pre-promotion analysis). */
export const analysisSchema = z.strictObject({
    successRate: z.number().gt(0, "must be in (0, 1]").max(1, "must be in (0, 1]").describe("Minimum non-5xx share of the canary's /predict requests, 0..1."),
    maxClientErrorIncrease: z
        .number()
        .min(0, "must be in [0, 1]")
        .max(1, "must be in [0, 1]")
        .default(0.05)
        .describe(
            "Maximum client-error (4xx) share of the canary's /predict requests above stable's (absolute, 0..1): fails a version that rejects requests its predecessor served.",
        ),
    p99LatencyMs: z.number().gt(0, "must be > 0").describe("Maximum canary p99 latency, milliseconds."),
    minRequests: z
        .int("must be an integer")
        .min(1, "must be ≥ 1")
        .max(1000000, "must be ≤ 1000000")
        .default(100)
        .describe(
            `Inference requests the canary (and, for the client-error comparison, stable) must have served in the request gates' rate window (${DEFAULT_MEASUREMENT.rateWindow}) before the success-rate, client-error and latency gates decide; fewer leave a measurement inconclusive (the rollout pauses at the inconclusive limit). Keep it ≥ 1 / (1 − successRate), so that a single 5xx cannot fail a measurement on its own.`,
        ),
    maxAccuracyDrop: z
        .number()
        .min(0, "must be in [0, 1]")
        .max(1, "must be in [0, 1]")
        .optional()
        .describe("Maximum drop of the canary's accuracy below stable's (absolute, 0..1), from labelled feedback (`/feedback`). Omit to run no quality gate."),
    minFeedbackSamples: z
        .int("must be an integer")
        .min(1, "must be ≥ 1")
        .max(1000000, "must be ≤ 1000000")
        .default(100)
        .describe(
            `Labelled feedback samples the canary and stable each need in the quality gate's feedback window (${DEFAULT_MEASUREMENT.feedbackWindow}) before the quality gate decides; fewer leave it inconclusive (the rollout pauses). Needs maxAccuracyDrop.`,
        ),
});

export const canarySchema = z.strictObject({
    // Bounds and order: domain/rules/canary.ts canaryStepsIssues (run by crossChecks.ts), shared with ModelCanary.
    steps: z.array(z.number()).describe("Traffic weights, strictly increasing, each in 1..100."),
    pauseSeconds: z.int().min(0).max(86400).describe("Pause after each weight before its analysis."),
    backgroundAnalysis: z
        .strictObject({
            enabled: z
                .boolean()
                .optional()
                .describe("Run the background analysis. Default: true (on for every canary); false leaves the canary judged at its gates only."),
            startDelaySeconds: z
                .int("must be an integer")
                .min(0, "must be ≥ 0")
                .max(86400, "must be ≤ 86400")
                .optional()
                .describe(
                    `Seconds from the first pause (the first weight's pods up) to the background analysis' first measurement. Default: ${DEFAULT_BACKGROUND_START_DELAY_SECONDS} (one rate window of the canary's traffic).`,
                ),
        })
        .optional()
        .describe(
            "The canary's background analysis (Argo `strategy.canary.analysis`): the gates' templates, measured every interval from the first pause to full promotion, so a fault during a pause aborts without waiting for the next gate. It only aborts (Failed/Error); no data there is not a verdict. Default: on, with the start delay below.",
        ),
    abTest: z
        .strictObject({
            header: z
                .strictObject({
                    name: z
                        .string()
                        .regex(/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/, "must be a lower-case HTTP header name (letters, digits, '-')")
                        .describe("Request header name, lower case (Istio matches lower-case header keys), e.g. `x-canary`."),
                    value: z
                        .string()
                        .regex(/^[A-Za-z0-9._~-]{1,128}$/, "must be 1..128 of letters, digits and . _ ~ -")
                        .describe("Exact header value that pins a request to the canary, e.g. `always`."),
                })
                .optional()
                .describe("Route requests carrying this header with this exact value to the canary."),
            cookie: z
                .string()
                .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1..64 of letters, digits, '_' and '-'")
                .optional()
                .describe("Cookie name: requests carrying the cookie `<name>=always` go to the canary (ingress-nginx `canary-by-cookie` semantics)."),
        })
        .optional()
        .describe(
            "A/B phase before the first weight (nginx or istio only): the canary's pods come up with no weighted traffic, requests with the header (or cookie) go to the canary, and the first gate judges that traffic. The route stays until full promotion or abort. Exactly one of header and cookie. [Release strategies](design/release-strategies.md).",
        ),
    mirror: z
        .strictObject({
            percentage: z
                .int("must be an integer")
                .min(1, "must be in 1..100")
                .max(100, "must be in 1..100")
                .optional()
                .describe(
                    "Share of the inference requests copied to the canary, %. Default: the first step's weight (the canary runs that share of the pods).",
                ),
        })
        .optional()
        .describe(
            "Dark launch before any user traffic (istio only): a copy of the inference requests goes to the canary (responses discarded), judged by a gate, then the mirror is removed and the weights start. [Release strategies](design/release-strategies.md).",
        ),
    analysis: analysisSchema,
});

export const RELEASE_STRATEGIES = ["canary", "blueGreen"] as const;

export const blueGreenSchema = z.strictObject({
    autoPromotionEnabled: z
        .boolean()
        .optional()
        .describe(
            "Switch the active Service to the new version as soon as its pre-promotion analysis passed. Default: false in production (the Rollout pauses for `kubectl argo rollouts promote`), true otherwise. true is allowed in production.",
        ),
    scaleDownDelaySeconds: z
        .int("must be an integer")
        .min(0, "must be ≥ 0")
        .max(86400, "must be ≤ 86400")
        .optional()
        .describe(
            "Seconds the previous version keeps its pods after the switch: the window for an instant rollback (and for every node to follow the Service's new selector). Default: 30, Argo's own default; keep it ≥ 30.",
        ),
    analysis: analysisSchema
        .pick({ successRate: true, p99LatencyMs: true, minRequests: true })
        .describe(
            "Thresholds of the pre-promotion analysis: the gates' success-rate and latency templates, on the preview's pods alone (no comparison with the active version). The preview needs `minRequests` test requests per rate window through the `<model>-preview` Service, or the analysis is inconclusive and the Rollout pauses.",
        ),
});

export const releaseSchema = z.strictObject({
    strategy: z
        .enum(RELEASE_STRATEGIES, { error: "must be 'canary' or 'blueGreen'" })
        .describe("`canary`: the `canary` key's steps and gates. `blueGreen`: a full preview next to the active version, analysed, then switched at once."),
    blueGreen: blueGreenSchema
        .optional()
        .describe("Blue-green settings; required with strategy blueGreen, not allowed otherwise (with blueGreen the `canary` key is not allowed)."),
});

export const observabilityOverridesSchema = z.strictObject({
    p99LatencyMs: z
        .number()
        .gt(0, "must be > 0")
        .optional()
        .describe("Alert when p99 latency (ms) stays above this. Default: canary.analysis.p99LatencyMs, else observability.defaults.p99LatencyMs."),
    successRate: z
        .number()
        .gt(0, "must be in (0, 1]")
        .max(1, "must be in (0, 1]")
        .optional()
        .describe("Alert when the 5xx ratio stays above 1 − this. Default: canary.analysis.successRate, else observability.defaults.successRate."),
    maxAccuracyDrop: z
        .number()
        .min(0, "must be in [0, 1]")
        .max(1, "must be in [0, 1]")
        .optional()
        .describe("Alert when accuracy falls more than this below the previous version's. Default: canary.analysis.maxAccuracyDrop, else none (no alert)."),
    accuracyFloor: z
        .number()
        .min(0, "must be in [0, 1]")
        .max(1, "must be in [0, 1]")
        .optional()
        .describe("Alert when rolling accuracy falls below this absolute value. Default: observability.defaults.accuracyFloor, else none (no alert)."),
    minFeedbackSamples: z
        .int("must be an integer")
        .min(1, "must be ≥ 1")
        .optional()
        .describe("Labelled samples (1h) needed before an accuracy alert may fire. Default: canary.analysis.minFeedbackSamples, else 100."),
    maxRestarts: nonNegInt.optional().describe("Alert when a pod restarts more than this often in 30m. Default: observability.defaults.maxRestarts (3)."),
    gpuUtilLowPercent: z
        .number()
        .gt(0, "must be in (0, 100]")
        .max(100, "must be in (0, 100]")
        .optional()
        .describe("GPU models: alert when DCGM_FI_DEV_GPU_UTIL stays below this for 1h. Default: observability.defaults.gpuUtilLowPercent (20)."),
    gpuMemoryHighRatio: z
        .number()
        .gt(0, "must be in (0, 1]")
        .max(1, "must be in (0, 1]")
        .optional()
        .describe("GPU models: alert when framebuffer used/(used+free) stays above this for 30m. Default: observability.defaults.gpuMemoryHighRatio (0.95)."),
    for: z
        .string()
        .regex(/^\d+(s|m|h)$/, "must be a duration <n>s|m|h")
        .optional()
        .describe("How long an SLI alert's condition must hold. Default: observability.defaults.for (10m)."),
});

export const modelSchema = z.strictObject({
    name: dnsLabel
        .max(40, "must be at most 40 characters (derived object names add suffixes)")
        .describe("Model name (DNS label), unique; names its repository, Service and workload."),
    version: z
        .string()
        .refine((v) => semver.valid(v) === v, "must be a semantic version such as 2.1.4 (no leading v)")
        .describe("Model version (semver); the image tag is v<version>-<git sha>."),
    image: z
        .union([buildSource, digestSource], { error: 'must be either {build: {context, dockerfile?}} or {digest: "sha256:…"}' })
        .describe("Either `{build: {context, dockerfile?}}` (dev) or `{digest}` (promoted)."),
    weights: weightsSchema
        .optional()
        .describe(
            `Weights apart from the server image: mounted read-only at /weights (MODEL_PATH=/weights/model.onnx) from an image volume, by digest. Needs \`cluster.version\` ≥ ${IMAGE_VOLUME_MIN_KUBERNETES}. Default: none (the weights baked into the image).`,
        ),
    port: z
        .int()
        .min(1024, "must be in 1024..65535 (the server runs as non-root)")
        .max(65535)
        .default(8080)
        .describe("Container port serving HTTP and /metrics."),
    resources: z.strictObject({ cpu: quantity.describe("CPU request."), memory: quantity.describe("Memory request and limit.") }),
    gpu: z
        .strictObject({
            pool: z.string().min(1).describe("Name of a gpuPools entry."),
            profile: z.string().min(1).optional().describe("MIG profile, when the pool's strategy is mixed (or single)."),
            count: posInt.default(1).describe("Whole GPUs (or MIG devices under `single`) per replica."),
        })
        .optional()
        .describe("GPU request; omit for CPU-only models."),
    autoscaling: z.strictObject({
        minReplicas: posInt.describe("HPA minimum; ≤ maxReplicas, ≥ 2 in production."),
        maxReplicas: posInt.max(100).describe("HPA maximum; the capacity plan sizes GPU pools for it."),
        targetCpuUtilization: z.int().min(10).max(100).default(70).describe("HPA CPU utilisation target, percent."),
        targetRequestsPerSecond: z
            .number()
            .gt(0)
            .optional()
            .describe("Requests-per-second target per pod, from Prometheus (rollouts.prometheusUrl) through KEDA: the model autoscales through KEDA."),
    }),
    startupBudgetSeconds: z.int().min(10).max(3600).default(600).describe("Time the startup probe allows for loading weights."),
    release: releaseSchema
        .optional()
        .describe(
            "How a new version is released ([release strategies](design/release-strategies.md)). Default: `canary` when `canary` is set, else none (a plain Deployment, rolling update).",
        ),
    canary: canarySchema.optional().describe("Argo Rollouts canary; omit for a plain Deployment (or with release.strategy blueGreen)."),
    observability: observabilityOverridesSchema
        .optional()
        .describe("Per-model alert thresholds; each overrides the canary analysis value and the fleet default."),
    card: z
        .strictObject({
            trainingSpec: cardFields.trainingSpec
                .optional()
                .describe(
                    "Training spec id `<model>/<semver>` (e.g. `digits/1.1.0`): labelled `io.model-fleet.card.training.spec`, and the build trains it (build arg `TRAINING_SPEC=training/versions/<id>.json`). Default: the Dockerfile's own spec, no label.",
                ),
            parent: cardFields.parent
                .optional()
                .describe("The version this one was trained from or replaces (null: none): labelled `io.model-fleet.card.parent`. Default: no label."),
        })
        .optional()
        .describe("What the build labels of the model card before it builds ([model card](model-card.md)); only on a model whose image is built."),
});

export const rolloutsSchema = z.strictObject({
    prometheusUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).describe("Prometheus the canary analysis queries."),
    trafficRouting: z
        .enum(["none", "nginx", "istio"], { error: "must be 'none', 'nginx' or 'istio'" })
        .describe("How canary traffic is split: replica-weighted, nginx Ingress or Istio."),
    timeScale: z
        .int()
        .min(1, "must be ≥ 1")
        .max(600, "must be ≤ 600")
        .default(1)
        .describe("Release rehearsals only: divide canary pauses, analysis intervals and the PromQL rate window by this factor. Must be 1 in production."),
    ingressHost: z
        .string()
        .regex(/^[a-z0-9.-]+$/)
        .optional()
        .describe("Base domain of canary models' nginx Ingress / Istio VirtualService hosts: `<model>.<ingressHost>`. Default: the in-cluster Service name."),
});

export const servingSchema = z
    .strictObject({
        namespace: dnsLabel.default("models").describe("Namespace of every model workload."),
        ingressNamespace: dnsLabel.default("ingress-nginx").describe("Namespace of the ingress controller allowed to reach models."),
        monitoringNamespace: dnsLabel.default("monitoring").describe("Namespace of Prometheus, allowed to scrape /metrics."),
        prometheusOperator: z.boolean().default(false).describe("Declare ServiceMonitors instead of scrape annotations."),
        autoscaler: z
            .enum(["auto", "hpa", "keda"], { error: "must be 'auto', 'hpa' or 'keda'" })
            .default("auto")
            .describe(
                "What scales each model: `hpa` a plain HPA on CPU; `keda` a KEDA ScaledObject (CPU, plus requests per second when set) that makes the HPA of the same name; `auto` KEDA for models with targetRequestsPerSecond, a plain HPA otherwise.",
            ),
        serviceMonitorLabels: z
            .record(z.string(), z.string())
            .default({})
            .describe("Extra ServiceMonitor labels, e.g. {release: kube-prometheus-stack} for that Prometheus's selector."),
    })
    .prefault({});

export const buildSchema = z
    .strictObject({
        requireCleanTree: z
            .boolean()
            .default(true)
            .describe("Refuse to build from a dirty work tree, so an image's tag and revision label name exactly what it holds."),
        sourceUrl: z.url().default("https://github.com/example/model-fleet").describe("Value of the `org.opencontainers.image.source` label."),
    })
    .prefault({});

export const observabilitySchema = z
    .strictObject({
        alerts: z.boolean().default(true).describe("Declare the alerting rules (recording rules are always declared: the dashboard reads them)."),
        dashboards: z.boolean().optional().describe("Declare the Grafana dashboard ConfigMap. Default: true in production, false otherwise."),
        namespace: dnsLabel.optional().describe("Namespace of the rule and dashboard objects. Default: serving.namespace (which the program declares)."),
        ruleLabels: z
            .record(z.string(), z.string())
            .default({})
            .describe("Labels of the PrometheusRule (or rule ConfigMap), e.g. {release: kube-prometheus-stack} for that Prometheus's ruleSelector."),
        dashboardLabels: z
            .record(z.string(), z.string())
            .default({})
            .describe('Extra labels of the dashboard ConfigMap; `grafana_dashboard: "1"` (the sidecar\'s label) is always set.'),
        folder: z
            .string()
            .trim()
            .min(1, "must be a non-empty folder name")
            .default("model-fleet")
            .describe("Grafana folder of the dashboard (sidecar annotation `grafana_folder`)."),
        datasource: z
            .string()
            .trim()
            .min(1, "must be a datasource uid")
            .default("prometheus")
            .describe("uid of the Grafana Prometheus datasource the panels query."),
        defaults: z
            .strictObject({
                p99LatencyMs: z.number().gt(0, "must be > 0").default(1000).describe("p99 latency alert (ms) for models without a canary or override."),
                successRate: z
                    .number()
                    .gt(0, "must be in (0, 1]")
                    .max(1, "must be in (0, 1]")
                    .default(0.99)
                    .describe("Error-ratio alert fires above 1 − this, for models without a canary or override."),
                accuracyFloor: z
                    .number()
                    .min(0, "must be in [0, 1]")
                    .max(1, "must be in [0, 1]")
                    .optional()
                    .describe("Absolute accuracy floor of every model without an override; unset: no floor alert."),
                maxRestarts: nonNegInt.default(3).describe("Pod restarts allowed in 30m."),
                gpuUtilLowPercent: z
                    .number()
                    .gt(0, "must be in (0, 100]")
                    .max(100, "must be in (0, 100]")
                    .default(20)
                    .describe("GPU utilisation (%) below which a GPU model's pod is under-used (1h)."),
                gpuMemoryHighRatio: z
                    .number()
                    .gt(0, "must be in (0, 1]")
                    .max(1, "must be in (0, 1]")
                    .default(0.95)
                    .describe("Framebuffer used share above which a GPU model's pod alerts (30m)."),
                for: z
                    .string()
                    .regex(/^\d+(s|m|h)$/, "must be a duration <n>s|m|h")
                    .default("10m")
                    .describe("How long an SLI alert's condition must hold."),
            })
            .prefault({})
            .describe("Fleet-wide alert thresholds; a model's canary analysis and `models[].observability` override them."),
    })
    .prefault({});

export const signingSchema = z.strictObject({
    buildRoleArn: z
        .string()
        .regex(IAM_ROLE_ARN, "must be an IAM role ARN such as arn:aws:iam::123456789012:role/model-fleet-build")
        .optional()
        .describe("EKS stacks that build: the IAM role of the build (CI) that pushes and signs; the only principal the signing key lets sign. Required there."),
    keyArn: z
        .string()
        .regex(KMS_KEY_ARN, "must be a KMS key ARN arn:aws:kms:<region>:<account>:key/<id> (not an alias)")
        .optional()
        .describe("EKS: sign with this existing KMS key (same account and region as the stack) instead of the key the program declares."),
    keyRef: z
        .string()
        .regex(COSIGN_KEY_REF, "must be a cosign key reference (a KMS URI, k8s://<namespace>/<secret>, env://<VAR>, pkcs11: or a key file path)")
        .optional()
        .describe(
            "`kubeconfig` clusters: the cosign key reference the build signs with (`cosign sign --key <keyRef>`). Set it as a secret: `pulumi config set --secret --path supplyChain.signing.keyRef …`. Required there when the stack builds.",
        ),
    publicKeyPem: z
        .string()
        .optional()
        .describe("`kubeconfig` clusters: the PEM public key of keyRef, which admission verifies signatures with. Required there when admission is enabled."),
});

export const scanSchema = z
    .strictObject({
        enhanced: z
            .boolean()
            .default(false)
            .describe(
                "ECR only: Amazon Inspector enhanced scanning (continuous) for the model repositories, instead of basic scan on push. Registry-wide setting of the account and region.",
            ),
        severity: z
            .string()
            .optional()
            .describe(
                "Lowest finding severity that blocks: promotion refuses such a digest, and Harbor refuses to pull it (prevent_vul). ECR: INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL (Inspector's levels); Harbor: none, low, medium, high, critical. Default HIGH / high.",
            ),
    })
    .prefault({});

export const admissionSchema = z
    .strictObject({
        enabled: z.boolean().default(true).describe("Declare the admission policy (Kyverno verifyImages) for the models namespace."),
        mode: z
            .enum(["Enforce", "Audit"], { error: "must be 'Enforce' or 'Audit'" })
            .optional()
            .describe(
                "Enforce: pods whose images are not signed by the stack's key and pinned by digest are refused. Audit: admitted and reported. Default: Enforce in production, Audit otherwise.",
            ),
        installKyverno: z
            .boolean()
            .default(true)
            .describe("Install the Kyverno chart (3.8.2, Kyverno v1.18.2). Turn off when the cluster already runs Kyverno (its CRDs must exist)."),
        allowedImages: z
            .array(
                z
                    .string()
                    .min(1, "must be an image pattern")
                    .refine(isPlainImagePattern, "must be a plain image pattern (wildcards * and ?; no spaces, |, &, or leading <, >, !, =)"),
            )
            .default([])
            .describe(
                "Images from outside this stack's repositories that model pods may run, unverified, as Kyverno wildcard patterns of the pod's image string, e.g. `docker.io/istio/proxyv2:*` for Istio's injected istio-proxy and istio-init. Every other image must come from the stack's repositories, signed and by digest. Required (non-empty) with `rollouts.trafficRouting: istio`.",
            ),
    })
    .prefault({});

export const supplyChainSchema = z
    .strictObject({
        signing: signingSchema.optional().describe("The key images are signed with (stacks that build), and the public key admission verifies with."),
        scan: scanSchema.describe("Registry scanning and the severity that blocks promotion."),
        admission: admissionSchema.describe("The admission policy of the models namespace: signed by the stack's key, pinned by digest."),
    })
    .prefault({});

/** The stack config namespace: the Pulumi project name (`Pulumi.yaml` `name`), the prefix of every key below. */
export const CONFIG_NAMESPACE = "model-fleet";

/** The whole `model-fleet:` namespace, keyed as in the stack file. */
export const configSchema = z.strictObject({
    environment: environmentSchema.optional().describe("Production enables stricter rules. Defaults to production for stacks named prod*."),
    cluster: clusterSchema.describe("The existing cluster the fleet runs on."),
    addons: addonsSchema.describe("Cluster add-ons the program installs; turn off what the cluster already runs."),
    registry: registrySchema.describe("Where model images live, and how long."),
    gpuPools: z
        .array(gpuPoolSchema)
        .default([])
        .describe("GPU pools: EKS managed node groups, or existing nodes selected by labels on a `kubeconfig` cluster."),
    models: z.array(modelSchema).min(1, "must declare at least one model").describe("The models this stack serves."),
    rollouts: rolloutsSchema.describe("Argo Rollouts canary analysis and traffic routing."),
    serving: servingSchema.describe("Namespaces and scraping of the model workloads."),
    build: buildSchema.describe("Image build settings (stacks that build)."),
    observability: observabilitySchema.describe("Alerts (PrometheusRule or rule file) and the Grafana version dashboard of the models."),
    supplyChain: supplyChainSchema.describe("Image signing, scanning and admission (docs/design/supply-chain.md)."),
});

export type RawConfig = z.infer<typeof configSchema>;
export type ClusterConfig = z.infer<typeof clusterSchema>;
export type Environment = z.infer<typeof environmentSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;
export type MigConfig = z.infer<typeof migSchema>;
export type GpuPoolConfig = z.infer<typeof gpuPoolSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type CanaryConfig = z.infer<typeof canarySchema>;
export type AnalysisConfig = z.infer<typeof analysisSchema>;
export type ReleaseConfig = z.infer<typeof releaseSchema>;
export type BlueGreenConfig = z.infer<typeof blueGreenSchema>;
export type RolloutsConfig = z.infer<typeof rolloutsSchema>;
export type ServingConfig = z.infer<typeof servingSchema>;
export type ImageSource = ModelConfig["image"];
export type WeightsConfig = z.infer<typeof weightsSchema>;
export type ObservabilityConfig = z.infer<typeof observabilitySchema>;
export type SupplyChainConfig = z.infer<typeof supplyChainSchema>;
