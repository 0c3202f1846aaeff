/**
 * GPU: a pod that asks for `nvidia.com/gpu` or a MIG slice (`nvidia.com/mig-*`) tolerates the GPU taint and is
 * pinned to a GPU pool; every EKS GPU node group carries that taint, so nothing else lands on the GPUs.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { Toleration, containersOf, gpuResourcesOf, validateWorkloads } from "./podSpecs";
import { arr, configOf, obj, validateTypes, violation } from "./util";

export const EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup";

/** The taint every GPU node group carries (`nvidia.com/gpu=true:NoSchedule`). */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule", eksEffect: "NO_SCHEDULE" } as const;

/** Node labels that pin a pod to GPU nodes (a pool's label, or labels only GPU nodes carry). */
export const DEFAULT_POOL_LABEL_KEYS = [
    "model-fleet.io/gpu-pool",
    "model-fleet.io/gpu-model",
    "eks.amazonaws.com/nodegroup",
    "nvidia.com/gpu.present",
    "nvidia.com/gpu.product",
    "nvidia.com/mig.config",
    "karpenter.sh/nodepool",
];

export interface GpuSchedulingConfig {
    /** Node label keys that count as selecting a GPU pool. */
    poolLabelKeys: string[];
    /** Value of the GPU taint (an `Equal` toleration must carry it). */
    taintValue: string;
}

/** Does `t` tolerate `nvidia.com/gpu=<value>:NoSchedule` (Kubernetes toleration semantics)? */
export function toleratesGpuTaint(t: Toleration, taintValue: string): boolean {
    const operator = t.operator ?? "Equal";
    const keyOk = t.key === GPU_TAINT.key || ((t.key === undefined || t.key === "") && operator === "Exists");
    const valueOk = operator === "Exists" || (operator === "Equal" && (t.value ?? "") === taintValue);
    const effectOk = t.effect === undefined || t.effect === "" || t.effect === GPU_TAINT.effect;
    return keyOk && valueOk && effectOk;
}

const SCHEDULING_REMEDIATION =
    'add the toleration `{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }` and a `nodeSelector` ' +
    "on the GPU pool's label (the GPU pool helper in components/gpu returns both for a model's `gpu.pool`).";

export const gpuPodScheduling: ResourceValidationPolicy = {
    name: "gpu-pod-scheduling",
    description:
        "A pod that requests nvidia.com/gpu or nvidia.com/mig-* tolerates the nvidia.com/gpu taint and selects a GPU " +
        "pool (nodeSelector or required node affinity on a pool label).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: SCHEDULING_REMEDIATION,
    configSchema: {
        properties: {
            poolLabelKeys: {
                type: "array",
                items: { type: "string" },
                default: DEFAULT_POOL_LABEL_KEYS,
                description: "Node label keys that count as selecting a GPU pool.",
            },
            taintValue: { type: "string", default: GPU_TAINT.value, description: "Value of the nvidia.com/gpu taint." },
        },
    },
    validateResource: validateWorkloads((w, args, report) => {
        const gpus = [...new Set(containersOf(w.podSpec).flatMap((ref) => gpuResourcesOf(ref.container)))].sort();
        if (gpus.length === 0) {
            return args.notApplicable("The pod requests no GPU");
        }
        const cfg = configOf<GpuSchedulingConfig>(args, { poolLabelKeys: DEFAULT_POOL_LABEL_KEYS, taintValue: GPU_TAINT.value });
        const asked = gpus.join(", ");
        if (!arr<Toleration>(w.podSpec.tolerations).some((t) => toleratesGpuTaint(obj(t), cfg.taintValue))) {
            report(violation(`the pod requests ${asked} but does not tolerate the nvidia.com/gpu:NoSchedule taint.`, SCHEDULING_REMEDIATION));
        }
        const keys = new Set(cfg.poolLabelKeys);
        const bySelector = Object.keys(obj(w.podSpec.nodeSelector)).some((k) => keys.has(k));
        const terms = arr(w.podSpec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms);
        const byAffinity =
            terms.length > 0 &&
            terms.every((term) =>
                arr(obj(term).matchExpressions).some((e) => keys.has(obj(e).key) && (obj(e).operator === "In" || obj(e).operator === "Exists")),
            );
        if (!bySelector && !byAffinity) {
            report(
                violation(
                    `the pod requests ${asked} but selects no GPU pool (no nodeSelector or required node affinity on ${cfg.poolLabelKeys.join(", ")}).`,
                    SCHEDULING_REMEDIATION,
                ),
            );
        }
    }),
};

/** GPU instance families: p3, p4d, p4de, p5, p5e, p5en, g4dn, g5, g5g, g6, g6e, gr6, … */
const GPU_INSTANCE = /^(p|g|gr)\d+[a-z]*\./;

/** Is this node group a GPU pool: an NVIDIA/GPU AMI, or a GPU instance type? */
export function isGpuNodeGroup(props: Record<string, any>): boolean {
    const ami = String(props.amiType ?? "").toUpperCase();
    if (ami.includes("NVIDIA") || ami.includes("GPU")) return true;
    return arr(props.instanceTypes).some((t) => typeof t === "string" && GPU_INSTANCE.test(t));
}

const TAINT_REMEDIATION =
    'add `taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }]` to the node group, so only pods ' +
    "that tolerate it (the GPU workloads) are scheduled on its nodes.";

export const eksGpuNodeGroupTaint: ResourceValidationPolicy = {
    name: "eks-gpu-node-group-taint",
    description: "Every EKS GPU node group (NVIDIA AMI, or p*/g* instance types) carries the nvidia.com/gpu NO_SCHEDULE taint.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: TAINT_REMEDIATION,
    validateResource: validateTypes([EKS_NODE_GROUP], (ng, args, report) => {
        if (!isGpuNodeGroup(ng)) {
            return args.notApplicable("Not a GPU node group");
        }
        const tainted = arr(ng.taints).some((t) => obj(t).key === GPU_TAINT.key && obj(t).effect === GPU_TAINT.eksEffect);
        if (!tainted) {
            const what = [ng.amiType, ...arr(ng.instanceTypes)].filter((x) => typeof x === "string").join(", ");
            report(violation(`GPU node group (${what}) does not carry the nvidia.com/gpu NO_SCHEDULE taint.`, TAINT_REMEDIATION));
        }
    }),
};

export const gpuPolicies = [gpuPodScheduling, eksGpuNodeGroupTaint];
