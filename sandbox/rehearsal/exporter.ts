/**
 * The scripted fleet (pure, time injected): per pod of the model, the counters and histograms a real model server
 * would have accumulated under the scenario, rendered as that pod's /metrics.
 *
 * - A pod's version is decided by its `rollouts-pod-template-hash`: the canary's hash → the `canary` timeline,
 *   any other (the stable ReplicaSet's) → `stable`.
 * - Counters are integrals over time of the scenario's per-pod rates (scenario seconds = real seconds × timeScale,
 *   so compressed runs see the same counts per window); they start at 0 when the pod first appears, as a freshly
 *   started server's do, and only exist once incremented (labelled prometheus_client series appear on first use).
 * - Feedback: per version, `feedbackRate` events per second per pod of that version, labelled
 *   `served_by=<that version's hash>`, `outcome` correct with probability `accuracy`, scored on random pods of the
 *   model (contract v2: any pod scores any prediction).
 * - `noData`: the pod's metrics endpoint answers 503, so Prometheus gets no series from it; counters keep running.
 */
import { breakpoints, Scenario, valuesAt, Version, VersionValues } from "./scenario";
import { bucketMidpoints, CODES, exposition, Family, FEEDBACK, histogramSamples, latencySplit, METRIC, PREDICT, Sample, SERVER_BUCKETS } from "./metrics";

export interface PodRef {
    namespace: string;
    name: string;
    /** `rollouts-pod-template-hash` label. */
    hash: string;
    /** `app.kubernetes.io/version` label (for model_server_model_info). */
    version?: string;
}

/** When the rollout started and which hash is which. */
export interface RolloutClock {
    /** Real time (ms since epoch) of scenario time 0: the canary ReplicaSet's creation. */
    t0Ms: number;
    canaryHash: string;
    stableHash: string;
}

export interface FleetOptions {
    scenario: Pick<Scenario, "canary" | "stable">;
    timeScale: number;
    model: string;
    seed?: number;
}

export interface ScrapeResult {
    status: 200 | 404 | 503;
    body: string;
}

interface PodState {
    ref: PodRef;
    /** /predict requests by code. */
    requests: Map<string, number>;
    /** /predict latency: per-bucket (not cumulative) counts, SERVER_BUCKETS then +Inf. */
    buckets: number[];
    latencySum: number;
    /** Feedback scored here: `${servedBy}\u0000${outcome}` → count. */
    feedback: Map<string, number>;
    feedbackRequests: number;
    predictions: { "0": number; "1": number };
    /** Feedback scored here for this pod's own hash (the rolling accuracy gauge's samples). */
    ownFeedback: number;
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const key = (ns: string, name: string) => `${ns}/${name}`;

export class ScriptedFleet {
    private readonly pods = new Map<string, PodState>();
    private clock?: RolloutClock;
    private lastMs: number;
    private readonly random: () => number;
    private readonly mids = bucketMidpoints();
    private readonly splits = new Map<number, number[]>();

    constructor(
        private readonly opts: FleetOptions,
        nowMs: number,
    ) {
        if (!(opts.timeScale >= 1)) throw new Error(`time scale ${opts.timeScale} must be ≥ 1`);
        this.lastMs = nowMs;
        this.random = prng(opts.seed ?? 1);
    }

    /** Scenario seconds at a real time; before the rollout is known, -Infinity (the first entries' values). */
    scenarioTime(ms: number): number {
        return this.clock ? ((ms - this.clock.t0Ms) / 1000) * this.opts.timeScale : -Infinity;
    }

    versionOf(hash: string): Version {
        return this.clock && hash === this.clock.canaryHash ? "canary" : "stable";
    }

    values(version: Version, ms: number): VersionValues {
        return valuesAt(this.opts.scenario[version], this.scenarioTime(ms));
    }

    getClock(): RolloutClock | undefined {
        return this.clock;
    }

    setClock(clock: RolloutClock, nowMs: number): void {
        this.advance(nowMs);
        this.clock = clock;
    }

