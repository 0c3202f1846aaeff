import * as assert from "assert";
import * as fs from "fs";
import * as k8s from "@pulumi/kubernetes";
import * as YAML from "yaml";
import { GpuClusterAddons } from "../components/gpu/GpuClusterAddons";
import { DEVICE_PLUGIN_CHART, GPU_OPERATOR_CHART, devicePluginValues, gpuOperatorValues } from "../components/gpu/addonValues";
import { instanceGpu, layoutFits } from "../components/gpu/catalogue";
import { PoolLabelInput, gpuPoolNodeLabels } from "../components/gpu/labels";
import { migConfigName, migPartedConfig } from "../components/gpu/migConfig";
import { gpuScheduling } from "../components/gpu/workloadGpu";
import { MockResource, byType, k8sObjects, runProgram } from "./harness";
import { unknownValueKeys } from "./helmValues";
import { validateK8sObject } from "./k8sValidate";
import { referencePath } from "./reference";

const pools: PoolLabelInput[] = [
  { name: "mig", instanceType: "p5.48xlarge", mig: { strategy: "mixed", layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } } },
  { name: "small", instanceType: "p4d.24xlarge", mig: { strategy: "single", layout: { "1g.5gb": 7 } } },
  { name: "l4", instanceType: "g6.xlarge" },
  { name: "br", instanceType: "g6e.xlarge", amiType: "BOTTLEROCKET_x86_64_NVIDIA" },
];
const wholeOnly: PoolLabelInput[] = [pools[2]];

const DEVICE_PLUGIN_FREE_FORM = ["config.map", "tolerations", "affinity", "nfd.worker.tolerations"];
const GPU_OPERATOR_FREE_FORM = ["daemonsets.tolerations", "migManager.env", "validator.plugin.env"];

async function addons(poolList: PoolLabelInput[]) {
  return runProgram(() => {
    const provider = new k8s.Provider("cluster", { kubeconfig: "{}" });
    new GpuClusterAddons("gpu", { pools: poolList, provider });
  });
}

const releases = (resources: MockResource[]) => byType(resources, "kubernetes:helm.sh/v3:Release");
const release = (resources: MockResource[], chart: string) => {
  const r = releases(resources).filter((x) => x.inputs.chart === chart);
  assert.strictEqual(r.length, 1, `${chart} releases: ${r.length}`);
  return r[0];
};

/** Wrap scheduling values the chart copies into its pod specs, so kubernetes-models can validate them. */
const podWith = (spec: Record<string, unknown>) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "check" },
  spec: { containers: [{ name: "c", image: "busybox" }], ...spec },
});

