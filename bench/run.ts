/**
 * `npm run bench [-- --skip-suite] [--sizes 10,100,500] [--repeat 2] [--samples 300] [--seed 7]`
 *
 * Benchmarks report; they never fail (the exit code is 0 unless the benchmark itself crashes) and `npm test` does
 * not run them. Three sections:
 *
 *   (a) Plan scaling: the offline plan (tools/harness.ts `runStack`, what `npm run plan` runs) of synthetic dev-like
 *       stacks with N models (built from source, round-robin over a whole-GPU L4 pool, a mixed-MIG A100 pool, an
 *       A10G pool and CPU; every third model with a canary). One child process per size (fresh module cache,
 *       honest memory): wall time of a cold run (module loading and TypeScript transpilation included, as
 *       `npm run plan` pays it) and of a warm second run in the same process, resources declared, ms per resource,
 *       and the child's peak RSS (`process.resourceUsage().maxRSS`).
 *   (b) Capacity: the heterogeneous MIG planner (`planHeterogeneous`) against the brute-force optimum, the
 *       configured uniform layout, the best uniform layout and the naive one-replica-per-GPU baseline, on seeded
 *       random small demands per GPU model. Ratio = optimum GPUs ÷ GPUs of the method (1 = optimal).
 *   (c) Suite: wall time of `npx tsc --noEmit -p .` and `npm test` (skipped with `--skip-suite`).
 *
 * Prints a table, writes `bench/results.json` (gitignored) and `bench/RESULTS.md` (committed: the latest figures).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { bestUniformLayout, planHeterogeneous, uniformGpus, usedComputeSlices } from "../components/gpu/packing";
import { naiveGpus, optimumGpus } from "./capacity/baselines";
import { GpuModel, layoutFits, migProfiles } from "../domain/gpu/catalogue";
import { command, REPO_ROOT, runMain, table, UsageError, Values } from "../scripts/cli";

const SECTIONS = ["plan", "capacity", "suite"] as const;

export const benchCommand = command({
  name: "bench",
  usage: ["[--skip-suite] [--sizes 10,100,500] [--repeat 2] [--samples 300] [--seed 7] [--only plan|capacity|suite]"],
  description: `
Benchmarks (they report, never fail): (a) offline-plan scaling of synthetic stacks, (b) the MIG capacity planner
against the exact optimum and simpler layouts, (c) type-check and test-suite time. Prints tables and writes
bench/results.json (gitignored) and bench/RESULTS.md.`,
  options: {
    "skip-suite": { type: "boolean", help: "skip section (c), the type check and test suite timing" },
    sizes: { type: "string", value: "n,n,…", help: "model counts of the synthetic stacks in (a) (default 10,100,500)" },
    repeat: { type: "string", value: "n", help: "fresh child processes per size in (a); the fastest is reported (default 2)" },
    samples: { type: "string", value: "n", help: "random demands per GPU and family in (b) (default 300)" },
    seed: { type: "string", value: "n", help: "seed of the random demands in (b) (default 7)" },
    only: { type: "string", value: SECTIONS.join("|"), help: "run one section; the others keep their previous figures" },
  },
});

// ---------------------------------------------------------------------------------------------------------------
// (a) Plan scaling

/** The MIG layout of the synthetic stacks' A100 pool (NVIDIA's "balanced" 3g + 2g + 2 × 1g). */
const SYNTHETIC_MIG_LAYOUT = { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 };
const SYNTHETIC_PROFILES = Object.keys(SYNTHETIC_MIG_LAYOUT);

/**
 * A dev-like stack config with `n` models: built from source (images/model-server), round-robin over CPU, an L4
 * pool (whole GPUs), a mixed-MIG A100-80GB pool (profiles cycling over its layout) and an A10G pool; every third
 * model has a canary. Pools are sized so that the capacity plan fits (no warnings).
 */
