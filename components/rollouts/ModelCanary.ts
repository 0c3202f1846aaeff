/**
 * ModelCanary: a model's workload as an Argo Rollout (canary strategy), its canary Service, and the nginx Ingress or
 * Istio VirtualService Argo re-weights. Routing modes and why (argo-rollouts `validation.go`, `rollout/service.go`):
 * docs/design/canary.md.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { IRolloutSpec } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/RolloutSpec";
import type { ICanaryStrategy } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/CanaryStrategy";
import type { IRolloutTrafficRouting } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/RolloutTrafficRouting";
import type { IRolloutAnalysisBackground } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/RolloutAnalysisBackground";
import type { CanaryConfig } from "../../config/schema";
import { SKIP_AWAIT } from "../../domain/labels";
import { canaryExperimentIssues, canaryIssues } from "../../domain/rules/canary";
import { throwOnIssues } from "../errors";
import { inferencePaths, PORT_NAME } from "../../domain/serving";
import { analysisMinSeconds } from "./analysis";
import {
    AnalysisTemplateNames,
    backgroundAnalysis,
    basicCanaryReplicas,
    CanaryStep,
    canarySteps,
    Exposure,
    exposure,
    managedRoutes,
    nginxAbTestAnnotations,
} from "./canary";

export const MODEL_CANARY_TYPE = "model-fleet:rollouts:ModelCanary";

export type TrafficRouting = "none" | "nginx" | "istio";

/** Name of the Service / container port the canary objects route to: the pod template's own port name. */
export const HTTP_PORT_NAME = PORT_NAME;
/** Name of the VirtualService HTTP route Argo re-weights. */
export const ISTIO_ROUTE = "primary";
/** Seconds an aborted canary's pods stay up after traffic went back to stable, with a router (for debugging; then scaled to 0). */
export const DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30;
/** Recent revisions a rollback to skips the steps for (rolling back to a known-good version needs no gates). */
export const DEFAULT_ROLLBACK_WINDOW_REVISIONS = 3;
/** Old ReplicaSets kept (rollback targets). Must be ≥ the rollback window. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 5;

/**
 * The `canary` strategy's routing-dependent part (pure). With an A/B test, nginx gets the canary Ingress annotations
 * (`additionalIngressAnnotations`, canary.ts nginxAbTestAnnotations); Istio gets the `managedRoutes` its header and
 * mirror steps name (argo-rollouts v1.9.0 validation.go: required with setHeaderRoute/setMirrorRoute, and each
 * step's route must be listed).
 */
export function trafficRoutingFor(
    mode: TrafficRouting,
    names: { stableIngress: string; virtualService: string },
    canary?: Pick<CanaryConfig, "abTest" | "mirror" | "steps">,
): IRolloutTrafficRouting | undefined {
    switch (mode) {
        case "nginx":
            return {
                nginx: {
                    stableIngress: names.stableIngress,
                    ...(canary?.abTest ? { additionalIngressAnnotations: nginxAbTestAnnotations(canary.abTest) } : {}),
                },
            };
        case "istio": {
            const routes = canary ? managedRoutes(canary as CanaryConfig, mode) : [];
            return {
                ...(routes.length > 0 ? { managedRoutes: routes } : {}),
                istio: { virtualService: { name: names.virtualService, routes: [ISTIO_ROUTE] } },
            };
        }
        case "none":
            return undefined;
    }
}

/**
 * The nginx Ingress of a model (pure): only the inference paths (/predict and the v2 model endpoints) to `service`;
 * /feedback (the quality gate's input) and /metrics stay in-cluster.
 */
export function inferenceIngressSpec(model: string, host: string, service: string): k8s.types.input.networking.v1.IngressSpec {
    return {
        ingressClassName: "nginx",
        rules: [
            {
                host,
                http: {
                    paths: inferencePaths(model).map((p) => ({
                        path: p,
                        pathType: "Exact",
                        backend: { service: { name: service, port: { name: HTTP_PORT_NAME } } },
                    })),
                },
            },
        ],
    };
}

