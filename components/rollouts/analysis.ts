/**
 * The shared AnalysisTemplates (pure): one set for every model, parameterised by args; empty and NaN never pass
 * (argo-rollouts v1.9.0 `metricproviders/prometheus/prometheus.go`, `utils/evaluate/evaluate.go`). Gates, verdicts
 * and guarantees: docs/design/canary-analysis.md.
 */
import type { IAnalysisTemplateSpec } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplateSpec";
import type { IMetric } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric";
import type { IAuthentication } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Authentication";
import { DEFAULT_MEASUREMENT, MeasurementPolicy } from "../../domain/measurement";
import { INFERENCE_HANDLER_REGEX } from "../../domain/serving";

export { DEFAULT_MEASUREMENT };
export type { MeasurementPolicy };

/** Names of the shared AnalysisTemplates (RolloutsController.analysisTemplateNames). */
export interface AnalysisTemplateNames {
    successRate: string;
    clientErrors: string;
    latency: string;
    quality: string;
}

/** Arg names shared by the templates and the Rollout's analysis steps (canary.ts). */
export const ANALYSIS_ARGS = {
    service: "service",
    model: "model",
    version: "version",
    namespace: "namespace",
    canaryHash: "canary-hash",
    stableHash: "stable-hash",
    successRate: "success-rate",
    p99LatencyMs: "p99-latency-ms",
    maxAccuracyDrop: "max-accuracy-drop",
    minFeedbackSamples: "min-feedback-samples",
    maxClientErrorIncrease: "max-client-error-increase",
    minRequests: "min-requests",
    // Measurement args (templated fields of every metric, with the measurement policy's values as template defaults):
    // the step gates pass none of them; the background analysis overrides them (canary.ts backgroundAnalysis).
    count: "count",
    inconclusiveLimit: "inconclusive-limit",
    initialDelay: "initial-delay",
} as const;

/**
 * The measurement args every template declares WITH a default (the measurement policy's count and inconclusive
 * limit, no initial delay). Defaults, not step args, because Argo validates a step gate's templates with a
 * placeholder for every arg without a value (argo-rollouts v1.9.0 `pkg/apis/rollouts/validation/validation_references.go`
 * `setArgValuePlaceHolder`): a `count` of "dummy-value" would resolve to 0, "runs indefinitely", and the Rollout would
 * be InvalidSpec. Argo merges equal defaults of several templates into one run (`utils/analysis/helpers.go`
 * `flattenArgs` refuses only DIFFERENT values) and resolves `{{args.*}}` in every metric field before it validates
 * and measures (`analysis/analysis.go` `getResolvedMetricsWithoutSecrets`, `utils/analysis/factory.go`
 * `ResolveMetricArgs`), so `count: "5"` is an IntOrString string Argo reads as 5.
 */
export const MEASUREMENT_ARGS = [ANALYSIS_ARGS.count, ANALYSIS_ARGS.inconclusiveLimit, ANALYSIS_ARGS.initialDelay] as const;

/** Template defaults of the measurement args under a measurement policy. */
export function measurementArgDefaults(p: MeasurementPolicy): Record<(typeof MEASUREMENT_ARGS)[number], string> {
    return { [ANALYSIS_ARGS.count]: String(p.count), [ANALYSIS_ARGS.inconclusiveLimit]: String(p.inconclusiveLimit), [ANALYSIS_ARGS.initialDelay]: "0s" };
}

/** `{{args.<name>}}` placeholder. */
export function arg(name: string): string {
    return `{{args.${name}}}`;
}

/**
 * The model server's metrics contract (images/model-server/METRICS.md, metric contract v2): per-pod series; probes
 * and scrapes are not counted. The rolling `model_server_accuracy` gauge is for dashboards only: the quality gate
 * reads the feedback counters, which any pod increments for any version (`served_by`).
 */
