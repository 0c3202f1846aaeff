/** The validation helper itself: it must catch what it claims to, and say "no schema" instead of passing silently. */
import { strict as assert } from "assert";
import {
    formatReports,
    isNoSchema,
    keyProblem,
    metadataProblems,
    modelClassFor,
    unknownFields,
    validateK8sObject,
    validateK8sObjectDetailed,
    validateK8sObjects,
} from "./k8sValidate";

const deployment = () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "iris", namespace: "models", labels: { "app.kubernetes.io/name": "iris" } },
    spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "iris" } },
        template: {
            metadata: { labels: { "app.kubernetes.io/name": "iris" } },
            spec: {
                containers: [{ name: "server", image: "r/iris@sha256:" + "a".repeat(64), lifecycle: { preStop: { sleep: { seconds: 5 } } } }],
            },
        },
    },
});

const rollout = () => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { name: "iris", namespace: "models" },
    spec: {
        selector: { matchLabels: { app: "iris" } },
        template: { metadata: { labels: { app: "iris" } }, spec: { containers: [{ name: "server", image: "x" }] } },
        strategy: { canary: { steps: [{ setWeight: 10 }, { pause: { duration: "60s" } }] } },
    },
});

describe("k8sValidate helper", () => {
    it("accepts valid built-in objects of every group the program uses", async () => {
        const objs = [
            deployment(),
            { apiVersion: "v1", kind: "Service", metadata: { name: "iris" }, spec: { ports: [{ name: "http", port: 8080, targetPort: "http" }] } },
            { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "iris" }, automountServiceAccountToken: false },
            {
                apiVersion: "autoscaling/v2",
                kind: "HorizontalPodAutoscaler",
                metadata: { name: "iris" },
                spec: { scaleTargetRef: { kind: "Deployment", name: "iris" }, maxReplicas: 3 },
            },
            { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "iris" }, spec: { maxUnavailable: 1 } },
            { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "deny" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } },
            { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "r" }, rules: [] },
        ];
        for (const o of objs) assert.deepEqual(await validateK8sObject(o), [], `${o.kind}`);
    });

    it("reports schema errors with their path", async () => {
        const d: any = deployment();
        d.spec.template.spec.containers[0].ports = [{ containerPort: "8080" }];
        delete d.spec.selector;
        const errors = await validateK8sObject(d);
        assert.ok(
            errors.some((e) => e.startsWith("/spec/template/spec/containers/0/ports/0/containerPort")),
            errors.join("\n"),
        );
        assert.ok(
            errors.some((e) => /selector/.test(e)),
            errors.join("\n"),
        );
    });

    it("validates Argo Rollouts kinds through the ESM package", async () => {
        assert.deepEqual(await validateK8sObject(rollout()), []);
        const bad: any = rollout();
        bad.spec.strategy.canary.steps[0].setWeight = "10%";
        const r = await validateK8sObjectDetailed(bad);
        assert.equal(r.status, "invalid");
        assert.equal(r.schema, "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout");
        assert.deepEqual(r.errors, ["/spec/strategy/canary/steps/0/setWeight must be integer"]);
        assert.ok(await modelClassFor("argoproj.io/v1alpha1", "AnalysisTemplate"));
    });

    it("says 'no schema' for kinds no installed package models (and for sub-schemas)", async () => {
        for (const [apiVersion, kind] of [
            ["monitoring.coreos.com/v1", "ServiceMonitor"],
            ["networking.istio.io/v1beta1", "VirtualService"],
            ["apps/v1", "DeploymentSpec"],
            ["argoproj.io/v1alpha1", "CanaryStep"],
            ["../../etc", "passwd"],
        ]) {
            const errors = await validateK8sObject({ apiVersion, kind, metadata: { name: "x" } });
            assert.ok(isNoSchema(errors), `${apiVersion} ${kind}: ${errors}`);
        }
        const reports = await validateK8sObjects([{ apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" } }]);
        assert.equal(formatReports(reports).length, 1, "not allow-listed → reported");
        assert.deepEqual(formatReports(reports, ["monitoring.coreos.com/v1/ServiceMonitor"]), []);
    });

    it("checks the metadata rules the API server enforces beyond the schema", () => {
        assert.deepEqual(metadataProblems({ apiVersion: "v1", kind: "Service", metadata: { name: "iris" } }), []);
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "Service", metadata: { name: "1iris" } }).length, 1, "Service names are DNS-1035");
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a.b" } }).length, 0, "others are DNS subdomains");
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "Namespace", metadata: { name: "a.b" } }).length, 1);
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: {} }).length, 1, "name required");
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", labels: { v: "1.0.0+b" } } }).length, 1);
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", labels: { v: 1 } } }).length, 1);
        assert.equal(metadataProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", annotations: { "a/b/c": "x" } } }).length, 1);
        assert.equal(keyProblem("app.kubernetes.io/name"), undefined);
        assert.ok(keyProblem("Bad_Prefix/name"));
        assert.ok(keyProblem("x".repeat(64)));
    });

    it("finds every unknown field, nested in objects and arrays, which the schemas let through", async () => {
        const d: any = deployment();
        d.spec.template.spec.containers[0].securityContext = { readOnlyRootFileSystem: true };
        d.spec.template.spec.topologySpreadConstraint = [];
        d.spec.strategy = { rollingUpdate: { maxSurge: 1, maxUnavaliable: 0 } };
        assert.deepEqual(await validateK8sObject(d), [], "the JSON schemas accept unknown fields");
        const r: any = rollout();
        r.spec.strategy.canary.steps[1].pauze = {};
        r.spec.templat = {};
        const ok = deployment();
        ok.metadata.labels = { "any-key": "free-form maps accept anything" } as any;
        const found = await unknownFields([
            d,
            { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" }, spec: { whatever: 1 } },
            r,
            ok,
        ]);
        assert.deepEqual([...found.keys()].sort(), [0, 2]);
        assert.deepEqual(found.get(0)!.sort(), [
            "/spec/strategy/rollingUpdate: unknown field 'maxUnavaliable' (not in IRollingUpdateDeployment)",
            "/spec/template/spec/containers/0/securityContext: unknown field 'readOnlyRootFileSystem' (not in ISecurityContext)",
            "/spec/template/spec: unknown field 'topologySpreadConstraint' (not in IPodSpec)",
        ]);
        assert.deepEqual(found.get(2)!.sort(), [
            "/spec/strategy/canary/steps/1: unknown field 'pauze' (not in ICanaryStep)",
            "/spec: unknown field 'templat' (not in IRolloutSpec)",
        ]);
    });
});
