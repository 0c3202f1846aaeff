/**
 * Prometheus rule groups per stack (pure): recording rules of every model's SLIs by version and the alerts that read
 * them; the dashboard queries the same recorded names (`SLI`). Metric sources (model server METRICS.md,
 * kube-state-metrics, Argo Rollouts v1.9.0 `controller/metrics`, DCGM exporter): docs/observability.md.
 */
import type { ModelConfig } from "../../config/schema";
import { INFERENCE_HANDLER_REGEX } from "../../domain/serving";

/** Recorded SLI names: the one list rules and dashboard share. Labels: namespace, app_kubernetes_io_name, app_kubernetes_io_version. */
export const SLI = {
    requestRate: "model:requests:rate5m",
    successRatio: "model:success_ratio:rate5m",
    errorRatio: "model:error_ratio:rate5m",
    clientErrorRatio: "model:client_error_ratio:rate5m",
    latencyP50: "model:request_duration_seconds:p50_rate5m",
    latencyP99: "model:request_duration_seconds:p99_rate5m",
    accuracy: "model:accuracy:ratio_rate1h",
    feedbackSamples: "model:feedback:increase1h",
} as const;

/**
 * Recorded lineage of the running versions (the dashboard's version tree): per version and its model card's lineage
 * labels (`LINEAGE_LABELS`, from model_server_model_lineage_info), the number of pods that have loaded the model.
 */
export const LINEAGE = { pods: "model:lineage:pods" } as const;
/** Labels of model_server_model_lineage_info the lineage record keeps (images/model-server/METRICS.md). */
export const LINEAGE_LABELS = ["parent", "dataset", "dataset_version", "git_sha", "training_spec", "card"] as const;

/** Label names as the scrape writes them (components/rollouts/analysis.ts DEFAULT_SERIES_LABELS). */
export const L = { ns: "namespace", model: "app_kubernetes_io_name", version: "app_kubernetes_io_version", hash: "rollouts_pod_template_hash" } as const;
const BY_VERSION = `${L.ns}, ${L.model}, ${L.version}`;
const BY_MODEL = `${L.ns}, ${L.model}`;
const RATE = "5m";
const FEEDBACK = "1h";
/** The model server's container name (components/serving/podTemplate.ts CONTAINER_NAME). */
export const CONTAINER = "model-server";

/** Thresholds of one model, resolved from its config (observability override → canary analysis → fleet default). */
export interface Thresholds {
    p99LatencyMs: number;
    successRate: number;
    maxAccuracyDrop?: number;
    accuracyFloor?: number;
    minFeedbackSamples: number;
    maxRestarts: number;
    gpuUtilLowPercent: number;
    gpuMemoryHighRatio: number;
    /** Sustained window of the SLI alerts (`for:`). */
    for: string;
}

/** Fleet-wide defaults (config `observability.defaults`; the schema gives these same values). */
export const DEFAULT_THRESHOLDS: Thresholds = {
    p99LatencyMs: 1000,
    successRate: 0.99,
    minFeedbackSamples: 100,
    maxRestarts: 3,
    gpuUtilLowPercent: 20,
    gpuMemoryHighRatio: 0.95,
    for: "10m",
};

export type ThresholdOverrides = Partial<Thresholds>;

export interface ObservedModel {
    name: string;
    namespace: string;
    /** Argo Rollout (true) or Deployment (false): decides which replica metric and whether the canary alert exists. */
    canary: boolean;
    gpu?: { pool: string; profile?: string };
    thresholds: Thresholds;
}

/** A model's thresholds: its `observability` override, else its canary analysis, else the fleet defaults. */
export function resolveThresholds(
    model: Pick<ModelConfig, "canary"> & { observability?: ThresholdOverrides },
    defaults: Thresholds = DEFAULT_THRESHOLDS,
): Thresholds {
    const a = model.canary?.analysis;
    const o = model.observability ?? {};
    return {
        ...defaults,
        p99LatencyMs: o.p99LatencyMs ?? a?.p99LatencyMs ?? defaults.p99LatencyMs,
        successRate: o.successRate ?? a?.successRate ?? defaults.successRate,
        maxAccuracyDrop: o.maxAccuracyDrop ?? a?.maxAccuracyDrop ?? defaults.maxAccuracyDrop,
        accuracyFloor: o.accuracyFloor ?? defaults.accuracyFloor,
        minFeedbackSamples: o.minFeedbackSamples ?? a?.minFeedbackSamples ?? defaults.minFeedbackSamples,
        maxRestarts: o.maxRestarts ?? defaults.maxRestarts,
        gpuUtilLowPercent: o.gpuUtilLowPercent ?? defaults.gpuUtilLowPercent,
        gpuMemoryHighRatio: o.gpuMemoryHighRatio ?? defaults.gpuMemoryHighRatio,
        for: o.for ?? defaults.for,
    };
}

