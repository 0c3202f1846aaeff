/**
 * The rehearsal's load generator: inference requests at a steady rate (open loop, bounded in flight), each sent to
 * the endpoint the cluster would pick (routing.ts), as Open Inference Protocol v2 requests
 * (`POST /v2/models/<model>/infer`) with a row of the model's held-out data set; and, for a share of the
 * predictions, the data set's TRUE label through the real `/feedback` path (to the model's Service, round-robin),
 * with the prediction id the server returned. The server scores the feedback: the quality gate's counters come from
 * the real servers, never from this file.
 *
 * A/B (`abTest`): the requests come from USERS simulated users in turn; the first `share` of them form the A/B group,
 * whose every request carries the model's `canary.abTest` header (or `<cookie>=always`), as a client of that group
 * would, so the router's header rule (routing.ts `pinnedToCanary`) keeps each user on one version.
 *
 * What the generator saw is counted per version (the pod's `rollouts-pod-template-hash` decides) for the report:
 * requests by status, its own accuracy from the answers and the true labels, client-side latency quantiles.
 */
import type { Backend } from "./backends";
import { Endpoint, EvenShare, RequestMarks, routeCanaryShare, Router, RoutingView, serviceOfHost } from "./routing";

export interface Holdout {
    features: number[][];
    labels: number[];
}

export interface TrafficOptions {
    model: string;
    /** Inference requests per real second, over the whole model. */
    requestsPerSecond: number;
    /** Share of predicted instances whose true label is sent back as feedback, 0..1. */
    feedbackShare: number;
    /** Instances per request. */
    batch: number;
    /** Requests in flight at most; beyond it a due request is counted as `saturated` and not sent. */
    maxInFlight: number;
    /** The A/B group, when the model has `canary.abTest`. */
    abTest?: AbTraffic;
}

/** The rehearsal's users' A/B group (`canary.abTest`): who carries the model's header or cookie. */
export interface AbTraffic {
    /** Share of the users in the A/B group, 0..1 (rounded to whole users of USERS). */
    share: number;
    /** The header its requests carry (the model's `canary.abTest.header`). */
    header?: { name: string; value: string };
    /** Or the cookie, sent as `<name>=always` (`canary.abTest.cookie`, ingress-nginx `canary-by-cookie`). */
    cookie?: string;
}

/** The simulated users the requests come from, in turn. */
export const USERS = 100;

/** The marks user `user`'s requests carry (pure): the A/B group is users 0 … round(share × USERS) − 1, for good. */
export function userMarks(ab: AbTraffic | undefined, user: number): RequestMarks | undefined {
    if (!ab || user >= Math.round(ab.share * USERS)) return undefined;
    if (ab.header) return { headers: { [ab.header.name.toLowerCase()]: ab.header.value } };
    if (ab.cookie) return { cookies: { [ab.cookie]: "always" } };
    return undefined;
}

/** How the report names the A/B group's mark: `x-canary: always` or `cookie ab=always`. */
export function markLabel(marks: RequestMarks | undefined): string | undefined {
    const h = Object.entries(marks?.headers ?? {})[0];
    if (h) return `${h[0]}: ${h[1]}`;
    const c = Object.entries(marks?.cookies ?? {})[0];
    return c ? `cookie ${c[0]}=${c[1]}` : undefined;
}

/** The HTTP headers that carry the marks (the header itself, or a Cookie header). */
export function markHeaders(marks: RequestMarks | undefined): Record<string, string> {
    const cookies = Object.entries(marks?.cookies ?? {});
    return { ...(marks?.headers ?? {}), ...(cookies.length ? { Cookie: cookies.map(([k, v]) => `${k}=${v}`).join("; ") } : {}) };
}

export interface VersionTraffic {
    requests: number;
    /** HTTP status → count ("error" for a transport failure). */
    codes: Record<string, number>;
    instances: number;
    /** Instances whose predicted label equals the true label. */
    correct: number;
    /** Client-side latency of 2xx requests, ms. */
    p50Ms?: number;
    p99Ms?: number;
}

export interface TrafficStats {
    seconds: number;
    sent: number;
    /** Due requests with no ready endpoint with a ready server behind it. */
    unrouted: number;
    /** Due requests not sent because `maxInFlight` were in flight. */
    saturated: number;
    /** 200 answers without the label and prediction_id outputs (counted under their status too). */
    malformed: number;
    versions: Record<"stable" | "canary", VersionTraffic & { accuracy?: number }>;
    /**
     * Istio's mirrored copies (the VirtualService's mirror route): sent to the mirror host's pods, answers dropped as
     * Envoy drops them; per version that answered, with their status codes. Never counted under `versions`.
     */
    mirrored: Record<"stable" | "canary", { requests: number; codes: Record<string, number> }>;
    feedback: { sent: number; codes: Record<string, number> };
    /**
     * Requests by the split in force when each was sent — `ingress 25%` (nginx: the canary Ingress's weight) or
     * `endpoints 1/3` (replica weighting: canary endpoints / ready endpoints), with `, <mark>` for the A/B group's
     * requests (`ingress 0%, x-canary: always`) — and how many of them the canary served.
     */
    splits: Record<string, { requests: number; canary: number }>;
}

