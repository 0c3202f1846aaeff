/**
 * Every AnalysisTemplate query, evaluated by Prometheus's own engine (`promtool test rules`), and every condition,
 * evaluated by Argo Rollouts' own code (argo-evaluate, linked against argo-rollouts v1.9.0): boundary cases from
 * synthetic series labelled as the real scrape labels them. Run with `npm run test:promql` (needs the tool cache;
 * `npm test` stays offline and does not run it).
 *
 * Templates and args are the program's: analysisTemplateSpecs() with the default measurement policy, args from
 * canary.ts analysisArgs() for the prod stack's canary model, resolved by Argo's ResolveMetricArgs. Only the values
 * Argo itself fills in at run time (namespace, pod-template hashes) are set here, and thresholds where a case says so.
 */
import { strict as assert } from "assert";
import type { IMetric } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric";
import { analysisTemplateSpecs, ANALYSIS_ARGS, DEFAULT_MEASUREMENT, METRIC_NAMES } from "../../components/rollouts/analysis";
import { analysisArgs } from "../../components/rollouts/canary";
import { canarySchema, CanaryConfig } from "../../config/schema";
import { argoMeasure, argoResolve, evaluateRules, InputSeries, Phase, Recorded, sampleValue } from "./harness";
import { argoEvaluate, promtool } from "./toolPaths";
import { readFleetConfig } from "../../support/stackFile";
import {
    CANARY,
    counter,
    EVAL_TIME,
    feedback,
    feedbackMix,
    latency,
    MODEL,
    NS,
    OTHER,
    pod,
    requestMix,
    requests,
    restartedCounter,
    SCRAPE_INTERVAL,
    STABLE,
} from "./series";

type MetricKey = keyof typeof METRIC_NAMES;

/** The prod stack's canary model, through the schema (defaults applied) as the program sees it. */
function prodCanary(): CanaryConfig {
    const model = (readFleetConfig("prod").config.models as any[]).find((m) => m.name === MODEL && m.canary);
    assert.ok(model, `Pulumi.prod.yaml has a canary model ${MODEL}`);
    return canarySchema.parse(model.canary);
}

const CANARY_CONFIG = prodCanary();
/** The analysis step's args as the Rollout passes them, with the values Argo resolves from the Rollout filled in. */
const ARGS = analysisArgs(CANARY_CONFIG, { model: MODEL, version: "2.1.4", service: `${MODEL}-canary` }).map((a) => {
    const fromRollout: Record<string, string> = { [ANALYSIS_ARGS.namespace]: NS, [ANALYSIS_ARGS.canaryHash]: CANARY, [ANALYSIS_ARGS.stableHash]: STABLE };
    const value = a.value ?? fromRollout[a.name];
    assert.ok(value !== undefined, `no value for arg ${a.name}`);
    return { name: a.name, value };
});
const specs = analysisTemplateSpecs({ prometheusUrl: "http://prometheus-operated.monitoring.svc:9090" });
// Argo's MergeArgs (argo-rollouts v1.9.0 `utils/analysis/helpers.go`): an arg the step does not pass takes the
// template's default (the measurement args: count, inconclusive-limit, initial-delay).
for (const a of [specs.successRate, specs.clientErrors, specs.latency, specs.quality].flatMap((s) => s.args ?? [])) {
    if (a.value !== undefined && !ARGS.some((b) => b.name === a.name)) ARGS.push({ name: a.name, value: a.value });
}
const argValue = (name: string) => ARGS.find((a) => a.name === name)!.value;
const TEMPLATE_METRICS: Record<MetricKey, IMetric> = Object.fromEntries(
    [specs.successRate, specs.clientErrors, specs.latency, specs.quality]
        .flatMap((s) => s.metrics ?? [])
        .map((m) => [Object.entries(METRIC_NAMES).find(([, n]) => n === m.name)![0], m]),
) as Record<MetricKey, IMetric>;
const RECORD = (k: MetricKey) => `modelfleet_analysis:${METRIC_NAMES[k].replace(/-/g, "_")}`;
const UNROUNDED = (k: MetricKey) => `modelfleet_analysis_unrounded:${METRIC_NAMES[k].replace(/-/g, "_")}`;