export function syntheticStack(n: number): { config: Record<string, unknown> } {
  const models = Array.from({ length: n }, (_, i) => {
    const kind = i % 4;
    const maxReplicas = 2 + (i % 3);
    const gpu =
      kind === 1
        ? { pool: "l4", count: 1 }
        : kind === 2
          ? { pool: "a100-mig", profile: SYNTHETIC_PROFILES[Math.floor(i / 4) % SYNTHETIC_PROFILES.length] }
          : kind === 3
            ? { pool: "a10g", count: 1 }
            : undefined;
    return {
      name: `model-${String(i).padStart(4, "0")}`,
      version: `1.${i % 10}.${i % 7}`,
      image: { build: { context: "images/model-server" } },
      port: 8080,
      resources: { cpu: "1", memory: "4Gi" },
      ...(gpu ? { gpu } : {}),
      autoscaling: { minReplicas: 1, maxReplicas, targetCpuUtilization: 70 },
      startupBudgetSeconds: 300,
      ...(i % 3 === 0
        ? { canary: { steps: [10, 50, 100], pauseSeconds: 60, analysis: { successRate: 0.95, p99LatencyMs: 800, maxAccuracyDrop: 0.05 } } }
        : {}),
    };
  });
  const nodes = Math.max(3, n); // generous: the benchmark measures the plan, not a capacity warning
  return {
    config: {
      "aws:region": "us-east-1",
      "model-fleet:environment": "development",
      "model-fleet:cluster": { name: "ml-bench" },
      "model-fleet:registry": {
        type: "ecr",
        repositoryPrefix: "model-fleet",
        retention: { keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*", "rollback-*"] },
        replication: { region: "us-west-2" },
      },
      "model-fleet:gpuPools": [
        { name: "l4", instanceType: "g6.xlarge", capacityType: "SPOT", minSize: 0, desiredSize: 1, maxSize: nodes },
        { name: "a100-mig", instanceType: "p4de.24xlarge", minSize: 0, desiredSize: 1, maxSize: nodes, mig: { strategy: "mixed", layout: SYNTHETIC_MIG_LAYOUT } },
        { name: "a10g", instanceType: "g5.xlarge", minSize: 0, desiredSize: 1, maxSize: nodes },
      ],
      "model-fleet:models": models,
      "model-fleet:rollouts": { prometheusUrl: "http://prometheus-operated.monitoring.svc.cluster.local:9090", trafficRouting: "none" },
      "model-fleet:serving": { namespace: "models", ingressNamespace: "ingress-nginx", monitoringNamespace: "monitoring", prometheusOperator: false },
      "model-fleet:build": { requireCleanTree: false },
    },
  };
}

export interface PlanChildResult {
  models: number;
  resources: number;
  warnings: number;
  coldMs: number;
  warmMs: number;
  /** CPU time (user + system, all threads incl. GC helpers) of the cold and warm plans. */
  coldCpuMs: number;
  warmCpuMs: number;
  /** RSS after loading the harness, before the first plan (MiB). */
  baselineRssMiB: number;
  /** Peak RSS of the child process (MiB). */
  peakRssMiB: number;
}

/** Runs in the child: plans `file` twice (cold, then warm) and reports. */
async function planChild(file: string, models: number): Promise<PlanChildResult> {
  const baselineRssMiB = process.memoryUsage().rss / 2 ** 20;
  const { runStack } = await import("../tools/harness");
  const cpu = (since: NodeJS.CpuUsage): number => {
    const d = process.cpuUsage(since);
    return (d.user + d.system) / 1000;
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  // Keep only the counts: holding the first run's resources would inflate the warm run's memory.
  const { resources, warnings } = await runStack(file, { configFile: file }).then((r) => ({ resources: r.resources.length, warnings: r.warnings.length }));
  const coldMs = performance.now() - t0;
  const coldCpuMs = cpu(c0);
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  await runStack(file, { configFile: file });
  const warmMs = performance.now() - t1;
  const warmCpuMs = cpu(c1);
  return { models, resources, warnings, coldMs, warmMs, coldCpuMs, warmCpuMs, baselineRssMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

export interface PlanScalingRow extends PlanChildResult {
  coldMsPerResource: number;
  warmMsPerResource: number;
}

/** Section (a): one child process per size. */
export function planScaling(sizes: readonly number[], log: (s: string) => void = () => undefined, repeat = 2): PlanScalingRow[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-bench-"));
  try {
    return sizes.map((n) => {
      const file = path.join(dir, `bench-${n}.yaml`);
      fs.writeFileSync(file, YAML.stringify(syntheticStack(n)));
      // The machine is shared: of `repeat` fresh child processes, report the one with the fastest cold plan.
      let best: PlanChildResult | undefined;
      for (let i = 0; i < repeat; i++) {
        log(`  plan: ${n} models (run ${i + 1}/${repeat}) …`);
        const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, "--plan-child", file, String(n)], {
          cwd: REPO_ROOT,
          encoding: "utf8",
          env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
          maxBuffer: 64 * 2 ** 20,
        });
        const line = child.stdout.split("\n").find((l) => l.startsWith("PLAN_RESULT "));
        if (child.status !== 0 || !line) throw new Error(`plan child for ${n} models failed (${child.status}):\n${child.stderr}\n${child.stdout}`);
        const r = JSON.parse(line.slice("PLAN_RESULT ".length)) as PlanChildResult;
        if (!best || r.coldMs < best.coldMs) best = r;
      }
      const r = best!;
      return { ...r, coldMsPerResource: r.coldMs / r.resources, warmMsPerResource: r.warmMs / r.resources };
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (b) Capacity planner vs optimum

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

interface RatioStats {
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

const r4 = (x: number): number => Math.round(x * 10000) / 10000;

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
      const pairs = { planner: [] as Array<[number, number]>, bestUniform: [] as Array<[number, number]>, configured: [] as Array<[number, number]>, naive: [] as Array<[number, number]> };
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

// ---------------------------------------------------------------------------------------------------------------
// (c) Suite time

export interface SuiteRow {
  command: string;
  ms: number;
  exitCode: number | null;
  /** `npm test`: mocha's "N passing / M failing" summary. */
  summary?: string;
}

function timeCommand(command: string, args: string[]): SuiteRow {
  const t = performance.now();
  const r = spawnSync(command, args, { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 256 * 2 ** 20, env: { ...process.env, FORCE_COLOR: "0" } });
  const ms = performance.now() - t;
  const out = `${r.stdout ?? ""}\n${r.stderr ?? ""}`;
  const passing = /(\d+) passing/.exec(out)?.[0];
  const failing = /(\d+) failing/.exec(out)?.[0];
  const pending = /(\d+) pending/.exec(out)?.[0];
  const summary = [passing, pending, failing].filter(Boolean).join(", ");
  return { command: [command, ...args].join(" "), ms, exitCode: r.status, ...(summary ? { summary } : {}) };
}

export function suiteTimes(): SuiteRow[] {
  return [timeCommand("npx", ["tsc", "--noEmit", "-p", "."]), timeCommand("npm", ["test"])];
}

// ---------------------------------------------------------------------------------------------------------------
// Report

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
  /** Sections not run this time (`--only`, `--skip-suite`) are carried over from the previous results: their date. */
  carriedOver?: Partial<Record<"planScaling" | "capacity" | "suite", string>>;
}

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

function planTable(r: NonNullable<BenchResults["planScaling"]>): string[][] {
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

function capacityTable(r: NonNullable<BenchResults["capacity"]>): string[][] {
  return [
    ["gpu", "demands", "n", "planner mean / min", "planner optimal", "best uniform mean / min", "configured mean / min", "naive mean / min", "util planner / optimum / naive", "planner ms"],
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

function suiteTable(rows: SuiteRow[]): string[][] {
  return [["command", "time", "exit", "result"], ...rows.map((r) => [`\`${r.command}\``, ms(r.ms), String(r.exitCode), r.summary ?? ""])];
}

function growthText(p: NonNullable<BenchResults["planScaling"]>): string {
  const marginal = (p.marginal ?? []).map((m) => `${m.from}→${m.to} models: ${m.coldMsPerResource.toFixed(2)} (cold) / ${m.warmMsPerResource.toFixed(2)} (warm)`).join("; ");
  return [
    `Growth: ms/resource at the largest size ÷ at the smallest = ${p.coldRatio?.toFixed(2) ?? "n/a"} (cold), ${p.warmRatio?.toFixed(2) ?? "n/a"} (warm) — below 1 because fixed costs (loading Pulumi and the providers, transpiling) weigh on the small stack.`,
    `Marginal ms per extra resource, where fixed costs cancel: ${marginal || "n/a"}; last ÷ first = ${p.marginalRatio?.cold.toFixed(2) ?? "n/a"} (cold) / ${p.marginalRatio?.warm.toFixed(2) ?? "n/a"} (warm), ≈ 1 for linear growth.`,
    `Target: ${p.target}.`,
  ].join(" ");
}

function carried(res: BenchResults, section: "planScaling" | "capacity" | "suite"): string[] {
  const date = res.carriedOver?.[section];
  return date ? [`*Not re-run this time: figures from ${date}.*`, ""] : [];
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
  return lines.join("\n") + "\n";
}

interface BenchArgs {
  skipSuite: boolean;
  sizes: number[];
  repeat: number;
  samples: number;
  seed: number;
  only?: (typeof SECTIONS)[number];
}

function count(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} expects an integer ≥ ${min}, got ${value}`);
  return n;
}

/** The benchmark's settings from its flags (defaults as documented in --help). */
export function benchArgs(v: Values<typeof benchCommand.spec.options>): BenchArgs {
  if (v.only !== undefined && !(SECTIONS as readonly string[]).includes(v.only)) throw new UsageError(`--only expects one of ${SECTIONS.join(", ")}, got ${v.only}`);
  return {
    skipSuite: v["skip-suite"] ?? false,
    sizes: v.sizes === undefined ? [10, 100, 500] : v.sizes.split(",").map((x) => count("sizes", x, 0, 1)),
    // As before: --repeat below 1 runs once.
    repeat: Math.max(1, count("repeat", v.repeat, 2, 0)),
    samples: count("samples", v.samples, 300, 1),
    seed: count("seed", v.seed, 7, 0),
    ...(v.only === undefined ? {} : { only: v.only as BenchArgs["only"] }),
  };
}

async function main(args: BenchArgs): Promise<void> {
  const log = (s: string): void => console.error(s);
  const res: BenchResults = { date: new Date().toISOString(), machine: machine() };
  const run = (section: string): boolean => args.only === undefined || args.only === section;

  if (run("plan")) {
    log("(a) plan scaling");
    const rows = planScaling(args.sizes, log, args.repeat);
    const first = rows[0];
    const last = rows[rows.length - 1];
    const marginal = rows.slice(1).map((r, i) => ({
      from: rows[i].models,
      to: r.models,
      coldMsPerResource: r4((r.coldMs - rows[i].coldMs) / (r.resources - rows[i].resources)),
      warmMsPerResource: r4((r.warmMs - rows[i].warmMs) / (r.resources - rows[i].resources)),
    }));
    res.planScaling = {
      repeat: args.repeat,
      rows,
      ...(rows.length > 1
        ? {
            coldRatio: r4(last.coldMsPerResource / first.coldMsPerResource),
            warmRatio: r4(last.warmMsPerResource / first.warmMsPerResource),
            marginal,
            marginalRatio: {
              cold: r4(marginal[marginal.length - 1].coldMsPerResource / marginal[0].coldMsPerResource),
              warm: r4(marginal[marginal.length - 1].warmMsPerResource / marginal[0].warmMsPerResource),
            },
          }
        : {}),
      target: "500 models in under 20 s on 2 cores (cold), near-linear growth",
    };
    console.log("\n(a) Plan scaling\n" + table(planTable(res.planScaling)));
    console.log(growthText(res.planScaling).replace(/`/g, ""));
  }
  if (run("capacity")) {
    log("(b) capacity");
    const rows = capacityBenchmark(args.samples, args.seed);
    res.capacity = { seed: args.seed, samplesPerRow: args.samples, rows, target: "planner ≥ 95% of optimum (mean ratio)" };
    console.log("\n(b) Capacity plan vs optimum (ratio = optimum GPUs / method GPUs, mean / min)\n" + table(capacityTable(res.capacity)));
  }
  if (run("suite") && !args.skipSuite) {
    log("(c) suite: npx tsc --noEmit -p . and npm test …");
    res.suite = suiteTimes();
    console.log("\n(c) Suite time\n" + table(suiteTable(res.suite).map((r) => r.map((c) => c.replace(/`/g, "")))));
  }
  // Sections not run this time keep their previous figures (marked with their date in RESULTS.md).
  const previousFile = path.join(__dirname, "results.json");
  if (fs.existsSync(previousFile)) {
    const previous = JSON.parse(fs.readFileSync(previousFile, "utf8")) as BenchResults;
    for (const section of ["planScaling", "capacity", "suite"] as const) {
      if (res[section] === undefined && previous[section] !== undefined) {
        (res as any)[section] = previous[section];
        res.carriedOver = { ...res.carriedOver, [section]: previous.carriedOver?.[section] ?? previous.date };
      }
    }
  }
  res.machine.loadAverage = machine().loadAverage;
  fs.writeFileSync(path.join(__dirname, "results.json"), JSON.stringify(res, null, 2) + "\n");
  fs.writeFileSync(path.join(__dirname, "RESULTS.md"), resultsMarkdown(res));
  console.log(`\nWrote bench/results.json and bench/RESULTS.md (${res.machine.nproc} CPUs, Node ${res.machine.node}).`);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === "--plan-child") {
    // Internal: one child process of section (a), started by planScaling() (not a user flag).
    void planChild(argv[1], Number(argv[2])).then(
      (r) => console.log(`PLAN_RESULT ${JSON.stringify(r)}`),
      (e: Error) => {
        console.error(e?.stack ?? String(e));
        process.exitCode = 1;
      },
    );
  } else {
    // A benchmark reports; a crash is still worth a non-zero exit so that it is noticed.
    void runMain(benchCommand, (values) => main(benchArgs(values)), argv);
  }
}