export interface ServerMetrics {
    /** Counter of requests, labelled with the HTTP status code. */
    requestsTotal: string;
    /** Label of `requestsTotal` carrying the HTTP status code. */
    codeLabel: string;
    /** Label of `requestsTotal` and the latency histogram naming the API handler. */
    handlerLabel: string;
    /** Regex of the handler values of inference requests (`/predict`, `/v2/infer`): success rate, client errors and latency are about inference alone. */
    inferenceHandlers: string;
    /** Histogram base name of request latency in seconds (`_bucket` is appended). */
    requestDurationSeconds: string;
    /** Counter of labelled feedback, by the version that served the prediction and by outcome. */
    feedbackTotal: string;
    /** Label of `feedbackTotal` (emitted by the server): pod-template-hash of the ReplicaSet that served the prediction. */
    servedByLabel: string;
    /** Label of `feedbackTotal` (emitted by the server) with the outcome. */
    outcomeLabel: string;
    /** Outcome value of a correct prediction (the other is `incorrect`). */
    correctOutcome: string;
}

export const DEFAULT_SERVER_METRICS: ServerMetrics = {
    requestsTotal: "model_server_requests_total",
    codeLabel: "code",
    handlerLabel: "handler",
    inferenceHandlers: INFERENCE_HANDLER_REGEX,
    requestDurationSeconds: "model_server_request_duration_seconds",
    feedbackTotal: "model_server_feedback_total",
    servedByLabel: "served_by",
    outcomeLabel: "outcome",
    correctOutcome: "correct",
};

/**
 * Series labels the queries select on. They are NOT emitted by the server: the scrape config must copy them from
 * the pod (docs/design/canary.md; the ServiceMonitor's `podTargetLabels`, components/serving/ModelService.ts; label
 * names sanitised as Prometheus does, `[^a-zA-Z0-9_]` → `_`):
 *   - namespace: the pod's namespace (kubernetes_sd / PodMonitor set it by default);
 *   - model: pod label `app.kubernetes.io/name`, sanitised to `app_kubernetes_io_name`;
 *   - podTemplateHash: pod label `rollouts-pod-template-hash` (added by Argo to every pod of a Rollout), sanitised
 *     to `rollouts_pod_template_hash`. This is what tells canary pods from stable pods in every routing mode.
 */
export interface SeriesLabels {
    namespace: string;
    model: string;
    podTemplateHash: string;
}

export const DEFAULT_SERIES_LABELS: SeriesLabels = {
    namespace: "namespace",
    model: "app_kubernetes_io_name",
    podTemplateHash: "rollouts_pod_template_hash",
};

export interface PromQueryOptions {
    metrics?: ServerMetrics;
    labels?: SeriesLabels;
    /** Default: DEFAULT_MEASUREMENT.rateWindow (analysisTemplateSpecs passes its measurement policy's). */
    rateWindow?: string;
    /** Default: DEFAULT_MEASUREMENT.feedbackWindow (analysisTemplateSpecs passes its measurement policy's). */
    feedbackWindow?: string;
}

type Matcher = [label: string, op: "=" | "!=" | "=~" | "!~", value: string];

/** A PromQL label matcher list `{a="x",b!~"y"}` (values are arg placeholders or literals; no escaping needed). */
export function matchers(parts: Matcher[]): string {
    return `{${parts.map(([l, op, v]) => `${l}${op}"${v}"`).join(",")}}`;
}

/** Selector of all series of the model (its namespace and name), whichever pod or ReplicaSet they come from. */
export function modelSelector(labels: SeriesLabels = DEFAULT_SERIES_LABELS, extra: Matcher[] = []): string {
    return matchers([[labels.namespace, "=", arg(ANALYSIS_ARGS.namespace)], [labels.model, "=", arg(ANALYSIS_ARGS.model)], ...extra]);
}

/** Selector of one ReplicaSet's pods of the model: which one is given by a pod-template-hash arg. */
export function podSelector(hashArg: string, labels: SeriesLabels = DEFAULT_SERIES_LABELS, extra: Matcher[] = []): string {
    return modelSelector(labels, [[labels.podTemplateHash, "=", arg(hashArg)], ...extra]);
}

/**
 * `part / all` of a counter's rates, where `part` selects a subset of `all`'s series. The numerator falls back to 0
 * when no series matches it (nothing in that subset yet), so only a missing or idle denominator makes the share
 * empty or NaN.
 */
