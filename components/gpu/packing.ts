// The MIG packing solver (pure): valid layouts, uniform and per-GPU (heterogeneous) packings, node templates and
// their mig-parted entries. The capacity plan (capacity.ts) and the benchmark use it; design: docs/design/gpus.md.

import { GpuModel, MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES, describeLayout, layoutFits, migProfiles } from "../../domain/gpu/catalogue";

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

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

// ---------------------------------------------------------------------------------------------------------------
// Heterogeneous planner: per-GPU layouts (mig-parted can give each GPU of a node its own layout through
// `devices: [i, …]` entries of one named config). A heuristic, not a search: it must stay instant for any demand.

/** Per-GPU layouts covering a MIG demand exactly (no idle instances), from `planHeterogeneous`. */
export interface HeterogeneousPlan {
    /** GPUs needed when every GPU may carry its own layout. */
    gpus: number;
    /** One layout per GPU (profile → instances), fullest first; each passes `layoutFits`. */
    layouts: Array<Record<string, number>>;
    computeSlicesUsed: number;
    /** computeSlicesUsed / (7 × gpus); 0 without demand. */
    sliceUtilisation: number;
    /** Demanded instances no GPU of this model can carry (unknown profiles, or a GPU without MIG). */
    unplaced: Record<string, number>;
    /** The construction that won before the local search (see `planHeterogeneous`). */
    method: "ffd" | "bfd" | "ffd-memory" | "ffd-one-per-gpu" | "greedy" | "none";
}

interface PackingModel {
    names: string[];
    compute: number[];
    memory: number[];
    valid: Set<string>;
    /** Valid layouts as count vectors over `names`. */
    layouts: number[][];
    /** Profiles a GPU can carry at most once (`+me` profiles, 4g, 7g). */
    onePerGpu: boolean[];
}

const packingModels = new Map<GpuModel, PackingModel>();

function packingModel(gpu: GpuModel): PackingModel {
    let m = packingModels.get(gpu);
    if (!m) {
        const profiles = migProfiles(gpu);
        const names = Object.keys(profiles);
        const layouts = validLayouts(gpu).map((l) => names.map((n) => l[n] ?? 0));
        m = {
            names,
            compute: names.map((n) => profiles[n].computeSlices),
            memory: names.map((n) => profiles[n].memorySlices),
            valid: new Set(layouts.map((v) => v.join(","))),
            layouts,
            onePerGpu: names.map((n) => profiles[n].mediaExtension || profiles[n].maxCount === 1),
        };
        packingModels.set(gpu, m);
    }
    return m;
}

type Bin = number[];

const binKey = (b: Bin): string => b.join(",");
const binCompute = (pm: PackingModel, b: Bin): number => b.reduce((n, c, i) => n + c * pm.compute[i], 0);
const binMemory = (pm: PackingModel, b: Bin): number => b.reduce((n, c, i) => n + c * pm.memory[i], 0);
const binEmpty = (b: Bin): boolean => b.every((c) => c === 0);

/** Whether bin `b` plus one instance of profile `p` is a valid layout. */
function canAdd(pm: PackingModel, b: Bin, p: number): boolean {
    b[p]++;
    const ok = pm.valid.has(binKey(b));
    b[p]--;
    return ok;
}

type ItemOrder = "compute" | "memory" | "onePerGpu";

/**
 * Profile indices of the demand's instances, largest first: by compute then memory slices (`compute`), memory then
 * compute (`memory`), or profiles a GPU holds at most once (`+me`, 4g, 7g) first, then by compute (`onePerGpu`).
 */
function itemsOf(pm: PackingModel, need: number[], order: ItemOrder): number[] {
    const byCompute = (a: number, b: number): number => pm.compute[b] - pm.compute[a];
    const byMemory = (a: number, b: number): number => pm.memory[b] - pm.memory[a];
    const byOnePerGpu = (a: number, b: number): number => Number(pm.onePerGpu[b]) - Number(pm.onePerGpu[a]);
    const cmp = (a: number, b: number): number =>
        order === "memory"
            ? byMemory(a, b) || byCompute(a, b)
            : order === "onePerGpu"
              ? byOnePerGpu(a, b) || byCompute(a, b) || byMemory(a, b)
              : byCompute(a, b) || byMemory(a, b);
    const profiles = pm.names.map((_, i) => i).sort((a, b) => cmp(a, b) || pm.names[a].localeCompare(pm.names[b]));
    return profiles.flatMap((i) => new Array<number>(need[i]).fill(i));
}

