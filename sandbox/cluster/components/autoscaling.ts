/**
 * What the models' HPAs read, as sandbox components (pure): metrics-server v0.8.0 scraping kwok's emulated kubelet
 * resource metrics (flags as kwokctl's pkg/kwokctl/components/metrics_server.go sets them), and KEDA v2.21.0's
 * operator and metrics apiserver out of cluster (docs/sandbox.md#autoscaling). Plus the API objects the aggregator
 * needs to reach them: an APIService per group, whose Service is an ExternalName to 127.0.0.1, as kwokctl rewrites
 * metrics-server's (kwok pkg/kwokctl/runtime/binary manifest_converter.go); the aggregator resolves it to
 * https://127.0.0.1:<port> (k8s.io/apiserver pkg/util/proxy ResolveCluster). `insecureSkipTLSVerify`, as both
 * upstream APIServices ship (metrics-server manifests/base/apiservice.yaml, keda config/metrics-server/api_service.yaml).
 */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface AutoscalingPorts {
    metricsServer: number;
    kedaMetrics: number;
    kedaHealth: number;
    /** The operator's gRPC metrics service, which the metrics apiserver asks (mTLS). */
    kedaGrpc: number;
    kedaAdapter: number;
    kedaAdapterMetrics: number;
}

export const KEDA_NAMESPACE = "keda";

export interface AutoscalingComponentsConfig {
    kubeconfig: string;
    /** KEDA's two only for a sandbox that runs KEDA (sandbox/stacks.ts `autoscalesThroughKeda`); metrics-server always. */
    binaries: { metricsServer: string; keda?: string; kedaAdapter?: string };
    ports: AutoscalingPorts;
    /** kwok's server port: the kubelet port metrics-server scrapes (`/metrics/nodes/<node>/metrics/resource`). */
    kwokPort: number;
    /** metrics-server's self-signed serving certificates (it writes them). */
    metricsServerCertDir: string;
    /** ca.crt, tls.crt, tls.key: the KEDA gRPC mTLS pair (pkg/metricsservice/utils/tls.go), also the adapter's serving pair. */
    kedaCertDir: string;
    extraArgs?: Partial<Record<"metrics-server" | "keda-operator" | "keda-adapter", readonly string[]>>;
    address?: CommonComponentConfig["address"];
}

/**
 * KEDA reads its namespace from the pod's service-account file unless KEDA_CLUSTER_OBJECT_NAMESPACE is set
 * (pkg/util/env_resolver.go), and its controller-runtime client takes KUBECONFIG (Makefile `run`).
 */
function kedaEnv(kubeconfig: string): Record<string, string> {
    return { KUBECONFIG: kubeconfig, KEDA_CLUSTER_OBJECT_NAMESPACE: KEDA_NAMESPACE, POD_NAMESPACE: KEDA_NAMESPACE, WATCH_NAMESPACE: "" };
}

