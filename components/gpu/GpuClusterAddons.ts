/**
 * The cluster's GPU add-ons, once per cluster: the standalone NVIDIA device plugin chart (+ GPU feature discovery
 * and NFD) for the whole-GPU pools and, when some pool uses MIG, the GPU Operator for the MIG pools: its mig-manager,
 * fed a mig-parted ConfigMap that migConfig.ts renders from the same layouts GpuNodePool labels its nodes with, and
 * its own device plugin and GFD, which mig-manager stops and waits for before it repartitions a node.
 *
 * Both charts are `helm.v3.Release`s: the GPU Operator ships CRDs and relies on Helm hooks (CRD upgrade on
 * `helm upgrade`, cleanup on uninstall) that only a real Helm release runs; `helm.v4.Chart` renders templates into
 * individual resources and drops hooks. One Release per chart also keeps the charts' own upgrade logic intact.
 * See addonValues.ts for the values and why exactly one device plugin runs on a node.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEVICE_PLUGIN_CHART, GPU_OPERATOR_CHART, devicePluginValues, gpuOperatorValues } from "./addonValues";
import { PoolLabelInput } from "./labels";
import { isMigPool, migPartedConfigMapData } from "./migConfig";
import { fleetLabels } from "../../domain/labels";

export interface GpuClusterAddonsArgs {
    /** The cluster's GPU pools (name, instanceType, amiType, mig); plain because they decide what is installed. Required. */
    readonly pools: readonly PoolLabelInput[];
    /** Kubernetes provider of the cluster, built from its endpoint and CA (never the ambient kubeconfig). Required. */
    readonly provider: k8s.Provider;
    /** Namespace of the standalone device plugin release (whole-GPU pools). Default `nvidia-device-plugin`. */
    readonly devicePluginNamespace?: string;
    /** Namespace of the GPU Operator release (MIG pools' device plugin, GFD, mig-manager) and its ConfigMaps. Default `gpu-operator`. */
    readonly gpuOperatorNamespace?: string;
    /** Name of the mig-parted ConfigMap. Default `model-fleet-mig-parted-config`. */
    readonly migConfigMapName?: string;
}

/** Pod Security Admission labels: the device plugin, GFD, NFD and mig-manager need privileged pods and hostPaths. */
const PRIVILEGED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    ...fleetLabels(),
};

export class GpuClusterAddons extends pulumi.ComponentResource {
    /** Namespace of the device plugin release. */
    public readonly devicePluginNamespace: pulumi.Output<string>;
    /** Name of the device plugin Helm release. */
    public readonly devicePluginRelease: pulumi.Output<string>;
    /** Name of the GPU Operator release; undefined without MIG pools. */
    public readonly gpuOperatorRelease: pulumi.Output<string> | undefined;
    /** Name of the mig-parted ConfigMap; undefined without MIG pools. */
    public readonly migConfigMapName: pulumi.Output<string> | undefined;

    constructor(name: string, args: GpuClusterAddonsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:gpu:GpuClusterAddons", name, {}, opts);
        const child = { parent: this, provider: args.provider };
        const pools = args.pools;

        const dpNamespace = new k8s.core.v1.Namespace(
            `${name}-device-plugin-ns`,
            { metadata: { name: args.devicePluginNamespace ?? "nvidia-device-plugin", labels: PRIVILEGED_NAMESPACE_LABELS } },
            child,
        );
        const devicePlugin = new k8s.helm.v3.Release(
            `${name}-device-plugin`,
            {
                name: "nvidia-device-plugin",
                chart: DEVICE_PLUGIN_CHART.chart,
                version: DEVICE_PLUGIN_CHART.version,
                repositoryOpts: { repo: DEVICE_PLUGIN_CHART.repo },
                namespace: dpNamespace.metadata.name,
                // Installed even without whole-GPU pools: its NFD labels the GPU nodes the GPU Operator looks for.
                values: devicePluginValues(),
                atomic: true,
                cleanupOnFail: true,
            },
            child,
        );
        this.devicePluginNamespace = dpNamespace.metadata.name;
        this.devicePluginRelease = devicePlugin.name;

        if (pools.some(isMigPool)) {
            const opNamespace = new k8s.core.v1.Namespace(
                `${name}-gpu-operator-ns`,
                { metadata: { name: args.gpuOperatorNamespace ?? "gpu-operator", labels: PRIVILEGED_NAMESPACE_LABELS } },
                child,
            );
            const configMap = new k8s.core.v1.ConfigMap(
                `${name}-mig-parted-config`,
                {
                    metadata: {
                        name: args.migConfigMapName ?? "model-fleet-mig-parted-config",
                        namespace: opNamespace.metadata.name,
                        labels: fleetLabels(),
                    },
                    data: migPartedConfigMapData(pools),
                },
                child,
            );
            const operator = new k8s.helm.v3.Release(
                `${name}-gpu-operator`,
                {
                    name: "gpu-operator",
                    chart: GPU_OPERATOR_CHART.chart,
                    version: GPU_OPERATOR_CHART.version,
                    repositoryOpts: { repo: GPU_OPERATOR_CHART.repo },
                    namespace: opNamespace.metadata.name,
                    // The ConfigMap's name is data, so the release waits for the ConfigMap.
                    values: configMap.metadata.name.apply((cm) => gpuOperatorValues(pools, cm)),
                    atomic: true,
                    cleanupOnFail: true,
                },
                child,
            );
            this.gpuOperatorRelease = operator.name;
            this.migConfigMapName = configMap.metadata.name;
        }

        this.registerOutputs({
            devicePluginNamespace: this.devicePluginNamespace,
            devicePluginRelease: this.devicePluginRelease,
            gpuOperatorRelease: this.gpuOperatorRelease,
            migConfigMapName: this.migConfigMapName,
        });
    }
}
