/**
 * Rules that relate several config fields. They run on the raw input even when the schema found problems, so
 * that one run reports every problem at once; each check skips fields whose type the schema already rejected.
 */
import { instanceGpu, layoutFits, migProfiles } from "../domain/gpu/catalogue";
import * as semver from "semver";
import { deployedReleaseTags, parseReleaseTag } from "../domain/image/tag";
import { IMAGE_VOLUME_MIN_KUBERNETES, imageVolumesOnByDefault, KUBERNETES_MINOR } from "../domain/image/weights";
import { canaryExperimentIssues, canaryStepsIssues } from "../domain/rules/canary";
import { releaseIssues, serviceNameIssues } from "../domain/rules/release";
import { gpuRequestIssues, migOnBottlerocketIssues } from "../domain/rules/gpu";
import { prefixIssues, RuleIssue } from "../domain/rules/issues";
import { replicasIssues } from "../domain/rules/replicas";
import { createPublicKey } from "crypto";
import { HARBOR_SEVERITIES, INSPECTOR_THRESHOLDS } from "../domain/severity";
import { AWSKMS_KEY_REF, IAM_ROLE_ARN, KMS_KEY_ARN } from "./schema";
import type { Environment } from "./schema";

export interface ConfigIssue {
    /** Key path, e.g. `models[1].autoscaling.minReplicas`. */
    path: string;
    /** The offending value, shown in parentheses after the path. */
    value?: unknown;
    message: string;
}

/** A domain rule's issues as config issues under `prefix` (the key path of the rule's input). */
function fromRule(prefix: string, issues: readonly RuleIssue[]): ConfigIssue[] {
    return prefixIssues(prefix, issues).map(({ path, value, reason }) => ({ path, value, message: reason }));
}

const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === "object" && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);

function duplicates(items: any[], base: string, out: ConfigIssue[]): void {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
        const name = isObj(item) ? item.name : undefined;
        if (typeof name !== "string") return;
        const first = seen.get(name);
        if (first !== undefined) {
            out.push({ path: `${base}[${i}].name`, value: name, message: `duplicates ${base}[${first}].name` });
        } else {
            seen.set(name, i);
        }
    });
}

function checkPools(pools: any[], out: ConfigIssue[]): void {
    duplicates(pools, "gpuPools", out);
    pools.forEach((pool, i) => {
        if (!isObj(pool)) return;
        const p = `gpuPools[${i}]`;
        if (isInt(pool.minSize) && isInt(pool.desiredSize) && pool.minSize > pool.desiredSize) {
            out.push({ path: `${p}.minSize`, value: pool.minSize, message: `must be ≤ desiredSize (${pool.desiredSize})` });
        }
        if (isInt(pool.desiredSize) && isInt(pool.maxSize) && pool.desiredSize > pool.maxSize) {
            out.push({ path: `${p}.desiredSize`, value: pool.desiredSize, message: `must be ≤ maxSize (${pool.maxSize})` });
        }
        if (isInt(pool.minSize) && isInt(pool.maxSize) && pool.minSize > pool.maxSize) {
            out.push({ path: `${p}.minSize`, value: pool.minSize, message: `must be ≤ maxSize (${pool.maxSize})` });
        }
        if (typeof pool.instanceType !== "string") return;
        const gpu = instanceGpu(pool.instanceType);
        if (!gpu) {
            out.push({
                path: `${p}.instanceType`,
                value: pool.instanceType,
                message: "is not a GPU instance type model-fleet knows (p4d, p4de, p5, p5e, p5en, g5, g6, g6e)",
            });
            return;
        }
        const mig = pool.mig;
        if (!isObj(mig)) return;
        const layout = isObj(mig.layout) ? (mig.layout as Record<string, unknown>) : {};
        const profiles = Object.keys(layout);
        if (mig.strategy !== "none" && !gpu.migCapable) {
            out.push({
                path: `${p}.mig.strategy`,
                value: mig.strategy,
                message: `needs a MIG-capable GPU; ${pool.instanceType} has ${gpu.gpu}, which has no MIG (use p4d, p4de, p5, p5e or p5en)`,
            });
            return;
        }
        out.push(...fromRule(`${p}.`, migOnBottlerocketIssues({ amiType: pool.amiType, mig: { strategy: String(mig.strategy), layout } })));
        if (mig.strategy === "none") {
            if (profiles.length > 0) {
                out.push({ path: `${p}.mig.layout`, value: profiles.join(", "), message: "must be empty when the strategy is 'none'" });
            }
            return;
        }
        if (!gpu.migCapable) return;
        if (profiles.length === 0) {
            out.push({ path: `${p}.mig.layout`, value: "{}", message: `must list at least one MIG profile for strategy '${mig.strategy}'` });
            return;
        }
        if (mig.strategy === "single" && profiles.length !== 1) {
            out.push({
                path: `${p}.mig.layout`,
                value: profiles.join(", "),
                message: "must hold exactly one profile when the strategy is 'single' (use 'mixed' for several)",
            });
        }
        const known = migProfiles(gpu.gpu);
        let allKnown = true;
        for (const profile of profiles) {
            if (!(profile in known)) {
                allKnown = false;
                out.push({
                    path: `${p}.mig.layout.${profile}`,
                    value: layout[profile],
                    message: `is not a MIG profile of ${gpu.gpu} (known: ${Object.keys(known).join(", ")})`,
                });
            }
        }
        if (allKnown && profiles.every((k) => isInt(layout[k]))) {
            const fit = layoutFits(gpu.gpu, layout as Record<string, number>);
            if (!fit.ok) {
                out.push({ path: `${p}.mig.layout`, value: JSON.stringify(layout), message: `does not fit one ${gpu.gpu}: ${fit.reason}` });
            }
        }
    });
}

