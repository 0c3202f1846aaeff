/**
 * Pure parts of progressive delivery (components/rollouts/canary.ts, analysis.ts, ModelCanary's strategy).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import {
    accuracyDropQuery,
    analysisTemplateSpecs,
    ANALYSIS_ARGS,
    clientErrorIncreaseQuery,
    DEFAULT_SERVER_METRICS,
    DEFAULT_MEASUREMENT,
    DEFAULT_SERIES_LABELS,
    durationSeconds,
    latencyP99Query,
    measuredValue,
    measurementArgDefaults,
    MEASUREMENT_ARGS,
    metricsWithDefaults,
    METRIC_NAMES,
    prometheusAuthentication,
    requestVolumeGuard,
    successRateQuery,
    templateMinSeconds,
    validateMeasurement,
    validatePrometheusUrl,
    VALUE_DECIMALS,
} from "../../components/rollouts/analysis";
import {
    argNumber,
    BACKGROUND_INCONCLUSIVE_LIMIT,
    backgroundAnalysis,
    basicCanaryReplicas,
    CanaryConfig,
    canarySteps,
    DEFAULT_BACKGROUND_START_DELAY_SECONDS,
    exposure,
    validateCanary,
} from "../../components/rollouts/canary";
import { scaleCanary } from "../../components/rollouts/timeScale";
import { canaryStrategy, trafficRoutingFor } from "../../components/rollouts/ModelCanary";
import { ANALYSIS_TEMPLATE_NAMES } from "../../components/rollouts/RolloutsController";

const PROD_CANARY: CanaryConfig = {
    steps: [5, 25, 50],
    pauseSeconds: 300,
    analysis: { successRate: 0.99, maxClientErrorIncrease: 0.05, p99LatencyMs: 250, maxAccuracyDrop: 0.03, minFeedbackSamples: 100, minRequests: 100 },
};
const DEV_CANARY: CanaryConfig = {
    steps: [25, 50, 100],
    pauseSeconds: 60,
    analysis: { successRate: 0.95, maxClientErrorIncrease: 0.05, p99LatencyMs: 800, minFeedbackSamples: 100, minRequests: 100 },
};
const TARGET = { model: "sentiment", version: "2.1.4", service: "sentiment-canary" };
const PROM = "http://prometheus-operated.monitoring.svc.cluster.local:9090";
const specs = analysisTemplateSpecs({ prometheusUrl: PROM });
const allMetrics = [specs.successRate, specs.clientErrors, specs.latency, specs.quality].flatMap((s) => s.metrics ?? []);

// ---------------------------------------------------------------------------------------------------------------
// A faithful stand-in for Argo's condition evaluation (utils/evaluate/evaluate.go): resolve {{args.x}}, evaluate
// the expr with `result` bound to the []float64 the prometheus provider builds from a vector, and apply the same
// decision table. The conditions we render only use len(), indexing, comparisons and && — identical in expr and
// JavaScript, including NaN comparing false — so they are evaluated as JavaScript after a strict whitelist check.
// ---------------------------------------------------------------------------------------------------------------
function resolveArgs(s: string, args: Record<string, string>): string {
    return s.replace(/\{\{\s*args\.([A-Za-z0-9-]+)\s*\}\}/g, (_, n: string) => {
        assert.ok(n in args, `unresolved arg ${n}`);
        return args[n];
    });
}

function evalCondition(condition: string, result: number[]): boolean {
    const js = condition.replace(/len\(result\)/g, "result.length");
    assert.match(js, /^[\sresultlngh.\d[\]<>=!&|+-]*$/, `condition uses more than len/index/compare/&&: ${condition}`);
    // expr errors on an out-of-range index (Argo: measurement Error); plain JS would yield undefined.
    const strict = new Proxy(result, {
        get(target, prop) {
            if (typeof prop === "string" && /^\d+$/.test(prop) && Number(prop) >= target.length) throw new RangeError(`index ${prop} out of range`);
            return Reflect.get(target, prop);
        },
    });
    return Boolean(new Function("result", `return (${js});`)(strict));
}

type Phase = "Successful" | "Failed" | "Inconclusive" | "Error";
function evaluateResult(metric: { successCondition?: string; failureCondition?: string }, result: number[], args: Record<string, string>): Phase {
    let success = false;
    let failure = false;
    try {
        if (metric.successCondition) success = evalCondition(resolveArgs(metric.successCondition, args), result);
        if (metric.failureCondition) failure = evalCondition(resolveArgs(metric.failureCondition, args), result);
    } catch {
        return "Error";
    }
    if (!metric.successCondition && !metric.failureCondition) return "Successful";
    if (metric.successCondition && !metric.failureCondition) failure = !success;
    if (!metric.successCondition && metric.failureCondition) success = !failure;
    if (failure) return "Failed";
    if (!success) return "Inconclusive";
    return "Successful";
}

const THRESHOLD_ARGS = {
    [ANALYSIS_ARGS.successRate]: "0.99",
    [ANALYSIS_ARGS.maxClientErrorIncrease]: "0.05",
    [ANALYSIS_ARGS.p99LatencyMs]: "250",
    [ANALYSIS_ARGS.maxAccuracyDrop]: "0.03",
    [ANALYSIS_ARGS.minFeedbackSamples]: "100",
};
const metricNamed = (name: string) => allMetrics.find((m) => m.name === name)!;

// ---------------------------------------------------------------------------------------------------------------
// PromQL well-formedness: brackets balance outside string literals, and every vector selector of a server metric
// carries the model's selector labels.
// ---------------------------------------------------------------------------------------------------------------
function bracketProblems(q: string): string[] {
    const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
    const stack: string[] = [];
    let inString = false;
    for (let i = 0; i < q.length; i++) {
        const c = q[i];
        if (inString) {
            if (c === "\\") i++;
            else if (c === '"') inString = false;
            continue;
        }
        if (c === '"') inString = true;
        else if ("([{".includes(c)) stack.push(c);
        else if (c in pairs) {
            if (stack.pop() !== pairs[c]) return [`unbalanced '${c}' at ${i}`];
        }
    }
    if (inString) return ["unterminated string"];
    return stack.length > 0 ? [`unclosed '${stack.join("")}'`] : [];
}

/** Every `metric{...}` selector: name and its matchers (label values may contain braces, e.g. `{{args.x}}`). */
function selectors(q: string): Array<{ metric: string; matchers: Record<string, string> }> {
    const out: Array<{ metric: string; matchers: Record<string, string> }> = [];
    const head = /([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g;
    let m: RegExpExecArray | null;
    while ((m = head.exec(q)) !== null) {
        const matchers: Record<string, string> = {};
        const matcher = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|\})/y;
        matcher.lastIndex = head.lastIndex;
        let part: RegExpExecArray | null;
        while ((part = matcher.exec(q)) !== null) {
            matchers[`${part[1]}${part[2] === "=" ? "" : part[2]}`] = part[3];
            if (part[4] === "}") break;
        }
        assert.ok(part !== null, `malformed selector after ${m[1]}{ in ${q}`);
        head.lastIndex = matcher.lastIndex;
        out.push({ metric: m[1], matchers });
    }
    return out;
}