export interface CanaryStrategyInput {
    mode: TrafficRouting;
    steps: CanaryStep[];
    canaryService: string;
    stableService: string;
    stableIngress: string;
    virtualService: string;
    abortScaleDownDelaySeconds: number;
    /** The background analysis (canary.ts backgroundAnalysis); none when turned off. */
    analysis?: IRolloutAnalysisBackground;
    /** The canary's experiments (A/B test, mirror), for the router's part of them; none: plain weights. */
    experiments?: Pick<CanaryConfig, "abTest" | "mirror" | "steps">;
}

/** `spec.strategy.canary` (pure), from the Services' known names: nothing in it waits on a Service's readiness. */
export function canaryStrategy(input: CanaryStrategyInput): ICanaryStrategy {
    const trafficRouting = trafficRoutingFor(input.mode, input, input.experiments);
    const routed = trafficRouting !== undefined;
    return {
        canaryService: input.canaryService,
        ...(routed ? { stableService: input.stableService, trafficRouting, dynamicStableScale: true } : {}),
        // After an abort (argo-rollouts v1.9.0 rollout/replicaset.go shouldDelayScaleDownOnAbort, utils/defaults
        // GetAbortScaleDownDelaySecondsOrDefault): with a router Argo keeps the aborted canary's pods for this many
        // seconds after traffic went back to stable, then scales them to 0. With dynamicStableScale the delay applies
        // only when the field is set: unset, there is no delay (the canary shrinks as stable scales back up,
        // utils/replicaset/canary.go GetDesiredCanaryWeight). 0 would keep the canary up indefinitely. Without a
        // router Argo ignores the field: the abort sets the canary weight to 0 and the canary is scaled down at once.
        abortScaleDownDelaySeconds: input.abortScaleDownDelaySeconds,
        ...(input.analysis ? { analysis: input.analysis } : {}),
        steps: input.steps,
    };
}

/** What every Rollout of a model takes, canary or blue-green. */
export interface RolloutWorkloadArgs {
    /** Namespace of the model. No default. */
    readonly namespace: pulumi.Input<string>;
    /** Model name (DNS label). No default. */
    readonly model: string;
    /** Model version (semver). No default. */
    readonly version: string;
    /** Labels of the Services and Ingress/VirtualService (no version). No default. */
    readonly labels: Record<string, string>;
    /** Labels of the Rollout (with the version). Default: `labels`. */
    readonly workloadLabels?: Record<string, string>;
    /** Pod selector labels (no version). No default. */
    readonly selector: Record<string, string>;
    /** The hardened pod template from serving's buildPodTemplate. No default. */
    readonly podTemplate: pulumi.Input<k8s.types.input.core.v1.PodTemplateSpec>;
    /** Container port (the Services route port `http` to it). No default. */
    readonly port: number;
}

export interface ModelCanaryArgs extends RolloutWorkloadArgs {
    /** Canary config (steps, pauseSeconds, analysis). No default. */
    readonly canary: CanaryConfig;
    /** Traffic routing: none | nginx | istio. No default. */
    readonly trafficRouting: TrafficRouting;
    /** Name of the stable Service (declared by ModelService, which skips its await). Plain: the Rollout never waits on it. No default. */
    readonly stableService: string;
    /** Host for the nginx Ingress / Istio VirtualService (unused with `none`). No default. */
    readonly host: string;
    /** Shared AnalysisTemplate names from RolloutsController. No default. */
    readonly analysisTemplates: AnalysisTemplateNames;
    /** Initial replicas (the HPA takes over; later changes are ignored). No default. */
    readonly replicas: number;
    /** Minimum seconds per AnalysisTemplate run (RolloutsController.analysisMinSeconds), for the exposure output; default: from DEFAULT_MEASUREMENT. */
    readonly analysisMinSeconds?: Record<string, number>;
    /** Seconds an aborted canary's pods are kept before they are scaled to 0 (traffic routing only; without a router, at once); default 30. */
    readonly abortScaleDownDelaySeconds?: number;
    /** Revisions within which a rollback skips the canary steps; default 3. */
    readonly rollbackWindowRevisions?: number;
    /** Old ReplicaSets kept for rollback; default 5. */
    readonly revisionHistoryLimit?: number;
    /** Seconds a new revision may take to make progress before the rollout aborts (startup budget + scheduling margin); default none: Argo's 600 s, marks Degraded without aborting. */
    readonly progressDeadlineSeconds?: number;
}

