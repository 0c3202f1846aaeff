/**
 * The sandbox's stacks (sandbox/stacks.ts): a second stack deployed into the running sandbox beside the first, and
 * the `local-nginx` stack that is made for it. The stack file must validate, pass the policy pack, render the nginx
 * canary objects Argo reconciles, and share nothing cluster-scoped with `local` (nor a Harbor project, nor a fake
 * node), so that both can be up at once and either destroyed without touching the other.
 */
import { strict as assert } from "node:assert";
import { checkStack, plannedFrom } from "../../scripts/policy";
import { byType, k8sObjects, runStack, StackRun } from "../../support/harness";
import { mandatoryViolations } from "../../support/policy/evaluate";
import { poolNodes, SANDBOX_POOL_LABEL, sandboxNodes } from "../../sandbox/cluster/nodes";
import { stackNamespace, stackPools } from "../../sandbox/sandbox";
import {
    autoscalesThroughKeda,
    deployedStacks,
    downPlan,
    enforcesAdmission,
    nodesToAdd,
    sandboxFeatures,
    sandboxToolSets,
    upAction,
    withAddedStack,
    withoutStack,
} from "../../sandbox/stacks";
import { readFleetConfig } from "../../support/stackFile";

/** A sandbox stack file validates, and the policy pack reports no mandatory violation on what it declares. */
async function noMandatoryViolation(stack: string, run: StackRun): Promise<void> {
    const result = await checkStack(stack, plannedFrom(run.resources), run.outputs);
    assert.deepEqual(
        mandatoryViolations(result.evaluation).map((v) => `${v.policyName}: ${v.message}`),
        [],
        result.report,
    );
}

const node = (name: string, pool: string) => ({ metadata: { name, labels: { [SANDBOX_POOL_LABEL]: pool } } });

