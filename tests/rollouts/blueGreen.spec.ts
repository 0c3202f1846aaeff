/**
 * Blue-green release (components/rollouts/blueGreen.ts, ModelBlueGreen, domain/rules/release.ts): the strategy, its
 * pre-promotion analysis on the preview's pods, the release rules, and the component under the Pulumi mocks.
 */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import type { BlueGreenConfig, ModelConfig } from "../../config/schema";
import { analysisTemplateSpecs, ANALYSIS_ARGS, podSelector } from "../../components/rollouts/analysis";
import { blueGreenStrategy, DEFAULT_SCALE_DOWN_DELAY_SECONDS, prePromotionAnalysis, previewServiceName } from "../../components/rollouts/blueGreen";
import { MODEL_BLUE_GREEN_TYPE, ModelBlueGreen } from "../../components/rollouts/ModelBlueGreen";
import type { TrafficRouting } from "../../components/rollouts/ModelCanary";
import { ANALYSIS_TEMPLATE_NAMES } from "../../components/rollouts/RolloutsController";
import { buildPodTemplate } from "../../components/serving/podTemplate";
import { ModelService } from "../../components/serving/ModelService";
import { modelLabels, selectorLabels } from "../../domain/labels";
import { releaseIssues, releaseStrategy, serviceNameIssues } from "../../domain/rules/release";
import { K8sObject, k8sObjects, runProgram } from "../../support/harness";
import { unknownFields, validateK8sObject } from "../helpers/k8sValidate";

const PROM = "http://prometheus-operated.monitoring.svc.cluster.local:9090";
const BG: BlueGreenConfig = { analysis: { successRate: 0.99, p99LatencyMs: 250, minRequests: 100 } };
const TARGET = { model: "sentiment", version: "2.1.4", service: "sentiment-preview" };
const specs = analysisTemplateSpecs({ prometheusUrl: PROM });

describe("rollouts: blue-green strategy", () => {
    it("pre-promotion analysis: the gate-at-100 % templates (the preview alone), with exactly the args they declare", () => {
        const a = prePromotionAnalysis(BG, ANALYSIS_TEMPLATE_NAMES, TARGET);
        assert.deepEqual(
            a.templates!.map((t) => t.templateName),
            [ANALYSIS_TEMPLATE_NAMES.successRate, ANALYSIS_TEMPLATE_NAMES.latency],
        );
        const declared = new Set([...specs.successRate.args!, ...specs.latency.args!].filter((x) => x.value === undefined).map((x) => x.name));
        // Plus initial-delay, which the templates default to 0s: the preview is measured once it served a full rate window.
        assert.deepEqual(
            new Set(a.args!.map((x) => x.name)),
            new Set([...declared, ANALYSIS_ARGS.initialDelay]),
            "every arg the templates need, and nothing else",
        );
        const byName = Object.fromEntries(a.args!.map((x) => [x.name, x]));
        assert.equal(byName[ANALYSIS_ARGS.successRate].value, "0.99");
        assert.equal(byName[ANALYSIS_ARGS.p99LatencyMs].value, "250");
        assert.equal(byName[ANALYSIS_ARGS.minRequests].value, "100");
        assert.equal(byName[ANALYSIS_ARGS.service].value, "sentiment-preview");
        assert.equal(byName[ANALYSIS_ARGS.initialDelay].value, "120s", "one rate window (2m) by default");
        assert.equal(prePromotionAnalysis(BG, ANALYSIS_TEMPLATE_NAMES, TARGET, 12).args!.find((x) => x.name === ANALYSIS_ARGS.initialDelay)!.value, "12s");
    });

    it("the queries select the preview's pods as a canary's: canary-hash = podTemplateHashValue Latest, the new ReplicaSet", () => {
        // argo-rollouts v1.9.0 utils/analysis/helpers.go BuildArgumentsForRolloutAnalysisRun: Latest is the newRS's
        // pod-template hash in either strategy; in blue-green the newRS is the preview until the switch.
        const a = prePromotionAnalysis(BG, ANALYSIS_TEMPLATE_NAMES, TARGET);
        assert.deepEqual(a.args!.find((x) => x.name === ANALYSIS_ARGS.canaryHash)!.valueFrom, { podTemplateHashValue: "Latest" });
        for (const t of [specs.successRate, specs.latency]) {
            assert.ok(t.metrics![0].provider.prometheus!.query!.includes(podSelector(ANALYSIS_ARGS.canaryHash).slice(1, -1)));
            assert.ok(!t.metrics![0].provider.prometheus!.query!.includes(ANALYSIS_ARGS.stableHash), "no comparison with the active version");
        }
    });

    it("strategy: the model's Service is active, <model>-preview the preview; promotion and scale-down delay as given", () => {
        const s = blueGreenStrategy({
            activeService: "sentiment",
            previewService: previewServiceName("sentiment"),
            autoPromotionEnabled: false,
            scaleDownDelaySeconds: DEFAULT_SCALE_DOWN_DELAY_SECONDS,
            prePromotionAnalysis: prePromotionAnalysis(BG, ANALYSIS_TEMPLATE_NAMES, TARGET),
        });
        assert.equal(s.activeService, "sentiment");
        assert.equal(s.previewService, "sentiment-preview");
        assert.equal(s.autoPromotionEnabled, false);
        assert.equal(s.scaleDownDelaySeconds, 30);
        assert.throws(
            () =>
                blueGreenStrategy({ activeService: "x", previewService: "x", autoPromotionEnabled: true, scaleDownDelaySeconds: 30, prePromotionAnalysis: {} }),
            /must differ/,
        );
    });

    it("refuses thresholds Argo's gates could not honour", () => {
        assert.throws(
            () => prePromotionAnalysis({ analysis: { successRate: 1.5, p99LatencyMs: 0, minRequests: 0 } }, ANALYSIS_TEMPLATE_NAMES, TARGET),
            (e: Error) => ["analysis.successRate", "analysis.p99LatencyMs", "analysis.minRequests"].every((p) => e.message.includes(p)),
        );
    });
});

