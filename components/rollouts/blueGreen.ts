/**
 * Blue-green release (pure): Argo Rollouts `strategy.blueGreen` for a model (argo-rollouts v1.9.0
 * `pkg/apis/rollouts/v1alpha1/types.go` BlueGreenStrategy; docs/features/bluegreen.md).
 *
 * The new version comes up in full behind the preview Service `<model>-preview` while the active Service `<model>`
 * keeps serving the old one. Once the new ReplicaSet is available, the pre-promotion analysis runs the gates' own
 * templates for the canary alone (success rate and p99 latency: the gate at 100 %) on the preview's pods, selected
 * as a canary's are, by `canary-hash` = `podTemplateHashValue: Latest` (the new ReplicaSet). Failed or Error aborts
 * (the preview is scaled down, the active Service never moved); Inconclusive pauses. Then Argo switches the active
 * Service's selector at once (or pauses for a human first, `autoPromotionEnabled: false`), and keeps the old
 * ReplicaSet `scaleDownDelaySeconds` for an instant rollback.
 */
import type { IBlueGreenStrategy } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/BlueGreenStrategy";
import type { IRolloutAnalysis } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/RolloutAnalysis";
import type { BlueGreenConfig, CanaryConfig } from "../../config/schema";
import { canaryIssues } from "../../domain/rules/canary";
import { formatIssue } from "../../domain/rules/issues";
import { PREVIEW_SERVICE_SUFFIX } from "../../domain/rules/release";
import { DEFAULT_MEASUREMENT } from "../../domain/measurement";
import { ANALYSIS_ARGS, durationSeconds } from "./analysis";
import { AnalysisTarget, analysisArgs, AnalysisTemplateNames, gateTemplates } from "./canary";

/** Argo's own default of `scaleDownDelaySeconds` (types.go: "If omitted, the Rollout waits 30 seconds"). */
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;

/** Name of a model's preview Service. */
export function previewServiceName(model: string): string {
    return `${model}${PREVIEW_SERVICE_SUFFIX}`;
}

/**
 * The pre-promotion analysis: the gate-at-100 % templates (the canary alone; the preview serves no production traffic,
 * so a comparison with the active version would compare test traffic with real traffic) and the gates' args.
 */
export function prePromotionAnalysis(
    bg: BlueGreenConfig,
    templates: AnalysisTemplateNames,
    target: AnalysisTarget,
    initialDelaySeconds: number = durationSeconds(DEFAULT_MEASUREMENT.rateWindow),
): IRolloutAnalysis {
    // The canary args builder wants a whole canary analysis: the comparisons' thresholds are unused by these templates.
    const asCanary: CanaryConfig = {
        steps: [100],
        pauseSeconds: 0,
        analysis: { ...bg.analysis, maxClientErrorIncrease: 0, minFeedbackSamples: 1 },
    };
    const issues = canaryIssues(asCanary).filter((i) => i.path.startsWith("analysis."));
    if (issues.length > 0) throw new Error(`invalid blue-green analysis: ${issues.map(formatIssue).join("; ")}`);
    const unused = new Set<string>([ANALYSIS_ARGS.stableHash, ANALYSIS_ARGS.maxClientErrorIncrease]);
    return {
        templates: gateTemplates(asCanary, templates, 100).map((templateName) => ({ templateName })),
        // Only the args these two templates declare (analysis.ts): no stable hash or client-error threshold to mislead a reader.
        // The first measurement once the preview served a full rate window of its own (as the background analysis'
        // start delay): measured at once, the window holds a sample or none, and two empty results are Inconclusive.
        args: [...analysisArgs(asCanary, target).filter((a) => !unused.has(a.name)), { name: ANALYSIS_ARGS.initialDelay, value: `${initialDelaySeconds}s` }],
    };
}

export interface BlueGreenStrategyInput {
    activeService: string;
    previewService: string;
    autoPromotionEnabled: boolean;
    scaleDownDelaySeconds: number;
    prePromotionAnalysis: IRolloutAnalysis;
}

/** `spec.strategy.blueGreen` (pure). Argo refuses the same Service as active and preview (validation.go DuplicatedServicesBlueGreenMessage). */
export function blueGreenStrategy(input: BlueGreenStrategyInput): IBlueGreenStrategy {
    if (input.activeService === input.previewService) throw new Error(`blue-green: the active and preview Services must differ (both ${input.activeService})`);
    return {
        activeService: input.activeService,
        previewService: input.previewService,
        // Argo's default is true; written out either way, so the rendered Rollout says what happens.
        autoPromotionEnabled: input.autoPromotionEnabled,
        scaleDownDelaySeconds: input.scaleDownDelaySeconds,
        prePromotionAnalysis: input.prePromotionAnalysis,
    };
}