export function shareQuery(counter: string, part: string, all: string, window: string): string {
    return `(sum(rate(${counter}${part}[${window}])) or vector(0)) / sum(rate(${counter}${all}[${window}]))`;
}

/**
 * The minimum-volume guard of the request gates, the counterpart of the quality gate's `min-feedback-samples`: the
 * version (by pod-template-hash arg) served at least `min-requests` inference requests in the window. `A and on()
 * <guard>` keeps A only while the guard holds, so a gate on too few requests is empty: Inconclusive (the rollout
 * pauses), never a verdict. Without it, at prod's 5 % first step on light traffic (~60 requests in the window),
 * one 5xx failed a measurement.
 */
export function requestVolumeGuard(hashArg: string, opts: PromQueryOptions = {}, source: "requests" | "latency" = "requests"): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const inference: Matcher = [m.handlerLabel, "=~", m.inferenceHandlers];
    // The latency gate counts the observations of the histogram it reads (its `le="+Inf"` bucket holds them all).
    const counted =
        source === "latency"
            ? `${m.requestDurationSeconds}_bucket${podSelector(hashArg, opts.labels, [inference, ["le", "=", "+Inf"]])}`
            : `${m.requestsTotal}${podSelector(hashArg, opts.labels, [inference])}`;
    return `(sum(increase(${counted}[${w}])) >= ${arg(ANALYSIS_ARGS.minRequests)})`;
}

/**
 * Non-5xx share of the canary's inference requests over the window; empty when the canary has no request series, or
 * served fewer than `min-requests` requests in the window.
 */
export function successRateQuery(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const inference: Matcher = [m.handlerLabel, "=~", m.inferenceHandlers];
    const ok = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [inference, [m.codeLabel, "!~", "5.."]]);
    const all = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [inference]);
    return `(${shareQuery(m.requestsTotal, ok, all, w)}) and on() ${requestVolumeGuard(ANALYSIS_ARGS.canaryHash, opts)}`;
}

/**
 * The canary's client-error (4xx) share of inference requests minus stable's: a version that rejects what its
 * predecessor served (a changed input contract answers 422) scores a large positive value. Empty when either side
 * has no request series or served fewer than `min-requests` requests in the window: Inconclusive.
 */
export function clientErrorIncreaseQuery(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const inference: Matcher = [m.handlerLabel, "=~", m.inferenceHandlers];
    const share = (hashArg: string) =>
        shareQuery(
            m.requestsTotal,
            podSelector(hashArg, opts.labels, [inference, [m.codeLabel, "=~", "4.."]]),
            podSelector(hashArg, opts.labels, [inference]),
            w,
        );
    return (
        `((${share(ANALYSIS_ARGS.canaryHash)}) - (${share(ANALYSIS_ARGS.stableHash)}))` +
        ` and on() ${requestVolumeGuard(ANALYSIS_ARGS.canaryHash, opts)} and on() ${requestVolumeGuard(ANALYSIS_ARGS.stableHash, opts)}`
    );
}

/**
 * p99 latency of the canary's inference requests over the window, in milliseconds; empty while the canary served
 * fewer than `min-requests` requests in the window (a p99 of a few dozen requests is their maximum).
 */
export function latencyP99Query(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const canary = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [[m.handlerLabel, "=~", m.inferenceHandlers]]);
    return (
        `(1000 * histogram_quantile(0.99, sum by (le) (rate(${m.requestDurationSeconds}_bucket${canary}[${w}]))))` +
        ` and on() ${requestVolumeGuard(ANALYSIS_ARGS.canaryHash, opts, "latency")}`
    );
}

/**
 * Stable's accuracy minus the canary's (a positive value is a drop). Each version's accuracy is the correct share
 * of the feedback for predictions IT served (`served_by` = its pod-template-hash), summed over every pod of the
 * model: the pod that receives the feedback need not be the one that served the prediction. Empty while either
 * version has fewer than `min-feedback-samples` labelled samples in the feedback window: Inconclusive.
 */
