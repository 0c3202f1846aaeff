import * as assert from "assert";
import * as fs from "fs";
import * as k8s from "@pulumi/kubernetes";
import * as YAML from "yaml";
import { GpuClusterAddons } from "../../components/gpu/GpuClusterAddons";
import {
    DEVICE_PLUGIN_CHART,
    GPU_OPERATOR_CHART,
    OPERATOR_DEVICE_PLUGIN_CONFIG_MAP,
    devicePluginValues,
    gpuOperatorValues,
    operatorMigStrategy,
} from "../../components/gpu/addonValues";
import { instanceGpu, layoutFits } from "../../domain/gpu/catalogue";
import { PoolLabelInput, gpuPoolNodeLabels } from "../../components/gpu/labels";
import { isMigPool, migConfigName, migPartedConfig } from "../../components/gpu/migConfig";
import { gpuScheduling } from "../../components/gpu/workloadGpu";
import { MockResource, byType, k8sObjects, runProgram } from "../../support/harness";
import { unknownValueKeys } from "../helpers/helmValues";
import { validateK8sObject } from "../helpers/k8sValidate";
import { needsReference, referencePath } from "../../support/reference";

const mixedPool: PoolLabelInput = {
    name: "mig",
    instanceType: "p5.48xlarge",
    mig: { strategy: "mixed", layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } },
};
const singlePool: PoolLabelInput = { name: "small", instanceType: "p4d.24xlarge", mig: { strategy: "single", layout: { "1g.5gb": 7 } } };
const l4Pool: PoolLabelInput = { name: "l4", instanceType: "g6.xlarge" };
// Whole H100s on a MIG-capable instance type: the operator labels such nodes `nvidia.com/mig.config=all-disabled`.
const wholeH100Pool: PoolLabelInput = { name: "h100", instanceType: "p5.48xlarge", mig: { strategy: "none", layout: {} } };
const bottlerocketPool: PoolLabelInput = { name: "br", instanceType: "g6e.xlarge", amiType: "BOTTLEROCKET_x86_64_NVIDIA" };

const pools: PoolLabelInput[] = [mixedPool, singlePool, l4Pool, wholeH100Pool, bottlerocketPool];
const wholeOnly: PoolLabelInput[] = [l4Pool];

const DEVICE_PLUGIN_FREE_FORM = ["config.map", "tolerations", "affinity", "nfd.worker.tolerations"];
const GPU_OPERATOR_FREE_FORM = ["daemonsets.tolerations", "migManager.env", "validator.plugin.env"];

// Upstream facts the ordering argument rests on (not this program's choices):
//  * NVIDIA/gpu-operator assets (state-device-plugin/0500_daemonset.yaml, gpu-feature-discovery/0500_daemonset.yaml,
//    state-dcgm-exporter): each operand DaemonSet runs in the operator's namespace, carries an `app` label and
//    selects nodes whose `nvidia.com/gpu.deploy.<component>` label is `true`.
//  * NVIDIA/gpu-operator controllers/state_manager.go (updateGPUStateLabels, labelGPUNodes): on a node with
//    `nvidia.com/gpu.present=true` it sets those deploy labels to `true` unless `nvidia.com/gpu.deploy.operands=false`
//    (then it removes them all); with migManager.config.default `all-disabled` it labels every MIG-capable GPU node
//    without `nvidia.com/mig.config` with `nvidia.com/mig.config=all-disabled`, operands opted out or not.
//  * NVIDIA/mig-parted deployments/gpu-operator/reconfigure-mig.go (shuttingGPUClients, shuttingDownPods): before it
//    applies a config, mig-manager sets the deploy labels of device-plugin, gpu-feature-discovery, dcgm-exporter,
//    dcgm and nvsm to `paused-for-mig-change`, then `kubectl wait --for=delete` on pods with these `app` labels in
//    the operator's namespace, and only then changes MIG mode.
const OPERATOR_GPU_CLIENTS = [
    { values: "devicePlugin", app: "nvidia-device-plugin-daemonset", deployLabel: "nvidia.com/gpu.deploy.device-plugin" },
    { values: "gfd", app: "gpu-feature-discovery", deployLabel: "nvidia.com/gpu.deploy.gpu-feature-discovery" },
    { values: "dcgmExporter", app: "nvidia-dcgm-exporter", deployLabel: "nvidia.com/gpu.deploy.dcgm-exporter" },
    { values: "dcgm", app: "nvidia-dcgm", deployLabel: "nvidia.com/gpu.deploy.dcgm" },
] as const;
const MIG_MANAGER_WAITS_FOR_APPS = ["nvidia-device-plugin-daemonset", "gpu-feature-discovery", "nvidia-dcgm-exporter", "nvidia-dcgm"];
const MIG_MANAGER_PAUSES = ["device-plugin", "gpu-feature-discovery", "dcgm-exporter", "dcgm", "nvsm"].map((c) => `nvidia.com/gpu.deploy.${c}`);
const OPERATOR_DEFAULT_ENABLED: Record<string, boolean> = { devicePlugin: true, gfd: true, dcgmExporter: true, dcgm: false }; // pinned values.yaml

