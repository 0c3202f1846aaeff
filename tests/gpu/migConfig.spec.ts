import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import { instanceGpu, layoutFits } from "../../domain/gpu/catalogue";
import {
    MIG_CONFIG_KEY,
    MIG_CONFIG_LABEL,
    isMigPool,
    layoutHash,
    migConfigName,
    migNodeLabel,
    migPartedConfig,
    migPartedConfigMapData,
    migPartedConfigYaml,
} from "../../components/gpu/migConfig";
import {
    DEVICE_PLUGIN_CONFIG_LABEL,
    GPU_AMI_FAMILY_LABEL,
    GPU_MODEL_LABEL,
    GPU_OPERATOR_OPERANDS_LABEL,
    GPU_POOL_LABEL,
    gpuPoolNodeLabels,
} from "../../components/gpu/labels";
import { needsReference, referencePath } from "../../support/reference";

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const migPool = { name: "mig", instanceType: "p5.48xlarge", mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } } };
const singlePool = { name: "small", instanceType: "p4d.24xlarge", mig: { strategy: "single" as const, layout: { "1g.5gb": 7 } } };
const wholePool = { name: "l4", instanceType: "g6.xlarge" };
const nonePool = { name: "h100", instanceType: "p5.48xlarge", mig: { strategy: "none" as const, layout: {} } };

