/**
 * ModelService: one model version served in the models namespace.
 *
 * Declares the model's ServiceAccount, ClusterIP Service, workload (a Deployment, or — for a canary model — an
 * Argo Rollout through `ModelCanary`, both from the same hardened pod template), HorizontalPodAutoscaler,
 * PodDisruptionBudget, the Secret holding the HMAC key of its prediction ids, the NetworkPolicies that open the model port to the ingress controller and monitoring
 * namespaces (on top of ModelNamespace's default-deny), and its scrape configuration (pod annotations, or a
 * ServiceMonitor when the Prometheus Operator is present).
 *
 * All decisions live in pure modules (labels, podTemplate, autoscaling, disruption, checks); this class wires them
 * to resources. Invalid input throws before anything is registered.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Environment, ModelConfig } from "../../config/schema";
import { ModelCanary, RolloutWorkloadArgs } from "../rollouts/ModelCanary";
import { ModelBlueGreen } from "../rollouts/ModelBlueGreen";
import { durationSeconds } from "../rollouts/analysis";
import { scaleMeasurement } from "../rollouts/timeScale";
import { DEFAULT_MEASUREMENT } from "../../domain/measurement";
import { releaseStrategy } from "../../domain/rules/release";
import { Autoscaler, hpaBehavior, hpaMetrics, KEDA_TRANSFER_HPA_OWNERSHIP, modelAutoscaler, scaledObjectSpec, ScaleTargetRef } from "./autoscaling";
import { throwOnIssues } from "../errors";
import { servingIssues } from "./checks";
import { MODEL_PDB_POLICY, UNHEALTHY_POD_EVICTION_POLICY } from "./disruption";
import { modelLabels, objectLabels, selectorLabels, SKIP_AWAIT } from "../../domain/labels";
import { PredictionIdKey } from "./predictionIdKey";
import { buildPodTemplate, GpuScheduling, METRICS_PATH, PORT_NAME, PREDICTION_ID_KEY_SECRET_KEY } from "./podTemplate";

export const MODEL_SERVICE_TYPE = "model-fleet:serving:ModelService";

export const DEFAULT_INGRESS_NAMESPACE = "ingress-nginx";
export const DEFAULT_MONITORING_NAMESPACE = "monitoring";

/**
 * Extra time the Deployment may take to progress beyond the startup budget: scheduling (a GPU node may have to be
 * provisioned first) and pulling a multi-GB image.
 */
export const PROGRESS_MARGIN_SECONDS = 900;

export type WorkloadKind = "Deployment" | "Rollout";

/** Seconds a new revision may take to become available: the startup budget plus PROGRESS_MARGIN_SECONDS. */
export function progressDeadlineSeconds(startupBudgetSeconds: number): number {
    return startupBudgetSeconds + PROGRESS_MARGIN_SECONDS;
}

/**
 * Pod labels a ServiceMonitor copies onto every series (`app_kubernetes_io_name`, …): the canary analysis selects
 * on the model name and on `rollouts_pod_template_hash` (canary vs stable pods). The annotation scrape job's
 * `labelmap __meta_kubernetes_pod_label_(.+)` copies them the same way.
 */
export const SCRAPE_POD_TARGET_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/version", "rollouts-pod-template-hash"];

/** Where traffic and scrapes come from. */
export interface ModelServiceServing {
    /** Namespace of the ingress controller allowed to reach the model port; default "ingress-nginx". */
    readonly ingressNamespace?: pulumi.Input<string>;
    /** Namespace of Prometheus, allowed to reach the metrics endpoint; default "monitoring". */
    readonly monitoringNamespace?: pulumi.Input<string>;
    /** Declare a ServiceMonitor instead of `prometheus.io/*` pod annotations; default false. */
    readonly prometheusOperator?: boolean;
    /** Extra ServiceMonitor labels (e.g. `release: kube-prometheus-stack` for its selector); default none. */
    readonly serviceMonitorLabels?: Record<string, string>;
}

