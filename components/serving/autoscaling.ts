/**
 * A model's autoscaling (pure): the HorizontalPodAutoscaler (autoscaling/v2) spec pieces, and the KEDA ScaledObject
 * (keda.sh/v1alpha1) that makes an HPA of the same name with a request-rate metric from Prometheus
 * (docs/design/hpa-and-canary.md).
 */
import * as k8s from "@pulumi/kubernetes";
import { DEFAULT_SERIES_LABELS, matchers } from "../rollouts/analysis";
import { scaleSeconds } from "../rollouts/timeScale";

/** The model server's request counter (images/model-server, labelled by status `code`) the request rate is computed from. */
export const RPS_SOURCE_COUNTER = "model_server_requests_total";
/** rate() window of the request-rate query: at least two 30 s scrapes. */
export const RPS_RATE_WINDOW = "2m";

/** `serving.autoscaler`: what scales each model. */
export type AutoscalerMode = "auto" | "hpa" | "keda";
/** What one model gets: a plain HPA, or a KEDA ScaledObject (which makes the HPA). */
export type Autoscaler = "hpa" | "keda";

/** `keda` when the mode says so, or under `auto` when the model scales on requests per second (only KEDA serves that metric). */
export function modelAutoscaler(mode: AutoscalerMode, targetRequestsPerSecond: number | undefined): Autoscaler {
    if (mode === "auto") return targetRequestsPerSecond !== undefined ? "keda" : "hpa";
    return mode;
}

/**
 * The model's request rate, all pods together, as Prometheus has it: the server's counter over the series labels a
 * scrape of the model's pods gives (namespace and the pod label `app.kubernetes.io/name`, as the canary analysis
 * selects them: components/rollouts/analysis.ts DEFAULT_SERIES_LABELS). KEDA divides it by the pods (AverageValue).
 */
export function requestsPerSecondQuery(namespace: string, model: string, window: string = RPS_RATE_WINDOW): string {
    const selector = matchers([
        [DEFAULT_SERIES_LABELS.namespace, "=", namespace],
        [DEFAULT_SERIES_LABELS.model, "=", model],
    ]);
    return `sum(rate(${RPS_SOURCE_COUNTER}${selector}[${window}]))`;
}

/** Scale-down stabilisation of CPU-only models (the Kubernetes default). */
export const CPU_SCALE_DOWN_WINDOW_SECONDS = 300;
/** Minimum scale-down stabilisation of GPU models. */
export const GPU_SCALE_DOWN_WINDOW_SECONDS = 600;
/** API maximum of `stabilizationWindowSeconds`. */
export const MAX_STABILIZATION_WINDOW_SECONDS = 3600;

export interface AutoscalingInput {
    minReplicas: number;
    maxReplicas: number;
    /** Average CPU utilisation target, percent of the CPU request. */
    targetCpuUtilization: number;
    /** Average requests per second per pod (KEDA's prometheus trigger); none: CPU only. */
    targetRequestsPerSecond?: number;
    /** GPU pods are expensive to add and slow to start: damp scale-down and pace scale-up. */
    gpu: boolean;
    /** Startup budget: a GPU model never scales down faster than a replacement pod could come back. */
    startupBudgetSeconds: number;
}

/** The plain HPA's metric: CPU utilisation (metrics.k8s.io, served by metrics-server). */
export function hpaMetrics(input: Pick<AutoscalingInput, "targetCpuUtilization">): k8s.types.input.autoscaling.v2.MetricSpec[] {
    return [
        {
            type: "Resource",
            resource: { name: "cpu", target: { type: "Utilization", averageUtilization: input.targetCpuUtilization } },
        },
    ];
}

/** Scale-down stabilisation window: 300 s for CPU models; for GPU models max(600 s, startup budget), ≤ 3600 s. */
export function scaleDownWindowSeconds(gpu: boolean, startupBudgetSeconds: number): number {
    if (!gpu) {
        return CPU_SCALE_DOWN_WINDOW_SECONDS;
    }
    return Math.min(MAX_STABILIZATION_WINDOW_SECONDS, Math.max(GPU_SCALE_DOWN_WINDOW_SECONDS, startupBudgetSeconds));
}

/**
 * Scaling behaviour.
 * - CPU models: scale up at once (double or +4 pods per minute, whichever is more), scale down by at most half a
 *   minute after a 5-minute stable low.
 * - GPU models: scale up after 60 s of sustained load, +2 pods per 2 minutes (each pod is a GPU and minutes of
 *   weight loading); scale down one pod per 5 minutes after the stabilisation window — the HPA acts on the
 *   highest recommendation of the whole window, so a dip shorter than it never removes a GPU pod (no flapping).
 */
export function hpaBehavior(
    input: Pick<AutoscalingInput, "gpu" | "startupBudgetSeconds">,
    timeScale = 1,
): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior {
    return compressBehavior(unscaledBehavior(input), timeScale);
}

/**
 * Release rehearsals (`rollouts.timeScale`, which production keeps at 1): the windows and policy periods divided by the
 * factor (a window of 0 stays 0, a period at least 1 s), so that a scale-down is seen in minutes. Pod counts and
 * percentages never change.
 */
