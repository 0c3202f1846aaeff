// Node labels and the taint shared by the GPU node pools, the cluster add-ons and the workloads. Pure.
//
// One source of truth: GpuNodePool puts these labels/taints on nodes, GpuClusterAddons selects nodes with them, and
// workloadGpu.ts makes pods tolerate/select them. Changing a value here changes all three together.

import { instanceGpu } from "../../domain/gpu/catalogue";
import { MIG_CONFIG_LABEL, isMigPool, migConfigName } from "./migConfig";

export { MIG_CONFIG_LABEL };

/** Taint on every GPU node: only pods that ask for a GPU (and tolerate it) land there. */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" } as const;
/** The same taint in the EKS NodeGroup API's spelling. */
export const GPU_NODEGROUP_TAINT = { key: GPU_TAINT.key, value: GPU_TAINT.value, effect: "NO_SCHEDULE" } as const;

/** Pool name; workloads select their pool with it. */
export const GPU_POOL_LABEL = "model-fleet.io/gpu-pool";
/** GPU model of the pool's nodes (catalogue name, e.g. H100-80GB). */
export const GPU_MODEL_LABEL = "model-fleet.io/gpu-model";
/** AMI family: `al2023` or `bottlerocket` (Bottlerocket runs its own NVIDIA device plugin on the host). */
export const GPU_AMI_FAMILY_LABEL = "model-fleet.io/gpu-ami-family";
/** Set by mig-manager: `pending`, `rebooting`, `success` or `failed`. */
export const MIG_CONFIG_STATE_LABEL = "nvidia.com/mig.config.state";
/**
 * Selects the node's named device plugin config: from the standalone chart's `config.map` on whole-GPU pools, from
 * the GPU Operator's `devicePlugin.config` on MIG pools (both plugins and their GFDs read this label).
 */
export const DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config";
/**
 * `false` keeps every GPU Operator operand (device plugin, GFD, mig-manager, validator) off a node: set on every
 * non-MIG pool and on no MIG pool. The standalone device plugin chart selects exactly these nodes.
 */
export const GPU_OPERATOR_OPERANDS_LABEL = "nvidia.com/gpu.deploy.operands";

export type MigStrategy = "none" | "single" | "mixed";
export type AmiType = "AL2023_x86_64_NVIDIA" | "BOTTLEROCKET_x86_64_NVIDIA";

/** The pool fields the labels depend on. */
export interface PoolLabelInput {
    name: string;
    instanceType: string;
    amiType?: AmiType;
    mig?: { strategy: MigStrategy; layout: Record<string, number> };
}

/** MIG strategy the device plugin uses on a pool's nodes: the pool's strategy on MIG pools, `none` on all others. */
export function poolMigStrategy(pool: PoolLabelInput): MigStrategy {
    return isMigPool(pool) ? pool.mig.strategy : "none";
}

/**
 * Name of the device plugin config for a MIG strategy: `mig-none` in the standalone chart's `config.map`,
 * `mig-single` / `mig-mixed` in the GPU Operator's `devicePlugin.config`.
 */
export function devicePluginConfigName(strategy: MigStrategy): string {
    return `mig-${strategy}`;
}

/** AMI family label value. */
export function amiFamily(amiType: AmiType | undefined): "al2023" | "bottlerocket" {
    return amiType === "BOTTLEROCKET_x86_64_NVIDIA" ? "bottlerocket" : "al2023";
}

/**
 * Kubernetes labels for a GPU pool's nodes: pool, GPU model, AMI family, device plugin config and, on MIG pools,
 * the mig-parted config; non-MIG pools opt out of the GPU Operator's operands (the operator serves MIG pools only:
 * device plugin, GFD and mig-manager), which is also what puts the standalone device plugin chart on them.
 */
export function gpuPoolNodeLabels(pool: PoolLabelInput): Record<string, string> {
    const gpu = instanceGpu(pool.instanceType);
    const labels: Record<string, string> = {
        [GPU_POOL_LABEL]: pool.name,
        [GPU_MODEL_LABEL]: gpu?.gpu ?? "unknown",
        [GPU_AMI_FAMILY_LABEL]: amiFamily(pool.amiType),
        [DEVICE_PLUGIN_CONFIG_LABEL]: devicePluginConfigName(poolMigStrategy(pool)),
    };
    if (isMigPool(pool)) {
        labels[MIG_CONFIG_LABEL] = migConfigName(pool);
    } else {
        labels[GPU_OPERATOR_OPERANDS_LABEL] = "false";
    }
    return labels;
}