function checkModelGpu(model: Record<string, any>, i: number, pools: any[], out: ConfigIssue[]): void {
    const gpu = model.gpu;
    if (!isObj(gpu) || typeof gpu.pool !== "string") return;
    const p = `models[${i}].gpu`;
    const pool = pools.find((x) => isObj(x) && x.name === gpu.pool);
    if (!pool) {
        const names = pools.filter(isObj).map((x) => x.name);
        out.push({ path: `${p}.pool`, value: gpu.pool, message: `is not a declared gpuPools name (declared: ${names.join(", ") || "none"})` });
        return;
    }
    const strategy: string = isObj(pool.mig) ? pool.mig.strategy : "none";
    const hwGpu = typeof pool.instanceType === "string" ? instanceGpu(pool.instanceType) : undefined;
    if (strategy !== "none" && !hwGpu?.migCapable) return; // the pool itself is already reported
    const layout: Record<string, unknown> = isObj(pool.mig) && isObj(pool.mig.layout) ? pool.mig.layout : {};
    const mig = isObj(pool.mig) ? { strategy, layout } : undefined;
    out.push(
        ...fromRule(
            `${p}.`,
            gpuRequestIssues(gpu as { pool: string; profile?: unknown; count?: unknown }, { name: gpu.pool, instanceType: pool.instanceType, mig }),
        ),
    );
}

