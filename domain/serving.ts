/** Facts of a model's serving objects that the pod template, its Services and the canary's objects all name. */

/** Name of the container port (and of the Service port): probes, Services, ServiceMonitor and Ingress refer to it. */
export const PORT_NAME = "http";

/**
 * The model server's inference paths: the only paths the Ingress routes from outside the cluster. `/feedback` decides
 * the canary's quality gate and `/metrics` is for Prometheus, so neither is exposed; in-cluster callers reach them
 * through the model's Service.
 */
export const INFERENCE_PATHS: readonly string[] = ["/predict"];