export function accuracyDropQuery(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.feedbackWindow ?? DEFAULT_MEASUREMENT.feedbackWindow;
    const servedBy = (hashArg: string, extra: Matcher[] = []) => modelSelector(opts.labels, [[m.servedByLabel, "=", arg(hashArg)], ...extra]);
    const accuracy = (hashArg: string) => shareQuery(m.feedbackTotal, servedBy(hashArg, [[m.outcomeLabel, "=", m.correctOutcome]]), servedBy(hashArg), w);
    const enough = (hashArg: string) => `(sum(increase(${m.feedbackTotal}${servedBy(hashArg)}[${w}])) >= ${arg(ANALYSIS_ARGS.minFeedbackSamples)})`;
    return (
        `((${accuracy(ANALYSIS_ARGS.stableHash)}) - (${accuracy(ANALYSIS_ARGS.canaryHash)}))` +
        ` and on() ${enough(ANALYSIS_ARGS.canaryHash)} and on() ${enough(ANALYSIS_ARGS.stableHash)}`
    );
}

/**
 * Every measured value is rounded to this many decimals before Argo compares it with its threshold. Rates are
 * extrapolated floats: Prometheus computes a 5 % share as 0.05000000000000001 and a 0.93 − 0.90 accuracy drop as
 * 0.029999999999999916 (tests/promql), so a value AT a decimal threshold would pass or fail by float noise.
 */
export const VALUE_DECIMALS = 9;

/**
 * The value a gate decides on: `round((query) * 1e9) / 1e9`. Dividing the integer by the exact 1e9 gives the
 * double nearest to the 9-decimal value: the same double the threshold's decimal parses to, so `<=`/`>=` hold at
 * the threshold. (`round(v, 1e-9)` does not: Prometheus multiplies by 1/1e-9, which is not exactly 1e9.)
 * NaN, ±Inf and empty results stay as they are.
 */
export function measuredValue(query: string): string {
    const scale = `1e${VALUE_DECIMALS}`;
    return `round((${query}) * ${scale}) / ${scale}`;
}

/**
 * Success/failure conditions for "value must be ≥ / ≤ threshold". Both are guarded by `len(result) > 0` and are
 * strict complements, so an empty result or NaN satisfies neither: Inconclusive, never Successful.
 */
export function thresholdConditions(direction: "atLeast" | "atMost", thresholdArg: string): { successCondition: string; failureCondition: string } {
    const t = arg(thresholdArg);
    const [pass, fail] = direction === "atLeast" ? [">=", "<"] : ["<=", ">"];
    return {
        successCondition: `len(result) > 0 && result[0] ${pass} ${t}`,
        failureCondition: `len(result) > 0 && result[0] ${fail} ${t}`,
    };
}

export interface AnalysisTemplateOptions extends PromQueryOptions {
    /** Prometheus base URL (`rollouts.prometheusUrl`). */
    prometheusUrl: string;
    measurement?: MeasurementPolicy;
}

export interface AnalysisTemplateSet {
    /** Non-5xx share of the canary's requests (canary alone). */
    successRate: IAnalysisTemplateSpec;
    /** Canary's 4xx share minus stable's (a comparison with stable). */
    clientErrors: IAnalysisTemplateSpec;
    latency: IAnalysisTemplateSpec;
    quality: IAnalysisTemplateSpec;
}

/** Argo's provider rejects an address without scheme and host (prometheus.go `IsUrl`); fail at plan time instead. */
export function validatePrometheusUrl(url: string): void {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        throw new Error(`rollouts.prometheusUrl "${url}" is not a URL`);
    }
    if (!["http:", "https:"].includes(u.protocol) || u.host === "") {
        throw new Error(`rollouts.prometheusUrl "${url}" must be an http(s) URL with a host`);
    }
}

/**
 * Amazon Managed Prometheus: Argo signs requests with SigV4 when the address contains `aps-workspaces`
 * (prometheus.go `NewPrometheusAPI`), using `authentication.sigv4`; the region is taken from the workspace URL.
 */
export function prometheusAuthentication(url: string): IAuthentication | undefined {
    const m = /aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com/.exec(url);
    return m ? { sigv4: { region: m[1] } } : undefined;
}

