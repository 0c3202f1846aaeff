// GPU catalogue: instance types → GPUs, GPUs → MIG profiles, and the MIG layout check.
//
// Pure data and pure functions. The data is written here in code (a real `pulumi up` has no access to the
// reference files); tests/domain/gpu/catalogue.spec.ts checks every MIG profile against NVIDIA's default mig-parted
// config (../shared/reference/nvidia-default-mig-parted-config.yaml) and the slice math of NVIDIA's MIG user guide.
//
// Placement: `layoutFits` checks slice counts (7 compute, 8 memory slices, max counts, at most one `+me`
// instance) AND then searches NVIDIA's valid placements (`nvidia-smi mig -lgipp`: each profile may only start at
// certain memory-slice offsets, instances may not overlap). The exhaustive test in gpu-catalogue.spec.ts shows that
// for A100/H100/H200 the placement search never rejects a layout that passes the count rules, but it is kept as the
// final authority so that a future GPU with stricter slots cannot slip through a count-only check.

export type GpuModel = "A100-40GB" | "A100-80GB" | "H100-80GB" | "H200-141GB" | "A10G" | "L4" | "L40S";

export const GPU_MODELS: readonly GpuModel[] = ["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB", "A10G", "L4", "L40S"];

export interface InstanceGpu {
    gpu: GpuModel;
    count: number;
    /** Memory of ONE GPU, in the GB NVIDIA uses in its product and MIG profile names. */
    memoryGiB: number;
    migCapable: boolean;
}

export interface MigProfile {
    name: string;
    computeSlices: number;
    memorySlices: number;
    maxCount: number;
    mediaExtension: boolean;
}

export type FitResult = { ok: true } | { ok: false; reason: string };

/** Compute and memory slices of every MIG-capable GPU in this catalogue (A100, H100, H200; NVIDIA MIG user guide). */
export const MIG_COMPUTE_SLICES = 7;
export const MIG_MEMORY_SLICES = 8;

interface GpuSpec {
    memoryGiB: number;
    migCapable: boolean;
}

const GPU_SPECS: Record<GpuModel, GpuSpec> = {
    "A100-40GB": { memoryGiB: 40, migCapable: true },
    "A100-80GB": { memoryGiB: 80, migCapable: true },
    "H100-80GB": { memoryGiB: 80, migCapable: true },
    "H200-141GB": { memoryGiB: 141, migCapable: true },
    A10G: { memoryGiB: 24, migCapable: false },
    L4: { memoryGiB: 24, migCapable: false },
    L40S: { memoryGiB: 48, migCapable: false },
};

/** Memory of one GPU of this model (GB, as in NVIDIA's names). */
export function gpuMemoryGiB(gpu: GpuModel): number {
    return GPU_SPECS[gpu].memoryGiB;
}

/** Whether the GPU model supports MIG partitioning. */
export function isMigCapable(gpu: GpuModel): boolean {
    return GPU_SPECS[gpu].migCapable;
}