describe("sandbox stacks: a second stack beside the first", () => {
    const running = { stack: "local", startedAt: "2026-12-07T00:00:00Z" };

    it("up starts a sandbox when none runs, adds another stack to a running one, and refuses a stack already deployed", () => {
        assert.deepEqual(upAction(undefined, "local"), { kind: "start" });
        assert.deepEqual(upAction(undefined, "local-nginx"), { kind: "start" });
        assert.deepEqual(upAction(running, "local-nginx"), { kind: "add" });
        const refused = upAction(running, "local");
        assert.equal(refused.kind, "refuse");
        assert.match((refused as { message: string }).message, /already running \(stack local, started 2026-12-07T00:00:00Z\)/);
        const both = withAddedStack(running, "local-nginx", ["l4-nginx-0"]);
        assert.equal(upAction(both, "local-nginx").kind, "refuse");
        assert.deepEqual(deployedStacks(both), ["local", "local-nginx"]);
    });

    it("an added stack gets the nodes of its pools the sandbox lacks; a node of the same name in another pool is refused", () => {
        const existing = [node("system-0", "system"), node("l4-0", "l4")];
        const wanted = [node("l4-0", "l4"), node("l4-nginx-0", "l4-nginx")];
        assert.deepEqual(
            nodesToAdd(existing, wanted, SANDBOX_POOL_LABEL).map((n) => n.metadata.name),
            ["l4-nginx-0"],
            "a node of the same pool is reused",
        );
        assert.throws(() => nodesToAdd(existing, [node("l4-0", "other")], SANDBOX_POOL_LABEL), /l4-0 \(pool other, but the sandbox's is pool l4\)/);
    });

    it("down destroys the added stacks (last added first) and then the first; down --stack only an added one", () => {
        const s = withAddedStack(withAddedStack(running, "a", ["a-0"]), "b", []);
        assert.deepEqual(downPlan(s), {
            destroy: [
                { stack: "b", nodes: [] },
                { stack: "a", nodes: ["a-0"] },
            ],
            first: true,
        });
        assert.deepEqual(downPlan(s, "a"), { destroy: [{ stack: "a", nodes: ["a-0"] }], first: false });
        assert.throws(() => downPlan(s, "local"), /started the sandbox: `npm run sandbox -- down` \(without --stack\)/);
        assert.throws(() => downPlan(s, "c"), /stack c is not deployed in the sandbox \(deployed: local, a, b\)/);
        assert.deepEqual(deployedStacks(withoutStack(s, "a")), ["local", "b"]);
        assert.deepEqual(downPlan(running), { destroy: [], first: true }, "a state written before stacks could be added");
    });
});

describe("the local-nginx stack, deployable beside local", function () {
    this.timeout(180_000);
    let local: StackRun;
    let nginx: StackRun;
    before(async () => {
        local = await runStack("local");
        nginx = await runStack("local-nginx");
    });

    it("validates, and the policy pack reports no mandatory violation", () => noMandatoryViolation("local-nginx", nginx));

    it("its canary is routed by nginx: the stable Ingress (class nginx) to the stable Service, dynamicStableScale, an abort delay", () => {
        const objects = k8sObjects(nginx.resources);
        const rollout = objects.find((o) => o.kind === "Rollout")!;
        const canary = rollout.spec.strategy.canary;
        assert.deepEqual(
            { stableService: canary.stableService, canaryService: canary.canaryService, dynamicStableScale: canary.dynamicStableScale },
            { stableService: "sentiment", canaryService: "sentiment-canary", dynamicStableScale: true },
        );
        assert.deepEqual(canary.trafficRouting, { nginx: { stableIngress: "sentiment" } });
        assert.equal(canary.abortScaleDownDelaySeconds, 30);
        const ingress = objects.find((o) => o.kind === "Ingress" && o.metadata.name === "sentiment")!;
        assert.equal(ingress.spec.ingressClassName, "nginx");
        assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, "sentiment");
        assert.equal(ingress.metadata.namespace, "models-nginx");
    });

    it("shares no cluster-scoped object, namespace, Harbor project or fake node with local", () => {
        const clusterScoped = (r: StackRun) =>
            new Set(
                k8sObjects(r.resources)
                    .filter((o) => o.metadata.namespace === undefined)
                    .map((o) => `${o.kind}/${o.metadata.name}`),
            );
        const shared = [...clusterScoped(nginx)].filter((k) => clusterScoped(local).has(k));
        assert.deepEqual(shared, []);
        assert.ok(clusterScoped(nginx).has("Namespace/models-nginx"), "the check sees the cluster-scoped objects");
        const namespaces = (r: StackRun) => new Set(k8sObjects(r.resources).flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
        assert.deepEqual([...namespaces(nginx)], [stackNamespace("local-nginx")]);
        assert.ok(!namespaces(local).has("models-nginx"));
        const projects = (r: StackRun) => byType(r.resources, "pulumi-nodejs:dynamic/harbor:Project").map((p) => p.inputs.name ?? p.inputs.projectName);
        assert.equal(projects(nginx).length, 1);
        assert.ok(!projects(local).includes(projects(nginx)[0]), `Harbor project ${projects(nginx)[0]} is local's too`);
        const added = nodesToAdd(sandboxNodes(stackPools("local")), stackPools("local-nginx").flatMap(poolNodes), SANDBOX_POOL_LABEL);
        assert.equal(added.length, 5, "every node of its pool is its own");
    });
});

describe("sandbox stacks: Kyverno's admission controller runs for a stack that enforces admission", () => {
    it("as config/load.ts settles the mode: Enforce when set, by default in production; never when admission is off", () => {
        assert.equal(enforcesAdmission(readFleetConfig("local").config, "local"), false, "local is Audit (development): no Kyverno");
        assert.equal(enforcesAdmission(readFleetConfig("local-nginx").config, "local-nginx"), false);
        assert.equal(enforcesAdmission({ supplyChain: { admission: { mode: "Enforce" } } }, "local"), true);
        assert.equal(enforcesAdmission({}, "prod-sandbox"), true, "production by its name: Enforce by default");
        assert.equal(enforcesAdmission({ environment: "development" }, "prod-sandbox"), false);
        assert.equal(enforcesAdmission({ environment: "production", supplyChain: { admission: { enabled: false } } }, "x"), false);
        assert.equal(enforcesAdmission({ environment: "production", supplyChain: { admission: { mode: "Audit" } } }, "x"), false);
        assert.equal(enforcesAdmission(readFleetConfig("local-keda").config, "local-keda"), false);
    });
});

describe("sandbox stacks: KEDA runs for a stack that autoscales through it", () => {
    const model = (autoscaling: Record<string, number>) => ({ name: "m", autoscaling: { minReplicas: 1, maxReplicas: 2, ...autoscaling } });
    it("as the program decides it (modelAutoscaler): auto with targetRequestsPerSecond, or keda; never hpa", () => {
        assert.equal(autoscalesThroughKeda(readFleetConfig("local-keda").config), true);
        assert.equal(autoscalesThroughKeda(readFleetConfig("local").config), false, "local's models scale on CPU: a plain HPA");
        assert.equal(autoscalesThroughKeda(readFleetConfig("local-nginx").config), false);
        assert.equal(autoscalesThroughKeda({ models: [model({})] }), false);
        assert.equal(autoscalesThroughKeda({ serving: { autoscaler: "keda" }, models: [model({})] }), true);
        assert.equal(autoscalesThroughKeda({ serving: { autoscaler: "hpa" }, models: [model({ targetRequestsPerSecond: 5 })] }), false);
        assert.equal(autoscalesThroughKeda({ models: [model({}), model({ targetRequestsPerSecond: 5 })] }), true);
        assert.equal(autoscalesThroughKeda({}), false);
    });

    it("the tool sets a sandbox builds follow what its first stack needs", () => {
        assert.deepEqual(sandboxToolSets(sandboxFeatures(readFleetConfig("local").config, "local")), ["sandbox"]);
        assert.deepEqual(sandboxToolSets(sandboxFeatures(readFleetConfig("local-keda").config, "local-keda")), ["sandbox", "autoscaling"]);
        assert.deepEqual(sandboxToolSets({ admission: true, keda: true }), ["sandbox", "admission", "autoscaling"]);
    });

    it("a KEDA stack is not added to a sandbox that runs no KEDA (its ScaledObjects would find no CRD); the reverse is fine", () => {
        const local = { stack: "local", startedAt: "t", processes: [{ name: "etcd" }, { name: "metrics-server" }] };
        const refused = upAction(local, "local-keda", { admission: false, keda: true });
        assert.equal(refused.kind, "refuse");
        assert.match((refused as { message: string }).message, /runs no KEDA; nothing was changed.*up --stack local-keda` first and add local beside it/);
        const keda = { stack: "local-keda", startedAt: "t", processes: [{ name: "metrics-server" }, { name: "keda-operator" }, { name: "keda-adapter" }] };
        assert.deepEqual(upAction(keda, "local", { admission: false, keda: false }), { kind: "add" });
        assert.deepEqual(upAction({ ...keda, stack: "x", added: [] }, "local-keda", { admission: false, keda: true }), { kind: "add" });
    });
});

describe("the local-keda stack (the autoscaling loop), deployable beside local", function () {
    this.timeout(180_000);
    let local: StackRun;
    let keda: StackRun;
    before(async () => {
        local = await runStack("local");
        keda = await runStack("local-keda");
    });

    it("validates, and the policy pack reports no mandatory violation", () => noMandatoryViolation("local-keda", keda));

    it("its model autoscales through a KEDA ScaledObject on its Rollout (no plain HPA), and the capacity plan warns that its pool cannot hold maxReplicas", () => {
        const objects = k8sObjects(keda.resources);
        const so = objects.find((o) => o.kind === "ScaledObject")!;
        assert.deepEqual(so.spec.scaleTargetRef, { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "sentiment" });
        assert.deepEqual([so.spec.minReplicaCount, so.spec.maxReplicaCount], [1, 4]);
        assert.equal(so.spec.triggers[1].metadata.serverAddress, "http://127.0.0.1:19091");
        assert.equal(objects.filter((o) => o.kind === "HorizontalPodAutoscaler").length, 0);
        assert.deepEqual(keda.warnings.filter((w) => /l4-keda/.test(w)).length, 1, keda.warnings.join("\n"));
    });

    it("shares nothing with local: its own namespace and pool, no add-on chart (the sandbox runs metrics-server and KEDA)", () => {
        const namespaces = new Set(k8sObjects(keda.resources).flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
        assert.deepEqual([...namespaces], [stackNamespace("local-keda")]);
        assert.notEqual(stackNamespace("local-keda"), stackNamespace("local"));
        const localNodes = new Set(sandboxNodes(stackPools("local")).map((n) => n.metadata.name));
        for (const n of stackPools("local-keda").flatMap(poolNodes)) assert.ok(!localNodes.has(n.metadata.name), n.metadata.name);
        assert.equal(byType(keda.resources, "kubernetes:helm.sh/v4:Chart").length, 0);
        assert.ok(local.resources.length > 0);
    });
});

describe("the local-bluegreen stack (the blue-green rehearsals), deployable alone or beside local", function () {
    this.timeout(180_000);
    let bg: StackRun;
    before(async () => {
        bg = await runStack("local-bluegreen");
    });

    it("validates, and the policy pack reports no mandatory violation", () => noMandatoryViolation("local-bluegreen", bg));

    it("its model is a blue-green Rollout (preview Service, pre-promotion analysis, automatic promotion, rollback window); its pool holds the preview beside the active version", () => {
        const objects = k8sObjects(bg.resources);
        const ro = objects.find((o) => o.kind === "Rollout")!;
        const s = ro.spec.strategy.blueGreen;
        assert.deepEqual([s.activeService, s.previewService, s.autoPromotionEnabled, s.scaleDownDelaySeconds], ["sentiment", "sentiment-preview", true, 30]);
        assert.deepEqual(
            s.prePromotionAnalysis.templates.map((t: { templateName: string }) => t.templateName),
            ["model-success-rate", "model-latency-p99"],
        );
        assert.deepEqual(ro.spec.rollbackWindow, { revisions: 3 });
        assert.ok(objects.some((o) => o.kind === "Service" && o.metadata.name === "sentiment-preview"));
        const pool = stackPools("local-bluegreen").find((p) => p.name === "l4-bluegreen")!;
        const { maxReplicas } = readFleetConfig("local-bluegreen").config.models[0].autoscaling;
        assert.ok(pool.nodes! >= 2 * maxReplicas, "room for the full preview next to the active version");
        const namespaces = new Set(objects.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
        assert.deepEqual([...namespaces], [stackNamespace("local-bluegreen")]);
        const localNodes = new Set(sandboxNodes(stackPools("local")).map((n) => n.metadata.name));
        for (const n of stackPools("local-bluegreen").flatMap(poolNodes)) assert.ok(!localNodes.has(n.metadata.name), n.metadata.name);
    });
});

describe("the local-ab stack (the A/B-by-header rehearsal), deployable alone or beside local", function () {
    this.timeout(180_000);
    let ab: StackRun;
    before(async () => {
        ab = await runStack("local-ab");
    });

    it("validates, and the policy pack reports no mandatory violation", () => noMandatoryViolation("local-ab", ab));

    it("its model is an nginx canary whose A/B phase comes first: the header rule for the canary Ingress, the canary's pods, a gate at weight 0; its pool holds them beside stable", () => {
        const objects = k8sObjects(ab.resources);
        const ro = objects.find((o) => o.kind === "Rollout")!;
        const c = ro.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.nginx.additionalIngressAnnotations, { "canary-by-header": "x-canary", "canary-by-header-value": "always" });
        assert.deepEqual(c.steps.slice(0, 2), [{ setCanaryScale: { weight: 50 } }, { pause: { duration: "60s" } }]);
        assert.deepEqual(
            c.steps[2].analysis.templates.map((t: { templateName: string }) => t.templateName),
            ["model-success-rate", "model-client-errors", "model-latency-p99", "model-quality"],
            "the A/B gate judges quality too: pinned users see the answers",
        );
        assert.ok(
            objects.some((o) => o.kind === "Ingress" && o.metadata.name === "sentiment"),
            "the stable Ingress Argo makes the canary twin of",
        );
        const pool = stackPools("local-ab").find((p) => p.name === "l4-ab")!;
        const { maxReplicas } = readFleetConfig("local-ab").config.models[0].autoscaling;
        assert.ok(pool.nodes! >= maxReplicas + 1, "room for the canary's pod beside stable");
        const namespaces = new Set(objects.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
        assert.deepEqual([...namespaces], [stackNamespace("local-ab")]);
        const localNodes = new Set(sandboxNodes(stackPools("local")).map((n) => n.metadata.name));
        for (const n of stackPools("local-ab").flatMap(poolNodes)) assert.ok(!localNodes.has(n.metadata.name), n.metadata.name);
    });
});

describe("the local-istio stack (the Istio experiments' rehearsals), deployable alone or beside local", function () {
    this.timeout(180_000);
    let istio: StackRun;
    before(async () => {
        istio = await runStack("local-istio");
    });

    it("validates, and the policy pack reports no mandatory violation", () => noMandatoryViolation("local-istio", istio));

    it("its model is an Istio canary whose mirror then A/B phases come first (managed routes; the mirror gate without quality, the A/B gate with it, at weight 0); the VirtualService Argo re-weights; its own namespace and nodes", () => {
        const objects = k8sObjects(istio.resources);
        const c = objects.find((o) => o.kind === "Rollout")!.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.managedRoutes, [{ name: "ab-test" }, { name: "mirror" }]);
        assert.equal(c.steps[1].setMirrorRoute.percentage, 50);
        assert.deepEqual(c.steps[5].setHeaderRoute, { name: "ab-test", match: [{ headerName: "x-canary", headerValue: { exact: "always" } }] });
        assert.ok(
            c.steps[7].analysis.templates.some((t: { templateName: string }) => t.templateName === "model-quality"),
            "the A/B gate judges quality",
        );
        assert.deepEqual(
            c.steps[3].analysis.templates.map((t: { templateName: string }) => t.templateName),
            ["model-success-rate", "model-client-errors", "model-latency-p99"],
            "mirrored answers reach nobody: no feedback, no quality template",
        );
        const vs = objects.find((o) => o.kind === "VirtualService")!;
        assert.deepEqual(
            vs.spec.http.map((h: { name: string }) => h.name),
            ["primary"],
        );
        const namespaces = new Set(objects.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])));
        assert.deepEqual([...namespaces], [stackNamespace("local-istio")]);
        const localNodes = new Set(sandboxNodes(stackPools("local")).map((n) => n.metadata.name));
        for (const n of stackPools("local-istio").flatMap(poolNodes)) assert.ok(!localNodes.has(n.metadata.name), n.metadata.name);
    });
});
