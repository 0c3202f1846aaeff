// Helm values for the cluster's GPU add-ons, computed from the pools. Pure; GpuClusterAddons passes them to the
// charts and tests/gpu-addons.spec.ts checks every key against the pinned charts' values.yaml.
//
// Route: the standalone NVIDIA device plugin chart (with GFD) serves every AL2023 GPU node; the GPU Operator chart
// runs only for its mig-manager, on MIG pools, with driver, toolkit, device plugin, GFD, NFD, DCGM exporter and CC
// manager disabled (the EKS NVIDIA AMIs ship driver and toolkit; the device plugin chart brings GFD and NFD). One
// device plugin per node:
//  * Bottlerocket nodes run NVIDIA's device plugin on the host, so the chart's DaemonSets skip them;
//  * the operator's own device plugin is off, and non-MIG pools opt out of all operator operands by label.
// While mig-manager repartitions a node it sets `nvidia.com/gpu.deploy.device-plugin` (and `…gpu-feature-discovery`)
// to `paused-for-mig-change` and back to `true`; the chart's node affinity excludes paused nodes, so the DaemonSet
// controller removes our plugin during the change and starts it again afterwards, re-reading the MIG devices.

import * as YAML from "yaml";
import {
  DEVICE_PLUGIN_DEPLOY_LABEL,
  GFD_DEPLOY_LABEL,
  GPU_AMI_FAMILY_LABEL,
  GPU_POOL_LABEL,
  GPU_TAINT,
  MigStrategy,
  PAUSED_FOR_MIG_CHANGE,
  PoolLabelInput,
  devicePluginConfigName,
  poolMigStrategy,
} from "./labels";
import { MIG_DISABLED_CONFIG, isMigPool } from "./migConfig";

export const DEVICE_PLUGIN_CHART = { chart: "nvidia-device-plugin", version: "0.20.0", repo: "https://nvidia.github.io/k8s-device-plugin" } as const;
export const GPU_OPERATOR_CHART = { chart: "gpu-operator", version: "v26.7.0", repo: "https://helm.ngc.nvidia.com/nvidia" } as const;

const GPU_TOLERATION = { key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect } as const;

/** Device plugin config file for one MIG strategy (the chart's `config.map` entries). */
export function devicePluginConfigFile(strategy: MigStrategy): string {
  return YAML.stringify({ version: "v1", flags: { migStrategy: strategy } });
}

/** Strategies the pools use, always including `none` (the default config), sorted. */
export function poolStrategies(pools: readonly PoolLabelInput[]): MigStrategy[] {
  const order: MigStrategy[] = ["none", "single", "mixed"];
  const used = new Set<MigStrategy>(["none", ...pools.map(poolMigStrategy)]);
  return order.filter((s) => used.has(s));
}

/** Node affinity: our GPU pools only, not Bottlerocket (host plugin), not while mig-manager repartitions. */
export function devicePluginAffinity(): Record<string, unknown> {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [
              { key: GPU_POOL_LABEL, operator: "Exists" },
              { key: GPU_AMI_FAMILY_LABEL, operator: "NotIn", values: ["bottlerocket"] },
              { key: DEVICE_PLUGIN_DEPLOY_LABEL, operator: "NotIn", values: [PAUSED_FOR_MIG_CHANGE] },
              { key: GFD_DEPLOY_LABEL, operator: "NotIn", values: [PAUSED_FOR_MIG_CHANGE] },
            ],
          },
        ],
      },
    },
  };
}

/**
 * Values for nvidia-device-plugin 0.20.0: one named config per MIG strategy in use (nodes pick theirs with the
 * `nvidia.com/device-plugin.config` label GpuNodePool sets; `mig-none` is the default), GFD on, tolerations for
 * the GPU taint (plugin and NFD worker), and the affinity above.
 */
export function devicePluginValues(pools: readonly PoolLabelInput[]): Record<string, unknown> {
  const strategies = poolStrategies(pools);
  return {
    config: {
      map: Object.fromEntries(strategies.map((s) => [devicePluginConfigName(s), devicePluginConfigFile(s)])),
      default: devicePluginConfigName("none"),
    },
    gfd: { enabled: true },
    tolerations: [{ key: "CriticalAddonsOnly", operator: "Exists" }, { ...GPU_TOLERATION }],
    affinity: devicePluginAffinity(),
    nfd: {
      worker: {
        // The chart's default tolerates `nvidia.com/gpu=present`, not our `nvidia.com/gpu=true` taint.
        tolerations: [{ ...GPU_TOLERATION }],
      },
    },
  };
}

/** Operator-wide MIG strategy (used by its validator only): `mixed` if any pool is mixed, else `single`. */
export function operatorMigStrategy(pools: readonly PoolLabelInput[]): "single" | "mixed" {
  return pools.some((p) => isMigPool(p) && poolMigStrategy(p) === "mixed") ? "mixed" : "single";
}

/**
 * Values for the GPU Operator v26.7.0 as a mig-manager carrier: everything the EKS AMI or the device plugin chart
 * already provides is disabled; mig-manager reads our ConfigMap and may reboot a node when the MIG mode change
 * needs a GPU reset it cannot get (NVIDIA's advice for cloud instances).
 */
export function gpuOperatorValues(pools: readonly PoolLabelInput[], migConfigMapName: string): Record<string, unknown> {
  return {
    nfd: { enabled: false },
    driver: { enabled: false },
    toolkit: { enabled: false },
    devicePlugin: { enabled: false },
    gfd: { enabled: false },
    dcgmExporter: { enabled: false },
    ccManager: { enabled: false },
    mig: { strategy: operatorMigStrategy(pools) },
    migManager: {
      enabled: true,
      config: { create: false, name: migConfigMapName, default: MIG_DISABLED_CONFIG },
      env: [{ name: "WITH_REBOOT", value: "true" }],
    },
    validator: {
      // No test workload pods: they would request a whole nvidia.com/gpu, which mixed MIG nodes do not advertise.
      plugin: { env: [{ name: "WITH_WORKLOAD", value: "false" }] },
    },
    daemonsets: { tolerations: [{ ...GPU_TOLERATION }] },
  };
}