function metric(name: string, query: string, conditions: { successCondition: string; failureCondition: string }, opts: AnalysisTemplateOptions): IMetric {
    const p = opts.measurement ?? DEFAULT_MEASUREMENT;
    const authentication = prometheusAuthentication(opts.prometheusUrl);
    return {
        name,
        interval: p.interval,
        // Templated (MEASUREMENT_ARGS): a step gate gets the policy's values (the templates' arg defaults); the
        // background analysis runs indefinitely (count 0), never decides Inconclusive, and starts after its delay.
        initialDelay: arg(ANALYSIS_ARGS.initialDelay),
        count: arg(ANALYSIS_ARGS.count),
        failureLimit: p.failureLimit,
        inconclusiveLimit: arg(ANALYSIS_ARGS.inconclusiveLimit),
        consecutiveErrorLimit: p.consecutiveErrorLimit,
        ...conditions,
        provider: {
            prometheus: {
                address: opts.prometheusUrl,
                query,
                ...(authentication ? { authentication } : {}),
            },
        },
    };
}

/** Args every template declares without a default (merged templates may not give one arg two values); plus MEASUREMENT_ARGS. */
const COMMON_ARGS = [ANALYSIS_ARGS.service, ANALYSIS_ARGS.model, ANALYSIS_ARGS.version, ANALYSIS_ARGS.namespace, ANALYSIS_ARGS.canaryHash];

/** Metric names are unique across the three templates: Argo merges them into one AnalysisRun per gate. */
export const METRIC_NAMES = { successRate: "success-rate", clientErrors: "client-error-increase", latency: "latency-p99", quality: "accuracy-drop" } as const;

export function analysisTemplateSpecs(opts: AnalysisTemplateOptions): AnalysisTemplateSet {
    validatePrometheusUrl(opts.prometheusUrl);
    const p = opts.measurement ?? DEFAULT_MEASUREMENT;
    validateMeasurement(p);
    const q: PromQueryOptions = { ...opts, rateWindow: opts.rateWindow ?? p.rateWindow, feedbackWindow: opts.feedbackWindow ?? p.feedbackWindow };
    const defaults = measurementArgDefaults(p);
    const args = (...extra: string[]) => [
        ...[...COMMON_ARGS, ...extra].map((name) => ({ name })),
        ...MEASUREMENT_ARGS.map((name) => ({ name, value: defaults[name] })),
    ];
    return {
        successRate: {
            args: args(ANALYSIS_ARGS.successRate, ANALYSIS_ARGS.minRequests),
            metrics: [metric(METRIC_NAMES.successRate, measuredValue(successRateQuery(q)), thresholdConditions("atLeast", ANALYSIS_ARGS.successRate), opts)],
        },
        clientErrors: {
            args: args(ANALYSIS_ARGS.stableHash, ANALYSIS_ARGS.maxClientErrorIncrease, ANALYSIS_ARGS.minRequests),
            metrics: [
                metric(
                    METRIC_NAMES.clientErrors,
                    measuredValue(clientErrorIncreaseQuery(q)),
                    thresholdConditions("atMost", ANALYSIS_ARGS.maxClientErrorIncrease),
                    opts,
                ),
            ],
        },
        latency: {
            args: args(ANALYSIS_ARGS.p99LatencyMs, ANALYSIS_ARGS.minRequests),
            metrics: [metric(METRIC_NAMES.latency, measuredValue(latencyP99Query(q)), thresholdConditions("atMost", ANALYSIS_ARGS.p99LatencyMs), opts)],
        },
        quality: {
            args: args(ANALYSIS_ARGS.stableHash, ANALYSIS_ARGS.maxAccuracyDrop, ANALYSIS_ARGS.minFeedbackSamples),
            metrics: [metric(METRIC_NAMES.quality, measuredValue(accuracyDropQuery(q)), thresholdConditions("atMost", ANALYSIS_ARGS.maxAccuracyDrop), opts)],
        },
    };
}

