// Capacity plan for the GPU pools at the models' maxReplicas. Pure.
//
// Definitions (also in the README section on GPUs):
//  * Demand. Each model with `gpu` contributes `count × maxReplicas` devices to its pool: MIG instances of its
//    profile on `mixed` pools (count is 1 there), MIG devices of the pool's only profile on `single` pools, whole
//    GPUs otherwise.
//  * MIG pools are partitioned uniformly: mig-manager applies one config (`devices: all`) to every GPU of every node
//    of the pool, so each GPU carries the configured layout L (profile → instances per GPU). GPUs needed =
//    max over profiles p of ceil(demand_p / L_p); nodes needed = ceil(GPUs / GPUs per node) (for `single` with
//    count > 1, and for whole GPUs, replicas must fit on one node: first-fit-decreasing over nodes).
//  * Slice utilisation = compute slices the demand uses / compute slices provisioned (7 per GPU), either over the
//    GPUs needed (`sliceUtilisation`) or over all GPUs of the nodes needed (`nodeSliceUtilisation`). A whole-GPU
//    replica uses all 7 slices of its GPU (non-MIG GPUs are counted in the same unit).
//  * Benchmark references (small instances):
//      - best uniform layout: the valid layout (over the demanded profiles) that minimises GPUs needed under the
//        uniform model above; what the plan could reach by changing `mig.layout` alone (`recommendedLayout`).
//      - optimum: the fewest GPUs if every GPU could take its own valid layout (heterogeneous partitioning, exact
//        bin packing by search over maximal layouts). No single-config pool can beat it; it is the lower bound the
//        benchmark compares against.
//      - naive baseline: one replica per whole GPU (no MIG), i.e. GPUs = number of MIG instances demanded.

import {
  GpuModel,
  MIG_COMPUTE_SLICES,
  describeLayout,
  instanceGpu,
  layoutFits,
  migProfiles,
} from "./catalogue";

export interface CapacityPoolInput {
  name: string;
  instanceType: string;
  maxSize: number;
  mig?: { strategy: "none" | "single" | "mixed"; layout: Record<string, number> };
}

export interface CapacityModelInput {
  name: string;
  gpu?: { pool: string; profile?: string; count?: number };
  autoscaling: { maxReplicas: number };
}

export interface ModelDemand {
  model: string;
  /** MIG profile (mixed/single pools), absent for whole GPUs. */
  profile?: string;
  devicesPerReplica: number;
  maxReplicas: number;
  devices: number;
}

