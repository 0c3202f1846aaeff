// Node labels and the taint shared by the GPU node pools, the cluster add-ons and the workloads. Pure.
//
// One source of truth: GpuNodePool puts these labels/taints on nodes, GpuClusterAddons selects nodes with them, and
// workloadGpu.ts makes pods tolerate/select them. Changing a value here changes all three together.

import { instanceGpu } from "./catalogue";
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
/** Selects the device plugin's named config (from the chart's `config.map`). */
export const DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config";
/** `false` keeps the GPU Operator's operands (mig-manager, validator) off a node. */
export const GPU_OPERATOR_OPERANDS_LABEL = "nvidia.com/gpu.deploy.operands";
/** Labels mig-manager sets to `paused-for-mig-change` while it repartitions; our device plugin and GFD honour them. */
export const DEVICE_PLUGIN_DEPLOY_LABEL = "nvidia.com/gpu.deploy.device-plugin";
export const GFD_DEPLOY_LABEL = "nvidia.com/gpu.deploy.gpu-feature-discovery";
export const PAUSED_FOR_MIG_CHANGE = "paused-for-mig-change";

export type MigStrategy = "none" | "single" | "mixed";
export type AmiType = "AL2023_x86_64_NVIDIA" | "BOTTLEROCKET_x86_64_NVIDIA";

/** The pool fields the labels depend on. */
export interface PoolLabelInput {
  name: string;
  instanceType: string;
  amiType?: AmiType;
  mig?: { strategy: MigStrategy; layout: Record<string, number> };
}

/** MIG strategy the device plugin uses on a pool's nodes (`none` without a MIG config). */
export function poolMigStrategy(pool: { mig?: { strategy: MigStrategy } }): MigStrategy {
  return pool.mig?.strategy ?? "none";
}

/** Name of the device plugin config (in the chart's `config.map`) for a MIG strategy. */
export function devicePluginConfigName(strategy: MigStrategy): string {
  return `mig-${strategy}`;
}

/** AMI family label value. */
export function amiFamily(amiType: AmiType | undefined): "al2023" | "bottlerocket" {
  return amiType === "BOTTLEROCKET_x86_64_NVIDIA" ? "bottlerocket" : "al2023";
}

/**
 * Kubernetes labels for a GPU pool's nodes: pool, GPU model, AMI family, device plugin config and, on MIG pools,
 * the mig-parted config; non-MIG pools opt out of the GPU Operator's operands (it is only there for mig-manager).
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
