import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import { GpuModel, layoutFits, migProfiles } from "../../domain/gpu/catalogue";
import { capacityOutput, capacityPlan, capacityWarnings } from "../../components/gpu/capacity";
import {
    bestUniformLayout,
    groupLayouts,
    migPartedPerGpuConfig,
    packNodes,
    planHeterogeneous,
    planNodeTemplate,
    topUp,
    uniformGpus,
    usedComputeSlices,
    validLayouts,
} from "../../components/gpu/packing";
import { compareToOptimum, naiveGpus, optimumGpus } from "../../bench/capacity/baselines";
import { needsReference, referencePath } from "../../support/reference";

const migPool = {
    name: "mig",
    instanceType: "p5.48xlarge",
    maxSize: 2,
    mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } },
};
const singlePool = { name: "small", instanceType: "p4d.24xlarge", maxSize: 1, mig: { strategy: "single" as const, layout: { "1g.5gb": 7 } } };
const l4Pool = { name: "l4", instanceType: "g6.12xlarge", maxSize: 2 };
const model = (name: string, pool: string, maxReplicas: number, profile?: string, count = 1) => ({
    name,
    gpu: { pool, ...(profile ? { profile } : {}), count },
    autoscaling: { maxReplicas },
});

describe("gpu capacity: plan per pool", () => {
    it("mixed pool: instances by profile, GPUs = max ceil(need / per-GPU), nodes, utilisation, idle instances", () => {
        const [p] = capacityPlan([migPool], [model("llm", "mig", 3, "3g.40gb"), model("embed", "mig", 6, "1g.10gb"), model("rank", "mig", 2, "2g.20gb")]);
        assert.deepStrictEqual(p.demand, { "3g.40gb": 3, "1g.10gb": 6, "2g.20gb": 2 });
        assert.strictEqual(p.gpusNeeded, 3); // max(3/1, 6/2, 2/1)
        assert.strictEqual(p.nodesNeeded, 1);
        assert.strictEqual(p.computeSlicesUsed, 3 * 3 + 6 * 1 + 2 * 2);
        assert.strictEqual(p.sliceUtilisation, Math.round((19 / 21) * 10000) / 10000);
        assert.strictEqual(p.nodeSliceUtilisation, Math.round((19 / 56) * 10000) / 10000);
        assert.deepStrictEqual(p.idleInstances, { "3g.40gb": 0, "2g.20gb": 1, "1g.10gb": 0 });
        assert.strictEqual(p.fits, true);
        assert.deepStrictEqual(p.warnings, []);
        assert.strictEqual(p.recommendedLayout, undefined, "the configured layout is already the best uniform one");
        assert.deepStrictEqual(
            p.models.map((m) => [m.model, m.profile, m.devices]),
            [
                ["llm", "3g.40gb", 3],
                ["embed", "1g.10gb", 6],
                ["rank", "2g.20gb", 2],
            ],
        );
    });

    it("a blue-green model needs room for its full preview beside the active version: 2 × maxReplicas during a release", () => {
        const canary = capacityPlan([l4Pool], [model("a", "l4", 4)])[0];
        const bg = capacityPlan([l4Pool], [{ ...model("a", "l4", 4), release: { strategy: "blueGreen" as const } }])[0];
        assert.deepStrictEqual([canary.demand, bg.demand], [{ gpu: 4 }, { gpu: 8 }]);
        assert.deepStrictEqual(bg.models[0], { model: "a", devicesPerReplica: 1, maxReplicas: 4, replicasDuringRelease: 8, devices: 8 });
        assert.strictEqual(canary.models[0].replicasDuringRelease, undefined);
        // g6.12xlarge: 4 L4 per node; maxSize 2 holds the 8, maxSize 1 does not, and says so.
        assert.deepStrictEqual([canary.nodesNeeded, bg.nodesNeeded, bg.fits], [1, 2, true]);
        const small = capacityPlan([{ ...l4Pool, maxSize: 1 }], [{ ...model("a", "l4", 4), release: { strategy: "blueGreen" as const } }])[0];
        assert.strictEqual(small.fits, false);
    });

    it("warns when maxSize cannot hold the models at maxReplicas, and recommends a better layout", () => {
        const plan = capacityPlan([{ ...migPool, maxSize: 1 }], [model("llm", "mig", 3, "3g.40gb"), model("embed", "mig", 20, "1g.10gb")]);
        const [p] = plan;
        assert.strictEqual(p.gpusNeeded, 10);
        assert.strictEqual(p.nodesNeeded, 2);
        assert.strictEqual(p.fits, false);
        assert.deepStrictEqual(capacityWarnings(plan), [
            "gpuPools mig: maxSize 1 cannot hold the models at maxReplicas: they need 2 × p5.48xlarge (10 GPUs with layout 3g.40gb + 2g.20gb + 2 × 1g.10gb)",
        ]);
        assert.deepStrictEqual(p.recommendedLayout, {
            layout: { "1g.10gb": 4, "3g.40gb": 1 },
            gpusNeeded: 5,
            sliceUtilisation: Math.round((29 / 35) * 10000) / 10000,
        });
    });

    it("single pool: MIG devices of the only profile; multi-device replicas stay on one node", () => {
        const [p] = capacityPlan([singlePool], [model("a", "small", 4, undefined, 3), model("b", "small", 10)]);
        assert.deepStrictEqual(p.demand, { "1g.5gb": 22 });
        assert.strictEqual(p.gpusNeeded, 4);
        assert.strictEqual(p.nodesNeeded, 1);
        assert.strictEqual(p.sliceUtilisation, Math.round((22 / 28) * 10000) / 10000);
    });

    it("whole-GPU pool: GPUs = count × replicas, nodes by first-fit-decreasing (replicas do not span nodes)", () => {
        const [p] = capacityPlan([l4Pool], [model("big", "l4", 3, undefined, 3), model("tiny", "l4", 2)]);
        assert.deepStrictEqual(p.demand, { gpu: 11 });
        assert.strictEqual(p.gpusNeeded, 11);
        assert.strictEqual(p.nodesNeeded, 3); // 3+1, 3+1, 3 on 4-GPU nodes
        assert.strictEqual(p.sliceUtilisation, 1);
        assert.strictEqual(p.nodeSliceUtilisation, Math.round((11 / 12) * 10000) / 10000);
        assert.strictEqual(p.fits, false);
    });

    it("pools without models plan zero; models of other pools and CPU models are ignored", () => {
        const plan = capacityPlan([migPool, l4Pool], [model("x", "elsewhere", 5), { name: "cpu", autoscaling: { maxReplicas: 9 } }]);
        for (const p of plan) {
            assert.strictEqual(p.gpusNeeded, 0);
            assert.strictEqual(p.nodesNeeded, 0);
            assert.strictEqual(p.sliceUtilisation, 0);
            assert.strictEqual(p.fits, true);
        }
    });

    it("warns about a model whose profile the layout does not provide", () => {
        const [p] = capacityPlan([migPool], [model("bad", "mig", 2, "7g.80gb")]);
        assert.deepStrictEqual(p.demand, {});
        assert.match(p.warnings[0], /model bad asks for MIG profile 7g\.80gb, which the layout .* does not provide/);
    });

    it("is JSON-serialisable as a stack output, keyed by pool", () => {
        const plan = capacityPlan([migPool, singlePool, l4Pool], [model("a", "mig", 2, "1g.10gb"), model("b", "l4", 1)]);
        assert.deepStrictEqual(JSON.parse(JSON.stringify(plan)), plan);
        const out = capacityOutput(plan);
        assert.deepStrictEqual(Object.keys(out), ["mig", "small", "l4"]);
        assert.deepStrictEqual(out.mig.instancesByProfile, { "1g.10gb": 2 });
        assert.strictEqual(out.l4.gpuRequests, 1);
        assert.strictEqual(out.small.gpuRequests, undefined);
        assert.deepStrictEqual(JSON.parse(JSON.stringify(out)), out);
    });
});

