/**
 * RolloutsController and ModelCanary under the Pulumi mocks: the rendered Rollout / AnalysisTemplates validate
 * against Argo's CRD schema (@kubernetes-models/argo-rollouts) with no unknown fields, the AnalysisTemplates wait
 * for the chart (CRDs), the chart values exist in the pinned chart, and the nginx / istio / none variants render
 * what Argo requires of each.
 */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { CanaryConfig, ModelConfig } from "../../config/schema";
import { modelLabels, selectorLabels } from "../../domain/labels";
import { buildPodTemplate } from "../../components/serving/podTemplate";
import { ModelService } from "../../components/serving/ModelService";
import { backgroundAnalysis, canarySteps, exposure } from "../../components/rollouts/canary";
import { analysisTemplateSpecs, templateMinSeconds } from "../../components/rollouts/analysis";
import { ModelCanary, MODEL_CANARY_TYPE, TrafficRouting } from "../../components/rollouts/ModelCanary";
import {
    ANALYSIS_TEMPLATE_NAMES,
    ARGO_ROLLOUTS_CHART,
    controllerValues,
    RolloutsController,
    ROLLOUTS_CONTROLLER_TYPE,
} from "../../components/rollouts/RolloutsController";
import { K8sObject, k8sObjects, MockResource, runProgram, unwrap } from "../../support/harness";
import { unknownValueKeys } from "../helpers/helmValues";
import { unknownFields, validateK8sObject } from "../helpers/k8sValidate";
import { needsReference, referencePath } from "../../support/reference";

const NS = "models";
const PROM = "http://prometheus-operated.monitoring.svc.cluster.local:9090";
const CANARY: CanaryConfig = {
    steps: [5, 25, 50],
    pauseSeconds: 300,
    analysis: { successRate: 0.99, maxClientErrorIncrease: 0.05, p99LatencyMs: 250, maxAccuracyDrop: 0.03, minFeedbackSamples: 100, minRequests: 100 },
};
/** The pinned chart's values.yaml, a reference file (path under the reference directory). */
const VALUES_YAML = "charts/argo-rollouts/values.yaml";

/** Records every child's dependsOn through an in-process (SDK-side) transformation on the component. */
interface Captured {
    dependsOn: Map<string, string[]>;
    /** ignoreChanges per child name, where set. */
    ignoreChanges?: Map<string, string[]>;
}
function capture(into: Captured): pulumi.ResourceTransformation {
    return (args) => {
        const deps = args.opts.dependsOn;
        const list = (deps === undefined ? [] : Array.isArray(deps) ? deps : [deps]) as pulumi.Resource[];
        into.dependsOn.set(
            args.name,
            list.map((r) => (r as any).__name as string),
        );
        if (args.opts.ignoreChanges) into.ignoreChanges?.set(args.name, args.opts.ignoreChanges);
        return undefined;
    };
}

interface ControllerRun {
    resources: MockResource[];
    objects: K8sObject[];
    captured: Captured;
    controller: { names: typeof ANALYSIS_TEMPLATE_NAMES; ready: string[]; minSeconds: Record<string, number>; namespace: string };
}

function renderController(serviceMonitor = false): Promise<ControllerRun> {
    const captured: Captured = { dependsOn: new Map() };
    return runProgram(async () => {
        const c = new RolloutsController(
            "rollouts",
            { analysisNamespace: pulumi.output(NS), prometheusUrl: pulumi.output(PROM), serviceMonitor },
            { transformations: [capture(captured)] },
        );
        return {
            names: c.analysisTemplateNames,
            ready: c.ready.map((r) => (r as any).__name as string),
            minSeconds: c.analysisMinSeconds,
            namespace: await unwrap(c.controllerNamespace),
        };
    }).then(({ resources, result }) => ({ resources, objects: k8sObjects(resources), captured, controller: result }));
}

interface CanaryRun {
    resources: MockResource[];
    objects: K8sObject[];
    captured: Captured;
    out: { rolloutName: string; canaryService: string; steps: unknown[]; backgroundAnalysis: unknown; exposure: ModelCanary["exposure"] };
}