/** The name of the split in force (pure): the Ingress's weight with nginx, the canary's share of ready endpoints without. */
export function splitKey(view: RoutingView, isCanary: (namespace: string, pod: string) => boolean, marks?: RequestMarks, route?: string): string {
    const mark = markLabel(marks);
    const pct = (share: number) => `${Math.round(share * 1000) / 10}%`;
    let base: string;
    if (view.mode === "nginx") base = `ingress ${pct(view.canaryShare)}`;
    else if (view.mode === "istio") {
        // The weight of the route the request took (Argo's mirror route copies the primary's weights).
        const r = (view.http ?? []).find((h) => (h.name ?? "") === route);
        const mirror = r?.mirror?.host ? `, mirror ${r.mirrorPercentage?.value ?? 100}% to ${serviceOfHost(r.mirror.host)}` : "";
        base = r ? `route ${route || "(unnamed)"} ${pct(routeCanaryShare(r, (h) => serviceOfHost(h) === view.canaryService))}${mirror}` : "no route";
    } else base = `endpoints ${view.stable.filter((e) => isCanary(e.namespace, e.pod)).length}/${view.stable.length}`;
    return mark ? `${base}, ${mark}` : base;
}

type Lookup = (namespace: string, pod: string) => Backend | undefined;

/** Quantile of a sorted sample (nearest rank). */
export function quantile(sorted: number[], q: number): number | undefined {
    if (sorted.length === 0) return undefined;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The v2 infer request body of rows `rows` of the held-out set (FP32, shape [n, F], flat row-major data). */
export function inferBody(holdout: Holdout, rows: number[], inputName: string): string {
    const f = holdout.features[0]?.length ?? 0;
    return JSON.stringify({
        inputs: [{ name: inputName, shape: [rows.length, f], datatype: "FP32", data: rows.flatMap((r) => holdout.features[r]) }],
        outputs: [{ name: "label" }, { name: "prediction_id" }],
    });
}

/** Labels and prediction ids of a v2 infer response (throws on a response without them). */
export function parseInferResponse(body: unknown): { labels: number[]; ids: string[] } {
    const outputs = (body as { outputs?: Array<{ name: string; data: unknown[] }> })?.outputs ?? [];
    const label = outputs.find((o) => o.name === "label");
    const ids = outputs.find((o) => o.name === "prediction_id");
    if (!label || !ids) throw new Error(`the infer response has no label/prediction_id outputs: ${JSON.stringify(body).slice(0, 200)}`);
    return { labels: label.data.map(Number), ids: ids.data.map(String) };
}

const emptyVersion = (): VersionTraffic => ({ requests: 0, codes: {}, instances: 0, correct: 0 });
const bump = (codes: Record<string, number>, code: string) => (codes[code] = (codes[code] ?? 0) + 1);

export class LoadGenerator {
    private readonly router = new Router();
    private readonly feedbackSplit = new EvenShare();
    private readonly counts = { sent: 0, unrouted: 0, saturated: 0, malformed: 0 };
    private readonly versions = { stable: emptyVersion(), canary: emptyVersion() };
    private readonly latencies: Record<"stable" | "canary", number[]> = { stable: [], canary: [] };
    private readonly feedback = { sent: 0, codes: {} as Record<string, number> };
    private readonly mirrored = { stable: { requests: 0, codes: {} as Record<string, number> }, canary: { requests: 0, codes: {} as Record<string, number> } };
    private readonly splits: Record<string, { requests: number; canary: number }> = {};
    private inFlight = 0;
    private next = 0;
    private user = 0;
    private timer?: NodeJS.Timeout;
    private startedMs = 0;
    private due = 0;

    constructor(
        private readonly o: TrafficOptions,
        private readonly holdout: Holdout,
        private readonly view: () => RoutingView,
        private readonly lookup: Lookup,
        private readonly inputName: () => string,
        private readonly clock: () => number = Date.now,
    ) {
        if (holdout.features.length === 0 || holdout.features.length !== holdout.labels.length)
            throw new Error("the held-out set is empty or its labels do not match its rows");
    }

    start(): void {
        this.startedMs = this.clock();
        this.timer = setInterval(() => this.tick(), 20);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    /** Sends what is due since the start at the configured rate (a backlog beyond one second's worth is counted as saturated). */
    tick(): void {
        const target = Math.floor(((this.clock() - this.startedMs) / 1000) * this.o.requestsPerSecond);
        const backlog = target - this.due - Math.ceil(this.o.requestsPerSecond);
        if (backlog > 0) {
            this.counts.saturated += backlog;
            this.due += backlog;
        }
        for (; this.due < target; this.due++) {
            if (this.inFlight >= this.o.maxInFlight) {
                this.counts.saturated++;
                continue;
            }
            void this.send();
        }
    }

    private rows(): number[] {
        const n = this.holdout.features.length;
        const rows: number[] = [];
        for (let i = 0; i < this.o.batch; i++) rows.push(this.next++ % n);
        return rows;
    }

    /**
     * The view with only the endpoints whose server is ready: a real pod is not Ready (so not an endpoint) until its
     * probe passes, while kwok marks it Ready at once; skipping the endpoints whose server is still starting gives
     * the traffic kube-proxy would route.
     */
    private servable(view: RoutingView): RoutingView {
        const ok = (e: { namespace: string; pod: string }) => this.lookup(e.namespace, e.pod) !== undefined;
        return { ...view, stable: view.stable.filter(ok), canary: view.canary.filter(ok) };
    }

    private async send(): Promise<void> {
        const view = this.servable(this.view());
        const marks = userMarks(this.o.abTest, this.user++ % USERS);
        const path = `/v2/models/${this.o.model}/infer`;
        const routed = this.router.route(view, { path, method: "POST", ...marks });
        const ep = routed.endpoint;
        const backend = ep && this.lookup(ep.namespace, ep.pod);
        if (!backend) {
            this.counts.unrouted++;
            return;
        }
        const rows = this.rows();
        if (routed.mirror) void this.sendMirror(routed.mirror, path, rows, marks);
        const v = this.versions[backend.version];
        const split = (this.splits[splitKey(view, (ns, pod) => this.lookup(ns, pod)?.version === "canary", marks, routed.route)] ??= {
            requests: 0,
            canary: 0,
        });
        split.requests++;
        if (backend.version === "canary") split.canary++;
        this.inFlight++;
        this.counts.sent++;
        v.requests++;
        const t0 = performance.now();
        try {
            const r = await this.infer(backend, path, rows, marks);
            const body = await r.json().catch(() => undefined);
            bump(v.codes, String(r.status));
            if (r.status !== 200) return;
            this.latencies[backend.version].push(performance.now() - t0);
            let parsed: { labels: number[]; ids: string[] };
            try {
                parsed = parseInferResponse(body);
            } catch {
                this.counts.malformed++;
                return;
            }
            const { labels, ids } = parsed;
            v.instances += labels.length;
            labels.forEach((label, i) => {
                const truth = this.holdout.labels[rows[i]];
                if (label === truth) v.correct++;
                if (this.feedbackSplit.take(this.o.feedbackShare)) void this.sendFeedback(view, ids[i], truth);
            });
        } catch {
            bump(v.codes, "error");
        } finally {
            this.inFlight--;
        }
    }

    /** One v2 infer request of `rows` to a backend's server, with the request's marks as headers. */
    private infer(backend: Backend, path: string, rows: number[], marks: RequestMarks | undefined): Promise<Response> {
        return fetch(`http://127.0.0.1:${backend.port}${path}`, {
            method: "POST",
            headers: { "Content-Type": "application/json", ...markHeaders(marks) },
            body: inferBody(this.holdout, rows, this.inputName()),
            signal: AbortSignal.timeout(30_000),
        });
    }

    /** Istio's mirror: the same request to the mirror host's pod, fire and forget; only its status is counted. */
    private async sendMirror(ep: Endpoint, path: string, rows: number[], marks: RequestMarks | undefined): Promise<void> {
        const backend = this.lookup(ep.namespace, ep.pod);
        if (!backend) return;
        const m = this.mirrored[backend.version];
        m.requests++;
        try {
            const r = await this.infer(backend, path, rows, marks);
            await r.arrayBuffer();
            bump(m.codes, String(r.status));
        } catch {
            bump(m.codes, "error");
        }
    }

    private async sendFeedback(view: RoutingView, id: string, label: number): Promise<void> {
        const ep = this.router.feedback(view);
        const backend = ep && this.lookup(ep.namespace, ep.pod);
        if (!backend) return void bump(this.feedback.codes, "unrouted");
        this.feedback.sent++;
        try {
            const r = await fetch(`http://127.0.0.1:${backend.port}/feedback`, {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ id, label }),
                signal: AbortSignal.timeout(10_000),
            });
            await r.arrayBuffer();
            bump(this.feedback.codes, String(r.status));
        } catch {
            bump(this.feedback.codes, "error");
        }
    }

    stats(): TrafficStats {
        const now = this.clock();
        const version = (k: "stable" | "canary") => {
            const sorted = [...this.latencies[k]].sort((a, b) => a - b);
            const v = this.versions[k];
            const round = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 10) / 10);
            return {
                ...v,
                codes: { ...v.codes },
                ...(v.instances > 0 ? { accuracy: Math.round((v.correct / v.instances) * 10000) / 10000 } : {}),
                p50Ms: round(quantile(sorted, 0.5)),
                p99Ms: round(quantile(sorted, 0.99)),
            };
        };
        return {
            seconds: Math.round((now - this.startedMs) / 100) / 10,
            ...this.counts,
            versions: { stable: version("stable"), canary: version("canary") },
            feedback: { sent: this.feedback.sent, codes: { ...this.feedback.codes } },
            mirrored: {
                stable: { requests: this.mirrored.stable.requests, codes: { ...this.mirrored.stable.codes } },
                canary: { requests: this.mirrored.canary.requests, codes: { ...this.mirrored.canary.codes } },
            },
            splits: Object.fromEntries(Object.entries(this.splits).map(([k, x]) => [k, { ...x }])),
        };
    }
}