describe("gpu capacity: helpers", () => {
    it("packNodes is first-fit-decreasing", () => {
        assert.strictEqual(packNodes([], 8), 0);
        assert.strictEqual(packNodes([5, 5, 3, 3], 8), 2);
        assert.strictEqual(packNodes([3, 3, 3], 4), 3);
        assert.strictEqual(packNodes([9], 8), Infinity);
    });

    it("uniformGpus is infinite when the layout lacks a demanded profile", () => {
        assert.strictEqual(uniformGpus({ "1g.10gb": 7 }, { "1g.10gb": 15 }), 3);
        assert.strictEqual(uniformGpus({ "1g.10gb": 7 }, { "2g.20gb": 1 }), Infinity);
        assert.strictEqual(uniformGpus({ "1g.10gb": 7 }, {}), 0);
    });

    it("validLayouts are exactly the layouts layoutFits accepts", () => {
        for (const gpu of ["A100-40GB", "H100-80GB", "H200-141GB"] as GpuModel[]) {
            const layouts = validLayouts(gpu);
            assert.ok(layouts.length > 100);
            for (const l of layouts) assert.deepStrictEqual(layoutFits(gpu, l), { ok: true });
            assert.ok(layouts.some((l) => JSON.stringify(l) === JSON.stringify({ "7g.80gb": 1 })) === (gpu === "H100-80GB"));
        }
        assert.deepStrictEqual(validLayouts("H100-80GB", ["7g.80gb"]), [{ "7g.80gb": 1 }]);
    });
});

