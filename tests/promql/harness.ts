/**
 * Runs AnalysisTemplate queries through Prometheus's engine (`promtool test rules`) and their conditions through
 * Argo Rollouts' own code (argo-evaluate). Nothing here re-implements PromQL or expr.
 *
 * promtool: every query becomes a recording rule; each case is a test group with its own `input_series`. The rules
 * are evaluated by the rule manager exactly as a Prometheus server would, and `--debug` dumps every series (input and
 * recorded) at the end of each group, values printed by `strconv.FormatFloat(v, 'f', -1, 64)` — the formatting the
 * HTTP API uses, so the value handed to Argo is bit-for-bit what the controller would have received.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { IMetric } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric";
import { durationSeconds } from "../../components/rollouts/analysis";
import { argoEvaluate, promtool } from "./toolPaths";

export interface InputSeries {
    /** `metric{label="value",…}` */
    series: string;
    /** promtool expanding notation, e.g. `0+10x40` (one value per `interval`), `_` for a missing scrape. */
    values: string;
}

export interface RuleCase {
    name: string;
    series: InputSeries[];
}

/** What a recording rule produced at the evaluation time: one entry per output series, as Prometheus prints it. */
export type Recorded = Record<string, string[]>;

/**
 * Evaluates `records` (record name → PromQL) over each case's input series and returns, per case, what every rule
 * recorded at `evalTime` (absent record = empty result). Throws with promtool's own output on any rule error.
 */
export function evaluateRules(records: Record<string, string>, cases: RuleCase[], opts: { interval: string; evalTime: string }): Map<string, Recorded> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-promql-"));
    try {
        const rulesFile = path.join(dir, "rules.yml");
        fs.writeFileSync(
            rulesFile,
            YAML.stringify({ groups: [{ name: "analysis", rules: Object.entries(records).map(([record, expr]) => ({ record, expr })) }] }),
        );
        const testFile = path.join(dir, "tests.yml");
        const names = new Set<string>();
        for (const c of cases) {
            if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
            names.add(c.name);
        }
        fs.writeFileSync(
            testFile,
            YAML.stringify({
                rule_files: [rulesFile],
                evaluation_interval: opts.interval,
                tests: cases.map((c) => ({
                    name: c.name,
                    interval: opts.interval,
                    input_series: c.series,
                    // Anchors the evaluation: promtool evaluates the rules up to the latest eval_time of a group.
                    promql_expr_test: [{ expr: "vector(1)", eval_time: opts.evalTime, exp_samples: [{ labels: "{}", value: 1 }] }],
                })),
            }),
        );
        const run = spawnSync(promtool(), ["test", "rules", "--debug", testFile], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
        if (run.error) throw run.error;
        if (run.status !== 0) {
            throw new Error(
                `promtool test rules failed (exit ${run.status}):\n${run.stdout}\n${run.stderr
                    .split("\n")
                    .filter((l) => !/^(DEBUG: Dump|\{|[-+\dNI])/.test(l))
                    .join("\n")}`,
            );
        }
        return parseDumps(run.stderr, new Set(Object.keys(records)), durationSeconds(opts.evalTime) * 1000);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Parses `promtool test rules --debug` output: per test group, the recorded samples at `atMs`. */
export function parseDumps(stderr: string, recordNames: Set<string>, atMs: number): Map<string, Recorded> {
    const out = new Map<string, Recorded>();
    let current: Recorded | undefined;
    let series: string | undefined;
    for (const line of stderr.split("\n")) {
        const start = /^DEBUG: Starting test (.*)$/.exec(line);
        if (start) {
            current = Object.fromEntries([...recordNames].map((r) => [r, [] as string[]]));
            out.set(start[1], current);
            series = undefined;
            continue;
        }
        if (line.startsWith("DEBUG: ")) {
            series = undefined;
            continue;
        }
        if (line.endsWith(" =>")) {
            const name = /__name__="([^"]+)"/.exec(line)?.[1];
            series = name !== undefined && recordNames.has(name) ? name : undefined;
            continue;
        }
        const point = /^(\S+) @\[(-?\d+)\]$/.exec(line);
        if (point && series !== undefined && current !== undefined && Number(point[2]) === atMs) {
            current[series].push(point[1]);
        }
    }
    return out;
}

/** A sample value as Prometheus prints it → number (`+Inf`/`-Inf`/`NaN` included). */
export function sampleValue(text: string): number {
    if (text === "+Inf") return Number.POSITIVE_INFINITY;
    if (text === "-Inf") return Number.NEGATIVE_INFINITY;
    return Number(text);
}

export type Phase = "Successful" | "Failed" | "Inconclusive" | "Error";

interface EvaluateResult {
    metric?: IMetric;
    phase?: Phase;
    value?: string;
    message?: string;
}

function callArgo(input: unknown): EvaluateResult[] {
    const run = spawnSync(argoEvaluate(), [], { input: JSON.stringify(input), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (run.error) throw run.error;
    if (run.status !== 0) throw new Error(`argo-evaluate failed (exit ${run.status}): ${run.stderr}`);
    return (JSON.parse(run.stdout) as { results: EvaluateResult[] }).results;
}

/** Argo's `ResolveMetricArgs`: `{{args.x}}` resolved over the whole metric, as the controller does for a run. */
export function argoResolve(metrics: IMetric[], args: Array<{ name: string; value: string }>): IMetric[] {
    return callArgo({ mode: "resolve", cases: metrics.map((metric) => ({ metric, args })) }).map((r) => r.metric!);
}

/** Argo's Prometheus provider on an instant vector with these sample values (`[]` = empty result). */
export function argoMeasure(items: Array<{ metric: IMetric; values: string[] }>): Array<{ phase: Phase; value: string; message?: string }> {
    return callArgo({ mode: "evaluate", cases: items }).map((r) => ({ phase: r.phase!, value: r.value ?? "", message: r.message }));
}