/** A node of the pool as the cluster sees it once NFD (from the device plugin chart) and the GPU Operator labelled it. */
function liveNodeLabels(pool: PoolLabelInput, operatorValues: any): Record<string, string> {
    const labels: Record<string, string> = {
        ...gpuPoolNodeLabels(pool),
        "feature.node.kubernetes.io/pci-10de.present": "true",
        "nvidia.com/gpu.present": "true",
    };
    if (!operatorValues) return labels;
    if (labels["nvidia.com/gpu.deploy.operands"] !== "false") {
        for (const c of OPERATOR_GPU_CLIENTS) labels[c.deployLabel] = "true";
        labels["nvidia.com/gpu.deploy.mig-manager"] = "true";
    }
    if (instanceGpu(pool.instanceType)?.migCapable && !labels["nvidia.com/mig.config"] && operatorValues.migManager.config.default === "all-disabled") {
        labels["nvidia.com/mig.config"] = "all-disabled";
    }
    return labels;
}

/** Kubernetes nodeSelectorTerm semantics for the operators the program uses. */
function termMatches(expressions: any[], labels: Record<string, string>): boolean {
    return expressions.every((e) => {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        switch (e.operator) {
            case "Exists":
                return has;
            case "DoesNotExist":
                return !has;
            case "In":
                return has && e.values.includes(labels[e.key]);
            case "NotIn":
                return !has || !e.values.includes(labels[e.key]);
            default:
                throw new Error(`operator ${e.operator} not modelled`);
        }
    });
}

function standaloneMatches(dpValues: any, labels: Record<string, string>): boolean {
    const terms = dpValues.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    return terms.some((t: any) => termMatches(t.matchExpressions, labels));
}

interface GpuClient {
    from: "standalone" | "operator";
    kind: "device-plugin" | "gfd" | "other";
    namespace: string;
    app?: string;
}

/** The GPU clients (device plugin, GFD, DCGM…) whose DaemonSets schedule on a node with these labels. */
function gpuClientsOn(
    labels: Record<string, string>,
    dpValues: any,
    operatorValues: any,
    ns = { standalone: "nvidia-device-plugin", operator: "gpu-operator" },
): GpuClient[] {
    const clients: GpuClient[] = [];
    if (standaloneMatches(dpValues, labels)) {
        clients.push({ from: "standalone", kind: "device-plugin", namespace: ns.standalone });
        if (dpValues.gfd?.enabled) clients.push({ from: "standalone", kind: "gfd", namespace: ns.standalone });
    }
    if (operatorValues) {
        for (const c of OPERATOR_GPU_CLIENTS) {
            const enabled = operatorValues[c.values]?.enabled ?? OPERATOR_DEFAULT_ENABLED[c.values];
            if (enabled && labels[c.deployLabel] === "true") {
                clients.push({
                    from: "operator",
                    kind: c.values === "devicePlugin" ? "device-plugin" : c.values === "gfd" ? "gfd" : "other",
                    namespace: ns.operator,
                    app: c.app,
                });
            }
        }
    }
    return clients;
}

