/**
 * Pod-spec extraction shared by the image, pod, GPU and advisory policies: which Pulumi types carry a pod template,
 * where it sits in their inputs, and the containers inside it. Fields are the Kubernetes object fields as the
 * program passes them (`spec.template.spec.containers[].image`, …).
 */
import type { ReportViolation, ResourceValidation, ResourceValidationArgs } from "@pulumi/policy";
import { arr, obj } from "./util";

export const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
export const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
export const DAEMON_SET = "kubernetes:apps/v1:DaemonSet";
export const REPLICA_SET = "kubernetes:apps/v1:ReplicaSet";
export const JOB = "kubernetes:batch/v1:Job";
export const CRON_JOB = "kubernetes:batch/v1:CronJob";
export const POD = "kubernetes:core/v1:Pod";
/** Argo Rollout, declared as a `CustomResource`: Pulumi types it `kubernetes:<apiVersion>:<kind>`. */
export const ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout";

/** Path of the pod spec in each workload type's inputs. */
const POD_SPEC_PATH: Record<string, readonly string[]> = {
    [DEPLOYMENT]: ["spec", "template", "spec"],
    [STATEFUL_SET]: ["spec", "template", "spec"],
    [DAEMON_SET]: ["spec", "template", "spec"],
    [REPLICA_SET]: ["spec", "template", "spec"],
    [JOB]: ["spec", "template", "spec"],
    [CRON_JOB]: ["spec", "jobTemplate", "spec", "template", "spec"],
    [POD]: ["spec"],
    [ROLLOUT]: ["spec", "template", "spec"],
};

/** Every type whose inputs contain a pod spec. */
export const WORKLOAD_TYPES: readonly string[] = Object.keys(POD_SPEC_PATH);
/** Workloads that keep replicas running and are disrupted by drains (PDB, spread advice). */
export const REPLICATED_TYPES: readonly string[] = [DEPLOYMENT, STATEFUL_SET, REPLICA_SET, ROLLOUT];
/** Batch workloads: their pods run to completion. */
export const BATCH_TYPES: readonly string[] = [JOB, CRON_JOB];

/** The Kubernetes fields the policies read (a subset of core/v1 Container / PodSpec). */
export interface Container {
    name?: string;
    image?: string;
    resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
    securityContext?: {
        runAsNonRoot?: boolean;
        runAsUser?: number;
        allowPrivilegeEscalation?: boolean;
        readOnlyRootFilesystem?: boolean;
        privileged?: boolean;
        capabilities?: { add?: string[]; drop?: string[] };
    };
    readinessProbe?: unknown;
    livenessProbe?: unknown;
    startupProbe?: unknown;
    restartPolicy?: string;
}

export interface Toleration {
    key?: string;
    operator?: string;
    value?: string;
    effect?: string;
}

export interface LabelSelectorRequirement {
    key: string;
    operator: string;
    values?: string[];
}

export interface PodSpec {
    containers?: Container[];
    initContainers?: Container[];
    ephemeralContainers?: Container[];
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
    automountServiceAccountToken?: boolean;
    serviceAccountName?: string;
    /** Deprecated alias of serviceAccountName. */
    serviceAccount?: string;
    tolerations?: Toleration[];
    nodeSelector?: Record<string, string>;
    affinity?: {
        nodeAffinity?: {
            requiredDuringSchedulingIgnoredDuringExecution?: {
                nodeSelectorTerms?: { matchExpressions?: LabelSelectorRequirement[] }[];
            };
        };
    };
    topologySpreadConstraints?: unknown[];
    restartPolicy?: string;
}

export type ContainerKind = "container" | "init container" | "ephemeral container";

export interface ContainerRef {
    kind: ContainerKind;
    container: Container;
    /** `container "server"` / `init container "fetch-weights"`, for messages. */
    label: string;
}

export interface Workload {
    /** Pulumi type token. */
    type: string;
    /** Kubernetes kind (`Deployment`, `Rollout`, …). */
    kind: string;
    /** `metadata.namespace`, `"default"` when absent. */
    namespace: string;
    /** `metadata.name` (the program always sets it), else the Pulumi name. */
    name: string;
    podSpec: PodSpec;
    /** Labels of the pods it creates (the template's `metadata.labels`; the Pod's own for a bare Pod). */
    podLabels: Record<string, string>;
}

function at(root: unknown, path: readonly string[]): unknown {
    let cur: unknown = root;
    for (const key of path) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string, unknown>)[key];
    }
    return cur;
}

export function kindOf(type: string): string {
    return type.split(":")[2] ?? type;
}

/** The workload's pod spec, or `undefined` when it has none (e.g. a Rollout that uses `workloadRef`). */
export function podSpecOf(type: string, props: Record<string, any>): PodSpec | undefined {
    const path = POD_SPEC_PATH[type];
    if (!path) return undefined;
    const spec = at(props, path);
    return spec !== null && typeof spec === "object" ? (spec as PodSpec) : undefined;
}

