/**
 * Synthetic input series with the names and labels the real scrape gives them: the model server's own labels
 * (images/model-server/METRICS.md, metric contract v2) plus what the ServiceMonitor adds (ModelService:
 * `podTargetLabels` app.kubernetes.io/name, app.kubernetes.io/version and rollouts-pod-template-hash, sanitised;
 * job/service pinned to the model; namespace, pod, container, endpoint, instance from the target). One sample per
 * scrape interval (the ServiceMonitor's 30 s).
 */
import type { InputSeries } from "./harness";

export const SCRAPE_INTERVAL = "30s";
/** Scrapes in the 20 minutes before the evaluation time (value index 0 is t = 0, index 40 is t = 20m). */
export const STEPS = 40;
export const EVAL_TIME = "20m";

export const NS = "models";
export const MODEL = "sentiment";
export const STABLE = "6d9c7b5f4d";
export const CANARY = "7f8b6c9d5c";
/** A ReplicaSet that is neither: a previous revision, or a hash of another model. */
export const OTHER = "59b7d6c8f4";
const VERSIONS: Record<string, string> = { [STABLE]: "2.1.3", [CANARY]: "2.1.4", [OTHER]: "2.0.0" };
const POD_SUFFIX = ["x7k2p", "m4q9z", "c8v3n", "t2w6r"];

export interface Pod {
    hash: string;
    index: number;
    namespace?: string;
    model?: string;
}

export const pod = (hash: string, index = 0, over: Partial<Pod> = {}): Pod => ({ hash, index, ...over });

function targetLabels(p: Pod): Record<string, string> {
    const model = p.model ?? MODEL;
    const octet = (p.hash === CANARY ? 100 : p.hash === STABLE ? 50 : 150) + p.index;
    return {
        namespace: p.namespace ?? NS,
        pod: `${model}-${p.hash}-${POD_SUFFIX[p.index]}`,
        container: "model-server",
        endpoint: "http",
        instance: `10.0.3.${octet}:8080`,
        job: model,
        service: model,
        app_kubernetes_io_name: model,
        app_kubernetes_io_version: VERSIONS[p.hash] ?? "1.0.0",
        rollouts_pod_template_hash: p.hash,
    };
}

function selector(name: string, labels: Record<string, string>): string {
    return `${name}{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`;
}

/** A counter that grows by `perScrape` at every scrape from 0 (`0+nxSTEPS`); 0 = idle (series exists, flat). */
export function counter(perScrape: number, start = 0): string {
    return `${start}+${perScrape}x${STEPS}`;
}

/**
 * A counter that grows by `perScrape` and restarts (process restart: back to a small value) `stepsBeforeEnd` scrapes
 * before the evaluation time, then grows again at the same pace.
 */
export function restartedCounter(perScrape: number, stepsBeforeEnd: number): string {
    const before = STEPS - stepsBeforeEnd;
    return `0+${perScrape}x${before} ${Math.ceil(perScrape / 2)}+${perScrape}x${stepsBeforeEnd - 1}`;
}

/** `model_server_requests_total` of one pod for one handler/code. */
export function requests(p: Pod, code: string, values: string, handler = "/predict", method = "POST"): InputSeries {
    return { series: selector("model_server_requests_total", { ...targetLabels(p), handler, method, code }), values };
}

/** Per-scrape request counts of one pod by status code, e.g. `{ "200": 99, "503": 1 }`. */
export function requestMix(p: Pod, perScrapeByCode: Record<string, number>, values: (n: number) => string = counter): InputSeries[] {
    return Object.entries(perScrapeByCode).map(([code, n]) => requests(p, code, values(n)));
}

export const BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

/**
 * `model_server_request_duration_seconds_bucket` of one pod: `perScrapeByBucket` maps a bucket's upper bound to the
 * requests per scrape whose latency falls in it (not cumulative); the `le` series are cumulative as the client emits.
 */
export function latency(p: Pod, perScrapeByBucket: Record<string, number>, handler = "/predict", values: (n: number) => string = counter): InputSeries[] {
    let cumulative = 0;
    return BUCKETS.map((le) => {
        cumulative += perScrapeByBucket[le] ?? 0;
        return {
            series: selector("model_server_request_duration_seconds_bucket", { ...targetLabels(p), handler, method: "POST", le }),
            values: values(cumulative),
        };
    });
}

/**
 * `model_server_feedback_total` counted on pod `receivedBy` for predictions served by the ReplicaSet `servedBy`
 * (the server emits `served_by` and `outcome`; the scrape adds the receiving pod's labels).
 */
export function feedback(receivedBy: Pod, servedBy: string, outcome: "correct" | "incorrect", values: string): InputSeries {
    return { series: selector("model_server_feedback_total", { ...targetLabels(receivedBy), served_by: servedBy, outcome }), values };
}

/** Feedback for one version spread over pods: per pod, labelled samples per scrape with the given correct share. */
export function feedbackMix(
    receivers: Pod[],
    servedBy: string,
    perScrape: { correct: number; incorrect: number },
    values: (n: number) => string = counter,
): InputSeries[] {
    return receivers.flatMap((r) => [
        ...(perScrape.correct > 0 ? [feedback(r, servedBy, "correct", values(perScrape.correct))] : []),
        ...(perScrape.incorrect > 0 ? [feedback(r, servedBy, "incorrect", values(perScrape.incorrect))] : []),
    ]);
}