function checkModels(models: any[], pools: any[], env: Environment, routing: unknown, out: ConfigIssue[]): void {
    duplicates(models, "models", out);
    out.push(...fromRule("models", serviceNameIssues(models.map((m) => (isObj(m) ? m : {})))));
    models.forEach((model, i) => {
        if (!isObj(model)) return;
        const p = `models[${i}]`;
        out.push(...fromRule(`${p}.`, replicasIssues(isObj(model.autoscaling) ? model.autoscaling : undefined, env)));
        out.push(...fromRule(`${p}.`, releaseIssues(model)));
        if (isObj(model.canary)) out.push(...fromRule(`${p}.canary.`, canaryStepsIssues(model.canary.steps)));
        if (isObj(model.canary)) out.push(...fromRule(`${p}.canary.`, canaryExperimentIssues(model.canary, routing)));
        const analysis = isObj(model.canary) && isObj(model.canary.analysis) ? model.canary.analysis : undefined;
        if (analysis && analysis.minFeedbackSamples !== undefined && analysis.maxAccuracyDrop === undefined) {
            out.push({
                path: `${p}.canary.analysis.minFeedbackSamples`,
                value: analysis.minFeedbackSamples,
                message: "is only used by the quality gate: set canary.analysis.maxAccuracyDrop too, or remove it",
            });
        }
        if (env === "production" && isObj(model.image) && "build" in model.image) {
            out.push({
                path: `${p}.image.build`,
                value: model.image.build?.context,
                message: "is not allowed in production: promote the digest built in dev (npm run promote -- --model <m> --from dev --to prod)",
            });
        }
        const tag = isObj(model.image) ? model.image.tag : undefined;
        if (typeof tag === "string" && typeof model.version === "string") {
            const parsed = parseReleaseTag(tag);
            if (parsed && parsed.version !== model.version) {
                out.push({
                    path: `${p}.image.tag`,
                    value: tag,
                    message: `is a release of version ${parsed.version}, not of models[${i}].version (${model.version})`,
                });
            }
        }
        if (isObj(model.card) && isObj(model.image) && "digest" in model.image) {
            out.push({
                path: `${p}.card`,
                message: "is only for a model whose image is built (image.build): a promoted digest's labels and card were written when it was built",
            });
        }
        if (
            isObj(model.card) &&
            typeof model.card.parent === "string" &&
            typeof model.version === "string" &&
            semver.valid(model.card.parent) &&
            semver.valid(model.version) &&
            semver.gte(model.card.parent, model.version)
        ) {
            out.push({ path: `${p}.card.parent`, value: model.card.parent, message: `must be an older version than models[${i}].version (${model.version})` });
        }
        if (isObj(model.image) && typeof model.image.previousTag === "string" && model.image.previousTag === tag) {
            out.push({ path: `${p}.image.previousTag`, value: tag, message: "must differ from image.tag (it names the image this one replaced)" });
        }
        checkModelGpu(model, i, pools, out);
        const o = isObj(model.observability) ? model.observability : undefined;
        if (o && model.gpu === undefined) {
            for (const key of ["gpuUtilLowPercent", "gpuMemoryHighRatio"] as const) {
                if (o[key] !== undefined) out.push({ path: `${p}.observability.${key}`, value: o[key], message: "is only for GPU models (set models[].gpu)" });
            }
        }
        if (
            o &&
            o.minFeedbackSamples !== undefined &&
            o.maxAccuracyDrop === undefined &&
            o.accuracyFloor === undefined &&
            !(analysis && analysis.maxAccuracyDrop !== undefined)
        ) {
            out.push({
                path: `${p}.observability.minFeedbackSamples`,
                value: o.minFeedbackSamples,
                message: "is only used by accuracy alerts: set observability.accuracyFloor or maxAccuracyDrop too, or remove it",
            });
        }
    });
}

/** Harbor allows 15 retention rules per policy; two go to releases and untagged clean-up. */
export const HARBOR_MAX_PROTECT_PATTERNS = 13;

function checkRetention(registry: Record<string, any>, deployedTagCount: number, out: ConfigIssue[]): void {
    const tags = isObj(registry.retention) ? registry.retention.protectTags : undefined;
    if (!Array.isArray(tags)) return;
    const seen = new Map<string, number>();
    tags.forEach((tag, i) => {
        if (typeof tag !== "string" || tag === "") return;
        const p = `registry.retention.protectTags[${i}]`;
        if (seen.has(tag)) out.push({ path: p, value: tag, message: `duplicates protectTags[${seen.get(tag)}] (ECR rejects rules with the same tag filter)` });
        else seen.set(tag, i);
        if (/^\*+$/.test(tag))
            out.push({
                path: p,
                value: tag,
                message: "would protect every tagged image, so keepReleases could never expire anything: list the tags to protect (e.g. prod-*)",
            });
        if (tag === "v*") out.push({ path: p, value: tag, message: "is the release tag pattern: it would keep every release forever (use keepReleases)" });
    });
    if (registry.type === "harbor" && tags.length + deployedTagCount > HARBOR_MAX_PROTECT_PATTERNS) {
        out.push({
            path: "registry.retention.protectTags",
            value: tags.length,
            message:
                `holds at most ${HARBOR_MAX_PROTECT_PATTERNS - deployedTagCount} patterns with Harbor here (15 retention rules per policy: 2 ` +
                `for releases and untagged clean-up, ${deployedTagCount} for the models' deployed releases)`,
        });
    }
}