describe("rules: release strategy", () => {
    it("the strategy: release.strategy, else canary with a canary, else none", () => {
        assert.equal(releaseStrategy({}), undefined);
        assert.equal(releaseStrategy({ canary: {} }), "canary");
        assert.equal(releaseStrategy({ release: { strategy: "blueGreen" } }), "blueGreen");
    });

    it("blueGreen needs release.blueGreen and no canary; canary needs canary and no release.blueGreen", () => {
        assert.deepEqual(releaseIssues({ release: { strategy: "blueGreen", blueGreen: BG } }), []);
        assert.deepEqual(
            releaseIssues({ release: { strategy: "blueGreen" }, canary: {} }).map((i) => i.path),
            ["release.blueGreen", "canary"],
        );
        assert.deepEqual(
            releaseIssues({ release: { strategy: "canary", blueGreen: BG } }).map((i) => i.path),
            ["canary", "release.blueGreen"],
        );
        assert.deepEqual(releaseIssues({ canary: {} }), [], "no release key: the canary key decides");
    });

    it("a preview or canary Service must not be another model's Service", () => {
        const issues = serviceNameIssues([
            { name: "a", release: { strategy: "blueGreen" } },
            { name: "a-preview" },
            { name: "b", canary: {} },
            { name: "b-canary" },
        ]);
        assert.deepEqual(
            issues.map((i) => [i.path, i.value]),
            [
                ["[1].name", "a-preview"],
                ["[3].name", "b-canary"],
            ],
        );
    });
});