    /** The model's current pods: new ones start from zero, missing ones are forgotten (their series end). */
    setPods(pods: PodRef[], nowMs: number): void {
        this.advance(nowMs);
        const seen = new Set<string>();
        for (const p of pods) {
            const k = key(p.namespace, p.name);
            seen.add(k);
            const existing = this.pods.get(k);
            if (existing) {
                existing.ref = p;
                continue;
            }
            this.pods.set(k, {
                ref: p,
                requests: new Map(),
                buckets: new Array(SERVER_BUCKETS.length + 1).fill(0),
                latencySum: 0,
                feedback: new Map(),
                feedbackRequests: 0,
                predictions: { "0": 0, "1": 0 },
                ownFeedback: 0,
            });
        }
        for (const k of [...this.pods.keys()]) if (!seen.has(k)) this.pods.delete(k);
    }

    podNames(): string[] {
        return [...this.pods.keys()].sort();
    }

    private split(p99Ms: number): number[] {
        let s = this.splits.get(p99Ms);
        if (!s) {
            s = latencySplit(p99Ms / 1000);
            this.splits.set(p99Ms, s);
        }
        return s;
    }

    /** Integrates every pod's counters from the last update to `nowMs`, piece by piece between scenario changes. */
    advance(nowMs: number): void {
        if (nowMs <= this.lastMs) return;
        const from = this.lastMs;
        this.lastMs = nowMs;
        if (this.pods.size === 0) return;
        if (!this.clock) {
            this.integrate(from, nowMs, -Infinity);
            return;
        }
        const sFrom = this.scenarioTime(from);
        const sTo = this.scenarioTime(nowMs);
        const cuts = [sFrom, ...breakpoints(this.opts.scenario, sFrom, sTo), sTo];
        for (let i = 0; i + 1 < cuts.length; i++) {
            const msA = this.clock.t0Ms + (cuts[i] / this.opts.timeScale) * 1000;
            const msB = this.clock.t0Ms + (cuts[i + 1] / this.opts.timeScale) * 1000;
            this.integrate(msA, msB, cuts[i]);
        }
    }

    /** One piece with constant values (those in force at scenario time `at`). */
    private integrate(msA: number, msB: number, at: number): void {
        const dt = ((msB - msA) / 1000) * this.opts.timeScale; // scenario seconds
        if (dt <= 0) return;
        const vals: Record<Version, VersionValues> = {
            canary: valuesAt(this.opts.scenario.canary, at),
            stable: valuesAt(this.opts.scenario.stable, at),
        };
        const all = [...this.pods.values()];
        const podsOf: Record<Version, PodState[]> = { canary: [], stable: [] };
        for (const p of all) podsOf[this.versionOf(p.ref.hash)].push(p);

        for (const version of ["canary", "stable"] as const) {
            const v = vals[version];
            for (const p of podsOf[version]) {
                const n = v.requestRate * dt;
                if (n > 0) {
                    const add = (code: string, x: number) => x > 0 && p.requests.set(code, (p.requests.get(code) ?? 0) + x);
                    add(CODES.ok, n * (v.successRate - v.clientErrorRate));
                    add(CODES.clientError, n * v.clientErrorRate);
                    add(CODES.serverError, n * (1 - v.successRate));
                    const shares = this.split(v.p99LatencyMs);
                    shares.forEach((s, i) => {
                        p.buckets[i] += s * n;
                        p.latencySum += s * n * this.mids[i];
                    });
                    const answered = n * (v.successRate - v.clientErrorRate);
                    p.predictions["0"] += answered / 2;
                    p.predictions["1"] += answered / 2;
                }
            }
            // Feedback for this version's predictions, scored on random pods of the model.
            const total = v.feedbackRate * dt * podsOf[version].length;
            if (total > 0 && all.length > 0) {
                const servedBy = this.hashOf(version, podsOf[version]);
                const weights = all.map(() => this.random() + 1e-9);
                const sum = weights.reduce((a, b) => a + b, 0);
                all.forEach((p, i) => {
                    const share = (total * weights[i]) / sum;
                    const inc = (outcome: string, x: number) => {
                        if (x <= 0) return;
                        const k = `${servedBy}\u0000${outcome}`;
                        p.feedback.set(k, (p.feedback.get(k) ?? 0) + x);
                    };
                    inc("correct", share * v.accuracy);
                    inc("incorrect", share * (1 - v.accuracy));
                    p.feedbackRequests += share;
                    if (servedBy === p.ref.hash) p.ownFeedback += share;
                });
            }
        }
    }