/** How many exact release tags retention protects across the models (see deployedReleaseTags). */
function deployedTagCount(models: any[]): number {
    const images = models.filter((m) => isObj(m) && isObj(m.image)).reduce((n, m) => n + deployedReleaseTags(m.image, "built").length, 0);
    const weights = models
        .filter((m) => isObj(m) && isObj(m.weights))
        .reduce((n, m) => n + new Set([m.weights.tag, m.weights.previousTag].filter((t) => typeof t === "string")).size, 0);
    return images + weights;
}

/**
 * `models[].weights` (docs/design/weights.md): the cluster must state a version with image volumes on by default, the
 * artifact's repository must be one the stack declares (and admission verifies), and its tag must not be the
 * server image's own tag in the same repository (release tags are immutable: one tag, one digest).
 */
function checkWeights(raw: Record<string, unknown>, out: ConfigIssue[]): void {
    const models = arr(raw.models);
    const cluster = isObj(raw.cluster) ? raw.cluster : {};
    const version = typeof cluster.version === "string" && KUBERNETES_MINOR.test(cluster.version) ? cluster.version : undefined;
    const registry = isObj(raw.registry) ? raw.registry : {};
    const declared = new Set([...models.filter(isObj).map((m) => m.name), ...arr(registry.repositories)].filter((n) => typeof n === "string"));
    let versionReported = false;
    models.forEach((model, i) => {
        if (!isObj(model) || !isObj(model.weights)) return;
        const p = `models[${i}].weights`;
        if (cluster.version === undefined) {
            out.push({
                path: p,
                message: `needs cluster.version (the cluster's Kubernetes minor version): image volumes are on by default only from ${IMAGE_VOLUME_MIN_KUBERNETES}`,
            });
        } else if (version !== undefined && !imageVolumesOnByDefault(version) && !versionReported) {
            versionReported = true;
            out.push({
                path: "cluster.version",
                value: version,
                message: `must be ≥ ${IMAGE_VOLUME_MIN_KUBERNETES} for ${p}: image volumes (feature gate ImageVolume) are off by default before it, and an API server with the gate off drops the volume, so the pod would start without its weights`,
            });
        }
        const repository = typeof model.weights.repository === "string" ? model.weights.repository : model.name;
        if (model.weights.repository !== undefined && typeof model.weights.repository === "string" && !declared.has(repository)) {
            out.push({
                path: `${p}.repository`,
                value: repository,
                message: `is not a repository of this stack: name a model or add it to registry.repositories (declared: ${[...declared].join(", ") || "none"})`,
            });
        }
        const imageTag = isObj(model.image) && typeof model.image.tag === "string" ? model.image.tag : undefined;
        if (repository === model.name && typeof model.weights.tag === "string" && model.weights.tag === imageTag) {
            out.push({
                path: `${p}.tag`,
                value: model.weights.tag,
                message: "must differ from image.tag in the same repository (release tags are immutable: one tag names one digest)",
            });
        }
        if (typeof model.weights.previousTag === "string" && model.weights.previousTag === model.weights.tag) {
            out.push({
                path: `${p}.previousTag`,
                value: model.weights.previousTag,
                message: "must differ from weights.tag (it names the weights this artifact replaced)",
            });
        }
    });
}

