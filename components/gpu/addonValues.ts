// Helm values for the cluster's GPU add-ons, computed from the pools. Pure; GpuClusterAddons passes them to the
// charts and tests/gpu/GpuClusterAddons.spec.ts checks every key against the pinned charts' values.yaml.
//
// Route: exactly one device plugin (and one GFD) per AL2023 GPU node, and on MIG pools it is the GPU Operator's.
//  * Whole-GPU pools: the standalone nvidia-device-plugin chart, with GFD and the NFD that labels every GPU node
//    (the operator's own NFD is off and reads those labels). Its affinity selects only nodes that opt out of the
//    operator (`nvidia.com/gpu.deploy.operands=false`: every non-MIG pool, no MIG pool) and never Bottlerocket (the
//    host runs NVIDIA's plugin). One label therefore decides, per node, which of the two stacks serves it.
//  * MIG pools: the GPU Operator's device plugin and GFD, next to its mig-manager. Before it repartitions a node,
//    mig-manager sets `nvidia.com/gpu.deploy.device-plugin` / `…gpu-feature-discovery` to `paused-for-mig-change`,
//    which the operator's DaemonSets select on (`…=true`), and then waits until the pods labelled
//    `app=nvidia-device-plugin-daemonset` / `app=gpu-feature-discovery` in the operator's namespace are deleted
//    (NVIDIA/mig-parted deployments/gpu-operator/reconfigure-mig.go, shuttingDownPods). Only the operator's own
//    clients match that wait: a plugin from another chart could still hold the GPUs while MIG mode changes.
// Not `nvidia.com/mig.config DoesNotExist` for the standalone chart: with mig-manager enabled, the operator labels
// every MIG-capable GPU node that lacks that label `nvidia.com/mig.config=all-disabled` (migManager.config.default),
// operands opted out or not, so whole-GPU A100/H100 pools would be left without a plugin.

import * as YAML from "yaml";
import {
    GPU_AMI_FAMILY_LABEL,
    GPU_OPERATOR_OPERANDS_LABEL,
    GPU_POOL_LABEL,
    GPU_TAINT,
    MigStrategy,
    PoolLabelInput,
    devicePluginConfigName,
    poolMigStrategy,
} from "./labels";
import { MIG_DISABLED_CONFIG, isMigPool } from "./migConfig";

export const DEVICE_PLUGIN_CHART = { chart: "nvidia-device-plugin", version: "0.20.0", repo: "https://nvidia.github.io/k8s-device-plugin" } as const;
export const GPU_OPERATOR_CHART = { chart: "gpu-operator", version: "v26.7.0", repo: "https://helm.ngc.nvidia.com/nvidia" } as const;

/** ConfigMap (created by the GPU Operator chart in its namespace) with the operator's named device plugin configs. */
export const OPERATOR_DEVICE_PLUGIN_CONFIG_MAP = "model-fleet-device-plugin-config";

const GPU_TOLERATION = { key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect } as const;

/** Device plugin config file for one MIG strategy (a `config.map` / `devicePlugin.config.data` entry). */
export function devicePluginConfigFile(strategy: MigStrategy): string {
    return YAML.stringify({ version: "v1", flags: { migStrategy: strategy } });
}

/** Named device plugin configs for the given strategies: `{ "mig-<strategy>": <config file> }`. */
export function devicePluginConfigs(strategies: readonly MigStrategy[]): Record<string, string> {
    return Object.fromEntries(strategies.map((s) => [devicePluginConfigName(s), devicePluginConfigFile(s)]));
}

/** MIG strategies the MIG pools use (`single`, `mixed`), in that order; the operator's plugin needs one config each. */
export function migPoolStrategies(pools: readonly PoolLabelInput[]): Array<"single" | "mixed"> {
    const used = new Set(pools.filter(isMigPool).map(poolMigStrategy));
    return (["single", "mixed"] as const).filter((s) => used.has(s));
}

/**
 * Standalone chart's node affinity: our GPU pools that opt out of the GPU Operator (whole-GPU pools), not
 * Bottlerocket (host plugin). MIG pool nodes never match: the operator's device plugin and GFD serve them.
 */
export function devicePluginAffinity(): Record<string, unknown> {
    return {
        nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                    {
                        matchExpressions: [
                            { key: GPU_POOL_LABEL, operator: "Exists" },
                            { key: GPU_AMI_FAMILY_LABEL, operator: "NotIn", values: ["bottlerocket"] },
                            { key: GPU_OPERATOR_OPERANDS_LABEL, operator: "In", values: ["false"] },
                        ],
                    },
                ],
            },
        },
    };
}

/**
 * Values for nvidia-device-plugin 0.20.0 (whole-GPU pools only): the `mig-none` config the nodes' label names (also
 * the default), GFD on (its NFD labels every node, MIG pools included, for the GPU Operator), tolerations for the
 * GPU taint (plugin and NFD worker), and the affinity above. No top-level `migStrategy`: it would override the
 * per-node config.
 */
export function devicePluginValues(): Record<string, unknown> {
    return {
        config: {
            map: devicePluginConfigs(["none"]),
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

/**
 * The operator-wide `mig.strategy`: the MIG pools' strategy when they all use one; empty when some use `single` and
 * others `mixed`. The operator passes a non-empty strategy to its device plugin and GFD as `MIG_STRATEGY`, and an
 * environment variable overrides the config file (plugin precedence: flag, env, config file), so with both
 * strategies in the cluster only an empty value lets each node's `nvidia.com/device-plugin.config` decide (the chart
 * then omits `spec.mig.strategy` and the operator sets no `MIG_STRATEGY`).
 */
export function operatorMigStrategy(pools: readonly PoolLabelInput[]): "single" | "mixed" | "" {
    const strategies = migPoolStrategies(pools);
    return strategies.length === 1 ? strategies[0] : "";
}

/**
 * Values for the GPU Operator v26.7.0 on MIG pools: mig-manager plus the device plugin and GFD it pauses and waits
 * for (one named config per MIG strategy in use; nodes pick theirs with `nvidia.com/device-plugin.config`).
 * Driver and toolkit come from the EKS NVIDIA AMI; NFD from the device plugin chart; DCGM exporter and CC manager
 * are not used. mig-manager reads our mig-parted ConfigMap and may reboot a node when the MIG mode change needs a
 * GPU reset it cannot get (NVIDIA's advice for cloud instances). Non-MIG pools opt out by node label.
 */
export function gpuOperatorValues(pools: readonly PoolLabelInput[], migConfigMapName: string): Record<string, unknown> {
    const strategies = migPoolStrategies(pools);
    if (strategies.length === 0) throw new Error("the GPU Operator serves MIG pools only, and there are none");
    return {
        nfd: { enabled: false },
        driver: { enabled: false },
        toolkit: { enabled: false },
        // The operator's plugin hands devices to containers the way the standalone chart does on the whole-GPU pools
        // (NVIDIA_VISIBLE_DEVICES through the AMI's nvidia runtime). With CDI on it would inject CDI devices, which
        // needs CDI enabled in the node's containerd, something the operator only sets up through its own toolkit.
        cdi: { enabled: false },
        devicePlugin: {
            enabled: true,
            config: {
                create: true,
                name: OPERATOR_DEVICE_PLUGIN_CONFIG_MAP,
                data: devicePluginConfigs(strategies),
                // Every MIG pool node carries its config label; a node without one falls back to one strategy in use
                // (`mixed` exposes every MIG device under its own profile name, whatever the layout).
                default: devicePluginConfigName(strategies.length === 1 ? strategies[0] : "mixed"),
            },
        },
        gfd: { enabled: true },
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