describe("rollouts: canary steps", () => {
    const steps = canarySteps(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET);

    it("renders setWeight → pause → analysis for every configured weight, in order", () => {
        assert.equal(steps.length, PROD_CANARY.steps.length * 3);
        PROD_CANARY.steps.forEach((w, i) => {
            assert.deepEqual(steps[3 * i], { setWeight: w });
            assert.deepEqual(steps[3 * i + 1], { pause: { duration: "300s" } });
            assert.ok(steps[3 * i + 2].analysis, `step ${3 * i + 2} is an analysis`);
        });
    });

    it("each gate below 100% runs success rate, client errors, latency and (with maxAccuracyDrop) quality", () => {
        for (const s of steps.filter((x) => x.analysis)) {
            assert.deepEqual(
                s.analysis!.templates!.map((t) => t.templateName),
                [ANALYSIS_TEMPLATE_NAMES.successRate, ANALYSIS_TEMPLATE_NAMES.clientErrors, ANALYSIS_TEMPLATE_NAMES.latency, ANALYSIS_TEMPLATE_NAMES.quality],
            );
        }
        const dev = canarySteps(DEV_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET);
        for (const s of dev.slice(0, 6).filter((x) => x.analysis)) {
            assert.deepEqual(
                s.analysis!.templates!.map((t) => t.templateName),
                [ANALYSIS_TEMPLATE_NAMES.successRate, ANALYSIS_TEMPLATE_NAMES.clientErrors, ANALYSIS_TEMPLATE_NAMES.latency],
            );
            assert.ok(!s.analysis!.args!.some((a) => a.name === ANALYSIS_ARGS.maxAccuracyDrop), "no quality threshold without maxAccuracyDrop");
        }
    });

    it("the gate at 100% judges the canary alone: stable serves no traffic there, so no comparison with it", () => {
        for (const canary of [DEV_CANARY, { ...PROD_CANARY, steps: [5, 25, 50, 100] }]) {
            const rendered = canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, TARGET);
            const at100 = rendered.findIndex((x) => x.setWeight === 100);
            assert.equal(at100, rendered.length - 3, "100% is the last weight");
            assert.deepEqual(
                rendered[at100 + 2].analysis!.templates!.map((t) => t.templateName),
                [ANALYSIS_TEMPLATE_NAMES.successRate, ANALYSIS_TEMPLATE_NAMES.latency],
            );
            // Every earlier gate still compares with stable.
            for (const s of rendered.slice(0, at100).filter((x) => x.analysis)) {
                assert.ok(s.analysis!.templates!.some((t) => t.templateName === ANALYSIS_TEMPLATE_NAMES.clientErrors));
            }
        }
    });

    it("passes model, version, service, namespace, pod hashes and thresholds as args", () => {
        const args = Object.fromEntries(steps[2].analysis!.args!.map((a) => [a.name, a]));
        assert.equal(args[ANALYSIS_ARGS.model].value, "sentiment");
        assert.equal(args[ANALYSIS_ARGS.version].value, "2.1.4");
        assert.equal(args[ANALYSIS_ARGS.service].value, "sentiment-canary");
        assert.deepEqual(args[ANALYSIS_ARGS.namespace].valueFrom, { fieldRef: { fieldPath: "metadata.namespace" } });
        assert.deepEqual(args[ANALYSIS_ARGS.canaryHash].valueFrom, { podTemplateHashValue: "Latest" });
        assert.deepEqual(args[ANALYSIS_ARGS.stableHash].valueFrom, { podTemplateHashValue: "Stable" });
        assert.equal(args[ANALYSIS_ARGS.successRate].value, "0.99");
        assert.equal(args[ANALYSIS_ARGS.maxClientErrorIncrease].value, "0.05");
        assert.equal(args[ANALYSIS_ARGS.p99LatencyMs].value, "250");
        assert.equal(args[ANALYSIS_ARGS.maxAccuracyDrop].value, "0.03");
        assert.equal(args[ANALYSIS_ARGS.minFeedbackSamples].value, "100");
    });

    it("passes the client-error threshold to every gate, the feedback minimum only with the quality gate", () => {
        const custom: CanaryConfig = { ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, maxClientErrorIncrease: 0.02, minFeedbackSamples: 400 } };
        const args = Object.fromEntries(canarySteps(custom, ANALYSIS_TEMPLATE_NAMES, TARGET)[2].analysis!.args!.map((a) => [a.name, a.value]));
        assert.equal(args[ANALYSIS_ARGS.maxClientErrorIncrease], "0.02");
        assert.equal(args[ANALYSIS_ARGS.minFeedbackSamples], "400");
        for (const s of canarySteps(DEV_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET).filter((x) => x.analysis)) {
            const names = s.analysis!.args!.map((a) => a.name);
            assert.ok(
                names.includes(ANALYSIS_ARGS.maxClientErrorIncrease),
                "every gate passes the client-error threshold (Argo ignores args no template declares)",
            );
            assert.ok(names.includes(ANALYSIS_ARGS.stableHash), "…against stable's pods");
            assert.ok(!names.includes(ANALYSIS_ARGS.minFeedbackSamples), "no feedback minimum without the quality gate");
        }
    });

    it("supplies every arg each referenced template declares (Argo fails a run with an unresolved arg)", () => {
        const byName: Record<string, typeof specs.successRate> = {
            [ANALYSIS_TEMPLATE_NAMES.successRate]: specs.successRate,
            [ANALYSIS_TEMPLATE_NAMES.clientErrors]: specs.clientErrors,
            [ANALYSIS_TEMPLATE_NAMES.latency]: specs.latency,
            [ANALYSIS_TEMPLATE_NAMES.quality]: specs.quality,
        };
        for (const canary of [PROD_CANARY, DEV_CANARY]) {
            for (const s of canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, TARGET).filter((x) => x.analysis)) {
                const supplied = new Set(s.analysis!.args!.map((a) => a.name));
                for (const t of s.analysis!.templates!) {
                    for (const a of (byName[t.templateName!].args ?? []).filter((x) => x.value === undefined)) {
                        assert.ok(supplied.has(a.name), `${t.templateName} needs arg ${a.name}`);
                    }
                }
            }
        }
    });

    it("formats thresholds as plain decimals (no exponent notation in conditions)", () => {
        assert.equal(argNumber(0.999), "0.999");
        assert.equal(argNumber(1e-7), "0.0000001");
        assert.equal(argNumber(250), "250");
        assert.throws(() => argNumber(Number.NaN));
    });

    it("rejects configs the steps could not honour", () => {
        assert.throws(() => validateCanary({ ...PROD_CANARY, steps: [] }), /needs at least one step/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, steps: [25, 10] }), /greater than/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, steps: [0, 10] }), /1\.\.100/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, steps: [10, 101] }), /1\.\.100/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, pauseSeconds: -1 }), /pauseSeconds/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, successRate: 0 } }), /successRate/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, p99LatencyMs: 0 } }), /p99LatencyMs/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, maxAccuracyDrop: 1.5 } }), /maxAccuracyDrop/);
        assert.throws(
            () => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, minFeedbackSamples: 0 } }),
            /analysis\.minFeedbackSamples \(0\) must be an integer ≥ 1/,
        );
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, minFeedbackSamples: 2.5 } }), /minFeedbackSamples/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, maxClientErrorIncrease: -0.01 } }), /maxClientErrorIncrease/);
        assert.throws(() => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, maxClientErrorIncrease: 1.5 } }), /maxClientErrorIncrease/);
        assert.doesNotThrow(() => validateCanary(PROD_CANARY));
        assert.doesNotThrow(
            () => validateCanary({ ...PROD_CANARY, analysis: { ...PROD_CANARY.analysis, maxClientErrorIncrease: 0 } }),
            "0: no increase of 4xx tolerated",
        );
    });
});