describe("gpu migConfig: mig-parted config", () => {
    it("generates version v1 with all-disabled and one named config per MIG pool", () => {
        const cfg = migPartedConfig([migPool, wholePool, singlePool, nonePool]);
        assert.deepStrictEqual(cfg, {
            version: "v1",
            "mig-configs": {
                "all-disabled": [{ devices: "all", "mig-enabled": false }],
                [migConfigName(migPool)]: [{ devices: "all", "mig-enabled": true, "mig-devices": { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } }],
                [migConfigName(singlePool)]: [{ devices: "all", "mig-enabled": true, "mig-devices": { "1g.5gb": 7 } }],
            },
        });
    });

    it("names configs model-fleet-<pool>-<layout hash>, order-independent, valid as a label value", () => {
        const name = migConfigName(migPool);
        assert.match(name, /^model-fleet-mig-[0-9a-f]{8}$/);
        assert.strictEqual(name, `model-fleet-mig-${layoutHash(migPool.mig.layout)}`);
        const reordered = { ...migPool, mig: { strategy: "mixed" as const, layout: { "1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1 } } };
        assert.strictEqual(migConfigName(reordered), name);
        const changed = { ...migPool, mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1 } } };
        assert.notStrictEqual(migConfigName(changed), name, "a new layout must get a new name (mig-manager does not re-read a changed config)");
        const longest = { name: "a".repeat(20), mig: migPool.mig };
        assert.ok(migConfigName(longest).length <= 63 && LABEL_VALUE.test(migConfigName(longest)));
    });

    it("treats only strategy != none with a non-empty layout as a MIG pool", () => {
        assert.strictEqual(isMigPool(migPool), true);
        assert.strictEqual(isMigPool(singlePool), true);
        assert.strictEqual(isMigPool(nonePool), false);
        assert.strictEqual(isMigPool(wholePool), false);
        assert.strictEqual(isMigPool({ name: "x", mig: { strategy: "mixed", layout: {} } }), false);
        assert.throws(() => migConfigName(nonePool), /has no MIG layout/);
    });

    it("writes YAML that round-trips, under the config.yaml key the operator requires", () => {
        const text = migPartedConfigYaml([migPool, singlePool]);
        assert.deepStrictEqual(YAML.parse(text), migPartedConfig([migPool, singlePool]));
        assert.deepStrictEqual(Object.keys(migPartedConfigMapData([migPool])), [MIG_CONFIG_KEY]);
        assert.strictEqual(MIG_CONFIG_KEY, "config.yaml");
    });

    it("uses the same entry keys and value types as NVIDIA's default config", function () {
        needsReference(this, "nvidia-default-mig-parted-config.yaml");
        const ref = YAML.parse(YAML.parse(fs.readFileSync(referencePath("nvidia-default-mig-parted-config.yaml"), "utf8")).data["config.yaml"]);
        const refKeys = new Set<string>();
        for (const entries of Object.values<any[]>(ref["mig-configs"])) for (const e of entries) Object.keys(e).forEach((k) => refKeys.add(k));
        assert.deepStrictEqual(ref["mig-configs"]["all-disabled"], migPartedConfig([])["mig-configs"]["all-disabled"]);
        const ours = YAML.parse(migPartedConfigYaml([migPool, singlePool]));
        assert.strictEqual(ours.version, ref.version);
        for (const entries of Object.values<any[]>(ours["mig-configs"])) {
            for (const e of entries) {
                for (const k of Object.keys(e)) assert.ok(refKeys.has(k), `key ${k} not used by mig-parted`);
                assert.strictEqual(e.devices, "all");
                assert.strictEqual(typeof e["mig-enabled"], "boolean");
                for (const c of Object.values(e["mig-devices"] ?? {})) assert.ok(Number.isInteger(c));
            }
        }
    });

    it("every generated layout fits the pool's GPU", () => {
        for (const pool of [migPool, singlePool]) {
            const gpu = instanceGpu(pool.instanceType)!;
            const devices = migPartedConfig([pool])["mig-configs"][migConfigName(pool)][0]["mig-devices"]!;
            assert.deepStrictEqual(layoutFits(gpu.gpu, devices), { ok: true });
        }
    });

    it("rejects two pools that would share a config name", () => {
        assert.throws(() => migPartedConfig([migPool, { ...migPool }]), /duplicate MIG config name/);
    });
});

describe("gpu labels: node labels agree with the mig-parted config", () => {
    it("labels a MIG pool with pool, GPU model, device-plugin config and its mig-parted config name", () => {
        const labels = gpuPoolNodeLabels(migPool);
        assert.deepStrictEqual(labels, {
            [GPU_POOL_LABEL]: "mig",
            [GPU_MODEL_LABEL]: "H100-80GB",
            [GPU_AMI_FAMILY_LABEL]: "al2023",
            [DEVICE_PLUGIN_CONFIG_LABEL]: "mig-mixed",
            [MIG_CONFIG_LABEL]: migConfigName(migPool),
        });
        assert.ok(migConfigName(migPool) in migPartedConfig([migPool])["mig-configs"]);
        assert.deepStrictEqual(migNodeLabel(migPool), { "nvidia.com/mig.config": migConfigName(migPool) });
    });

    it("keeps the GPU Operator off non-MIG pools and marks Bottlerocket nodes", () => {
        assert.deepStrictEqual(gpuPoolNodeLabels({ ...wholePool, amiType: "BOTTLEROCKET_x86_64_NVIDIA" }), {
            [GPU_POOL_LABEL]: "l4",
            [GPU_MODEL_LABEL]: "L4",
            [GPU_AMI_FAMILY_LABEL]: "bottlerocket",
            [DEVICE_PLUGIN_CONFIG_LABEL]: "mig-none",
            [GPU_OPERATOR_OPERANDS_LABEL]: "false",
        });
        assert.strictEqual(gpuPoolNodeLabels(nonePool)[MIG_CONFIG_LABEL], undefined);
        assert.deepStrictEqual(migNodeLabel(nonePool), {});
    });

    it("names the device plugin config of the plugin that serves the node: MIG pools their strategy, all others mig-none", () => {
        // MIG pools: the GPU Operator's plugin (mig-single / mig-mixed); everything else: the standalone chart (mig-none).
        assert.strictEqual(gpuPoolNodeLabels(singlePool)[DEVICE_PLUGIN_CONFIG_LABEL], "mig-single");
        assert.strictEqual(gpuPoolNodeLabels(migPool)[DEVICE_PLUGIN_CONFIG_LABEL], "mig-mixed");
        const noLayout = { name: "x", instanceType: "p5.48xlarge", mig: { strategy: "mixed" as const, layout: {} } };
        for (const pool of [wholePool, nonePool, noLayout]) {
            const labels = gpuPoolNodeLabels(pool);
            assert.strictEqual(labels[DEVICE_PLUGIN_CONFIG_LABEL], "mig-none", pool.name);
            assert.strictEqual(labels[GPU_OPERATOR_OPERANDS_LABEL], "false", `${pool.name}: not a MIG pool, so not the operator's`);
            assert.strictEqual(labels[MIG_CONFIG_LABEL], undefined);
        }
        for (const pool of [migPool, singlePool]) assert.strictEqual(gpuPoolNodeLabels(pool)[GPU_OPERATOR_OPERANDS_LABEL], undefined, pool.name);
    });

    it("produces valid Kubernetes label values", () => {
        for (const pool of [migPool, singlePool, wholePool, nonePool]) {
            for (const [k, v] of Object.entries(gpuPoolNodeLabels(pool))) {
                assert.ok(v.length <= 63 && LABEL_VALUE.test(v), `${k}=${v}`);
                assert.match(k, /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
            }
        }
    });
});
