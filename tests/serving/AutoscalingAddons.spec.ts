/**
 * What the program declares so that the models' HPAs have their metrics on a real cluster: metrics-server (CPU) and,
 * for models that autoscale through KEDA, the KEDA chart whose CRDs the ScaledObjects wait for. Under mocks, on the
 * real stacks and on edited ones.
 */
import { strict as assert } from "assert";
import { AUTOSCALING_ADDONS_TYPE, KEDA_CHART, METRICS_SERVER_CHART } from "../../components/serving/AutoscalingAddons";
import { MockResource, runStack } from "../../support/harness";

const charts = (rs: MockResource[]) => {
    const addons = new Set(rs.filter((r) => r.type === AUTOSCALING_ADDONS_TYPE).map((r) => r.urn));
    return rs.filter((r) => r.type === "kubernetes:helm.sh/v4:Chart" && addons.has(r.parent ?? "")).map((r) => `${r.inputs.chart}@${r.inputs.version}`);
};

describe("serving: AutoscalingAddons (metrics-server, KEDA)", function () {
    this.timeout(120_000);

    it("prod (sentiment scales on requests per second): metrics-server 3.13.0 and KEDA 2.21.0, and sentiment's ScaledObject instead of its HPA", async () => {
        const run = await runStack("prod");
        assert.deepEqual(charts(run.resources).sort(), [`${KEDA_CHART.chart}@2.21.0`, `${METRICS_SERVER_CHART.chart}@3.13.0`]);
        const keda = run.resources.find((r) => r.type === "kubernetes:helm.sh/v4:Chart" && r.inputs.chart === "keda")!;
        assert.equal(keda.inputs.repositoryOpts.repo, "https://kedacore.github.io/charts");
        assert.equal(keda.inputs.namespace, "keda");
        const so = run.resources.find((r) => r.type === "kubernetes:keda.sh/v1alpha1:ScaledObject")!;
        assert.equal(so.inputs.metadata.name, "sentiment");
        assert.equal(
            run.resources.filter((r) => r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" && r.inputs.metadata.name === "sentiment").length,
            0,
        );
    });

    it("dev (CPU only): metrics-server alone; serving.autoscaler keda gives every model a ScaledObject and installs KEDA", async () => {
        assert.deepEqual(charts((await runStack("dev")).resources), [`${METRICS_SERVER_CHART.chart}@3.13.0`]);
        const run = await runStack("dev", { editConfig: (c) => (c["model-fleet:serving"] = { ...(c["model-fleet:serving"] ?? {}), autoscaler: "keda" }) });
        assert.deepEqual(charts(run.resources).sort(), ["keda@2.21.0", "metrics-server@3.13.0"]);
        assert.equal(run.resources.filter((r) => r.type === "kubernetes:keda.sh/v1alpha1:ScaledObject").length, 2);
        assert.equal(run.resources.filter((r) => r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").length, 0);
    });

    it("addons.metricsServer and addons.keda off (the cluster runs them, as the sandbox does): no chart, the ScaledObject still declared", async () => {
        const run = await runStack("prod", {
            editConfig: (c) => (c["model-fleet:addons"] = { ...(c["model-fleet:addons"] ?? {}), metricsServer: false, keda: false }),
        });
        assert.deepEqual(charts(run.resources), []);
        assert.equal(run.resources.filter((r) => r.type === AUTOSCALING_ADDONS_TYPE).length, 0);
        assert.equal(run.resources.filter((r) => r.type === "kubernetes:keda.sh/v1alpha1:ScaledObject").length, 1);
    });
});