/** Rollouts wiring for a canary model (from RolloutsController and the rollouts config). */
export interface ModelServiceRollouts {
    /** How the canary gets traffic: replica-weighted (none), nginx canary Ingress or Istio VirtualService. No default. */
    readonly trafficRouting: "none" | "nginx" | "istio";
    /** Names of the shared AnalysisTemplates (RolloutsController.analysisTemplateNames). No default. */
    readonly analysisTemplates: { successRate: string; clientErrors: string; latency: string; quality: string };
    /** Host of the nginx Ingress / Istio VirtualService. No default (index.ts derives it from `rollouts.ingressHost`). */
    readonly host: string;
    /** Minimum seconds per AnalysisTemplate run (RolloutsController.analysisMinSeconds); default: ModelCanary's. */
    readonly analysisMinSeconds?: Record<string, number>;
}

/** Deployment or Rollout: decided once by the caller (index.ts); a Rollout carries its rollouts wiring. */
export type ModelWorkload = { readonly kind: "Deployment" } | ({ readonly kind: "Rollout" } & ModelServiceRollouts);

export interface ModelServiceArgs {
    /** Namespace of the model's objects (ModelNamespace.namespaceName, so they are created after it). No default. */
    readonly namespace: pulumi.Input<string>;
    /** The model's validated config. No default; plain: it decides which objects exist (Deployment vs Rollout, RPS metric). */
    readonly model: ModelConfig;
    /** Image digest reference `<repository>@sha256:…` (ModelImage.ref). No default. */
    readonly image: pulumi.Input<string>;
    /** The weights artifact `<repository>@sha256:…`, mounted read-only with an image volume (`models[].weights`); default none (the image's own weights). */
    readonly weights?: pulumi.Input<string>;
    /** GPU limits/tolerations/nodeSelector from `gpuScheduling(...)`; required iff `model.gpu` is set; default none (CPU model). */
    readonly gpu?: GpuScheduling;
    /** Stack environment (production requires minReplicas ≥ 2); default "production" (the strict one). */
    readonly environment?: Environment;
    /** Ingress/monitoring namespaces and scrape mode; default { ingressNamespace: "ingress-nginx", monitoringNamespace: "monitoring", prometheusOperator: false }. */
    readonly serving?: ModelServiceServing;
    /** Deployment, or a Rollout with its wiring (required iff `model.canary` is set); default `{ kind: "Deployment" }`. */
    readonly workload?: ModelWorkload;
    /** Registry pull Secret names for the pods (Harbor); default none (ECR pulls with the node role). */
    readonly imagePullSecrets?: pulumi.Input<string>[];
    /** Resources the Rollout must wait for (Argo Rollouts CRDs/controller, AnalysisTemplates); default none. */
    readonly rolloutsDependsOn?: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
    /** What scales the model (`serving.autoscaler` resolved by modelAutoscaler); default: KEDA iff the model sets targetRequestsPerSecond. */
    readonly autoscaler?: Autoscaler;
    /** Prometheus of KEDA's request-rate trigger (`rollouts.prometheusUrl`); required iff the model sets targetRequestsPerSecond; default none. */
    readonly prometheusUrl?: string;
    /** `rollouts.timeScale`: compresses the scaling behaviour's windows (rehearsals only); default 1. */
    readonly timeScale?: number;
    /** Resources the ScaledObject must wait for (the KEDA chart and its CRDs); default none. */
    readonly autoscalingDependsOn?: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
}

/** Subset of the Prometheus Operator's `monitoring.coreos.com/v1` ServiceMonitor spec this component sets. */
interface ServiceMonitorSpec {
    selector: { matchLabels: Record<string, string> };
    namespaceSelector: { matchNames: pulumi.Input<string>[] };
    podTargetLabels: string[];
    endpoints: Array<{
        port: string;
        path: string;
        scheme: "http";
        interval: string;
        scrapeTimeout: string;
        relabelings: Array<{ action: "replace"; targetLabel: string; replacement: string }>;
    }>;
}

export class ModelService extends pulumi.ComponentResource {
    /** Name of the stable ClusterIP Service (`<model>`). */
    public readonly serviceName: pulumi.Output<string>;
    /** Kind of the workload: a Deployment, or an Argo Rollout for a canary model. */
    public readonly workloadKind: WorkloadKind;
    /** Name of the Deployment or Rollout. */
    public readonly workloadName: pulumi.Output<string>;
    /** Name of the HorizontalPodAutoscaler (under KEDA: the one KEDA makes, named as the plain one). */
    public readonly hpaName: pulumi.Output<string>;
    /** What scales the model. */
    public readonly autoscaler: Autoscaler;
    /** Name of the PodDisruptionBudget. */
    public readonly pdbName: pulumi.Output<string>;
    /** The canary component, for a canary model. */
    public readonly canary?: ModelCanary;
    /** The blue-green component, for a model with `release.strategy: blueGreen`. */
    public readonly blueGreen?: ModelBlueGreen;
    /** Name of the Secret holding the prediction-id HMAC key (`<model>-prediction-id-key`). */
    public readonly predictionIdKeySecretName: pulumi.Output<string>;

