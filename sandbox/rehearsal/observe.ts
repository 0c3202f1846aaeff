/**
 * What the Argo Rollouts controller did (pure): snapshots of the Rollout, its pods, its AnalysisRuns and (nginx)
 * the canary Ingress become timeline events, the canary's traffic weight, and finally an outcome.
 *
 * Argo facts used (argo-rollouts v1.9.0):
 * - `rollout/canary.go`: on abort `status.currentStepIndex` is reset to 0 (or to the step count when stable is the
 *   current pod hash), so the step where a rollout was decided is taken from before the abort — the failed
 *   AnalysisRun's `step-index` label, else the last index observed.
 * - the background analysis' run carries `rollout-type: Background` and no `step-index` (`utils/analysis/factory.go`
 *   BackgroundLabels); a step gate's `rollout-type: Step` and its `step-index`.
 * - pause reasons (`pkg/apis/rollouts/v1alpha1/types.go`): `CanaryPauseStep` is a timed `pause` step;
 *   `InconclusiveAnalysisRun` is the pause an Inconclusive analysis causes (rollout/analysis.go).
 * - `analysis/analysis.go` (asssessRunStatus, assessMetricStatus): an AnalysisRun completes with the worst phase of
 *   its metrics; once one metric is Failed, Error or Inconclusive the run terminates and the others complete
 *   Successful ("metric terminated"). So the metrics that decided an abort are the failed run's Failed or Error
 *   ones, and those that decided an Inconclusive pause the run's Inconclusive ones.
 * - nginx: the canary Ingress is `<rollout>-<stable ingress>-canary` (utils/ingress GetCanaryIngressName) with
 *   `nginx.ingress.kubernetes.io/canary-weight` (rollout/trafficrouting/nginx); without a router the weight is the
 *   replica split: ready canary pods / ready pods of the model.
 */
import type { KubeObject } from "../cluster/kube";
import type { Outcome, RunKind } from "./scenario";

export const HASH_LABEL = "rollouts-pod-template-hash";
export const STEP_INDEX_LABEL = "step-index";
/** How the Rollout created an AnalysisRun (pkg/apis/rollouts/v1alpha1/types.go RolloutTypeLabel): `Step` or `Background`. */
export const RUN_TYPE_LABEL = "rollout-type";
export const RUN_TYPE_BACKGROUND = "Background";
/** A blue-green Rollout's analysis of its preview before the switch (types.go RolloutTypePrePromotionLabel). */
export const RUN_TYPE_PRE_PROMOTION = "PrePromotion";

/** The kind of an AnalysisRun from its `rollout-type` label: the background analysis, a step gate or a pre-promotion analysis. */
export function runKind(ar: KubeObject): RunKind {
    const label = ar.metadata?.labels?.[RUN_TYPE_LABEL];
    return label === RUN_TYPE_BACKGROUND ? "background" : label === RUN_TYPE_PRE_PROMOTION ? "prePromotion" : "step";
}
export const NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";
export const NGINX_WEIGHT_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total";
export const PAUSE_INCONCLUSIVE = "InconclusiveAnalysisRun";
export const PAUSE_STEP = "CanaryPauseStep";

export type Routing = "none" | "nginx" | "istio";

export interface Snapshot {
    /** Real time of the snapshot (ms since epoch). */
    tMs: number;
    rollout: KubeObject;
    /** Pods of the model (label app.kubernetes.io/name). */
    pods: KubeObject[];
    /** AnalysisRuns of this rollout for the canary hash. */
    analysisRuns: KubeObject[];
    /** nginx: the canary Ingress Argo created (undefined while there is none). */
    canaryIngress?: KubeObject;
    /** istio: the VirtualService. */
    virtualService?: KubeObject;
}

export interface Weight {
    /** Canary traffic weight, % (one decimal). */
    weight: number;
    canaryPods: number;
    stablePods: number;
    source: "replicas" | "ingress" | "virtualservice" | "activeService";
}