/** The query inside the template's `round((<query>) * 1e9) / 1e9`. */
function unrounded(query: string): string {
    const m = /^round\(\((.*)\) \* 1e9\) \/ 1e9$/s.exec(query);
    assert.ok(m, `template query is not rounded: ${query}`);
    return m[1];
}

/**
 * What the engine must return: no sample, NaN, or a number (± tolerance; `text`: exactly as Prometheus prints it).
 * `unrounded`: what the query gives WITHOUT the template's rounding to 9 decimals, as Prometheus prints it — the float noise
 * that rounding removes at a decimal threshold.
 */
type Expect = { empty: true } | { nan: true } | { value: number; within?: number; text?: string; unrounded?: string };

interface GateCase {
    name: string;
    metric: MetricKey;
    series: InputSeries[];
    expect: Expect;
    phase: Phase;
    /** Threshold args overriding the prod ones for this case's conditions (the query is the same). */
    args?: Record<string, string>;
}

// ------------------------------------------------------------------------------------------------------------
// Building blocks: one or several pods per version, background series that the selectors must ignore.
// ------------------------------------------------------------------------------------------------------------
const canary1 = pod(CANARY, 0);
const canaryPods = [pod(CANARY, 0), pod(CANARY, 1)];
const stablePods = [pod(STABLE, 0), pod(STABLE, 1), pod(STABLE, 2)];
const allPods = [...stablePods, ...canaryPods];

/** Series of the wrong model, namespace or handler, all failing loudly: a selector that let one in would show it. */
const NOISE: InputSeries[] = [
    ...requestMix(pod(CANARY, 2, { model: "summarizer" }), { "200": 1, "500": 50, "422": 50 }),
    ...requestMix(pod(CANARY, 3, { namespace: "models-staging" }), { "200": 1, "503": 50, "413": 50 }),
    requests(canary1, "500", counter(40), "/feedback"),
    requests(canary1, "422", counter(40), "/feedback"),
    requests(canary1, "404", counter(40), "other", "GET"),
    ...latency(canary1, { "10": 5, "+Inf": 5 }, "/feedback"),
    ...latency(pod(CANARY, 2, { model: "summarizer" }), { "+Inf": 10 }),
    feedback(pod(STABLE, 0, { model: "summarizer" }), CANARY, "incorrect", counter(50)),
    feedback(pod(STABLE, 0, { namespace: "models-staging" }), CANARY, "incorrect", counter(50)),
    feedback(pod(STABLE, 0), OTHER, "incorrect", counter(50)),
];

/** A healthy stable: 3 pods, 0.5 % 5xx, 1 % 4xx, p99 ≈ 100 ms. */
const HEALTHY_STABLE_REQUESTS = stablePods.flatMap((p) => [
    ...requestMix(p, { "200": 197, "500": 1, "422": 2 }),
    ...latency(p, { "0.05": 150, "0.1": 48, "0.25": 2 }),
]);

/**
 * Feedback as it really arrives (issue #18): any pod may receive it, so with 3 stable and 2 canary pods most
 * feedback for canary predictions lands on stable pods. Per scrape: `perScrape` labelled samples for the version,
 * `correctShare` of them correct, spread evenly over `receivers` (default: every pod of both versions).
 */
function feedbackFor(
    servedBy: string,
    perScrape: number,
    correctShare: number,
    receivers: typeof allPods = allPods,
    values: (n: number) => string = counter,
): InputSeries[] {
    const correct = Math.round(perScrape * correctShare);
    const perPod = (n: number) => n / receivers.length;
    return feedbackMix(receivers, servedBy, { correct: perPod(correct), incorrect: perPod(perScrape - correct) }, values);
}

