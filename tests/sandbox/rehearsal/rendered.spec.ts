/**
 * What the rehearsal reads back and prints of the rendered canary (sandbox/rehearsal/rendered.ts): the step lines,
 * the gates' templates and the outcome deadline, from the objects the program renders for the local stack.
 */
import { strict as assert } from "node:assert";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { analysisTemplateSpecs } from "../../../components/rollouts/analysis";
import { backgroundLine, gateTemplateNames, outcomeBudget, readRendered, renderedLines, stepLines, templateSummary } from "../../../sandbox/rehearsal/rendered";

const gate = (templates: string[]) => ({
    analysis: {
        templates: templates.map((templateName) => ({ templateName })),
        args: [
            { name: "service", value: "sentiment-canary" },
            { name: "canary-hash", valueFrom: { podTemplateHashValue: "Latest" } },
            { name: "p99-latency-ms", value: "800" },
        ],
    },
});
const ROLLOUT: KubeObject = {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { name: "sentiment", namespace: "models" },
    spec: {
        strategy: {
            canary: {
                steps: [
                    { setWeight: 25 },
                    { pause: { duration: "6s" } },
                    gate(["model-success-rate", "model-latency-p99"]),
                    { setWeight: 100 },
                    { pause: { duration: "6s" } },
                    gate(["model-latency-p99"]),
                ],
            },
        },
    },
};
const template = (name: string, metric: string): KubeObject => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AnalysisTemplate",
    metadata: { name, namespace: "models" },
    spec: {
        metrics: [
            {
                name: metric,
                interval: "6s",
                count: 5,
                failureLimit: 1,
                inconclusiveLimit: 1,
                consecutiveErrorLimit: 2,
                successCondition: "len(result) > 0 && result[0] <= 800",
                failureCondition: "len(result) > 0 && result[0] > 800",
                provider: { prometheus: { query: "q" } },
            },
        ],
    },
});
const TEMPLATES = [template("model-success-rate", "success-rate"), template("model-latency-p99", "latency-p99")];

describe("rehearsal: the rendered canary", () => {
    it("one line per step, gates with their args that have a value", () => {
        assert.deepEqual(stepLines(ROLLOUT), [
            " 0 setWeight 25",
            " 1 pause 6s",
            " 2 analysis model-success-rate, model-latency-p99  args: service=sentiment-canary p99-latency-ms=800",
            " 3 setWeight 100",
            " 4 pause 6s",
            " 5 analysis model-latency-p99  args: service=sentiment-canary p99-latency-ms=800",
        ]);
        assert.deepEqual(gateTemplateNames(ROLLOUT), ["model-success-rate", "model-latency-p99"]);
    });

    it("each template metric with its limits, conditions and query; the deadline is twice the least time through the steps plus 180 s", async () => {
        assert.deepEqual(templateSummary(TEMPLATES[1]), [
            {
                template: "model-latency-p99",
                metric: "latency-p99",
                interval: "6s",
                count: 5,
                failureLimit: 1,
                inconclusiveLimit: 1,
                consecutiveErrorLimit: 2,
                successCondition: "len(result) > 0 && result[0] <= 800",
                failureCondition: "len(result) > 0 && result[0] > 800",
                query: "q",
            },
        ]);
        // Least time through the steps (components/rollouts/canary.ts exposure): two 6 s pauses and two gates of
        // 4 intervals of 6 s = 60 s → 2 × 60 + 180.
        assert.equal(outcomeBudget(ROLLOUT, TEMPLATES), 300);
        const reads: string[] = [];
        const kube = {
            read: async (_api: string, kind: string, name: string) => {
                reads.push(`${kind}/${name}`);
                return kind === "Rollout" ? ROLLOUT : TEMPLATES.find((t) => t.metadata?.name === name);
            },
        };
        const r = await readRendered(kube, "models", "sentiment");
        assert.deepEqual(reads, ["Rollout/sentiment", "AnalysisTemplate/model-success-rate", "AnalysisTemplate/model-latency-p99"]);
        assert.equal(r.budgetSeconds, 300);
        assert.equal(r.templates.length, 2);
        const lines = renderedLines(r, "models", "sentiment");
        assert.equal(lines[0], "  steps (Rollout models/sentiment as rendered):");
        assert.equal(lines[7], "  analysis (AnalysisTemplates in the API server):");
        assert.deepEqual(lines.slice(8, 11), [
            "    model-success-rate/success-rate: interval 6s, count 5, failureLimit 1, inconclusiveLimit 1, consecutiveErrorLimit 2",
            "      success: len(result) > 0 && result[0] <= 800   failure: len(result) > 0 && result[0] > 800",
            "      query: q",
        ]);
    });

    it("the program's templates (count and inconclusiveLimit are args) are summarised as a step gate runs them; the background analysis is one line", () => {
        const spec = analysisTemplateSpecs({ prometheusUrl: "http://127.0.0.1:19090" }).latency;
        assert.equal(spec.metrics![0].count, "{{args.count}}");
        const [m] = templateSummary({ apiVersion: "argoproj.io/v1alpha1", kind: "AnalysisTemplate", metadata: { name: "model-latency-p99" }, spec });
        assert.equal(m.count, "5");
        assert.equal(m.inconclusiveLimit, "1");
        assert.equal(backgroundLine(ROLLOUT), undefined);
        const withBg = structuredClone(ROLLOUT);
        withBg.spec.strategy.canary.analysis = {
            templates: [{ templateName: "model-success-rate" }, { templateName: "model-latency-p99" }],
            args: [
                { name: "service", value: "sentiment-canary" },
                { name: "count", value: "0" },
                { name: "inconclusive-limit", value: "1000000" },
                { name: "initial-delay", value: "12s" },
            ],
            startingStep: 1,
        };
        assert.equal(
            backgroundLine(withBg),
            "background analysis model-success-rate, model-latency-p99 from step 1  args: count=0 inconclusive-limit=1000000 initial-delay=12s",
        );
    });

    it("blue-green: the strategy and its pre-promotion analysis as lines; the deadline is twice the slowest template of that one run plus 180 s", () => {
        const bg: KubeObject = {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Rollout",
            metadata: { name: "sentiment", namespace: "models" },
            spec: {
                strategy: {
                    blueGreen: {
                        activeService: "sentiment",
                        previewService: "sentiment-preview",
                        autoPromotionEnabled: true,
                        scaleDownDelaySeconds: 30,
                        prePromotionAnalysis: gate(["model-success-rate", "model-latency-p99"]).analysis,
                    },
                },
            },
        };
        assert.deepEqual(stepLines(bg), [
            "blueGreen: active sentiment, preview sentiment-preview, autoPromotionEnabled true, scaleDownDelaySeconds 30",
            "prePromotionAnalysis model-success-rate, model-latency-p99  args: service=sentiment-canary p99-latency-ms=800",
        ]);
        assert.deepEqual(gateTemplateNames(bg), ["model-success-rate", "model-latency-p99"]);
        // Each template: 5 measurements 6 s apart (24 s); both run in one AnalysisRun, side by side.
        assert.equal(outcomeBudget(bg, TEMPLATES), Math.ceil(24 * 2 + 180));
    });
});