// ---------------------------------------------------------------------------------------------------------------
// The component under the Pulumi mocks.
// ---------------------------------------------------------------------------------------------------------------
function renderBlueGreen(mode: TrafficRouting, over: { blueGreen?: BlueGreenConfig; production?: boolean } = {}): Promise<K8sObject[]> {
    return runProgram(async () => {
        const model = "sentiment";
        new ModelBlueGreen("sentiment-bluegreen", {
            namespace: pulumi.output("models"),
            model,
            version: "2.1.4",
            labels: modelLabels(model, "2.1.4"),
            selector: selectorLabels(model),
            podTemplate: buildPodTemplate({
                model,
                version: "2.1.4",
                image: pulumi.output(`123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment@sha256:${"a".repeat(64)}`),
                port: 8080,
                resources: { cpu: "2", memory: "8Gi" },
                startupBudgetSeconds: 600,
                maxReplicas: 6,
                serviceAccountName: model,
                scrapeAnnotations: false,
            }),
            port: 8080,
            blueGreen: over.blueGreen ?? BG,
            trafficRouting: mode,
            activeService: model,
            host: "sentiment.example.com",
            analysisTemplates: ANALYSIS_TEMPLATE_NAMES,
            replicas: 2,
            production: over.production,
            progressDeadlineSeconds: 1500,
        });
        return {};
    }).then(({ resources }) => k8sObjects(resources));
}

const only = (objects: K8sObject[], kind: string, name?: string): K8sObject => {
    const hits = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(hits.length, 1, `one ${kind} ${name ?? ""}`);
    return hits[0];
};

describe("rollouts components: ModelBlueGreen", function () {
    const runs: Partial<Record<TrafficRouting, K8sObject[]>> = {};
    before(async () => {
        for (const mode of ["none", "nginx", "istio"] as const) runs[mode] = await renderBlueGreen(mode);
    });

    for (const mode of ["none", "nginx", "istio"] as const) {
        it(`${mode}: a Rollout with strategy.blueGreen (no canary), valid against Argo's CRD schema, and the preview Service`, async () => {
            const objs = runs[mode]!;
            const ro = only(objs, "Rollout", "sentiment");
            assert.equal(ro.spec.strategy.canary, undefined);
            const bg = ro.spec.strategy.blueGreen;
            assert.equal(bg.activeService, "sentiment");
            assert.equal(bg.previewService, "sentiment-preview");
            assert.equal(bg.autoPromotionEnabled, false, "production by default: a human promotes");
            assert.equal(bg.scaleDownDelaySeconds, 30);
            assert.deepEqual(bg.prePromotionAnalysis, prePromotionAnalysis(BG, ANALYSIS_TEMPLATE_NAMES, TARGET));
            assert.equal(ro.spec.progressDeadlineAbort, true);
            assert.deepEqual(ro.spec.rollbackWindow, { revisions: 3 }, "a rollback to a recent revision skips the pre-promotion analysis, as the canary's");
            const preview = only(objs, "Service", "sentiment-preview");
            assert.deepEqual(preview.spec.selector, selectorLabels("sentiment"));
            assert.equal(preview.spec.ports[0].targetPort, "http");
            for (const o of objs.filter((x) => x.kind !== "VirtualService")) assert.deepEqual(await validateK8sObject(o), [], `${o.kind} ${o.metadata.name}`);
            const unknown = await unknownFields(objs.filter((x) => x.kind !== "VirtualService"));
            assert.deepEqual([...unknown.values()].flat(), []);
        });
    }

    it("routers send the host to the active Service (no weights, no canary objects); none declares no router object", () => {
        const ing = only(runs.nginx!, "Ingress", "sentiment");
        assert.ok(ing.spec.rules[0].http.paths.every((p: any) => p.backend.service.name === "sentiment"));
        const vs = only(runs.istio!, "VirtualService", "sentiment");
        assert.deepEqual(vs.spec.http[0].route, [{ destination: { host: "sentiment" }, weight: 100 }]);
        assert.equal(runs.none!.filter((o) => o.kind === "Ingress" || o.kind === "VirtualService").length, 0);
        for (const objs of Object.values(runs)) assert.equal(objs!.filter((o) => o.metadata.name === "sentiment-canary").length, 0);
    });

    it("autoPromotionEnabled: true outside production by default; an explicit value wins; scaleDownDelaySeconds as given", async () => {
        const dev = only(await renderBlueGreen("none", { production: false }), "Rollout");
        assert.equal(dev.spec.strategy.blueGreen.autoPromotionEnabled, true);
        const explicit = only(await renderBlueGreen("none", { blueGreen: { ...BG, autoPromotionEnabled: true, scaleDownDelaySeconds: 600 } }), "Rollout");
        assert.equal(explicit.spec.strategy.blueGreen.autoPromotionEnabled, true, "true is allowed in production");
        assert.equal(explicit.spec.strategy.blueGreen.scaleDownDelaySeconds, 600);
    });

    it("registers as model-fleet:rollouts:ModelBlueGreen", async () => {
        const { resources } = await runProgram(async () => {
            new ModelBlueGreen("x", {
                namespace: "models",
                model: "m",
                version: "1.0.0",
                labels: {},
                selector: { app: "m" },
                podTemplate: {},
                port: 8080,
                blueGreen: BG,
                trafficRouting: "none",
                activeService: "m",
                host: "m",
                analysisTemplates: ANALYSIS_TEMPLATE_NAMES,
                replicas: 1,
            });
            return {};
        });
        assert.equal(resources.filter((r) => r.type === MODEL_BLUE_GREEN_TYPE).length, 1);
    });
});

