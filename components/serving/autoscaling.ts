/**
 * HorizontalPodAutoscaler (autoscaling/v2) spec pieces for a model (pure).
 */
import * as k8s from "@pulumi/kubernetes";

/**
 * Pods metric the HPA reads for request load, as prometheus-adapter exposes it on the custom metrics API
 * (`custom.metrics.k8s.io/v1beta1`, `pods/http_requests_per_second`). See `prometheusAdapterRule()`.
 */
export const RPS_METRIC = "http_requests_per_second";
/** The model server's request counter (images/model-server, labelled by status `code`) the metric is computed from. */
export const RPS_SOURCE_COUNTER = "model_server_requests_total";
/** rate() window of the adapter rule: at least two 30 s scrapes. */
export const RPS_RATE_WINDOW = "2m";

/** One prometheus-adapter `rules.custom` entry (chart prometheus-community/prometheus-adapter, values `rules.custom`). */
export interface PrometheusAdapterRule {
    seriesQuery: string;
    resources: { overrides: Record<string, { resource: string }> };
    name: { matches: string; as: string };
    metricsQuery: string;
}

/**
 * The prometheus-adapter rule the HPA's Pods metric expects: per-pod request rate of the server's counter,
 * associated with the pod and namespace through the `pod` and `namespace` series labels (both the annotation
 * scrape job and a ServiceMonitor set them), renamed to RPS_METRIC.
 */
export function prometheusAdapterRule(): PrometheusAdapterRule {
    return {
        seriesQuery: `${RPS_SOURCE_COUNTER}{namespace!="",pod!=""}`,
        resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
        name: { matches: `^${RPS_SOURCE_COUNTER}$`, as: RPS_METRIC },
        metricsQuery: `sum(rate(<<.Series>>{<<.LabelMatchers>>}[${RPS_RATE_WINDOW}])) by (<<.GroupBy>>)`,
    };
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
    /** Average requests per second per pod; adds the Pods metric when set. */
    targetRequestsPerSecond?: number;
    /** GPU pods are expensive to add and slow to start: damp scale-down and pace scale-up. */
    gpu: boolean;
    /** Startup budget: a GPU model never scales down faster than a replacement pod could come back. */
    startupBudgetSeconds: number;
}

/**
 * A number as a Kubernetes quantity: integers as is, fractions in milli-units (2.5 → "2500m"), rounded up to the
 * next milli-unit so the target is never below the configured value.
 */
export function toQuantity(value: number): string {
    if (!Number.isFinite(value) || value < 0) {
        throw new Error(`cannot express ${value} as a quantity`);
    }
    if (Number.isInteger(value)) {
        return String(value);
    }
    return `${Math.ceil(Math.round(value * 1e6) / 1e3)}m`;
}

export function hpaMetrics(input: AutoscalingInput): k8s.types.input.autoscaling.v2.MetricSpec[] {
    const metrics: k8s.types.input.autoscaling.v2.MetricSpec[] = [
        {
            type: "Resource",
            resource: { name: "cpu", target: { type: "Utilization", averageUtilization: input.targetCpuUtilization } },
        },
    ];
    if (input.targetRequestsPerSecond !== undefined) {
        metrics.push({
            type: "Pods",
            pods: {
                metric: { name: RPS_METRIC },
                target: { type: "AverageValue", averageValue: toQuantity(input.targetRequestsPerSecond) },
            },
        });
    }
    return metrics;
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
export function hpaBehavior(input: Pick<AutoscalingInput, "gpu" | "startupBudgetSeconds">): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior {
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