describe("rollouts: exposure from rendered steps", () => {
    const minSeconds = Object.fromEntries(Object.entries(ANALYSIS_TEMPLATE_NAMES).map(([k, n]) => [n, templateMinSeconds(specs[k as keyof typeof specs])]));

    const cases: Array<[string, CanaryConfig]> = [
        ["prod", PROD_CANARY],
        ["dev", DEV_CANARY],
        ["single step to 100", { ...DEV_CANARY, steps: [100] }],
        ["many small steps", { ...PROD_CANARY, steps: [1, 2, 3, 10, 20, 40, 80] }],
    ];
    for (const [label, canary] of cases) {
        it(`${label}: the weight before the first gate is ≤ the first configured weight`, () => {
            const ex = exposure(canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, TARGET), minSeconds);
            assert.ok(ex.firstGateWeight <= canary.steps[0], `${ex.firstGateWeight} > ${canary.steps[0]}`);
            assert.equal(ex.firstGateWeight, canary.steps[0]);
            assert.equal(ex.gates, canary.steps.length);
        });
    }

    it("minimum time to 100% = pauses + (count − 1) × interval per gate", () => {
        const ex = exposure(canarySteps(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET), minSeconds);
        const perGate = (DEFAULT_MEASUREMENT.count - 1) * durationSeconds(DEFAULT_MEASUREMENT.interval);
        assert.equal(perGate, 240);
        assert.equal(ex.minSecondsToFull, 3 * 300 + 3 * perGate);
    });

    it("is computed from the steps themselves: a missing gate or a jump before it shows up", () => {
        const ungated = exposure([{ setWeight: 10 }, { pause: { duration: "60s" } }, { setWeight: 50 }, { analysis: { templates: [{ templateName: "x" }] } }]);
        assert.equal(ungated.firstGateWeight, 50, "a weight raised before the first analysis counts");
        assert.equal(exposure([{ setWeight: 10 }, { pause: { duration: "1m" } }]).firstGateWeight, 100, "no gate at all means full exposure");
        assert.equal(exposure([{ setWeight: 10 }, { pause: {} }]).minSecondsToFull, Number.POSITIVE_INFINITY, "an indefinite pause is unbounded");
    });

    it("parses Argo durations", () => {
        assert.equal(durationSeconds("300s"), 300);
        assert.equal(durationSeconds("5m"), 300);
        assert.equal(durationSeconds("1h30m"), 5400);
        assert.equal(durationSeconds("45"), 45);
        assert.equal(durationSeconds(45), 45);
        assert.throws(() => durationSeconds("5 minutes"));
    });
});

describe("rollouts: replica-weighted precision (no traffic router)", () => {
    // Port of argo-rollouts approximateWeightedCanaryStableReplicaCounts with the default maxSurge (25%, rounded up).
    it("matches Argo's documented examples", () => {
        // docs/features/canary.md: 10 replicas at 10% → 1 canary / 9 stable.
        assert.deepEqual(basicCanaryReplicas(10, 10, 0), { canary: 1, stable: 9, share: 10 });
        // 10 replicas at 15%, surge allowed: 2 canary / 9 stable (Argo rounds both up).
        assert.equal(basicCanaryReplicas(10, 15).canary + basicCanaryReplicas(10, 15).stable, 11);
    });

    it("is coarse at low replica counts", () => {
        assert.deepEqual(basicCanaryReplicas(1, 25), { canary: 1, stable: 1, share: 50 });
        assert.deepEqual(basicCanaryReplicas(2, 5), { canary: 1, stable: 2, share: 33.3 });
        assert.deepEqual(basicCanaryReplicas(2, 10, 0), { canary: 1, stable: 1, share: 50 });
        assert.equal(basicCanaryReplicas(4, 5).share, 20);
        assert.equal(basicCanaryReplicas(20, 5).share, 5);
        assert.deepEqual(basicCanaryReplicas(3, 100), { canary: 3, stable: 0, share: 100 });
    });
});

