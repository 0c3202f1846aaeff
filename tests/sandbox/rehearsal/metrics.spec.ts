/**
 * The rehearsal's scripted metrics (sandbox/rehearsal/metrics.ts): the latency split that makes Prometheus'
 * histogram_quantile(0.99, …) return a scripted p99 exactly, and the text exposition. Checked against a port of
 * Prometheus' bucketQuantile here, and against the real engine and parser (promtool) when the binary is built.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { bucketMidpoints, exposition, formatValue, histogramSamples, latencySplit, SERVER_BUCKETS } from "../../../sandbox/rehearsal/metrics";
import { needsPromtool } from "./promtool";

/** prometheus v0.316.0 promql/quantile.go BucketQuantile for classic buckets (cumulative counts, +Inf last). */
function bucketQuantile(q: number, bounds: number[], cumulative: number[]): number {
    const n = cumulative[cumulative.length - 1];
    if (n === 0) return NaN;
    const rank = q * n;
    let b = cumulative.findIndex((c, i) => i < cumulative.length - 1 && c >= rank);
    if (b === -1) b = cumulative.length - 1;
    if (b === cumulative.length - 1) return bounds[bounds.length - 2];
    const start = b === 0 ? 0 : bounds[b - 1];
    const count = cumulative[b] - (b === 0 ? 0 : cumulative[b - 1]);
    return start + (bounds[b] - start) * ((rank - (b === 0 ? 0 : cumulative[b - 1])) / count);
}

const cumulate = (shares: number[], n = 1) => shares.reduce<number[]>((acc, s) => [...acc, (acc[acc.length - 1] ?? 0) + s * n], []);

/** Every kind of p99: inside buckets (low and high r), on bounds, in the first bucket's top 1%, beyond 10 s. */
const P99_MS = [
    4.95, 5, 7.3, 10, 12, 24.99, 25, 26, 49.9, 99, 100, 110, 120, 150, 249, 250, 333.3, 499.5, 500, 777, 800, 801, 950, 999.99, 1000, 1500, 2400, 4990, 5000,
    7500, 9999, 10000,
];