function compressBehavior(
    b: k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior,
    factor: number,
): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior {
    if (factor === 1) return b;
    type Rules = { stabilizationWindowSeconds: number; selectPolicy: string; policies: Array<{ type: string; value: number; periodSeconds: number }> };
    const rules = (r: Rules): Rules => ({
        ...r,
        stabilizationWindowSeconds: scaleSeconds(r.stabilizationWindowSeconds, factor, 0),
        policies: r.policies.map((p) => ({ ...p, periodSeconds: scaleSeconds(p.periodSeconds, factor) })),
    });
    return { scaleUp: rules(b.scaleUp as Rules), scaleDown: rules(b.scaleDown as Rules) };
}

function unscaledBehavior(input: Pick<AutoscalingInput, "gpu" | "startupBudgetSeconds">): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior {
    const scaleDownWindow = scaleDownWindowSeconds(input.gpu, input.startupBudgetSeconds);
    if (input.gpu) {
        return {
            scaleUp: {
                stabilizationWindowSeconds: 60,
                selectPolicy: "Max",
                policies: [{ type: "Pods", value: 2, periodSeconds: 120 }],
            },
            scaleDown: {
                stabilizationWindowSeconds: scaleDownWindow,
                selectPolicy: "Min",
                policies: [{ type: "Pods", value: 1, periodSeconds: 300 }],
            },
        };
    }
    return {
        scaleUp: {
            stabilizationWindowSeconds: 0,
            selectPolicy: "Max",
            policies: [
                { type: "Percent", value: 100, periodSeconds: 60 },
                { type: "Pods", value: 4, periodSeconds: 60 },
            ],
        },
        scaleDown: {
            stabilizationWindowSeconds: scaleDownWindow,
            selectPolicy: "Min",
            policies: [{ type: "Percent", value: 50, periodSeconds: 60 }],
        },
    };
}

/** What the ScaledObject scales: the Rollout (its /scale subresource) or the Deployment. */
export interface ScaleTargetRef {
    apiVersion: string;
    kind: string;
    name: string;
}

/** KEDA's annotation that lets a ScaledObject take over an existing HPA of the same name (keda apis/keda/v1alpha1 scaledobject_types.go). */
export const KEDA_TRANSFER_HPA_OWNERSHIP = "scaledobject.keda.sh/transfer-hpa-ownership";

export interface ScaledObjectInput extends AutoscalingInput {
    scaleTargetRef: ScaleTargetRef;
    /** Name of the HPA KEDA makes: the plain HPA's name (the model's), so that dashboards and alerts keep selecting it. */
    hpaName: string;
    /** Namespace and name of the model's pods, for the request-rate query. */
    namespace: string;
    model: string;
    /** Prometheus the request-rate trigger queries (`rollouts.prometheusUrl`); needed when targetRequestsPerSecond is set. */
    prometheusUrl?: string;
    /** `rollouts.timeScale`: compresses the behaviour's windows and the rate window (rehearsals only); default 1. */
    timeScale?: number;
}

/** A KEDA trigger (keda.sh/v1alpha1 ScaleTriggers): metadata values are strings. */
export interface KedaTrigger {
    type: string;
    metricType: "Utilization" | "AverageValue" | "Value";
    metadata: Record<string, string>;
}

export interface ScaledObjectSpec {
    scaleTargetRef: ScaleTargetRef;
    minReplicaCount: number;
    maxReplicaCount: number;
    advanced: {
        horizontalPodAutoscalerConfig: { name: string; behavior: k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior };
    };
    triggers: KedaTrigger[];
}

/**
 * The KEDA ScaledObject of a model: the same target, bounds and behaviour as the plain HPA, and KEDA's HPA named as
 * the plain one (`advanced.horizontalPodAutoscalerConfig.name`; keda controllers/keda/hpa.go getHPAName). Triggers:
 * `cpu` (a Resource metric, Utilization, from metrics-server) and, with a request-rate target, `prometheus` (an
 * External metric `s1-prometheus`, AverageValue: the model's rate ÷ its pods, against targetRequestsPerSecond).
 */
export function scaledObjectSpec(input: ScaledObjectInput): ScaledObjectSpec {
    const timeScale = input.timeScale ?? 1;
    const triggers: KedaTrigger[] = [{ type: "cpu", metricType: "Utilization", metadata: { value: String(input.targetCpuUtilization) } }];
    if (input.targetRequestsPerSecond !== undefined) {
        if (!input.prometheusUrl) {
            throw new Error(`model ${input.model}: targetRequestsPerSecond needs a Prometheus URL (rollouts.prometheusUrl) for KEDA's prometheus trigger`);
        }
        // A compressed window still spans four seconds at least (two scrapes of a compressed scrape interval).
        const window = timeScale === 1 ? RPS_RATE_WINDOW : `${scaleSeconds(120, timeScale, 4)}s`;
        triggers.push({
            type: "prometheus",
            metricType: "AverageValue",
            metadata: {
                serverAddress: input.prometheusUrl,
                query: requestsPerSecondQuery(input.namespace, input.model, window),
                threshold: String(input.targetRequestsPerSecond),
            },
        });
    }
    return {
        scaleTargetRef: input.scaleTargetRef,
        minReplicaCount: input.minReplicas,
        maxReplicaCount: input.maxReplicas,
        advanced: { horizontalPodAutoscalerConfig: { name: input.hpaName, behavior: hpaBehavior(input, timeScale) } },
        triggers,
    };
}