describe("rollouts: analysis templates", () => {
    it("every metric has a prometheus provider at rollouts.prometheusUrl, both conditions and all limits", () => {
        assert.equal(allMetrics.length, 4);
        for (const m of allMetrics) {
            assert.equal(m.provider.prometheus?.address, PROM, m.name);
            assert.ok(m.provider.prometheus?.query, `${m.name} query`);
            assert.equal(Object.keys(m.provider).length, 1, `${m.name}: exactly one provider`);
            assert.ok(m.successCondition, `${m.name} successCondition`);
            assert.ok(m.failureCondition, `${m.name} failureCondition`);
            assert.equal(m.interval, DEFAULT_MEASUREMENT.interval);
            assert.equal(m.failureLimit, DEFAULT_MEASUREMENT.failureLimit);
            assert.equal(m.consecutiveErrorLimit, DEFAULT_MEASUREMENT.consecutiveErrorLimit);
        }
        // count, inconclusiveLimit and initialDelay are args; as a step gate (the templates' defaults) they are the policy's.
        const asGate = [specs.successRate, specs.clientErrors, specs.latency, specs.quality].flatMap((s) => metricsWithDefaults(s));
        assert.equal(asGate.length, 4);
        for (const m of asGate) {
            assert.equal(Number(m.count), DEFAULT_MEASUREMENT.count, m.name);
            assert.equal(Number(m.inconclusiveLimit), DEFAULT_MEASUREMENT.inconclusiveLimit, m.name);
            assert.equal(m.initialDelay, "0s", m.name);
        }
    });

    it("metric names are unique across templates (Argo merges them into one run per gate)", () => {
        assert.deepEqual(allMetrics.map((m) => m.name).sort(), Object.values(METRIC_NAMES).sort());
    });

    it("templates declare args without defaults, but the measurement args, whose defaults are equal in every template (Argo merges equal values)", () => {
        for (const s of [specs.successRate, specs.clientErrors, specs.latency, specs.quality]) {
            for (const a of s.args ?? []) {
                if ((MEASUREMENT_ARGS as readonly string[]).includes(a.name)) {
                    assert.equal(a.value, measurementArgDefaults(DEFAULT_MEASUREMENT)[a.name as (typeof MEASUREMENT_ARGS)[number]], a.name);
                } else assert.equal(a.value, undefined, a.name);
                assert.equal(a.valueFrom, undefined, a.name);
            }
            for (const a of [ANALYSIS_ARGS.service, ANALYSIS_ARGS.model, ANALYSIS_ARGS.version, ANALYSIS_ARGS.namespace]) {
                assert.ok(
                    s.args!.some((x) => x.name === a),
                    `declares ${a}`,
                );
            }
        }
    });

    it("every {{args.x}} a template uses is one it declares", () => {
        for (const s of [specs.successRate, specs.clientErrors, specs.latency, specs.quality]) {
            const declared = new Set((s.args ?? []).map((a) => a.name));
            for (const used of JSON.stringify(s.metrics).matchAll(/\{\{args\.([A-Za-z0-9-]+)\}\}/g)) {
                assert.ok(declared.has(used[1]), `uses undeclared ${used[1]}`);
            }
        }
    });

    it("thresholds are args, not constants (one template set serves every model)", () => {
        assert.match(metricNamed(METRIC_NAMES.successRate).successCondition!, /\{\{args\.success-rate\}\}/);
        assert.match(metricNamed(METRIC_NAMES.clientErrors).successCondition!, /\{\{args\.max-client-error-increase\}\}/);
        assert.match(metricNamed(METRIC_NAMES.latency).successCondition!, /\{\{args\.p99-latency-ms\}\}/);
        assert.match(metricNamed(METRIC_NAMES.quality).successCondition!, /\{\{args\.max-accuracy-drop\}\}/);
        for (const m of allMetrics) {
            for (const c of [m.successCondition!, m.failureCondition!]) {
                const rest = c
                    .replace("len(result) > 0", "")
                    .replace("result[0]", "")
                    .replace(/\{\{args\.[a-z0-9-]+\}\}/g, "");
                assert.doesNotMatch(rest, /\d/, `${m.name}: literal number in "${c}"`);
            }
        }
    });

    it("validates the Prometheus URL like Argo does, and signs Amazon Managed Prometheus requests", () => {
        assert.throws(() => validatePrometheusUrl("prometheus:9090"), /http\(s\)|not a URL/);
        assert.throws(() => validatePrometheusUrl("ftp://prom"), /http\(s\)/);
        assert.doesNotThrow(() => validatePrometheusUrl(PROM));
        assert.equal(prometheusAuthentication(PROM), undefined);
        const amp = "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-1234";
        assert.deepEqual(prometheusAuthentication(amp), { sigv4: { region: "us-west-2" } });
        assert.deepEqual(analysisTemplateSpecs({ prometheusUrl: amp }).latency.metrics![0].provider.prometheus!.authentication, {
            sigv4: { region: "us-west-2" },
        });
    });

    it("rejects a measurement policy Argo would reject or that could pass without a good measurement", () => {
        assert.doesNotThrow(() => validateMeasurement(DEFAULT_MEASUREMENT));
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, count: 1, failureLimit: 2 }), /count must be >= failureLimit/);
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, count: 2, inconclusiveLimit: 3 }), /count must be >= inconclusiveLimit/);
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, count: 3, failureLimit: 1, inconclusiveLimit: 2 }), /must be < count/);
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, interval: "1 minute" }), /interval/);
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, failureLimit: -1 }), /failureLimit/);
        assert.throws(() => validateMeasurement({ ...DEFAULT_MEASUREMENT, feedbackWindow: "ten minutes" }), /feedbackWindow/);
    });

    it("the templates use the measurement policy's windows: rate window for requests, feedback window for feedback", () => {
        const custom = analysisTemplateSpecs({ prometheusUrl: PROM, measurement: { ...DEFAULT_MEASUREMENT, rateWindow: "5m", feedbackWindow: "30m" } });
        const queryOf = (spec: typeof custom.successRate) => spec.metrics!.map((m) => m.provider.prometheus!.query!).join("\n");
        for (const spec of [custom.successRate, custom.latency]) {
            assert.match(queryOf(spec), /\[5m\]/);
            assert.doesNotMatch(queryOf(spec), /\[(2m|30m|10m)\]/);
        }
        assert.match(queryOf(custom.quality), /\[30m\]/);
        assert.doesNotMatch(queryOf(custom.quality), /\[(2m|5m|10m)\]/);
    });

    it("request outcomes are two templates: 5xx share (canary alone) and 4xx increase (relative to stable)", () => {
        assert.deepEqual(
            specs.successRate.metrics!.map((m) => m.name),
            [METRIC_NAMES.successRate],
        );
        assert.deepEqual(
            specs.clientErrors.metrics!.map((m) => m.name),
            [METRIC_NAMES.clientErrors],
        );
        assert.ok(!specs.successRate.args!.some((a) => a.name === ANALYSIS_ARGS.stableHash), "the absolute gate needs no stable pods");
        assert.ok(!specs.latency.args!.some((a) => a.name === ANALYSIS_ARGS.stableHash), "the absolute gate needs no stable pods");
        assert.ok(specs.clientErrors.args!.some((a) => a.name === ANALYSIS_ARGS.stableHash));
        assert.ok(specs.quality.args!.some((a) => a.name === ANALYSIS_ARGS.minFeedbackSamples));
    });
});

