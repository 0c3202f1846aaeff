// What a GPU workload must ask for to land on its pool: the extended resource its pool's device plugin exposes,
// a toleration for the GPU taint and a nodeSelector on the pool label. Pure; used by components/serving.

import { migResourceName } from "../../domain/gpu/catalogue";
import { gpuRequestIssues } from "../../domain/rules/gpu";
import { formatIssue } from "../../domain/rules/issues";
import { migConfigName } from "./migConfig";
import { GPU_POOL_LABEL, GPU_TAINT, MIG_CONFIG_LABEL, MIG_CONFIG_STATE_LABEL } from "./labels";

export {
    GPU_TAINT,
    GPU_NODEGROUP_TAINT,
    GPU_POOL_LABEL,
    GPU_MODEL_LABEL,
    GPU_AMI_FAMILY_LABEL,
    MIG_CONFIG_LABEL,
    MIG_CONFIG_STATE_LABEL,
    DEVICE_PLUGIN_CONFIG_LABEL,
    gpuPoolNodeLabels,
} from "./labels";

export interface GpuScheduling {
    limits: Record<string, string>;
    tolerations: Array<{ key: string; operator: "Equal" | "Exists"; value?: string; effect: "NoSchedule" }>;
    nodeSelector: Record<string, string>;
}

export interface WorkloadGpuRequest {
    pool: string;
    profile?: string;
    count: number;
}

export interface WorkloadGpuPool {
    name: string;
    /** Labels of the pool's existing nodes (a `kubeconfig` cluster). Default: the pool label GpuNodePool sets. */
    nodeSelector?: Record<string, string>;
    mig?: { strategy: "none" | "single" | "mixed"; layout: Record<string, number> };
}

export { migResourceName };

/**
 * Limits, toleration and nodeSelector for a workload on `pool`.
 *  - `mixed`: `nvidia.com/mig-<profile>: "1"` (one MIG device per replica; CUDA sees one MIG instance per process).
 *  - `single`: `nvidia.com/gpu: "<count>"` — under `single` the plugin exposes the pool's only profile as
 *    `nvidia.com/gpu`; a given profile must be that profile. Also selects the pool's current mig-parted config, so
 *    that during a layout change pods do not land on the old nodes, whose `nvidia.com/gpu` is another profile.
 *  - `none` (or no MIG): `nvidia.com/gpu: "<count>"` whole GPUs.
 * On MIG pools pods also wait for `nvidia.com/mig.config.state=success`: until mig-manager has partitioned a new
 * node the plugin may still advertise unpartitioned GPUs.
 * Throws on requests the pool cannot satisfy: the same rule (domain/rules/gpu.ts) config validation reports with the key path.
 */
export function gpuScheduling(gpu: WorkloadGpuRequest, pool: WorkloadGpuPool): GpuScheduling {
    if (gpu.pool !== pool.name) throw new Error(`GPU request is for pool '${gpu.pool}', not '${pool.name}'`);
    if (!Number.isInteger(gpu.count) || gpu.count < 1) throw new Error(`GPU count ${gpu.count} must be a positive integer`);
    const strategy = pool.mig?.strategy ?? "none";
    const layout = pool.mig?.layout ?? {};
    const profiles = Object.keys(layout);
    const tolerations: GpuScheduling["tolerations"] = [{ key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect }];
    const nodeSelector: Record<string, string> = pool.nodeSelector ? { ...pool.nodeSelector } : { [GPU_POOL_LABEL]: pool.name };
    const issues = gpuRequestIssues(gpu, { name: pool.name, mig: pool.mig });
    if (issues.length > 0) throw new Error(`GPU request for pool '${pool.name}': ${issues.map(formatIssue).join("; ")}`);

    if (strategy === "mixed") {
        nodeSelector[MIG_CONFIG_STATE_LABEL] = "success";
        return { limits: { [migResourceName(gpu.profile!)]: "1" }, tolerations, nodeSelector };
    }
    if (strategy === "single") {
        if (profiles.length !== 1) throw new Error(`pool '${pool.name}' uses MIG strategy 'single' but its layout has ${profiles.length} profiles`);
        nodeSelector[MIG_CONFIG_LABEL] = migConfigName(pool);
        nodeSelector[MIG_CONFIG_STATE_LABEL] = "success";
        return { limits: { "nvidia.com/gpu": String(gpu.count) }, tolerations, nodeSelector };
    }
    return { limits: { "nvidia.com/gpu": String(gpu.count) }, tolerations, nodeSelector };
}