export interface RecordingRule {
    record: string;
    expr: string;
    /** `model: <name>`: one record name per model would otherwise be a duplicate rule to `promtool check rules`. */
    labels: { model: string };
}
export interface AlertingRule {
    alert: string;
    expr: string;
    for?: string;
    labels: Record<string, string>;
    annotations: { summary: string; description: string; runbook_url: string };
}
export type Rule = RecordingRule | AlertingRule;
export interface RuleGroup {
    name: string;
    interval?: string;
    rules: Rule[];
}

/** Alert → its docs/runbook.md heading anchor. */
export const RUNBOOK_ANCHORS = {
    ModelLatencyP99High: "alert-modellatencyp99high",
    ModelErrorRatioHigh: "alert-modelerrorratiohigh",
    ModelAccuracyBelowFloor: "alert-modelaccuracybelowfloor",
    ModelAccuracyDropped: "alert-modelaccuracydropped",
    ModelNoTraffic: "alert-modelnotraffic",
    ModelPodRestarting: "alert-modelpodrestarting",
    ModelPodOOMKilled: "alert-modelpodoomkilled",
    ModelCanaryAborted: "alert-modelcanaryaborted",
    ModelHpaAtMaxReplicas: "alert-modelhpaatmaxreplicas",
    ModelGpuUnderutilised: "alert-modelgpuunderutilised",
    ModelGpuMemoryHigh: "alert-modelgpumemoryhigh",
} as const;
export type AlertName = keyof typeof RUNBOOK_ANCHORS;

export interface RuleOptions {
    /** Base of runbook links, e.g. `https://github.com/acme/model-fleet/blob/main/docs/runbook.md` (default: the repo-relative path). */
    runbookBase?: string;
    /** Whether alerting rules are emitted (recording rules always are: the dashboard reads them). */
    alerts?: boolean;
}

/** `1 − x` rounded to 9 decimals, so `1 − 0.99` is 0.01 and not 0.010000000000000009. */
export function complement(x: number): number {
    return Number((1 - x).toFixed(9));
}

const q = (labels: Record<string, string>, extra = ""): string =>
    `{${[...Object.entries(labels).map(([k, v]) => `${k}="${v}"`), ...(extra ? [extra] : [])].join(",")}}`;

/**
 * The rollout's namespace on Argo Rollouts' controller metrics. The controller labels `rollout_info` and
 * `rollout_info_replicas_available` with `namespace` (argo-rollouts v1.9.0 controller/metrics/prommetrics.go), and
 * its chart's ServiceMonitor does not honour the target's labels, so Prometheus renames the metric's `namespace` to
 * `exported_namespace` and sets `namespace` to the controller's own (Prometheus `honor_labels: false`,
 * https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config). Matching the rollout's
 * namespace there keeps a same-named rollout of another namespace out of the alert.
 */
export const ARGO_NAMESPACE = "exported_namespace";

/** Selector of one model's Rollout on the Argo Rollouts controller's metrics: its namespace and name. */
function argoRollout(m: { name: string; namespace: string }, extra = ""): string {
    return q({ [ARGO_NAMESPACE]: m.namespace, name: m.name }, extra);
}