export function buildAutoscalingComponents(conf: AutoscalingComponentsConfig): Component[] {
    const address = conf.address ?? LOOPBACK;
    const kc = conf.kubeconfig;
    const p = conf.ports;
    const extra = conf.extraArgs ?? {};
    const delegated = [`--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`];
    const metricsServer: Component = {
        name: "metrics-server",
        command: conf.binaries.metricsServer,
        args: withExtraArgs(
            [
                `--kubeconfig=${kc}`,
                ...delegated,
                `--bind-address=${address}`,
                `--secure-port=${p.metricsServer}`,
                `--cert-dir=${conf.metricsServerCertDir}`,
                // kwok's nodes: InternalIP is --node-ip (127.0.0.1), the kubelet port kwok's own server; its HTTPS side
                // presents httptest's self-signed certificate.
                "--kubelet-preferred-address-types=InternalIP",
                `--kubelet-port=${conf.kwokPort}`,
                "--kubelet-insecure-tls",
                "--metric-resolution=15s",
            ],
            extra["metrics-server"],
        ),
        // Its serving certificate is self-signed (--cert-dir); /livez is always allowed, anonymous included.
        health: { url: `https://${address}:${p.metricsServer}/livez`, tls: "insecure", accept: "ok" },
        timeoutSeconds: 90,
    };
    const { keda, kedaAdapter } = conf.binaries;
    if (keda === undefined || kedaAdapter === undefined) return [metricsServer];
    return [
        metricsServer,
        {
            name: "keda-operator",
            command: keda,
            args: withExtraArgs(
                [
                    `--metrics-bind-address=${address}:${p.kedaMetrics}`,
                    `--health-probe-bind-address=${address}:${p.kedaHealth}`,
                    `--metrics-service-bind-address=${address}:${p.kedaGrpc}`,
                    `--cert-dir=${conf.kedaCertDir}`,
                    `--ca-dir=${conf.kedaCertDir}`,
                    "--leader-elect=false",
                    // Cert rotation off (the default): the pair is the sandbox's; nothing patches the APIService or webhooks.
                    "--enable-cert-rotation=false",
                    "--enable-webhook-patching=false",
                    "--enable-apiservice-patching=false",
                ],
                extra["keda-operator"],
            ),
            env: kedaEnv(kc),
            health: { url: `http://${address}:${p.kedaHealth}/readyz`, tls: "none", accept: "ok" },
            timeoutSeconds: 90,
        },
        {
            name: "keda-adapter",
            command: kedaAdapter,
            args: withExtraArgs(
                [
                    // Without it the adapter's listers take the in-cluster config (custom-metrics-apiserver pkg/cmd/builder.go).
                    `--lister-kubeconfig=${kc}`,
                    ...delegated,
                    `--bind-address=${address}`,
                    `--secure-port=${p.kedaAdapter}`,
                    `--tls-cert-file=${conf.kedaCertDir}/tls.crt`,
                    `--tls-private-key-file=${conf.kedaCertDir}/tls.key`,
                    `--cert-dir=${conf.kedaCertDir}`,
                    `--metrics-service-address=${address}:${p.kedaGrpc}`,
                    // Its plain /metrics listens on all interfaces at this port (default 8080).
                    `--port=${p.kedaAdapterMetrics}`,
                ],
                extra["keda-adapter"],
            ),
            env: kedaEnv(kc),
            health: { url: `https://${address}:${p.kedaAdapter}/readyz`, tls: "admin", accept: "ok" },
            timeoutSeconds: 120,
        },
    ];
}

/** A plain Kubernetes object (the shape kube.ts applies). */
export interface ApiObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string> };
    spec?: Record<string, unknown>;
}

function aggregated(group: string, service: { namespace: string; name: string; port: number }, address: string): ApiObject[] {
    return [
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: service.name, namespace: service.namespace },
            spec: { type: "ExternalName", externalName: address },
        },
        {
            apiVersion: "apiregistration.k8s.io/v1",
            kind: "APIService",
            metadata: { name: `v1beta1.${group}` },
            spec: {
                group,
                version: "v1beta1",
                service: { namespace: service.namespace, name: service.name, port: service.port },
                insecureSkipTLSVerify: true,
                groupPriorityMinimum: 100,
                versionPriority: 100,
            },
        },
    ];
}

/**
 * The ExternalName Service and APIService of `metrics.k8s.io` (metrics-server) and, for a sandbox that runs KEDA,
 * KEDA's namespace and those of `external.metrics.k8s.io`. Never an APIService without its server: an unavailable
 * aggregated group fails API discovery for every client (`unable to retrieve the complete list of server APIs`).
 */
export function autoscalingApiObjects(ports: AutoscalingPorts, opts: { keda: boolean; address?: string }): ApiObject[] {
    const address = opts.address ?? LOOPBACK;
    const metrics = aggregated("metrics.k8s.io", { namespace: "kube-system", name: "metrics-server", port: ports.metricsServer }, address);
    if (!opts.keda) return metrics;
    return [
        ...metrics,
        { apiVersion: "v1", kind: "Namespace", metadata: { name: KEDA_NAMESPACE } },
        ...aggregated("external.metrics.k8s.io", { namespace: KEDA_NAMESPACE, name: "keda-metrics-apiserver", port: ports.kedaAdapter }, address),
    ];
}