/** What mig-manager does to the node's labels before it repartitions. */
function pausedForMigChange(labels: Record<string, string>): Record<string, string> {
    const paused = { ...labels };
    for (const key of MIG_MANAGER_PAUSES) if (paused[key]) paused[key] = "paused-for-mig-change";
    return paused;
}

/** The MIG strategy a node's plugin runs with: the operator's MIG_STRATEGY env wins over the config file when set. */
function effectiveStrategy(labels: Record<string, string>, configs: Record<string, string>, envStrategy: string | undefined): string {
    if (envStrategy) return envStrategy;
    const name = labels["nvidia.com/device-plugin.config"];
    assert.ok(name in configs, `config ${name} is not defined (${Object.keys(configs).join(", ")})`);
    return YAML.parse(configs[name]).flags.migStrategy;
}

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

describe("GpuClusterAddons: standalone NVIDIA device plugin (whole-GPU pools)", () => {
    it("installs nvidia-device-plugin 0.20.0 from NVIDIA's repo as a Helm release through the given provider", async function () {
        needsReference(this, "charts/nvidia-device-plugin/Chart.yaml");
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

    it("sets only keys the pinned chart's values.yaml has", async function () {
        needsReference(this, "charts/nvidia-device-plugin/values.yaml");
        const { resources } = await addons(pools);
        const values = release(resources, "nvidia-device-plugin").inputs.values;
        assert.deepStrictEqual(values, devicePluginValues());
        assert.deepStrictEqual(unknownValueKeys(values, referencePath("charts/nvidia-device-plugin/values.yaml"), DEVICE_PLUGIN_FREE_FORM), []);
    });

    it("its affinity selects the nodes that opt out of the GPU Operator, never MIG pool nodes nor Bottlerocket", async () => {
        const values = devicePluginValues() as any;
        const terms = values.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
        assert.strictEqual(terms.length, 1, "one term: every expression must hold");
        assert.deepStrictEqual(terms[0].matchExpressions, [
            { key: "model-fleet.io/gpu-pool", operator: "Exists" },
            { key: "model-fleet.io/gpu-ami-family", operator: "NotIn", values: ["bottlerocket"] },
            { key: "nvidia.com/gpu.deploy.operands", operator: "In", values: ["false"] },
        ]);
        const op = gpuOperatorValues(pools, "cm");
        // As labelled by the node group, and as labelled once NFD and the operator have been at it.
        for (const labelsOf of [(p: PoolLabelInput) => gpuPoolNodeLabels(p), (p: PoolLabelInput) => liveNodeLabels(p, op)]) {
            assert.deepStrictEqual(
                pools.filter((p) => standaloneMatches(values, labelsOf(p))).map((p) => p.name),
                ["l4", "h100"],
            );
        }
        for (const p of pools.filter(isMigPool)) {
            assert.ok(!standaloneMatches(values, pausedForMigChange(liveNodeLabels(p, op))), `${p.name}: not even while mig-manager repartitions`);
        }
        // Why not `nvidia.com/mig.config DoesNotExist`: the operator puts `all-disabled` on whole-GPU H100/A100 nodes.
        const h100 = liveNodeLabels(wholeH100Pool, op);
        assert.strictEqual(h100["nvidia.com/mig.config"], "all-disabled");
        assert.ok(standaloneMatches(values, h100));
        assert.deepStrictEqual(await validateK8sObject(podWith({ affinity: values.affinity, tolerations: values.tolerations })), []);
    });

    it("serves whole GPUs from one config, mig-none, the one their nodes' label names; no chart-wide migStrategy", () => {
        const values = devicePluginValues() as any;
        assert.deepStrictEqual(Object.keys(values.config.map), ["mig-none"]);
        assert.strictEqual(values.config.default, "mig-none");
        assert.deepStrictEqual(YAML.parse(values.config.map["mig-none"]), { version: "v1", flags: { migStrategy: "none" } });
        assert.strictEqual(values.migStrategy, undefined, "a top-level migStrategy would override the per-node configs");
        for (const pool of pools.filter((p) => standaloneMatches(values, gpuPoolNodeLabels(p)))) {
            assert.strictEqual(effectiveStrategy(gpuPoolNodeLabels(pool), values.config.map, values.migStrategy), "none", pool.name);
            assert.deepStrictEqual(Object.keys(gpuScheduling({ pool: pool.name, count: 1 }, pool).limits), ["nvidia.com/gpu"]);
        }
    });

    it("enables GPU feature discovery (and with it the NFD the GPU Operator reads), tolerates the GPU taint", function () {
        needsReference(this, "charts/nvidia-device-plugin/Chart.yaml");
        const values = devicePluginValues() as any;
        assert.deepStrictEqual(values.gfd, { enabled: true });
        const chartYaml = YAML.parse(fs.readFileSync(referencePath("charts/nvidia-device-plugin/Chart.yaml"), "utf8"));
        assert.strictEqual(chartYaml.dependencies.find((d: any) => d.alias === "nfd").condition, "nfd.enabled,gfd.enabled");
        assert.strictEqual(values.nfd.worker.affinity, undefined, "NFD must also label MIG pool nodes");
        const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
        assert.ok(values.tolerations.some((t: any) => JSON.stringify(t) === JSON.stringify(gpuToleration)));
        assert.deepStrictEqual(values.nfd.worker.tolerations, [gpuToleration]);
    });
});

describe("GpuClusterAddons: GPU Operator on MIG pools", () => {
    it("installs gpu-operator v26.7.0 from NGC with mig-manager, device plugin and GFD, nothing the AMI already has", async function () {
        needsReference(this, "charts/gpu-operator/Chart.yaml");
        const { resources } = await addons(pools);
        const op = release(resources, "gpu-operator");
        assert.strictEqual(op.inputs.version, "v26.7.0");
        assert.deepStrictEqual(op.inputs.repositoryOpts, { repo: "https://helm.ngc.nvidia.com/nvidia" });
        assert.strictEqual(op.inputs.namespace, "gpu-operator");
        assert.strictEqual(GPU_OPERATOR_CHART.chart, YAML.parse(fs.readFileSync(referencePath("charts/gpu-operator/Chart.yaml"), "utf8")).name);
        const v = op.inputs.values;
        for (const key of ["driver", "toolkit", "nfd", "dcgmExporter", "ccManager", "cdi"]) {
            assert.strictEqual(v[key].enabled, false, `${key} must be disabled`);
        }
        for (const key of ["devicePlugin", "gfd", "migManager"]) {
            assert.strictEqual(v[key].enabled, true, `${key} must be enabled`);
        }
        assert.deepStrictEqual(v.migManager.env, [{ name: "WITH_REBOOT", value: "true" }]);
        assert.deepStrictEqual(v.validator.plugin.env, [{ name: "WITH_WORKLOAD", value: "false" }]);
    });

    it("sets only keys the pinned chart's values.yaml has", async function () {
        needsReference(this, "charts/gpu-operator/values.yaml");
        const { resources } = await addons(pools);
        const values = release(resources, "gpu-operator").inputs.values;
        assert.deepStrictEqual(values, gpuOperatorValues(pools, "model-fleet-mig-parted-config"));
        assert.deepStrictEqual(unknownValueKeys(values, referencePath("charts/gpu-operator/values.yaml"), GPU_OPERATOR_FREE_FORM), []);
        for (const only of [[mixedPool], [singlePool]]) {
            assert.deepStrictEqual(
                unknownValueKeys(gpuOperatorValues(only, "cm"), referencePath("charts/gpu-operator/values.yaml"), GPU_OPERATOR_FREE_FORM),
                [],
            );
        }
    });

    it("gives its device plugin and GFD one named config per MIG strategy in use, and a MIG strategy that leaves each node its own", () => {
        const cases: Array<{ pools: PoolLabelInput[]; configs: string[]; strategy: string; fallback: string }> = [
            { pools, configs: ["mig-single", "mig-mixed"], strategy: "", fallback: "mig-mixed" },
            { pools: [mixedPool, l4Pool], configs: ["mig-mixed"], strategy: "mixed", fallback: "mig-mixed" },
            { pools: [singlePool, wholeH100Pool], configs: ["mig-single"], strategy: "single", fallback: "mig-single" },
        ];
        for (const c of cases) {
            const v = gpuOperatorValues(c.pools, "cm") as any;
            const config = v.devicePlugin.config;
            assert.strictEqual(config.create, true, "the chart creates the ConfigMap in the operator's namespace");
            assert.strictEqual(config.name, OPERATOR_DEVICE_PLUGIN_CONFIG_MAP);
            assert.deepStrictEqual(Object.keys(config.data), c.configs);
            for (const name of c.configs) {
                assert.deepStrictEqual(YAML.parse(config.data[name]), { version: "v1", flags: { migStrategy: name.replace("mig-", "") } });
            }
            assert.strictEqual(config.default, c.fallback);
            assert.ok(config.default in config.data);
            assert.strictEqual(v.mig.strategy, c.strategy);
            assert.strictEqual(operatorMigStrategy(c.pools), c.strategy);
            // The operator turns a non-empty mig.strategy into MIG_STRATEGY on its plugin and GFD, which beats the config
            // file; whatever it is, every MIG pool's nodes must end up with their pool's strategy and resource names.
            for (const pool of c.pools.filter(isMigPool)) {
                const labels = liveNodeLabels(pool, v);
                assert.ok(labels["nvidia.com/device-plugin.config"] in config.data, `${pool.name}: label names a config the values define`);
                assert.strictEqual(effectiveStrategy(labels, config.data, v.mig.strategy || undefined), pool.mig!.strategy, pool.name);
                const profile = Object.keys(pool.mig!.layout)[0];
                const resource = Object.keys(gpuScheduling({ pool: pool.name, profile, count: 1 }, pool).limits)[0];
                assert.strictEqual(resource, pool.mig!.strategy === "mixed" ? `nvidia.com/mig-${profile}` : "nvidia.com/gpu", pool.name);
            }
        }
        assert.throws(() => gpuOperatorValues(wholeOnly, "cm"), /MIG pools only/);
    });

    it("every pool's nodes get exactly one device plugin and one GFD (none on Bottlerocket), and their config label names a config that plugin defines", () => {
        const dp = devicePluginValues() as any;
        const op = gpuOperatorValues(pools, "cm") as any;
        const served: Record<string, string> = {};
        for (const pool of pools) {
            const labels = liveNodeLabels(pool, op);
            const clients = gpuClientsOn(labels, dp, op);
            const plugins = clients.filter((c) => c.kind === "device-plugin");
            const gfds = clients.filter((c) => c.kind === "gfd");
            if (pool.amiType === "BOTTLEROCKET_x86_64_NVIDIA") {
                assert.deepStrictEqual(clients, [], "Bottlerocket runs NVIDIA's plugin on the host");
                continue;
            }
            assert.strictEqual(plugins.length, 1, `${pool.name}: ${JSON.stringify(plugins)}`);
            assert.strictEqual(gfds.length, 1, `${pool.name}: ${JSON.stringify(gfds)}`);
            assert.strictEqual(gfds[0].from, plugins[0].from);
            served[pool.name] = plugins[0].from;
            const configs = plugins[0].from === "operator" ? op.devicePlugin.config.data : dp.config.map;
            assert.ok(labels["nvidia.com/device-plugin.config"] in configs, `${pool.name}: ${labels["nvidia.com/device-plugin.config"]}`);
        }
        // The operator's operands are limited to MIG pools; the standalone chart serves everything else.
        assert.deepStrictEqual(served, { mig: "operator", small: "operator", l4: "standalone", h100: "standalone" });
    });

    it("ordering: on MIG nodes every GPU client is one mig-manager pauses and waits for before it repartitions", async () => {
        const { resources } = await addons(pools);
        const opRelease = release(resources, "gpu-operator");
        const dpRelease = release(resources, "nvidia-device-plugin");
        const op = opRelease.inputs.values;
        const dp = dpRelease.inputs.values;
        // mig-manager waits in the operator's namespace, where the operator runs its operands: the release namespace.
        const ns = { standalone: dpRelease.inputs.namespace, operator: opRelease.inputs.namespace };
        assert.notStrictEqual(ns.standalone, ns.operator);
        for (const pool of pools.filter(isMigPool)) {
            const labels = liveNodeLabels(pool, op);
            assert.strictEqual(labels["nvidia.com/gpu.deploy.mig-manager"], "true", `${pool.name}: mig-manager runs there`);
            const clients = gpuClientsOn(labels, dp, op, ns);
            assert.deepStrictEqual(clients.map((c) => `${c.from}/${c.kind}`).sort(), ["operator/device-plugin", "operator/gfd"], pool.name);
            for (const c of clients) {
                assert.strictEqual(c.namespace, ns.operator, `${pool.name}: ${c.kind} outside the namespace mig-manager waits in`);
                assert.ok(MIG_MANAGER_WAITS_FOR_APPS.includes(c.app!), `${pool.name}: mig-manager does not wait for app=${c.app}`);
            }
            // mig-manager pauses them: no GPU client may (re)schedule there until it is done, the standalone chart included.
            assert.deepStrictEqual(gpuClientsOn(pausedForMigChange(labels), dp, op, ns), [], `${pool.name}: a GPU client survives the pause`);
        }
    });

    it("feeds mig-manager the ConfigMap migConfig.ts renders, and it agrees with the node labels", async () => {
        const { resources } = await addons(pools);
        const op = release(resources, "gpu-operator");
        const cms = k8sObjects(resources).filter((o) => o.kind === "ConfigMap");
        assert.strictEqual(cms.length, 1, "the device plugin configs are created by the operator chart, in its release");
        const cm = cms[0];
        assert.strictEqual(op.inputs.values.migManager.config.name, cm.metadata.name);
        assert.strictEqual(op.inputs.values.migManager.config.create, false);
        assert.notStrictEqual(op.inputs.values.devicePlugin.config.name, cm.metadata.name);
        assert.strictEqual(cm.metadata.namespace, op.inputs.namespace);
        const config: any = YAML.parse(cm.data["config.yaml"]);
        assert.deepStrictEqual(config, migPartedConfig(pools));
        assert.ok(op.inputs.values.migManager.config.default in config["mig-configs"], "the operator's default config must exist");
        for (const pool of pools) {
            const label = gpuPoolNodeLabels(pool)["nvidia.com/mig.config"];
            if (!isMigPool(pool)) {
                assert.strictEqual(label, undefined);
                continue;
            }
            assert.strictEqual(label, migConfigName(pool));
            const entries: any[] = (config as any)["mig-configs"][label];
            assert.ok(entries, `${pool.name}: node label ${label} names no config`);
            assert.deepStrictEqual(entries, [{ devices: "all", "mig-enabled": true, "mig-devices": pool.mig.layout }]);
            assert.deepStrictEqual(layoutFits(instanceGpu(pool.instanceType)!.gpu, entries[0]["mig-devices"]), { ok: true });
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
        assert.deepStrictEqual(
            releases(resources).map((r) => r.inputs.chart),
            ["nvidia-device-plugin"],
        );
        assert.strictEqual(k8sObjects(resources).filter((o) => o.kind === "ConfigMap").length, 0);
        // Without the operator, the whole-GPU pools are served exactly as before.
        assert.deepStrictEqual(
            gpuClientsOn(liveNodeLabels(l4Pool, undefined), devicePluginValues(), undefined).map((c) => `${c.from}/${c.kind}`),
            ["standalone/device-plugin", "standalone/gfd"],
        );
    });

    it("the values checker itself catches a misspelt key", function () {
        needsReference(this, "charts/gpu-operator/values.yaml", "charts/nvidia-device-plugin/values.yaml");
        const bad = { ...gpuOperatorValues(pools, "cm"), migManger: { enabled: true }, driver: { enable: false }, devicePlugin: { config: { defualt: "x" } } };
        assert.deepStrictEqual(unknownValueKeys(bad, referencePath("charts/gpu-operator/values.yaml"), GPU_OPERATOR_FREE_FORM).sort(), [
            "devicePlugin.config.defualt",
            "driver.enable",
            "migManger",
        ]);
        const badDp = { ...devicePluginValues(), gfd: { enabeld: true } };
        assert.deepStrictEqual(unknownValueKeys(badDp, referencePath("charts/nvidia-device-plugin/values.yaml"), DEVICE_PLUGIN_FREE_FORM), ["gfd.enabeld"]);
    });
});
