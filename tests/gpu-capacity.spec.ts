import * as assert from "assert";
import { GpuModel, layoutFits, migProfiles } from "../components/gpu/catalogue";
import {
  bestUniformLayout,
  capacityOutput,
  capacityPlan,
  capacityWarnings,
  compareToOptimum,
  naiveGpus,
  optimumGpus,
  packNodes,
  uniformGpus,
  usedComputeSlices,
  validLayouts,
} from "../components/gpu/capacity";

const migPool = { name: "mig", instanceType: "p5.48xlarge", maxSize: 2, mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } } };
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
    assert.deepStrictEqual(p.models.map((m) => [m.model, m.profile, m.devices]), [["llm", "3g.40gb", 3], ["embed", "1g.10gb", 6], ["rank", "2g.20gb", 2]]);
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
    assert.deepStrictEqual(p.recommendedLayout, { layout: { "1g.10gb": 4, "3g.40gb": 1 }, gpusNeeded: 5, sliceUtilisation: Math.round((29 / 35) * 10000) / 10000 });
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
