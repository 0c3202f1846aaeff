/**
 * `npm run bench [-- --skip-suite] [--sizes 10,100,500] [--repeat 2] [--samples 300] [--seed 7]`
 *
 * Benchmarks report; they never fail (the exit code is 0 unless the benchmark itself crashes) and `npm test` does
 * not run them. Three sections:
 *
 *   (a) Plan scaling: the offline plan (support/harness.ts `runStack`, what `npm run plan` runs) of synthetic dev-like
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
import * as fs from "fs";
import * as path from "path";
import { command, runMain, table, UsageError, Values } from "../scripts/cli";
import { capacityBenchmark, r4 } from "./capacity/benchmark";
import { planScaling } from "./planScaling";
import { BenchResults, capacityTable, engineTable, engineText, growthText, machine, planTable, resultsMarkdown, suiteTable } from "./report";
import { engineBenchmark } from "./engine/benchmark";
import { suiteTimes } from "./suite";

const SECTIONS = ["plan", "capacity", "suite", "engine"] as const;

export const benchCommand = command({
    name: "bench",
    usage: ["[--skip-suite] [--sizes 10,100,500] [--repeat 2] [--samples 300] [--seed 7] [--only plan|capacity|suite]", "engine [--sizes 10,30,100]"],
    description: `
Benchmarks (they report, never fail): (a) offline-plan scaling of synthetic stacks, (b) the MIG capacity planner
against the exact optimum and simpler layouts, (c) type-check and test-suite time. \`engine\` runs only (d): the real
engine's preview, up and no-change up of the local stack with N models against a floor of plain ConfigMaps, on the
sandbox's control plane (needs \`npm run tools -- build sandbox\`; not run by default). Prints tables and writes
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
    if (v.only !== undefined && !(SECTIONS as readonly string[]).includes(v.only))
        throw new UsageError(`--only expects one of ${SECTIONS.join(", ")}, got ${v.only}`);
    return {
        skipSuite: v["skip-suite"] ?? false,
        sizes: v.sizes === undefined ? (v.only === "engine" ? [10, 30, 100] : [10, 100, 500]) : v.sizes.split(",").map((x) => count("sizes", x, 0, 1)),
        repeat: count("repeat", v.repeat, 2, 1),
        samples: count("samples", v.samples, 300, 1),
        seed: count("seed", v.seed, 7, 0),
        ...(v.only === undefined ? {} : { only: v.only as BenchArgs["only"] }),
    };
}

async function main(args: BenchArgs): Promise<void> {
    const log = (s: string): void => console.error(s);
    const res: BenchResults = { date: new Date().toISOString(), machine: machine() };
    // (d) needs the built tools and starts a control plane: only when asked for.
    const run = (section: string): boolean => (args.only === undefined && section !== "engine") || args.only === section;

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
    if (run("engine")) {
        log("(d) the real engine: preview, up and no-change up against the ConfigMap floor …");
        res.engine = await engineBenchmark(args.sizes, log);
        console.log("\n(d) The real engine\n" + table(engineTable(res.engine)));
        console.log(engineText(res.engine));
    }
    // Sections not run this time keep their previous figures (marked with their date in RESULTS.md).
    const previousFile = path.join(__dirname, "results.json");
    if (fs.existsSync(previousFile)) {
        const previous = JSON.parse(fs.readFileSync(previousFile, "utf8")) as BenchResults;
        for (const section of ["planScaling", "capacity", "suite", "engine"] as const) {
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
    // A benchmark reports; a crash is still worth a non-zero exit so that it is noticed.
    // `npm run bench -- engine …` is `--only engine …`.
    const argv = process.argv.slice(2);
    void runMain(benchCommand, (values) => main(benchArgs(values)), argv[0] === "engine" ? ["--only", "engine", ...argv.slice(1)] : argv);
}
