// Benchmark references for the capacity plan (small instances): the exact optimum (every GPU its own layout) and
// the naive baseline (one GPU per MIG instance). Definitions: components/gpu/capacity.ts header, docs/design/gpus.md.

import { GpuModel, MIG_COMPUTE_SLICES } from "../../domain/gpu/catalogue";
import { bestUniformLayout, uniformGpus, usedComputeSlices, validLayouts } from "../../components/gpu/packing";

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/**
 * Exact optimum for small instances: the fewest GPUs covering `demand` when each GPU may take its own valid layout.
 * Memoised search over remaining demand vectors, trying only maximal layouts (a layout to which no demanded
 * instance can be added); throws when the state space exceeds `maxStates`.
 */
export function optimumGpus(gpu: GpuModel, demand: Record<string, number>, maxStates = 2_000_000): number {
    const wanted = Object.keys(demand)
        .filter((p) => demand[p] > 0)
        .sort();
    if (wanted.length === 0) return 0;
    const states = wanted.reduce((n, p) => n * (demand[p] + 1), 1);
    if (states > maxStates) throw new Error(`optimumGpus: ${states} demand states exceed the limit of ${maxStates} (small instances only)`);
    const layouts = validLayouts(gpu, wanted);
    const maximal = layouts
        .filter((l) => !wanted.some((p) => layouts.some((o) => o[p] === (l[p] ?? 0) + 1 && wanted.every((q) => q === p || (o[q] ?? 0) === (l[q] ?? 0)))))
        .map((l) => wanted.map((p) => l[p] ?? 0));
    if (wanted.some((_, i) => maximal.every((v) => v[i] === 0))) return Infinity;
    const memo = new Map<string, number>();
    const solve = (need: number[]): number => {
        if (need.every((n) => n === 0)) return 0;
        const key = need.join(",");
        const hit = memo.get(key);
        if (hit !== undefined) return hit;
        let best = Infinity;
        for (const l of maximal) {
            if (!l.some((c, i) => c > 0 && need[i] > 0)) continue;
            const rest = need.map((n, i) => Math.max(0, n - l[i]));
            best = Math.min(best, 1 + solve(rest));
        }
        memo.set(key, best);
        return best;
    };
    return solve(wanted.map((p) => demand[p]));
}

/** Naive baseline: one replica per whole GPU, i.e. one GPU per demanded MIG instance. */
export function naiveGpus(demand: Record<string, number>): number {
    return Object.values(demand).reduce((n, d) => n + d, 0);
}

export interface OptimumComparison {
    demand: Record<string, number>;
    computeSlicesUsed: number;
    configured?: { layout: Record<string, number>; gpus: number; utilisation: number };
    bestUniform?: { layout: Record<string, number>; gpus: number; utilisation: number };
    optimum: { gpus: number; utilisation: number };
    naive: { gpus: number; utilisation: number };
}

/** Everything the benchmark reports for one demand on one GPU model (utilisation = used / (7 × GPUs)). */
export function compareToOptimum(gpu: GpuModel, demand: Record<string, number>, configuredLayout?: Record<string, number>): OptimumComparison {
    const used = usedComputeSlices(gpu, demand);
    const util = (gpus: number): number => (gpus === 0 || !Number.isFinite(gpus) ? 0 : round4(used / (MIG_COMPUTE_SLICES * gpus)));
    const best = bestUniformLayout(gpu, demand);
    const optimum = optimumGpus(gpu, demand);
    const naive = naiveGpus(demand);
    const configuredGpus = configuredLayout ? uniformGpus(configuredLayout, demand) : undefined;
    return {
        demand,
        computeSlicesUsed: used,
        ...(configuredLayout && configuredGpus !== undefined
            ? { configured: { layout: configuredLayout, gpus: configuredGpus, utilisation: util(configuredGpus) } }
            : {}),
        ...(best ? { bestUniform: { layout: best.layout, gpus: best.gpus, utilisation: util(best.gpus) } } : {}),
        optimum: { gpus: optimum, utilisation: util(optimum) },
        naive: { gpus: naive, utilisation: util(naive) },
    };
}
