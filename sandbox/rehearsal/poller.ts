/**
 * The rehearsal's poll loop: once a second it reads the Rollout, the model's pods, the canary's AnalysisRuns (and
 * the canary Ingress or VirtualService when a router splits traffic), tells the exporter which pods exist and when
 * the canary started, feeds the snapshot to the Recorder, and every few seconds records Prometheus' scrape targets.
 * What it reads comes from PollSources, so the loop runs in tests without a cluster.
 */
import type { Kube, KubeObject } from "../cluster/kube";
import type { PodRef, RolloutClock } from "./exporter";
import { HASH_LABEL, Recorder, Routing, Snapshot } from "./observe";
import { ActiveTarget, activeTargets } from "./prometheus";
import { ROLLOUT_API } from "./rollout";
import { pause, StopCheck } from "./signal";
import * as http from "node:http";

/** What the exporter is told: the pods that exist, and (once) the canary's clock. */
export interface ExporterState {
    pods: PodRef[];
    clock?: RolloutClock;
}

export interface PollSources {
    rollout(): Promise<KubeObject | undefined>;
    pods(): Promise<KubeObject[]>;
    replicaSets(hash: string): Promise<KubeObject[]>;
    analysisRuns(hash: string): Promise<KubeObject[]>;
    /** nginx only: the canary Ingress Argo writes the weight on. */
    canaryIngress?(): Promise<KubeObject | undefined>;
    /** istio only: the VirtualService. */
    virtualService?(): Promise<KubeObject | undefined>;
    exporterState(s: ExporterState): Promise<unknown>;
    targets(): Promise<ActiveTarget[]>;
}

/** Running pods with an address, as the exporter serves them. */
export function podRefs(pods: KubeObject[]): PodRef[] {
    return pods
        .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && p.status?.podIP)
        .map((p) => ({
            namespace: p.metadata!.namespace!,
            name: p.metadata!.name!,
            hash: p.metadata?.labels?.[HASH_LABEL] ?? "",
            version: p.metadata?.labels?.["app.kubernetes.io/version"],
        }));
}

const createdMs = (o: KubeObject | undefined) => new Date((o?.metadata?.creationTimestamp as unknown as string) ?? 0).getTime();

/**
 * The canary's time 0: the new ReplicaSet's creation (second precision) when it was created by this update (not
 * before `pulumi up` started, less a second of rounding), else half a second before it was seen.
 */
export function canaryStart(rs: KubeObject | undefined, updateStartMs: number, seenMs: number): number {
    const created = rs?.metadata?.creationTimestamp ? createdMs(rs) : NaN;
    return Number.isFinite(created) && created >= updateStartMs - 1000 && created <= seenMs ? created : seenMs - 500;
}

/**
 * This update's AnalysisRuns of the Rollout: a version rehearsed before reuses its ReplicaSet (same hash), so only
 * runs owned by the Rollout and created since `pulumi up` started count (creation timestamps have second precision).
 */
export function updateRuns(runs: KubeObject[], rolloutUid: string | undefined, updateStartMs: number): KubeObject[] {
    return runs.filter((a) => (a.metadata?.ownerReferences ?? []).some((r: any) => r.uid === rolloutUid) && createdMs(a) >= updateStartMs - 2000);
}