describe("gpu capacity: optimum and baseline (benchmark references)", () => {
    it("optimum packs heterogeneous layouts exactly on hand cases", () => {
        assert.strictEqual(optimumGpus("H100-80GB", { "3g.40gb": 3, "2g.20gb": 5, "1g.10gb": 9 }), 4); // 28 slices = 4 × 7
        assert.strictEqual(optimumGpus("H100-80GB", { "1g.10gb": 14 }), 2);
        assert.strictEqual(optimumGpus("H100-80GB", { "1g.10gb": 15 }), 3);
        assert.strictEqual(optimumGpus("H100-80GB", { "7g.80gb": 2, "1g.10gb": 1 }), 3);
        assert.strictEqual(optimumGpus("H100-80GB", { "3g.40gb": 3 }), 2);
        assert.strictEqual(optimumGpus("H100-80GB", {}), 0);
        assert.strictEqual(optimumGpus("H100-80GB", { "1g.5gb": 1 }), Infinity, "unknown profile");
        assert.throws(() => optimumGpus("H100-80GB", { "1g.10gb": 3000, "2g.20gb": 3000 }), /small instances only/);
    });

    it("best uniform layout is undefined when no single layout holds every profile", () => {
        assert.strictEqual(bestUniformLayout("H100-80GB", { "7g.80gb": 1, "1g.10gb": 1 }), undefined);
        assert.deepStrictEqual(bestUniformLayout("H100-80GB", { "1g.10gb": 8 }), { layout: { "1g.10gb": 7 }, gpus: 2 });
    });

    it("naive baseline is one GPU per replica", () => {
        assert.strictEqual(naiveGpus({ "3g.40gb": 3, "1g.10gb": 9 }), 12);
        const c = compareToOptimum("H100-80GB", { "3g.40gb": 3, "2g.20gb": 5, "1g.10gb": 9 }, migPool.mig.layout);
        assert.deepStrictEqual(c.configured, { layout: migPool.mig.layout, gpus: 5, utilisation: 0.8 });
        assert.deepStrictEqual(c.optimum, { gpus: 4, utilisation: 1 });
        assert.deepStrictEqual(c.naive, { gpus: 17, utilisation: Math.round((28 / 119) * 10000) / 10000 });
    });

    it("on random small demands: lower bound ≤ optimum ≤ best uniform ≤ configured, and naive ≥ optimum", () => {
        let seed = 12345;
        const rand = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2147483648;
            return seed % n;
        };
        for (const gpu of ["A100-40GB", "H100-80GB", "H200-141GB"] as GpuModel[]) {
            const names = Object.keys(migProfiles(gpu)).filter((p) => !p.endsWith("+me") && !p.startsWith("7g"));
            for (let trial = 0; trial < 15; trial++) {
                const demand: Record<string, number> = {};
                for (const p of names) if (rand(2)) demand[p] = 1 + rand(6);
                if (Object.keys(demand).length === 0) continue;
                const used = usedComputeSlices(gpu, demand);
                const opt = optimumGpus(gpu, demand);
                const best = bestUniformLayout(gpu, demand);
                assert.ok(opt >= Math.ceil(used / 7), `${gpu} ${JSON.stringify(demand)}: optimum ${opt} below the slice bound`);
                assert.ok(opt <= naiveGpus(demand));
                if (best) {
                    assert.ok(opt <= best.gpus, `${gpu} ${JSON.stringify(demand)}: optimum ${opt} > best uniform ${best.gpus}`);
                    assert.ok(best.gpus <= uniformGpus(best.layout, demand));
                    for (const l of validLayouts(gpu, Object.keys(demand))) assert.ok(uniformGpus(l, demand) >= best.gpus);
                }
            }
        }
    });
});