describe("rollouts components: a blue-green model through ModelService", function () {
    const model: ModelConfig = {
        name: "sentiment",
        version: "2.1.4",
        image: { digest: `sha256:${"a".repeat(64)}` },
        port: 8080,
        resources: { cpu: "2", memory: "8Gi" },
        autoscaling: { minReplicas: 2, maxReplicas: 4, targetCpuUtilization: 70 },
        startupBudgetSeconds: 600,
        release: { strategy: "blueGreen", blueGreen: BG },
    } as ModelConfig;
    const wiring = { kind: "Rollout" as const, trafficRouting: "nginx" as const, analysisTemplates: ANALYSIS_TEMPLATE_NAMES, host: "sentiment.example.com" };

    it("the workload is the blue-green Rollout, the HPA targets it, and Argo owns the active Service's selector", async () => {
        const ignored = new Map<string, string[]>();
        const capture: pulumi.ResourceTransformation = (a) => {
            ignored.set(a.name, a.opts.ignoreChanges ?? []);
            return undefined;
        };
        const { resources } = await runProgram(async () => {
            new ModelService(
                "model-sentiment",
                { namespace: "models", model, image: pulumi.output(`r@sha256:${"a".repeat(64)}`), environment: "production", workload: wiring },
                { transformations: [capture] },
            );
            return {};
        });
        const objs = k8sObjects(resources);
        assert.ok(only(objs, "Rollout", "sentiment").spec.strategy.blueGreen);
        assert.deepEqual(only(objs, "HorizontalPodAutoscaler").spec.scaleTargetRef, { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "sentiment" });
        assert.deepEqual(ignored.get("model-sentiment-service"), ["spec.selector"], "the active Service (Argo sets its selector)");
        assert.deepEqual(ignored.get("model-sentiment-bluegreen-preview"), ["spec.selector"], "the preview Service");
    });

    it("a blue-green model without rollouts wiring, or a canary key next to it, is refused by name", async () => {
        await assert.rejects(
            runProgram(async () => {
                new ModelService("model-sentiment", { namespace: "models", model, image: "r@sha256:x", environment: "production" });
                return {};
            }),
            /release\.strategy.*is released blue-green but no rollouts wiring/,
        );
        await assert.rejects(
            runProgram(async () => {
                new ModelService("m", {
                    namespace: "models",
                    model: {
                        ...model,
                        canary: { steps: [50], pauseSeconds: 60, analysis: { ...BG.analysis, maxClientErrorIncrease: 0.05, minFeedbackSamples: 100 } },
                    },
                    image: "r@sha256:x",
                    environment: "production",
                    workload: wiring,
                });
                return {};
            }),
            /canary.*not allowed with release\.strategy blueGreen/,
        );
    });
});