export interface MeasurementEvent {
    run: string;
    step?: number;
    metric: string;
    index: number;
    phase: string;
    value?: string;
    message?: string;
    startedAt?: string;
    finishedAt?: string;
}

export type EventBody =
    | { kind: "rollout"; phase: string; step: number | null; stepText: string; message?: string; abort?: boolean; pauseReasons: string[] }
    | ({ kind: "weight" } & Weight)
    | { kind: "analysisrun"; run: string; runKind?: RunKind; step?: number; phase: string; message?: string; metrics: Record<string, string> }
    | ({ kind: "measurement" } & MeasurementEvent)
    | { kind: "targets"; targets: Array<{ pod: string; hash: string; health: string; labels: Record<string, string> }> }
    | { kind: "note"; text: string }
    | { kind: "outcome"; outcome: Outcome; step: number | null; message: string };

export type TimelineEvent = { t: number; scenarioT: number } & EventBody;

const isReady = (p: KubeObject) =>
    !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");

/** The canary's traffic weight, read from what the controller wrote. */
export function canaryWeight(s: Snapshot, routing: Routing, canaryHash: string | undefined, canaryService?: string): Weight {
    const ready = s.pods.filter(isReady);
    const canaryPods = canaryHash ? ready.filter((p) => p.metadata?.labels?.[HASH_LABEL] === canaryHash).length : 0;
    const stablePods = ready.length - canaryPods;
    if (s.rollout.spec?.strategy?.blueGreen) {
        // Blue-green: every request goes where the active Service points (Argo pins its selector to one hash,
        // status.blueGreen.activeSelector); the preview's pods take none of the users' traffic before the switch.
        const active = s.rollout.status?.blueGreen?.activeSelector;
        return { weight: canaryHash !== undefined && active === canaryHash ? 100 : 0, canaryPods, stablePods, source: "activeService" };
    }
    if (routing === "nginx") {
        const a = s.canaryIngress?.metadata?.annotations ?? {};
        const w = Number(a[NGINX_WEIGHT] ?? 0);
        const total = Number(a[NGINX_WEIGHT_TOTAL] ?? 100);
        return { weight: round1((w * 100) / total), canaryPods, stablePods, source: "ingress" };
    }
    if (routing === "istio") {
        // The weights of the route Argo re-weights (the Rollout's `virtualService.routes`, `primary`): the header and
        // mirror routes Argo puts before it carry other destinations (header: the canary alone; mirror: a copy).
        const names: string[] = s.rollout.spec?.strategy?.canary?.trafficRouting?.istio?.virtualService?.routes ?? [];
        const http: any[] = s.virtualService?.spec?.http ?? [];
        const weighted = names.length > 0 ? http.filter((h) => names.includes(h.name)) : http.filter((h) => !h.match?.length);
        const routes: any[] = weighted.flatMap((h: any) => h.route ?? []);
        const canary = routes.find((r) => r.destination?.host === canaryService);
        const total = routes.reduce((a, r) => a + Number(r.weight ?? 0), 0);
        return { weight: total > 0 ? round1((Number(canary?.weight ?? 0) * 100) / total) : 0, canaryPods, stablePods, source: "virtualservice" };
    }
    return { weight: ready.length > 0 ? round1((canaryPods * 100) / ready.length) : 0, canaryPods, stablePods, source: "replicas" };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** `setWeight 25`, `pause 6s`, `analysis success-rate, latency-p99` … */
export function stepText(step: any): string {
    if (!step) return "-";
    if (step.setWeight !== undefined) return `setWeight ${step.setWeight}`;
    if (step.pause !== undefined) return step.pause.duration === undefined ? "pause (indefinite)" : `pause ${step.pause.duration}`;
    if (step.analysis !== undefined) return `analysis ${(step.analysis.templates ?? []).map((t: any) => t.templateName).join(", ")}`;
    return Object.keys(step)[0] ?? "?";
}

export interface RecorderOptions {
    routing: Routing;
    timeScale: number;
    stableHashBefore: string;
    canaryService?: string;
    /** Seconds a non-step pause must last before the outcome is `paused`. */
    pauseSettleSeconds: number;
    /** Seconds to wait after an abort for the canary weight to reach 0. */
    abortSettleSeconds: number;
}

/** How the rollout ended, and what decided it. */
export interface RecordedOutcome {
    outcome: Outcome;
    step: number | null;
    message: string;
    stableRevisionAfter: string;
    /**
     * The analysis metrics that decided it, sorted: the failed run's Failed/Error metrics for an abort, the
     * Inconclusive run's Inconclusive ones for a pause on InconclusiveAnalysisRun; empty for a promotion, an abort
     * without a failed run (e.g. Degraded by the progress deadline) or any other pause.
     */
    decidedBy: string[];
    /** The AnalysisRun that decided it (the one `decidedBy` comes from) and its kind; undefined when no run did. */
    decidingRun?: { name: string; kind: RunKind };
}

/** Names of the metric results in `phases`, sorted. */
function metricsIn(results: any[], phases: string[]): string[] {
    return results
        .filter((r) => phases.includes(r.phase))
        .map((r) => String(r.name))
        .sort();
}

/** Turns snapshots into events and decides the outcome. */
export class Recorder {
    readonly events: TimelineEvent[] = [];
    t0Ms?: number;
    canaryHash?: string;
    maxCanaryWeight = 0;
    lastWeight?: Weight;
    lastStepBeforeAbort: number | null = null;
    outcome?: RecordedOutcome;
    private lastRollout = "";
    private lastWeightKey = "";
    private runs = new Map<string, string>();
    private measurements = new Set<string>();
    private pausedSince?: number;
    private abortedAt?: number;
    private failedRunStep?: number;
    /** The analysis metrics of the last Failed/Error run that failed or errored, and of the last Inconclusive run that were inconclusive. */
    private failedRunMetrics: string[] = [];
    private inconclusiveRunMetrics: string[] = [];
    private failedRun?: { name: string; kind: RunKind };
    private inconclusiveRun?: { name: string; kind: RunKind };
    private pending: Array<{ tMs: number; body: EventBody }> = [];

    constructor(private readonly o: RecorderOptions) {}

    /** Time and scenario time of a real time; before t0 both count from the first snapshot's time (negative later). */
    private stamp(tMs: number): { t: number; scenarioT: number } {
        const t = this.t0Ms === undefined ? 0 : (tMs - this.t0Ms) / 1000;
        return { t: round1(t), scenarioT: Math.round(t * this.o.timeScale) };
    }

    private emit(tMs: number, body: EventBody): TimelineEvent[] {
        if (this.t0Ms === undefined) {
            this.pending.push({ tMs, body });
            return [];
        }
        const e = { ...this.stamp(tMs), ...body } as TimelineEvent;
        this.events.push(e);
        return [e];
    }

    /** Marks the rollout's start (scenario time 0); events seen before it are re-stamped relative to it. */
    start(t0Ms: number, canaryHash: string): TimelineEvent[] {
        this.t0Ms = t0Ms;
        this.canaryHash = canaryHash;
        const out: TimelineEvent[] = [];
        for (const p of this.pending) out.push(...this.emit(p.tMs, p.body));
        this.pending = [];
        return out;
    }

    note(tMs: number, text: string): TimelineEvent[] {
        return this.emit(tMs, { kind: "note", text });
    }

    targets(tMs: number, targets: Array<{ pod: string; hash: string; health: string; labels: Record<string, string> }>): TimelineEvent[] {
        return this.emit(tMs, { kind: "targets", targets });
    }

    observe(s: Snapshot): TimelineEvent[] {
        const out: TimelineEvent[] = [];
        const st = s.rollout.status ?? {};
        const steps: any[] = s.rollout.spec?.strategy?.canary?.steps ?? [];
        const step: number | null = typeof st.currentStepIndex === "number" ? st.currentStepIndex : null;
        const pauseReasons: string[] = (st.pauseConditions ?? []).map((p: any) => p.reason);
        const phase: string = st.phase ?? "Unknown";
        const aborted = st.abort === true;
        if (!aborted && this.t0Ms !== undefined && step !== null) this.lastStepBeforeAbort = step;

        const rolloutKey = JSON.stringify([phase, step, aborted, pauseReasons, st.message ?? ""]);
        if (rolloutKey !== this.lastRollout) {
            this.lastRollout = rolloutKey;
            out.push(
                ...this.emit(s.tMs, {
                    kind: "rollout",
                    phase,
                    step,
                    stepText: step === null ? "-" : step >= steps.length ? "done" : stepText(steps[step]),
                    message: st.message || undefined,
                    abort: aborted || undefined,
                    pauseReasons,
                }),
            );
        }

        const w = canaryWeight(s, this.o.routing, this.canaryHash, this.o.canaryService);
        this.lastWeight = w;
        if (this.t0Ms !== undefined) this.maxCanaryWeight = Math.max(this.maxCanaryWeight, w.weight);
        const wKey = JSON.stringify([w.weight, w.canaryPods, w.stablePods]);
        if (wKey !== this.lastWeightKey) {
            this.lastWeightKey = wKey;
            out.push(...this.emit(s.tMs, { kind: "weight", ...w }));
        }

        const created = (o: KubeObject) => new Date((o.metadata?.creationTimestamp as unknown as string) ?? 0).getTime();
        for (const ar of [...s.analysisRuns].sort((a, b) => created(a) - created(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name)))) {
            const name = ar.metadata?.name ?? "?";
            const runStep = ar.metadata?.labels?.[STEP_INDEX_LABEL] !== undefined ? Number(ar.metadata.labels[STEP_INDEX_LABEL]) : undefined;
            const results: any[] = ar.status?.metricResults ?? [];
            for (const r of results) {
                (r.measurements ?? []).forEach((m: any, i: number) => {
                    if (!m.phase || m.phase === "Running" || m.phase === "Pending") return;
                    const k = `${name}/${r.name}/${m.startedAt ?? i}`;
                    if (this.measurements.has(k)) return;
                    this.measurements.add(k);
                    out.push(
                        ...this.emit(s.tMs, {
                            kind: "measurement",
                            run: name,
                            step: runStep,
                            metric: r.name,
                            index: i + 1,
                            phase: m.phase,
                            value: m.value,
                            message: m.message || undefined,
                            startedAt: m.startedAt,
                            finishedAt: m.finishedAt,
                        }),
                    );
                });
            }
            const runPhase: string = ar.status?.phase ?? "Pending";
            const metrics = Object.fromEntries(results.map((r) => [r.name, r.phase]));
            const runKey = JSON.stringify([runPhase, metrics]);
            if (this.runs.get(name) !== runKey) {
                this.runs.set(name, runKey);
                out.push(
                    ...this.emit(s.tMs, {
                        kind: "analysisrun",
                        run: name,
                        runKind: runKind(ar),
                        step: runStep,
                        phase: runPhase,
                        message: ar.status?.message || undefined,
                        metrics,
                    }),
                );
            }
            if ((runPhase === "Failed" || runPhase === "Error") && runStep !== undefined) this.failedRunStep = runStep;
            if (runPhase === "Failed" || runPhase === "Error") {
                this.failedRunMetrics = metricsIn(results, ["Failed", "Error"]);
                this.failedRun = { name, kind: runKind(ar) };
            }
            if (runPhase === "Inconclusive") {
                this.inconclusiveRunMetrics = metricsIn(results, ["Inconclusive"]);
                this.inconclusiveRun = { name, kind: runKind(ar) };
            }
        }

        if (!this.outcome && this.t0Ms !== undefined) {
            const decided = this.decide(s, { phase, step, aborted, pauseReasons, steps, weight: w });
            if (decided) {
                this.outcome = decided;
                out.push(...this.emit(s.tMs, { kind: "outcome", outcome: decided.outcome, step: decided.step, message: decided.message }));
            }
        }
        return out;
    }

    private decide(
        s: Snapshot,
        r: { phase: string; step: number | null; aborted: boolean; pauseReasons: string[]; steps: any[]; weight: Weight },
    ): Recorder["outcome"] | undefined {
        const st = s.rollout.status ?? {};
        const stableRS: string = st.stableRS ?? "";
        if (this.canaryHash && stableRS === this.canaryHash && r.phase === "Healthy") {
            return {
                outcome: "promoted",
                step: r.step,
                message: `Healthy, stable is the new ReplicaSet ${stableRS}`,
                stableRevisionAfter: stableRS,
                decidedBy: [],
            };
        }
        if (r.aborted || r.phase === "Degraded") {
            this.abortedAt ??= s.tMs;
            // Wait (bounded) for the controller to take the canary's traffic back, so the final weight is what it did.
            if (r.weight.weight > 0 && s.tMs - this.abortedAt < this.o.abortSettleSeconds * 1000) return undefined;
            const at = this.failedRunStep ?? this.lastStepBeforeAbort;
            return {
                outcome: "aborted",
                step: at,
                message: `${r.phase}${st.message ? `: ${st.message}` : ""}`,
                stableRevisionAfter: stableRS,
                decidedBy: this.failedRunMetrics,
                ...(this.failedRun ? { decidingRun: this.failedRun } : {}),
            };
        }
        this.abortedAt = undefined;
        const current = r.step !== null ? r.steps[r.step] : undefined;
        const indefiniteStep = current?.pause !== undefined && current.pause.duration === undefined;
        const held = r.pauseReasons.some((x) => x !== PAUSE_STEP) || indefiniteStep || s.rollout.spec?.paused === true;
        if (r.phase === "Paused" && held) {
            this.pausedSince ??= s.tMs;
            if (s.tMs - this.pausedSince >= this.o.pauseSettleSeconds * 1000) {
                return {
                    outcome: "paused",
                    step: r.step,
                    message: `Paused (${r.pauseReasons.join(", ") || "spec.paused"})${st.message ? `: ${st.message}` : ""}`,
                    stableRevisionAfter: stableRS,
                    decidedBy: r.pauseReasons.includes(PAUSE_INCONCLUSIVE) ? this.inconclusiveRunMetrics : [],
                    ...(r.pauseReasons.includes(PAUSE_INCONCLUSIVE) && this.inconclusiveRun ? { decidingRun: this.inconclusiveRun } : {}),
                };
            }
            return undefined;
        }
        this.pausedSince = undefined;
        return undefined;
    }
}