describe("rollouts: PromQL", () => {
    const queries = { successRate: successRateQuery(), clientErrors: clientErrorIncreaseQuery(), latency: latencyP99Query(), quality: accuracyDropQuery() };

    it("the templates carry exactly these queries, rounded to VALUE_DECIMALS (a value at a decimal threshold is at it)", () => {
        assert.equal(VALUE_DECIMALS, 9);
        const rounded = (q: string) => `round((${q}) * 1e9) / 1e9`;
        assert.equal(measuredValue("x"), rounded("x"));
        assert.equal(metricNamed(METRIC_NAMES.successRate).provider.prometheus!.query, rounded(queries.successRate));
        assert.equal(metricNamed(METRIC_NAMES.clientErrors).provider.prometheus!.query, rounded(queries.clientErrors));
        assert.equal(metricNamed(METRIC_NAMES.latency).provider.prometheus!.query, rounded(queries.latency));
        assert.equal(metricNamed(METRIC_NAMES.quality).provider.prometheus!.query, rounded(queries.quality));
    });

    for (const [name, q] of Object.entries(queries)) {
        it(`${name}: balanced brackets`, () => {
            assert.deepEqual(bracketProblems(q), []);
        });
        it(`${name}: every selector has the model's namespace and name, and one version's pod-template-hash`, () => {
            const sels = selectors(q);
            assert.ok(sels.length >= 1);
            for (const s of sels) {
                assert.equal(s.matchers[DEFAULT_SERIES_LABELS.namespace], "{{args.namespace}}", `${s.metric} namespace`);
                assert.equal(s.matchers[DEFAULT_SERIES_LABELS.model], "{{args.model}}", `${s.metric} model`);
                // Request series: the scraping pod's ReplicaSet. Feedback series: the ReplicaSet that served the
                // prediction, as the server labels it (any pod may count the feedback).
                const hashLabel =
                    s.metric === DEFAULT_SERVER_METRICS.feedbackTotal ? DEFAULT_SERVER_METRICS.servedByLabel : DEFAULT_SERIES_LABELS.podTemplateHash;
                assert.match(s.matchers[hashLabel], /^\{\{args\.(canary|stable)-hash\}\}$/, `${s.metric} ${hashLabel}`);
            }
        });
    }

    it("the bracket checker catches what it is there to catch", () => {
        assert.notDeepEqual(bracketProblems("sum(rate(x[2m])"), []);
        assert.notDeepEqual(bracketProblems('x{a="b"'), []);
        assert.deepEqual(bracketProblems('x{a="(("}'), [], "brackets inside label values are text");
    });

    it("success rate: non-5xx share of the canary's requests, a zero numerator when only 5xx exist", () => {
        const sels = selectors(queries.successRate);
        assert.ok(sels.every((s) => s.metric === "model_server_requests_total"));
        assert.ok(
            sels.every((s) => s.matchers[DEFAULT_SERIES_LABELS.podTemplateHash] === "{{args.canary-hash}}"),
            "canary pods only",
        );
        assert.equal(sels.filter((s) => s.matchers["code!~"] === "5..").length, 1, "numerator excludes 5xx");
        assert.ok(
            sels.every((s) => s.matchers["handler=~"] === "/predict|/v2/infer"),
            "inference requests only (metrics.md)",
        );
        assert.match(queries.successRate, /^\(\(sum\(rate\(.*\)\) or vector\(0\)\) \/ sum\(rate\(/);
        assert.ok(queries.successRate.endsWith(` and on() ${requestVolumeGuard("canary-hash")}`), "only on enough canary requests");
    });

    it("request gates: a minimum-volume guard like the quality gate's, on the requests the gate is about", () => {
        const guard = (hash: string) =>
            `(sum(increase(model_server_requests_total{namespace="{{args.namespace}}",app_kubernetes_io_name="{{args.model}}",rollouts_pod_template_hash="{{args.${hash}}}",handler=~"/predict|/v2/infer"}[2m])) >= {{args.min-requests}})`;
        assert.equal(requestVolumeGuard("canary-hash"), guard("canary-hash"));
        assert.equal(queries.successRate.split(" and on() ").slice(1).join("|"), guard("canary-hash"));
        // Latency: the observations of the histogram it reads (le="+Inf" holds them all).
        assert.equal(
            queries.latency.split(" and on() ").slice(1).join("|"),
            guard("canary-hash")
                .replace("model_server_requests_total", "model_server_request_duration_seconds_bucket")
                .replace('handler=~"/predict|/v2/infer"', 'handler=~"/predict|/v2/infer",le="+Inf"'),
        );
        assert.equal(
            queries.clientErrors.split(" and on() ").slice(1).join("|"),
            `${guard("canary-hash")}|${guard("stable-hash")}`,
            "both sides of the comparison",
        );
        assert.match(requestVolumeGuard("canary-hash", { rateWindow: "30s" }), /\[30s\]/);
        // Every request template declares the arg; the quality gate keeps its own (feedback samples).
        const specs = analysisTemplateSpecs({ prometheusUrl: "http://prometheus:9090" });
        for (const t of [specs.successRate, specs.clientErrors, specs.latency]) assert.ok(t.args!.some((a) => a.name === "min-requests"));
        assert.ok(!specs.quality.args!.some((a) => a.name === "min-requests"));
    });

    it("latency: p99 in ms from the canary's histogram buckets, summed by le", () => {
        assert.match(queries.latency, /^\(1000 \* histogram_quantile\(0\.99, sum by \(le\) \(rate\(model_server_request_duration_seconds_bucket\{/);
        assert.ok(
            selectors(queries.latency).every((s) => s.matchers[DEFAULT_SERIES_LABELS.podTemplateHash] === "{{args.canary-hash}}"),
            "canary pods only",
        );
        assert.ok(
            selectors(queries.latency).every((s) => s.matchers["handler=~"] === "/predict|/v2/infer"),
            "inference requests only",
        );
    });

    it("client errors: canary 4xx share of inference requests (/predict and v2 infer) minus stable's, zero numerators when there are no 4xx", () => {
        const sels = selectors(queries.clientErrors);
        assert.ok(sels.every((s) => s.metric === "model_server_requests_total" && s.matchers["handler=~"] === "/predict|/v2/infer"));
        assert.deepEqual(
            sels.map((s) => [s.matchers[DEFAULT_SERIES_LABELS.podTemplateHash], s.matchers["code=~"]]),
            [
                ["{{args.canary-hash}}", "4.."],
                ["{{args.canary-hash}}", undefined],
                ["{{args.stable-hash}}", "4.."],
                ["{{args.stable-hash}}", undefined],
                // the volume guards
                ["{{args.canary-hash}}", undefined],
                ["{{args.stable-hash}}", undefined],
            ],
        );
        assert.equal(queries.clientErrors.match(/\) or vector\(0\)\) \/ sum\(rate\(/g)?.length, 2, "both numerators fall back to 0");
        assert.match(queries.clientErrors, /^\(\(.*\) - \(.*\)\) and on\(\) \(sum\(increase.* and on\(\) \(sum\(increase.*\)$/);
    });

    it("quality: stable minus canary accuracy from feedback counters of ALL pods, by the version that served", () => {
        const sels = selectors(queries.quality);
        assert.ok(sels.every((s) => s.metric === "model_server_feedback_total"));
        assert.ok(
            sels.every((s) => s.matchers[DEFAULT_SERIES_LABELS.podTemplateHash] === undefined),
            "not restricted to the pods of one ReplicaSet",
        );
        assert.deepEqual(
            sels.map((s) => [s.matchers.served_by, s.matchers.outcome]),
            [
                ["{{args.stable-hash}}", "correct"],
                ["{{args.stable-hash}}", undefined],
                ["{{args.canary-hash}}", "correct"],
                ["{{args.canary-hash}}", undefined],
                ["{{args.canary-hash}}", undefined],
                ["{{args.stable-hash}}", undefined],
            ],
        );
        assert.ok(sels.every((s) => !("le" in s.matchers)));
        assert.match(queries.quality, /^\(\(\(sum\(rate\(.*\)\) - \(\(sum\(rate\(/, "stable's accuracy minus the canary's");
        assert.equal(
            queries.quality.match(/ and on\(\) \(sum\(increase\(model_server_feedback_total\{[^[]*\}\[10m\]\)\) >= \{\{args\.min-feedback-samples\}\}\)/g)
                ?.length,
            2,
            "both versions need the minimum",
        );
        assert.doesNotMatch(queries.quality, /model_server_accuracy\b/, "the per-pod gauge (NaN until a pod's first feedback) is not used");
    });

    it("uses the configured rate window", () => {
        assert.match(successRateQuery({ rateWindow: "5m" }), /\[5m\]/);
        assert.doesNotMatch(successRateQuery({ rateWindow: "5m" }), /\[2m\]/);
        assert.doesNotMatch(clientErrorIncreaseQuery({ rateWindow: "5m" }), /\[2m\]/);
        assert.doesNotMatch(accuracyDropQuery({ feedbackWindow: "20m" }), /\[10m\]/);
    });
});

describe("rollouts: verdicts (Argo's decision table on our conditions)", () => {
    const sr = metricNamed(METRIC_NAMES.successRate);
    const lat = metricNamed(METRIC_NAMES.latency);
    const q = metricNamed(METRIC_NAMES.quality);
    const ce = metricNamed(METRIC_NAMES.clientErrors);

    it("no data (empty vector) is Inconclusive for every metric, never Successful, never an Error", () => {
        for (const m of allMetrics) {
            assert.equal(evaluateResult(m, [], THRESHOLD_ARGS), "Inconclusive", m.name);
        }
    });

    it("NaN (0/0: the canary served nothing) is Inconclusive for every metric", () => {
        for (const m of allMetrics) {
            assert.equal(evaluateResult(m, [Number.NaN], THRESHOLD_ARGS), "Inconclusive", m.name);
        }
    });

    it("the stand-in evaluator agrees with Argo on a success-only condition (empty → Failed would be the bug)", () => {
        assert.equal(evaluateResult({ successCondition: "len(result) > 0 && result[0] >= 0.99" }, [], {}), "Failed");
        assert.equal(evaluateResult({ successCondition: "result[0] >= 0.99" }, [], {}), "Error");
    });

    it("success rate: ≥ threshold passes, below fails (threshold from args)", () => {
        assert.equal(evaluateResult(sr, [0.995], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(sr, [0.99], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(sr, [0.98], THRESHOLD_ARGS), "Failed");
        assert.equal(evaluateResult(sr, [0], THRESHOLD_ARGS), "Failed", "all 5xx");
        assert.equal(evaluateResult(sr, [0.96], { ...THRESHOLD_ARGS, [ANALYSIS_ARGS.successRate]: "0.95" }), "Successful");
    });

    it("latency: ≤ threshold ms passes, above fails, +Inf (beyond the last bucket) fails", () => {
        assert.equal(evaluateResult(lat, [120], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(lat, [250], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(lat, [251], THRESHOLD_ARGS), "Failed");
        assert.equal(evaluateResult(lat, [Number.POSITIVE_INFINITY], THRESHOLD_ARGS), "Failed");
        assert.equal(evaluateResult(lat, [700], { ...THRESHOLD_ARGS, [ANALYSIS_ARGS.p99LatencyMs]: "800" }), "Successful");
    });

    it("client errors: an increase up to maxClientErrorIncrease passes, a larger one fails, fewer 4xx than stable passes", () => {
        assert.equal(evaluateResult(ce, [0.05], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(ce, [0.0501], THRESHOLD_ARGS), "Failed");
        assert.equal(evaluateResult(ce, [0.99], THRESHOLD_ARGS), "Failed", "a canary that 422s what stable served");
        assert.equal(evaluateResult(ce, [-0.2], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(ce, [0], { ...THRESHOLD_ARGS, [ANALYSIS_ARGS.maxClientErrorIncrease]: "0" }), "Successful");
    });

    it("quality: a drop up to maxAccuracyDrop passes, a larger drop fails, an improvement passes", () => {
        assert.equal(evaluateResult(q, [0.01], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(q, [0.03], THRESHOLD_ARGS), "Successful");
        assert.equal(evaluateResult(q, [0.031], THRESHOLD_ARGS), "Failed");
        assert.equal(evaluateResult(q, [-0.02], THRESHOLD_ARGS), "Successful");
    });
});

// ---------------------------------------------------------------------------------------------------------------
// A stand-in for how Argo builds and validates a run from templates + a Rollout's args (argo-rollouts v1.9.0):
// `utils/analysis/helpers.go` flattenArgs (equal values merge, different ones are an error) and MergeArgs (the
// Rollout's value wins), `utils/analysis/factory.go` ResolveMetricArgs (`{{args.x}}` in the metric's JSON),
// `pkg/apis/rollouts/v1alpha1/analysis_types.go` EffectiveCount (count 0 with an interval: runs indefinitely), and
// `pkg/apis/rollouts/validation/validation_references.go` setArgValuePlaceHolder ("dummy-value" for a step gate's
// template args without a value, before it refuses a metric that runs indefinitely).
// ---------------------------------------------------------------------------------------------------------------
type Arg = { name: string; value?: string; valueFrom?: unknown };
function argoFlatten(templates: Array<{ args?: Arg[] }>): Arg[] {
    const out: Arg[] = [];
    for (const t of templates)
        for (const a of t.args ?? []) {
            const prev = out.find((x) => x.name === a.name);
            if (!prev) out.push({ ...a });
            else if (prev.value !== undefined && a.value !== undefined && prev.value !== a.value)
                throw new Error(`Argument \`${a.name}\` specified multiple times with different values`);
            else if (prev.value === undefined) Object.assign(prev, a);
        }
    return out;
}
function argoMerge(incoming: Arg[], templateArgs: Arg[]): Arg[] {
    const out = templateArgs.map((a) => ({ ...a }));
    for (const a of incoming) {
        const t = out.find((x) => x.name === a.name);
        if (t && a.value !== undefined) t.value = a.value;
        else if (t && a.valueFrom !== undefined) t.valueFrom = a.valueFrom;
    }
    return out;
}
function argoResolve(metric: object, args: Arg[]): any {
    const text = JSON.stringify(metric).replace(/\{\{\s*args\.([A-Za-z0-9-]+)\s*\}\}/g, (all, n: string) => {
        const a = args.find((x) => x.name === n);
        return a?.value ?? (a?.valueFrom ? "resolved-at-run-time" : all);
    });
    return JSON.parse(text);
}
/** Go's intstr IntValue: an int, or Atoi of the string (0 when it is not a number). */
const intValue = (v: unknown) => (typeof v === "number" ? v : /^-?\d+$/.test(String(v ?? "")) ? Number(v) : 0);
/** undefined: runs indefinitely. */
function effectiveCount(m: { count?: unknown; interval?: string }): number | undefined {
    if (m.count === undefined || intValue(m.count) === 0) return m.interval ? undefined : 1;
    return intValue(m.count);
}

describe("rollouts: background analysis", () => {
    const templateSpecs: Record<string, typeof specs.successRate> = {
        [ANALYSIS_TEMPLATE_NAMES.successRate]: specs.successRate,
        [ANALYSIS_TEMPLATE_NAMES.clientErrors]: specs.clientErrors,
        [ANALYSIS_TEMPLATE_NAMES.latency]: specs.latency,
        [ANALYSIS_TEMPLATE_NAMES.quality]: specs.quality,
    };
    /** The metrics of the run Argo creates from a RolloutAnalysis (templates + args), resolved. */
    function runMetrics(a: { templates?: Array<{ templateName?: string }>; args?: Arg[] }): any[] {
        const ts = (a.templates ?? []).map((t) => templateSpecs[t.templateName!]);
        const args = argoMerge(a.args ?? [], argoFlatten(ts as Array<{ args?: Arg[] }>));
        return ts.flatMap((t) => t.metrics ?? []).map((m) => argoResolve(m, args));
    }

    it("is on by default: the gates' templates below 100 % and their args, from the first pause (startingStep 1)", () => {
        for (const canary of [PROD_CANARY, DEV_CANARY]) {
            const bg = backgroundAnalysis(canary, ANALYSIS_TEMPLATE_NAMES, TARGET)!;
            assert.ok(bg, "rendered without any backgroundAnalysis key");
            assert.equal(bg.startingStep, 1);
            const firstGate = canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, TARGET).find((s) => s.analysis)!.analysis!;
            assert.deepEqual(bg.templates, firstGate.templates);
            assert.equal(canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, TARGET)[bg.startingStep!].pause !== undefined, true, "step 1 is the first pause");
            assert.deepEqual(
                bg.args!.filter((a) => !(MEASUREMENT_ARGS as readonly string[]).includes(a.name)),
                firstGate.args,
                "the same args as the gates",
            );
        }
    });

    it("as Argo resolves it: runs until the rollout ends (count 0), never Inconclusive, after the start delay; fails like a gate", () => {
        const bg = backgroundAnalysis(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET)!;
        const metrics = runMetrics(bg as any);
        assert.equal(metrics.length, 4);
        for (const m of metrics) {
            assert.equal(effectiveCount(m), undefined, `${m.name} runs indefinitely`);
            assert.equal(intValue(m.inconclusiveLimit), BACKGROUND_INCONCLUSIVE_LIMIT, m.name);
            assert.equal(m.initialDelay, `${DEFAULT_BACKGROUND_START_DELAY_SECONDS}s`);
            assert.equal(m.failureLimit, DEFAULT_MEASUREMENT.failureLimit);
            assert.doesNotMatch(JSON.stringify(m).replace(/\{\{args\.(namespace|canary-hash|stable-hash)\}\}/g, ""), /\{\{args\./, "every arg resolved");
        }
        assert.equal(DEFAULT_BACKGROUND_START_DELAY_SECONDS, durationSeconds(DEFAULT_MEASUREMENT.rateWindow), "the default delay is one rate window");
    });

    it("a step gate, as Argo validates it (placeholders for args without values), still measures count times: not indefinitely", () => {
        for (const t of Object.values(templateSpecs)) {
            const placeholders = (t.args ?? []).map((a) => (a.value === undefined && a.valueFrom === undefined ? { ...a, value: "dummy-value" } : a));
            for (const m of (t.metrics ?? []).map((x) => argoResolve(x, placeholders as Arg[]))) {
                assert.equal(effectiveCount(m), DEFAULT_MEASUREMENT.count, m.name);
                assert.equal(intValue(m.inconclusiveLimit), DEFAULT_MEASUREMENT.inconclusiveLimit);
            }
        }
        for (const s of canarySteps(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET).filter((x) => x.analysis)) {
            for (const m of runMetrics(s.analysis as any)) assert.equal(effectiveCount(m), DEFAULT_MEASUREMENT.count, m.name);
        }
    });

    it("the stand-in is not vacuous: a count arg without a default would make Argo refuse every step gate; different defaults would not merge", () => {
        const noDefault = { ...specs.latency, args: specs.latency.args!.map((a) => (a.name === ANALYSIS_ARGS.count ? { name: a.name } : a)) };
        const placeholders = noDefault.args.map((a) => (a.value === undefined ? { ...a, value: "dummy-value" } : a));
        assert.equal(effectiveCount(argoResolve(noDefault.metrics![0], placeholders as Arg[])), undefined);
        const other = { args: [{ name: ANALYSIS_ARGS.count, value: "3" }] };
        assert.throws(() => argoFlatten([specs.latency as { args?: Arg[] }, other]), /multiple times with different values/);
    });

    it("backgroundAnalysis.enabled false turns it off; startDelaySeconds sets the delay; a bad delay is refused", () => {
        assert.equal(backgroundAnalysis({ ...PROD_CANARY, backgroundAnalysis: { enabled: false } }, ANALYSIS_TEMPLATE_NAMES, TARGET), undefined);
        const bg = backgroundAnalysis({ ...PROD_CANARY, backgroundAnalysis: { startDelaySeconds: 30 } }, ANALYSIS_TEMPLATE_NAMES, TARGET)!;
        assert.equal(bg.args!.find((a) => a.name === ANALYSIS_ARGS.initialDelay)!.value, "30s");
        assert.throws(
            () => backgroundAnalysis({ ...PROD_CANARY, backgroundAnalysis: { startDelaySeconds: -1 } }, ANALYSIS_TEMPLATE_NAMES, TARGET),
            /backgroundAnalysis\.startDelaySeconds/,
        );
    });

    it("ModelCanary's strategy carries it as strategy.canary.analysis, and only when given", () => {
        const base = {
            mode: "nginx" as const,
            steps: [],
            canaryService: "c",
            stableService: "s",
            stableIngress: "s",
            virtualService: "s",
            abortScaleDownDelaySeconds: 30,
        };
        const bg = backgroundAnalysis(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET)!;
        assert.deepEqual(canaryStrategy({ ...base, analysis: bg }).analysis, bg);
        assert.equal("analysis" in canaryStrategy(base), false);
    });

    it("a rehearsal's time scale divides the start delay like the pauses (the default included)", () => {
        assert.equal(scaleCanary(PROD_CANARY, 10).backgroundAnalysis?.startDelaySeconds, DEFAULT_BACKGROUND_START_DELAY_SECONDS / 10);
        assert.equal(scaleCanary({ ...PROD_CANARY, backgroundAnalysis: { enabled: false, startDelaySeconds: 0 } }, 10).backgroundAnalysis?.enabled, false);
        assert.equal(scaleCanary(PROD_CANARY, 1), PROD_CANARY);
    });
});

describe("rollouts: canary strategy per traffic routing mode", () => {
    const steps = canarySteps(PROD_CANARY, ANALYSIS_TEMPLATE_NAMES, TARGET);
    const base = {
        steps,
        canaryService: "sentiment-canary",
        stableService: "sentiment",
        stableIngress: "sentiment",
        virtualService: "sentiment",
        abortScaleDownDelaySeconds: 30,
    };

    it("nginx: stableIngress, both Services, dynamicStableScale", () => {
        const s = canaryStrategy({ ...base, mode: "nginx" });
        assert.deepEqual(s.trafficRouting, { nginx: { stableIngress: "sentiment" } });
        assert.equal(s.stableService, "sentiment");
        assert.equal(s.canaryService, "sentiment-canary");
        assert.equal(s.dynamicStableScale, true);
        assert.equal(s.abortScaleDownDelaySeconds, 30);
    });

    it("istio: a VirtualService with the primary route", () => {
        const s = canaryStrategy({ ...base, mode: "istio" });
        assert.deepEqual(s.trafficRouting, { istio: { virtualService: { name: "sentiment", routes: ["primary"] } } });
        assert.equal(s.dynamicStableScale, true);
        assert.equal(s.stableService, "sentiment");
    });

    it("none: replica-weighted — no router, no dynamicStableScale (Argo rejects it), no stableService (it would starve the canary)", () => {
        const s = canaryStrategy({ ...base, mode: "none" });
        assert.equal(s.trafficRouting, undefined);
        assert.equal(s.dynamicStableScale, undefined);
        assert.equal(s.stableService, undefined);
        assert.equal(s.canaryService, "sentiment-canary");
        assert.equal(trafficRoutingFor("none", base), undefined);
    });

    /**
     * What Argo does with an aborted canary's pods (argo-rollouts v1.9.0, an abort with a stable ReplicaSet):
     * rollout/replicaset.go `shouldDelayScaleDownOnAbort` with utils/defaults/defaults.go
     * `GetAbortScaleDownDelaySecondsOrDefault`. No router: no delay (the abort sets the weight to 0 and the replica
     * math scales the canary down). A router and `abortScaleDownDelaySeconds: 0`: never scaled down. dynamicStableScale
     * with the field unset: no delay (the canary shrinks as stable grows back, utils/replicaset/canary.go
     * `GetDesiredCanaryWeight`). Otherwise: kept for the delay (default 30 s), then scaled to 0.
     */
    const abortScaleDown = (c: { trafficRouting?: unknown; dynamicStableScale?: boolean; abortScaleDownDelaySeconds?: number }): string => {
        if (c.trafficRouting === undefined) return "no delay";
        if (c.abortScaleDownDelaySeconds === 0) return "kept";
        if (c.dynamicStableScale && c.abortScaleDownDelaySeconds === undefined) return "no delay";
        return `after ${c.abortScaleDownDelaySeconds ?? 30} s`;
    };

    it("abort: with a router the canary's pods stay 30 s after traffic went back to stable (dynamicStableScale needs the explicit value for that delay); without one, none", () => {
        assert.equal(abortScaleDown(canaryStrategy({ ...base, mode: "nginx" })), "after 30 s");
        assert.equal(abortScaleDown(canaryStrategy({ ...base, mode: "istio" })), "after 30 s");
        assert.equal(abortScaleDown(canaryStrategy({ ...base, mode: "none" })), "no delay");
        // Without the explicit value dynamicStableScale would scale the canary down at once, with no debugging window.
        const { abortScaleDownDelaySeconds: _unset, ...unset } = canaryStrategy({ ...base, mode: "nginx" });
        assert.equal(abortScaleDown(unset), "no delay");
    });

    it("no stable/canary Service clash in any mode (Argo validation)", () => {
        for (const mode of ["none", "nginx", "istio"] as const) {
            const s = canaryStrategy({ ...base, mode });
            assert.notEqual(s.canaryService, s.stableService);
        }
    });
});

describe("rollouts: citations", () => {
    it("the rollouts, observability and supply-chain sources cite the repository or upstream, never a file outside it", () => {
        const root = path.join(__dirname, "..", "..", "components");
        for (const dir of ["rollouts", "observability", "supplychain"]) {
            for (const f of fs.readdirSync(path.join(root, dir)).filter((x) => x.endsWith(".ts"))) {
                assert.doesNotMatch(fs.readFileSync(path.join(root, dir, f), "utf8"), /\/work\/|\/notes\//, `components/${dir}/${f}`);
            }
        }
    });
});