/** Sum of per-GPU layouts, profile → instances (profiles with 0 left out). */
function carried(layouts: ReadonlyArray<Record<string, number>>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of layouts) for (const [p, c] of Object.entries(l)) out[p] = (out[p] ?? 0) + c;
    return out;
}

const sorted = (d: Record<string, number>): Array<[string, number]> =>
    Object.entries(d)
        .filter(([, c]) => c > 0)
        .sort(([a], [b]) => a.localeCompare(b));

describe("gpu capacity: heterogeneous planner (per-GPU layouts)", () => {
    it("packs what one uniform layout cannot: 4g + 3g on one GPU, 7g alone, 1g around them", () => {
        const plan = planHeterogeneous("H100-80GB", { "4g.40gb": 2, "3g.40gb": 2, "7g.80gb": 1, "1g.10gb": 7 });
        assert.strictEqual(plan.gpus, 4); // 4g+3g, 4g+3g, 7g, 7 × 1g — the optimum
        assert.strictEqual(plan.gpus, optimumGpus("H100-80GB", { "4g.40gb": 2, "3g.40gb": 2, "7g.80gb": 1, "1g.10gb": 7 }));
        assert.strictEqual(
            bestUniformLayout("H100-80GB", { "4g.40gb": 2, "3g.40gb": 2, "7g.80gb": 1, "1g.10gb": 7 }),
            undefined,
            "no single layout holds 7g and the rest",
        );
        assert.deepStrictEqual(groupLayouts(plan.layouts), [
            { layout: { "3g.40gb": 1, "4g.40gb": 1 }, gpus: 2 },
            { layout: { "7g.80gb": 1 }, gpus: 1 },
            { layout: { "1g.10gb": 7 }, gpus: 1 },
        ]);
        assert.strictEqual(plan.computeSlicesUsed, 8 + 6 + 7 + 7);
        assert.strictEqual(plan.sliceUtilisation, 1);
        assert.deepStrictEqual(plan.unplaced, {});
    });

    it("respects NVIDIA's rules beyond slice counts: at most one +me instance per GPU, per-profile maxima", () => {
        const plan = planHeterogeneous("A100-40GB", { "1g.5gb+me": 3, "1g.10gb": 5 });
        assert.strictEqual(plan.gpus, 3, "three +me instances need three GPUs");
        for (const l of plan.layouts) {
            assert.ok((l["1g.5gb+me"] ?? 0) <= 1);
            assert.ok((l["1g.10gb"] ?? 0) <= migProfiles("A100-40GB")["1g.10gb"].maxCount);
        }
        assert.deepStrictEqual(sorted(carried(plan.layouts)), sorted({ "1g.5gb+me": 3, "1g.10gb": 5 }));
    });

    it("reports what it cannot place and plans nothing for an empty demand or a GPU without MIG", () => {
        assert.deepStrictEqual(planHeterogeneous("H100-80GB", {}), {
            gpus: 0,
            layouts: [],
            computeSlicesUsed: 0,
            sliceUtilisation: 0,
            unplaced: {},
            method: "none",
        });
        const unknown = planHeterogeneous("H100-80GB", { "1g.5gb": 2, "1g.10gb": 3 });
        assert.deepStrictEqual(unknown.unplaced, { "1g.5gb": 2 });
        assert.deepStrictEqual(groupLayouts(unknown.layouts), [{ layout: { "1g.10gb": 3 }, gpus: 1 }]);
        assert.deepStrictEqual(planHeterogeneous("L4", { "1g.10gb": 1 }).unplaced, { "1g.10gb": 1 });
    });

    it("on seeded random small demands: naive ≥ planner ≥ optimum, every layout fits, the demand is carried exactly", () => {
        let seed = 4242;
        const rand = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2147483648;
            return seed % n;
        };
        let atOptimum = 0;
        let total = 0;
        for (const gpu of ["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"] as GpuModel[]) {
            const names = Object.keys(migProfiles(gpu));
            for (let trial = 0; trial < 16; trial++) {
                const demand: Record<string, number> = {};
                for (const p of names) {
                    const rare = p.endsWith("+me") || p.startsWith("7g");
                    if (rand(rare ? 5 : 2) === 0) demand[p] = 1 + rand(rare ? 2 : 4);
                }
                if (Object.keys(demand).length === 0) continue;
                const label = `${gpu} ${JSON.stringify(demand)}`;
                const plan = planHeterogeneous(gpu, demand);
                const optimum = optimumGpus(gpu, demand);
                assert.ok(plan.gpus <= naiveGpus(demand), `${label}: planner ${plan.gpus} > naive ${naiveGpus(demand)}`);
                assert.ok(plan.gpus >= optimum, `${label}: planner ${plan.gpus} < optimum ${optimum}`);
                assert.strictEqual(plan.layouts.length, plan.gpus);
                for (const l of plan.layouts) assert.deepStrictEqual(layoutFits(gpu, l), { ok: true }, `${label}: ${JSON.stringify(l)}`);
                assert.deepStrictEqual(sorted(carried(plan.layouts)), sorted(demand), `${label}: demand not carried exactly`);
                const configured = { [names.find((n) => n.startsWith("3g"))!]: 1, [names.find((n) => n.startsWith("2g"))!]: 1, [names[0]]: 2 };
                const uniform = uniformGpus(configured, demand);
                if (Number.isFinite(uniform)) assert.ok(plan.gpus <= uniform, `${label}: planner ${plan.gpus} > configured uniform ${uniform}`);
                total++;
                if (plan.gpus === optimum) atOptimum++;
            }
        }
        assert.ok(total >= 50);
        assert.ok(atOptimum / total >= 0.95, `planner optimal on ${atOptimum}/${total} demands`);
    });

    it("stays fast on a large demand (greedy plus bounded local search, no search over demand states)", () => {
        const demand = { "1g.10gb": 300, "2g.20gb": 200, "3g.40gb": 150, "4g.40gb": 100, "1g.20gb": 100, "1g.10gb+me": 20 };
        const plan = planHeterogeneous("H100-80GB", demand);
        const lower = Math.ceil(usedComputeSlices("H100-80GB", demand) / 7);
        assert.ok(plan.gpus >= lower && plan.gpus <= Math.ceil(lower * 1.1), `${plan.gpus} GPUs, slice bound ${lower}`);
        assert.deepStrictEqual(sorted(carried(plan.layouts)), sorted(demand));
    });
});

