/**
 * The fleet's Grafana dashboard as code (pure): every SLI panel queries a recorded name from rules.ts (`SLI`), the
 * rest query the named exporters (Argo Rollouts controller, kube-state-metrics, DCGM exporter) directly.
 * Layout (24 columns): docs/observability.md.
 */
import { ARGO_NAMESPACE, L, LINEAGE, SLI } from "./rules";

export interface DashboardOptions {
    /** Dashboard uid (≤ 40 characters). */
    uid: string;
    title: string;
    /** Grafana datasource uid of the Prometheus the rules are loaded into. */
    datasource: string;
    /** Namespace of the model workloads (template variable default). */
    namespace: string;
    /** GPU node label kube-state-metrics exports as `kube_node_labels{label_…}` (needs its --metric-labels-allowlist). */
    poolLabel: string;
}

export interface Panel {
    id: number;
    type: string;
    title: string;
    description?: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { type: string; uid: string };
    targets?: Array<{
        refId: string;
        expr: string;
        legendFormat?: string;
        /** Table panels: an instant query, one row per series. */
        format?: "table";
        instant?: boolean;
        datasource: { type: string; uid: string };
    }>;
    fieldConfig?: unknown;
    transformations?: Array<{ id: string; options: Record<string, unknown> }>;
    collapsed?: boolean;
    panels?: Panel[];
}

/** Grafana's dashboard JSON model version this generator writes. */
export const SCHEMA_VERSION = 39;

/** The selector every SLI panel uses: the model/version template variables. */
export const VAR_SEL = `{${L.ns}="$namespace",${L.model}=~"$model",${L.version}=~"$version"}`;

/** How far back the version tree looks for a parent version's own lineage (its parent): Prometheus' default retention is 15d. */
export const LINEAGE_LOOKBACK = "14d";

/**
 * The version tree's queries (one table row per running version; Grafana merges them on the shared labels
 * namespace, model and version):
 * - `tree`: pods serving each version with its card's lineage (model:lineage:pods), plus `grandparent`, the parent's
 *   own parent, taken from the parent version's lineage record in the last LINEAGE_LOOKBACK (absent when the parent
 *   has not run in that time, or is a root);
 * - `heldout`: the held-out accuracy of the running versions' cards;
 * - `live`: their accuracy from labelled feedback (the accuracy SLI, 1h);
 * - `gap`: live minus held-out.
 */
export function versionTreeQueries(sel = `{${L.ns}="$namespace",${L.model}=~"$model"}`): Record<"tree" | "heldout" | "live" | "gap", string> {
    const running = `${LINEAGE.pods}${sel}`;
    const byModel = `${L.ns}, ${L.model}`;
    const byVersion = `${byModel}, ${L.version}`;
    // The parent's lineage, re-keyed: its version becomes `parent` (to match the child's), its parent `grandparent`.
    const parents =
        `topk by (${byModel}, parent) (1, label_replace(label_replace(last_over_time(${running}[${LINEAGE_LOOKBACK}]),` +
        ` "grandparent", "$1", "parent", "(.*)"), "parent", "$1", "${L.version}", "(.*)"))`;
    const heldout = `max by (${byVersion}) (model_server_model_heldout_accuracy${sel}) and on (${byVersion}) ${running}`;
    const live = `max by (${byVersion}) (${SLI.accuracy}${sel}) and on (${byVersion}) ${running}`;
    return {
        tree: `(${running} + on (${byModel}, parent) group_left (grandparent) (0 * ${parents})) or on (${byVersion}) ${running}`,
        heldout,
        live,
        gap: `(${live}) - on (${byVersion}) (${heldout})`,
    };
}