function checkRegistry(registry: unknown, models: any[], region: string | undefined, out: ConfigIssue[]): void {
    if (!isObj(registry)) return;
    checkRetention(registry, deployedTagCount(models), out);
    if (isObj(registry.harbor) && typeof registry.harbor.url === "string") {
        try {
            const u = new URL(registry.harbor.url);
            if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.username || u.password) {
                out.push({
                    path: "registry.harbor.url",
                    value: registry.harbor.url,
                    message: "must be the Harbor base URL (https://host[:port]) without path, query or credentials",
                });
            }
        } catch {
            // the schema reports a malformed URL
        }
    }
    if (registry.type === "harbor") {
        if (!isObj(registry.harbor)) {
            out.push({ path: "registry.harbor", message: "is required when registry.type is 'harbor' (url, project, username, password)" });
        }
        if (registry.replication !== undefined) {
            out.push({ path: "registry.replication", message: "is ECR-only; Harbor replication is configured in Harbor itself" });
        }
        // enable_content_trust_cosign makes Harbor refuse to pull an artifact without a cosign signature accessory.
        // A stack that builds pushes its digest during `pulumi up` and signs it afterwards (`npm run sign`): its
        // workload could never pull the new digest, and the update would wait on the rollout until it times out.
        if (isObj(registry.harbor) && registry.harbor.requireSignatures === true && models.some((m) => isObj(m) && isObj(m.image) && "build" in m.image)) {
            out.push({
                path: "registry.harbor.requireSignatures",
                value: true,
                message:
                    "must not be true on a stack that builds images: the new digest is signed only after `pulumi up` (npm run sign), so Harbor would refuse the workload's pull and the update would wait until it times out",
            });
        }
    }
    if (registry.type === "ecr" && registry.harbor !== undefined) {
        out.push({ path: "registry.harbor", message: "must not be set when registry.type is 'ecr'" });
    }
    if (isObj(registry.replication) && region && registry.replication.region === region && registry.replication.registryId === undefined) {
        out.push({
            path: "registry.replication.region",
            value: registry.replication.region,
            message: "is this stack's own region: ECR cannot replicate a registry into itself (use the prod stack's region or account)",
        });
    }
}

/** Pool keys that describe an EKS managed node group; meaningless for existing nodes. */
export const EKS_POOL_KEYS = ["amiType", "capacityType", "minSize", "maxSize", "desiredSize", "maxUnavailable", "diskSizeGiB"] as const;

/** `cluster.kind` of a raw config (default eks). */
export function clusterKind(raw: Record<string, unknown>): "eks" | "kubeconfig" {
    return isObj(raw.cluster) && raw.cluster.kind === "kubeconfig" ? "kubeconfig" : "eks";
}

/**
 * What each cluster kind needs and forbids: an EKS cluster has node-group sizes and an AWS registry option; a
 * `kubeconfig` cluster has a kubeconfig file, pools of existing nodes selected by labels, and no AWS at all.
 */
function checkClusterKind(raw: Record<string, unknown>, out: ConfigIssue[]): void {
    const kind = clusterKind(raw);
    const cluster = isObj(raw.cluster) ? raw.cluster : {};
    const registry = isObj(raw.registry) ? raw.registry : {};
    const pools = arr(raw.gpuPools);
    if (kind === "eks") {
        for (const key of ["kubeconfig", "context"] as const) {
            if (cluster[key] !== undefined)
                out.push({ path: `cluster.${key}`, message: "is only for cluster.kind 'kubeconfig' (an EKS cluster is reached through its endpoint)" });
        }
        pools.forEach((pool, i) => {
            if (!isObj(pool)) return;
            for (const key of ["minSize", "maxSize", "desiredSize"] as const) {
                if (pool[key] === undefined) out.push({ path: `gpuPools[${i}].${key}`, message: "is required on an EKS cluster (node-group size)" });
            }
            for (const key of ["nodeSelector", "nodes"] as const) {
                if (pool[key] !== undefined)
                    out.push({
                        path: `gpuPools[${i}].${key}`,
                        message: "is only for cluster.kind 'kubeconfig' (EKS pools are node groups the program creates)",
                    });
            }
        });
        if (registry.type === "external") {
            out.push({
                path: "registry.type",
                value: "external",
                message: "is only for cluster.kind 'kubeconfig' (EKS stacks manage their ECR or Harbor repositories)",
            });
        }
        return;
    }
    if (typeof cluster.kubeconfig !== "string") {
        out.push({ path: "cluster.kubeconfig", message: "is required when cluster.kind is 'kubeconfig' (path of the kubeconfig file)" });
    }
    pools.forEach((pool, i) => {
        if (!isObj(pool)) return;
        const p = `gpuPools[${i}]`;
        for (const key of EKS_POOL_KEYS) {
            if (pool[key] !== undefined)
                out.push({ path: `${p}.${key}`, value: pool[key], message: "is an EKS node-group setting; not allowed on a 'kubeconfig' cluster" });
        }
        if (!isObj(pool.nodeSelector) || Object.keys(pool.nodeSelector).length === 0) {
            out.push({ path: `${p}.nodeSelector`, message: "is required on a 'kubeconfig' cluster: the labels that select the pool's existing nodes" });
        }
        if (pool.nodes === undefined) {
            out.push({ path: `${p}.nodes`, message: "is required on a 'kubeconfig' cluster: how many nodes the pool has" });
        }
    });
    if (registry.type === "ecr") {
        out.push({ path: "registry.type", value: "ecr", message: "needs AWS; a 'kubeconfig' cluster uses 'harbor' or 'external'" });
    }
    if (registry.replication !== undefined) {
        out.push({ path: "registry.replication", message: "is ECR-only; not allowed on a 'kubeconfig' cluster" });
    }
}