    constructor(name: string, args: ModelServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        const model = args.model;
        const environment = args.environment ?? "production";
        const workload: ModelWorkload = args.workload ?? { kind: "Deployment" };
        throwOnIssues(
            `ModelService ${model.name}`,
            servingIssues({ model, environment, hasGpuScheduling: args.gpu !== undefined, workloadKind: workload.kind }),
            "model.",
        );
        const rollout = workload.kind === "Rollout" ? workload : undefined;
        const strategy = releaseStrategy(model);

        super(MODEL_SERVICE_TYPE, name, {}, opts);

        const ns = args.namespace;
        // The version labels only the workload (and its pod template): a release changes nothing else.
        const labels = objectLabels(model.name);
        const workloadLabels = modelLabels(model.name, model.version);
        const selector = selectorLabels(model.name);
        const prometheusOperator = args.serving?.prometheusOperator ?? false;
        const ingressNamespace = args.serving?.ingressNamespace ?? DEFAULT_INGRESS_NAMESPACE;
        const monitoringNamespace = args.serving?.monitoringNamespace ?? DEFAULT_MONITORING_NAMESPACE;
        const meta = (objectName: string): k8s.types.input.meta.v1.ObjectMeta => ({ name: objectName, namespace: ns, labels });

        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-sa`,
            {
                metadata: meta(model.name),
                // The server never talks to the API server: no token in the pod (also set on the pod spec).
                automountServiceAccountToken: false,
            },
            { parent: this },
        );

        const service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                // A canary model's stable Service only gets endpoints once the Rollout exists: no await on it.
                metadata: rollout ? { ...meta(model.name), annotations: { ...SKIP_AWAIT } } : meta(model.name),
                spec: {
                    type: "ClusterIP",
                    selector,
                    ports: [{ name: PORT_NAME, port: model.port, targetPort: PORT_NAME, protocol: "TCP" }],
                },
            },
            {
                parent: this,
                // With traffic routing, Argo Rollouts adds `rollouts-pod-template-hash` to the stable Service's
                // selector (rollout/service.go ensureSVCTargets); re-applying ours mid-canary would undo that. A
                // blue-green model's Service is the active Service, whose selector Argo sets in every routing mode.
                ignoreChanges: rollout && (rollout.trafficRouting !== "none" || strategy === "blueGreen") ? ["spec.selector"] : [],
            },
        );
        this.serviceName = service.metadata.name;

        // The key that signs prediction ids: feedback decides the quality gate, so only ids this model issued may
        // count (images/model-server/app/ids.py). One key per model, shared by canary and stable pods (any pod scores
        // any prediction); generated once and kept in the stack's state as a secret. Rotating it (replace the
        // PredictionIdKey) invalidates outstanding ids; pods read it at start.
        const idKey = new PredictionIdKey(`${name}-prediction-id-key`, { parent: this });
        const idKeySecret = new k8s.core.v1.Secret(
            `${name}-prediction-id-secret`,
            {
                metadata: meta(`${model.name}-prediction-id-key`),
                type: "Opaque",
                stringData: { [PREDICTION_ID_KEY_SECRET_KEY]: idKey.key },
            },
            { parent: this },
        );
        this.predictionIdKeySecretName = idKeySecret.metadata.name;

        const template = buildPodTemplate({
            model: model.name,
            version: model.version,
            image: args.image,
            port: model.port,
            resources: model.resources,
            startupBudgetSeconds: model.startupBudgetSeconds,
            maxReplicas: model.autoscaling.maxReplicas,
            serviceAccountName: serviceAccount.metadata.name,
            gpu: args.gpu,
            scrapeAnnotations: !prometheusOperator,
            imagePullSecrets: args.imagePullSecrets,
            podTemplateHashEnv: rollout !== undefined,
            predictionIdKeySecret: idKeySecret.metadata.name,
            weights: args.weights,
        });

        let scaleTargetRef: Omit<ScaleTargetRef, "name"> & { name: pulumi.Input<string> };
        // What either Rollout takes (components/rollouts/ModelCanary.ts RolloutWorkloadArgs).
        const rolloutWorkload: RolloutWorkloadArgs = {
            namespace: ns,
            model: model.name,
            version: model.version,
            labels,
            workloadLabels,
            selector,
            podTemplate: template,
            port: model.port,
        };
        if (rollout && strategy === "canary" && model.canary) {
            const rollouts = rollout;
            this.workloadKind = "Rollout";
            this.canary = new ModelCanary(
                `${name}-canary`,
                {
                    ...rolloutWorkload,
                    canary: model.canary,
                    trafficRouting: rollouts.trafficRouting,
                    // The known name, not the Output: the Rollout must not wait on the Service's readiness.
                    stableService: model.name,
                    host: rollouts.host,
                    analysisTemplates: rollouts.analysisTemplates,
                    replicas: model.autoscaling.minReplicas,
                    progressDeadlineSeconds: progressDeadlineSeconds(model.startupBudgetSeconds),
                    ...(rollouts.analysisMinSeconds !== undefined ? { analysisMinSeconds: rollouts.analysisMinSeconds } : {}),
                },
                { parent: this, dependsOn: args.rolloutsDependsOn },
            );
            this.workloadName = this.canary.rolloutName;
            scaleTargetRef = { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: this.canary.rolloutName };
        } else if (rollout && strategy === "blueGreen" && model.release?.blueGreen) {
            this.workloadKind = "Rollout";
            this.blueGreen = new ModelBlueGreen(
                `${name}-bluegreen`,
                {
                    ...rolloutWorkload,
                    blueGreen: model.release.blueGreen,
                    trafficRouting: rollout.trafficRouting,
                    // The known name, not the Output: the Rollout must not wait on the Service's readiness.
                    activeService: model.name,
                    host: rollout.host,
                    analysisTemplates: rollout.analysisTemplates,
                    replicas: model.autoscaling.minReplicas,
                    production: (args.environment ?? "production") === "production",
                    // One rate window of the (time-scaled) measurement policy before the first measurement.
                    analysisDelaySeconds: durationSeconds(scaleMeasurement(DEFAULT_MEASUREMENT, args.timeScale ?? 1).rateWindow),
                    progressDeadlineSeconds: progressDeadlineSeconds(model.startupBudgetSeconds),
                },
                { parent: this, dependsOn: args.rolloutsDependsOn },
            );
            this.workloadName = this.blueGreen.rolloutName;
            scaleTargetRef = { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: this.blueGreen.rolloutName };
        } else {
            this.workloadKind = "Deployment";
            const progressDeadline = progressDeadlineSeconds(model.startupBudgetSeconds);
            const awaitTimeout = `${Math.ceil((progressDeadline + 300) / 60)}m`;
            const deployment = new k8s.apps.v1.Deployment(
                `${name}-deployment`,
                {
                    metadata: { ...meta(model.name), labels: workloadLabels },
                    spec: {
                        // No `replicas`: the HPA owns the replica count (a declared value would fight it on every update).
                        selector: { matchLabels: selector },
                        template,
                        strategy: {
                            type: "RollingUpdate",
                            // Surge one pod, never drop below the current count: capacity holds during a release.
                            rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
                        },
                        minReadySeconds: 10,
                        revisionHistoryLimit: 5,
                        progressDeadlineSeconds: progressDeadline,
                    },
                },
                // Pulumi waits for the rollout; loading weights may take the whole startup budget.
                { parent: this, customTimeouts: { create: awaitTimeout, update: awaitTimeout } },
            );
            this.workloadName = deployment.metadata.name;
            scaleTargetRef = { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name };
        }

        const gpu = model.gpu !== undefined;
        const timeScale = args.timeScale ?? 1;
        this.autoscaler = args.autoscaler ?? modelAutoscaler("auto", model.autoscaling.targetRequestsPerSecond);
        if (this.autoscaler === "keda") {
            // KEDA makes the HPA, named as the plain one (dashboards and alerts select horizontalpodautoscaler=<model>),
            // and takes over the plain HPA a stack switching to KEDA still has (the transfer annotation).
            const spec = pulumi.all([ns, scaleTargetRef.name]).apply(([namespace, targetName]) =>
                scaledObjectSpec({
                    ...model.autoscaling,
                    gpu,
                    startupBudgetSeconds: model.startupBudgetSeconds,
                    scaleTargetRef: { ...scaleTargetRef, name: targetName },
                    hpaName: model.name,
                    namespace,
                    model: model.name,
                    prometheusUrl: args.prometheusUrl,
                    timeScale,
                }),
            );
            new k8s.apiextensions.CustomResource(
                `${name}-scaledobject`,
                {
                    apiVersion: "keda.sh/v1alpha1",
                    kind: "ScaledObject",
                    metadata: { ...meta(model.name), annotations: { [KEDA_TRANSFER_HPA_OWNERSHIP]: "true" } },
                    spec,
                },
                { parent: this, dependsOn: args.autoscalingDependsOn },
            );
            this.hpaName = pulumi.output(model.name);
        } else {
            const hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                `${name}-hpa`,
                {
                    metadata: meta(model.name),
                    spec: {
                        scaleTargetRef,
                        minReplicas: model.autoscaling.minReplicas,
                        maxReplicas: model.autoscaling.maxReplicas,
                        metrics: hpaMetrics(model.autoscaling),
                        behavior: hpaBehavior({ gpu, startupBudgetSeconds: model.startupBudgetSeconds }, timeScale),
                    },
                },
                { parent: this },
            );
            this.hpaName = hpa.metadata.name;
        }

        const pdb = new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: meta(model.name),
                spec: {
                    maxUnavailable: MODEL_PDB_POLICY.maxUnavailable,
                    selector: { matchLabels: selector },
                    unhealthyPodEvictionPolicy: UNHEALTHY_POD_EVICTION_POLICY,
                },
            },
            { parent: this },
        );
        this.pdbName = pdb.metadata.name;

        // NetworkPolicy is L4: it can open a port to a namespace, not a path. Metrics are served on the model port
        // (`/metrics`), so the monitoring rule opens that same port — to Prometheus' namespace only.
        const allowFrom = (suffix: string, fromNamespace: pulumi.Input<string>, purpose: string) =>
            new k8s.networking.v1.NetworkPolicy(
                `${name}-allow-${suffix}`,
                {
                    metadata: {
                        ...meta(`${model.name}-allow-${suffix}`),
                        annotations: { "model-fleet.io/purpose": purpose },
                    },
                    spec: {
                        podSelector: { matchLabels: selector },
                        policyTypes: ["Ingress"],
                        ingress: [
                            {
                                from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": fromNamespace } } }],
                                ports: [{ protocol: "TCP", port: model.port }],
                            },
                        ],
                    },
                },
                { parent: this },
            );
        allowFrom("ingress", ingressNamespace, "ingress controller to the model port");
        allowFrom("monitoring", monitoringNamespace, `Prometheus to ${METRICS_PATH} (same port; NetworkPolicy is L4)`);

        if (prometheusOperator) {
            const spec: ServiceMonitorSpec = {
                // Matches the stable Service and, for a canary model, ModelCanary's canary Service (same labels):
                // during a canary each Service's endpoints are its own pods, so canary pods get scraped too.
                selector: { matchLabels: selector },
                namespaceSelector: { matchNames: [ns] },
                podTargetLabels: SCRAPE_POD_TARGET_LABELS,
                endpoints: [
                    {
                        port: PORT_NAME,
                        path: METRICS_PATH,
                        scheme: "http",
                        interval: "30s",
                        scrapeTimeout: "10s",
                        // Outside a canary both Services point at the same pods. Giving every target the same `job`
                        // and `service` makes the duplicate targets identical, and Prometheus scrapes each once.
                        relabelings: [
                            { action: "replace", targetLabel: "job", replacement: model.name },
                            { action: "replace", targetLabel: "service", replacement: model.name },
                        ],
                    },
                ],
            };
            new k8s.apiextensions.CustomResource(
                `${name}-servicemonitor`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "ServiceMonitor",
                    metadata: { name: model.name, namespace: ns, labels: { ...(args.serving?.serviceMonitorLabels ?? {}), ...labels } },
                    spec,
                },
                { parent: this },
            );
        }

        this.registerOutputs({
            serviceName: this.serviceName,
            workloadKind: this.workloadKind,
            workloadName: this.workloadName,
            hpaName: this.hpaName,
            pdbName: this.pdbName,
            predictionIdKeySecretName: this.predictionIdKeySecretName,
        });
    }
}
