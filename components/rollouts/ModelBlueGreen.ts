/**
 * ModelBlueGreen: a model's workload as an Argo Rollout with the blue-green strategy, its preview Service, and (with a
 * router) the nginx Ingress or Istio VirtualService that sends the host to the active Service. Strategy and analysis:
 * blueGreen.ts; choices (routers, defaults): docs/design/release-strategies.md.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BlueGreenConfig } from "../../config/schema";
import { SKIP_AWAIT } from "../../domain/labels";
import { AnalysisTemplateNames } from "./canary";
import { blueGreenStrategy, DEFAULT_SCALE_DOWN_DELAY_SECONDS, prePromotionAnalysis, previewServiceName } from "./blueGreen";
import { HTTP_PORT_NAME, inferenceIngressSpec, RolloutWorkloadArgs, rolloutHistory, TrafficRouting } from "./ModelCanary";

export const MODEL_BLUE_GREEN_TYPE = "model-fleet:rollouts:ModelBlueGreen";

export interface ModelBlueGreenArgs extends RolloutWorkloadArgs {
    /** The blue-green config (analysis thresholds, promotion, scale-down delay). No default. */
    readonly blueGreen: BlueGreenConfig;
    /** Traffic routing of the fleet: with nginx / istio the host goes to the active Service (no weights). No default. */
    readonly trafficRouting: TrafficRouting;
    /** Name of the active Service (ModelService's `<model>`, which skips its await and ignores selector changes). No default. */
    readonly activeService: string;
    /** Host for the nginx Ingress / Istio VirtualService (unused with `none`). No default. */
    readonly host: string;
    /** Shared AnalysisTemplate names from RolloutsController. No default. */
    readonly analysisTemplates: AnalysisTemplateNames;
    /** Initial replicas (the HPA takes over; later changes are ignored). No default. */
    readonly replicas: number;
    /** Production stack: `blueGreen.autoPromotionEnabled` then defaults to false (a human promotes), else to true; default true (the strict one). */
    readonly production?: boolean;
    /** Old ReplicaSets kept for rollback; default 5. */
    readonly revisionHistoryLimit?: number;
    /** Seconds from the preview being available to the pre-promotion analysis' first measurement; default one rate window (120). */
    readonly analysisDelaySeconds?: number;
    /** Revisions within which a rollback skips the pre-promotion analysis (Argo `rollbackWindow`, as the canary's); default 3. */
    readonly rollbackWindowRevisions?: number;
    /** Seconds a new revision may take to make progress before the rollout aborts; default none (Argo's 600 s, Degraded without abort). */
    readonly progressDeadlineSeconds?: number;
}

export class ModelBlueGreen extends pulumi.ComponentResource {
    /** Name of the Rollout (the HPA's scaleTargetRef). */
    public readonly rolloutName: pulumi.Output<string>;
    /** Name of the preview Service. */
    public readonly previewService: pulumi.Output<string>;

    constructor(name: string, args: ModelBlueGreenArgs, opts?: pulumi.ComponentResourceOptions) {
        const previewName = previewServiceName(args.model);
        const { revisionHistoryLimit, windowRevisions } = rolloutHistory("ModelBlueGreen", args);
        let strategy;
        try {
            strategy = blueGreenStrategy({
                activeService: args.activeService,
                previewService: previewName,
                autoPromotionEnabled: args.blueGreen.autoPromotionEnabled ?? !(args.production ?? true),
                scaleDownDelaySeconds: args.blueGreen.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS,
                prePromotionAnalysis: prePromotionAnalysis(
                    args.blueGreen,
                    args.analysisTemplates,
                    { model: args.model, version: args.version, service: previewName },
                    args.analysisDelaySeconds,
                ),
            });
        } catch (e) {
            throw new pulumi.RunError(`ModelBlueGreen ${args.model}: ${(e as Error).message}`);
        }
        super(MODEL_BLUE_GREEN_TYPE, name, {}, opts);

        const meta = (objectName: string) => ({ name: objectName, namespace: args.namespace, labels: args.labels });
        const preview = new k8s.core.v1.Service(
            `${name}-preview`,
            {
                // Argo points it at the new ReplicaSet; it has endpoints only while a new version is previewed.
                metadata: { ...meta(previewName), annotations: { ...SKIP_AWAIT } },
                spec: {
                    type: "ClusterIP",
                    selector: args.selector,
                    ports: [{ name: HTTP_PORT_NAME, port: args.port, targetPort: HTTP_PORT_NAME, protocol: "TCP" }],
                },
            },
            // Argo adds `rollouts-pod-template-hash` to the selector (rollout/service.go); that is not drift to undo.
            { parent: this, ignoreChanges: ["spec.selector"] },
        );
        this.previewService = preview.metadata.name;

        // With a router, the host goes to the active Service: the switch is Argo's change of that Service's selector,
        // which the router follows through the Service's endpoints. Argo's blueGreen uses no trafficRouting.
        const routing: pulumi.Resource[] = [];
        if (args.trafficRouting === "nginx") {
            routing.push(
                new k8s.networking.v1.Ingress(
                    `${name}-ingress`,
                    { metadata: meta(args.model), spec: inferenceIngressSpec(args.model, args.host, args.activeService) },
                    { parent: this },
                ),
            );
        } else if (args.trafficRouting === "istio") {
            routing.push(
                new k8s.apiextensions.CustomResource(
                    `${name}-virtualservice`,
                    {
                        apiVersion: "networking.istio.io/v1beta1",
                        kind: "VirtualService",
                        metadata: meta(args.model),
                        spec: { hosts: [args.host], http: [{ name: "primary", route: [{ destination: { host: args.activeService }, weight: 100 }] }] },
                    },
                    { parent: this },
                ),
            );
        }

        const rollout = new k8s.apiextensions.CustomResource(
            `${name}-rollout`,
            {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "Rollout",
                metadata: { ...meta(args.model), labels: args.workloadLabels ?? args.labels },
                spec: {
                    replicas: args.replicas,
                    selector: { matchLabels: args.selector },
                    revisionHistoryLimit,
                    ...(args.progressDeadlineSeconds !== undefined
                        ? { progressDeadlineSeconds: args.progressDeadlineSeconds, progressDeadlineAbort: true }
                        : {}),
                    // A rollback to a recent revision switches back without a new pre-promotion analysis (argo-rollouts
                    // v1.9.0 rollout/analysis.go: analysis skipped when isRollbackWithinWindow; bluegreen.go promotes it).
                    rollbackWindow: { revisions: windowRevisions },
                    template: args.podTemplate,
                    strategy: { blueGreen: strategy },
                },
            },
            // The Services must exist before Argo reconciles the Rollout against them; the HPA owns the replica count.
            { parent: this, dependsOn: [preview, ...routing], ignoreChanges: ["spec.replicas"] },
        );
        this.rolloutName = rollout.metadata.name;

        this.registerOutputs({ rolloutName: this.rolloutName, previewService: this.previewService });
    }
}
