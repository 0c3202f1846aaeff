/**
 * Rollouts: a canary earns its traffic. An Argo Rollout with a canary strategy has an analysis gate: an
 * `analysis` step before traffic reaches 100%, or a background analysis (`strategy.canary.analysis`) that starts
 * before then. A blue-green Rollout has a pre-promotion analysis. A gate without templates gates nothing.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { ROLLOUT } from "./podSpecs";
import { arr, obj, validateTypes, violation } from "./util";

function hasTemplates(analysis: unknown): boolean {
    return arr(obj(analysis).templates).some((t) => {
        const tpl = obj(t);
        return typeof tpl.templateName === "string" && tpl.templateName !== "";
    });
}

const GATE_REMEDIATION =
    "add an `analysis` step (AnalysisTemplates for success rate, p99 latency and model quality) after the first " +
    "`setWeight`/`pause`, or a background `strategy.canary.analysis` from the first step, so a failing canary " +
    "aborts before it takes full traffic.";

export const rolloutCanaryAnalysis: ResourceValidationPolicy = {
    name: "rollout-canary-analysis",
    description:
        "An Argo Rollout canary has an analysis gate: an analysis step before traffic reaches 100%, or a background " +
        "analysis starting before then, with at least one AnalysisTemplate.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: GATE_REMEDIATION,
    validateResource: validateTypes([ROLLOUT], (props, args, report) => {
        const canary = obj(props.spec?.strategy).canary;
        if (canary === undefined || canary === null) {
            return args.notApplicable("The Rollout has no canary strategy");
        }
        const steps = arr(obj(canary).steps).map(obj);
        // Index of the first step that sends all traffic to the canary; after the last step it is promoted anyway.
        const fullAt = steps.findIndex((s) => s.setWeight !== undefined && Number(s.setWeight) >= 100);
        const limit = fullAt === -1 ? steps.length : fullAt;

        const background = obj(canary).analysis;
        if (hasTemplates(background)) {
            const start = Number(obj(background).startingStep ?? 0);
            if (start < limit) return;
        }
        const firstStepGate = steps.findIndex((s) => hasTemplates(s.analysis));
        if (firstStepGate !== -1 && firstStepGate < limit) return;

        if (firstStepGate !== -1) {
            report(
                violation(`the canary's first analysis step (steps[${firstStepGate}]) comes after traffic reaches 100% (steps[${fullAt}]).`, GATE_REMEDIATION),
            );
        } else if (hasTemplates(background)) {
            const start = Number(obj(background).startingStep ?? 0);
            report(violation(`the canary's background analysis starts at step ${start}, when traffic has already reached 100%.`, GATE_REMEDIATION));
        } else {
            report(
                violation(
                    "the canary has no analysis gate (no `analysis` step and no background `strategy.canary.analysis` with templates).",
                    GATE_REMEDIATION,
                ),
            );
        }
    }),
};

const BLUE_GREEN_REMEDIATION =
    "add `strategy.blueGreen.prePromotionAnalysis` with AnalysisTemplates (success rate and p99 latency on the preview), " +
    "so a failing new version is aborted before the active Service switches to it.";

/**
 * A blue-green Rollout switches all traffic at once: its only gate is the pre-promotion analysis (argo-rollouts
 * v1.9.0 rollout/analysis.go reconcilePrePromotionAnalysisRun; without templates Argo skips it).
 */
export const rolloutBlueGreenAnalysis: ResourceValidationPolicy = {
    name: "rollout-bluegreen-analysis",
    description: "An Argo Rollout blue-green has a pre-promotion analysis with at least one AnalysisTemplate: the switch of all traffic waits for it.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: BLUE_GREEN_REMEDIATION,
    validateResource: validateTypes([ROLLOUT], (props, args, report) => {
        const blueGreen = obj(props.spec?.strategy).blueGreen;
        if (blueGreen === undefined || blueGreen === null) {
            return args.notApplicable("The Rollout has no blue-green strategy");
        }
        if (!hasTemplates(obj(blueGreen).prePromotionAnalysis)) {
            report(
                violation(
                    "the blue-green Rollout has no pre-promotion analysis (`strategy.blueGreen.prePromotionAnalysis` with templates): all traffic would switch unchecked.",
                    BLUE_GREEN_REMEDIATION,
                ),
            );
        }
    }),
};

export const rolloutPolicies = [rolloutCanaryAnalysis, rolloutBlueGreenAnalysis];