export function isGpuModel(value: string): value is GpuModel {
    return (GPU_MODELS as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Instance types. Sizes and GPU counts from the EC2 accelerated-computing instance tables.

const G_FAMILY_SIZES: Record<string, number> = {
    xlarge: 1,
    "2xlarge": 1,
    "4xlarge": 1,
    "8xlarge": 1,
    "16xlarge": 1,
    "12xlarge": 4,
    "24xlarge": 4,
    "48xlarge": 8,
};

const INSTANCE_TYPES: Record<string, { gpu: GpuModel; count: number }> = {
    "p4d.24xlarge": { gpu: "A100-40GB", count: 8 },
    "p4de.24xlarge": { gpu: "A100-80GB", count: 8 },
    "p5.48xlarge": { gpu: "H100-80GB", count: 8 },
    "p5.4xlarge": { gpu: "H100-80GB", count: 1 }, // single-GPU P5 (2025)
    "p5e.48xlarge": { gpu: "H200-141GB", count: 8 },
    "p5en.48xlarge": { gpu: "H200-141GB", count: 8 },
    ...Object.fromEntries(
        (
            [
                ["g5", "A10G"],
                ["g6", "L4"],
                ["g6e", "L40S"],
            ] as const
        ).flatMap(([family, gpu]) => Object.entries(G_FAMILY_SIZES).map(([size, count]) => [`${family}.${size}`, { gpu: gpu as GpuModel, count }])),
    ),
};

/** Every instance type the catalogue knows, sorted. */
export function knownInstanceTypes(): string[] {
    return Object.keys(INSTANCE_TYPES).sort();
}

/** GPU model and count of an EC2 instance type; undefined for instance types the catalogue does not know. */
export function instanceGpu(instanceType: string): InstanceGpu | undefined {
    const entry = INSTANCE_TYPES[instanceType];
    if (!entry) return undefined;
    const spec = GPU_SPECS[entry.gpu];
    return { gpu: entry.gpu, count: entry.count, memoryGiB: spec.memoryGiB, migCapable: spec.migCapable };
}

/** The device plugin's resource name of a MIG profile under the `mixed` strategy (NVIDIA k8s-device-plugin). */
export function migResourceName(profile: string): string {
    return `nvidia.com/mig-${profile}`;
}

/**
 * What the device plugin advertises on one node of `instanceType`, resource name → devices: whole GPUs
 * (`nvidia.com/gpu`), under `single` the pool's one profile as `nvidia.com/gpu` (GPUs × instances per GPU), under
 * `mixed` one `nvidia.com/mig-<profile>` per profile (NVIDIA k8s-device-plugin, "MIG strategies"). Undefined for
 * an instance type the catalogue does not know.
 */
export function devicesPerNode(instanceType: string, mig?: MigDevices): Record<string, number> | undefined {
    const hw = instanceGpu(instanceType);
    if (!hw) return undefined;
    return Object.fromEntries(Object.entries(devicesPerGpu(mig)).map(([resource, n]) => [resource, hw.count * n]));
}

/** A pool's MIG strategy and per-GPU layout (profile → instances). */
export interface MigDevices {
    strategy: "none" | "single" | "mixed" | string;
    layout: Record<string, number>;
}

/** The resources one GPU contributes under `mig`, resource name → devices (see devicesPerNode). */
export function devicesPerGpu(mig?: MigDevices): Record<string, number> {
    const strategy = mig?.strategy ?? "none";
    const layout = mig?.layout ?? {};
    if (strategy === "mixed") return Object.fromEntries(Object.entries(layout).map(([profile, n]) => [migResourceName(profile), n]));
    if (strategy === "single") return { "nvidia.com/gpu": Object.values(layout)[0] ?? 1 };
    return { "nvidia.com/gpu": 1 };
}

// ---------------------------------------------------------------------------------------------------------------
// MIG profiles. Names and max counts as in NVIDIA's default mig-parted config; slices per the MIG user guide:
// `Ng.Mgb` takes N compute slices and round(M / (GPU memory / 8)) memory slices.

type ProfileRow = [name: string, computeSlices: number, memorySlices: number, maxCount: number];

const PROFILES_80GB: ProfileRow[] = [
    ["1g.10gb", 1, 1, 7],
    ["1g.10gb+me", 1, 1, 1],
    ["1g.20gb", 1, 2, 4],
    ["2g.20gb", 2, 2, 3],
    ["3g.40gb", 3, 4, 2],
    ["4g.40gb", 4, 4, 1],
    ["7g.80gb", 7, 8, 1],
];

const PROFILE_ROWS: Partial<Record<GpuModel, ProfileRow[]>> = {
    "A100-40GB": [
        ["1g.5gb", 1, 1, 7],
        ["1g.5gb+me", 1, 1, 1],
        ["1g.10gb", 1, 2, 4],
        ["2g.10gb", 2, 2, 3],
        ["3g.20gb", 3, 4, 2],
        ["4g.20gb", 4, 4, 1],
        ["7g.40gb", 7, 8, 1],
    ],
    // A100-80GB and H100-80GB share NVIDIA's 80 GB profile set (same names, slices and counts).
    "A100-80GB": PROFILES_80GB,
    "H100-80GB": PROFILES_80GB,
    "H200-141GB": [
        ["1g.18gb", 1, 1, 7],
        ["1g.18gb+me", 1, 1, 1],
        ["1g.35gb", 1, 2, 4],
        ["2g.35gb", 2, 2, 3],
        ["3g.71gb", 3, 4, 2],
        ["4g.71gb", 4, 4, 1],
        ["7g.141gb", 7, 8, 1],
    ],
};

/** MIG profiles of a GPU model, keyed by profile name; `{}` for GPUs without MIG. Returns a fresh copy. */
export function migProfiles(gpu: GpuModel): Record<string, MigProfile> {
    const rows = PROFILE_ROWS[gpu] ?? [];
    return Object.fromEntries(
        rows.map(([name, computeSlices, memorySlices, maxCount]) => [
            name,
            { name, computeSlices, memorySlices, maxCount, mediaExtension: name.endsWith("+me") },
        ]),
    );
}

/**
 * Memory-slice offsets where an instance of this profile may start (NVIDIA `nvidia-smi mig -lgipp`, identical on
 * A100, H100 and H200): 1 slice → {0..6} (slice 7 has no compute slice of its own), 1g with 2 slices → {0,2,4,6},
 * 2g → {0,2,4}, 3g → {0,4}, 4g → {0}, 7g → {0}. Empty for an unknown profile.
 */
export function migPlacements(gpu: GpuModel, profileName: string): number[] {
    const p = migProfiles(gpu)[profileName];
    if (!p) return [];
    if (p.memorySlices === 1) return [0, 1, 2, 3, 4, 5, 6];
    if (p.memorySlices === 2) return p.computeSlices === 1 ? [0, 2, 4, 6] : [0, 2, 4];
    if (p.memorySlices === 4) return p.computeSlices === 3 ? [0, 4] : [0];
    return [0];
}

/** "4g.20gb + 3g.20gb + 2 × 1g.5gb" — a layout in the words the error messages use. */
export function describeLayout(layout: Record<string, number>): string {
    return Object.entries(layout)
        .map(([name, count]) => (count === 1 ? name : `${count} × ${name}`))
        .join(" + ");
}

/**
 * Whether one GPU of this model can be partitioned into `layout` (profile → instances per GPU), and why not.
 * Checks, in order: MIG support, non-empty layout, positive integer counts, known profiles, at most one `+me`
 * instance, per-profile max counts, compute slices ≤ 7, memory slices ≤ 8, then a placement search over
 * NVIDIA's valid start offsets.
 */
export function layoutFits(gpu: GpuModel, layout: Record<string, number>): FitResult {
    if (!isMigCapable(gpu)) return { ok: false, reason: `${gpu} does not support MIG` };
    const entries = Object.entries(layout);
    if (entries.length === 0) return { ok: false, reason: "the MIG layout is empty" };
    const profiles = migProfiles(gpu);
    for (const [name, count] of entries) {
        if (!Number.isInteger(count) || count < 1) {
            return { ok: false, reason: `${name}: count ${count} must be a positive integer` };
        }
        const profile = profiles[name];
        if (!profile) {
            return {
                ok: false,
                reason: `unknown MIG profile "${name}" for ${gpu} (known: ${Object.keys(profiles).join(", ")})`,
            };
        }
    }
    // Checked before the per-profile maximum so that `2 × 1g.10gb+me` gets the explanatory reason.
    const mediaInstances = entries.filter(([name]) => profiles[name].mediaExtension).reduce((n, [, c]) => n + c, 0);
    if (mediaInstances > 1) {
        return {
            ok: false,
            reason: `${describeLayout(layout)} has ${mediaInstances} +me instances, a GPU allows at most one`,
        };
    }
    for (const [name, count] of entries) {
        if (count > profiles[name].maxCount) {
            return { ok: false, reason: `${count} × ${name} exceeds the maximum of ${profiles[name].maxCount} per ${gpu}` };
        }
    }
    const compute = entries.reduce((n, [name, c]) => n + profiles[name].computeSlices * c, 0);
    if (compute > MIG_COMPUTE_SLICES) {
        return {
            ok: false,
            reason: `${describeLayout(layout)} needs ${compute} compute slices, the GPU has ${MIG_COMPUTE_SLICES}`,
        };
    }
    const memory = entries.reduce((n, [name, c]) => n + profiles[name].memorySlices * c, 0);
    if (memory > MIG_MEMORY_SLICES) {
        return {
            ok: false,
            reason: `${describeLayout(layout)} needs ${memory} memory slices, the GPU has ${MIG_MEMORY_SLICES}`,
        };
    }
    if (!findPlacement(gpu, layout)) {
        return {
            ok: false,
            reason: `${describeLayout(layout)} has no valid placement on ${gpu} (NVIDIA's MIG start offsets leave no arrangement without overlap)`,
        };
    }
    return { ok: true };
}

/**
 * A non-overlapping placement for `layout` (profile → start offsets), or undefined if none exists. Backtracking over
 * instances sorted largest first; at most 7 instances and 8 offsets, so this is instant.
 */
export function findPlacement(gpu: GpuModel, layout: Record<string, number>): Record<string, number[]> | undefined {
    const profiles = migProfiles(gpu);
    const instances: string[] = [];
    for (const [name, count] of Object.entries(layout)) {
        if (!profiles[name]) return undefined;
        for (let i = 0; i < count; i++) instances.push(name);
    }
    instances.sort((a, b) => profiles[b].memorySlices - profiles[a].memorySlices || a.localeCompare(b));
    const used: boolean[] = new Array(MIG_MEMORY_SLICES).fill(false);
    const starts: Array<[string, number]> = [];
    const place = (i: number, minStartForSame: number): boolean => {
        if (i === instances.length) return true;
        const name = instances[i];
        const size = profiles[name].memorySlices;
        for (const start of migPlacements(gpu, name)) {
            // identical instances are interchangeable: only try increasing offsets for a run of the same profile
            if (start < minStartForSame) continue;
            if (start + size > MIG_MEMORY_SLICES) continue;
            let free = true;
            for (let s = start; s < start + size; s++) free = free && !used[s];
            if (!free) continue;
            for (let s = start; s < start + size; s++) used[s] = true;
            starts.push([name, start]);
            const next = instances[i + 1];
            if (place(i + 1, next === name ? start + 1 : 0)) return true;
            starts.pop();
            for (let s = start; s < start + size; s++) used[s] = false;
        }
        return false;
    };
    if (!place(0, 0)) return undefined;
    const result: Record<string, number[]> = {};
    for (const [name, start] of starts) (result[name] ??= []).push(start);
    return result;
}

/** Compute slices a layout uses on one GPU (unknown profiles count 0). */
export function layoutComputeSlices(gpu: GpuModel, layout: Record<string, number>): number {
    const profiles = migProfiles(gpu);
    return Object.entries(layout).reduce((n, [name, c]) => n + (profiles[name]?.computeSlices ?? 0) * c, 0);
}

/** Memory slices a layout uses on one GPU (unknown profiles count 0). */
export function layoutMemorySlices(gpu: GpuModel, layout: Record<string, number>): number {
    const profiles = migProfiles(gpu);
    return Object.entries(layout).reduce((n, [name, c]) => n + (profiles[name]?.memorySlices ?? 0) * c, 0);
}
