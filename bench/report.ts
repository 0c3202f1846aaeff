/** The benchmark's results (bench/results.json) and the committed bench/RESULTS.md rendered from them. */
import * as os from "os";
import type { CapacityRow, RatioStats } from "./capacity/benchmark";
import type { PlanScalingRow } from "./planScaling";
import type { SuiteRow } from "./suite";
import type { EngineResults } from "./engine/benchmark";

export interface BenchResults {
    date: string;
    machine: { nproc: number; cpu: string; node: string; platform: string; totalMemGiB: number; loadAverage: number[] };
    planScaling?: {
        repeat?: number;
        rows: PlanScalingRow[];
        /** ms/resource at the largest size ÷ at the smallest (fixed costs make it < 1). */
        coldRatio?: number;
        warmRatio?: number;
        /** Marginal ms per extra resource between consecutive sizes (fixed costs cancel out). */
        marginal?: Array<{ from: number; to: number; coldMsPerResource: number; warmMsPerResource: number }>;
        /** Last marginal ÷ first marginal: ≈ 1 when growth is linear, > 1 when superlinear. */
        marginalRatio?: { cold: number; warm: number };
        target: string;
    };
    capacity?: { seed: number; samplesPerRow: number; rows: CapacityRow[]; target: string };
    suite?: SuiteRow[];
    engine?: EngineResults;
    /** Sections not run this time (`--only`, `--skip-suite`) are carried over from the previous results: their date. */
    carriedOver?: Partial<Record<Section, string>>;
}

export type Section = "planScaling" | "capacity" | "suite" | "engine";

