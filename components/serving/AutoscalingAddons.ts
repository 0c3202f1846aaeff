/**
 * AutoscalingAddons: what the models' HPAs read, once per cluster. metrics-server serves `metrics.k8s.io` (the CPU
 * metric of every HPA); KEDA (operator and metrics apiserver) turns each ScaledObject into an HPA and serves
 * `external.metrics.k8s.io` (the request rate from Prometheus). Each is off when the cluster already runs it
 * (`addons.metricsServer`, `addons.keda`).
 *
 * Both are `k8s.helm.v4.Chart`s, as RolloutsController's chart (see its header): the KEDA chart's CRDs are rendered
 * as ordinary children, and a ScaledObject that `dependsOn` the chart waits for all of them (CRDs Established).
 * Chart defaults are kept (no values): both install their APIService, and KEDA its CRDs.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { fleetLabels } from "../../domain/labels";

export const AUTOSCALING_ADDONS_TYPE = "model-fleet:serving:AutoscalingAddons";

/** kedacore/charts `keda` 2.21.0: the chart's version follows KEDA's (appVersion 2.21.0, the version the sandbox builds). */
export const KEDA_CHART = { chart: "keda", version: "2.21.0", repo: "https://kedacore.github.io/charts" } as const;

/** kubernetes-sigs/metrics-server chart 3.13.0 (appVersion 0.8.0, the version the sandbox builds). */
export const METRICS_SERVER_CHART = { chart: "metrics-server", version: "3.13.0", repo: "https://kubernetes-sigs.github.io/metrics-server" } as const;

export const DEFAULT_KEDA_NAMESPACE = "keda";
export const DEFAULT_METRICS_SERVER_NAMESPACE = "kube-system";

export interface AutoscalingAddonsArgs {
    /** Install metrics-server (chart 3.13.0) into `kube-system`; default true. */
    readonly metricsServer?: boolean;
    /** Install KEDA (namespace + chart 2.21.0); default false (only when some model autoscales through KEDA). */
    readonly keda?: boolean;
    /** Namespace KEDA is installed in (declared here); default "keda". */
    readonly kedaNamespace?: string;
}

export class AutoscalingAddons extends pulumi.ComponentResource {
    /** What a ScaledObject must wait for (the KEDA chart, its CRDs): pass as `dependsOn`. Empty when KEDA is not installed here. */
    public readonly kedaReady: pulumi.Resource[];

    constructor(name: string, args: AutoscalingAddonsArgs, opts?: pulumi.ComponentResourceOptions) {
        super(AUTOSCALING_ADDONS_TYPE, name, {}, opts);
        const labels = fleetLabels();

        if (args.metricsServer ?? true) {
            new k8s.helm.v4.Chart(
                `${name}-metrics-server`,
                {
                    chart: METRICS_SERVER_CHART.chart,
                    version: METRICS_SERVER_CHART.version,
                    repositoryOpts: { repo: METRICS_SERVER_CHART.repo },
                    namespace: DEFAULT_METRICS_SERVER_NAMESPACE,
                },
                { parent: this },
            );
        }

        this.kedaReady = [];
        if (args.keda ?? false) {
            const namespace = new k8s.core.v1.Namespace(
                `${name}-keda-namespace`,
                { metadata: { name: args.kedaNamespace ?? DEFAULT_KEDA_NAMESPACE, labels: { ...labels, "app.kubernetes.io/component": "keda" } } },
                { parent: this },
            );
            const chart = new k8s.helm.v4.Chart(
                `${name}-keda`,
                {
                    chart: KEDA_CHART.chart,
                    version: KEDA_CHART.version,
                    repositoryOpts: { repo: KEDA_CHART.repo },
                    namespace: namespace.metadata.name,
                },
                { parent: this },
            );
            this.kedaReady.push(chart);
        }

        this.registerOutputs({});
    }
}