/** Seconds of a `<n>s|m|h` duration. */
function seconds(d: string): number {
    const m = /^(\d+)(s|m|h)$/.exec(d);
    if (!m) throw new Error(`unsupported duration "${d}"`);
    return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

/** The recording rules of one model. */
export function recordingRules(m: ObservedModel): RecordingRule[] {
    const sel = { [L.ns]: m.namespace, [L.model]: m.name };
    // Inference requests of both protocols: /predict and the Open Inference Protocol's infer (handler "/v2/infer").
    const inference = `handler=~"${INFERENCE_HANDLER_REGEX}"`;
    const predict = q(sel, inference);
    const rate = (matchers: string) => `sum by (${BY_VERSION}) (rate(model_server_requests_total${matchers}[${RATE}]))`;
    const share = (part: string) => `(${rate(q(sel, `${inference},${part}`))} or 0 * ${rate(predict)}) / ${rate(predict)}`;
    const quantile = (phi: string) =>
        `histogram_quantile(${phi}, sum by (${BY_VERSION}, le) (rate(model_server_request_duration_seconds_bucket${predict}[${RATE}])))`;
    const fb = (extra = "") => q(sel, extra);
    let accuracy: string;
    let samples: string;
    if (m.canary) {
        // served_by is the pod-template-hash of the ReplicaSet that served the prediction; model_server_model_info
        // (scraped with that hash and the version label) maps it to a version.
        const byHash = `${BY_MODEL}, served_by`;
        const frate = (extra: string) => `sum by (${byHash}) (rate(model_server_feedback_total${fb(extra)}[${FEEDBACK}]))`;
        const ratio = `(${frate(`outcome="correct"`)} or 0 * ${frate("")}) / ${frate("")}`;
        const toVersion = (e: string, agg: string) =>
            `${agg} by (${BY_VERSION}) (label_replace(${e}, "${L.hash}", "$1", "served_by", "(.*)")` +
            ` * on (${BY_MODEL}, ${L.hash}) group_left (${L.version}) max by (${BY_MODEL}, ${L.hash}, ${L.version}) (model_server_model_info${q(sel)}))`;
        accuracy = toVersion(`(${ratio})`, "max");
        samples = toVersion(`sum by (${byHash}) (increase(model_server_feedback_total${fb()}[${FEEDBACK}]))`, "sum");
    } else {
        // A plain Deployment has no pod-template-hash (served_by is ""): the scoring pod's version stands in for the
        // serving version (mixed only while a rolling update runs).
        const frate = (extra: string) => `sum by (${BY_VERSION}) (rate(model_server_feedback_total${fb(extra)}[${FEEDBACK}]))`;
        accuracy = `(${frate(`outcome="correct"`)} or 0 * ${frate("")}) / ${frate("")}`;
        samples = `sum by (${BY_VERSION}) (increase(model_server_feedback_total${fb()}[${FEEDBACK}]))`;
    }
    const labels = { model: m.name };
    return [
        { record: SLI.requestRate, expr: rate(predict), labels },
        { record: SLI.successRatio, expr: share(`code!~"5.."`), labels },
        { record: SLI.errorRatio, expr: share(`code=~"5.."`), labels },
        { record: SLI.clientErrorRatio, expr: share(`code=~"4.."`), labels },
        { record: SLI.latencyP50, expr: quantile("0.5"), labels },
        { record: SLI.latencyP99, expr: quantile("0.99"), labels },
        { record: SLI.accuracy, expr: accuracy, labels },
        { record: SLI.feedbackSamples, expr: samples, labels },
        { record: LINEAGE.pods, expr: lineagePods(m), labels },
    ];
}

/**
 * Pods serving each version, with the lineage from its card: model_server_model_lineage_info of the pods whose
 * model is loaded (model_server_model_loaded == 1), counted by version and lineage labels. The server's own
 * `model`/`version` labels are dropped: the scrape's pod labels name the version, as in every SLI.
 */
export function lineagePods(m: Pick<ObservedModel, "name" | "namespace">): string {
    const sel = q({ [L.ns]: m.namespace, [L.model]: m.name });
    return (
        `count by (${BY_VERSION}, ${LINEAGE_LABELS.join(", ")}) (model_server_model_lineage_info${sel}` +
        ` and on (namespace, pod) (model_server_model_loaded${sel} == 1))`
    );
}

/** Pod name pattern of the model's workload pods: `<name>-<replicaset hash>-<5 chars>`. */
export function podPattern(model: string): string {
    return `${model}-[a-z0-9]+-[a-z0-9]{5}`;
}

/** The alerting rules of one model; thresholds from `m.thresholds`, never constants. */
export function alertingRules(m: ObservedModel, opts: RuleOptions = {}): AlertingRule[] {
    const t = m.thresholds;
    const base = opts.runbookBase ?? "docs/runbook.md";
    const sel = q({ [L.ns]: m.namespace, [L.model]: m.name });
    const who = `{{ $labels.${L.model} }} {{ $labels.${L.version} }}`;
    const alert = (name: AlertName, severity: string, expr: string, forDur: string | undefined, summary: string, description: string): AlertingRule => ({
        alert: name,
        expr,
        ...(forDur ? { for: forDur } : {}),
        labels: { severity, model: m.name },
        annotations: { summary, description, runbook_url: `${base}#${RUNBOOK_ANCHORS[name]}` },
    });
    const pods = q({ namespace: m.namespace, container: CONTAINER }, `pod=~"${podPattern(m.name)}"`);
    const out: AlertingRule[] = [
        alert(
            "ModelLatencyP99High",
            "warning",
            `${SLI.latencyP99}${sel} * 1000 > ${t.p99LatencyMs}`,
            t.for,
            `${who}: p99 latency above ${t.p99LatencyMs} ms`,
            `p99 latency of inference requests is {{ $value | humanize }} ms, above ${t.p99LatencyMs} ms for ${t.for}.`,
        ),
        alert(
            "ModelErrorRatioHigh",
            "critical",
            `${SLI.errorRatio}${sel} > ${complement(t.successRate)}`,
            t.for,
            `${who}: 5xx ratio above ${complement(t.successRate)}`,
            `{{ $value | humanizePercentage }} of inference requests fail with 5xx (allowed: 1 − successRate ${t.successRate}).`,
        ),
    ];
    const enough = `and on (${BY_VERSION}) ${SLI.feedbackSamples}${sel} >= ${t.minFeedbackSamples}`;
    if (t.accuracyFloor !== undefined) {
        out.push(
            alert(
                "ModelAccuracyBelowFloor",
                "critical",
                `${SLI.accuracy}${sel} < ${t.accuracyFloor} ${enough}`,
                t.for,
                `${who}: accuracy below ${t.accuracyFloor}`,
                `Rolling accuracy from labelled feedback is {{ $value | humanizePercentage }}, below the floor ${t.accuracyFloor} (≥ ${t.minFeedbackSamples} samples in ${FEEDBACK}).`,
            ),
        );
    }
    if (t.maxAccuracyDrop !== undefined) {
        // Baseline: the best accuracy in the last day of any version of the model that serves no more (the
        // previous version). While two versions serve (a canary), the canary's own quality gate decides instead.
        const baseline = `max by (${BY_MODEL}) (max_over_time(${SLI.accuracy}${sel}[1d]) unless on (${BY_VERSION}) ${SLI.accuracy}${sel})`;
        out.push(
            alert(
                "ModelAccuracyDropped",
                "critical",
                `${SLI.accuracy}${sel} < on (${BY_MODEL}) group_left () (${baseline} - ${t.maxAccuracyDrop}) ${enough}`,
                t.for,
                `${who}: accuracy more than ${t.maxAccuracyDrop} below the previous version`,
                `Rolling accuracy {{ $value | humanizePercentage }} is more than maxAccuracyDrop ${t.maxAccuracyDrop} below the previous version's best of the last day.`,
            ),
        );
    }
    const available = m.canary
        ? `sum by (${ARGO_NAMESPACE}, name) (rollout_info_replicas_available${argoRollout(m)}) > 0`
        : `sum by (namespace, deployment) (kube_deployment_status_replicas_available{namespace="${m.namespace}",deployment="${m.name}"}) > 0`;
    out.push(
        alert(
            "ModelNoTraffic",
            "warning",
            `${available} unless on () sum(${SLI.requestRate}${sel}) > 0`,
            "15m",
            `${m.name}: replicas are up but serve no inference traffic`,
            `${m.canary ? "rollout_info_replicas_available (Argo Rollouts)" : "kube_deployment_status_replicas_available (kube-state-metrics)"} is above 0 and no inference request (/predict or v2 infer) arrived for 15m.`,
        ),
        alert(
            "ModelPodRestarting",
            "warning",
            `sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total${pods}[30m])) > ${t.maxRestarts}`,
            undefined,
            `${m.name}: pod {{ $labels.pod }} restarted more than ${t.maxRestarts} times in 30m`,
            `kube_pod_container_status_restarts_total rose by {{ $value }} in 30m (allowed: ${t.maxRestarts}).`,
        ),
        alert(
            "ModelPodOOMKilled",
            "warning",
            `max by (namespace, pod) (kube_pod_container_status_last_terminated_reason${q({ namespace: m.namespace, container: CONTAINER, reason: "OOMKilled" }, `pod=~"${podPattern(m.name)}"`)}) == 1` +
                ` and on (namespace, pod) sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total${pods}[30m])) > 0`,
            undefined,
            `${m.name}: pod {{ $labels.pod }} was OOM-killed`,
            `The model-server container was last terminated with reason OOMKilled and restarted in the last 30m: raise resources.memory or lower MAX_BATCH_SIZE.`,
        ),
    );
    if (m.canary) {
        out.push(
            alert(
                "ModelCanaryAborted",
                "critical",
                `max by (${ARGO_NAMESPACE}, name) (rollout_info${argoRollout(m, `phase="Abort"`)}) == 1`,
                undefined,
                `${m.name}: canary aborted`,
                `Argo Rollouts reports rollout ${m.name} in phase Abort (rollout_info): a gate failed and stable serves all traffic.`,
            ),
        );
    }
    const hpa = q({ namespace: m.namespace, horizontalpodautoscaler: m.name });
    out.push(
        alert(
            "ModelHpaAtMaxReplicas",
            "warning",
            `kube_horizontalpodautoscaler_status_current_replicas${hpa} >= on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas${hpa}`,
            "30m",
            `${m.name}: HPA pinned at maxReplicas`,
            `The HPA has run at its maxReplicas ({{ $value }}) for 30m: demand exceeds the declared capacity.`,
        ),
    );
    if (m.gpu) {
        const gpuSel = q({ namespace: m.namespace }, `pod=~"${podPattern(m.name)}"`);
        out.push(
            alert(
                "ModelGpuUnderutilised",
                "info",
                `avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL${gpuSel}) < ${t.gpuUtilLowPercent}`,
                "1h",
                `${m.name}: GPU of {{ $labels.pod }} under ${t.gpuUtilLowPercent}% busy (pool ${m.gpu.pool}${m.gpu.profile ? `, ${m.gpu.profile}` : ""})`,
                `DCGM_FI_DEV_GPU_UTIL averaged {{ $value }}% for 1h: a smaller MIG profile or fewer replicas would do.`,
            ),
            alert(
                "ModelGpuMemoryHigh",
                "warning",
                `max by (namespace, pod) (DCGM_FI_DEV_FB_USED${gpuSel} / (DCGM_FI_DEV_FB_USED${gpuSel} + DCGM_FI_DEV_FB_FREE${gpuSel})) > ${t.gpuMemoryHighRatio}`,
                "30m",
                `${m.name}: GPU framebuffer of {{ $labels.pod }} above ${t.gpuMemoryHighRatio * 100}% used (pool ${m.gpu.pool}${m.gpu.profile ? `, ${m.gpu.profile}` : ""})`,
                `DCGM_FI_DEV_FB_USED / (FB_USED + FB_FREE) is {{ $value | humanizePercentage }} for 30m: a leak, or a profile too small.`,
            ),
        );
    }
    return out;
}

/** The rule groups of a stack: per model one group of recording rules and (alerts on) one of alerts. */
export function ruleGroups(models: ObservedModel[], opts: RuleOptions = {}): RuleGroup[] {
    return models.flatMap((m) => [
        { name: `model-fleet.${m.name}.slis`, interval: "1m", rules: recordingRules(m) },
        ...(opts.alerts === false ? [] : [{ name: `model-fleet.${m.name}.alerts`, rules: alertingRules(m, opts) }]),
    ]);
}

/** Every alert name the generator can emit. */
export const ALERT_NAMES = Object.keys(RUNBOOK_ANCHORS) as AlertName[];

export { seconds as durationSecondsOf };