describe("gpu capacity: per-GPU recommendation in the plan and its mig-parted config", () => {
    it("a mixed pool reports the per-GPU recommendation beside the configured sizing", () => {
        const [p] = capacityPlan([{ ...migPool, maxSize: 1 }], [model("llm", "mig", 3, "3g.40gb"), model("embed", "mig", 20, "1g.10gb")]);
        assert.strictEqual(p.gpusNeeded, 10, "configured layout: what the nodes get today");
        assert.strictEqual(p.fits, false, "fits and warnings stay on the configured layout");
        const r = p.recommendedLayouts!;
        assert.strictEqual(r.gpusNeeded, 5);
        assert.strictEqual(r.gpusNeeded, optimumGpus("H100-80GB", p.demand));
        assert.strictEqual(r.sliceUtilisation, Math.round((29 / 35) * 10000) / 10000);
        assert.deepStrictEqual(sorted(carried(r.layouts.flatMap((g) => Array(g.gpus).fill(g.layout)))), sorted(p.demand));
        assert.strictEqual(r.nodesNeeded, 1);
        // The node template: 8 devices, each once, each layout valid, covering the demand on nodesNeeded nodes.
        const devices = r.nodeConfig!.flatMap((e) => e.devices).sort((a, b) => a - b);
        assert.deepStrictEqual(devices, [0, 1, 2, 3, 4, 5, 6, 7]);
        const perNode: Record<string, number> = {};
        for (const e of r.nodeConfig!) {
            assert.strictEqual(e["mig-enabled"], true);
            assert.deepStrictEqual(layoutFits("H100-80GB", e["mig-devices"]!), { ok: true });
            for (const [k, c] of Object.entries(e["mig-devices"]!)) perNode[k] = (perNode[k] ?? 0) + c * e.devices.length;
        }
        for (const [k, d] of Object.entries(p.demand)) assert.ok(perNode[k] * r.nodesNeeded! >= d, `${k}: ${perNode[k]} per node`);
        assert.deepStrictEqual(JSON.parse(JSON.stringify(p)), p, "still a plain JSON stack output");
    });

    it("single pools, whole-GPU pools and pools without demand carry no per-GPU recommendation", () => {
        const plan = capacityPlan([singlePool, l4Pool, migPool], [model("a", "small", 4), model("b", "l4", 1)]);
        for (const p of plan) assert.strictEqual(p.recommendedLayouts, undefined, p.pool);
    });

    it("node template: the same per-GPU layouts on every node; more nodes when one node cannot hold ⌈demand ÷ nodes⌉", () => {
        const t = planNodeTemplate("H100-80GB", { "3g.40gb": 3, "1g.10gb": 20 }, 8)!;
        assert.strictEqual(t.nodes, 1);
        assert.strictEqual(t.gpuLayouts.length, 8);
        const two = planNodeTemplate("H100-80GB", { "1g.10gb": 60 }, 8)!;
        assert.strictEqual(two.nodes, 2, "56 × 1g per node at most: two nodes of ⌈60/2⌉ = 30 each");
        assert.ok(two.gpuLayouts.reduce((n, l) => n + (l["1g.10gb"] ?? 0), 0) >= 30);
        const single = planNodeTemplate("H100-80GB", { "3g.40gb": 3 }, 1)!;
        assert.deepStrictEqual(single, { nodes: 2, gpuLayouts: [{ "3g.40gb": 2 }] });
        assert.strictEqual(planNodeTemplate("H100-80GB", { "7g.80gb": 3, "1g.10gb": 1 }, 1), undefined, "every 1-GPU node would need both 7g and 1g");
        assert.strictEqual(planNodeTemplate("H100-80GB", {}, 8), undefined);
    });

    it("topUp fills a GPU's idle slices with the demanded profiles, largest first", () => {
        assert.deepStrictEqual(topUp("H100-80GB", { "3g.40gb": 1 }, ["3g.40gb", "1g.10gb"]), { "3g.40gb": 2 });
        assert.deepStrictEqual(topUp("H100-80GB", { "4g.40gb": 1 }, ["1g.10gb", "4g.40gb"]), { "1g.10gb": 3, "4g.40gb": 1 });
    });

    it("migPartedPerGpuConfig groups identical layouts into `devices: [i, …]` entries, in mig-parted's own format", function () {
        needsReference(this, "nvidia-default-mig-parted-config.yaml");
        const entries = migPartedPerGpuConfig([{ "3g.40gb": 2 }, { "1g.10gb": 7 }, { "3g.40gb": 2 }, {}]);
        assert.deepStrictEqual(entries, [
            { devices: [0, 2], "mig-enabled": true, "mig-devices": { "3g.40gb": 2 } },
            { devices: [1], "mig-enabled": true, "mig-devices": { "1g.10gb": 7 } },
            { devices: [3], "mig-enabled": false },
        ]);
        // NVIDIA's default config: the same entry keys and value types; profile names it knows.
        const ref = YAML.parse(YAML.parse(fs.readFileSync(referencePath("nvidia-default-mig-parted-config.yaml"), "utf8")).data["config.yaml"]);
        const refKeys = new Set<string>();
        const refProfiles = new Set<string>();
        for (const list of Object.values<any[]>(ref["mig-configs"])) {
            for (const e of list) {
                Object.keys(e).forEach((k) => refKeys.add(k));
                Object.keys(e["mig-devices"] ?? {}).forEach((k) => refProfiles.add(k));
            }
        }
        const doc = YAML.parse(YAML.stringify({ version: ref.version, "mig-configs": { "model-fleet-per-gpu": entries } }));
        for (const e of doc["mig-configs"]["model-fleet-per-gpu"]) {
            for (const k of Object.keys(e)) assert.ok(refKeys.has(k), `key ${k} not used by mig-parted`);
            assert.ok(Array.isArray(e.devices) && e.devices.every((d: unknown) => Number.isInteger(d)), "devices: a list of GPU indices");
            assert.strictEqual(typeof e["mig-enabled"], "boolean");
            for (const [p, c] of Object.entries(e["mig-devices"] ?? {})) {
                assert.ok(refProfiles.has(p), `${p} is a profile NVIDIA's config names`);
                assert.ok(Number.isInteger(c));
            }
        }
    });
});