    private hashOf(version: Version, pods: PodState[]): string {
        if (this.clock) return version === "canary" ? this.clock.canaryHash : this.clock.stableHash;
        return pods[0]?.ref.hash ?? "";
    }

    /** The pod's /metrics at `nowMs`. */
    scrape(namespace: string, name: string, nowMs: number): ScrapeResult {
        this.advance(nowMs);
        const p = this.pods.get(key(namespace, name));
        if (!p) return { status: 404, body: `no pod ${namespace}/${name} in the scripted fleet\n` };
        const version = this.versionOf(p.ref.hash);
        const v = this.values(version, nowMs);
        if (v.noData) return { status: 503, body: `scripted: the ${version} reports no data\n` };
        return { status: 200, body: exposition(this.families(p, v)) };
    }

    families(p: PodState, v: VersionValues): Family[] {
        const requests: Sample[] = [...p.requests]
            .sort()
            .map(([code, value]) => ({ labels: { handler: PREDICT.handler, method: PREDICT.method, code }, value }));
        if (p.feedbackRequests > 0)
            requests.push({ labels: { handler: FEEDBACK.handler, method: FEEDBACK.method, code: CODES.ok }, value: p.feedbackRequests });
        const count = p.buckets.reduce((a, b) => a + b, 0);
        const duration: Sample[] = count > 0 ? histogramSamples({ handler: PREDICT.handler, method: PREDICT.method }, p.buckets, p.latencySum) : [];
        if (p.feedbackRequests > 0) {
            // Feedback is answered fast: all in the first bucket.
            const fb = new Array(SERVER_BUCKETS.length + 1).fill(0);
            fb[0] = p.feedbackRequests;
            duration.push(...histogramSamples({ handler: FEEDBACK.handler, method: FEEDBACK.method }, fb, p.feedbackRequests * 0.002));
        }
        const feedback: Sample[] = [...p.feedback].sort().map(([k, value]) => {
            const [servedBy, outcome] = k.split("\u0000");
            return { labels: { served_by: servedBy, outcome }, value };
        });
        const predictions: Sample[] = (["0", "1"] as const).filter((l) => p.predictions[l] > 0).map((l) => ({ labels: { label: l }, value: p.predictions[l] }));
        return [
            { name: METRIC.requests, type: "counter", samples: requests },
            { name: METRIC.duration, type: "histogram", samples: duration },
            { name: METRIC.feedback, type: "counter", samples: feedback },
            { name: METRIC.predictions, type: "counter", samples: predictions },
            { name: METRIC.accuracySamples, type: "gauge", samples: [{ labels: {}, value: Math.min(500, Math.floor(p.ownFeedback)) }] },
            { name: METRIC.modelLoaded, type: "gauge", samples: [{ labels: {}, value: 1 }] },
            {
                name: METRIC.modelInfo,
                type: "gauge",
                samples: [
                    {
                        labels: {
                            model: this.opts.model,
                            version: p.ref.version ?? "",
                            revision: "rehearsal",
                            device: "cuda",
                            runtime: "onnxruntime",
                            runtime_version: "scripted",
                        },
                        value: 1,
                    },
                ],
            },
            { name: METRIC.workers, type: "gauge", samples: [{ labels: {}, value: 2 }] },
            // The server appends the rolling accuracy last (NaN until this pod scored feedback for its own version).
            { name: METRIC.accuracy, type: "gauge", samples: [{ labels: {}, value: p.ownFeedback > 0 ? v.accuracy : NaN }] },
        ];
    }
}
