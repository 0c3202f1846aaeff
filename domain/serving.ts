/** Facts of a model's serving objects that the pod template, its Services and the canary's objects all name. */

/** Name of the container port (and of the Service port): probes, Services, ServiceMonitor and Ingress refer to it. */
export const PORT_NAME = "http";