describe("rehearsal metrics: latency split", () => {
    it("shares sum to 1 and are never negative", () => {
        for (const ms of [...P99_MS, 12000]) {
            const s = latencySplit(ms / 1000);
            assert.equal(s.length, SERVER_BUCKETS.length + 1);
            assert.ok(
                s.every((x) => x >= 0),
                `${ms}: ${s}`,
            );
            assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-12, `${ms}`);
        }
    });

    it("histogram_quantile(0.99) of the split is the scripted p99 (Prometheus' bucketQuantile, ported)", () => {
        for (const ms of P99_MS) {
            for (const n of [1, 37, 12345.5]) {
                const got = bucketQuantile(0.99, [...SERVER_BUCKETS, Infinity], cumulate(latencySplit(ms / 1000), n)) * 1000;
                assert.ok(Math.abs(got - ms) < 1e-9 * ms, `p99 ${ms} ms with n=${n}: got ${got}`);
            }
        }
    });

    it("the issue's formula: k = n(0.99 − r)/(1 − r) at or below L, the rest inside (L, U]", () => {
        // 120 ms: (0.1, 0.25], r = 0.02/0.15
        const r = 0.02 / 0.15;
        const s = latencySplit(0.12);
        assert.ok(Math.abs(s[4] - (0.99 - r) / (1 - r)) < 1e-12);
        assert.ok(Math.abs(s[5] - (1 - (0.99 - r) / (1 - r))) < 1e-12);
        // 249 ms: r ≥ 0.99 → 0.99/r inside (0.1, 0.25], the rest in the next bucket
        const r2 = (0.249 - 0.1) / 0.15;
        const s2 = latencySplit(0.249);
        assert.ok(Math.abs(s2[5] - 0.99 / r2) < 1e-12 && Math.abs(s2[6] - (1 - 0.99 / r2)) < 1e-12);
    });

    it("beyond the largest finite bucket everything is +Inf, which Prometheus reports as 10 s", () => {
        const s = latencySplit(12);
        assert.equal(s[SERVER_BUCKETS.length], 1);
        assert.equal(bucketQuantile(0.99, [...SERVER_BUCKETS, Infinity], cumulate(s, 10)), 10);
    });

    it("below 99% of the first bucket it cannot be expressed and says so", () => {
        assert.throws(() => latencySplit(0.004), /first bucket/);
        assert.throws(() => latencySplit(0), /must be > 0/);
    });

    it("the real engine agrees (promtool test rules, rate() over counters growing by the split)", function () {
        const promtool = needsPromtool(this);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehearsal-promtool-"));
        const series: Array<{ series: string; values: string }> = [];
        const tests: Array<{ expr: string; eval_time: string; exp_samples: Array<{ labels: string; value: number }> }> = [];
        P99_MS.forEach((ms, i) => {
            const perMinute = cumulate(latencySplit(ms / 1000), 600); // 10 req/s
            [...SERVER_BUCKETS.map(formatValue), "+Inf"].forEach((le, j) => {
                series.push({ series: `d_bucket{case="${i}",pod="a",le="${le}"}`, values: `0+${perMinute[j]}x20` });
                series.push({ series: `d_bucket{case="${i}",pod="b",le="${le}"}`, values: `0+${perMinute[j] * 3}x20` });
            });
            tests.push({
                // Equal up to float rounding (relative 1e-9): 1 = true.
                expr: `abs(1000 * histogram_quantile(0.99, sum by (le) (rate(d_bucket{case="${i}"}[2m]))) - ${ms}) / ${ms} < bool 1e-9`,
                eval_time: "10m",
                exp_samples: [{ labels: "{}", value: 1 }],
            });
        });
        fs.writeFileSync(
            path.join(dir, "test.yml"),
            YAML.stringify({ rule_files: [], evaluation_interval: "1m", tests: [{ interval: "1m", input_series: series, promql_expr_test: tests }] }),
        );
        const r = spawnSync(promtool, ["test", "rules", "test.yml"], { cwd: dir, encoding: "utf8" });
        assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    });
});

describe("rehearsal metrics: exposition", () => {
    it("formats values as prometheus_client does", () => {
        assert.equal(formatValue(1), "1.0");
        assert.equal(formatValue(0.005), "0.005");
        assert.equal(formatValue(10), "10.0");
        assert.equal(formatValue(NaN), "NaN");
        assert.equal(formatValue(Infinity), "+Inf");
        assert.equal(formatValue(12.75), "12.75");
    });

    it("cumulative buckets, +Inf = _count, _sum", () => {
        const counts = [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        const s = histogramSamples({ handler: "/predict", method: "POST" }, counts, 42);
        assert.deepEqual(
            s.filter((x) => x.suffix === "_bucket").map((x) => [x.labels.le, x.value]),
            [
                ["0.005", 1],
                ["0.01", 1],
                ["0.025", 3],
                ["0.05", 3],
                ["0.1", 3],
                ["0.25", 3],
                ["0.5", 3],
                ["1.0", 3],
                ["2.5", 3],
                ["5.0", 3],
                ["10.0", 3],
                ["+Inf", 6],
            ],
        );
        assert.deepEqual(
            s.filter((x) => x.suffix !== "_bucket").map((x) => [x.suffix, x.value]),
            [
                ["_count", 6],
                ["_sum", 42],
            ],
        );
        assert.equal(bucketMidpoints().length, SERVER_BUCKETS.length + 1);
    });

    it("escapes label values", () => {
        const text = exposition([
            { name: "model_server_feedback_total", type: "counter", samples: [{ labels: { served_by: 'a"b\\c\nd', outcome: "correct" }, value: 1 }] },
        ]);
        assert.match(text, /served_by="a\\"b\\\\c\\nd"/);
    });
});