const CASES: GateCase[] = [
    // ----- success rate (≥ success-rate, prod 0.99) ------------------------------------------------------------
    {
        name: "success: healthy canary on two pods",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => requestMix(p, { "200": 199, "500": 1 }))],
        expect: { value: 0.995 },
        phase: "Successful",
    },
    {
        name: "success: exactly at the threshold (1 % 5xx) passes",
        metric: "successRate",
        series: canaryPods.flatMap((p) => requestMix(p, { "200": 99, "503": 1 })),
        expect: { value: 0.99, text: "0.99" },
        phase: "Successful",
    },
    {
        name: "success: just below the threshold (1.1 % 5xx)",
        metric: "successRate",
        series: canaryPods.flatMap((p) => requestMix(p, { "200": 989, "500": 11 })),
        expect: { value: 0.989 },
        phase: "Failed",
    },
    {
        name: "success: a canary answering only 5xx reads 0, not no data",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => requestMix(p, { "500": 20, "503": 4 }))],
        expect: { value: 0 },
        phase: "Failed",
    },
    {
        name: "success: 4xx are not 5xx (the client-error metric judges them)",
        metric: "successRate",
        series: canaryPods.flatMap((p) => requestMix(p, { "422": 30 })),
        expect: { value: 1 },
        phase: "Successful",
    },
    {
        name: "success: no canary series at all is empty → Inconclusive",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...NOISE],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "success: an idle canary (series, no requests in the window) is below min-requests: empty → Inconclusive (0/0 = NaN without the guard)",
        metric: "successRate",
        series: canaryPods.flatMap((p) => requestMix(p, { "200": 0, "500": 0 }, (n) => counter(n, 500))),
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "success: a canary pod restarted inside the window (counter reset) still reads its real ratio",
        metric: "successRate",
        series: [...requestMix(canaryPods[0], { "200": 199, "500": 1 }), ...requestMix(canaryPods[1], { "200": 198, "500": 2 }, (n) => restartedCounter(n, 2))],
        expect: { value: 0.9925, within: 0.002 },
        phase: "Successful",
    },
    {
        name: "success: a canary with a single pod",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...requestMix(canary1, { "200": 30, "503": 10 })],
        expect: { value: 0.75 },
        phase: "Failed",
    },
    {
        name: "success: one 5xx in ~60 requests (prod's 5 % first step on light traffic) is below min-requests: empty → Inconclusive",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...requestMix(canary1, { "200": 14.75, "500": 0.25 })],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "success: the same 1-in-60 share on 240 requests (≥ min-requests) decides",
        metric: "successRate",
        series: [...HEALTHY_STABLE_REQUESTS, ...requestMix(canary1, { "200": 59, "500": 1 })],
        expect: { value: 0.983333333 },
        phase: "Failed",
    },
    {
        name: "success: Open Inference Protocol traffic counts (handler /v2/infer): 5xx on v2 fail a canary whose /predict is clean",
        metric: "successRate",
        series: [
            ...HEALTHY_STABLE_REQUESTS,
            ...requestMix(canary1, { "200": 50 }),
            requests(canary1, "200", counter(30), "/v2/infer"),
            requests(canary1, "500", counter(20), "/v2/infer"),
        ],
        expect: { value: 0.8 },
        phase: "Failed",
    },
    {
        name: "success: another model's, another namespace's and other handlers' 5xx do not count",
        metric: "successRate",
        series: [...NOISE, ...HEALTHY_STABLE_REQUESTS, ...requestMix(canary1, { "200": 100 })],
        expect: { value: 1 },
        phase: "Successful",
    },

    // ----- client-error increase (≤ max-client-error-increase, default 0.05) ------------------------------------
    {
        name: "4xx: no 4xx anywhere reads 0 (both numerators fall back to 0)",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 100 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 100, "500": 1 }))],
        expect: { value: 0 },
        phase: "Successful",
    },
    {
        name: "4xx: a canary that 422s everything stable served fails",
        metric: "clientErrors",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => requestMix(p, { "422": 20 }))],
        expect: { value: 0.99 },
        phase: "Failed",
    },
    {
        name: "4xx: all-4xx canary with a single pod (413 and 422) against a stable with no 4xx",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 100 })), ...requestMix(canary1, { "413": 10, "422": 30 })],
        expect: { value: 1 },
        phase: "Failed",
    },
    {
        name: "4xx: exactly at the threshold (canary 5 %, stable 0 %) passes",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 100 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 95, "422": 5 }))],
        expect: { value: 0.05, text: "0.05", unrounded: "0.05000000000000001" },
        phase: "Successful",
    },
    {
        name: "4xx: just over the threshold (canary 5.1 %, stable 0 %)",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 100 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 949, "422": 51 }))],
        expect: { value: 0.051 },
        phase: "Failed",
    },
    {
        name: "4xx: relative to stable — 30 % against stable's 28 % passes",
        metric: "clientErrors",
        series: [
            ...stablePods.flatMap((p) => requestMix(p, { "200": 72, "422": 28 })),
            ...canaryPods.flatMap((p) => requestMix(p, { "200": 70, "413": 10, "422": 20 })),
        ],
        expect: { value: 0.02 },
        phase: "Successful",
    },
    {
        name: "4xx: stable degraded (40 %) while the canary is fine (2 %) passes",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 60, "422": 40 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 98, "422": 2 }))],
        expect: { value: -0.38 },
        phase: "Successful",
    },
    {
        name: "4xx: with max-client-error-increase 0, equal shares pass (identical arithmetic on both sides)",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 90, "422": 10 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 90, "422": 10 }))],
        expect: { value: 0 },
        phase: "Successful",
        args: { [ANALYSIS_ARGS.maxClientErrorIncrease]: "0" },
    },
    {
        name: "4xx: 5xx are not client errors",
        metric: "clientErrors",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => requestMix(p, { "200": 80, "503": 20 }))],
        expect: { value: -0.01 },
        phase: "Successful",
    },
    {
        name: "4xx: no canary series is empty → Inconclusive",
        metric: "clientErrors",
        series: [...HEALTHY_STABLE_REQUESTS, ...NOISE],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "4xx: no stable series is empty → Inconclusive (nothing to compare with)",
        metric: "clientErrors",
        series: canaryPods.flatMap((p) => requestMix(p, { "200": 100 })),
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "4xx: an idle canary is below min-requests: empty → Inconclusive (NaN without the guard)",
        metric: "clientErrors",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => requestMix(p, { "200": 0 }, (n) => counter(n, 300)))],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "4xx: a canary 422ing on too few requests (~60) is empty → Inconclusive",
        metric: "clientErrors",
        series: [...HEALTHY_STABLE_REQUESTS, ...requestMix(canary1, { "200": 10, "422": 5 })],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "4xx: a stable below min-requests is empty → Inconclusive (its share is no baseline)",
        metric: "clientErrors",
        series: [...stablePods.flatMap((p) => requestMix(p, { "200": 2 })), ...canaryPods.flatMap((p) => requestMix(p, { "200": 50, "422": 50 }))],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "4xx: a canary pod restarted inside the window still shows its 4xx share",
        metric: "clientErrors",
        series: [
            ...stablePods.flatMap((p) => requestMix(p, { "200": 100 })),
            ...requestMix(canaryPods[0], { "200": 50, "422": 50 }),
            ...requestMix(canaryPods[1], { "200": 50, "422": 50 }, (n) => restartedCounter(n, 2)),
        ],
        expect: { value: 0.5, within: 0.02 },
        phase: "Failed",
    },

    // ----- latency p99 (≤ p99-latency-ms, prod 250) -------------------------------------------------------------
    {
        name: "latency: fast canary on two pods",
        metric: "latency",
        series: [...HEALTHY_STABLE_REQUESTS, ...canaryPods.flatMap((p) => latency(p, { "0.05": 150, "0.1": 50 }))],
        expect: { value: 98 },
        phase: "Successful",
    },
    {
        name: "latency: a slow v2 infer path is in the canary's p99 beside a fast /predict",
        metric: "latency",
        series: canaryPods.flatMap((p) => [...latency(p, { "0.05": 100 }), ...latency(p, { "2.5": 100 }, "/v2/infer")]),
        expect: { value: 2470, within: 0.001 },
        phase: "Failed",
    },
    {
        name: "latency: exactly at the threshold (99 % ≤ 250 ms) passes",
        metric: "latency",
        series: canaryPods.flatMap((p) => latency(p, { "0.1": 90, "0.25": 9, "0.5": 1 })),
        expect: { value: 250, text: "250" },
        phase: "Successful",
    },
    {
        name: "latency: just over the threshold (98.9 % ≤ 250 ms)",
        metric: "latency",
        series: canaryPods.flatMap((p) => latency(p, { "0.1": 900, "0.25": 89, "0.5": 11 })),
        expect: { value: 272.727, within: 0.001 },
        phase: "Failed",
    },
    {
        name: "latency: p99 beyond the last finite bucket reads as that bucket's bound (10 s) and fails",
        metric: "latency",
        series: canaryPods.flatMap((p) => latency(p, { "0.1": 97, "+Inf": 3 })),
        expect: { value: 10000 },
        phase: "Failed",
    },
    {
        name: "latency: an idle canary (no requests in the window) is below min-requests: empty → Inconclusive (NaN without the guard)",
        metric: "latency",
        series: canaryPods.flatMap((p) => latency(p, {}, "/predict", (n) => counter(0, n + 40))),
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "latency: a slow canary on too few requests (~40) is empty → Inconclusive",
        metric: "latency",
        series: [...HEALTHY_STABLE_REQUESTS, ...latency(canary1, { "0.5": 10 })],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "latency: no canary series is empty → Inconclusive",
        metric: "latency",
        series: [...HEALTHY_STABLE_REQUESTS, ...NOISE],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "latency: a single slow canary pod",
        metric: "latency",
        series: [...HEALTHY_STABLE_REQUESTS, ...NOISE, ...latency(canary1, { "0.25": 80, "0.5": 20 })],
        expect: { value: 487.5 },
        phase: "Failed",
    },
    {
        name: "latency: a canary pod restarted inside the window (bucket counters reset)",
        metric: "latency",
        series: [
            ...latency(canaryPods[0], { "0.05": 150, "0.1": 50 }),
            ...latency(canaryPods[1], { "0.05": 150, "0.1": 50 }, "/predict", (n) => restartedCounter(n, 2)),
        ],
        expect: { value: 98, within: 0.5 },
        phase: "Successful",
    },

    // ----- accuracy drop (≤ max-accuracy-drop, prod 0.03; ≥ min-feedback-samples, default 100, in 10m) -----------
    {
        name: "quality: equal accuracy with plenty of feedback (mostly received by stable pods)",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.9), ...feedbackFor(CANARY, 10, 0.9), ...NOISE],
        expect: { value: 0, within: 1e-12 },
        phase: "Successful",
    },
    {
        name: "quality: a canary 4 points worse fails",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.94), ...feedbackFor(CANARY, 50, 0.9)],
        expect: { value: 0.04 },
        phase: "Failed",
    },
    {
        name: "quality: exactly at the threshold (0.93 − 0.90) passes",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.93), ...feedbackFor(CANARY, 50, 0.9)],
        expect: { value: 0.03, text: "0.03", unrounded: "0.029999999999999916" },
        phase: "Successful",
    },
    {
        name: "quality: just over the threshold (0.931 − 0.90) fails",
        metric: "quality",
        series: [...feedbackFor(STABLE, 1000, 0.931), ...feedbackFor(CANARY, 50, 0.9)],
        expect: { value: 0.031 },
        phase: "Failed",
    },
    {
        name: "quality: a drop of exactly 1/32 against max-accuracy-drop 0.03125 passes (binary-exact in decimal, not after extrapolation)",
        metric: "quality",
        series: [...feedbackFor(STABLE, 64, 1, stablePods.slice(0, 2)), ...feedbackFor(CANARY, 64, 31 / 32, canaryPods)],
        expect: { value: 0.03125, text: "0.03125", unrounded: "0.03125000000000011" },
        phase: "Successful",
        args: { [ANALYSIS_ARGS.maxAccuracyDrop]: "0.03125" },
    },
    {
        name: "quality: a better canary passes",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.88), ...feedbackFor(CANARY, 20, 0.95)],
        expect: { value: -0.07 },
        phase: "Successful",
    },
    {
        name: "quality: stable degraded while the canary is fine passes",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.7), ...feedbackFor(CANARY, 20, 0.9)],
        expect: { value: -0.2 },
        phase: "Successful",
    },
    {
        name: "quality: fewer than min-feedback-samples for the canary is empty → Inconclusive, however bad it looks",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.95), ...feedbackFor(CANARY, 4, 0.25)],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "quality: exactly min-feedback-samples (100 in the window) decides",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.95), ...feedbackFor(CANARY, 5, 0.6)],
        expect: { value: 0.35 },
        phase: "Failed",
    },
    {
        name: "quality: stable with no feedback is empty → Inconclusive",
        metric: "quality",
        series: [...feedbackFor(CANARY, 50, 0.9), ...NOISE],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "quality: stable below min-feedback-samples is empty → Inconclusive",
        metric: "quality",
        series: [...feedbackFor(STABLE, 4, 1), ...feedbackFor(CANARY, 50, 0.5)],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "quality: no feedback at all (no series) is empty → Inconclusive",
        metric: "quality",
        series: [...HEALTHY_STABLE_REQUESTS, ...NOISE],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "quality: feedback stopped (series exist, flat in the window) is empty → Inconclusive",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.9, allPods, (n) => counter(0, n * 10)), ...feedbackFor(CANARY, 10, 0.9, allPods, (n) => counter(0, n * 10))],
        expect: { empty: true },
        phase: "Inconclusive",
    },
    {
        name: "quality: a canary that is never right (no `correct` series) reads accuracy 0, not no data",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.9), ...feedbackFor(CANARY, 10, 0)],
        expect: { value: 0.9 },
        phase: "Failed",
    },
    {
        name: "quality: feedback for the canary received only by stable pods counts for the canary",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.9, stablePods), ...feedbackFor(CANARY, 30, 0.5, stablePods)],
        expect: { value: 0.4 },
        phase: "Failed",
    },
    {
        name: "quality: a canary with a single pod",
        metric: "quality",
        series: [...feedbackFor(STABLE, 100, 0.9, [...stablePods, canary1]), ...feedbackFor(CANARY, 10, 0.9, [...stablePods, canary1])],
        expect: { value: 0, within: 1e-12 },
        phase: "Successful",
    },
    {
        name: "quality: a pod holding canary feedback restarted inside the window (counter reset)",
        metric: "quality",
        series: [
            ...feedbackFor(STABLE, 100, 0.9),
            ...feedbackFor(CANARY, 10, 0.9, stablePods),
            ...feedbackFor(CANARY, 10, 0.9, canaryPods, (n) => restartedCounter(n, 4)),
        ],
        expect: { value: 0, within: 0.01 },
        phase: "Successful",
    },
];