/** `external` registries are not managed: no retention, no Harbor block, no builds, a prefix to pull from. */
function checkExternalRegistry(raw: Record<string, unknown>, out: ConfigIssue[]): void {
    const registry = isObj(raw.registry) ? raw.registry : undefined;
    if (!registry) return;
    if (registry.type !== "external") {
        if (registry.retention === undefined)
            out.push({ path: "registry.retention", message: `is required when registry.type is '${registry.type ?? "ecr"}'` });
        if (registry.externalPrefix !== undefined) out.push({ path: "registry.externalPrefix", message: "is only for registry.type 'external'" });
        return;
    }
    for (const key of ["retention", "harbor", "replication", "repositories"] as const) {
        if (registry[key] !== undefined) {
            out.push({ path: `registry.${key}`, message: "is not allowed with registry.type 'external': the program does not manage that registry" });
        }
    }
    if (registry.externalPrefix === undefined) {
        out.push({ path: "registry.externalPrefix", message: "is required when registry.type is 'external' (e.g. registry.example.com/models)" });
    }
    arr(raw.models).forEach((m, i) => {
        if (isObj(m) && isObj(m.image) && "build" in m.image) {
            out.push({ path: `models[${i}].image.build`, message: "is not allowed with registry.type 'external': deploy a digest (image.digest)" });
        }
    });
}

/** What the stack's AWS provider config says about its account (`aws:allowedAccountIds`), when set. */
export interface AwsFacts {
    allowedAccountIds?: readonly string[];
}

/**
 * Supply chain: who signs, what admission trusts, which severity blocks. The stack's account is known from the
 * build role's ARN and `aws:allowedAccountIds`; its region from `aws:region`. A key from another account or region is
 * refused here (the SigningKey component checks the caller's account again at deployment).
 */