/** First-fit-decreasing (`best` false) or best-fit-decreasing (`best` true: the bin with least compute left). */
function fitDecreasing(pm: PackingModel, need: number[], best: boolean, order: ItemOrder = "compute"): Bin[] {
    const bins: Bin[] = [];
    for (const p of itemsOf(pm, need, order)) {
        let chosen = -1;
        let chosenLeft = Infinity;
        for (let i = 0; i < bins.length; i++) {
            if (!canAdd(pm, bins[i], p)) continue;
            if (!best) {
                chosen = i;
                break;
            }
            const left = (MIG_COMPUTE_SLICES - binCompute(pm, bins[i])) * 16 + (MIG_MEMORY_SLICES - binMemory(pm, bins[i]));
            if (left < chosenLeft) {
                chosen = i;
                chosenLeft = left;
            }
        }
        if (chosen < 0) {
            bins.push(pm.names.map(() => 0));
            chosen = bins.length - 1;
        }
        bins[chosen][p]++;
    }
    return bins;
}

/** Greedy by layouts: each GPU takes the valid layout covering the most remaining compute (then memory) slices. */
function greedyLayouts(pm: PackingModel, need: number[]): Bin[] {
    const rest = [...need];
    const bins: Bin[] = [];
    while (rest.some((n) => n > 0)) {
        let best: Bin | undefined;
        let bestScore = 0;
        for (const l of pm.layouts) {
            const take = l.map((c, i) => Math.min(c, rest[i]));
            const score = binCompute(pm, take) * 16 + binMemory(pm, take);
            if (score > bestScore) {
                best = take;
                bestScore = score;
            }
        }
        if (!best) break; // cannot happen: every demanded profile fits a GPU on its own
        bins.push(best);
        best.forEach((c, i) => (rest[i] -= c));
    }
    return bins;
}

/**
 * Places `items` (profile indices) into `bins` (mutated): best fit, and when an item fits nowhere, a swap that
 * makes room for it by moving a strictly smaller instance out of some bin (which is then placed the same way).
 * False when some item could not be placed within the step budget.
 */
function reinsert(pm: PackingModel, bins: Bin[], items: number[]): boolean {
    const smaller = (a: number, b: number): boolean => pm.compute[a] < pm.compute[b] || (pm.compute[a] === pm.compute[b] && pm.memory[a] < pm.memory[b]);
    const pending = [...items].sort((a, b) => pm.compute[a] - pm.compute[b] || pm.memory[a] - pm.memory[b]); // pop() = largest
    let budget = 64 * (items.length + 1);
    while (pending.length > 0) {
        if (--budget < 0) return false;
        const p = pending.pop()!;
        let chosen = -1;
        let chosenLeft = Infinity;
        for (let i = 0; i < bins.length; i++) {
            if (!canAdd(pm, bins[i], p)) continue;
            const left = (MIG_COMPUTE_SLICES - binCompute(pm, bins[i])) * 16 + (MIG_MEMORY_SLICES - binMemory(pm, bins[i]));
            if (left < chosenLeft) {
                chosen = i;
                chosenLeft = left;
            }
        }
        if (chosen >= 0) {
            bins[chosen][p]++;
            continue;
        }
        // Swap: put p where a smaller instance q was, and queue q.
        let swapped = false;
        for (let i = 0; i < bins.length && !swapped; i++) {
            for (let q = 0; q < pm.names.length && !swapped; q++) {
                if (bins[i][q] === 0 || !smaller(q, p)) continue;
                bins[i][q]--;
                if (canAdd(pm, bins[i], p)) {
                    bins[i][p]++;
                    pending.push(q);
                    pending.sort((a, b) => pm.compute[a] - pm.compute[b] || pm.memory[a] - pm.memory[b]);
                    swapped = true;
                } else {
                    bins[i][q]++;
                }
            }
        }
        if (!swapped) return false;
    }
    return true;
}

/**
 * Local search: repeatedly tries to empty one of the `tries` least-loaded GPUs by moving its instances into the
 * others; stops when none of them can be emptied.
 */