/** Exposure of this canary as reported in stack outputs. */
export interface CanaryExposure extends Exposure {
    /** Canary share of pods (≈ traffic, %) at the first gate with `replicas` pods and no traffic router; equals firstGateWeight with a router. */
    firstGateTrafficShare: number;
}

/**
 * A Rollout's kept ReplicaSets and its rollback window (defaults 5 and 3): the window must lie within the history,
 * since a rollback target outside it no longer exists. Throws a RunError naming the component and model.
 */
export function rolloutHistory(
    component: string,
    args: { model: string; revisionHistoryLimit?: number; rollbackWindowRevisions?: number },
): { revisionHistoryLimit: number; windowRevisions: number } {
    const revisionHistoryLimit = args.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    const windowRevisions = args.rollbackWindowRevisions ?? DEFAULT_ROLLBACK_WINDOW_REVISIONS;
    if (!Number.isInteger(windowRevisions) || windowRevisions < 1 || windowRevisions > revisionHistoryLimit) {
        throw new pulumi.RunError(
            `${component} ${args.model}: rollbackWindow.revisions (${windowRevisions}) must be in 1..revisionHistoryLimit (${revisionHistoryLimit})`,
        );
    }
    return { revisionHistoryLimit, windowRevisions };
}

export class ModelCanary extends pulumi.ComponentResource {
    /** Name of the Rollout (the HPA's scaleTargetRef). */
    public readonly rolloutName: pulumi.Output<string>;
    /** Name of the canary Service. */
    public readonly canaryService: pulumi.Output<string>;
    /** The rendered canary steps. */
    public readonly steps: CanaryStep[];
    /** The rendered background analysis (`strategy.canary.analysis`); undefined when turned off. */
    public readonly backgroundAnalysis?: IRolloutAnalysisBackground;
    /** Worst-case exposure computed from the rendered steps. */
    public readonly exposure: CanaryExposure;

