// Capacity plan for the GPU pools at the models' maxReplicas (pure); the packing solver is packing.ts, the benchmark's
// optimum and naive baselines bench/capacity/baselines.ts. Definitions (demand, uniform MIG partitioning, slice
// utilisation, recommendations): docs/design/gpus.md.

import { GpuModel, MIG_COMPUTE_SLICES, describeLayout, instanceGpu } from "../../domain/gpu/catalogue";
import {
    bestUniformLayout,
    groupLayouts,
    MigPartedPerGpuEntry,
    migPartedPerGpuConfig,
    packNodes,
    planHeterogeneous,
    planNodeTemplate,
    uniformGpus,
    usedComputeSlices,
} from "./packing";

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
    /** Blue-green (release.strategy): a release runs the full preview beside the active version. */
    release?: { strategy?: "canary" | "blueGreen" };
}

export interface ModelDemand {
    model: string;
    /** MIG profile (mixed/single pools), absent for whole GPUs. */
    profile?: string;
    devicesPerReplica: number;
    maxReplicas: number;
    /**
     * Blue-green only: the replicas while a release runs, the preview at full size beside the active version (2 ×
     * maxReplicas, until scaleDownDelaySeconds after the switch): what the pool must hold, or the preview stays
     * Pending and the release is aborted by its progress deadline. `devices` counts them.
     */
    replicasDuringRelease?: number;
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
    /**
     * Mixed MIG pools with demand: the recommendation if each GPU took its own layout (`planHeterogeneous`; mig-parted
     * `devices: [i, …]` entries). The sizing above is for the configured uniform layout, which is what nodes get today.
     */
    recommendedLayouts?: RecommendedLayouts;
    warnings: string[];
}

/** The heterogeneous (per-GPU layout) recommendation of a mixed MIG pool. */
export interface RecommendedLayouts {
    /** GPUs needed if every GPU could take its own layout. */
    gpusNeeded: number;
    /** computeSlicesUsed / (7 × gpusNeeded). */
    sliceUtilisation: number;
    /** The distinct per-GPU layouts and how many GPUs take each (they carry the demand exactly). */
    layouts: Array<{ layout: Record<string, number>; gpus: number }>;
    /** Nodes needed when every node of the pool takes the same per-GPU template (one mig-parted config per pool). */
    nodesNeeded?: number;
    /** That template for one node, as mig-parted entries (`devices: [i, …]`). */
    nodeConfig?: MigPartedPerGpuEntry[];
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/** Capacity plan of every pool, in the pools' order. */
export function capacityPlan(pools: readonly CapacityPoolInput[], models: readonly CapacityModelInput[]): PoolCapacity[] {
    return pools.map((pool) =>
        poolCapacity(
            pool,
            models.filter((m) => m.gpu?.pool === pool.name),
        ),
    );
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
                warnings.push(
                    `model ${m.name} asks for MIG profile ${profile ?? "(none)"}, which the layout (${describeLayout(layout)}) does not provide; left out of the plan`,
                );
                continue;
            }
        } else if (strategy === "single") {
            profile = Object.keys(layout)[0];
        }
        const key = profile ?? "gpu";
        const blueGreen = m.release?.strategy === "blueGreen";
        const replicas = blueGreen ? 2 * maxReplicas : maxReplicas;
        demand[key] = (demand[key] ?? 0) + count * replicas;
        demands.push({
            model: m.name,
            ...(profile ? { profile } : {}),
            devicesPerReplica: count,
            maxReplicas,
            ...(blueGreen ? { replicasDuringRelease: replicas } : {}),
            devices: count * replicas,
        });
        for (let r = 0; r < replicas; r++) items.push(count);
    }

    const gpu = hw?.gpu ?? "unknown";
    const base = {
        pool: pool.name,
        instanceType: pool.instanceType,
        gpu,
        gpusPerNode,
        strategy,
        layout,
        models: demands,
        demand,
        maxSize: pool.maxSize,
    } as const;
    if (!hw) {
        warnings.push(`instance type ${pool.instanceType} is not in the GPU catalogue; no plan`);
        return {
            ...base,
            idleInstances: {},
            gpusNeeded: 0,
            nodesNeeded: 0,
            fits: false,
            computeSlicesUsed: 0,
            sliceUtilisation: 0,
            nodeSliceUtilisation: 0,
            warnings,
        };
    }

    let gpusNeeded: number;
    let nodesNeeded: number;
    let computeSlicesUsed: number;
    const idleInstances: Record<string, number> = {};
    let recommendedLayout: PoolCapacity["recommendedLayout"];
    let recommendedLayouts: RecommendedLayouts | undefined;
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
                recommendedLayout = {
                    layout: best.layout,
                    gpusNeeded: best.gpus,
                    sliceUtilisation: round4(computeSlicesUsed / (MIG_COMPUTE_SLICES * best.gpus)),
                };
            }
            if (strategy === "mixed") recommendedLayouts = heterogeneousRecommendation(hw.gpu, demand, gpusPerNode);
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
        ...(recommendedLayouts ? { recommendedLayouts } : {}),
        warnings,
    };
}

function heterogeneousRecommendation(gpu: GpuModel, demand: Record<string, number>, gpusPerNode: number): RecommendedLayouts | undefined {
    const plan = planHeterogeneous(gpu, demand);
    if (plan.gpus === 0 || Object.keys(plan.unplaced).length > 0) return undefined;
    const template = planNodeTemplate(gpu, demand, gpusPerNode);
    return {
        gpusNeeded: plan.gpus,
        sliceUtilisation: plan.sliceUtilisation,
        layouts: groupLayouts(plan.layouts),
        ...(template ? { nodesNeeded: template.nodes, nodeConfig: migPartedPerGpuConfig(template.gpuLayouts) } : {}),
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
        plan.map((p) => [p.pool, p.strategy === "none" ? { ...p, gpuRequests: p.demand.gpu ?? 0 } : { ...p, instancesByProfile: { ...p.demand } }]),
    );
}