/** The workload's view the policies work on, or `undefined` for a type without a pod template. */
export function workloadOf(type: string, name: string, props: Record<string, any>): Workload | undefined {
    const podSpec = podSpecOf(type, props);
    if (!podSpec) return undefined;
    const path = POD_SPEC_PATH[type];
    // Getters: during a preview a field may still be unknown, and @pulumi/policy throws when a policy reads an
    // unknown value. Reading metadata only where a policy needs it keeps the other policies running.
    return {
        type,
        kind: kindOf(type),
        get namespace() {
            const ns = obj(props.metadata).namespace;
            return typeof ns === "string" && ns !== "" ? ns : "default";
        },
        get name() {
            const n = obj(props.metadata).name;
            return typeof n === "string" && n !== "" ? n : name;
        },
        podSpec,
        get podLabels() {
            return { ...obj(obj(at(props, [...path.slice(0, -1), "metadata"])).labels) } as Record<string, string>;
        },
    };
}

/** Every container of a pod spec with its kind: regular, init, ephemeral. */
export function containersOf(spec: PodSpec, kinds: readonly ContainerKind[] = ["container", "init container", "ephemeral container"]): ContainerRef[] {
    const out: ContainerRef[] = [];
    const add = (kind: ContainerKind, list: unknown) => {
        if (!kinds.includes(kind)) return;
        arr<Container>(list).forEach((c, i) => {
            const container = obj(c) as Container;
            const name = typeof container.name === "string" && container.name !== "" ? container.name : `#${i}`;
            out.push({ kind, container, label: `${kind} "${name}"` });
        });
    };
    add("container", spec.containers);
    add("init container", spec.initContainers);
    add("ephemeral container", spec.ephemeralContainers);
    return out;
}

/** Component types whose children are rendered from third-party templates (Helm charts, YAML manifests). */
const RENDERING_COMPONENTS = ["kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/"];

/**
 * The chart/manifest component a resource was rendered from, read off its URN's type chain
 * (`urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`), or `undefined` for a resource the program
 * declares itself. E.g. the Argo Rollouts controller's Deployment under a `kubernetes:helm.sh/v4:Chart`.
 */
export function renderedFrom(urn: string | undefined): string | undefined {
    const qualifiedType = (urn ?? "").split("::")[2] ?? "";
    const ancestors = qualifiedType.split("$").slice(0, -1);
    return ancestors.find((t) => RENDERING_COMPONENTS.some((prefix) => t.startsWith(prefix)));
}

export interface WorkloadScope {
    /** Workload types the policy covers (default: all). */
    types?: readonly string[];
    /**
     * Whether workloads rendered from a Helm chart or manifest are covered (default false). Their pod specs are the
     * chart's (controllers that need API tokens, their own probes), changed only through chart values.
     */
    includeRendered?: boolean;
}

/**
 * A resource validation over the pod spec of every workload type (or the given subset). Other types are
 * not applicable; so is a Rollout without an inline template (its `workloadRef` target is checked itself), and,
 * unless `includeRendered`, a workload rendered from a chart or manifest.
 */
export function validateWorkloads(
    validate: (workload: Workload, args: ResourceValidationArgs, report: ReportViolation) => void | Promise<void>,
    scope: WorkloadScope = {},
): ResourceValidation {
    const types = scope.types ?? WORKLOAD_TYPES;
    const wanted = new Set(types);
    return (args, report) => {
        if (!wanted.has(args.type)) {
            return args.notApplicable(`Policy only applies to workloads (${types.map(kindOf).join(", ")})`);
        }
        const chart = scope.includeRendered ? undefined : renderedFrom(args.urn);
        if (chart) {
            return args.notApplicable(`Rendered from a ${chart}; its pod spec is set through the chart's values`);
        }
        const workload = workloadOf(args.type, args.name, args.props ?? {});
        if (!workload) {
            return args.notApplicable(`${kindOf(args.type)} has no inline pod template`);
        }
        return validate(workload, args, report);
    };
}

/** Resource names that count as GPUs: whole GPUs and MIG slices. */
export function isGpuResource(name: string): boolean {
    return name === "nvidia.com/gpu" || name.startsWith("nvidia.com/mig-");
}

/** The GPU resource names a container asks for, in requests or limits. */
export function gpuResourcesOf(c: Container): string[] {
    const names = new Set<string>();
    for (const bag of [obj(c.resources?.requests), obj(c.resources?.limits)]) {
        for (const [k, v] of Object.entries(bag)) {
            if (isGpuResource(k) && Number(v) !== 0) names.add(k);
        }
    }
    return [...names].sort();
}

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions) against a label set. */
export function selectorMatches(
    selector: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } | undefined | null,
    labels: Record<string, string>,
): boolean {
    if (selector === undefined || selector === null) return false; // a null selector selects nothing
    for (const [k, v] of Object.entries(obj(selector.matchLabels))) {
        if (labels[k] !== v) return false;
    }
    for (const req of arr<LabelSelectorRequirement>(selector.matchExpressions)) {
        const has = Object.prototype.hasOwnProperty.call(labels, req.key);
        const values = arr<string>(req.values);
        switch (req.operator) {
            case "In":
                if (!has || !values.includes(labels[req.key])) return false;
                break;
            case "NotIn":
                if (has && values.includes(labels[req.key])) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                return false;
        }
    }
    return true;
}