describe("PromQL with the real engine: every AnalysisTemplate query and condition at its boundaries", function () {
    this.timeout(300000);
    const records = {} as Record<MetricKey, string>;
    let resolved = {} as Record<MetricKey, IMetric>;
    let recorded: Map<string, Recorded>;
    let phases: Map<string, { phase: Phase; value: string; message?: string }>;

    before(function () {
        // The real tools, or a failure naming the command that builds them (never a silent skip).
        promtool();
        argoEvaluate();
        const keys = Object.keys(TEMPLATE_METRICS) as MetricKey[];
        // Argo's own arg resolution (query and conditions) with the program's args for the prod canary model.
        const argoResolved = argoResolve(
            keys.map((k) => TEMPLATE_METRICS[k]),
            ARGS,
        );
        resolved = Object.fromEntries(keys.map((k, i) => [k, argoResolved[i]])) as Record<MetricKey, IMetric>;
        for (const k of keys) records[k] = RECORD(k);
        const rules = Object.fromEntries(
            keys.flatMap((k) => [
                [records[k], resolved[k].provider.prometheus!.query!],
                [UNROUNDED(k), unrounded(resolved[k].provider.prometheus!.query!)],
            ]),
        );
        recorded = evaluateRules(rules, CASES, { interval: SCRAPE_INTERVAL, evalTime: EVAL_TIME });
        // Cases with their own thresholds: the same template resolved with those args (the query does not change).
        const metricFor = (c: GateCase): IMetric => {
            if (!c.args) return resolved[c.metric];
            const m = argoResolve(
                [TEMPLATE_METRICS[c.metric]],
                ARGS.map((a) => ({ name: a.name, value: c.args![a.name] ?? a.value })),
            )[0];
            assert.equal(m.provider.prometheus!.query, resolved[c.metric].provider.prometheus!.query);
            return m;
        };
        const measured = argoMeasure(CASES.map((c) => ({ metric: metricFor(c), values: recorded.get(c.name)![records[c.metric]] })));
        phases = new Map(CASES.map((c, i) => [c.name, measured[i]]));
    });

    it("renders the prod canary's args: thresholds from Pulumi.prod.yaml, defaults from the schema", () => {
        assert.equal(argValue(ANALYSIS_ARGS.successRate), "0.99");
        assert.equal(argValue(ANALYSIS_ARGS.p99LatencyMs), "250");
        assert.equal(argValue(ANALYSIS_ARGS.maxAccuracyDrop), "0.03");
        assert.equal(argValue(ANALYSIS_ARGS.maxClientErrorIncrease), "0.05");
        assert.equal(argValue(ANALYSIS_ARGS.minFeedbackSamples), "100");
        // The request cases count requests per 30 s scrape: 4 per window (2m), so 25 per scrape = 100 requests.
        assert.equal(argValue(ANALYSIS_ARGS.minRequests), "100");
        assert.equal(DEFAULT_MEASUREMENT.rateWindow, "2m");
        // The quality cases count feedback per 30 s scrape: 20 scrapes per window (5 per scrape = 100 samples).
        assert.equal(DEFAULT_MEASUREMENT.feedbackWindow, "10m");
    });

    it("Argo resolves every placeholder: concrete queries and conditions", () => {
        for (const [k, m] of Object.entries(resolved)) {
            assert.doesNotMatch(JSON.stringify(m), /\{\{/, `${k} still has a placeholder`);
            assert.ok(m.provider.prometheus!.query!.includes(`namespace="${NS}"`), k);
        }
    });

    it("covers every metric of every template with at least one empty or NaN case and one Failed case", () => {
        for (const k of Object.keys(TEMPLATE_METRICS) as MetricKey[]) {
            const mine = CASES.filter((c) => c.metric === k);
            assert.ok(
                mine.some((c) => c.phase === "Inconclusive"),
                `${k}: no inconclusive case`,
            );
            assert.ok(
                mine.some((c) => c.phase === "Failed"),
                `${k}: no failed case`,
            );
            assert.ok(
                mine.some((c) => c.phase === "Successful"),
                `${k}: no successful case`,
            );
        }
    });

    for (const c of CASES) {
        it(`${c.name}: ${"empty" in c.expect ? "empty" : "nan" in c.expect ? "NaN" : `≈ ${c.expect.value}`} → ${c.phase}`, () => {
            const values = recorded.get(c.name)?.[records[c.metric]];
            assert.ok(values, `promtool reported nothing for ${c.name}`);
            // Our conditions read result[0]: a query must never return more than one series.
            assert.ok(values.length <= 1, `${c.metric} returned ${values.length} series: ${values.join(", ")}`);
            if ("empty" in c.expect) {
                assert.deepEqual(values, [], "expected an empty result");
            } else if ("nan" in c.expect) {
                assert.deepEqual(values, ["NaN"]);
            } else {
                assert.equal(values.length, 1, "expected one sample");
                const v = sampleValue(values[0]);
                const within = c.expect.within ?? 1e-9;
                assert.ok(Math.abs(v - c.expect.value) <= within, `engine value ${values[0]} is not ${c.expect.value} ± ${within}`);
                if (c.expect.text !== undefined) assert.equal(values[0], c.expect.text);
                if (c.expect.unrounded !== undefined) {
                    assert.deepEqual(recorded.get(c.name)![UNROUNDED(c.metric)], [c.expect.unrounded], "the unrounded query's float noise at the threshold");
                }
            }
            const m = phases.get(c.name)!;
            assert.equal(m.phase, c.phase, `Argo measured ${JSON.stringify(m)} on ${JSON.stringify(values)}`);
            assert.notEqual(m.phase, "Error", m.message);
        });
    }
});
