/**
 * Alerts and the version dashboard of a stack's models: a PrometheusRule (Prometheus Operator) or a ConfigMap
 * holding the plain rule file, and a Grafana dashboard ConfigMap for the Grafana sidecar. Rules: rules.ts;
 * dashboard: dashboard.ts; both read the same recorded SLI names.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { dashboard } from "./dashboard";
import { ObservedModel, RuleGroup, ruleGroups } from "./rules";

export interface ModelObservabilityArgs {
    /** Namespace of the rule and dashboard objects (and of the models' series). */
    readonly namespace: pulumi.Input<string>;
    /** Namespace the models' series carry (`namespace` label), the dashboard's `namespace` variable; required. */
    readonly modelNamespace: string;
    /** Models with resolved thresholds. */
    readonly models: ObservedModel[];
    /** Declare alerting rules; default true (recording rules are always declared: the dashboard reads them). */
    readonly alerts?: boolean;
    /** Declare the Grafana dashboard ConfigMap; default false. */
    readonly dashboards?: boolean;
    /** PrometheusRule (true) or a ConfigMap with the plain rule file (false); default false. */
    readonly prometheusOperator?: boolean;
    /** Labels of the rule object, for the Prometheus `ruleSelector`; default none. */
    readonly ruleLabels?: Record<string, string>;
    /** Labels of the dashboard ConfigMap besides `grafana_dashboard: "1"`; default none. */
    readonly dashboardLabels?: Record<string, string>;
    /** Grafana folder (sidecar annotation `grafana_folder`); default "model-fleet". */
    readonly folder?: string;
    /** Grafana datasource uid; default "prometheus". */
    readonly datasource?: string;
    /** Base URL of docs/runbook.md for `runbook_url`; default the repo-relative path. */
    readonly runbookBase?: string;
    /** Dashboard uid and title suffix, e.g. the stack name; default "fleet". */
    readonly stack?: string;
    /** GPU pool node label (components/gpu/labels.ts GPU_POOL_LABEL); default "model-fleet.io/gpu-pool". */
    readonly poolLabel?: string;
}

/** The Grafana sidecar's default discovery label. */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: "1" } as const;

export class ModelObservability extends pulumi.ComponentResource {
    public readonly groups: RuleGroup[];
    public readonly ruleObjectName?: pulumi.Output<string>;
    public readonly dashboardName?: pulumi.Output<string>;

    constructor(name: string, args: ModelObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:observability:ModelObservability", name, {}, opts);
        const stack = args.stack ?? "fleet";
        this.groups = ruleGroups(args.models, { alerts: args.alerts ?? true, runbookBase: args.runbookBase });
        const labels = { "app.kubernetes.io/part-of": "model-fleet", "app.kubernetes.io/component": "observability" };
        if (args.models.length > 0) {
            if (args.prometheusOperator) {
                const rule = new k8s.apiextensions.CustomResource(
                    `${name}-rules`,
                    {
                        apiVersion: "monitoring.coreos.com/v1",
                        kind: "PrometheusRule",
                        metadata: { name: `model-fleet-${stack}`, namespace: args.namespace, labels: { ...labels, ...(args.ruleLabels ?? {}) } },
                        spec: { groups: this.groups },
                    },
                    { parent: this },
                );
                this.ruleObjectName = rule.metadata.name;
            } else {
                const cm = new k8s.core.v1.ConfigMap(
                    `${name}-rules`,
                    {
                        metadata: { name: `model-fleet-${stack}-rules`, namespace: args.namespace, labels: { ...labels, ...(args.ruleLabels ?? {}) } },
                        data: { "model-fleet.rules.yaml": renderRuleFile(this.groups) },
                    },
                    { parent: this },
                );
                this.ruleObjectName = cm.metadata.name;
            }
        }
        if (args.dashboards) {
            const json = dashboard({
                uid: `model-fleet-${stack}`.slice(0, 40),
                title: `model-fleet: models by version (${stack})`,
                datasource: args.datasource ?? "prometheus",
                namespace: args.modelNamespace,
                poolLabel: args.poolLabel ?? "model-fleet.io/gpu-pool",
            });
            const cm = new k8s.core.v1.ConfigMap(
                `${name}-dashboard`,
                {
                    metadata: {
                        name: `model-fleet-${stack}-dashboard`,
                        namespace: args.namespace,
                        labels: { ...labels, ...(args.dashboardLabels ?? {}), ...GRAFANA_DASHBOARD_LABEL },
                        annotations: { grafana_folder: args.folder ?? "model-fleet" },
                    },
                    data: { "model-fleet.json": JSON.stringify(json, null, 2) },
                },
                { parent: this },
            );
            this.dashboardName = cm.metadata.name;
        }
        this.registerOutputs({ ruleObjectName: this.ruleObjectName, dashboardName: this.dashboardName });
    }
}

/** The plain Prometheus rule file (`rule_files:`) of some groups. */
export function renderRuleFile(groups: RuleGroup[]): string {
    return YAML.stringify({ groups }, { lineWidth: 0 });
}