describe("GpuClusterAddons: NVIDIA device plugin", () => {
  it("installs nvidia-device-plugin 0.20.0 from NVIDIA's repo as a Helm release through the given provider", async () => {
    const { resources } = await addons(pools);
    const dp = release(resources, "nvidia-device-plugin");
    assert.strictEqual(dp.inputs.version, "0.20.0");
    assert.deepStrictEqual(dp.inputs.repositoryOpts, { repo: "https://nvidia.github.io/k8s-device-plugin" });
    assert.strictEqual(dp.inputs.name, "nvidia-device-plugin");
    assert.strictEqual(dp.inputs.namespace, "nvidia-device-plugin");
    const chartYaml = YAML.parse(fs.readFileSync(referencePath("charts/nvidia-device-plugin/Chart.yaml"), "utf8"));
    assert.strictEqual(chartYaml.name, DEVICE_PLUGIN_CHART.chart);
    assert.strictEqual(chartYaml.version, DEVICE_PLUGIN_CHART.version);
    const provider = byType(resources, "pulumi:providers:kubernetes")[0];
    for (const r of resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      assert.ok(r.provider?.startsWith(provider.urn), `${r.type} ${r.name} does not use the cluster provider (${r.provider})`);
    }
    assert.strictEqual(byType(resources, "model-fleet:gpu:GpuClusterAddons").length, 1);
  });

  it("sets only keys the pinned chart's values.yaml has", async () => {
    const { resources } = await addons(pools);
    const values = release(resources, "nvidia-device-plugin").inputs.values;
    assert.deepStrictEqual(values, devicePluginValues(pools));
    assert.deepStrictEqual(unknownValueKeys(values, referencePath("charts/nvidia-device-plugin/values.yaml"), DEVICE_PLUGIN_FREE_FORM), []);
  });

  it("per-node MIG strategy: one config per strategy in use, and every pool's label names one of them", async () => {
    const values = devicePluginValues(pools) as any;
    assert.deepStrictEqual(Object.keys(values.config.map), ["mig-none", "mig-single", "mig-mixed"]);
    assert.strictEqual(values.config.default, "mig-none");
    assert.deepStrictEqual(YAML.parse(values.config.map["mig-mixed"]), { version: "v1", flags: { migStrategy: "mixed" } });
    assert.deepStrictEqual(YAML.parse(values.config.map["mig-single"]), { version: "v1", flags: { migStrategy: "single" } });
    assert.deepStrictEqual(YAML.parse(values.config.map["mig-none"]), { version: "v1", flags: { migStrategy: "none" } });
    for (const pool of pools) {
      const label = gpuPoolNodeLabels(pool)["nvidia.com/device-plugin.config"];
      assert.ok(label in values.config.map, `${pool.name}: ${label}`);
      assert.strictEqual(YAML.parse(values.config.map[label]).flags.migStrategy, pool.mig?.strategy ?? "none");
    }
    assert.deepStrictEqual(Object.keys((devicePluginValues(wholeOnly) as any).config.map), ["mig-none"]);
    assert.strictEqual((devicePluginValues(wholeOnly) as any).migStrategy, undefined, "a top-level migStrategy would override the per-node configs");
  });

  it("enables GPU feature discovery, tolerates the GPU taint (plugin and NFD worker)", () => {
    const values = devicePluginValues(pools) as any;
    assert.deepStrictEqual(values.gfd, { enabled: true });
    const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
    assert.ok(values.tolerations.some((t: any) => JSON.stringify(t) === JSON.stringify(gpuToleration)));
    assert.deepStrictEqual(values.nfd.worker.tolerations, [gpuToleration]);
  });

  it("runs only on our AL2023 GPU nodes and steps aside while mig-manager repartitions", async () => {
    const values = devicePluginValues(pools) as any;
    const exprs = values.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    assert.strictEqual(exprs.length, 1);
    assert.deepStrictEqual(exprs[0].matchExpressions, [
      { key: "model-fleet.io/gpu-pool", operator: "Exists" },
      { key: "model-fleet.io/gpu-ami-family", operator: "NotIn", values: ["bottlerocket"] },
      { key: "nvidia.com/gpu.deploy.device-plugin", operator: "NotIn", values: ["paused-for-mig-change"] },
      { key: "nvidia.com/gpu.deploy.gpu-feature-discovery", operator: "NotIn", values: ["paused-for-mig-change"] },
    ]);
    // Which pools' nodes match: every AL2023 pool, not the Bottlerocket one (its host runs the plugin).
    const matches = (labels: Record<string, string>) =>
      exprs[0].matchExpressions.every((e: any) => (e.operator === "Exists" ? e.key in labels : !e.values.includes(labels[e.key])));
    assert.deepStrictEqual(pools.filter((p) => matches(gpuPoolNodeLabels(p))).map((p) => p.name), ["mig", "small", "l4"]);
    assert.ok(!matches({ ...gpuPoolNodeLabels(pools[0]), "nvidia.com/gpu.deploy.device-plugin": "paused-for-mig-change" }));
    assert.deepStrictEqual(await validateK8sObject(podWith({ affinity: values.affinity, tolerations: values.tolerations })), []);
  });
});