function renderCanary(mode: TrafficRouting, over: { replicas?: number; canary?: CanaryConfig; progressDeadlineSeconds?: number } = {}): Promise<CanaryRun> {
    const captured: Captured = { dependsOn: new Map(), ignoreChanges: new Map() };
    return runProgram(async () => {
        const model = "sentiment";
        const labels = modelLabels(model, "2.1.4");
        const selector = selectorLabels(model);
        // The stable Service is ModelService's; declared here the same way; the Rollout references it by name.
        new k8s.core.v1.Service("stable", {
            metadata: { name: model, namespace: NS, labels },
            spec: { type: "ClusterIP", selector, ports: [{ name: "http", port: 8080, targetPort: "http" }] },
        });
        const c = new ModelCanary(
            "sentiment-canary",
            {
                namespace: pulumi.output(NS),
                model,
                version: "2.1.4",
                labels,
                selector,
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
                canary: over.canary ?? CANARY,
                trafficRouting: mode,
                stableService: "sentiment",
                host: "sentiment.models.svc.cluster.local",
                analysisTemplates: ANALYSIS_TEMPLATE_NAMES,
                replicas: over.replicas ?? 2,
                progressDeadlineSeconds: over.progressDeadlineSeconds,
            },
            { transformations: [capture(captured)] },
        );
        return {
            rolloutName: await unwrap(c.rolloutName),
            canaryService: await unwrap(c.canaryService),
            steps: c.steps,
            backgroundAnalysis: c.backgroundAnalysis,
            exposure: c.exposure,
        };
    }).then(({ resources, result }) => ({ resources, objects: k8sObjects(resources), captured, out: result }));
}

function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
    const hits = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(hits.length, 1, `expected one ${kind}${name ? ` ${name}` : ""}, found ${hits.length}`);
    return hits[0];
}

async function assertValid(objs: K8sObject[]): Promise<void> {
    for (const o of objs) {
        assert.deepEqual(await validateK8sObject(o), [], `${o.kind} ${o.metadata.name}`);
    }
    const unknown = await unknownFields(objs);
    assert.deepEqual([...unknown.values()].flat(), [], "fields the upstream types do not declare");
}

