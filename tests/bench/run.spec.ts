// Smoke test of `npm run bench` (bench/run.ts) on tiny sizes: the sections run and report what docs/testing.md quotes.
// No timing assertions: benchmarks report, they never fail CI.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { capacityBenchmark, mulberry32, randomDemand } from "../../bench/capacity/benchmark";
import { syntheticStack } from "../../bench/planScaling";
import { machine, resultsMarkdown } from "../../bench/report";
import { migProfiles } from "../../domain/gpu/catalogue";
import { runStack } from "../../support/harness";

describe("bench: npm run bench sections on tiny sizes", () => {
    it("(a) the synthetic dev-like stack plans cleanly: N models, builds, canaries, GPU pools, no warnings", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-bench-spec-"));
        try {
            const file = path.join(dir, "bench-4.yaml");
            fs.writeFileSync(file, YAML.stringify(syntheticStack(4)));
            const run = await runStack(file, { configFile: file });
            assert.deepStrictEqual(run.warnings, []);
            assert.deepStrictEqual(Object.keys(run.outputs.models).sort(), ["model-0000", "model-0001", "model-0002", "model-0003"]);
            assert.strictEqual(run.resources.filter((r) => r.type === "docker-build:index:Image").length, 4, "every model is built from source");
            assert.deepStrictEqual(Object.keys(run.outputs.canaries).sort(), ["model-0000", "model-0003"], "every third model has a canary");
            assert.deepStrictEqual(Object.keys(run.outputs.gpuCapacity), ["l4", "a100-mig", "a10g"]);
            assert.ok(run.outputs.gpuCapacity["a100-mig"].recommendedLayouts, "the MIG pool reports its per-GPU recommendation");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("(b) capacity rows: planner never below optimum, layouts checked, naive worst; seeded and reproducible", () => {
        const rows = capacityBenchmark(3, 7, ["H100-80GB"]);
        assert.deepStrictEqual(
            rows.map((r) => [r.gpu, r.family, r.samples]),
            [
                ["H100-80GB", "balanced", 3],
                ["H100-80GB", "balanced-large", 3],
                ["H100-80GB", "all-profiles", 3],
            ],
        );
        for (const r of rows) {
            assert.strictEqual(r.checked, true, "every planner layout fits and the demand is carried exactly");
            assert.ok(r.planner.min <= 1 && r.planner.mean >= r.planner.min);
            assert.ok(r.naive.mean <= r.planner.mean, "naive is never better than the planner");
        }
        assert.ok(rows[0].configured, "balanced demands can be served by the configured layout");
        const figures = (rs: typeof rows) => rs.map(({ plannerMs: _timing, ...rest }) => rest);
        assert.deepStrictEqual(figures(capacityBenchmark(3, 7, ["H100-80GB"])), figures(rows), "same seed, same figures (timings aside)");
        const rnd = mulberry32(1);
        const demand = randomDemand("H100-80GB", "all-profiles", rnd);
        for (const p of Object.keys(demand)) assert.ok(migProfiles("H100-80GB")[p], p);
    });

    it("RESULTS.md renders every section with the machine", () => {
        const md = resultsMarkdown({
            date: "2026-01-01T00:00:00.000Z",
            machine: machine(),
            planScaling: {
                rows: [
                    {
                        models: 1,
                        resources: 10,
                        warnings: 0,
                        coldMs: 100,
                        warmMs: 50,
                        coldCpuMs: 90,
                        warmCpuMs: 45,
                        baselineRssMiB: 100,
                        peakRssMiB: 200,
                        coldMsPerResource: 10,
                        warmMsPerResource: 5,
                    },
                ],
                target: "t",
            },
            capacity: { seed: 7, samplesPerRow: 3, rows: capacityBenchmark(3, 7, ["A100-40GB"]), target: "t" },
            suite: [{ command: "npm test", ms: 1000, exitCode: 0, summary: "1 passing" }],
        });
        for (const heading of ["# Benchmark results", "## (a) Plan scaling", "## (b) Capacity plan vs optimum", "## (c) Suite time"])
            assert.ok(md.includes(heading), heading);
        assert.match(md, new RegExp(`Node ${process.version.replace(/\./g, "\\.")}`));
        assert.match(md, /\| A100-40GB \| balanced \| 3 \|/);
    });
});