function eliminateBins(pm: PackingModel, start: Bin[], tries = 16): Bin[] {
    let bins = start.map((b) => [...b]);
    for (let improved = true; improved && bins.length > 1;) {
        improved = false;
        const order = bins
            .map((_, i) => i)
            .sort((a, b) => binCompute(pm, bins[a]) - binCompute(pm, bins[b]) || binMemory(pm, bins[a]) - binMemory(pm, bins[b]))
            .slice(0, tries);
        for (const t of order) {
            const others = bins.filter((_, i) => i !== t).map((b) => [...b]);
            const items = bins[t].flatMap((c, p) => new Array<number>(c).fill(p));
            if (reinsert(pm, others, items)) {
                bins = others;
                improved = true;
                break;
            }
        }
    }
    return bins;
}

/**
 * Heterogeneous MIG plan for one GPU model: per-GPU layouts that together carry exactly `demand`
 * (profile → instances). Heuristic, polynomial, no search over demand states: five constructions — a greedy that
 * gives each GPU the valid layout covering the most remaining compute (then memory) slices, and first-fit-decreasing
 * with three item orders (compute then memory slices; memory then compute; profiles a GPU holds at most once
 * first) plus best-fit-decreasing — each followed by a local search that tries to empty one of the least-loaded
 * GPUs into the others (best fit, or a swap that evicts a strictly smaller instance). The fewest GPUs wins; it
 * stops early at the slice lower bound. Every GPU layout is one `layoutFits` accepts (placement included; checked
 * through `validLayouts`). Never more GPUs than the naive one-instance-per-GPU baseline, never fewer than the optimum.
 */
export function planHeterogeneous(gpu: GpuModel, demand: Record<string, number>): HeterogeneousPlan {
    const pm = packingModel(gpu);
    const need = pm.names.map(() => 0);
    const unplaced: Record<string, number> = {};
    for (const [p, n] of Object.entries(demand)) {
        if (!(n > 0)) continue;
        const i = pm.names.indexOf(p);
        if (i < 0) unplaced[p] = (unplaced[p] ?? 0) + n;
        else need[i] += n;
    }
    const computeSlicesUsed = need.reduce((s, n, i) => s + n * pm.compute[i], 0);
    if (need.every((n) => n === 0)) return { gpus: 0, layouts: [], computeSlicesUsed: 0, sliceUtilisation: 0, unplaced, method: "none" };
    const lowerBound = Math.max(Math.ceil(computeSlicesUsed / MIG_COMPUTE_SLICES), need.reduce((s, n, i) => s + n * pm.memory[i], 0) / MIG_MEMORY_SLICES);
    let best: { bins: Bin[]; method: HeterogeneousPlan["method"] } | undefined;
    for (const [method, build] of [
        ["greedy", () => greedyLayouts(pm, need)],
        ["ffd", () => fitDecreasing(pm, need, false)],
        ["bfd", () => fitDecreasing(pm, need, true)],
        ["ffd-memory", () => fitDecreasing(pm, need, false, "memory")],
        ["ffd-one-per-gpu", () => fitDecreasing(pm, need, false, "onePerGpu")],
    ] as const) {
        const bins = eliminateBins(pm, build());
        if (!best || bins.length < best.bins.length) best = { bins, method };
        if (best.bins.length <= Math.ceil(lowerBound)) break;
    }
    const bins = best!.bins
        .filter((b) => !binEmpty(b))
        .sort((a, b) => binCompute(pm, b) - binCompute(pm, a) || binMemory(pm, b) - binMemory(pm, a) || binKey(b).localeCompare(binKey(a)));
    const layouts = bins.map((b) => Object.fromEntries(b.flatMap((c, i) => (c > 0 ? [[pm.names[i], c]] : []))));
    return {
        gpus: layouts.length,
        layouts,
        computeSlicesUsed,
        sliceUtilisation: round4(computeSlicesUsed / (MIG_COMPUTE_SLICES * layouts.length)),
        unplaced,
        method: best!.method,
    };
}

/**
 * The smallest node count `n` such that ONE set of per-GPU layouts (a node template: `gpusPerNode` layouts,
 * repeated on every node, because all nodes of a pool carry the same `nvidia.com/mig.config` label) covers the
 * demand: each node must carry ⌈demand ÷ n⌉ of every profile, planned with `planHeterogeneous`. GPUs the plan leaves
 * free on the node repeat the plan's layouts in order, and every GPU is then topped up with extra instances of the
 * demanded profiles where slices remain (headroom; no slice left unpartitioned for nothing). Undefined when no
 * template fits (e.g. a profile that cannot share a GPU with the others on a one-GPU node).
 */
