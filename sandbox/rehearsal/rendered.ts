/**
 * What the program rendered for the model, read back from the API server after `pulumi up`: the Rollout's canary
 * steps (or its blue-green strategy and pre-promotion analysis), the AnalysisTemplates its gates run, and from them
 * the deadline for an outcome. The summaries are pure.
 */
import { MEASUREMENT_ARGS, metricsWithDefaults, templateMinSeconds } from "../../components/rollouts/analysis";
import { exposure } from "../../components/rollouts/canary";
import type { KubeObject } from "../cluster/kube";
import { stepText } from "./observe";
import { ROLLOUT_API, RolloutReader } from "./rollout";

export interface Rendered {
    /** One line per canary step, with the analysis args of each gate. */
    steps: string[];
    /** One entry per template metric: interval, count, limits, conditions, query. */
    templates: Record<string, unknown>[];
    /** Seconds allowed for an outcome: twice the least time through the steps (exposure().minSecondsToFull) plus 180 s. */
    budgetSeconds: number;
}

/** A blue-green strategy as text lines: its Services, promotion and the pre-promotion analysis with its args. */
export function blueGreenLines(rollout: KubeObject): string[] {
    const bg = rollout.spec?.strategy?.blueGreen;
    if (!bg) return [];
    const pre = bg.prePromotionAnalysis;
    const args = (pre?.args ?? []).filter((a: any) => a.value !== undefined).map((a: any) => `${a.name}=${a.value}`);
    return [
        `blueGreen: active ${bg.activeService}, preview ${bg.previewService}, autoPromotionEnabled ${bg.autoPromotionEnabled ?? true}, scaleDownDelaySeconds ${bg.scaleDownDelaySeconds ?? 30}`,
        ...(pre ? [`prePromotionAnalysis ${(pre.templates ?? []).map((t: any) => t.templateName).join(", ")}  args: ${args.join(" ")}`] : []),
    ];
}

/** Rendered steps as text lines, with the analysis args of each gate. */
export function stepLines(rollout: KubeObject): string[] {
    if (rollout.spec?.strategy?.blueGreen) return blueGreenLines(rollout);
    const steps: any[] = rollout.spec?.strategy?.canary?.steps ?? [];
    return steps.map((s, i) => {
        const args = s.analysis
            ? `  args: ${(s.analysis.args ?? [])
                  .filter((a: any) => a.value !== undefined)
                  .map((a: any) => `${a.name}=${a.value}`)
                  .join(" ")}`
            : "";
        return `${String(i).padStart(2)} ${stepText(s)}${args}`;
    });
}

/** The background analysis (`strategy.canary.analysis`) as one line with its measurement args, or none. */
export function backgroundLine(rollout: KubeObject | undefined): string | undefined {
    const bg = rollout?.spec?.strategy?.canary?.analysis;
    if (!bg) return undefined;
    const args = (bg.args ?? []).filter((a: any) => (MEASUREMENT_ARGS as readonly string[]).includes(a.name)).map((a: any) => `${a.name}=${a.value}`);
    return `background analysis ${(bg.templates ?? []).map((t: any) => t.templateName).join(", ")} from step ${bg.startingStep ?? 0}  args: ${args.join(" ")}`;
}

/** Each metric as a step gate runs it (the templates' measurement arg defaults resolved). */
export function templateSummary(t: KubeObject): Record<string, unknown>[] {
    return metricsWithDefaults(t.spec ?? {}).map((m: any) => ({
        template: t.metadata?.name,
        metric: m.name,
        interval: m.interval,
        count: m.count,
        failureLimit: m.failureLimit,
        inconclusiveLimit: m.inconclusiveLimit,
        consecutiveErrorLimit: m.consecutiveErrorLimit,
        successCondition: m.successCondition,
        failureCondition: m.failureCondition,
        query: m.provider?.prometheus?.query,
    }));
}

/** The AnalysisTemplate names the Rollout's steps (or its blue-green pre-promotion analysis) use, each once, in order. */
export function gateTemplateNames(rollout: KubeObject | undefined): string[] {
    const steps: any[] = rollout?.spec?.strategy?.canary?.steps ?? [];
    const pre: any[] = rollout?.spec?.strategy?.blueGreen?.prePromotionAnalysis?.templates ?? [];
    return [...new Set([...steps.flatMap((s) => s.analysis?.templates ?? []), ...pre].map((t: any) => t.templateName as string))];
}

/**
 * Twice the least time the steps take (every pause and each gate's measurements), plus 180 s. Blue-green: twice the
 * pre-promotion analysis (its templates' metrics run side by side in one AnalysisRun: the slowest decides), plus 180 s.
 */
export function outcomeBudget(rollout: KubeObject | undefined, templates: KubeObject[]): number {
    const minSeconds = Object.fromEntries(templates.map((t) => [t.metadata!.name!, templateMinSeconds(t.spec)]));
    const pre: any[] | undefined = rollout?.spec?.strategy?.blueGreen?.prePromotionAnalysis?.templates;
    const expected = pre
        ? Math.max(0, ...pre.map((t: any) => minSeconds[t.templateName] ?? 0))
        : exposure(rollout?.spec?.strategy?.canary?.steps ?? [], minSeconds).minSecondsToFull;
    return Math.ceil(expected * 2 + 180);
}

export async function readRendered(kube: RolloutReader, ns: string, model: string): Promise<Rendered> {
    const rollout = await kube.read(ROLLOUT_API, "Rollout", model, ns);
    const templates = (await Promise.all(gateTemplateNames(rollout).map((n) => kube.read(ROLLOUT_API, "AnalysisTemplate", n, ns)))).filter(
        (t): t is KubeObject => !!t,
    );
    const background = backgroundLine(rollout);
    return {
        steps: [...stepLines(rollout!), ...(background ? [`bg ${background}`] : [])],
        templates: templates.flatMap(templateSummary),
        budgetSeconds: outcomeBudget(rollout, templates),
    };
}

/** The printed summary: steps, then each template metric with its limits, conditions and query. */
export function renderedLines(r: Pick<Rendered, "steps" | "templates">, ns: string, model: string): string[] {
    return [
        `  steps (Rollout ${ns}/${model} as rendered):`,
        ...r.steps.map((l) => `    ${l}`),
        `  analysis (AnalysisTemplates in the API server):`,
        ...r.templates.flatMap((t) => [
            `    ${t.template}/${t.metric}: interval ${t.interval}, count ${t.count}, failureLimit ${t.failureLimit}, inconclusiveLimit ${t.inconclusiveLimit}, consecutiveErrorLimit ${t.consecutiveErrorLimit}`,
            `      success: ${t.successCondition}   failure: ${t.failureCondition}`,
            `      query: ${t.query}`,
        ]),
    ];
}
