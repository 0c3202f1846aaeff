/**
 * Observability (issue #15), offline: which rule and dashboard objects each stack declares, that thresholds come
 * from each model's config, and that the dashboard queries the recorded SLI names. The real-tool checks
 * (promtool check/test rules, PromQL parsing) are in tests/promtool/ (npm run test:promtool).
 */
import { strict as assert } from "assert";
import * as YAML from "yaml";
import { dashboard, dashboardExpressions, versionTreeQueries } from "../../components/observability/dashboard";
import { alertingRules, complement, DEFAULT_THRESHOLDS, LINEAGE, resolveThresholds, ruleGroups, SLI } from "../../components/observability/rules";
import { k8sObjects, runStack } from "../../support/harness";

const ruleOf = (groups: any[], model: string, alert: string) => groups.flatMap((g) => g.rules).find((r: any) => r.alert === alert && r.labels.model === model);

describe("observability: rules and dashboard per stack", () => {
    it("prod: a PrometheusRule selected by kube-prometheus-stack, and a sidecar dashboard with its folder", async () => {
        const objs = k8sObjects((await runStack("prod")).resources);
        const rule = objs.find((o) => o.kind === "PrometheusRule")!;
        assert.equal(rule.apiVersion, "monitoring.coreos.com/v1");
        assert.equal(rule.metadata.labels.release, "kube-prometheus-stack");
        assert.equal(rule.metadata.namespace, "models");
        const groups = rule.spec.groups;
        assert.match(ruleOf(groups, "sentiment", "ModelLatencyP99High").expr, / \* 1000 > 250$/, "prod sentiment canary p99LatencyMs");
        assert.match(ruleOf(groups, "summarizer", "ModelLatencyP99High").expr, / \* 1000 > 1000$/, "no canary: the fleet default");
        assert.match(ruleOf(groups, "sentiment", "ModelErrorRatioHigh").expr, / > 0\.01$/, "1 − successRate 0.99");
        assert.match(ruleOf(groups, "sentiment", "ModelAccuracyDropped").expr, / - 0\.03\) and on .* >= 100$/);
        assert.ok(ruleOf(groups, "sentiment", "ModelCanaryAborted"));
        assert.equal(ruleOf(groups, "summarizer", "ModelCanaryAborted"), undefined, "a Deployment has no canary");
        assert.match(ruleOf(groups, "summarizer", "ModelNoTraffic").expr, /kube_deployment_status_replicas_available/);
        assert.match(ruleOf(groups, "sentiment", "ModelNoTraffic").expr, /rollout_info_replicas_available/);
        // Argo's controller metrics carry the rollout's namespace as exported_namespace (the chart's ServiceMonitor
        // does not honour labels): every match on rollout_info names it, so another namespace's rollout never counts.
        assert.match(
            ruleOf(groups, "sentiment", "ModelNoTraffic").expr,
            /^sum by \(exported_namespace, name\) \(rollout_info_replicas_available\{exported_namespace="models",name="sentiment"\}\) > 0 /,
        );
        assert.equal(
            ruleOf(groups, "sentiment", "ModelCanaryAborted").expr,
            'max by (exported_namespace, name) (rollout_info{exported_namespace="models",name="sentiment",phase="Abort"}) == 1',
        );
        assert.ok(ruleOf(groups, "summarizer", "ModelGpuMemoryHigh"), "GPU models get DCGM alerts");
        const dash = objs.find((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1")!;
        assert.ok(dash, "production declares the dashboard by default");
        assert.equal(dash.metadata.annotations.grafana_folder, "model-fleet");
        const json = JSON.parse(dash.data["model-fleet.json"]);
        assert.equal(json.uid, "model-fleet-prod");
        for (const p of json.panels.filter((x: any) => x.type !== "row")) {
            assert.equal(p.datasource.uid, "prometheus");
            assert.ok(p.targets.length > 0);
        }
    });

    it("dev: rules, and no dashboard outside production by default", async () => {
        const objs = k8sObjects((await runStack("dev", { editConfig: (c) => delete c["model-fleet:observability"].dashboards })).resources);
        assert.equal(objs.filter((o) => o.kind === "PrometheusRule").length, 1);
        assert.equal(objs.filter((o) => o.metadata.labels?.grafana_dashboard).length, 0);
    });

    it("local: rules, and the dashboard it turns on (so the sandbox's API server admits both)", async () => {
        const objs = k8sObjects((await runStack("local")).resources);
        assert.equal(objs.filter((o) => o.kind === "PrometheusRule").length, 1);
        assert.equal(objs.filter((o) => o.metadata.labels?.grafana_dashboard === "1").length, 1);
    });

    it("without the Prometheus Operator: a ConfigMap with the plain rule file; dashboards and alerts follow the switches", async () => {
        const run = await runStack("dev", {
            editConfig: (c) => {
                c["model-fleet:serving"].prometheusOperator = false;
                c["model-fleet:observability"] = { alerts: false, dashboards: true, folder: "ML", datasource: "amp", dashboardLabels: { team: "ml" } };
            },
        });
        const objs = k8sObjects(run.resources);
        assert.equal(objs.filter((o) => o.kind === "PrometheusRule").length, 0);
        const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === "model-fleet-dev-rules")!;
        const file = YAML.parse(cm.data["model-fleet.rules.yaml"]);
        assert.ok(file.groups.length > 0);
        assert.equal(file.groups.flatMap((g: any) => g.rules).filter((r: any) => r.alert).length, 0, "alerts: false");
        const dash = objs.find((o) => o.metadata.labels?.grafana_dashboard === "1")!;
        assert.equal(dash.metadata.labels.team, "ml");
        assert.equal(dash.metadata.annotations.grafana_folder, "ML");
        assert.equal(JSON.parse(dash.data["model-fleet.json"]).panels[1].datasource.uid, "amp");
    });

    it("thresholds: override, then canary analysis, then the fleet default", () => {
        const canary = {
            steps: [50],
            pauseSeconds: 1,
            analysis: { successRate: 0.95, p99LatencyMs: 800, maxClientErrorIncrease: 0.05, minFeedbackSamples: 100, minRequests: 100, maxAccuracyDrop: 0.05 },
        };
        assert.equal(resolveThresholds({ canary }).p99LatencyMs, 800);
        assert.equal(resolveThresholds({ canary, observability: { p99LatencyMs: 300 } }).p99LatencyMs, 300);
        assert.equal(resolveThresholds({}).p99LatencyMs, DEFAULT_THRESHOLDS.p99LatencyMs);
        assert.equal(resolveThresholds({}, { ...DEFAULT_THRESHOLDS, accuracyFloor: 0.7 }).accuracyFloor, 0.7);
        assert.equal(resolveThresholds({}).maxAccuracyDrop, undefined);
        assert.equal(complement(0.99), 0.01);
        const rules = alertingRules({
            name: "m",
            namespace: "ns",
            canary: false,
            thresholds: resolveThresholds({ observability: { accuracyFloor: 0.8, maxRestarts: 7 } }),
        });
        assert.match(rules.find((r) => r.alert === "ModelAccuracyBelowFloor")!.expr, /< 0\.8 /);
        assert.match(rules.find((r) => r.alert === "ModelPodRestarting")!.expr, /> 7$/);
        assert.equal(
            rules.find((r) => r.alert === "ModelAccuracyDropped"),
            undefined,
            "no maxAccuracyDrop: no drop alert",
        );
        for (const r of rules) {
            assert.ok(["critical", "warning", "info"].includes(r.labels.severity));
            assert.ok(r.annotations.summary && r.annotations.description && r.annotations.runbook_url.startsWith("docs/runbook.md#alert-"));
        }
    });

    it("the dashboard's SLI panels query the recorded names the rules define", () => {
        const recorded = new Set(
            ruleGroups([{ name: "m", namespace: "ns", canary: true, thresholds: DEFAULT_THRESHOLDS }]).flatMap((g) =>
                g.rules.map((r: any) => r.record).filter(Boolean),
            ),
        );
        const d = dashboard({ uid: "u", title: "t", datasource: "p", namespace: "ns", poolLabel: "model-fleet.io/gpu-pool" });
        const used = new Set(dashboardExpressions(d).flatMap((e) => e.match(/model:[a-z0-9_:]+/g) ?? []));
        for (const name of Object.values(SLI).filter((n) => n !== SLI.feedbackSamples)) assert.ok(used.has(name), `${name} is on the dashboard`);
        for (const name of used) assert.ok(recorded.has(name), `${name} is recorded`);
    });

    it("the version tree: a table of four instant queries on the running versions' lineage, merged by version", () => {
        const d = dashboard({ uid: "u", title: "t", datasource: "p", namespace: "ns", poolLabel: "model-fleet.io/gpu-pool" }) as any;
        const tree = d.panels.find((p: any) => p.type === "table");
        assert.ok(tree, "a table panel");
        const q = versionTreeQueries();
        assert.deepEqual(
            tree.targets.map((t: any) => [t.refId, t.expr, t.format, t.instant]),
            [
                ["A", q.tree, "table", true],
                ["B", q.heldout, "table", true],
                ["C", q.live, "table", true],
                ["D", q.gap, "table", true],
            ],
        );
        // Every query is about the versions that run now (model:lineage:pods), for the selected models, all versions.
        for (const e of Object.values(q)) assert.ok(e.includes(`${LINEAGE.pods}{namespace="$namespace",app_kubernetes_io_name=~"$model"}`), e);
        assert.match(q.tree, /group_left \(grandparent\)/);
        assert.ok(q.heldout.includes("model_server_model_heldout_accuracy") && q.live.includes(SLI.accuracy));
        assert.deepEqual(
            tree.transformations.map((t: any) => t.id),
            ["merge", "organize"],
        );
        assert.equal(tree.gridPos.w, 24);
        const ruleRecords = ruleGroups([{ name: "m", namespace: "ns", canary: false, thresholds: DEFAULT_THRESHOLDS }]).flatMap((g) =>
            g.rules.map((r: any) => r.record),
        );
        assert.ok(ruleRecords.includes(LINEAGE.pods), "recorded for plain Deployments too");
    });
});
