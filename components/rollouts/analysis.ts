/**
 * The shared AnalysisTemplates (pure): ONE set for every model, parameterised by args.
 *
 * Each template has one Prometheus metric, judged on the canary's pods only:
 *   - success rate  ≥ `success-rate`      non-5xx share of the canary's requests
 *   - p99 latency   ≤ `p99-latency-ms`    histogram_quantile(0.99, …) over the server's latency histogram
 *   - quality drop  ≤ `max-accuracy-drop` stable's quality gauge minus the canary's
 *
 * How Argo turns a query result into a verdict (argo-rollouts, cited rather than guessed):
 *   - `metricproviders/prometheus/prometheus.go` `processResponse`: an instant-vector result becomes `result`, a
 *     []float64 with one entry per series — an EMPTY slice when the query matched no series; a scalar becomes a float.
 *   - `utils/evaluate/evaluate.go` `EvaluateResult`: with BOTH successCondition and failureCondition set, a
 *     measurement where neither holds is *Inconclusive*; with only a successCondition it would be *Failed*, with
 *     only a failureCondition it would be *Successful*. An expression that errors (e.g. `result[0]` on an empty
 *     slice) makes the measurement *Error*.
 *   - `analysis/analysis.go` `assessMetricStatus`: Failed when failed > failureLimit, Inconclusive when
 *     inconclusive > inconclusiveLimit, Error when consecutive errors > consecutiveErrorLimit; otherwise Successful
 *     once `count` measurements were taken.
 *   - `rollout/analysis.go` `setPauseOrAbort`: an Inconclusive run PAUSES the rollout at its current weight (a
 *     human must promote or abort); a Failed or Error run ABORTS it (traffic back to stable).
 *   - `analysis/analysis.go` / `utils/analysis/helpers.go` `ResolveMetricArgs`: `{{args.x}}` placeholders are
 *     resolved over the whole metric (query AND conditions), so thresholds can be args.
 *
 * So "no data" is Inconclusive by construction:
 *   - every condition is guarded by `len(result) > 0 &&` — an empty result satisfies neither condition
 *     (Inconclusive), never indexes an empty slice (Error) and never passes;
 *   - success and failure are strict complements on real numbers, and every comparison with NaN is false in Go,
 *     so NaN (0/0 when the canary served no requests; histogram_quantile over all-zero rates) satisfies neither;
 *   - +Inf (p99 beyond the largest finite bucket) satisfies the latency failure condition, as it should.
 * The success-rate numerator is `… or vector(0)`: a canary answering ONLY 5xx has no non-5xx series at all, and
 * without the `or` that would read as "no data" instead of a 0% success rate.
 */
import type { IAnalysisTemplateSpec } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplateSpec";
import type { IMetric } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric";
import type { IAuthentication } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Authentication";
import type { AnalysisTemplateNames } from "./canary";

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
} as const;

/** `{{args.<name>}}` placeholder. */
export function arg(name: string): string {
    return `{{args.${name}}}`;
}

/**
 * The model server's metrics contract (images/model-server, /work/notes/metrics.md): per-pod series; probes and
 * scrapes are not counted; `model_server_accuracy` is NaN until the pod's first labelled feedback.
 */
export interface ServerMetrics {
    /** Counter of requests, labelled with the HTTP status code. */
    requestsTotal: string;
    /** Label of `requestsTotal` carrying the HTTP status code. */
    codeLabel: string;
    /** Label of `requestsTotal` and the latency histogram naming the API handler. */
    handlerLabel: string;
    /** Handler value of inference requests: success rate and latency are about inference alone. */
    inferenceHandler: string;
    /** Histogram base name of request latency in seconds (`_bucket` is appended). */
    requestDurationSeconds: string;
    /** Gauge of the model's quality (accuracy), 0..1. */
    accuracy: string;
}

