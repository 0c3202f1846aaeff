import * as assert from "assert";
import { migConfigName } from "../../components/gpu/migConfig";
import { GPU_POOL_LABEL, GPU_TAINT, gpuPoolNodeLabels, gpuScheduling, migResourceName } from "../../components/gpu/workloadGpu";

const mixed = { name: "mig", instanceType: "p5.48xlarge", mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } } };
const single = { name: "small", instanceType: "p4d.24xlarge", mig: { strategy: "single" as const, layout: { "1g.5gb": 7 } } };
const whole = { name: "l4", instanceType: "g6.12xlarge" };
const toleration = { key: "nvidia.com/gpu", operator: "Equal", value: "true", effect: "NoSchedule" };

describe("gpu workloadGpu: gpuScheduling", () => {
    it("mixed: one nvidia.com/mig-<profile>, waits for a partitioned node of its pool", () => {
        assert.deepStrictEqual(gpuScheduling({ pool: "mig", profile: "2g.20gb", count: 1 }, mixed), {
            limits: { "nvidia.com/mig-2g.20gb": "1" },
            tolerations: [toleration],
            nodeSelector: { "model-fleet.io/gpu-pool": "mig", "nvidia.com/mig.config.state": "success" },
        });
        assert.strictEqual(migResourceName("1g.10gb"), "nvidia.com/mig-1g.10gb");
    });

    it("single: nvidia.com/gpu count of MIG devices, on nodes with the pool's current config", () => {
        assert.deepStrictEqual(gpuScheduling({ pool: "small", count: 2 }, single), {
            limits: { "nvidia.com/gpu": "2" },
            tolerations: [toleration],
            nodeSelector: { "model-fleet.io/gpu-pool": "small", "nvidia.com/mig.config": migConfigName(single), "nvidia.com/mig.config.state": "success" },
        });
        assert.deepStrictEqual(gpuScheduling({ pool: "small", profile: "1g.5gb", count: 1 }, single).limits, { "nvidia.com/gpu": "1" });
    });

    it("none: whole GPUs", () => {
        assert.deepStrictEqual(gpuScheduling({ pool: "l4", count: 4 }, whole), {
            limits: { "nvidia.com/gpu": "4" },
            tolerations: [toleration],
            nodeSelector: { "model-fleet.io/gpu-pool": "l4" },
        });
        assert.deepStrictEqual(gpuScheduling({ pool: "h", count: 1 }, { name: "h", mig: { strategy: "none", layout: {} } }).limits, { "nvidia.com/gpu": "1" });
    });

    it("selects exactly labels the pool puts on its nodes, and tolerates exactly its taint", () => {
        for (const [req, pool] of [
            [{ pool: "mig", profile: "1g.10gb", count: 1 }, mixed],
            [{ pool: "small", count: 1 }, single],
            [{ pool: "l4", count: 1 }, whole],
        ] as const) {
            const s = gpuScheduling(req, pool);
            const nodeLabels = { ...gpuPoolNodeLabels(pool), "nvidia.com/mig.config.state": "success" };
            for (const [k, v] of Object.entries(s.nodeSelector)) assert.strictEqual(nodeLabels[k as keyof typeof nodeLabels], v, k);
            assert.strictEqual(s.nodeSelector[GPU_POOL_LABEL], pool.name);
            assert.deepStrictEqual(s.tolerations, [{ key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect }]);
        }
    });

    const bad: Array<[string, () => unknown, RegExp]> = [
        ["mixed without profile", () => gpuScheduling({ pool: "mig", count: 1 }, mixed), /profile is required: pool 'mig' uses MIG strategy 'mixed'/],
        ["mixed with a profile outside the layout", () => gpuScheduling({ pool: "mig", profile: "7g.80gb", count: 1 }, mixed), /not in pool 'mig' layout/],
        [
            "mixed with count 2",
            () => gpuScheduling({ pool: "mig", profile: "1g.10gb", count: 2 }, mixed),
            /count \(2\) must be 1 on a 'mixed' MIG pool \(one MIG device per replica\)/,
        ],
        [
            "single with another profile",
            () => gpuScheduling({ pool: "small", profile: "2g.10gb", count: 1 }, single),
            /must be the pool's only profile \(1g\.5gb\) under strategy 'single'/,
        ],
        [
            "single with two profiles",
            () => gpuScheduling({ pool: "s", count: 1 }, { name: "s", mig: { strategy: "single", layout: { "1g.5gb": 1, "2g.10gb": 1 } } }),
            /2 profiles/,
        ],
        [
            "profile on a whole-GPU pool",
            () => gpuScheduling({ pool: "l4", profile: "1g.5gb", count: 1 }, whole),
            /profile \(1g\.5gb\) must not be set: pool 'l4' does not partition GPUs with MIG/,
        ],
        ["another pool", () => gpuScheduling({ pool: "other", count: 1 }, whole), /not 'l4'/],
        ["count 0", () => gpuScheduling({ pool: "l4", count: 0 }, whole), /positive integer/],
    ];
    for (const [title, fn, re] of bad) it(`throws: ${title}`, () => assert.throws(fn, re));
});
