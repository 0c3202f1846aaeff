/**
 * RolloutsController: the Argo Rollouts controller (once per cluster) and the shared AnalysisTemplates.
 *
 * Helm resource choice — `k8s.helm.v4.Chart`, not `k8s.helm.v3.Release`:
 *   - The chart's CRDs are templates gated by `installCRDs` (templates/crds/), so they are rendered as ordinary
 *     Pulumi-managed objects. The Kubernetes provider then knows the Rollout/AnalysisTemplate kinds are being
 *     created in this same program, and awaits each CRD (Established) like any other child.
 *   - A v4 Chart is a remote component: Pulumi waits for all of its children before a resource that
 *     `dependsOn` it is created (pulumi `runtime/dependsOn.js`: "Remote components will always wait on all of their
 *     children"; pulumi/pulumi-kubernetes#1833 recommends v4 Chart + dependsOn for exactly this CRD race).
 *     A v3 Release finishes when `helm install` returns, and nothing awaits the CRDs being served
 *     (pulumi/pulumi-kubernetes#3188), so custom resources right after it can fail with "no matches for kind".
 *   - Every rendered object shows up in `pulumi preview` diffs and passes through policy packs.
 * Trade-off: no Helm release in the cluster (`helm list` shows nothing), and Helm hooks are not run (this chart
 * has none). Removing this component deletes the CRDs — and with them every Rollout — on the next `pulumi up`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { IAnalysisTemplateSpec } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplateSpec";
import {
    AnalysisTemplateNames,
    analysisTemplateSpecs,
    DEFAULT_MEASUREMENT,
    MeasurementPolicy,
    analysisMinSeconds,
    validateMeasurement,
    validatePrometheusUrl,
} from "./analysis";
import { fleetLabels } from "../../domain/labels";

export const ROLLOUTS_CONTROLLER_TYPE = "model-fleet:rollouts:RolloutsController";

/** The pinned chart: argoproj/argo-helm `charts/argo-rollouts` 2.41.0 (app v1.9.0). */
export const ARGO_ROLLOUTS_CHART = {
    chart: "argo-rollouts",
    version: "2.41.0",
    repo: "https://argoproj.github.io/argo-helm",
} as const;

export const DEFAULT_CONTROLLER_NAMESPACE = "argo-rollouts";

/** Names of the shared AnalysisTemplates (one set for every model). */
export const ANALYSIS_TEMPLATE_NAMES: AnalysisTemplateNames = {
    successRate: "model-success-rate",
    clientErrors: "model-client-errors",
    latency: "model-latency-p99",
    quality: "model-quality",
};

export interface ControllerValuesOptions {
    /** Create a ServiceMonitor for the controller's own metrics (needs the Prometheus Operator CRDs). */
    serviceMonitor: boolean;
    /** Labels the ServiceMonitor needs to be selected by Prometheus (e.g. `release: kube-prometheus-stack`). */
    serviceMonitorLabels?: Record<string, string>;
}

/**
 * Chart values. Every key exists in the pinned chart's values.yaml (tests/rollouts/components.spec.ts checks it
 * against /shared/reference/charts/argo-rollouts/values.yaml: an unknown key would be silently ignored by Helm).
 */
export function controllerValues(opts: ControllerValuesOptions): Record<string, unknown> {
    return {
        // The CRDs are chart templates gated by this flag (chart default true; explicit because everything depends on it).
        installCRDs: true,
        controller: {
            // Two replicas with leader election: a controller restart does not stall an in-flight canary.
            replicas: 2,
            pdb: { enabled: true, minAvailable: 1 },
            resources: {
                requests: { cpu: "100m", memory: "128Mi" },
                limits: { memory: "512Mi" },
            },
            metrics: {
                enabled: true,
                serviceMonitor: { enabled: opts.serviceMonitor, additionalLabels: opts.serviceMonitorLabels ?? {} },
            },
        },
        // No UI in the cluster: `kubectl argo rollouts dashboard` runs it locally when needed.
        dashboard: { enabled: false },
    };
}

export interface RolloutsControllerArgs {
    /** Install the controller (namespace + chart 2.41.0). Default true; false when the cluster already runs it. */
    readonly install?: boolean;
    /** Namespace of the shared AnalysisTemplates: the models namespace (Rollouts reference templates in their own namespace). No default. */
    readonly analysisNamespace: pulumi.Input<string>;
    /** Prometheus base URL every analysis queries (`rollouts.prometheusUrl`). No default. */
    readonly prometheusUrl: pulumi.Input<string>;
    /** Namespace the controller is installed in (declared here); default "argo-rollouts". */
    readonly namespace?: string;
    /** Create a ServiceMonitor for the controller's metrics (Prometheus Operator present); default false. */
    readonly serviceMonitor?: boolean;
    /** Labels for that ServiceMonitor so Prometheus selects it; default none. */
    readonly serviceMonitorLabels?: Record<string, string>;
    /** How each analysis gate measures; default DEFAULT_MEASUREMENT (5 × 60 s, failureLimit 1, inconclusiveLimit 1). */
    readonly measurement?: MeasurementPolicy;
    /** Extra labels for the objects declared here; default none. */
    readonly labels?: Record<string, string>;
}

