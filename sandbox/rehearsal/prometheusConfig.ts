/**
 * The rehearsal's Prometheus configuration (pure): the scrape job the Prometheus Operator generates from the
 * model's ServiceMonitor, pointed at the scripted exporter.
 *
 * Ported from prometheus-operator v0.85.0 `pkg/prometheus/promcfg.go` `generateServiceMonitorConfig` (default
 * scrape class, Endpoints role, one shard), for the ServiceMonitor fields model-fleet declares. Discovery is the
 * real thing too: Prometheus' own `kubernetes_sd_configs` (role `endpoints`) against the sandbox's API server, so
 * targets are the endpoints of the Services the monitor selects (the stable and the canary Service), and come and go
 * with the pods Argo creates. Only three rules are appended after the operator's: the target's `instance` is pinned
 * to the pod address it would have had, and the scrape is sent to the exporter at `/pods/<namespace>/<pod>/metrics`
 * (kwok pods run no containers). Every other label is produced by Prometheus' relabeling engine from the operator's
 * rules — the series carry exactly the labels a real scrape would give them.
 */
import type { KubeObject } from "../cluster/kube";

export type RelabelRule = Record<string, unknown>;

/** The operator's sanitizeLabelName: every character outside [a-zA-Z0-9_] becomes `_`. */
export function sanitizeLabelName(name: string): string {
    return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

/** prometheus-operator's `generateRelabelConfig`: CRD RelabelConfig (camelCase) → Prometheus YAML keys. */
export function relabelFromCrd(rc: Record<string, any>): RelabelRule {
    const r: RelabelRule = {};
    if (Array.isArray(rc.sourceLabels) && rc.sourceLabels.length > 0) r.source_labels = rc.sourceLabels;
    if (rc.separator !== undefined) r.separator = rc.separator;
    if (rc.targetLabel) r.target_label = rc.targetLabel;
    if (rc.regex) r.regex = rc.regex;
    if (rc.modulus) r.modulus = rc.modulus;
    if (rc.replacement !== undefined) r.replacement = rc.replacement;
    if (rc.action) r.action = String(rc.action).toLowerCase();
    return r;
}

const SUPPORTED_SPEC = new Set(["selector", "namespaceSelector", "endpoints", "podTargetLabels", "targetLabels", "jobLabel"]);
const SUPPORTED_ENDPOINT = new Set([
    "port",
    "targetPort",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "relabelings",
    "metricRelabelings",
    "honorLabels",
    "filterRunning",
]);

/** ServiceMonitor fields this port does not reproduce (they would change discovery or labels); empty when none. */
export function unsupportedFields(sm: KubeObject): string[] {
    const out: string[] = [];
    for (const k of Object.keys(sm.spec ?? {})) if (!SUPPORTED_SPEC.has(k)) out.push(`spec.${k}`);
    (sm.spec?.endpoints ?? []).forEach((ep: Record<string, unknown>, i: number) => {
        for (const k of Object.keys(ep)) if (!SUPPORTED_ENDPOINT.has(k)) out.push(`spec.endpoints[${i}].${k}`);
    });
    return out;
}

/** Operator's relabel_configs for endpoint `i` of a ServiceMonitor (Endpoints role, default scrape class, 1 shard). */
export function operatorRelabelings(sm: KubeObject, i: number): RelabelRule[] {
    const spec = sm.spec ?? {};
    const ep = spec.endpoints[i] ?? {};
    const rules: RelabelRule[] = [{ source_labels: ["job"], target_label: "__tmp_prometheus_job_name" }];
    const svcLabel = (k: string) => [
        `__meta_kubernetes_service_label_${sanitizeLabelName(k)}`,
        `__meta_kubernetes_service_labelpresent_${sanitizeLabelName(k)}`,
    ];
    const matchLabels: Record<string, string> = spec.selector?.matchLabels ?? {};
    for (const k of Object.keys(matchLabels).sort()) {
        rules.push({ action: "keep", source_labels: svcLabel(k), regex: `(${matchLabels[k]});true` });
    }
    for (const exp of spec.selector?.matchExpressions ?? []) {
        const present = [`__meta_kubernetes_service_labelpresent_${sanitizeLabelName(exp.key)}`];
        switch (exp.operator) {
            case "In":
                rules.push({ action: "keep", source_labels: svcLabel(exp.key), regex: `(${(exp.values ?? []).join("|")});true` });
                break;
            case "NotIn":
                rules.push({ action: "drop", source_labels: svcLabel(exp.key), regex: `(${(exp.values ?? []).join("|")});true` });
                break;
            case "Exists":
                rules.push({ action: "keep", source_labels: present, regex: "true" });
                break;
            case "DoesNotExist":
                rules.push({ action: "drop", source_labels: present, regex: "true" });
                break;
        }
    }
    if (ep.port) {
        rules.push({ action: "keep", source_labels: ["__meta_kubernetes_endpoint_port_name"], regex: ep.port });
    } else if (ep.targetPort !== undefined) {
        if (typeof ep.targetPort === "string")
            rules.push({ action: "keep", source_labels: ["__meta_kubernetes_pod_container_port_name"], regex: ep.targetPort });
        else if (ep.targetPort !== 0) rules.push({ action: "keep", source_labels: ["__meta_kubernetes_pod_container_port_number"], regex: ep.targetPort });
    }
    const target = ["__meta_kubernetes_endpoint_address_target_kind", "__meta_kubernetes_endpoint_address_target_name"];
    rules.push(
        { source_labels: target, separator: ";", regex: "Node;(.*)", replacement: "${1}", target_label: "node" },
        { source_labels: target, separator: ";", regex: "Pod;(.*)", replacement: "${1}", target_label: "pod" },
        { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
        { source_labels: ["__meta_kubernetes_service_name"], target_label: "service" },
        { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
        { source_labels: ["__meta_kubernetes_pod_container_name"], target_label: "container" },
    );
    if (ep.filterRunning !== false) {
        rules.push({ action: "drop", source_labels: ["__meta_kubernetes_pod_phase"], regex: "(Failed|Succeeded)" });
    }
    for (const l of spec.targetLabels ?? []) {
        rules.push({
            source_labels: [`__meta_kubernetes_service_label_${sanitizeLabelName(l)}`],
            target_label: sanitizeLabelName(l),
            regex: "(.+)",
            replacement: "${1}",
        });
    }
    for (const l of spec.podTargetLabels ?? []) {
        rules.push({
            source_labels: [`__meta_kubernetes_pod_label_${sanitizeLabelName(l)}`],
            target_label: sanitizeLabelName(l),
            regex: "(.+)",
            replacement: "${1}",
        });
    }
    rules.push({ source_labels: ["__meta_kubernetes_service_name"], target_label: "job", replacement: "${1}" });
    if (spec.jobLabel) {
        rules.push({
            source_labels: [`__meta_kubernetes_service_label_${sanitizeLabelName(spec.jobLabel)}`],
            target_label: "job",
            regex: "(.+)",
            replacement: "${1}",
        });
    }
    if (ep.port) rules.push({ target_label: "endpoint", replacement: ep.port });
    else if (ep.targetPort !== undefined && String(ep.targetPort) !== "") rules.push({ target_label: "endpoint", replacement: String(ep.targetPort) });
    for (const rc of ep.relabelings ?? []) rules.push(relabelFromCrd(rc));
    // appendShardingRelabelingWithAddress with one shard; the config reloader substitutes $(SHARD) with 0.
    rules.push(
        { source_labels: ["__address__", "__tmp_hash"], target_label: "__tmp_hash", regex: "(.+);", replacement: "$1", action: "replace" },
        { source_labels: ["__tmp_hash"], target_label: "__tmp_hash", modulus: 1, action: "hashmod" },
        { source_labels: ["__tmp_hash", "__tmp_disable_sharding"], regex: "0;|.+;.+", action: "keep" },
    );
    return rules;
}

/** The rehearsal's three rules after the operator's: keep the pod's `instance`, scrape the exporter's per-pod path. */
export function exporterRedirect(exporterAddress: string): RelabelRule[] {
    return [
        // Only when nothing set `instance`: Prometheus would default it to this (pod) address after relabeling.
        { source_labels: ["instance", "__address__"], separator: ";", regex: ";(.+)", target_label: "instance", replacement: "${1}" },
        { target_label: "__address__", replacement: exporterAddress },
        {
            source_labels: ["__meta_kubernetes_namespace", "__meta_kubernetes_pod_name"],
            separator: "/",
            regex: "(.+)/(.+)",
            target_label: "__metrics_path__",
            replacement: "/pods/${1}/${2}/metrics",
        },
        { target_label: "__scheme__", replacement: "http" },
    ];
}

/** Seconds of a Prometheus duration (`30s`, `1m`, `1m30s`, `500ms`). */
export function promSeconds(d: string): number {
    const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(d);
    if (!m || d === "") throw new Error(`unsupported Prometheus duration "${d}"`);
    return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + Number(m[4] ?? 0) / 1000;
}

/** A duration Prometheus accepts, in whole milliseconds (`1500ms`, `3s`). */
export function promDuration(seconds: number): string {
    const ms = Math.round(seconds * 1000);
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Prometheus' default scrape interval and timeout under the operator (when the endpoint sets none). */
export const OPERATOR_DEFAULT_INTERVAL = "30s";
export const OPERATOR_DEFAULT_TIMEOUT = "10s";

/** The ServiceMonitor endpoint's interval/timeout divided by the time scale (at least 1 s; timeout ≤ interval). */
export function compressedScrape(ep: { interval?: string; scrapeTimeout?: string }, timeScale: number): { interval: string; timeout: string } {
    const interval = Math.max(1, promSeconds(ep.interval ?? OPERATOR_DEFAULT_INTERVAL) / timeScale);
    const timeout = Math.min(interval, Math.max(0.5, promSeconds(ep.scrapeTimeout ?? OPERATOR_DEFAULT_TIMEOUT) / timeScale));
    return { interval: promDuration(interval), timeout: promDuration(timeout) };
}

export interface RehearsalPromConfig {
    serviceMonitor: KubeObject;
    /** host:port of the exporter. */
    exporterAddress: string;
    /** The sandbox's admin kubeconfig (Prometheus' Kubernetes discovery reads the API server with it). */
    kubeconfig: string;
    timeScale: number;
}

/** The whole prometheus.yml: one scrape job per ServiceMonitor endpoint. */
export function prometheusConfig(c: RehearsalPromConfig): Record<string, unknown> {
    const sm = c.serviceMonitor;
    const ns = sm.metadata?.namespace ?? "default";
    const bad = unsupportedFields(sm);
    if (bad.length > 0) throw new Error(`ServiceMonitor ${ns}/${sm.metadata?.name}: the rehearsal does not reproduce ${bad.join(", ")}`);
    const names: string[] = sm.spec?.namespaceSelector?.any ? [] : (sm.spec?.namespaceSelector?.matchNames ?? [ns]);
    const jobs = (sm.spec?.endpoints ?? []).map((ep: Record<string, any>, i: number) => {
        const scrape = compressedScrape(ep, c.timeScale);
        const job: Record<string, unknown> = {
            job_name: `serviceMonitor/${ns}/${sm.metadata?.name}/${i}`,
            honor_labels: ep.honorLabels ?? false,
            kubernetes_sd_configs: [{ role: "endpoints", ...(names.length > 0 ? { namespaces: { names } } : {}), kubeconfig_file: c.kubeconfig }],
            scrape_interval: scrape.interval,
            scrape_timeout: scrape.timeout,
        };
        if (ep.path) job.metrics_path = ep.path;
        if (ep.scheme) job.scheme = ep.scheme;
        job.relabel_configs = [...operatorRelabelings(sm, i), ...exporterRedirect(c.exporterAddress)];
        if (Array.isArray(ep.metricRelabelings) && ep.metricRelabelings.length > 0) job.metric_relabel_configs = ep.metricRelabelings.map(relabelFromCrd);
        return job;
    });
    const first = jobs[0] as { scrape_interval: string } | undefined;
    return {
        global: { scrape_interval: first?.scrape_interval ?? "15s", evaluation_interval: first?.scrape_interval ?? "15s" },
        scrape_configs: jobs,
    };
}