export function planNodeTemplate(
    gpu: GpuModel,
    demand: Record<string, number>,
    gpusPerNode: number,
): { nodes: number; gpuLayouts: Array<Record<string, number>> } | undefined {
    const wanted = Object.entries(demand).filter(([, n]) => n > 0);
    if (wanted.length === 0 || gpusPerNode < 1) return undefined;
    const whole = planHeterogeneous(gpu, demand);
    if (Object.keys(whole.unplaced).length > 0) return undefined;
    const total = wanted.reduce((n, [, d]) => n + d, 0);
    for (let nodes = Math.max(1, Math.ceil(whole.gpus / gpusPerNode)); nodes <= total; nodes++) {
        const perNode = Object.fromEntries(wanted.map(([p, d]) => [p, Math.ceil(d / nodes)]));
        const plan = planHeterogeneous(gpu, perNode);
        if (plan.gpus > gpusPerNode) continue;
        const gpuLayouts = Array.from({ length: gpusPerNode }, (_, i) => topUp(gpu, plan.layouts[i % plan.gpus], Object.keys(perNode)));
        return { nodes, gpuLayouts };
    }
    return undefined;
}

/** `layout` plus as many extra instances of `profiles` (largest first) as still fit the GPU. */
export function topUp(gpu: GpuModel, layout: Record<string, number>, profiles: readonly string[]): Record<string, number> {
    const pm = packingModel(gpu);
    const bin = pm.names.map((n) => layout[n] ?? 0);
    const order = profiles
        .map((p) => pm.names.indexOf(p))
        .filter((i) => i >= 0)
        .sort((a, b) => pm.compute[b] - pm.compute[a] || pm.memory[b] - pm.memory[a]);
    for (let added = true; added;) {
        added = false;
        for (const p of order) {
            if (canAdd(pm, bin, p)) {
                bin[p]++;
                added = true;
                break;
            }
        }
    }
    return Object.fromEntries(bin.flatMap((c, i) => (c > 0 ? [[pm.names[i], c]] : [])));
}

/** One entry of a mig-parted named config that targets devices by index. */
export interface MigPartedPerGpuEntry {
    devices: number[];
    "mig-enabled": boolean;
    "mig-devices"?: Record<string, number>;
}

/**
 * The mig-parted entries of one named config giving GPU `i` the layout `gpuLayouts[i]` (NVIDIA mig-parted's
 * `devices: [0, 1]` form; identical layouts share an entry; an empty layout leaves MIG disabled on that GPU):
 * `mig-configs: { <name>: migPartedPerGpuConfig(layouts) }`.
 */
export function migPartedPerGpuConfig(gpuLayouts: ReadonlyArray<Record<string, number>>): MigPartedPerGpuEntry[] {
    const entries = new Map<string, MigPartedPerGpuEntry>();
    gpuLayouts.forEach((layout, device) => {
        const devices = Object.fromEntries(
            Object.keys(layout)
                .filter((p) => layout[p] > 0)
                .sort()
                .map((p) => [p, layout[p]]),
        );
        const key = JSON.stringify(devices);
        const entry = entries.get(key);
        if (entry) entry.devices.push(device);
        else
            entries.set(
                key,
                Object.keys(devices).length > 0
                    ? { devices: [device], "mig-enabled": true, "mig-devices": devices }
                    : { devices: [device], "mig-enabled": false },
            );
    });
    return [...entries.values()];
}

/** Per-GPU layouts grouped: each distinct layout with the number of GPUs that take it, in first-seen order. */
export function groupLayouts(layouts: ReadonlyArray<Record<string, number>>): Array<{ layout: Record<string, number>; gpus: number }> {
    const groups = new Map<string, { layout: Record<string, number>; gpus: number }>();
    for (const layout of layouts) {
        const key = JSON.stringify(
            Object.keys(layout)
                .sort()
                .map((p) => [p, layout[p]]),
        );
        const g = groups.get(key);
        if (g) g.gpus++;
        else groups.set(key, { layout: { ...layout }, gpus: 1 });
    }
    return [...groups.values()];
}
