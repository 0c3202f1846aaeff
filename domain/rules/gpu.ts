/** The GPU rules shared by config validation, GpuNodePool and gpuScheduling. */
import { devicesPerNode, instanceGpu } from "../gpu/catalogue";
import { isInt, RuleIssue } from "./issues";

export interface MigInput {
    strategy: string;
    layout?: Record<string, unknown>;
}

/**
 * MIG needs the GPU Operator's mig-manager, which cannot repartition Bottlerocket hosts (NVIDIA GPU Operator docs,
 * "Platform support": Bottlerocket runs NVIDIA's host components only).
 */
export function migOnBottlerocketIssues(pool: { amiType?: unknown; mig?: MigInput }): RuleIssue[] {
    if (pool.mig === undefined || pool.mig.strategy === "none" || pool.amiType !== "BOTTLEROCKET_x86_64_NVIDIA") return [];
    return [
        {
            path: "amiType",
            value: pool.amiType,
            reason: "cannot run MIG pools: the GPU Operator's mig-manager cannot repartition Bottlerocket hosts (use AL2023_x86_64_NVIDIA)",
        },
    ];
}

/**
 * A model's GPU request against its pool (paths relative to `models[].gpu`): under `mixed` one named MIG profile of
 * the layout and one device per replica; under `single` only the pool's profile; without MIG no profile; never more
 * devices than one node offers (NVIDIA k8s-device-plugin MIG strategies: docs/design/gpus.md).
 */
export function gpuRequestIssues(
    gpu: { pool: string; profile?: unknown; count?: unknown },
    pool: { name: string; instanceType?: unknown; mig?: { strategy: string; layout?: Record<string, unknown> } },
): RuleIssue[] {
    const strategy = pool.mig?.strategy ?? "none";
    const layout = pool.mig?.layout ?? {};
    const profiles = Object.keys(layout);
    const count = gpu.count ?? 1;
    const out: RuleIssue[] = [];
    if (strategy === "mixed") {
        if (typeof gpu.profile !== "string") {
            out.push({ path: "profile", reason: `is required: pool '${gpu.pool}' uses MIG strategy 'mixed' (layout: ${profiles.join(", ")})` });
        } else if (!(gpu.profile in layout)) {
            out.push({ path: "profile", value: gpu.profile, reason: `is not in pool '${gpu.pool}' layout (${profiles.join(", ")})` });
        }
        if (isInt(count) && count !== 1) out.push({ path: "count", value: count, reason: "must be 1 on a 'mixed' MIG pool (one MIG device per replica)" });
        return out;
    }
    if (strategy === "single") {
        if (gpu.profile !== undefined && gpu.profile !== profiles[0]) {
            out.push({ path: "profile", value: gpu.profile, reason: `must be the pool's only profile (${profiles[0]}) under strategy 'single'` });
        }
    } else if (gpu.profile !== undefined) {
        out.push({ path: "profile", value: gpu.profile, reason: `must not be set: pool '${gpu.pool}' does not partition GPUs with MIG` });
    }
    if (isInt(count) && typeof pool.instanceType === "string" && instanceGpu(pool.instanceType)) {
        const mig = pool.mig ? { strategy: pool.mig.strategy, layout: numericLayout(layout) } : undefined;
        const offered = devicesPerNode(pool.instanceType, mig)?.["nvidia.com/gpu"] ?? 0;
        if (count > offered) out.push({ path: "count", value: count, reason: `exceeds the ${offered} GPU device(s) one ${pool.instanceType} node offers` });
    }
    return out;
}

function numericLayout(layout: Record<string, unknown>): Record<string, number> {
    return Object.fromEntries(Object.entries(layout).map(([k, v]) => [k, Number(v)]));
}