describe("rollouts components: RolloutsController", function () {
    let run: ControllerRun;
    before(async () => {
        run = await renderController();
    });

    it("registers as model-fleet:rollouts:RolloutsController", () => {
        assert.equal(run.resources.filter((r) => r.type === ROLLOUTS_CONTROLLER_TYPE).length, 1);
    });

    it("installs the pinned argo-rollouts chart from argo-helm, with its CRDs, in the argo-rollouts namespace (v4 Chart)", () => {
        const charts = run.resources.filter((r) => r.type === "kubernetes:helm.sh/v4:Chart");
        assert.equal(charts.length, 1);
        const c = charts[0].inputs;
        assert.equal(c.chart, "argo-rollouts");
        assert.equal(c.version, "2.41.0");
        assert.equal(c.repositoryOpts.repo, "https://argoproj.github.io/argo-helm");
        assert.equal(c.namespace, "argo-rollouts");
        assert.equal(c.values.installCRDs, true);
        assert.equal(run.controller.namespace, "argo-rollouts");
        assert.equal(only(run.objects, "Namespace", "argo-rollouts").apiVersion, "v1");
    });

    it("pins the chart version the reference chart carries", function () {
        needsReference(this, "charts/argo-rollouts/Chart.yaml");
        const chartYaml = require("fs").readFileSync(referencePath("charts/argo-rollouts/Chart.yaml"), "utf8") as string;
        assert.match(chartYaml, new RegExp(`^version: ${ARGO_ROLLOUTS_CHART.version.replace(/\./g, "\\.")}$`, "m"));
        assert.match(chartYaml, /^name: argo-rollouts$/m);
    });

    it("every chart value key exists in the pinned chart's values.yaml", function () {
        needsReference(this, VALUES_YAML);
        for (const sm of [false, true]) {
            assert.deepEqual(
                unknownValueKeys(
                    controllerValues({ serviceMonitor: sm, serviceMonitorLabels: { release: "kube-prometheus-stack" } }),
                    referencePath(VALUES_YAML),
                ),
                [],
            );
        }
        const rendered = run.resources.find((r) => r.type === "kubernetes:helm.sh/v4:Chart")!.inputs.values;
        assert.deepEqual(unknownValueKeys(rendered, referencePath(VALUES_YAML)), []);
    });

    it("the values check catches a misspelt key (installCRD) and a wrong nesting", function () {
        needsReference(this, VALUES_YAML);
        assert.deepEqual(unknownValueKeys({ installCRD: true, controller: { metric: { enabled: true }, replicas: 2 } }, referencePath(VALUES_YAML)), [
            "installCRD",
            "controller.metric",
        ]);
        assert.deepEqual(unknownValueKeys({ controller: { nodeSelector: { "kubernetes.io/os": "linux" } } }, referencePath(VALUES_YAML)), [], "free-form map");
    });

    it("declares the three shared AnalysisTemplates in the models namespace", () => {
        const templates = run.objects.filter((o) => o.kind === "AnalysisTemplate");
        assert.deepEqual(templates.map((t) => t.metadata.name).sort(), Object.values(ANALYSIS_TEMPLATE_NAMES).sort());
        for (const t of templates) {
            assert.equal(t.apiVersion, "argoproj.io/v1alpha1");
            assert.equal(t.metadata.namespace, NS);
        }
        const byName = Object.fromEntries(templates.map((t) => [t.metadata.name, t.spec]));
        const expected = analysisTemplateSpecs({ prometheusUrl: PROM });
        assert.deepEqual(byName[ANALYSIS_TEMPLATE_NAMES.successRate], expected.successRate);
        assert.deepEqual(byName[ANALYSIS_TEMPLATE_NAMES.latency], expected.latency);
        assert.deepEqual(byName[ANALYSIS_TEMPLATE_NAMES.quality], expected.quality);
    });

    it("the AnalysisTemplates validate against Argo's CRD schema, with no unknown fields", async () => {
        await assertValid(run.objects.filter((o) => o.kind === "AnalysisTemplate"));
    });

    it("the schema check is not vacuous: a wrongly typed field is rejected", async () => {
        const t = structuredClone(only(run.objects, "AnalysisTemplate", ANALYSIS_TEMPLATE_NAMES.latency));
        t.spec.metrics[0].provider.prometheus.timeout = "30s";
        assert.notDeepEqual(await validateK8sObject(t), []);
    });

    it("every AnalysisTemplate dependsOn the chart (CRDs before custom resources)", () => {
        const chartName = run.resources.find((r) => r.type === "kubernetes:helm.sh/v4:Chart")!.name;
        for (const name of Object.values(ANALYSIS_TEMPLATE_NAMES)) {
            assert.deepEqual(run.captured.dependsOn.get(`rollouts-${name}`), [chartName], name);
        }
    });

    it("exposes ready (chart + templates) for Rollouts' dependsOn, the template names and their run times", () => {
        assert.deepEqual(run.controller.ready, ["rollouts-chart", ...Object.values(ANALYSIS_TEMPLATE_NAMES).map((n) => `rollouts-${n}`)]);
        assert.deepEqual(run.controller.names, ANALYSIS_TEMPLATE_NAMES);
        for (const n of Object.values(ANALYSIS_TEMPLATE_NAMES)) {
            assert.equal(run.controller.minSeconds[n], 240, n);
        }
    });

    it("turns on the controller ServiceMonitor only when asked", async () => {
        const chart = (r: ControllerRun) => r.resources.find((x) => x.type === "kubernetes:helm.sh/v4:Chart")!.inputs.values;
        assert.equal(chart(run).controller.metrics.serviceMonitor.enabled, false);
        assert.equal(chart(await renderController(true)).controller.metrics.serviceMonitor.enabled, true);
    });

    it("rejects a Prometheus URL Argo would reject, before registering anything", async () => {
        await assert.rejects(
            runProgram(() => new RolloutsController("bad", { analysisNamespace: NS, prometheusUrl: "prometheus:9090" }).analysisTemplateNames),
            /RolloutsController bad: .*(http\(s\)|not a URL)/,
        );
        await assert.rejects(
            runProgram(
                () =>
                    new RolloutsController("bad", {
                        analysisNamespace: NS,
                        prometheusUrl: PROM,
                        measurement: {
                            interval: "60s",
                            count: 2,
                            failureLimit: 1,
                            inconclusiveLimit: 1,
                            consecutiveErrorLimit: 2,
                            rateWindow: "2m",
                            feedbackWindow: "10m",
                        },
                    }).analysisTemplateNames,
            ),
            /failureLimit \+ inconclusiveLimit must be < count/,
        );
    });
});

