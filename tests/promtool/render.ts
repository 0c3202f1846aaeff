/**
 * What the promtool suite checks: each stack's rendered rule groups and dashboard (from the real program, through
 * the offline harness), and the metric names the rules and dashboard may use.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { LINEAGE, SLI } from "../../components/observability/rules";
import { k8sObjects, REPO_ROOT, runStack } from "../../support/harness";
import { promtool } from "../promql/toolPaths";

export interface Rendered {
    groups: any[];
    dashboard?: Record<string, any>;
}

/** The rule groups (PrometheusRule spec or rule-file ConfigMap) and the dashboard JSON a stack declares. */
export async function renderStack(stack: string, edit?: (c: Record<string, any>) => void): Promise<Rendered> {
    const objs = k8sObjects((await runStack(stack, { editConfig: edit })).resources);
    const pr = objs.find((o) => o.kind === "PrometheusRule");
    const cm = objs.find((o) => o.kind === "ConfigMap" && o.data?.["model-fleet.rules.yaml"]);
    const groups = pr ? pr.spec.groups : cm ? YAML.parse(cm.data["model-fleet.rules.yaml"]).groups : [];
    const dash = objs.find((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1");
    return { groups, dashboard: dash ? JSON.parse(dash.data["model-fleet.json"]) : undefined };
}

/** Runs promtool with files written to a temporary directory; returns status and combined output. */
export function runPromtool(args: (dir: string) => string[], files: Record<string, string>): { status: number; output: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-obs-"));
    try {
        for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
        const r = spawnSync(promtool(), args(dir), { encoding: "utf8", cwd: dir });
        return { status: r.status ?? -1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Series names of the model server's contract: the table of images/model-server/METRICS.md (histograms expanded). */
export function serverContractMetrics(): Set<string> {
    const text = fs.readFileSync(path.join(REPO_ROOT, "images", "model-server", "METRICS.md"), "utf8");
    const out = new Set<string>();
    for (const m of text.matchAll(/^\| `(model_server_[a-z_]+)` \| (\w+)/gm)) {
        if (m[2] === "histogram") for (const s of ["_bucket", "_sum", "_count"]) out.add(m[1] + s);
        else out.add(m[1]);
    }
    return out;
}

/** kube-state-metrics series the rules and dashboard read (kube-state-metrics v2 names). */
export const KUBE_STATE_METRICS = [
    "kube_deployment_status_replicas_available",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_horizontalpodautoscaler_spec_min_replicas",
    "kube_node_labels",
];
/** Argo Rollouts controller series (controller/metrics/prommetrics.go of argo-rollouts v1.9.0). */
export const ARGO_ROLLOUTS_METRICS = ["rollout_info", "rollout_info_replicas_available"];
/** NVIDIA DCGM exporter fields (GPU Operator default counters). */
export const DCGM_METRICS = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"];

/** A file of argo-rollouts v1.9.0 controller/metrics/ (default prommetrics.go) from the Go module cache (the source the sandbox builds). */
export function argoPromMetricsSource(file = "prommetrics.go"): string {
    let modcache = process.env.GOMODCACHE;
    if (!modcache) {
        try {
            modcache = execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" }).trim();
        } catch {
            modcache = path.join(os.homedir(), "go", "pkg", "mod");
        }
    }
    const p = path.join(modcache, "github.com", "argoproj", "argo-rollouts@v1.9.0", "controller", "metrics", file);
    if (!fs.existsSync(p)) throw new Error(`${p} is missing: fetch the module with \`go mod download github.com/argoproj/argo-rollouts@v1.9.0\``);
    return fs.readFileSync(p, "utf8");
}

/** Metric names an expression selects (`name{…}`), string literals removed first. */
export function metricNames(expr: string): string[] {
    const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    return [...new Set([...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)].map((m) => m[1]))];
}

/** Every name a rule or dashboard expression may select. */
export function allowedMetrics(): Set<string> {
    return new Set([
        ...serverContractMetrics(),
        ...Object.values(SLI),
        ...Object.values(LINEAGE),
        ...KUBE_STATE_METRICS,
        ...ARGO_ROLLOUTS_METRICS,
        ...DCGM_METRICS,
    ]);
}

/** Grafana template variables replaced by values, so that an expression is plain PromQL. */
export function substituteVariables(expr: string): string {
    return expr
        .replace(/\$namespace/g, "models")
        .replace(/\$model/g, ".*")
        .replace(/\$version/g, ".*");
}