/** One line of the printed timeline. */
export function formatEvent(e: TimelineEvent): string {
    const time = `${e.t.toFixed(1).padStart(7)}s  scn ${String(e.scenarioT).padStart(5)}s  `;
    switch (e.kind) {
        case "rollout":
            return `${time}rollout   ${e.phase}${e.abort ? " (aborted)" : ""}  step ${e.step ?? "-"} ${e.stepText}${e.pauseReasons.length ? `  pause: ${e.pauseReasons.join(",")}` : ""}${e.message ? `  "${e.message}"` : ""}`;
        case "weight":
            return `${time}weight    canary ${e.weight}%  (${e.canaryPods} canary / ${e.stablePods} stable ready pods; from ${e.source})`;
        case "analysisrun":
            return `${time}analysis  ${e.run} (${e.runKind === "background" ? "background" : e.runKind === "prePromotion" ? "pre-promotion" : `step ${e.step ?? "?"}`}) ${e.phase}  ${Object.entries(
                e.metrics,
            )
                .map(([k, v]) => `${k}=${v}`)
                .join(" ")}${e.message ? `  "${e.message}"` : ""}`;
        case "measurement":
            return `${time}measure   ${e.metric} #${e.index} ${e.phase}  value=${e.value ?? "-"}${e.message ? `  "${e.message}"` : ""}`;
        case "targets":
            return `${time}targets   ${e.targets.map((x) => `${x.pod}[${x.hash}] ${x.health}`).join(", ") || "(none)"}`;
        case "note":
            return `${time}note      ${e.text}`;
        case "outcome":
            return `${time}OUTCOME   ${e.outcome} at step ${e.step ?? "-"}: ${e.message}`;
    }
}