export function postJson(url: string, body: unknown): Promise<number> {
    return new Promise((resolve) => {
        const req = http.request(url, { method: "POST", headers: { "Content-Type": "application/json" }, timeout: 3000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => req.destroy());
        req.end(JSON.stringify(body));
    });
}

/** The sources in the sandbox: the API server, the exporter's /state and Prometheus' targets API. */
export function kubeSources(o: { kube: Kube; ns: string; model: string; routing: Routing; exporterUrl: string; prometheusUrl: string }): PollSources {
    const { kube, ns, model } = o;
    return {
        rollout: () => kube.read(ROLLOUT_API, "Rollout", model, ns),
        pods: () => kube.list("v1", "Pod", ns, `app.kubernetes.io/name=${model}`),
        replicaSets: (hash) => kube.list("apps/v1", "ReplicaSet", ns, `${HASH_LABEL}=${hash}`),
        analysisRuns: (hash) => kube.list(ROLLOUT_API, "AnalysisRun", ns, `${HASH_LABEL}=${hash}`),
        ...(o.routing === "nginx" ? { canaryIngress: () => kube.read("networking.k8s.io/v1", "Ingress", `${model}-${model}-canary`, ns) } : {}),
        ...(o.routing === "istio" ? { virtualService: () => kube.read("networking.istio.io/v1beta1", "VirtualService", model, ns) } : {}),
        exporterState: (s) => postJson(`${o.exporterUrl}/state`, s),
        targets: () => activeTargets(o.prometheusUrl),
    };
}

export interface PollerOptions {
    recorder: Recorder;
    sources: PollSources;
    /** The Rollout's stable hash before the canary: a different current hash starts the canary's clock. */
    stableHash: string;
    /** `ns/name` of the Rollout, for the error when it disappears. */
    rolloutName: string;
    log: (l: string) => void;
    /** Called after each tick (the printer flushes new events). */
    onTick?: () => void;
    /** Ends the loop (interrupted, or the sandbox went away). */
    stopped: StopCheck;
    intervalMs?: number;
    /** Milliseconds between two reads of Prometheus' targets (at least). */
    targetsEveryMs?: number;
    now?: () => number;
}

export class Poller {
    /** The last tick's error, cleared by a tick that succeeds. */
    lastError?: Error;
    private updateStartMs = 0;
    private lastTargets = "";
    private lastTargetPoll = 0;
    private readonly halt = new AbortController();
    private loop?: Promise<void>;

    constructor(private readonly o: PollerOptions) {}

    private now(): number {
        return (this.o.now ?? Date.now)();
    }

    /** `pulumi up` of the new version starts now: the canary's clock and its AnalysisRuns count from here. */
    markUpdate(tMs: number): void {
        this.updateStartMs = tMs;
    }

    /** One poll: throws what a read threw (the loop logs it once). */
    async tick(): Promise<void> {
        const { recorder, sources } = this.o;
        const tMs = this.now();
        const [rollout, pods] = await Promise.all([sources.rollout(), sources.pods()]);
        if (!rollout) throw new Error(`Rollout ${this.o.rolloutName} disappeared`);
        const update: ExporterState = { pods: podRefs(pods) };
        const current: string | undefined = rollout.status?.currentPodHash;
        if (recorder.t0Ms === undefined && current && current !== this.o.stableHash) {
            const rs = (await sources.replicaSets(current))[0];
            const t0 = canaryStart(rs, this.updateStartMs, tMs);
            update.clock = { t0Ms: t0, canaryHash: current, stableHash: this.o.stableHash };
            recorder.start(t0, current);
        }
        await sources.exporterState(update);
        const canaryHash = recorder.canaryHash;
        const runs = canaryHash ? updateRuns(await sources.analysisRuns(canaryHash), rollout.metadata?.uid, this.updateStartMs) : [];
        const snap: Snapshot = { tMs, rollout, pods, analysisRuns: runs };
        if (sources.canaryIngress) snap.canaryIngress = await sources.canaryIngress();
        if (sources.virtualService) snap.virtualService = await sources.virtualService();
        recorder.observe(snap);
        if (tMs - this.lastTargetPoll > (this.o.targetsEveryMs ?? 2000)) {
            this.lastTargetPoll = tMs;
            const targets = (await sources.targets().catch(() => []))
                .map((t) => ({ pod: t.labels.pod ?? "?", hash: t.labels.rollouts_pod_template_hash ?? "?", health: t.health, labels: t.labels }))
                .sort((a, b) => a.pod.localeCompare(b.pod));
            const key = JSON.stringify(targets.map((t) => [t.pod, t.hash, t.health]));
            if (key !== this.lastTargets) {
                this.lastTargets = key;
                recorder.targets(tMs, targets);
            }
        }
        this.o.onTick?.();
    }

    /** Polls until stop() or `stopped`; a read error is logged once until a tick succeeds again. */
    start(): this {
        const interval = this.o.intervalMs ?? 1000;
        this.loop ??= (async () => {
            while (!this.halt.signal.aborted) {
                const t = this.now();
                try {
                    await this.tick();
                    this.lastError = undefined;
                } catch (e) {
                    if ((e as Error).message !== this.lastError?.message) this.o.log(`  (poll: ${(e as Error).message})`);
                    this.lastError = e as Error;
                }
                if (this.o.stopped()) break;
                await pause(Math.max(0, interval - (this.now() - t)), this.halt.signal);
            }
        })();
        return this;
    }

    /** Ends the loop after the tick in progress, if any. */
    async stop(): Promise<void> {
        this.halt.abort();
        await this.loop;
    }
}