/** Mirrors argo-rollouts `utils/analysis/helpers.go` `ValidateMetric` for the fields we set. */
export function validateMeasurement(p: MeasurementPolicy): void {
    const problems: string[] = [];
    for (const [k, v] of Object.entries({
        count: p.count,
        failureLimit: p.failureLimit,
        inconclusiveLimit: p.inconclusiveLimit,
        consecutiveErrorLimit: p.consecutiveErrorLimit,
    })) {
        if (!Number.isInteger(v) || v < 0) {
            problems.push(`${k}=${v} must be an integer >= 0`);
        }
    }
    if (p.count < 1) {
        problems.push("count must be >= 1 (an unbounded gate would never complete)");
    }
    if (p.count < p.failureLimit) {
        problems.push("count must be >= failureLimit");
    }
    if (p.count < p.inconclusiveLimit) {
        problems.push("count must be >= inconclusiveLimit");
    }
    if (p.failureLimit + p.inconclusiveLimit >= p.count) {
        // Otherwise a gate could "pass" without a single successful measurement.
        problems.push("failureLimit + inconclusiveLimit must be < count");
    }
    if (!/^\d+(s|m|h)$/.test(p.interval)) {
        problems.push(`interval "${p.interval}" must be <n>s|m|h`);
    }
    if (!/^\d+(s|m|h)$/.test(p.rateWindow)) {
        problems.push(`rateWindow "${p.rateWindow}" must be <n>s|m|h`);
    }
    if (!/^\d+(s|m|h)$/.test(p.feedbackWindow)) {
        problems.push(`feedbackWindow "${p.feedbackWindow}" must be <n>s|m|h`);
    }
    if (problems.length > 0) {
        throw new Error(`invalid analysis measurement policy: ${problems.join("; ")}`);
    }
}

/**
 * Seconds of an Argo duration (`pause.duration`, metric `interval`/`initialDelay`): an integer (seconds) or a
 * Go-style duration built from h/m/s units (`90s`, `5m`, `1h30m`).
 */
export function durationSeconds(d: string | number): number {
    if (typeof d === "number") {
        return d;
    }
    if (/^\d+$/.test(d)) {
        return Number(d);
    }
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
    if (!m || d === "") {
        throw new Error(`unsupported duration "${d}" (use <n>, <n>s, <n>m or <n>h)`);
    }
    return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/**
 * Minimum run time of each shared template under a measurement policy, keyed by template name. Timing does not
 * depend on the Prometheus URL, so the specs are built from a placeholder and the result is plain numbers.
 */
export function analysisMinSeconds(names: AnalysisTemplateNames, measurement: MeasurementPolicy = DEFAULT_MEASUREMENT): Record<string, number> {
    const specs = analysisTemplateSpecs({ prometheusUrl: "http://prometheus.invalid", measurement });
    return {
        [names.successRate]: templateMinSeconds(specs.successRate),
        [names.clientErrors]: templateMinSeconds(specs.clientErrors),
        [names.latency]: templateMinSeconds(specs.latency),
        [names.quality]: templateMinSeconds(specs.quality),
    };
}

/**
 * The template's metrics with `{{args.x}}` replaced by the template's own arg defaults (what a step gate, which passes
 * none of the measurement args, runs). Args without a default stay as placeholders.
 */
export function metricsWithDefaults(spec: IAnalysisTemplateSpec): IMetric[] {
    const values = new Map((spec.args ?? []).filter((a) => a.value !== undefined).map((a) => [a.name, a.value as string]));
    const text = JSON.stringify(spec.metrics ?? []).replace(/\{\{args\.([a-z0-9-]+)\}\}/g, (all, name: string) => values.get(name) ?? all);
    return JSON.parse(text) as IMetric[];
}

/** Minimum seconds one AnalysisRun of this template takes as a step gate: initialDelay + (count − 1) × interval, longest metric. */
export function templateMinSeconds(spec: IAnalysisTemplateSpec): number {
    return Math.max(
        0,
        ...metricsWithDefaults(spec).map((mt) => {
            const count = typeof mt.count === "number" ? mt.count : Number(mt.count ?? 1);
            return durationSeconds(mt.initialDelay ?? 0) + Math.max(0, count - 1) * durationSeconds(mt.interval ?? 0);
        }),
    );
}