    constructor(name: string, args: ModelCanaryArgs, opts?: pulumi.ComponentResourceOptions) {
        const { revisionHistoryLimit, windowRevisions } = rolloutHistory("ModelCanary", args);
        const mode = args.trafficRouting;
        const canaryServiceName = `${args.model}-canary`;
        throwOnIssues(
            `ModelCanary ${args.model}: invalid canary config`,
            [...canaryIssues(args.canary), ...canaryExperimentIssues(args.canary, mode)],
            "canary.",
        );
        const target = { model: args.model, version: args.version, service: canaryServiceName };
        const steps: CanaryStep[] = canarySteps(args.canary, args.analysisTemplates, target, mode);
        const background = backgroundAnalysis(args.canary, args.analysisTemplates, target, mode);
        super(MODEL_CANARY_TYPE, name, {}, opts);

        const routeName = args.model; // the stable Ingress / VirtualService
        const meta = (objectName: string) => ({ name: objectName, namespace: args.namespace, labels: args.labels });
        // Argo reconciles these; their endpoints and load balancer come from the Rollout declared after them.
        const argoManaged = (objectName: string) => ({ ...meta(objectName), annotations: { ...SKIP_AWAIT } });

        this.steps = steps;
        this.backgroundAnalysis = background;
        const ex = exposure(steps, args.analysisMinSeconds ?? analysisMinSeconds(args.analysisTemplates));
        this.exposure = {
            ...ex,
            firstGateTrafficShare: mode === "none" ? basicCanaryReplicas(args.replicas, args.canary.steps[0]).share : ex.firstGateWeight,
        };

        const canaryService = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: argoManaged(canaryServiceName),
                spec: {
                    type: "ClusterIP",
                    selector: args.selector,
                    ports: [{ name: HTTP_PORT_NAME, port: args.port, targetPort: HTTP_PORT_NAME, protocol: "TCP" }],
                },
            },
            // Argo adds `rollouts-pod-template-hash` to the selector while a canary runs; that is not drift to undo.
            { parent: this, ignoreChanges: ["spec.selector"] },
        );
        this.canaryService = canaryService.metadata.name;

        const routing: pulumi.Resource[] = [];
        if (mode === "nginx") {
            routing.push(
                new k8s.networking.v1.Ingress(
                    `${name}-ingress`,
                    {
                        metadata: argoManaged(routeName),
                        // Argo checks the stable Ingress routes to the Rollout's stableService.
                        spec: inferenceIngressSpec(args.model, args.host, args.stableService),
                    },
                    { parent: this },
                ),
            );
        } else if (mode === "istio") {
            routing.push(
                new k8s.apiextensions.CustomResource(
                    `${name}-virtualservice`,
                    {
                        apiVersion: "networking.istio.io/v1beta1",
                        kind: "VirtualService",
                        metadata: meta(routeName),
                        spec: {
                            hosts: [args.host],
                            http: [
                                {
                                    name: ISTIO_ROUTE,
                                    route: [
                                        { destination: { host: args.stableService }, weight: 100 },
                                        { destination: { host: canaryServiceName }, weight: 0 },
                                    ],
                                },
                            ],
                        },
                    },
                    // Argo re-weights the route during a canary; re-applying 100/0 mid-rollout would be a silent rollback.
                    // With managed routes Argo also inserts its header/mirror routes before `primary` (istio.go
                    // orderRoutes), so indexes move: the whole route list is Argo's once declared.
                    {
                        parent: this,
                        ignoreChanges:
                            managedRoutes(args.canary, mode).length > 0 ? ["spec.http"] : ["spec.http[0].route[0].weight", "spec.http[0].route[1].weight"],
                    },
                ),
            );
        }

        const abortScaleDownDelaySeconds = args.abortScaleDownDelaySeconds ?? DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS;
        // Plain data from the stable Service's name (an Output, so the Rollout also waits for that Service).
        const strategy = canaryStrategy({
            mode,
            steps: this.steps,
            canaryService: canaryServiceName,
            stableService: args.stableService,
            stableIngress: routeName,
            virtualService: routeName,
            abortScaleDownDelaySeconds,
            analysis: background,
            experiments: args.canary,
        });
        const rolloutSpec: Omit<IRolloutSpec, "template" | "strategy"> = {
            replicas: args.replicas,
            selector: { matchLabels: args.selector },
            revisionHistoryLimit,
            rollbackWindow: { revisions: windowRevisions },
            // With a deadline sized for the model (startup budget + scheduling), a revision that cannot become available
            // in time is aborted (traffic stays on stable) instead of waiting for a human. Not with Argo's 600 s default:
            // a GPU pod loading large weights would exceed it and every rollout would abort.
            ...(args.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: args.progressDeadlineSeconds, progressDeadlineAbort: true } : {}),
        };
        const rollout = new k8s.apiextensions.CustomResource(
            `${name}-rollout`,
            {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "Rollout",
                metadata: { ...meta(args.model), labels: args.workloadLabels ?? args.labels },
                spec: {
                    ...rolloutSpec,
                    template: args.podTemplate,
                    strategy: { canary: strategy },
                },
            },
            {
                parent: this,
                // Names are plain strings, so no data orders these: the Services and Ingress/VirtualService must
                // exist before Argo reconciles the Rollout against them (they skip their readiness await).
                dependsOn: [canaryService, ...routing],
                // The HPA owns the replica count through the scale subresource once the Rollout exists.
                ignoreChanges: ["spec.replicas"],
            },
        );
        this.rolloutName = rollout.metadata.name;

        this.registerOutputs({
            rolloutName: this.rolloutName,
            canaryService: this.canaryService,
            steps: this.steps,
            backgroundAnalysis: this.backgroundAnalysis,
            exposure: this.exposure,
        });
    }
}
