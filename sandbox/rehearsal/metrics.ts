/**
 * The model server's metrics as the rehearsal's exporter scripts them (pure): names, server-emitted labels and
 * histogram buckets of images/model-server/app/metrics.py (contract v2, images/model-server/METRICS.md), the
 * latency split that makes histogram_quantile(0.99, …) return a scripted p99 exactly, and the text exposition.
 */

/** `model_server_request_duration_seconds` buckets (app/metrics.py); +Inf is implicit. */
export const SERVER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0] as const;

export const METRIC = {
    requests: "model_server_requests_total",
    duration: "model_server_request_duration_seconds",
    feedback: "model_server_feedback_total",
    predictions: "model_server_predictions_total",
    accuracy: "model_server_accuracy",
    accuracySamples: "model_server_accuracy_samples",
    modelLoaded: "model_server_model_loaded",
    modelInfo: "model_server_model_info",
    workers: "model_server_workers",
} as const;

/** HELP texts of app/metrics.py. */
const HELP: Record<string, string> = {
    [METRIC.requests]: "HTTP requests handled, by handler, method and status code (4xx = client error, 5xx = server error).",
    [METRIC.duration]: "HTTP request latency in seconds, by handler and method.",
    [METRIC.feedback]:
        "Labelled feedback events scored on this pod, by the pod-template-hash that SERVED the prediction (decoded from the prediction id) and whether the prediction was correct.",
    [METRIC.predictions]: "Instances predicted (a batch of n counts n), by predicted label.",
    [METRIC.accuracy]:
        "Rolling accuracy (0..1) of this pod's version over the last ACCURACY_WINDOW labelled feedback events per worker (NaN until the first one). For dashboards; the canary gate uses model_server_feedback_total.",
    [METRIC.accuracySamples]: "Labelled feedback events in the rolling accuracy window (summed over live workers).",
    [METRIC.modelLoaded]: "1 once the model is loaded in every live worker, else 0.",
    [METRIC.modelInfo]: 'Always 1: identity of what the pod runs (device and runtime once loaded; device="none" if the load failed).',
    [METRIC.workers]: "Live worker processes serving this pod.",
};

/** HTTP codes the scripted /predict answers use: success, client error (input contract), server error. */
export const CODES = { ok: "200", clientError: "422", serverError: "500" } as const;
export const PREDICT = { handler: "/predict", method: "POST" } as const;
export const FEEDBACK = { handler: "/feedback", method: "POST" } as const;

/**
 * Share of observations per bucket (SERVER_BUCKETS, then +Inf) such that Prometheus' classic-histogram
 * `histogram_quantile(0.99, …)` over them returns `p99Seconds` exactly (promql/quantile.go `bucketQuantile`:
 * rank = 0.99·n; the first bucket whose cumulative count reaches the rank; linear interpolation inside it).
 *
 * With X in the bucket (L, U] and r = (X − L)/(U − L):
 *   - r < 0.99: a share k = (0.99 − r)/(1 − r) at or below L (in the bucket ending at L), the rest inside (L, U]:
 *     the quantile is L + (U − L)·(0.99 − k)/(1 − k) = L + (U − L)·r = X.
 *   - r ≥ 0.99: a share m = 0.99/r inside (L, U], the rest above U: L + (U − L)·0.99/m = X.
 * The first bucket starts at 0 and only the second form fits there, so X ≥ 0.99 × 5 ms. Beyond the largest finite
 * bucket everything goes to +Inf and Prometheus answers that bucket's upper bound (10 s).
 */
export function latencySplit(p99Seconds: number, buckets: readonly number[] = SERVER_BUCKETS): number[] {
    const shares = new Array<number>(buckets.length + 1).fill(0);
    if (!(p99Seconds > 0)) throw new Error(`p99 ${p99Seconds} s must be > 0`);
    const b = buckets.findIndex((u) => p99Seconds <= u);
    if (b === -1) {
        shares[buckets.length] = 1;
        return shares;
    }
    const L = b === 0 ? 0 : buckets[b - 1];
    const U = buckets[b];
    const r = (p99Seconds - L) / (U - L);
    if (r < 0.99) {
        if (b === 0) throw new Error(`p99 ${p99Seconds * 1000} ms is below ${0.99 * U * 1000} ms, which the first bucket (0, ${U}] cannot express`);
        const k = (0.99 - r) / (1 - r);
        shares[b - 1] = k;
        shares[b] = 1 - k;
    } else {
        const m = 0.99 / r;
        shares[b] = m;
        shares[b + 1] = 1 - m;
    }
    return shares;
}

/** A representative observation value per bucket (for `_sum`): inside the bucket, 2× the last bound for +Inf. */
export function bucketMidpoints(buckets: readonly number[] = SERVER_BUCKETS): number[] {
    return [...buckets.map((u, i) => (i === 0 ? u / 2 : (buckets[i - 1] + u) / 2)), buckets[buckets.length - 1] * 2];
}

/** Python prometheus_client's floatToGoString: `1.0`, `0.005`, `+Inf`, `NaN`. */
export function formatValue(v: number): string {
    if (Number.isNaN(v)) return "NaN";
    if (v === Infinity) return "+Inf";
    if (v === -Infinity) return "-Inf";
    const s = String(v);
    if (/e/i.test(s)) return s; // Go's ParseFloat reads 1e-07 and 1e+21 alike
    return Number.isInteger(v) ? `${s}.0` : s;
}

/** Label value escaping of the text format: backslash, double quote, newline. */
export function escapeLabel(v: string): string {
    return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export type Labels = Record<string, string>;

export interface Sample {
    suffix?: string;
    labels: Labels;
    value: number;
}

export interface Family {
    name: string;
    type: "counter" | "gauge" | "histogram";
    samples: Sample[];
}

function labelText(labels: Labels): string {
    const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

/** Prometheus text format 0.0.4, as prometheus_client's generate_latest writes it. */
export function exposition(families: Family[]): string {
    const lines: string[] = [];
    for (const f of families) {
        if (f.samples.length === 0 && f.type !== "gauge") continue;
        // As generate_latest: a counter's HELP/TYPE name carries `_total` in the 0.0.4 format.
        lines.push(`# HELP ${f.name} ${HELP[f.name] ?? f.name}`);
        lines.push(`# TYPE ${f.name} ${f.type}`);
        for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ""}${labelText(s.labels)} ${formatValue(s.value)}`);
    }
    return lines.join("\n") + "\n";
}

/** Cumulative `_bucket` samples (with `le`), `_count` and `_sum` of one histogram series. */
export function histogramSamples(labels: Labels, counts: readonly number[], sum: number, buckets: readonly number[] = SERVER_BUCKETS): Sample[] {
    const out: Sample[] = [];
    let cumulative = 0;
    buckets.forEach((u, i) => {
        cumulative += counts[i];
        out.push({ suffix: "_bucket", labels: { ...labels, le: formatValue(u) }, value: cumulative });
    });
    cumulative += counts[buckets.length];
    out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: cumulative });
    out.push({ suffix: "_count", labels, value: cumulative });
    out.push({ suffix: "_sum", labels, value: sum });
    return out;
}
