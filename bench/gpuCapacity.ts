/**
 * GPU capacity benchmark (a report, not a test): on seeded random small MIG demands, compares the GPUs the
 * capacity plan needs with the brute-force optimum and the naive one-replica-per-GPU baseline.
 *
 *   configured   the plan with a fixed, sensible layout per GPU model (3g + 2g + 2 × 1g, NVIDIA's "balanced")
 *   bestUniform  the plan with the best single per-GPU layout for the demand (what `recommendedLayout` suggests)
 *   optimum      fewest GPUs if every GPU could take its own layout (exact search; the lower bound)
 *   naive        one replica per whole GPU, no MIG
 * Utilisation = compute slices used / (7 × GPUs). "% of optimum" = optimum GPUs / plan GPUs (= utilisation ratio).
 *
 * Run: `npx ts-node --transpile-only bench/gpuCapacity.ts` (bench/run.ts may import `gpuCapacityBenchmark`).
 */
import { compareToOptimum } from "../components/gpu/capacity";
import { GpuModel, migProfiles } from "../components/gpu/catalogue";

const BALANCED: Partial<Record<GpuModel, Record<string, number>>> = {
  "A100-40GB": { "3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2 },
  "H100-80GB": { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 },
  "H200-141GB": { "3g.71gb": 1, "2g.35gb": 1, "1g.18gb": 2 },
};

export interface GpuCapacityBenchRow {
  gpu: GpuModel;
  instances: number;
  meanUtilisation: { configured: number; bestUniform: number; optimum: number; naive: number };
  /** Σ optimum GPUs / Σ plan GPUs over the instances. */
  shareOfOptimum: { configured: number; bestUniform: number; naive: number };
  /** Instances where the plan reaches ≥ 95% of optimum. */
  atLeast95: { configured: number; bestUniform: number };
  worstBestUniform: number;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Demands over the balanced layout's profiles (so the configured layout can serve them), 1–8 instances each,
 * `trials` per GPU model, deterministic for a seed.
 */
export function gpuCapacityBenchmark(trials = 200, seed = 7): GpuCapacityBenchRow[] {
  const rnd = mulberry32(seed);
  const rows: GpuCapacityBenchRow[] = [];
  for (const gpu of Object.keys(BALANCED) as GpuModel[]) {
    const layout = BALANCED[gpu]!;
    const names = Object.keys(layout);
    for (const p of names) if (!migProfiles(gpu)[p]) throw new Error(`${gpu}: ${p} is not a profile`);
    const sum = { configured: 0, bestUniform: 0, optimum: 0, naive: 0 };
    const gpus = { configured: 0, bestUniform: 0, optimum: 0, naive: 0 };
    const ok = { configured: 0, bestUniform: 0 };
    let worst = 1;
    let n = 0;
    for (let t = 0; t < trials; t++) {
      const demand: Record<string, number> = {};
      for (const p of names) if (rnd() < 0.7) demand[p] = 1 + Math.floor(rnd() * 8);
      if (Object.keys(demand).length === 0) continue;
      const c = compareToOptimum(gpu, demand, layout);
      if (!c.configured || !c.bestUniform) continue;
      n++;
      sum.configured += c.configured.utilisation;
      sum.bestUniform += c.bestUniform.utilisation;
      sum.optimum += c.optimum.utilisation;
      sum.naive += c.naive.utilisation;
      gpus.configured += c.configured.gpus;
      gpus.bestUniform += c.bestUniform.gpus;
      gpus.optimum += c.optimum.gpus;
      gpus.naive += c.naive.gpus;
      if (c.optimum.gpus / c.configured.gpus >= 0.95) ok.configured++;
      if (c.optimum.gpus / c.bestUniform.gpus >= 0.95) ok.bestUniform++;
      worst = Math.min(worst, c.optimum.gpus / c.bestUniform.gpus);
    }
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    rows.push({
      gpu,
      instances: n,
      meanUtilisation: { configured: r3(sum.configured / n), bestUniform: r3(sum.bestUniform / n), optimum: r3(sum.optimum / n), naive: r3(sum.naive / n) },
      shareOfOptimum: { configured: r3(gpus.optimum / gpus.configured), bestUniform: r3(gpus.optimum / gpus.bestUniform), naive: r3(gpus.optimum / gpus.naive) },
      atLeast95: ok,
      worstBestUniform: r3(worst),
    });
  }
  return rows;
}

if (require.main === module) {
  for (const row of gpuCapacityBenchmark()) console.log(JSON.stringify(row));
}