export function machine(): BenchResults["machine"] {
    return {
        nproc: os.availableParallelism?.() ?? os.cpus().length,
        cpu: os.cpus()[0]?.model ?? "unknown",
        node: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
}

function markdownTable(rows: string[][]): string {
    const [head, ...body] = rows;
    return [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);

export function planTable(r: NonNullable<BenchResults["planScaling"]>): string[][] {
    return [
        ["models", "resources", "cold plan", "ms/resource (cold)", "cold CPU", "warm plan", "ms/resource (warm)", "warm CPU", "peak RSS", "warnings"],
        ...r.rows.map((x) => [
            String(x.models),
            String(x.resources),
            ms(x.coldMs),
            x.coldMsPerResource.toFixed(2),
            ms(x.coldCpuMs),
            ms(x.warmMs),
            x.warmMsPerResource.toFixed(2),
            ms(x.warmCpuMs),
            `${x.peakRssMiB.toFixed(0)} MiB`,
            String(x.warnings),
        ]),
    ];
}

function ratioCell(s: RatioStats | undefined): string {
    if (!s) return "n/a";
    return `${pct(s.mean)} / ${pct(s.min)}${s.infeasible ? ` (${s.infeasible} infeasible)` : ""}`;
}

export function capacityTable(r: NonNullable<BenchResults["capacity"]>): string[][] {
    return [
        [
            "gpu",
            "demands",
            "n",
            "planner mean / min",
            "planner optimal",
            "best uniform mean / min",
            "configured mean / min",
            "naive mean / min",
            "util planner / optimum / naive",
            "planner ms",
        ],
        ...r.rows.map((x) => [
            x.gpu,
            x.family,
            String(x.samples),
            ratioCell(x.planner) + (x.checked ? "" : " (CHECK FAILED)"),
            pct(x.planner.optimal),
            ratioCell(x.bestUniform),
            ratioCell(x.configured),
            ratioCell(x.naive),
            `${pct(x.utilisation.planner)} / ${pct(x.utilisation.optimum)} / ${pct(x.utilisation.naive)}`,
            x.plannerMs.toFixed(2),
        ]),
    ];
}

export function suiteTable(rows: SuiteRow[]): string[][] {
    return [["command", "time", "exit", "result"], ...rows.map((r) => [`\`${r.command}\``, ms(r.ms), String(r.exitCode), r.summary ?? ""])];
}

export function growthText(p: NonNullable<BenchResults["planScaling"]>): string {
    const marginal = (p.marginal ?? [])
        .map((m) => `${m.from}→${m.to} models: ${m.coldMsPerResource.toFixed(2)} (cold) / ${m.warmMsPerResource.toFixed(2)} (warm)`)
        .join("; ");
    return [
        `Growth: ms/resource at the largest size ÷ at the smallest = ${p.coldRatio?.toFixed(2) ?? "n/a"} (cold), ${p.warmRatio?.toFixed(2) ?? "n/a"} (warm) — below 1 because fixed costs (loading Pulumi and the providers, transpiling) weigh on the small stack.`,
        `Marginal ms per extra resource, where fixed costs cancel: ${marginal || "n/a"}; last ÷ first = ${p.marginalRatio?.cold.toFixed(2) ?? "n/a"} (cold) / ${p.marginalRatio?.warm.toFixed(2) ?? "n/a"} (warm), ≈ 1 for linear growth.`,
        `Target: ${p.target}.`,
    ].join(" ");
}

function carried(res: BenchResults, section: Section): string[] {
    const date = res.carriedOver?.[section];
    return date ? [`*Not re-run this time: figures from ${date}.*`, ""] : [];
}

export function engineTable(e: EngineResults): string[][] {
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    return [
        ["models", "resources", "preview", "floor preview", "ratio", "up", "floor up", "ratio", "no-change up", "floor no-change up"],
        ...e.rows.map((r) => [
            String(r.models),
            String(r.resources),
            ms(r.fleet.previewMs),
            ms(r.floor.previewMs),
            ratio(r.fleet.previewMs, r.floor.previewMs),
            ms(r.fleet.upMs),
            ms(r.floor.upMs),
            ratio(r.fleet.upMs, r.floor.upMs),
            ms(r.fleet.noChangeUpMs),
            ms(r.floor.noChangeUpMs),
        ]),
    ];
}

export function engineText(e: EngineResults): string {
    if (!e.fit) return `Target: ${e.target}.`;
    const f = e.fit;
    const line = (name: string, x: { msPerResource: number; fixedMs: number; r2: number }) =>
        `${name} ${x.msPerResource.toFixed(1)} ms/resource + ${(x.fixedMs / 1000).toFixed(1)} s fixed (R² ${x.r2.toFixed(3)})`;
    return [
        `Least-squares lines: ${line("preview", f.fleetPreview)}; floor ${line("preview", f.floorPreview)}; ${line("up", f.fleetUp)}; floor ${line("up", f.floorUp)}.`,
        `Marginal preview cost against the floor: ${(f.fleetPreview.msPerResource / f.floorPreview.msPerResource).toFixed(2)}×.`,
        `Target: ${e.target}.`,
    ].join(" ");
}

/** The committed bench/RESULTS.md. */
export function resultsMarkdown(res: BenchResults): string {
    const m = res.machine;
    const lines = [
        "# Benchmark results",
        "",
        `Generated by \`npm run bench\` on ${res.date}. Machine: ${m.nproc} CPUs (${m.cpu}), ${m.totalMemGiB} GiB RAM, Node ${m.node}, ${m.platform}; load average at the end ${m.loadAverage.join(" / ")} (the machine is shared, so times are indicative).`,
        "",
        "Benchmarks report; they never fail CI and `npm test` does not run them. Definitions: `bench/run.ts` and [docs/testing.md](../docs/testing.md#benchmarks).",
    ];
    if (res.planScaling) {
        const p = res.planScaling;
        lines.push(
            "",
            "## (a) Plan scaling",
            "",
            ...carried(res, "planScaling"),
            `Offline plan (\`runStack\`, the harness \`npm run plan\` uses) of synthetic dev-like stacks: N models built from source, round-robin over CPU, an L4 pool, a mixed-MIG A100 pool and an A10G pool, every third with a canary. A fresh child process per size and run; of ${p.repeat ?? 1} run(s) per size the fastest cold plan is reported (the machine is shared). *Cold* includes loading and transpiling the program (what \`npm run plan\` pays); *warm* is a second plan in the same process.`,
            "",
            markdownTable(planTable(p)),
            "",
            growthText(p),
        );
    }
    if (res.capacity) {
        const c = res.capacity;
        lines.push(
            "",
            "## (b) Capacity plan vs optimum",
            "",
            ...carried(res, "capacity"),
            `Seeded random small MIG demands (seed ${c.seed}, ${c.samplesPerRow} per row). Ratio = optimum GPUs ÷ the method's GPUs (100% = optimal), mean / min over the demands. *planner* = \`planHeterogeneous\` (per-GPU layouts, what \`recommendedLayouts\` reports); *best uniform* = the best single layout for every GPU; *configured* = the balanced 3g + 2g + 2 × 1g layout on every GPU (what a pool configured that way gets today); *naive* = one replica per whole GPU. *balanced* demands use the balanced layout's profiles (1–8 instances each; *balanced-large*: 1–24); *all-profiles* demands use every profile (incl. 4g, 7g, \`+me\`), which the configured layout cannot serve. Utilisation = compute slices used ÷ 7 × GPUs.`,
            "",
            markdownTable(capacityTable(c)),
            "",
            `Target: ${c.target}.`,
        );
    }
    if (res.suite) {
        lines.push("", "## (c) Suite time", "", ...carried(res, "suite"), markdownTable(suiteTable(res.suite)));
    }
    if (res.engine) {
        lines.push(
            "",
            "## (d) The real engine (`npm run bench -- engine`)",
            "",
            ...carried(res, "engine"),
            `\`pulumi preview\`, \`pulumi up\` and a no-change \`up\` of the local stack's shape repeated to N models (bench/engine/stacks.ts), each against the floor: the same engine and Kubernetes provider declaring as many plain ConfigMaps as the fleet stack has resources. Conditions: ${res.engine.conditions}.`,
            "",
            markdownTable(engineTable(res.engine)),
            "",
            engineText(res.engine),
        );
    }
    return lines.join("\n") + "\n";
}
