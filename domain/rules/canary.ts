/**
 * The canary rules: `steps` (traffic weights) and the bounds the rendered steps and analysis args rely on.
 * Argo Rollouts applies weights in order (argo-rollouts `rollout/canary.go`), so they must strictly increase.
 */
import { isInt, RuleIssue } from "./issues";

/** Problems of `canary.steps`: at least one, each an integer in 1..100, strictly increasing. Non-numbers are left to the schema. */
export function canaryStepsIssues(steps: unknown): RuleIssue[] {
    if (!Array.isArray(steps)) return [];
    if (steps.length === 0) return [{ path: "steps", reason: "needs at least one step" }];
    const out: RuleIssue[] = [];
    steps.forEach((w, i) => {
        if (typeof w !== "number") return;
        const path = `steps[${i}]`;
        if (!Number.isInteger(w)) out.push({ path, value: w, reason: "must be an integer" });
        else if (w < 1 || w > 100) out.push({ path, value: w, reason: "must be in 1..100" });
        const prev = steps[i - 1];
        if (i > 0 && typeof prev === "number" && w <= prev) {
            out.push({ path, value: w, reason: `must be greater than the previous step (${prev}): weights must strictly increase` });
        }
    });
    return out;
}

/** The typed canary config's problems: its steps, pause and analysis thresholds (a component's last line of defence). */
export function canaryIssues(canary: {
    steps: unknown;
    pauseSeconds: number;
    backgroundAnalysis?: { enabled?: boolean; startDelaySeconds?: number };
    analysis: {
        successRate: number;
        p99LatencyMs: number;
        maxAccuracyDrop?: number;
        minFeedbackSamples: number;
        maxClientErrorIncrease: number;
        minRequests: number;
    };
}): RuleIssue[] {
    const out = canaryStepsIssues(canary.steps);
    // 0 is allowed: the gate then starts at once and its first measurements are likely no-data (Inconclusive).
    if (!isInt(canary.pauseSeconds) || canary.pauseSeconds < 0)
        out.push({ path: "pauseSeconds", value: canary.pauseSeconds, reason: "must be an integer ≥ 0" });
    const delay = canary.backgroundAnalysis?.startDelaySeconds;
    if (delay !== undefined && (!isInt(delay) || delay < 0))
        out.push({ path: "backgroundAnalysis.startDelaySeconds", value: delay, reason: "must be an integer ≥ 0" });
    const a = canary.analysis;
    const p = (key: string) => `analysis.${key}`;
    if (!(a.successRate > 0 && a.successRate <= 1)) out.push({ path: p("successRate"), value: a.successRate, reason: "must be in (0, 1]" });
    if (!(a.p99LatencyMs > 0)) out.push({ path: p("p99LatencyMs"), value: a.p99LatencyMs, reason: "must be > 0" });
    if (a.maxAccuracyDrop !== undefined && !(a.maxAccuracyDrop >= 0 && a.maxAccuracyDrop <= 1)) {
        out.push({ path: p("maxAccuracyDrop"), value: a.maxAccuracyDrop, reason: "must be in [0, 1]" });
    }
    if (!isInt(a.minFeedbackSamples) || a.minFeedbackSamples < 1)
        out.push({ path: p("minFeedbackSamples"), value: a.minFeedbackSamples, reason: "must be an integer ≥ 1" });
    if (!(a.maxClientErrorIncrease >= 0 && a.maxClientErrorIncrease <= 1)) {
        out.push({ path: p("maxClientErrorIncrease"), value: a.maxClientErrorIncrease, reason: "must be in [0, 1]" });
    }
    if (!isInt(a.minRequests) || a.minRequests < 1) out.push({ path: p("minRequests"), value: a.minRequests, reason: "must be an integer ≥ 1" });
    return out;
}

/** How a stack splits canary traffic (`rollouts.trafficRouting`). */
export type CanaryRouting = "none" | "nginx" | "istio";

/**
 * Problems of a canary's experiments on the stack's router, paths relative to the canary:
 *  - `abTest` needs exactly one of `header` and `cookie`, and a router: nginx pins requests with the canary Ingress'
 *    `canary-by-header`/`canary-by-cookie` annotations, Istio with a `setHeaderRoute` step. Without a router traffic
 *    splits by ready pods behind one Service, so no request can be pinned to a version.
 *  - `mirror` needs Istio: argo-rollouts v1.9.0 `pkg/apis/rollouts/validation/validation.go` refuses `setMirrorRoute`
 *    without Istio ("SetMirrorRoute requires TrafficRouting, supports Istio only"), and ingress-nginx has no mirror step.
 * `routing` undefined (not a known mode) is left to the schema.
 */
export function canaryExperimentIssues(canary: { abTest?: unknown; mirror?: unknown }, routing: unknown): RuleIssue[] {
    const out: RuleIssue[] = [];
    const ab = canary.abTest;
    if (ab !== undefined && ab !== null && typeof ab === "object") {
        const { header, cookie } = ab as { header?: unknown; cookie?: unknown };
        if ((header === undefined) === (cookie === undefined)) out.push({ path: "abTest", reason: "needs exactly one of header and cookie" });
        if (routing === "none")
            out.push({
                path: "abTest",
                reason: "needs rollouts.trafficRouting nginx or istio (this stack's is none): without a router traffic splits by ready pods, so no request can be pinned to the canary",
            });
    }
    if (canary.mirror !== undefined && (routing === "none" || routing === "nginx"))
        out.push({
            path: "mirror",
            reason: `needs rollouts.trafficRouting istio (this stack's is ${routing}): Argo Rollouts mirrors traffic only through an Istio VirtualService (setMirrorRoute)`,
        });
    return out;
}