describe("rollouts components: ModelCanary", function () {
    const runs: Partial<Record<TrafficRouting, CanaryRun>> = {};
    before(async () => {
        for (const mode of ["nginx", "istio", "none"] as const) {
            runs[mode] = await renderCanary(mode);
        }
    });
    const rolloutOf = (r: CanaryRun) => only(r.objects, "Rollout", "sentiment");

    for (const mode of ["nginx", "istio", "none"] as const) {
        describe(`trafficRouting: ${mode}`, () => {
            it("registers as model-fleet:rollouts:ModelCanary and outputs the Rollout and canary Service names", () => {
                const r = runs[mode]!;
                assert.equal(r.resources.filter((x) => x.type === MODEL_CANARY_TYPE).length, 1);
                assert.equal(r.out.rolloutName, "sentiment");
                assert.equal(r.out.canaryService, "sentiment-canary");
                assert.equal(r.resources.filter((x) => x.type === "kubernetes:argoproj.io/v1alpha1:Rollout").length, 1);
            });

            it("the Rollout (and everything else with a schema) validates against upstream schemas with no unknown fields", async () => {
                await assertValid(runs[mode]!.objects.filter((o) => o.kind !== "VirtualService"));
            });

            it("Rollout: selector matches the pod template, steps are the rendered canary steps", () => {
                const ro = rolloutOf(runs[mode]!);
                const podLabels = ro.spec.template.metadata.labels;
                for (const [k, v] of Object.entries(ro.spec.selector.matchLabels)) {
                    assert.equal(podLabels[k], v, `pod template carries selector label ${k}`);
                }
                assert.deepEqual(ro.spec.selector.matchLabels, selectorLabels("sentiment"));
                assert.deepEqual(
                    ro.spec.strategy.canary.steps,
                    canarySteps(CANARY, ANALYSIS_TEMPLATE_NAMES, { model: "sentiment", version: "2.1.4", service: "sentiment-canary" }),
                );
                assert.deepEqual(runs[mode]!.out.steps, ro.spec.strategy.canary.steps);
            });

            it("Rollout: the first weight is the most any traffic gets before an analysis passes", () => {
                const ro = rolloutOf(runs[mode]!);
                const ex = exposure(ro.spec.strategy.canary.steps);
                assert.ok(ex.firstGateWeight <= CANARY.steps[0]);
                assert.ok(runs[mode]!.out.exposure.firstGateWeight <= CANARY.steps[0]);
                const perGate = templateMinSeconds(analysisTemplateSpecs({ prometheusUrl: PROM }).latency);
                assert.equal(runs[mode]!.out.exposure.minSecondsToFull, CANARY.steps.length * (CANARY.pauseSeconds + perGate));
            });

            it("Rollout: rollbackWindow, revisionHistoryLimit, abortScaleDownDelaySeconds, initial replicas", () => {
                const ro = rolloutOf(runs[mode]!);
                assert.deepEqual(ro.spec.rollbackWindow, { revisions: 3 });
                assert.equal(ro.spec.revisionHistoryLimit, 5);
                assert.ok(ro.spec.rollbackWindow.revisions <= ro.spec.revisionHistoryLimit);
                assert.equal(ro.spec.strategy.canary.abortScaleDownDelaySeconds, 30);
                assert.equal(ro.spec.replicas, 2);
                assert.equal(ro.spec.progressDeadlineAbort, undefined, "no abort on Argo's 600 s default deadline (GPU start-up exceeds it)");
            });

            it("Rollout: a background analysis (strategy.canary.analysis) by default, with every arg its templates leave without a value", () => {
                const ro = rolloutOf(runs[mode]!);
                const bg: any = ro.spec.strategy.canary.analysis;
                assert.equal(bg.startingStep, 1);
                // Argo's background check (v1.9.0 validation_references.go ValidateAnalysisTemplateWithType): each
                // template arg without a value must be among the Rollout's canary.analysis.args.
                const specs = analysisTemplateSpecs({ prometheusUrl: PROM });
                const byName = Object.fromEntries(Object.entries(ANALYSIS_TEMPLATE_NAMES).map(([k, n]) => [n, specs[k as keyof typeof specs]]));
                const given = new Set(bg.args.map((a: { name: string }) => a.name));
                for (const t of bg.templates) {
                    for (const a of byName[t.templateName].args ?? []) if (a.value === undefined) assert.ok(given.has(a.name), `${t.templateName}: ${a.name}`);
                }
                assert.deepEqual(runs[mode]!.out.backgroundAnalysis, bg);
                assert.deepEqual(
                    bg,
                    backgroundAnalysis(CANARY, ANALYSIS_TEMPLATE_NAMES, { model: "sentiment", version: "2.1.4", service: "sentiment-canary" }),
                );
            });

            it("canary Service: <model>-canary, ClusterIP, port http, same selector as the stable Service", () => {
                const svc = only(runs[mode]!.objects, "Service", "sentiment-canary");
                const stable = only(runs[mode]!.objects, "Service", "sentiment");
                assert.equal(svc.spec.type, "ClusterIP");
                assert.deepEqual(svc.spec.ports, [{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
                assert.deepEqual(svc.spec.selector, stable.spec.selector);
                assert.equal(rolloutOf(runs[mode]!).spec.strategy.canary.canaryService, "sentiment-canary");
            });

            it("the Rollout dependsOn the canary Service and its routing object", () => {
                const deps = runs[mode]!.captured.dependsOn.get("sentiment-canary-rollout") ?? [];
                assert.ok(deps.includes("sentiment-canary-service"), deps.join(","));
                if (mode === "nginx") assert.ok(deps.includes("sentiment-canary-ingress"));
                if (mode === "istio") assert.ok(deps.includes("sentiment-canary-virtualservice"));
            });
        });
    }

    it("nginx: stableIngress + a stable Ingress (class nginx) routing the host to the stable Service; dynamicStableScale", () => {
        const r = runs.nginx!;
        const c = rolloutOf(r).spec.strategy.canary;
        assert.deepEqual(c.trafficRouting, { nginx: { stableIngress: "sentiment" } });
        assert.equal(c.stableService, "sentiment");
        assert.equal(c.dynamicStableScale, true);
        const ing = only(r.objects, "Ingress", "sentiment");
        assert.equal(ing.apiVersion, "networking.k8s.io/v1");
        assert.equal(ing.spec.ingressClassName, "nginx");
        assert.equal(ing.spec.rules[0].host, "sentiment.models.svc.cluster.local");
        // Argo refuses a stable Ingress that does not route to the Rollout's stableService.
        assert.deepEqual(ing.spec.rules[0].http.paths[0].backend, { service: { name: c.stableService, port: { name: "http" } } });
        assert.equal(r.objects.filter((o) => o.kind === "VirtualService").length, 0);
    });

    it("istio: a VirtualService (v1beta1) whose named route holds the stable (100) and canary (0) Services", () => {
        const r = runs.istio!;
        const c = rolloutOf(r).spec.strategy.canary;
        assert.deepEqual(c.trafficRouting, { istio: { virtualService: { name: "sentiment", routes: ["primary"] } } });
        assert.equal(c.dynamicStableScale, true);
        const vs = only(r.objects, "VirtualService", "sentiment");
        assert.equal(vs.apiVersion, "networking.istio.io/v1beta1");
        assert.deepEqual(vs.spec.hosts, ["sentiment.models.svc.cluster.local"]);
        const route = vs.spec.http.find((h: any) => h.name === c.trafficRouting.istio.virtualService.routes[0]);
        assert.ok(route, "the route Argo re-weights exists");
        assert.deepEqual(route.route, [
            { destination: { host: c.stableService }, weight: 100 },
            { destination: { host: c.canaryService }, weight: 0 },
        ]);
        assert.equal(r.objects.filter((o) => o.kind === "Ingress").length, 0);
    });

    it("none: replica-weighted — no router objects, no dynamicStableScale, no stableService", () => {
        const r = runs.none!;
        const c = rolloutOf(r).spec.strategy.canary;
        assert.equal(c.trafficRouting, undefined);
        assert.equal(c.dynamicStableScale, undefined, "Argo: dynamicStableScale can only be used with traffic routing");
        assert.equal(c.stableService, undefined, "a stableService would pin <model> to stable pods and starve the canary");
        assert.equal(r.objects.filter((o) => o.kind === "Ingress" || o.kind === "VirtualService").length, 0);
    });

    it("none: reports the real first-gate traffic share at low replica counts", async () => {
        assert.equal(runs.none!.out.exposure.firstGateTrafficShare, 33.3, "2 replicas, 5% → 1 canary pod of 3");
        assert.equal(runs.nginx!.out.exposure.firstGateTrafficShare, 5, "a router splits by weight");
        const dev = await renderCanary("none", {
            replicas: 1,
            canary: {
                steps: [25, 50, 100],
                pauseSeconds: 60,
                analysis: { successRate: 0.95, maxClientErrorIncrease: 0.05, p99LatencyMs: 800, minFeedbackSamples: 100, minRequests: 100 },
            },
        });
        assert.equal(dev.out.exposure.firstGateTrafficShare, 50);
        assert.equal(dev.out.exposure.firstGateWeight, 25);
    });

    it("aborts a revision that misses an explicit progress deadline", async () => {
        const r = await renderCanary("nginx", { progressDeadlineSeconds: 1500 });
        assert.equal(rolloutOf(r).spec.progressDeadlineSeconds, 1500);
        assert.equal(rolloutOf(r).spec.progressDeadlineAbort, true);
        await assertValid([rolloutOf(r)]);
    });

    it("backgroundAnalysis.enabled: false renders no strategy.canary.analysis (the gates alone)", async () => {
        const r = await renderCanary("nginx", { canary: { ...CANARY, backgroundAnalysis: { enabled: false } } });
        const ro = only(r.objects, "Rollout", "sentiment");
        assert.equal(ro.spec.strategy.canary.analysis, undefined);
        assert.equal(ro.spec.strategy.canary.steps.filter((x: { analysis?: unknown }) => x.analysis).length, CANARY.steps.length);
    });

    it("rejects an invalid canary config before registering anything", async () => {
        await assert.rejects(renderCanary("nginx", { canary: { ...CANARY, steps: [50, 25] } }), /ModelCanary sentiment: invalid canary config/);
    });
});

describe("rollouts components: ModelCanary experiments (A/B by header or cookie, mirror)", function () {
    this.timeout(30000);
    const AB: CanaryConfig = { ...CANARY, abTest: { header: { name: "x-canary", value: "always" } } };
    const rolloutOf = (r: CanaryRun) => only(r.objects, "Rollout", "sentiment");

    it("Istio: header and mirror steps with their managedRoutes, the Rollout valid against Argo's CRD schema; Argo owns the routes", async () => {
        const r = await renderCanary("istio", { canary: { ...AB, mirror: { percentage: 10 } } });
        // No Istio schema is vendored (as for the plain istio variant above).
        await assertValid(r.objects.filter((o) => o.kind !== "VirtualService"));
        const canary = rolloutOf(r).spec.strategy.canary;
        assert.deepEqual(canary.trafficRouting.managedRoutes, [{ name: "ab-test" }, { name: "mirror" }]);
        const kinds = canary.steps.map((s: Record<string, unknown>) => Object.keys(s)[0]);
        assert.deepEqual(kinds.slice(0, 9), [
            "setCanaryScale",
            "setMirrorRoute",
            "pause",
            "analysis",
            "setMirrorRoute",
            "setHeaderRoute",
            "pause",
            "analysis",
            "setCanaryScale",
        ]);
        assert.equal(canary.analysis.startingStep, 2, "background analysis from the first pause");
        // Argo inserts its managed routes before `primary` (istio.go orderRoutes): Pulumi must not undo them.
        assert.deepEqual(r.captured.ignoreChanges?.get("sentiment-canary-virtualservice"), ["spec.http"]);
        const plain = await renderCanary("istio");
        assert.deepEqual(plain.captured.ignoreChanges?.get("sentiment-canary-virtualservice"), [
            "spec.http[0].route[0].weight",
            "spec.http[0].route[1].weight",
        ]);
        assert.deepEqual(r.out.exposure.firstGateWeight, 0);
    });

    it("nginx: the canary Ingress annotations through additionalIngressAnnotations, no header or mirror steps, no managedRoutes", async () => {
        const r = await renderCanary("nginx", { canary: AB });
        await assertValid(r.objects);
        const canary = rolloutOf(r).spec.strategy.canary;
        assert.deepEqual(canary.trafficRouting, {
            nginx: { stableIngress: "sentiment", additionalIngressAnnotations: { "canary-by-header": "x-canary", "canary-by-header-value": "always" } },
        });
        assert.ok(!canary.steps.some((s: Record<string, unknown>) => s.setHeaderRoute || s.setMirrorRoute));
    });

    it("refuses an A/B test without a router and a mirror on nginx, naming the key", async () => {
        await assert.rejects(renderCanary("none", { canary: AB }), /canary\.abTest needs rollouts\.trafficRouting nginx or istio/);
        await assert.rejects(renderCanary("nginx", { canary: { ...CANARY, mirror: {} } }), /canary\.mirror needs rollouts\.trafficRouting istio/);
    });
});

describe("rollouts components: wired through ModelService", function () {
    const base: ModelConfig = {
        name: "sentiment",
        version: "2.1.4",
        image: { digest: `sha256:${"b".repeat(64)}` },
        port: 8080,
        resources: { cpu: "2", memory: "8Gi" },
        autoscaling: { minReplicas: 2, maxReplicas: 6, targetCpuUtilization: 65 },
        startupBudgetSeconds: 600,
    };
    let objects: K8sObject[];
    let captured: Captured;
    before(async () => {
        captured = { dependsOn: new Map() };
        const { resources } = await runProgram(() => {
            const controller = new RolloutsController("rollouts", { analysisNamespace: NS, prometheusUrl: PROM });
            const rollouts = { trafficRouting: "nginx" as const, analysisTemplates: controller.analysisTemplateNames, host: "sentiment.example.com" };
            new ModelService(
                "sentiment",
                {
                    namespace: NS,
                    model: { ...base, canary: CANARY },
                    image: `r@sha256:${"b".repeat(64)}`,
                    workload: { kind: "Rollout", ...rollouts },
                    rolloutsDependsOn: controller.ready,
                },
                { transformations: [capture(captured)] },
            );
            new ModelService("plain", { namespace: NS, model: { ...base, name: "plain" }, image: `r@sha256:${"c".repeat(64)}` });
        });
        objects = k8sObjects(resources);
    });

    it("the HPA of a canary model targets the Rollout", () => {
        const hpa = only(objects, "HorizontalPodAutoscaler", "sentiment");
        assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "sentiment" });
        only(objects, "Rollout", "sentiment");
        assert.equal(objects.filter((o) => o.kind === "Deployment" && o.metadata.name === "sentiment").length, 0);
    });

    it("a model without canary stays a plain Deployment", () => {
        only(objects, "Deployment", "plain");
        assert.equal(objects.filter((o) => o.kind === "Rollout" && o.metadata.name === "plain").length, 0);
        assert.equal(only(objects, "HorizontalPodAutoscaler", "plain").spec.scaleTargetRef.kind, "Deployment");
    });

    it("the ModelCanary waits for the controller's ready resources (chart + AnalysisTemplates)", () => {
        const deps = captured.dependsOn.get("sentiment-canary") ?? [];
        assert.deepEqual(deps, ["rollouts-chart", ...Object.values(ANALYSIS_TEMPLATE_NAMES).map((n) => `rollouts-${n}`)]);
    });
});