function checkSupplyChain(raw: Record<string, unknown>, region: string | undefined, aws: AwsFacts, out: ConfigIssue[]): void {
    const kind = clusterKind(raw);
    const registry = isObj(raw.registry) ? raw.registry : {};
    const models = arr(raw.models);
    const builds = models.some((m) => isObj(m) && isObj(m.image) && "build" in m.image);
    const sc = isObj(raw.supplyChain) ? raw.supplyChain : {};
    const signing = isObj(sc.signing) ? sc.signing : {};
    const scan = isObj(sc.scan) ? sc.scan : {};
    const admission = isObj(sc.admission) ? sc.admission : {};
    const admissionOn = admission.enabled !== false;
    const p = "supplyChain.signing";
    const allowed = aws.allowedAccountIds && aws.allowedAccountIds.length > 0 ? aws.allowedAccountIds : undefined;

    // Istio injects istio-proxy and istio-init into every model pod, from the mesh's registry and by tag: admission
    // refuses images outside the stack's repositories unless they are listed (components/supplychain/admission.ts).
    const routing = isObj(raw.rollouts) ? raw.rollouts.trafficRouting : undefined;
    if (admissionOn && routing === "istio" && arr(admission.allowedImages).length === 0) {
        out.push({
            path: "supplyChain.admission.allowedImages",
            message:
                "must list the Istio sidecar image with rollouts.trafficRouting istio (e.g. docker.io/istio/proxyv2:*, for the injected istio-proxy and istio-init): admission refuses every image outside the stack's repositories that is not listed, and with it every model pod",
        });
    }

    if (kind === "eks") {
        for (const key of ["keyRef", "publicKeyPem"] as const) {
            if (signing[key] !== undefined)
                out.push({
                    path: `${p}.${key}`,
                    message: "is only for cluster.kind 'kubeconfig' (an EKS stack signs with an AWS KMS key: buildRoleArn, or keyArn)",
                });
        }
        const role = typeof signing.buildRoleArn === "string" ? IAM_ROLE_ARN.exec(signing.buildRoleArn) : null;
        const roleAccount = role ? role[2] : undefined;
        if (builds && signing.buildRoleArn === undefined) {
            out.push({
                path: `${p}.buildRoleArn`,
                message: "is required on an EKS stack that builds images: the build role that pushes and signs (the only principal the signing key lets sign)",
            });
        }
        if (!builds) {
            for (const key of ["buildRoleArn", "keyArn"] as const) {
                if (signing[key] !== undefined)
                    out.push({
                        path: `${p}.${key}`,
                        message:
                            "is only for stacks that build images (models[].image.build): a stack that deploys promoted digests trusts the keys promotion recorded (models[].image.signingKey)",
                    });
            }
        }
        if (roleAccount && allowed && !allowed.includes(roleAccount)) {
            out.push({
                path: `${p}.buildRoleArn`,
                value: signing.buildRoleArn,
                message: `is in account ${roleAccount}, not the stack's account (aws:allowedAccountIds: ${allowed.join(", ")})`,
            });
        }
        const key = typeof signing.keyArn === "string" ? KMS_KEY_ARN.exec(signing.keyArn) : null;
        if (key) {
            const [keyRegion, keyAccount] = [key[2], key[4]];
            if (region && keyRegion !== region) {
                out.push({
                    path: `${p}.keyArn`,
                    value: signing.keyArn,
                    message: `is in region ${keyRegion}, not the stack's region (aws:region ${region}): cosign signs where the images are pushed`,
                });
            }
            if (roleAccount && keyAccount !== roleAccount) {
                out.push({
                    path: `${p}.keyArn`,
                    value: signing.keyArn,
                    message: `is in account ${keyAccount}, not the stack's account (${roleAccount}, of supplyChain.signing.buildRoleArn)`,
                });
            } else if (allowed && !allowed.includes(keyAccount)) {
                out.push({
                    path: `${p}.keyArn`,
                    value: signing.keyArn,
                    message: `is in account ${keyAccount}, not the stack's account (aws:allowedAccountIds: ${allowed.join(", ")})`,
                });
            }
        }
        // What admission trusts on a stack that deploys promoted digests: the key promotion recorded next to each.
        if (admissionOn) {
            models.forEach((m, i) => {
                if (!isObj(m) || !isObj(m.image) || typeof m.image.digest !== "string") return;
                const ref = m.image.signingKey;
                if (ref === undefined) {
                    out.push({
                        path: `models[${i}].image.signingKey`,
                        message:
                            "is required while supplyChain.admission is enabled: admission admits only digests signed by a trusted key (npm run promote records it; a digest promoted before signing existed needs a re-promotion)",
                    });
                } else if (typeof ref === "string" && !AWSKMS_KEY_REF.test(ref)) {
                    out.push({
                        path: `models[${i}].image.signingKey`,
                        value: ref,
                        message: "must be awskms:///<KMS key ARN> on an EKS stack (admission fetches that key's public key)",
                    });
                }
            });
        }
        if (registry.type !== "ecr" && scan.enhanced === true) {
            out.push({ path: "supplyChain.scan.enhanced", message: "is ECR-only (Amazon Inspector); Harbor scans with its own scanner (auto_scan)" });
        }
    } else {
        for (const key of ["buildRoleArn", "keyArn"] as const) {
            if (signing[key] !== undefined)
                out.push({ path: `${p}.${key}`, message: "is only for EKS stacks (AWS KMS); a 'kubeconfig' cluster signs with supplyChain.signing.keyRef" });
        }
        if (builds && signing.keyRef === undefined) {
            out.push({
                path: `${p}.keyRef`,
                message:
                    "is required on a 'kubeconfig' stack that builds images: the cosign key reference, set as a secret (pulumi config set --secret --path supplyChain.signing.keyRef <ref>)",
            });
        }
        if (admissionOn && signing.publicKeyPem === undefined) {
            out.push({
                path: `${p}.publicKeyPem`,
                message: "is required on a 'kubeconfig' stack while supplyChain.admission is enabled: the PEM public key admission verifies signatures with",
            });
        }
        if (scan.enhanced !== undefined) {
            out.push({ path: "supplyChain.scan.enhanced", message: "is ECR-only (Amazon Inspector); not allowed on a 'kubeconfig' cluster" });
        }
    }
    if (typeof signing.publicKeyPem === "string") {
        try {
            const k = createPublicKey(signing.publicKeyPem);
            if (k.type !== "public") throw new Error("not a public key");
        } catch {
            out.push({
                path: `${p}.publicKeyPem`,
                message: "is not a PEM public key (-----BEGIN PUBLIC KEY-----, as `cosign generate-key-pair` writes cosign.pub)",
            });
        }
    }
    if (typeof scan.severity === "string") {
        const type = typeof registry.type === "string" ? registry.type : "ecr";
        if (type === "external") {
            out.push({
                path: "supplyChain.scan.severity",
                value: scan.severity,
                message: "is not used with registry.type 'external': the program reads no scan results from a registry it does not manage",
            });
        } else {
            const names: readonly string[] = type === "harbor" ? HARBOR_SEVERITIES : INSPECTOR_THRESHOLDS;
            if (!names.includes(scan.severity)) {
                const scanner = type === "harbor" ? "Harbor's project severity levels" : "Amazon Inspector's severity levels (UNTRIAGED orders nothing)";
                out.push({ path: "supplyChain.scan.severity", value: scan.severity, message: `is not one of ${scanner}: ${names.join(", ")}` });
            }
        }
    }
}

