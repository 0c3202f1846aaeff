/** Facts of a model's serving objects that the pod template, its Services and the canary's objects all name. */

/** Name of the container port (and of the Service port): probes, Services, ServiceMonitor and Ingress refer to it. */
export const PORT_NAME = "http";

/**
 * The model server's inference paths for model `model` (the server's MODEL_NAME): the only paths the Ingress routes
 * from outside the cluster. The server's own `/predict`, and the Open Inference Protocol v2 model endpoints
 * (`/v2/models/<name>/infer`, its readiness and metadata; https://github.com/kserve/open-inference-protocol,
 * specification/protocol/inference_rest.md). `/feedback` decides the canary's quality gate and `/metrics` is for
 * Prometheus, so neither is exposed; in-cluster callers reach them through the model's Service.
 */
export function inferencePaths(model: string): string[] {
    return ["/predict", `/v2/models/${model}/infer`, `/v2/models/${model}/ready`, `/v2/models/${model}`];
}

/**
 * The `handler` label values of inference requests in the server's metrics (images/model-server/METRICS.md): the
 * canary gates, alerts and dashboards count both protocols. v2 requests are `/v2/infer` (one model per server, so the
 * model name is not in the label).
 */
export const INFERENCE_HANDLERS: readonly string[] = ["/predict", "/v2/infer"];

/** A PromQL regex matching exactly the inference handlers (Prometheus anchors `=~` regexes; `/` is not special). */
export const INFERENCE_HANDLER_REGEX = INFERENCE_HANDLERS.join("|");