export class RolloutsController extends pulumi.ComponentResource {
    /** Names of the shared AnalysisTemplates, for ModelCanary. */
    public readonly analysisTemplateNames: AnalysisTemplateNames;
    /** Minimum run time in seconds of one AnalysisRun per template name (for ModelCanary's exposure output). */
    public readonly analysisMinSeconds: Record<string, number>;
    /** Everything a Rollout needs first (CRDs via the chart, the AnalysisTemplates): pass as `dependsOn`. */
    public readonly ready: pulumi.Resource[];
    /** Namespace of the controller. */
    public readonly controllerNamespace: pulumi.Output<string>;

    constructor(name: string, args: RolloutsControllerArgs, opts?: pulumi.ComponentResourceOptions) {
        const measurement = args.measurement ?? DEFAULT_MEASUREMENT;
        try {
            validateMeasurement(measurement);
            // A plain URL (the config value) is checked before anything is registered; an Output is checked when it resolves.
            if (typeof args.prometheusUrl === "string") {
                validatePrometheusUrl(args.prometheusUrl);
            }
        } catch (e) {
            throw new pulumi.RunError(`RolloutsController ${name}: ${(e as Error).message}`);
        }
        super(ROLLOUTS_CONTROLLER_TYPE, name, {}, opts);

        const labels = { ...fleetLabels(), ...(args.labels ?? {}) };

        const install = args.install ?? true;
        const namespace = install
            ? new k8s.core.v1.Namespace(
                  `${name}-namespace`,
                  { metadata: { name: args.namespace ?? DEFAULT_CONTROLLER_NAMESPACE, labels: { ...labels, "app.kubernetes.io/component": "argo-rollouts" } } },
                  { parent: this },
              )
            : undefined;
        this.controllerNamespace = namespace ? namespace.metadata.name : pulumi.output(args.namespace ?? DEFAULT_CONTROLLER_NAMESPACE);

        const chart =
            namespace &&
            new k8s.helm.v4.Chart(
                `${name}-chart`,
                {
                    chart: ARGO_ROLLOUTS_CHART.chart,
                    version: ARGO_ROLLOUTS_CHART.version,
                    repositoryOpts: { repo: ARGO_ROLLOUTS_CHART.repo },
                    namespace: namespace.metadata.name,
                    values: controllerValues({ serviceMonitor: args.serviceMonitor ?? false, serviceMonitorLabels: args.serviceMonitorLabels }),
                },
                { parent: this },
            );

        // Specs are built from the URL as data (no resources inside apply); the pure builder validates the URL.
        const specs = pulumi.output(args.prometheusUrl).apply((prometheusUrl) => analysisTemplateSpecs({ prometheusUrl, measurement }));

        this.analysisTemplateNames = { ...ANALYSIS_TEMPLATE_NAMES };
        this.analysisMinSeconds = analysisMinSeconds(ANALYSIS_TEMPLATE_NAMES, measurement);
        const templates: k8s.apiextensions.CustomResource[] = [];
        for (const key of ["successRate", "clientErrors", "latency", "quality"] as const) {
            const templateName = ANALYSIS_TEMPLATE_NAMES[key];
            templates.push(
                new k8s.apiextensions.CustomResource(
                    `${name}-${templateName}`,
                    {
                        apiVersion: "argoproj.io/v1alpha1",
                        kind: "AnalysisTemplate",
                        metadata: {
                            name: templateName,
                            namespace: args.analysisNamespace,
                            labels: { ...labels, "app.kubernetes.io/component": "canary-analysis" },
                        },
                        spec: specs.apply((s): IAnalysisTemplateSpec => s[key]),
                    },
                    // The AnalysisTemplate kind only exists once the chart's CRDs do.
                    { parent: this, dependsOn: chart ? [chart] : [] },
                ),
            );
        }

        this.ready = [...(chart ? [chart] : []), ...templates];

        this.registerOutputs({
            analysisTemplateNames: this.analysisTemplateNames,
            analysisMinSeconds: this.analysisMinSeconds,
            controllerNamespace: this.controllerNamespace,
        });
    }
}