describe("GpuClusterAddons: GPU Operator for mig-manager", () => {
  it("installs gpu-operator v26.7.0 from NGC with only mig-manager enabled", async () => {
    const { resources } = await addons(pools);
    const op = release(resources, "gpu-operator");
    assert.strictEqual(op.inputs.version, "v26.7.0");
    assert.deepStrictEqual(op.inputs.repositoryOpts, { repo: "https://helm.ngc.nvidia.com/nvidia" });
    assert.strictEqual(op.inputs.namespace, "gpu-operator");
    assert.strictEqual(GPU_OPERATOR_CHART.chart, YAML.parse(fs.readFileSync(referencePath("charts/gpu-operator/Chart.yaml"), "utf8")).name);
    const v = op.inputs.values;
    for (const key of ["driver", "toolkit", "devicePlugin", "gfd", "nfd", "dcgmExporter", "ccManager"]) {
      assert.strictEqual(v[key].enabled, false, `${key} must be disabled`);
    }
    assert.strictEqual(v.migManager.enabled, true);
    assert.deepStrictEqual(v.migManager.env, [{ name: "WITH_REBOOT", value: "true" }]);
    assert.strictEqual(v.mig.strategy, "mixed");
    assert.strictEqual(gpuOperatorValues([pools[1]], "x").mig && (gpuOperatorValues([pools[1]], "x") as any).mig.strategy, "single");
  });

  it("sets only keys the pinned chart's values.yaml has", async () => {
    const { resources } = await addons(pools);
    const values = release(resources, "gpu-operator").inputs.values;
    assert.deepStrictEqual(unknownValueKeys(values, referencePath("charts/gpu-operator/values.yaml"), GPU_OPERATOR_FREE_FORM), []);
  });

  it("feeds mig-manager the ConfigMap migConfig.ts renders, and it agrees with the node labels", async () => {
    const { resources } = await addons(pools);
    const op = release(resources, "gpu-operator");
    const cms = k8sObjects(resources).filter((o) => o.kind === "ConfigMap");
    assert.strictEqual(cms.length, 1);
    const cm = cms[0];
    assert.strictEqual(op.inputs.values.migManager.config.name, cm.metadata.name);
    assert.strictEqual(op.inputs.values.migManager.config.create, false);
    assert.strictEqual(cm.metadata.namespace, op.inputs.namespace);
    const config: any = YAML.parse(cm.data["config.yaml"]);
    assert.deepStrictEqual(config, migPartedConfig(pools));
    assert.ok(op.inputs.values.migManager.config.default in config["mig-configs"], "the operator's default config must exist");
    for (const pool of pools) {
      const label = gpuPoolNodeLabels(pool)["nvidia.com/mig.config"];
      if (!pool.mig) {
        assert.strictEqual(label, undefined);
        continue;
      }
      assert.strictEqual(label, migConfigName(pool));
      const entries: any[] = (config as any)["mig-configs"][label];
      assert.ok(entries, `${pool.name}: node label ${label} names no config`);
      assert.deepStrictEqual(entries, [{ devices: "all", "mig-enabled": true, "mig-devices": pool.mig.layout }]);
      assert.deepStrictEqual(layoutFits(instanceGpu(pool.instanceType)!.gpu, entries[0]["mig-devices"]), { ok: true });
      // and a workload of the pool asks for a resource of that layout, on nodes that carry that config
      const profile = Object.keys(pool.mig.layout)[0];
      const s = gpuScheduling({ pool: pool.name, profile, count: 1 }, pool);
      assert.ok(Object.keys(s.limits)[0] === (pool.mig.strategy === "mixed" ? `nvidia.com/mig-${profile}` : "nvidia.com/gpu"));
    }
    assert.deepStrictEqual(await validateK8sObject(cm), []);
  });

  it("creates privileged namespaces for the add-ons", async () => {
    const { resources } = await addons(pools);
    const namespaces = k8sObjects(resources).filter((o) => o.kind === "Namespace");
    assert.deepStrictEqual(namespaces.map((n) => n.metadata.name).sort(), ["gpu-operator", "nvidia-device-plugin"]);
    for (const ns of namespaces) {
      assert.strictEqual(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged");
      assert.deepStrictEqual(await validateK8sObject(ns), []);
    }
  });

  it("installs no operator and no ConfigMap without MIG pools", async () => {
    const { resources } = await addons(wholeOnly);
    assert.deepStrictEqual(releases(resources).map((r) => r.inputs.chart), ["nvidia-device-plugin"]);
    assert.strictEqual(k8sObjects(resources).filter((o) => o.kind === "ConfigMap").length, 0);
  });

  it("the values checker itself catches a misspelt key", () => {
    const bad = { ...gpuOperatorValues(pools, "cm"), migManger: { enabled: true }, driver: { enable: false } };
    assert.deepStrictEqual(unknownValueKeys(bad, referencePath("charts/gpu-operator/values.yaml"), GPU_OPERATOR_FREE_FORM).sort(), ["driver.enable", "migManger"]);
    const badDp = { ...devicePluginValues(pools), gfd: { enabeld: true } };
    assert.deepStrictEqual(unknownValueKeys(badDp, referencePath("charts/nvidia-device-plugin/values.yaml"), DEVICE_PLUGIN_FREE_FORM), ["gfd.enabeld"]);
  });
});