export function dashboard(opts: DashboardOptions): Record<string, unknown> {
    const ds = { type: "prometheus", uid: opts.datasource };
    let id = 0;
    let y = 0;
    const panels: Panel[] = [];
    const row = (title: string) => {
        panels.push({ id: ++id, type: "row", title, gridPos: { x: 0, y: y++, w: 24, h: 1 }, collapsed: false, panels: [] });
    };
    const ts = (title: string, w: number, x: number, unit: string, exprs: Array<[expr: string, legend: string]>) => {
        panels.push({
            id: ++id,
            type: "timeseries",
            title,
            gridPos: { x, y, w, h: 8 },
            datasource: ds,
            fieldConfig: { defaults: { unit }, overrides: [] },
            targets: exprs.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), expr, legendFormat, datasource: ds })),
        });
        if (x + w >= 24) y += 8;
    };
    const byVersion = `{{${L.model}}} {{${L.version}}}`;
    row("SLIs by version");
    ts("Request rate (inference)", 12, 0, "reqps", [[`sum by (${L.model}, ${L.version}) (${SLI.requestRate}${VAR_SEL})`, byVersion]]);
    ts("Success / 4xx / 5xx ratio", 12, 12, "percentunit", [
        [`${SLI.successRatio}${VAR_SEL}`, byVersion],
        [`${SLI.clientErrorRatio}${VAR_SEL}`, `4xx ${byVersion}`],
        [`${SLI.errorRatio}${VAR_SEL}`, `5xx ${byVersion}`],
    ]);
    ts("Latency p50 / p99", 12, 0, "s", [
        [`${SLI.latencyP50}${VAR_SEL}`, `p50 ${byVersion}`],
        [`${SLI.latencyP99}${VAR_SEL}`, `p99 ${byVersion}`],
    ]);
    ts("Accuracy (labelled feedback, 1h)", 12, 12, "percentunit", [[`${SLI.accuracy}${VAR_SEL}`, byVersion]]);
    row("Versions and lineage");
    const tree = versionTreeQueries();
    const table = (refId: string, expr: string) => ({ refId, expr, format: "table" as const, instant: true, datasource: ds });
    panels.push({
        id: ++id,
        type: "table",
        title: "Version tree: running versions, parents, live vs held-out accuracy",
        description:
            "One row per running version (pods with the model loaded): its parent and the parent's parent from the model cards " +
            "(model_server_model_lineage_info), its held-out accuracy from the card and its live accuracy from labelled feedback (1h).",
        gridPos: { x: 0, y, w: 24, h: 8 },
        datasource: ds,
        targets: [table("A", tree.tree), table("B", tree.heldout), table("C", tree.live), table("D", tree.gap)],
        transformations: [
            { id: "merge", options: {} },
            {
                id: "organize",
                options: {
                    excludeByName: { Time: true, __name__: true, namespace: true, model: true },
                    indexByName: Object.fromEntries(
                        [
                            L.model,
                            L.version,
                            "Value #A",
                            "parent",
                            "grandparent",
                            "Value #B",
                            "Value #C",
                            "Value #D",
                            "dataset",
                            "dataset_version",
                            "training_spec",
                            "git_sha",
                            "card",
                        ].map((k, i) => [k, i]),
                    ),
                    renameByName: {
                        [L.model]: "model",
                        [L.version]: "version",
                        "Value #A": "pods",
                        grandparent: "parent's parent",
                        "Value #B": "held-out accuracy",
                        "Value #C": "live accuracy (1h)",
                        "Value #D": "live − held-out",
                    },
                },
            },
        ],
        fieldConfig: {
            defaults: {},
            overrides: [
                { matcher: { id: "byRegexp", options: "Value #[BCD]|.*accuracy.*|live − held-out" }, properties: [{ id: "unit", value: "percentunit" }] },
            ],
        },
    });
    y += 8;
    row("Capacity");
    ts("Replicas vs HPA bounds", 24, 0, "short", [
        [
            `kube_horizontalpodautoscaler_status_current_replicas{namespace="$namespace",horizontalpodautoscaler=~"$model"}`,
            "current {{horizontalpodautoscaler}}",
        ],
        [`kube_horizontalpodautoscaler_spec_min_replicas{namespace="$namespace",horizontalpodautoscaler=~"$model"}`, "min {{horizontalpodautoscaler}}"],
        [`kube_horizontalpodautoscaler_spec_max_replicas{namespace="$namespace",horizontalpodautoscaler=~"$model"}`, "max {{horizontalpodautoscaler}}"],
    ]);
    row("GPU / MIG (DCGM exporter)");
    const poolLabel = `label_${opts.poolLabel.replace(/[^a-zA-Z0-9_]/g, "_")}`;
    const pool = (metric: string) =>
        `${metric} * on (Hostname) group_left (pool) label_replace(label_replace(kube_node_labels{${poolLabel}!=""}, "Hostname", "$1", "node", "(.*)"), "pool", "$1", "${poolLabel}", "(.*)")`;
    ts("GPU utilisation per pool and MIG profile", 12, 0, "percent", [
        [`avg by (pool, GPU_I_PROFILE) (${pool("DCGM_FI_DEV_GPU_UTIL")})`, "{{pool}} {{GPU_I_PROFILE}}"],
    ]);
    ts("Framebuffer used per pool and MIG profile", 12, 12, "percentunit", [
        [
            `sum by (pool, GPU_I_PROFILE) (${pool("DCGM_FI_DEV_FB_USED")}) / sum by (pool, GPU_I_PROFILE) (${pool("DCGM_FI_DEV_FB_USED")} + ${pool("DCGM_FI_DEV_FB_FREE")})`,
            "{{pool}} {{GPU_I_PROFILE}}",
        ],
    ]);
    const variable = (name: string, query: string, multi: boolean) => ({
        name,
        label: name,
        type: "query",
        datasource: ds,
        query: { query, refId: name },
        definition: query,
        refresh: 2,
        multi,
        includeAll: multi,
        ...(multi ? { allValue: ".*" } : {}),
    });
    return {
        uid: opts.uid,
        title: opts.title,
        schemaVersion: SCHEMA_VERSION,
        version: 1,
        editable: false,
        tags: ["model-fleet"],
        time: { from: "now-6h", to: "now" },
        refresh: "1m",
        templating: {
            list: [
                { name: "namespace", type: "constant", query: opts.namespace, hide: 2 },
                variable("model", `label_values(${SLI.requestRate}{${L.ns}="$namespace"}, ${L.model})`, true),
                variable("version", `label_values(${SLI.requestRate}{${L.ns}="$namespace",${L.model}=~"$model"}, ${L.version})`, true),
            ],
        },
        annotations: {
            list: [
                {
                    name: "Rollout events",
                    datasource: ds,
                    enable: true,
                    iconColor: "orange",
                    // The rollout's namespace is exported_namespace on the controller's metrics (rules.ts ARGO_NAMESPACE).
                    expr: `max by (name, phase) (rollout_info{${ARGO_NAMESPACE}="$namespace",name=~"$model",phase!="Completed"})`,
                    titleFormat: "{{name}}: {{phase}}",
                    textFormat: "Argo Rollouts phase {{phase}}",
                    step: "1m",
                },
                {
                    name: "Version change",
                    datasource: ds,
                    enable: true,
                    iconColor: "blue",
                    expr: `count by (${L.model}, ${L.version}) (${SLI.requestRate}{${L.ns}="$namespace",${L.model}=~"$model"}) unless count by (${L.model}, ${L.version}) (${SLI.requestRate}{${L.ns}="$namespace",${L.model}=~"$model"} offset 5m)`,
                    titleFormat: "{{app_kubernetes_io_name}} {{app_kubernetes_io_version}}",
                    step: "1m",
                },
            ],
        },
        panels,
    };
}

/** Every PromQL expression of a dashboard (panel targets, template variable queries excluded, annotation exprs). */
export function dashboardExpressions(d: Record<string, any>): string[] {
    const out: string[] = [];
    for (const p of d.panels as Panel[]) for (const t of p.targets ?? []) out.push(t.expr);
    for (const a of d.annotations.list) out.push(a.expr);
    return out;
}
