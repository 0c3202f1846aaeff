// mig-parted configuration for the GPU Operator's mig-manager, generated from the pools' layouts. Pure.
//
// Format (NVIDIA mig-parted, as in the operator's default-mig-parted-config):
//   version: v1
//   mig-configs:
//     all-disabled: [{devices: all, mig-enabled: false}]
//     model-fleet-<pool>-<hash>: [{devices: all, mig-enabled: true, mig-devices: {<profile>: <count>, …}}]
//
// The config name carries a hash of the layout. mig-manager applies a config when the node's
// `nvidia.com/mig.config` label changes; it does not re-apply when the content behind an unchanged name changes
// (NVIDIA/mig-parted#108, closed as "won't support": "create the profile under a new name"). A new layout therefore
// gets a new name, which also changes the node label and the node group's replacement keepers.

import * as crypto from "crypto";
import * as YAML from "yaml";

export interface MigPoolInput {
    name: string;
    mig?: { strategy: "none" | "single" | "mixed"; layout: Record<string, number> };
}

export interface MigPartedDeviceConfig {
    devices: "all";
    "mig-enabled": boolean;
    "mig-devices"?: Record<string, number>;
}

export interface MigPartedConfig {
    version: "v1";
    "mig-configs": Record<string, MigPartedDeviceConfig[]>;
}

/** Node label mig-manager watches: the name of the mig-parted config to apply. */
export const MIG_CONFIG_LABEL = "nvidia.com/mig.config";
/** Config every MIG-capable node can fall back to; the operator's `migManager.config.default`. */
export const MIG_DISABLED_CONFIG = "all-disabled";
/** Key of the mig-parted file inside the ConfigMap (the operator requires `config.yaml`). */
export const MIG_CONFIG_KEY = "config.yaml";

/** A pool whose GPUs are partitioned: a MIG strategy other than `none` and a non-empty layout. */
export function isMigPool(pool: MigPoolInput): pool is MigPoolInput & { mig: NonNullable<MigPoolInput["mig"]> } {
    return pool.mig !== undefined && pool.mig.strategy !== "none" && Object.keys(pool.mig.layout).length > 0;
}

/** Short, order-independent hash of a layout (8 hex chars of sha256 over the sorted profile=count pairs). */
export function layoutHash(layout: Record<string, number>): string {
    const canonical = Object.keys(layout)
        .sort()
        .map((k) => `${k}=${layout[k]}`)
        .join(",");
    return crypto.createHash("sha256").update(canonical).digest("hex").slice(0, 8);
}

/** mig-parted config name of a MIG pool, also the value of its nodes' `nvidia.com/mig.config` label. */
export function migConfigName(pool: MigPoolInput): string {
    if (!isMigPool(pool)) throw new Error(`pool '${pool.name}' has no MIG layout`);
    return `model-fleet-${pool.name}-${layoutHash(pool.mig.layout)}`;
}

/** The mig-parted config for all MIG pools (plus `all-disabled`), in the pools' order. */
export function migPartedConfig(pools: readonly MigPoolInput[]): MigPartedConfig {
    const configs: Record<string, MigPartedDeviceConfig[]> = {
        [MIG_DISABLED_CONFIG]: [{ devices: "all", "mig-enabled": false }],
    };
    for (const pool of pools) {
        if (!isMigPool(pool)) continue;
        const name = migConfigName(pool);
        if (configs[name]) throw new Error(`duplicate MIG config name ${name} (pool '${pool.name}')`);
        configs[name] = [{ devices: "all", "mig-enabled": true, "mig-devices": { ...pool.mig.layout } }];
    }
    return { version: "v1", "mig-configs": configs };
}

/** `migPartedConfig` as the YAML text mig-manager reads. */
export function migPartedConfigYaml(pools: readonly MigPoolInput[]): string {
    return YAML.stringify(migPartedConfig(pools));
}

/** `{ "config.yaml": … }`: the data of the ConfigMap named by the operator's `migManager.config.name`. */
export function migPartedConfigMapData(pools: readonly MigPoolInput[]): Record<string, string> {
    return { [MIG_CONFIG_KEY]: migPartedConfigYaml(pools) };
}

/** `nvidia.com/mig.config=<name>` for a MIG pool, `{}` otherwise. */
export function migNodeLabel(pool: MigPoolInput): Record<string, string> {
    return isMigPool(pool) ? { [MIG_CONFIG_LABEL]: migConfigName(pool) } : {};
}