export const DEFAULT_SERVER_METRICS: ServerMetrics = {
    requestsTotal: "model_server_requests_total",
    codeLabel: "code",
    handlerLabel: "handler",
    inferenceHandler: "/predict",
    requestDurationSeconds: "model_server_request_duration_seconds",
    accuracy: "model_server_accuracy",
};

/**
 * Series labels the queries select on. They are NOT emitted by the server: the scrape config must copy them from
 * the pod (see /work/notes/readme-rollouts.md, "PromQL relabeling assumptions"):
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

/** How often and how long each gate measures, and how many bad measurements it tolerates. */
export interface MeasurementPolicy {
    /** Time between measurements (Argo duration). */
    interval: string;
    /** Measurements per gate. A gate takes at least (count − 1) × interval. */
    count: number;
    /** Failed measurements tolerated; one more fails the gate (→ abort). */
    failureLimit: number;
    /** Inconclusive (no data) measurements tolerated; one more makes the gate Inconclusive (→ rollout pauses). */
    inconclusiveLimit: number;
    /** Consecutive query errors (Prometheus unreachable) tolerated; one more errors the gate (→ abort). */
    consecutiveErrorLimit: number;
    /** PromQL range for rate()/avg_over_time(); must cover ≥ 2 scrapes. */
    rateWindow: string;
}

/**
 * Defaults: 5 measurements a minute apart. A gate passes with at most one failed and at most one no-data minute
 * (so ≥ 3 good minutes out of 5); a single bad minute (a cold-start latency spike) does not abort, two do.
 */
export const DEFAULT_MEASUREMENT: MeasurementPolicy = {
    interval: "60s",
    count: 5,
    failureLimit: 1,
    inconclusiveLimit: 1,
    consecutiveErrorLimit: 2,
    rateWindow: "2m",
};

export interface PromQueryOptions {
    metrics?: ServerMetrics;
    labels?: SeriesLabels;
    rateWindow?: string;
}

/** A PromQL label matcher list `{a="x",b!~"y"}` (values are arg placeholders or literals; no escaping needed). */
export function matchers(parts: Array<[label: string, op: "=" | "!=" | "=~" | "!~", value: string]>): string {
    return `{${parts.map(([l, op, v]) => `${l}${op}"${v}"`).join(",")}}`;
}

/** Selector of one ReplicaSet's pods of the model: which one is given by a pod-template-hash arg. */
export function podSelector(hashArg: string, labels: SeriesLabels = DEFAULT_SERIES_LABELS, extra: Array<[string, "=" | "!=" | "=~" | "!~", string]> = []): string {
    return matchers([
        [labels.namespace, "=", arg(ANALYSIS_ARGS.namespace)],
        [labels.model, "=", arg(ANALYSIS_ARGS.model)],
        [labels.podTemplateHash, "=", arg(hashArg)],
        ...extra,
    ]);
}

/** Non-5xx share of the canary's inference requests over the window; empty when the canary has no request series. */
export function successRateQuery(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const inference: [string, "=", string] = [m.handlerLabel, "=", m.inferenceHandler];
    const ok = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [inference, [m.codeLabel, "!~", "5.."]]);
    const all = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [inference]);
    return `(sum(rate(${m.requestsTotal}${ok}[${w}])) or vector(0)) / sum(rate(${m.requestsTotal}${all}[${w}]))`;
}

/** p99 latency of the canary's inference requests over the window, in milliseconds. */
export function latencyP99Query(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const canary = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels, [[m.handlerLabel, "=", m.inferenceHandler]]);
    return `1000 * histogram_quantile(0.99, sum by (le) (rate(${m.requestDurationSeconds}_bucket${canary}[${w}])))`;
}

/**
 * Stable's quality minus the canary's (a positive value is a drop). Empty when either side has no series, NaN
 * while either has had no labelled feedback yet: both Inconclusive.
 */