export interface PoolCapacity {
  pool: string;
  instanceType: string;
  gpu: GpuModel | "unknown";
  gpusPerNode: number;
  strategy: "none" | "single" | "mixed";
  layout: Record<string, number>;
  models: ModelDemand[];
  /** MIG pools: profile → instances needed; whole-GPU pools: `{ gpu: n }`. */
  demand: Record<string, number>;
  /** MIG pools: profile → instances the GPUs needed carry but the demand leaves idle. */
  idleInstances: Record<string, number>;
  gpusNeeded: number;
  nodesNeeded: number;
  maxSize: number;
  /** nodesNeeded ≤ maxSize. */
  fits: boolean;
  computeSlicesUsed: number;
  /** computeSlicesUsed / (7 × gpusNeeded); 0 without demand. */
  sliceUtilisation: number;
  /** computeSlicesUsed / (7 × gpusPerNode × nodesNeeded); 0 without demand. */
  nodeSliceUtilisation: number;
  /** MIG pools: the best uniform layout for this demand, when it needs fewer GPUs than the configured one. */
  recommendedLayout?: { layout: Record<string, number>; gpusNeeded: number; sliceUtilisation: number };
  warnings: string[];
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/** Capacity plan of every pool, in the pools' order. */
export function capacityPlan(pools: readonly CapacityPoolInput[], models: readonly CapacityModelInput[]): PoolCapacity[] {
  return pools.map((pool) => poolCapacity(pool, models.filter((m) => m.gpu?.pool === pool.name)));
}

/** The messages to pass to `pulumi.log.warn`, one per problem, prefixed with the pool. */
export function capacityWarnings(plan: readonly PoolCapacity[]): string[] {
  return plan.flatMap((p) => p.warnings.map((w) => `gpuPools ${p.pool}: ${w}`));
}

function poolCapacity(pool: CapacityPoolInput, models: readonly CapacityModelInput[]): PoolCapacity {
  const hw = instanceGpu(pool.instanceType);
  const gpusPerNode = hw?.count ?? 0;
  const strategy = pool.mig?.strategy ?? "none";
  const layout = strategy === "none" ? {} : { ...(pool.mig?.layout ?? {}) };
  const warnings: string[] = [];
  const demands: ModelDemand[] = [];
  const demand: Record<string, number> = {};
  const items: number[] = []; // per-replica sizes in devices, for node packing
  for (const m of models) {
    const count = m.gpu?.count ?? 1;
    const maxReplicas = m.autoscaling.maxReplicas;
    let profile: string | undefined;
    if (strategy === "mixed") {
      profile = m.gpu?.profile;
      if (profile === undefined || !(profile in layout)) {
        warnings.push(`model ${m.name} asks for MIG profile ${profile ?? "(none)"}, which the layout (${describeLayout(layout)}) does not provide; left out of the plan`);
        continue;
      }
    } else if (strategy === "single") {
      profile = Object.keys(layout)[0];
    }
    const key = profile ?? "gpu";
    demand[key] = (demand[key] ?? 0) + count * maxReplicas;
    demands.push({ model: m.name, ...(profile ? { profile } : {}), devicesPerReplica: count, maxReplicas, devices: count * maxReplicas });
    for (let r = 0; r < maxReplicas; r++) items.push(count);
  }

  const gpu = hw?.gpu ?? "unknown";
  const base = { pool: pool.name, instanceType: pool.instanceType, gpu, gpusPerNode, strategy, layout, models: demands, demand, maxSize: pool.maxSize } as const;
  if (!hw) {
    warnings.push(`instance type ${pool.instanceType} is not in the GPU catalogue; no plan`);
    return { ...base, idleInstances: {}, gpusNeeded: 0, nodesNeeded: 0, fits: false, computeSlicesUsed: 0, sliceUtilisation: 0, nodeSliceUtilisation: 0, warnings };
  }

  let gpusNeeded: number;
  let nodesNeeded: number;
  let computeSlicesUsed: number;
  const idleInstances: Record<string, number> = {};
  let recommendedLayout: PoolCapacity["recommendedLayout"];
  if (strategy === "none") {
    gpusNeeded = demand.gpu ?? 0;
    nodesNeeded = packNodes(items, gpusPerNode);
    computeSlicesUsed = gpusNeeded * MIG_COMPUTE_SLICES;
  } else {
    gpusNeeded = uniformGpus(layout, demand);
    computeSlicesUsed = usedComputeSlices(hw.gpu, demand);
    for (const [p, perGpu] of Object.entries(layout)) idleInstances[p] = perGpu * gpusNeeded - (demand[p] ?? 0);
    nodesNeeded = strategy === "single" ? packNodes(items, gpusPerNode * (Object.values(layout)[0] ?? 0)) : Math.ceil(gpusNeeded / gpusPerNode);
    if (Object.keys(demand).length > 0) {
      const best = bestUniformLayout(hw.gpu, demand);
      if (best && best.gpus < gpusNeeded) {
        recommendedLayout = { layout: best.layout, gpusNeeded: best.gpus, sliceUtilisation: round4(computeSlicesUsed / (MIG_COMPUTE_SLICES * best.gpus)) };
      }
    }
  }
  const fits = nodesNeeded <= pool.maxSize;
  if (!fits) {
    warnings.push(
      `maxSize ${pool.maxSize} cannot hold the models at maxReplicas: they need ${nodesNeeded} × ${pool.instanceType} (${gpusNeeded} GPUs${strategy === "none" ? "" : ` with layout ${describeLayout(layout)}`})`,
    );
  }
  return {
    ...base,
    idleInstances,
    gpusNeeded,
    nodesNeeded,
    fits,
    computeSlicesUsed,
    sliceUtilisation: gpusNeeded === 0 ? 0 : round4(computeSlicesUsed / (MIG_COMPUTE_SLICES * gpusNeeded)),
    nodeSliceUtilisation: nodesNeeded === 0 ? 0 : round4(computeSlicesUsed / (MIG_COMPUTE_SLICES * gpusPerNode * nodesNeeded)),
    ...(recommendedLayout ? { recommendedLayout } : {}),
    warnings,
  };
}

/** First-fit-decreasing of per-replica device counts into nodes of `capacity` devices (a replica never spans nodes). */
export function packNodes(items: readonly number[], capacity: number): number {
  if (items.length === 0) return 0;
  if (capacity <= 0) return Infinity;
  const free: number[] = [];
  for (const size of [...items].sort((a, b) => b - a)) {
    if (size > capacity) return Infinity;
    const i = free.findIndex((f) => f >= size);
    if (i >= 0) free[i] -= size;
    else free.push(capacity - size);
  }
  return free.length;
}

/** GPUs needed when every GPU carries `layout`: max over demanded profiles of ceil(demand / per-GPU count). */
export function uniformGpus(layout: Record<string, number>, demand: Record<string, number>): number {
  let gpus = 0;
  for (const [p, need] of Object.entries(demand)) {
    if (need <= 0) continue;
    const perGpu = layout[p] ?? 0;
    if (perGpu <= 0) return Infinity;
    gpus = Math.max(gpus, Math.ceil(need / perGpu));
  }
  return gpus;
}

/** Compute slices the demanded MIG instances use. */
export function usedComputeSlices(gpu: GpuModel, demand: Record<string, number>): number {
  const profiles = migProfiles(gpu);
  return Object.entries(demand).reduce((n, [p, d]) => n + (profiles[p]?.computeSlices ?? 0) * d, 0);
}

const layoutCache = new Map<string, Array<Record<string, number>>>();

/** Every layout that fits one GPU (layoutFits ok), restricted to `only` profiles if given. Cached per GPU. */
export function validLayouts(gpu: GpuModel, only?: readonly string[]): Array<Record<string, number>> {
  let all = layoutCache.get(gpu);
  if (!all) {
    all = [];
    const profiles = Object.values(migProfiles(gpu));
    const walk = (i: number, layout: Record<string, number>): void => {
      if (i === profiles.length) {
        if (Object.keys(layout).length > 0 && layoutFits(gpu, layout).ok) all!.push(layout);
        return;
      }
      for (let c = 0; c <= profiles[i].maxCount; c++) walk(i + 1, c > 0 ? { ...layout, [profiles[i].name]: c } : layout);
    };
    walk(0, {});
    layoutCache.set(gpu, all);
  }
  if (!only) return all;
  const allowed = new Set(only);
  return all.filter((l) => Object.keys(l).every((p) => allowed.has(p)));
}

/**
 * The best uniform layout for a MIG demand: among valid layouts over the demanded profiles, the one needing the
 * fewest GPUs; ties go to the layout with more compute slices (headroom), then to the first in description order.
 * Undefined when no single layout holds every demanded profile (e.g. 7g with anything else).
 */
export function bestUniformLayout(gpu: GpuModel, demand: Record<string, number>): { layout: Record<string, number>; gpus: number } | undefined {
  const wanted = Object.keys(demand).filter((p) => demand[p] > 0);
  if (wanted.length === 0) return undefined;
  const profiles = migProfiles(gpu);
  let best: { layout: Record<string, number>; gpus: number; slices: number; text: string } | undefined;
  for (const layout of validLayouts(gpu, wanted)) {
    const gpus = uniformGpus(layout, demand);
    if (!Number.isFinite(gpus)) continue;
    const slices = Object.entries(layout).reduce((n, [p, c]) => n + profiles[p].computeSlices * c, 0);
    const text = describeLayout(layout);
    if (!best || gpus < best.gpus || (gpus === best.gpus && (slices > best.slices || (slices === best.slices && text < best.text)))) {
      best = { layout, gpus, slices, text };
    }
  }
  return best ? { layout: best.layout, gpus: best.gpus } : undefined;
}

/**
 * Exact optimum for small instances: the fewest GPUs covering `demand` when each GPU may take its own valid layout.
 * Memoised search over remaining demand vectors, trying only maximal layouts (a layout to which no demanded
 * instance can be added); throws when the state space exceeds `maxStates`.
 */
export function optimumGpus(gpu: GpuModel, demand: Record<string, number>, maxStates = 2_000_000): number {
  const wanted = Object.keys(demand).filter((p) => demand[p] > 0).sort();
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
    ...(configuredLayout && configuredGpus !== undefined ? { configured: { layout: configuredLayout, gpus: configuredGpus, utilisation: util(configuredGpus) } } : {}),
    ...(best ? { bestUniform: { layout: best.layout, gpus: best.gpus, utilisation: util(best.gpus) } } : {}),
    optimum: { gpus: optimum, utilisation: util(optimum) },
    naive: { gpus: naive, utilisation: util(naive) },
  };
}

/** A pool's plan as the `gpuCapacity` stack output shows it (keyed by pool; `npm run plan` prints it). */
export interface PoolCapacityOutput extends PoolCapacity {
  /** MIG pools: profile → instances needed at maxReplicas. */
  instancesByProfile?: Record<string, number>;
  /** Whole-GPU pools: GPUs requested at maxReplicas. */
  gpuRequests?: number;
}

/** `capacityPlan` keyed by pool name, with the demand split the way `scripts/plan.ts` prints it. */
export function capacityOutput(plan: readonly PoolCapacity[]): Record<string, PoolCapacityOutput> {
  return Object.fromEntries(
    plan.map((p) => [
      p.pool,
      p.strategy === "none" ? { ...p, gpuRequests: p.demand.gpu ?? 0 } : { ...p, instancesByProfile: { ...p.demand } },
    ]),
  );
}