/** A plain HPA has no source for requests per second (no adapter serves it): that target needs KEDA. */
function checkAutoscaler(raw: Record<string, unknown>, out: ConfigIssue[]): void {
    if (!isObj(raw.serving) || raw.serving.autoscaler !== "hpa") return;
    arr(raw.models).forEach((model, i) => {
        const rps = isObj(model) && isObj(model.autoscaling) ? model.autoscaling.targetRequestsPerSecond : undefined;
        if (rps !== undefined) {
            out.push({
                path: `models[${i}].autoscaling.targetRequestsPerSecond`,
                value: rps,
                message: "needs KEDA (serving.autoscaler 'auto' or 'keda'): with 'hpa' nothing serves the request rate",
            });
        }
    });
}

/** Every cross-field problem of a raw config object. */
export function crossCheck(raw: Record<string, unknown>, env: Environment, region: string | undefined, aws: AwsFacts = {}): ConfigIssue[] {
    const out: ConfigIssue[] = [];
    const pools = arr(raw.gpuPools);
    checkClusterKind(raw, out);
    checkExternalRegistry(raw, out);
    checkPools(pools, out);
    checkModels(arr(raw.models), pools, env, isObj(raw.rollouts) ? raw.rollouts.trafficRouting : undefined, out);
    checkRegistry(raw.registry, arr(raw.models), region, out);
    checkWeights(raw, out);
    checkSupplyChain(raw, region, aws, out);
    checkAutoscaler(raw, out);
    const timeScale = isObj(raw.rollouts) ? raw.rollouts.timeScale : undefined;
    if (env === "production" && timeScale !== undefined && timeScale !== 1) {
        out.push({
            path: "rollouts.timeScale",
            value: timeScale,
            message: "must be 1 in production (it compresses canary pauses and analysis for rehearsals)",
        });
    }
    return out;
}
