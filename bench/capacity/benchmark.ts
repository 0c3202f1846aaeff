/**
 * Section (b) of `npm run bench`: the heterogeneous MIG planner (`planHeterogeneous`) against the brute-force optimum,
 * the configured and best uniform layouts and the naive baseline, on seeded random small demands per GPU model.
 */
import { bestUniformLayout, planHeterogeneous, uniformGpus, usedComputeSlices } from "../../components/gpu/packing";
import { GpuModel, layoutFits, migProfiles } from "../../domain/gpu/catalogue";
import { naiveGpus, optimumGpus } from "./baselines";

/** The configured uniform layout per GPU model for section (b): NVIDIA's balanced 3g + 2g + 2 × 1g. */
export const BALANCED_LAYOUTS: Partial<Record<GpuModel, Record<string, number>>> = {
    "A100-40GB": { "3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2 },
    "A100-80GB": { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 },
    "H100-80GB": { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 },
    "H200-141GB": { "3g.71gb": 1, "2g.35gb": 1, "1g.18gb": 2 },
};

function balanced(gpu: GpuModel): Record<string, number> {
    const layout = BALANCED_LAYOUTS[gpu];
    if (!layout) throw new Error(`no balanced layout for ${gpu}`);
    return layout;
}

/** Mulberry32: a tiny seeded PRNG so that every run draws the same demands. */
export function mulberry32(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export type DemandFamily = "balanced" | "balanced-large" | "all-profiles";

/**
 * A random small demand. `balanced`: each profile of the balanced layout with probability 0.7, 1–8 instances (the
 * configured layout can serve it); `balanced-large`: the same with 1–24 instances. `all-profiles`: every profile of
 * the GPU with probability 0.5 (7g: 0.15, `+me`: 0.2), 1–6 instances (`+me`, 7g: 1–3).
 */
export function randomDemand(gpu: GpuModel, family: DemandFamily, rnd: () => number): Record<string, number> {
    const demand: Record<string, number> = {};
    if (family === "balanced" || family === "balanced-large") {
        const max = family === "balanced" ? 8 : 24;
        for (const p of Object.keys(balanced(gpu))) if (rnd() < 0.7) demand[p] = 1 + Math.floor(rnd() * max);
    } else {
        for (const p of Object.values(migProfiles(gpu))) {
            const rare = p.mediaExtension || p.computeSlices === 7;
            if (rnd() < (p.mediaExtension ? 0.2 : p.computeSlices === 7 ? 0.15 : 0.5)) demand[p.name] = 1 + Math.floor(rnd() * (rare ? 3 : 6));
        }
    }
    return demand;
}

export interface RatioStats {
    mean: number;
    min: number;
    /** Σ optimum GPUs ÷ Σ method GPUs. */
    pooled: number;
    /** Share of instances where the method is optimal. */
    optimal: number;
    /** Instances where the method cannot serve the demand (configured layout lacks a profile; no uniform layout). */
    infeasible: number;
}

export interface CapacityRow {
    gpu: GpuModel;
    family: DemandFamily;
    samples: number;
    planner: RatioStats;
    bestUniform: RatioStats;
    configured?: RatioStats;
    naive: RatioStats;
    /** Mean slice utilisation (used ÷ 7 × GPUs) of each method. */
    utilisation: { planner: number; optimum: number; bestUniform: number; configured?: number; naive: number };
    /** Mean planner time per demand (ms). */
    plannerMs: number;
    /** Sanity: every planner layout passed layoutFits and the layouts carried the demand exactly. */
    checked: boolean;
}

export const r4 = (x: number): number => Math.round(x * 10000) / 10000;

function stats(pairs: Array<[optimum: number, method: number]>): RatioStats {
    const ok = pairs.filter(([, m]) => Number.isFinite(m));
    const ratios = ok.map(([o, m]) => (m === 0 ? 1 : o / m));
    const sumO = ok.reduce((s, [o]) => s + o, 0);
    const sumM = ok.reduce((s, [, m]) => s + m, 0);
    return {
        mean: ratios.length ? r4(ratios.reduce((s, x) => s + x, 0) / ratios.length) : 0,
        min: ratios.length ? r4(Math.min(...ratios)) : 0,
        pooled: sumM ? r4(sumO / sumM) : 0,
        optimal: ratios.length ? r4(ratios.filter((x) => x >= 1).length / ratios.length) : 0,
        infeasible: pairs.length - ok.length,
    };
}

/** Section (b). `samples` random demands per GPU model and family, seeded. */
export function capacityBenchmark(samples = 200, seed = 7, gpus: readonly GpuModel[] = ["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"]): CapacityRow[] {
    const rows: CapacityRow[] = [];
    const families: DemandFamily[] = ["balanced", "balanced-large", "all-profiles"];
    for (const family of families) {
        for (const gpu of gpus) {
            const rnd = mulberry32(seed + gpus.indexOf(gpu) * 1000 + families.indexOf(family) * 300);
            const pairs = {
                planner: [] as Array<[number, number]>,
                bestUniform: [] as Array<[number, number]>,
                configured: [] as Array<[number, number]>,
                naive: [] as Array<[number, number]>,
            };
            const util = { planner: 0, optimum: 0, bestUniform: 0, configured: 0, naive: 0 };
            const utilN = { bestUniform: 0, configured: 0 };
            let plannerMs = 0;
            let checked = true;
            let n = 0;
            while (n < samples) {
                const demand = randomDemand(gpu, family, rnd);
                if (Object.keys(demand).length === 0) continue;
                n++;
                const used = usedComputeSlices(gpu, demand);
                const u = (g: number): number => (g > 0 && Number.isFinite(g) ? used / (7 * g) : 0);
                const t = performance.now();
                const plan = planHeterogeneous(gpu, demand);
                plannerMs += performance.now() - t;
                const optimum = optimumGpus(gpu, demand);
                const best = bestUniformLayout(gpu, demand);
                const configured = uniformGpus(balanced(gpu), demand);
                const naive = naiveGpus(demand);
                const carried: Record<string, number> = {};
                for (const l of plan.layouts) {
                    if (!layoutFits(gpu, l).ok) checked = false;
                    for (const [p, c] of Object.entries(l)) carried[p] = (carried[p] ?? 0) + c;
                }
                if (JSON.stringify(Object.entries(carried).sort()) !== JSON.stringify(Object.entries(demand).sort())) checked = false;
                if (plan.gpus < optimum) checked = false;
                pairs.planner.push([optimum, plan.gpus]);
                pairs.bestUniform.push([optimum, best ? best.gpus : Infinity]);
                pairs.configured.push([optimum, configured]);
                pairs.naive.push([optimum, naive]);
                util.planner += u(plan.gpus);
                util.optimum += u(optimum);
                util.naive += u(naive);
                if (best) {
                    util.bestUniform += u(best.gpus);
                    utilN.bestUniform++;
                }
                if (Number.isFinite(configured)) {
                    util.configured += u(configured);
                    utilN.configured++;
                }
            }
            const configuredStats = stats(pairs.configured);
            rows.push({
                gpu,
                family,
                samples: n,
                planner: stats(pairs.planner),
                bestUniform: stats(pairs.bestUniform),
                ...(configuredStats.infeasible < n ? { configured: configuredStats } : {}),
                naive: stats(pairs.naive),
                utilisation: {
                    planner: r4(util.planner / n),
                    optimum: r4(util.optimum / n),
                    bestUniform: utilN.bestUniform ? r4(util.bestUniform / utilN.bestUniform) : 0,
                    ...(utilN.configured ? { configured: r4(util.configured / utilN.configured) } : {}),
                    naive: r4(util.naive / n),
                },
                plannerMs: r4(plannerMs / n),
                checked,
            });
        }
    }
    return rows;
}