export function accuracyDropQuery(opts: PromQueryOptions = {}): string {
    const m = opts.metrics ?? DEFAULT_SERVER_METRICS;
    const w = opts.rateWindow ?? DEFAULT_MEASUREMENT.rateWindow;
    const stable = podSelector(ANALYSIS_ARGS.stableHash, opts.labels);
    const canary = podSelector(ANALYSIS_ARGS.canaryHash, opts.labels);
    return `avg(avg_over_time(${m.accuracy}${stable}[${w}])) - avg(avg_over_time(${m.accuracy}${canary}[${w}]))`;
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
    successRate: IAnalysisTemplateSpec;
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
        count: p.count,
        failureLimit: p.failureLimit,
        inconclusiveLimit: p.inconclusiveLimit,
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

/** Args every template declares (no defaults: merged templates may not give one arg two values). */
const COMMON_ARGS = [ANALYSIS_ARGS.service, ANALYSIS_ARGS.model, ANALYSIS_ARGS.version, ANALYSIS_ARGS.namespace, ANALYSIS_ARGS.canaryHash];

/** Metric names are unique across the three templates: Argo merges them into one AnalysisRun per gate. */
export const METRIC_NAMES = { successRate: "success-rate", latency: "latency-p99", quality: "accuracy-drop" } as const;

export function analysisTemplateSpecs(opts: AnalysisTemplateOptions): AnalysisTemplateSet {
    validatePrometheusUrl(opts.prometheusUrl);
    const p = opts.measurement ?? DEFAULT_MEASUREMENT;
    validateMeasurement(p);
    const args = (...extra: string[]) => [...COMMON_ARGS, ...extra].map((name) => ({ name }));
    return {
        successRate: {
            args: args(ANALYSIS_ARGS.successRate),
            metrics: [metric(METRIC_NAMES.successRate, successRateQuery(opts), thresholdConditions("atLeast", ANALYSIS_ARGS.successRate), opts)],
        },
        latency: {
            args: args(ANALYSIS_ARGS.p99LatencyMs),
            metrics: [metric(METRIC_NAMES.latency, latencyP99Query(opts), thresholdConditions("atMost", ANALYSIS_ARGS.p99LatencyMs), opts)],
        },
        quality: {
            args: args(ANALYSIS_ARGS.stableHash, ANALYSIS_ARGS.maxAccuracyDrop),
            metrics: [metric(METRIC_NAMES.quality, accuracyDropQuery(opts), thresholdConditions("atMost", ANALYSIS_ARGS.maxAccuracyDrop), opts)],
        },
    };
}

/** Mirrors argo-rollouts `utils/analysis/helpers.go` `ValidateMetric` for the fields we set. */
export function validateMeasurement(p: MeasurementPolicy): void {
    const problems: string[] = [];
    for (const [k, v] of Object.entries({ count: p.count, failureLimit: p.failureLimit, inconclusiveLimit: p.inconclusiveLimit, consecutiveErrorLimit: p.consecutiveErrorLimit })) {
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

/** Minimum seconds one AnalysisRun of this template takes: initialDelay + (count − 1) × interval, longest metric. */
/**
 * Minimum run time of each shared template under a measurement policy, keyed by template name. Timing does not
 * depend on the Prometheus URL, so the specs are built from a placeholder and the result is plain numbers.
 */
export function analysisMinSeconds(names: AnalysisTemplateNames, measurement: MeasurementPolicy = DEFAULT_MEASUREMENT): Record<string, number> {
    const specs = analysisTemplateSpecs({ prometheusUrl: "http://prometheus.invalid", measurement });
    return {
        [names.successRate]: templateMinSeconds(specs.successRate),
        [names.latency]: templateMinSeconds(specs.latency),
        [names.quality]: templateMinSeconds(specs.quality),
    };
}

export function templateMinSeconds(spec: IAnalysisTemplateSpec): number {
    return Math.max(
        0,
        ...(spec.metrics ?? []).map((mt) => {
            const count = typeof mt.count === "number" ? mt.count : Number(mt.count ?? 1);
            return durationSeconds(mt.initialDelay ?? 0) + Math.max(0, count - 1) * durationSeconds(mt.interval ?? 0);
        }),
    );
}
