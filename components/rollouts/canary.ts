/**
 * Canary steps and their worst-case exposure (pure).
 *
 * A model's `canary.steps` (traffic weights, %) become Argo Rollouts steps: for every weight
 * `setWeight` → `pause {duration}` → `analysis` (the shared AnalysisTemplates, see analysis.ts). The canary
 * therefore never gets more than the first weight before one analysis has passed, and every later increase
 * is gated by an analysis at the previous weight. A Failed/Error analysis aborts the rollout, an Inconclusive one
 * pauses it at the current weight (argo-rollouts `rollout/analysis.go`, `reconcileStepBasedAnalysisRun`).
 *
 * `exposure()` is computed from the RENDERED steps, not from the config, so a rendering bug (a missing gate, a
 * reordered step) shows up as a larger exposure in the stack output and fails the test that bounds it.
 */
import type { ICanaryStep } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/CanaryStep";
import type { IAnalysisRunArgument } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisRunArgument";
import type { IRolloutAnalysisBackground } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/RolloutAnalysisBackground";
import type { CanaryConfig } from "../../config/schema";
import { CanaryRouting, canaryExperimentIssues, canaryIssues } from "../../domain/rules/canary";
import { inferencePaths } from "../../domain/serving";
import { formatIssue } from "../../domain/rules/issues";
import { DEFAULT_BACKGROUND_START_DELAY_SECONDS } from "../../domain/measurement";
import { ANALYSIS_ARGS, AnalysisTemplateNames, durationSeconds } from "./analysis";

export { DEFAULT_BACKGROUND_START_DELAY_SECONDS };

/** The validated `models[].canary` config: steps (weights %), pauseSeconds, analysis thresholds. */
export type { CanaryConfig };

export type { AnalysisTemplateNames };

/** What an analysis judges: passed to the templates as args. */
export interface AnalysisTarget {
    /** Model name (`app.kubernetes.io/name` of its pods). */
    model: string;
    /** Model version being rolled out. */
    version: string;
    /** Name of the canary Service (for operators reading the AnalysisRun). */
    service: string;
}

export type CanaryStep = ICanaryStep;

/** Throws on a canary config the rendered steps could not honour on `routing` (domain/rules/canary.ts, as config validation). */
export function validateCanary(canary: CanaryConfig, routing: CanaryRouting = "none"): void {
    const issues = [...canaryIssues(canary), ...canaryExperimentIssues(canary, routing)];
    if (issues.length > 0) throw new Error(`invalid canary config: ${issues.map(formatIssue).join("; ")}`);
}

/** Formats a number for an analysis arg: args are strings; avoid exponent notation (`1e-7`) in PromQL/expr. */
export function argNumber(n: number): string {
    if (!Number.isFinite(n)) {
        throw new Error(`analysis threshold must be finite, got ${n}`);
    }
    const s = String(n);
    return /e/i.test(s) ? n.toFixed(12).replace(/\.?0+$/, "") : s;
}

/** The args every analysis step passes to the shared templates. */
export function analysisArgs(canary: CanaryConfig, target: AnalysisTarget): IAnalysisRunArgument[] {
    const args: IAnalysisRunArgument[] = [
        { name: ANALYSIS_ARGS.service, value: target.service },
        { name: ANALYSIS_ARGS.model, value: target.model },
        { name: ANALYSIS_ARGS.version, value: target.version },
        // The Rollout's own namespace (Argo allows metadata.* field refs in analysis args).
        { name: ANALYSIS_ARGS.namespace, valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        // rollouts-pod-template-hash of the canary (Latest) and stable ReplicaSets.
        { name: ANALYSIS_ARGS.canaryHash, valueFrom: { podTemplateHashValue: "Latest" } },
        { name: ANALYSIS_ARGS.stableHash, valueFrom: { podTemplateHashValue: "Stable" } },
        { name: ANALYSIS_ARGS.successRate, value: argNumber(canary.analysis.successRate) },
        { name: ANALYSIS_ARGS.maxClientErrorIncrease, value: argNumber(canary.analysis.maxClientErrorIncrease) },
        { name: ANALYSIS_ARGS.p99LatencyMs, value: argNumber(canary.analysis.p99LatencyMs) },
        // The request gates' minimum volume (success rate, client errors, latency): fewer requests are no verdict.
        { name: ANALYSIS_ARGS.minRequests, value: argNumber(canary.analysis.minRequests) },
    ];
    if (canary.analysis.maxAccuracyDrop !== undefined) {
        args.push({ name: ANALYSIS_ARGS.maxAccuracyDrop, value: argNumber(canary.analysis.maxAccuracyDrop) });
        args.push({ name: ANALYSIS_ARGS.minFeedbackSamples, value: argNumber(canary.analysis.minFeedbackSamples) });
    }
    return args;
}

/**
 * Template names one gate runs. Below 100 %: success rate, latency, and the comparisons with stable (client-error
 * increase; quality when `maxAccuracyDrop` is set). At 100 % stable serves no traffic, so a comparison would only
 * ever be inconclusive: that gate judges the canary alone (success rate, latency). docs/design/canary-analysis.md.
 */
export function gateTemplates(canary: CanaryConfig, templates: AnalysisTemplateNames, weight: number): string[] {
    if (weight >= 100) {
        return [templates.successRate, templates.latency];
    }
    const names = [templates.successRate, templates.clientErrors, templates.latency];
    if (canary.analysis.maxAccuracyDrop !== undefined) {
        names.push(templates.quality);
    }
    return names;
}

/** Name of the Istio VirtualService route Argo adds for the A/B header (or cookie) match (a `managedRoutes` entry). */
export const HEADER_ROUTE = "ab-test";
/** Name of the Istio VirtualService route Argo adds for the mirror (a `managedRoutes` entry). */
export const MIRROR_ROUTE = "mirror";

/**
 * The Istio match of the A/B route (argo-rollouts v1.9.0 types.go `HeaderRoutingMatch`: headerName + one of exact,
 * prefix, regex). A cookie is a regex on the `cookie` header matching `<name>=always` among the cookies, the value
 * ingress-nginx's `canary-by-cookie` routes to the canary, so both routers pin the same requests.
 */
export function abTestHeaderMatch(ab: NonNullable<CanaryConfig["abTest"]>): { headerName: string; headerValue: { exact?: string; regex?: string } }[] {
    if (ab.header) return [{ headerName: ab.header.name, headerValue: { exact: ab.header.value } }];
    if (ab.cookie) return [{ headerName: "cookie", headerValue: { regex: `^(.*?;\\s*)?${ab.cookie}=always(;.*)?$` } }];
    throw new Error("canary.abTest needs exactly one of header and cookie");
}

/**
 * The nginx canary Ingress annotations of the A/B test, which Argo copies onto the canary Ingress it manages
 * (`trafficRouting.nginx.additionalIngressAnnotations`, argo-rollouts v1.9.0 rollout/trafficrouting/nginx/nginx.go:
 * keys get the `nginx.ingress.kubernetes.io/` prefix; "canary-by-header and canary-by-cookie, if set, will always
 * take precedence" over canary-weight). ingress-nginx: a request whose header equals `canary-by-header-value`, or
 * whose cookie is `always`, goes to the canary; any other request falls through to the weight
 * (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary).
 */
export function nginxAbTestAnnotations(ab: NonNullable<CanaryConfig["abTest"]>): Record<string, string> {
    if (ab.header) return { "canary-by-header": ab.header.name, "canary-by-header-value": ab.header.value };
    if (ab.cookie) return { "canary-by-cookie": ab.cookie };
    throw new Error("canary.abTest needs exactly one of header and cookie");
}

/** The mirror's share of requests: `mirror.percentage`, else the first weight (the share of pods the canary runs). */
export function mirrorPercentage(canary: CanaryConfig): number {
    return canary.mirror?.percentage ?? canary.steps[0];
}

/**
 * The experiment phases before the first weight (empty without `mirror` and `abTest`):
 *  - `setCanaryScale {weight: first step}`: the canary's pods, with no weighted traffic. Argo removes every managed
 *    route while the new ReplicaSet has no available pod (v1.9.0 rollout/trafficrouting.go), and with a router a
 *    canary at weight 0 has none, so the routes need this first; the step completes once the pods are available
 *    (rollout/canary.go `completedCurrentCanaryStep`).
 *  - mirror (Istio): `setMirrorRoute` copying `percentage` % of the inference paths (a route without `match` is removed
 *    instead: istio.go `reconcileVirtualServiceMirrorRoutes`) → pause → gate → `setMirrorRoute` without match,
 *    which removes it. The gate runs no quality template: mirrored responses never reach a user, so no feedback.
 *  - A/B (Istio: `setHeaderRoute`; nginx: the canary Ingress annotations, in force as soon as the canary Service
 *    selects the canary's pods) → pause → gate on the pinned requests. The route stays until full promotion or abort
 *    (rollout/trafficrouting.go `RemoveManagedRoutes`), so a pinned user stays on the new version.
 *  - `setCanaryScale {matchTrafficWeight: true}`: the weights size the canary again.
 */
export function experimentSteps(canary: CanaryConfig, templates: AnalysisTemplateNames, target: AnalysisTarget, routing: CanaryRouting): CanaryStep[] {
    if (canary.mirror === undefined && canary.abTest === undefined) return [];
    const args = analysisArgs(canary, target);
    const gate = (names: string[]): CanaryStep => ({ analysis: { templates: names.map((templateName) => ({ templateName })), args: structuredClone(args) } });
    const pause: CanaryStep = { pause: { duration: `${canary.pauseSeconds}s` } };
    const steps: CanaryStep[] = [{ setCanaryScale: { weight: canary.steps[0] } }];
    if (canary.mirror !== undefined) {
        const match = inferencePaths(target.model).map((path) => ({ path: { exact: path } }));
        steps.push({ setMirrorRoute: { name: MIRROR_ROUTE, percentage: mirrorPercentage(canary), match } });
        steps.push({ ...pause }, gate(gateTemplates(canary, templates, 0).filter((t) => t !== templates.quality)));
        steps.push({ setMirrorRoute: { name: MIRROR_ROUTE } });
    }
    if (canary.abTest !== undefined) {
        if (routing === "istio") steps.push({ setHeaderRoute: { name: HEADER_ROUTE, match: abTestHeaderMatch(canary.abTest) } });
        steps.push({ ...pause }, gate(gateTemplates(canary, templates, 0)));
    }
    steps.push({ setCanaryScale: { matchTrafficWeight: true } });
    return steps;
}

/** The managed routes (Istio) the experiment steps name; Argo requires each step's route in the list (validation.go). */
export function managedRoutes(canary: CanaryConfig, routing: CanaryRouting): { name: string }[] {
    if (routing !== "istio") return [];
    return [...(canary.abTest ? [{ name: HEADER_ROUTE }] : []), ...(canary.mirror ? [{ name: MIRROR_ROUTE }] : [])];
}

/**
 * Argo `strategy.canary.steps` for a model: the experiment phases (`experimentSteps`), then per weight `setWeight` →
 * `pause` → `analysis`. If the last configured weight is below 100, Argo promotes to 100% once the last gate has passed.
 */
export function canarySteps(canary: CanaryConfig, templates: AnalysisTemplateNames, target: AnalysisTarget, routing: CanaryRouting = "none"): CanaryStep[] {
    validateCanary(canary, routing);
    const args = analysisArgs(canary, target);
    const steps: CanaryStep[] = experimentSteps(canary, templates, target, routing);
    for (const weight of canary.steps) {
        steps.push({ setWeight: weight });
        steps.push({ pause: { duration: `${canary.pauseSeconds}s` } });
        // Each gate gets its own copy so a later mutation of one step cannot leak into the others.
        steps.push({
            analysis: { templates: gateTemplates(canary, templates, weight).map((templateName) => ({ templateName })), args: structuredClone(args) },
        });
    }
    return steps;
}

/**
 * The background run's inconclusive limit: far more measurements than any rollout takes, so it never completes
 * Inconclusive. Argo pauses a rollout whose background run is Inconclusive (v1.9.0 `rollout/analysis.go`
 * `reconcileBackgroundAnalysisRun`); over a whole rollout, no data is expected (a 5 % step on light traffic below
 * `minRequests`, the comparisons with stable at 100 % where stable has no pods). Pausing on it is the gates' job.
 */
export const BACKGROUND_INCONCLUSIVE_LIMIT = 1_000_000;

/**
 * Step index the background run starts at: 1, the first pause. Argo completes a `setWeight` step only once the
 * canary's pods are available (`rollout/canary.go` `completedCurrentCanaryStep`), so the start delay counts from
 * pods that serve; an index before it (`startingStep` unset: 0) would count it from the ReplicaSet's creation.
 * With experiment phases the first pause comes later (`backgroundStartingStep`): `setCanaryScale` completes likewise
 * once the pods are available.
 */
export const BACKGROUND_STARTING_STEP = 1;

/** Index of the first pause in `steps`: BACKGROUND_STARTING_STEP without experiments, later after their setup steps. */
export function backgroundStartingStep(steps: CanaryStep[]): number {
    const i = steps.findIndex((s) => s.pause !== undefined);
    return i === -1 ? BACKGROUND_STARTING_STEP : i;
}

/** Whether the canary runs a background analysis (default on) and its start delay in seconds (default 120). */
export function backgroundSettings(canary: CanaryConfig): { enabled: boolean; startDelaySeconds: number } {
    return {
        enabled: canary.backgroundAnalysis?.enabled ?? true,
        startDelaySeconds: canary.backgroundAnalysis?.startDelaySeconds ?? DEFAULT_BACKGROUND_START_DELAY_SECONDS,
    };
}

/**
 * Argo `strategy.canary.analysis` (RolloutAnalysisBackground, argo-rollouts v1.9.0
 * `pkg/apis/rollouts/v1alpha1/types.go`: templates, args, startingStep; the delay is the metrics' `initialDelay`,
 * docs/features/analysis.md "Delay Analysis Runs"), or undefined when it is turned off.
 *
 * The same templates as a gate below 100 % (success rate, client errors, latency, quality with maxAccuracyDrop)
 * and the same args, plus the measurement args: `count` 0 (with an interval: runs until the rollout is fully
 * promoted or aborted, docs/features/analysis.md "count … 0 … background analysis"), an inconclusive limit it never
 * reaches, and the start delay. `failureLimit` stays the policy's: a second failed measurement anywhere in the
 * rollout fails the run, and Argo aborts (`reconcileBackgroundAnalysisRun`: Failed/Error → abort).
 */
export function backgroundAnalysis(
    canary: CanaryConfig,
    templates: AnalysisTemplateNames,
    target: AnalysisTarget,
    routing: CanaryRouting = "none",
): IRolloutAnalysisBackground | undefined {
    validateCanary(canary, routing);
    const { enabled, startDelaySeconds } = backgroundSettings(canary);
    if (!enabled) return undefined;
    return {
        templates: gateTemplates(canary, templates, 0).map((templateName) => ({ templateName })),
        args: [
            ...analysisArgs(canary, target),
            { name: ANALYSIS_ARGS.count, value: "0" },
            { name: ANALYSIS_ARGS.inconclusiveLimit, value: String(BACKGROUND_INCONCLUSIVE_LIMIT) },
            { name: ANALYSIS_ARGS.initialDelay, value: `${startDelaySeconds}s` },
        ],
        startingStep: backgroundStartingStep(canarySteps(canary, templates, target, routing)),
    };
}

export interface Exposure {
    /** Highest canary weight (%) reached before the first analysis gate; 100 when there is no gate. */
    firstGateWeight: number;
    /** Minimum seconds from the first step to 100%: all pauses plus each gate's minimum analysis time. */
    minSecondsToFull: number;
    /** Number of analysis gates. */
    gates: number;
}

/**
 * Worst-case exposure, computed from rendered steps.
 *
 * `analysisMinSeconds` maps a template name to its minimum run time (analysis.ts `templateMinSeconds`:
 * `(count - 1) × interval` plus any `initialDelay`). A gate running several templates takes the longest of
 * them (their metrics run in parallel in one AnalysisRun). Templates missing from the map count as 0 s, so the
 * result is always a lower bound. An indefinite pause (`pause: {}`) makes the time unbounded (Infinity).
 */
export function exposure(steps: CanaryStep[], analysisMinSeconds: Record<string, number> = {}): Exposure {
    let firstGateWeight: number | undefined;
    let highestBeforeGate = 0;
    let seconds = 0;
    let gates = 0;
    for (const step of steps) {
        if (step.setWeight !== undefined && firstGateWeight === undefined) {
            highestBeforeGate = Math.max(highestBeforeGate, step.setWeight);
        }
        if (step.pause !== undefined) {
            seconds += step.pause.duration === undefined ? Number.POSITIVE_INFINITY : durationSeconds(step.pause.duration);
        }
        if (step.analysis !== undefined) {
            gates += 1;
            if (firstGateWeight === undefined) {
                firstGateWeight = highestBeforeGate;
            }
            const runs = (step.analysis.templates ?? []).map((t) => analysisMinSeconds[t.templateName ?? ""] ?? 0);
            seconds += Math.max(0, ...runs);
        }
    }
    return { firstGateWeight: firstGateWeight ?? 100, minSecondsToFull: seconds, gates };
}

/** Argo's default canary maxSurge ("25%"), resolved against spec.replicas and rounded up as Kubernetes does. */
export function defaultMaxSurge(specReplicas: number): number {
    return Math.ceil(specReplicas * 0.25);
}

/**
 * Canary/stable pod counts of a basic (replica-weighted, no traffic router) canary at a weight: a port of
 * argo-rollouts `utils/replicaset/canary.go` `approximateWeightedCanaryStableReplicaCounts`. Without a traffic
 * router traffic splits by ready pods, so `share` (canary pods / all pods, %) is the canary's real traffic share.
 */
export function basicCanaryReplicas(
    specReplicas: number,
    weight: number,
    maxSurge = defaultMaxSurge(specReplicas),
): { canary: number; stable: number; share: number } {
    if (specReplicas === 0) {
        return { canary: 0, stable: 0, share: 0 };
    }
    const ceil = Math.ceil((specReplicas * weight) / 100);
    const floor = Math.floor((specReplicas * weight) / 100);
    // Go: math.Modf(float64(total) * (float64(weight) / 100)) frac == 0.5
    const tied = (total: number) => (total * (weight / 100)) % 1 === 0.5;
    const zeroAllowed = weight === 100 || weight === 0 || (specReplicas === 1 && maxSurge === 0);
    const options: Array<{ canary: number; total: number }> = [];
    if (ceil < specReplicas || zeroAllowed) {
        options.push({ canary: ceil, total: specReplicas });
    }
    if (!tied(specReplicas) && (floor !== 0 || zeroAllowed)) {
        options.push({ canary: floor, total: specReplicas });
    }
    if (maxSurge > 0) {
        options.push({ canary: ceil, total: specReplicas + 1 });
        if (!tied(specReplicas + 1) && (floor !== 0 || zeroAllowed)) {
            options.push({ canary: floor, total: specReplicas + 1 });
        }
    }
    if (options.length === 0) {
        return { canary: 0, stable: specReplicas, share: 0 };
    }
    const delta = (o: { canary: number; total: number }) => Math.abs((o.canary * 100) / o.total - weight);
    let best = options[0];
    for (const o of options.slice(1)) {
        if (delta(o) < delta(best)) {
            best = o;
        }
    }
    const stable = best.total - best.canary;
    return { canary: best.canary, stable, share: Math.round(((best.canary * 100) / best.total) * 10) / 10 };
}
