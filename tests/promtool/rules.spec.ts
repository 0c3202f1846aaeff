/**
 * Issue #15 with the real tools (npm run test:promtool; not part of npm test): every rendered rule file passes
 * `promtool check rules`; `promtool test rules` feeds synthetic series to the generated rules and asserts which
 * alerts fire, and when, with and without a fault at each alert's boundary; every dashboard expression parses
 * with Prometheus's parser and selects only metrics of the server contract, the recorded SLIs or the named exporters.
 */
import { strict as assert } from "assert";
import * as YAML from "yaml";
import { dashboardExpressions, versionTreeQueries } from "../../components/observability/dashboard";
import { ALERT_NAMES, AlertName, DEFAULT_THRESHOLDS, LINEAGE, ObservedModel, ruleGroups, Thresholds } from "../../components/observability/rules";
import { allowedMetrics, ARGO_ROLLOUTS_METRICS, argoPromMetricsSource, metricNames, renderStack, Rendered, runPromtool, substituteVariables } from "./render";

const STACKS = ["dev", "prod", "local"];
const rendered: Record<string, Rendered> = {};
async function stack(name: string): Promise<Rendered> {
    // Dashboards are on in production only by default; render them for every stack here.
    rendered[name] ??= await renderStack(name, (c) => {
        c["model-fleet:observability"] = { ...(c["model-fleet:observability"] ?? {}), dashboards: true };
    });
    return rendered[name];
}

describe("observability: promtool check rules", () => {
    for (const name of STACKS) {
        it(`stack ${name}: the rendered rule file passes promtool check rules`, async () => {
            const { groups } = await stack(name);
            assert.ok(groups.length > 0);
            const r = runPromtool((d) => ["check", "rules", `${d}/rules.yaml`], { "rules.yaml": YAML.stringify({ groups }, { lineWidth: 0 }) });
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, /SUCCESS: \d+ rules found/);
        });
    }
});

describe("observability: dashboard and rule expressions", () => {
    for (const name of STACKS) {
        it(`stack ${name}: every dashboard expression parses (promtool check rules) and selects only known metrics`, async () => {
            const d = (await stack(name)).dashboard!;
            const exprs = dashboardExpressions(d).map(substituteVariables);
            // Template variable queries are Grafana's label_values(<selector>, <label>): their selector must parse too.
            for (const v of d.templating.list.filter((x: any) => x.type === "query")) {
                const m = /^label_values\((.*), *[a-zA-Z_]+\)$/.exec(v.query.query);
                assert.ok(m, v.query.query);
                exprs.push(substituteVariables(m![1]));
            }
            const rules = exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr }));
            const r = runPromtool((dir) => ["check", "rules", "--lint=none", `${dir}/d.yaml`], {
                "d.yaml": YAML.stringify({ groups: [{ name: "dashboard", rules }] }, { lineWidth: 0 }),
            });
            assert.equal(r.status, 0, r.output);
            const allowed = allowedMetrics();
            assert.deepEqual(
                exprs.flatMap(metricNames).filter((n) => !allowed.has(n)),
                [],
            );
        });

        it(`stack ${name}: every rule expression selects only known metrics`, async () => {
            const allowed = allowedMetrics();
            const used = (await stack(name)).groups.flatMap((g: any) => g.rules).flatMap((r: any) => metricNames(r.expr));
            assert.deepEqual(
                used.filter((n: string) => !allowed.has(n)),
                [],
            );
        });
    }

    for (const name of STACKS) {
        it(`stack ${name}: the dashboard JSON has the structure Grafana provisioning needs`, async () => {
            const d = (await stack(name)).dashboard!;
            assert.equal(typeof d.uid, "string");
            assert.ok(d.uid.length > 0 && d.uid.length <= 40, "uid: 1..40 characters");
            assert.ok(typeof d.title === "string" && d.title.length > 0);
            assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion > 0);
            assert.ok(Array.isArray(d.panels) && d.panels.length > 0);
            const ids = d.panels.map((p: any) => p.id);
            assert.equal(new Set(ids).size, ids.length, "unique panel ids");
            for (const p of d.panels) {
                assert.ok(p.gridPos && ["x", "y", "w", "h"].every((k) => Number.isInteger(p.gridPos[k])), `${p.title}: gridPos`);
                assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: within 24 columns`);
                if (p.type === "row") continue;
                assert.ok(p.datasource?.uid && p.datasource.type === "prometheus", `${p.title}: datasource`);
                assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `${p.title}: targets`);
                for (const t of p.targets) assert.ok(t.refId && t.expr && t.datasource?.uid, `${p.title}: target refId/expr/datasource`);
            }
            assert.deepEqual(
                d.templating.list.filter((v: any) => v.type === "query").map((v: any) => v.name),
                ["model", "version"],
            );
        });
    }

    it("the Argo Rollouts metric names and the Abort phase exist in argo-rollouts v1.9.0's controller source", () => {
        const src = argoPromMetricsSource();
        for (const m of ARGO_ROLLOUTS_METRICS) assert.ok(src.includes(`"${m}"`), m);
        assert.match(argoPromMetricsSource("rollouts.go"), /RolloutAbort RolloutPhase = "Abort"/);
    });
});

// ---- promtool test rules -------------------------------------------------------------------------------------

const NS = "models";
/**
 * An Argo Rollouts controller series as Prometheus stores it: the controller's `namespace` label renamed to
 * `exported_namespace` (the chart's ServiceMonitor does not honour labels), `namespace` the controller's own.
 */
const argo = (name: string, rolloutNamespace = NS, extra = ""): string =>
    `{namespace="argo-rollouts",exported_namespace="${rolloutNamespace}",name="${name}"${extra ? `,${extra}` : ""}}`;
const T: Thresholds = {
    ...DEFAULT_THRESHOLDS,
    p99LatencyMs: 250,
    successRate: 0.99,
    maxAccuracyDrop: 0.03,
    accuracyFloor: 0.8,
    minFeedbackSamples: 100,
    maxRestarts: 3,
    gpuUtilLowPercent: 20,
    gpuMemoryHighRatio: 0.95,
    for: "10m",
};
const CANARY: ObservedModel = { name: "sentiment", namespace: NS, canary: true, gpu: { pool: "a100-mig", profile: "1g.10gb" }, thresholds: T };
const PLAIN: ObservedModel = { name: "summarizer", namespace: NS, canary: false, gpu: { pool: "l4" }, thresholds: { ...T, maxAccuracyDrop: undefined } };

interface Series {
    series: string;
    values: string;
}
interface Expect {
    at: string;
    fires: Record<string, string>[];
}
interface Case {
    name: string;
    alert: AlertName;
    series: Series[];
    expect: Expect[];
}

const pod = (model: string, hash: string) => `${model}-${hash}-abcde`;
const lbl = (o: Record<string, string>) =>
    `{${Object.entries(o)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`;
const scrape = (model: string, version: string, hash: string) => ({
    namespace: NS,
    pod: pod(model, hash),
    app_kubernetes_io_name: model,
    app_kubernetes_io_version: version,
    rollouts_pod_template_hash: hash,
});
const sli = (model: string, version: string) => ({ namespace: NS, app_kubernetes_io_name: model, app_kubernetes_io_version: version });

/** Requests per minute on `handler` (/predict, or the v2 protocol's /v2/infer): `ok` 200s and `err` 503s (counters). */
function requests(model: string, version: string, hash: string, ok: number, err: number, minutes = 90, handler = "/predict"): Series[] {
    const s = scrape(model, version, hash);
    return [
        { series: `model_server_requests_total${lbl({ ...s, handler, method: "POST", code: "200" })}`, values: `0+${ok}x${minutes}` },
        { series: `model_server_requests_total${lbl({ ...s, handler, method: "POST", code: "503" })}`, values: `0+${err}x${minutes}` },
    ];
}
/** Latency histogram: per minute `fast` requests in (0.1, 0.25] and `slow` in (0.25, 0.5]. */
function latency(model: string, version: string, hash: string, fast: number, slow: number): Series[] {
    const s = { ...scrape(model, version, hash), handler: "/predict", method: "POST" };
    const b = (le: string, n: number) => ({ series: `model_server_request_duration_seconds_bucket${lbl({ ...s, le })}`, values: `0+${n}x60` });
    return [b("0.1", 0), b("0.25", fast), b("0.5", fast + slow), b("+Inf", fast + slow)];
}
/** Feedback per minute for predictions served by `hash`, scored on `scorer`'s pod; info series of `hash`'s version. */
function feedback(
    model: string,
    version: string,
    hash: string,
    correct: number,
    incorrect: number,
    values = (n: number) => `0+${n}x90`,
    info = "1x90",
): Series[] {
    const s = scrape(model, version, hash);
    return [
        { series: `model_server_feedback_total${lbl({ ...s, served_by: hash, outcome: "correct" })}`, values: values(correct) },
        { series: `model_server_feedback_total${lbl({ ...s, served_by: hash, outcome: "incorrect" })}`, values: values(incorrect) },
        {
            series: `model_server_model_info${lbl({ ...s, model, version, revision: "abc1234", device: "cuda", runtime: "onnxruntime", runtime_version: "1.20.0" })}`,
            values: info,
        },
    ];
}
const alertLabels = (alert: AlertName, severity: string, model: string, extra: Record<string, string>) => ({ alertname: alert, severity, model, ...extra });

function cases(): Case[] {
    const v = "2.1.4";
    const onSli = (alert: AlertName, severity: string, model = "sentiment", version = v) => alertLabels(alert, severity, model, sli(model, version));
    const podAlert = (alert: AlertName, model: string) => alertLabels(alert, "warning", model, { namespace: NS, pod: pod(model, "aaa") });
    const ksm = (model: string) => ({ namespace: NS, pod: pod(model, "aaa"), container: "model-server" });
    const hpa = (model: string) => ({ namespace: NS, horizontalpodautoscaler: model });
    const dcgm = (model: string) => ({
        namespace: NS,
        pod: pod(model, "aaa"),
        container: "model-server",
        gpu: "0",
        GPU_I_PROFILE: "1g.10gb",
        Hostname: "node-1",
    });
    return [
        // 5xx ratio vs 1 − successRate (0.01): 1.1 % fires after `for` (10m), 0.9 % never.
        {
            name: "error ratio 1.1% fires after for",
            alert: "ModelErrorRatioHigh",
            series: requests("sentiment", v, "aaa", 989, 11),
            expect: [
                { at: "8m", fires: [] },
                { at: "20m", fires: [onSli("ModelErrorRatioHigh", "critical")] },
            ],
        },
        {
            name: "error ratio 1.1% of Open Inference Protocol requests (handler /v2/infer) fires too",
            alert: "ModelErrorRatioHigh",
            series: requests("sentiment", v, "aaa", 989, 11, 90, "/v2/infer"),
            expect: [
                { at: "8m", fires: [] },
                { at: "20m", fires: [onSli("ModelErrorRatioHigh", "critical")] },
            ],
        },
        {
            name: "error ratio 0.9% does not fire",
            alert: "ModelErrorRatioHigh",
            series: requests("sentiment", v, "aaa", 991, 9),
            expect: [
                { at: "20m", fires: [] },
                { at: "60m", fires: [] },
            ],
        },
        // p99 vs p99LatencyMs (250): 2 % of requests in (0.25, 0.5] → p99 375 ms fires; all in (0.1, 0.25] → 248.5 ms.
        {
            name: "p99 375ms fires after for",
            alert: "ModelLatencyP99High",
            series: latency("sentiment", v, "aaa", 98, 2),
            expect: [
                { at: "8m", fires: [] },
                { at: "20m", fires: [onSli("ModelLatencyP99High", "warning")] },
            ],
        },
        { name: "p99 248.5ms does not fire", alert: "ModelLatencyP99High", series: latency("sentiment", v, "aaa", 100, 0), expect: [{ at: "30m", fires: [] }] },
        // Accuracy floor 0.8 with ≥ 100 samples: 79 % fires, 81 % not; 79 % on too few samples (1/min) not.
        {
            name: "accuracy 79% below floor fires",
            alert: "ModelAccuracyBelowFloor",
            series: feedback("sentiment", v, "aaa", 79, 21),
            expect: [
                { at: "5m", fires: [] },
                { at: "20m", fires: [onSli("ModelAccuracyBelowFloor", "critical")] },
            ],
        },
        {
            name: "accuracy 81% above floor does not fire",
            alert: "ModelAccuracyBelowFloor",
            series: feedback("sentiment", v, "aaa", 81, 19),
            expect: [{ at: "30m", fires: [] }],
        },
        {
            name: "accuracy 0% on too few samples does not fire",
            alert: "ModelAccuracyBelowFloor",
            series: feedback("sentiment", v, "aaa", 0, 1),
            expect: [{ at: "30m", fires: [] }],
        },
        {
            name: "plain Deployment: accuracy 79% below floor fires",
            alert: "ModelAccuracyBelowFloor",
            series: feedback("summarizer", "1.4.0", "", 79, 21).map((s) => ({
                ...s,
                series: s.series.replace(/,rollouts_pod_template_hash=""/, "").replace(/pod="summarizer--abcde"/, `pod="${pod("summarizer", "aaa")}"`),
            })),
            expect: [{ at: "20m", fires: [onSli("ModelAccuracyBelowFloor", "critical", "summarizer", "1.4.0")] }],
        },
        // Accuracy drop vs the previous version (0.95 until 30m), maxAccuracyDrop 0.03: 0.91 fires, 0.93 not.
        ...[
            [91, true],
            [93, false],
        ].map(([pct, fires]) => ({
            name: `accuracy ${pct}% after the previous version's 95% ${fires ? "fires" : "does not fire"}`,
            alert: "ModelAccuracyDropped" as AlertName,
            series: [
                ...feedback("sentiment", "2.1.3", "old", 95, 5, (n) => `0+${n}x30 stale`, "1x30 stale"),
                ...feedback("sentiment", v, "new", pct as number, 100 - (pct as number), (n) => `_x31 0+${n}x60`, "_x31 1x60"),
            ],
            expect: [
                { at: "25m", fires: [] },
                { at: "60m", fires: fires ? [onSli("ModelAccuracyDropped", "critical")] : [] },
            ],
        })),
        // No traffic while replicas are up (15m): Argo's rollout_info_replicas_available / kube-state-metrics'.
        // Argo's metrics as the chart's ServiceMonitor scrapes them: the rollout's namespace as exported_namespace.
        {
            name: "canary model: replicas up, no requests fires",
            alert: "ModelNoTraffic",
            series: [...requests("sentiment", v, "aaa", 0, 0), { series: `rollout_info_replicas_available${argo("sentiment")}`, values: "2x60" }],
            expect: [
                { at: "10m", fires: [] },
                { at: "30m", fires: [alertLabels("ModelNoTraffic", "warning", "sentiment", { exported_namespace: NS, name: "sentiment" })] },
            ],
        },
        {
            name: "canary model: replicas up, 1 request/min does not fire",
            alert: "ModelNoTraffic",
            series: [...requests("sentiment", v, "aaa", 1, 0), { series: `rollout_info_replicas_available${argo("sentiment")}`, values: "2x60" }],
            expect: [{ at: "30m", fires: [] }],
        },
        {
            name: "canary model: no replicas, no requests does not fire",
            alert: "ModelNoTraffic",
            series: [{ series: `rollout_info_replicas_available${argo("sentiment")}`, values: "0x60" }],
            expect: [{ at: "30m", fires: [] }],
        },
        {
            name: "canary model: replicas of a same-named rollout in another namespace do not fire",
            alert: "ModelNoTraffic",
            series: [{ series: `rollout_info_replicas_available${argo("sentiment", "models-staging")}`, values: "2x60" }],
            expect: [{ at: "30m", fires: [] }],
        },
        {
            name: "Deployment: replicas up, no requests fires",
            alert: "ModelNoTraffic",
            series: [{ series: `kube_deployment_status_replicas_available{namespace="${NS}",deployment="summarizer"}`, values: "2x60" }],
            expect: [{ at: "30m", fires: [alertLabels("ModelNoTraffic", "warning", "summarizer", { namespace: NS, deployment: "summarizer" })] }],
        },
        // Restarts (maxRestarts 3 in 30m): 5 restarts fire at once, 2 not (increase() extrapolates: no exact boundary).
        {
            name: "5 restarts in 30m fires",
            alert: "ModelPodRestarting",
            series: [{ series: `kube_pod_container_status_restarts_total${lbl(ksm("sentiment"))}`, values: "0x10 1 2 3 4 5x30" }],
            expect: [
                { at: "10m", fires: [] },
                { at: "20m", fires: [podAlert("ModelPodRestarting", "sentiment")] },
            ],
        },
        {
            name: "2 restarts in 30m does not fire",
            alert: "ModelPodRestarting",
            series: [{ series: `kube_pod_container_status_restarts_total${lbl(ksm("sentiment"))}`, values: "0x10 1 2x40" }],
            expect: [{ at: "20m", fires: [] }],
        },
        // OOMKilled: last reason OOMKilled and a restart in 30m fires; reason Error, or an OOM kill 40m ago, not.
        {
            name: "OOMKilled with a recent restart fires",
            alert: "ModelPodOOMKilled",
            series: [
                { series: `kube_pod_container_status_restarts_total${lbl(ksm("sentiment"))}`, values: "0x10 1x30" },
                { series: `kube_pod_container_status_last_terminated_reason${lbl({ ...ksm("sentiment"), reason: "OOMKilled" })}`, values: "_x10 1x30" },
            ],
            expect: [
                { at: "5m", fires: [] },
                { at: "15m", fires: [podAlert("ModelPodOOMKilled", "sentiment")] },
            ],
        },
        {
            name: "restart with reason Error does not fire",
            alert: "ModelPodOOMKilled",
            series: [
                { series: `kube_pod_container_status_restarts_total${lbl(ksm("sentiment"))}`, values: "0x10 1x30" },
                { series: `kube_pod_container_status_last_terminated_reason${lbl({ ...ksm("sentiment"), reason: "Error" })}`, values: "_x10 1x30" },
            ],
            expect: [{ at: "15m", fires: [] }],
        },
        {
            name: "OOM kill 40m ago does not fire",
            alert: "ModelPodOOMKilled",
            series: [
                { series: `kube_pod_container_status_restarts_total${lbl(ksm("sentiment"))}`, values: "0x10 1x50" },
                { series: `kube_pod_container_status_last_terminated_reason${lbl({ ...ksm("sentiment"), reason: "OOMKilled" })}`, values: "_x10 1x50" },
            ],
            expect: [
                { at: "15m", fires: [podAlert("ModelPodOOMKilled", "sentiment")] },
                { at: "50m", fires: [] },
            ],
        },
        // Canary aborted: rollout_info{phase="Abort"} fires at once; Paused does not.
        {
            name: "rollout phase Abort fires",
            alert: "ModelCanaryAborted",
            series: [{ series: `rollout_info${argo("sentiment", NS, 'strategy="canary",traffic_router="nginx",phase="Abort"')}`, values: "1x10" }],
            expect: [{ at: "1m", fires: [alertLabels("ModelCanaryAborted", "critical", "sentiment", { exported_namespace: NS, name: "sentiment" })] }],
        },
        {
            name: "rollout phase Abort of a same-named rollout in another namespace does not fire",
            alert: "ModelCanaryAborted",
            series: [
                {
                    series: `rollout_info${argo("sentiment", "models-staging", 'strategy="canary",traffic_router="nginx",phase="Abort"')}`,
                    values: "1x10",
                },
            ],
            expect: [{ at: "1m", fires: [] }],
        },
        {
            name: "rollout phase Paused does not fire",
            alert: "ModelCanaryAborted",
            series: [{ series: `rollout_info${argo("sentiment", NS, 'strategy="canary",traffic_router="nginx",phase="Paused"')}`, values: "1x10" }],
            expect: [{ at: "5m", fires: [] }],
        },
        // HPA at maxReplicas (6) for 30m fires; 5 of 6 does not; at max for 20m not yet.
        {
            name: "HPA at max 6 for 30m fires",
            alert: "ModelHpaAtMaxReplicas",
            series: [
                { series: `kube_horizontalpodautoscaler_status_current_replicas${lbl(hpa("sentiment"))}`, values: "6x60" },
                { series: `kube_horizontalpodautoscaler_spec_max_replicas${lbl(hpa("sentiment"))}`, values: "6x60" },
            ],
            expect: [
                { at: "20m", fires: [] },
                { at: "40m", fires: [alertLabels("ModelHpaAtMaxReplicas", "warning", "sentiment", hpa("sentiment"))] },
            ],
        },
        {
            name: "HPA at 5 of 6 does not fire",
            alert: "ModelHpaAtMaxReplicas",
            series: [
                { series: `kube_horizontalpodautoscaler_status_current_replicas${lbl(hpa("sentiment"))}`, values: "5x60" },
                { series: `kube_horizontalpodautoscaler_spec_max_replicas${lbl(hpa("sentiment"))}`, values: "6x60" },
            ],
            expect: [{ at: "40m", fires: [] }],
        },
        // GPU utilisation below 20 % for 1h fires (19); exactly 20 does not.
        {
            name: "GPU util 19% for 1h fires",
            alert: "ModelGpuUnderutilised",
            series: [{ series: `DCGM_FI_DEV_GPU_UTIL${lbl(dcgm("sentiment"))}`, values: "19x90" }],
            expect: [
                { at: "50m", fires: [] },
                { at: "70m", fires: [alertLabels("ModelGpuUnderutilised", "info", "sentiment", { namespace: NS, pod: pod("sentiment", "aaa") })] },
            ],
        },
        {
            name: "GPU util exactly 20% does not fire",
            alert: "ModelGpuUnderutilised",
            series: [{ series: `DCGM_FI_DEV_GPU_UTIL${lbl(dcgm("sentiment"))}`, values: "20x90" }],
            expect: [{ at: "70m", fires: [] }],
        },
        // Framebuffer used/(used+free) above 0.95 for 30m: 9600/400 fires; exactly 9500/500 (0.95) does not.
        ...[
            [9600, 400, true],
            [9500, 500, false],
        ].map(([used, free, fires]) => ({
            name: `framebuffer ${used}/${(used as number) + (free as number)} MiB ${fires ? "fires" : "does not fire"}`,
            alert: "ModelGpuMemoryHigh" as AlertName,
            series: [
                { series: `DCGM_FI_DEV_FB_USED${lbl(dcgm("sentiment"))}`, values: `${used}x60` },
                { series: `DCGM_FI_DEV_FB_FREE${lbl(dcgm("sentiment"))}`, values: `${free}x60` },
            ],
            expect: [
                { at: "20m", fires: [] },
                { at: "40m", fires: fires ? [alertLabels("ModelGpuMemoryHigh", "warning", "sentiment", { namespace: NS, pod: pod("sentiment", "aaa") })] : [] },
            ],
        })),
    ];
}

describe("observability: promtool test rules (synthetic series, each alert with and without a fault)", () => {
    const groups = ruleGroups([CANARY, PLAIN], { runbookBase: "docs/runbook.md" });
    const all = cases();

    it("covers every alert the generator emits, with and without a fault", () => {
        for (const a of ALERT_NAMES) {
            const mine = all.filter((c) => c.alert === a);
            assert.ok(
                mine.some((c) => c.expect.some((e) => e.fires.length > 0)),
                `${a}: a case where it fires`,
            );
            assert.ok(
                mine.some((c) => c.expect.every((e) => e.fires.length === 0)) || mine.some((c) => c.expect.some((e) => e.fires.length === 0)),
                `${a}: a case where it does not`,
            );
        }
    });

    for (const c of all) {
        it(c.name, () => {
            // Annotations other than runbook_url are templates of $value; promtool check rules validates them, the
            // unit tests compare the static runbook_url exactly.
            const testGroups = groups.map((g) => ({
                ...g,
                rules: g.rules.map((r: any) => (r.alert ? { ...r, annotations: { runbook_url: r.annotations.runbook_url } } : r)),
            }));
            const rulesFile = YAML.stringify({ groups: testGroups }, { lineWidth: 0 });
            const rulesByName = testGroups.flatMap((g) => g.rules).filter((r: any) => r.alert === c.alert);
            const test = {
                rule_files: ["rules.yaml"],
                evaluation_interval: "1m",
                tests: [
                    {
                        name: c.name,
                        interval: "1m",
                        input_series: c.series,
                        alert_rule_test: c.expect.map((e) => ({
                            eval_time: e.at,
                            alertname: c.alert,
                            exp_alerts: e.fires.map((labels) => {
                                const { alertname: _a, ...rest } = labels;
                                const rule = rulesByName.find((r: any) => r.labels.model === labels.model) as any;
                                return { exp_labels: rest, exp_annotations: { runbook_url: rule.annotations.runbook_url } };
                            }),
                        })),
                    },
                ],
            };
            const r = runPromtool((d) => ["test", "rules", `${d}/test.yaml`], { "rules.yaml": rulesFile, "test.yaml": YAML.stringify(test, { lineWidth: 0 }) });
            assert.equal(r.status, 0, r.output);
        });
    }
});

// ---- the version tree: the lineage recording rule and the dashboard's table queries -----------------------------

describe("observability: promtool test rules, the version tree (model:lineage:pods and the dashboard's queries)", () => {
    const groups = ruleGroups([CANARY], { alerts: false });
    const card = { dataset: "digits", dataset_version: "scikit-learn==1.6.1", git_sha: "0123abc", card: "present" };
    /** One pod's model_server_model_lineage_info (labels as the server and the scrape write them), loaded gauge, held-out accuracy. */
    const podSeries = (o: {
        ns?: string;
        version: string;
        parent: string;
        hash: string;
        pod: string;
        up: string;
        loaded: string;
        heldout: number;
    }): Series[] => {
        const s = { ...scrape("sentiment", o.version, o.hash), namespace: o.ns ?? NS, pod: o.pod };
        const lineage = {
            ...s,
            model: "sentiment",
            version: o.version,
            parent: o.parent,
            training_spec: `training/versions/sentiment/${o.version}.json`,
            ...card,
        };
        return [
            { series: `model_server_model_lineage_info${lbl(lineage)}`, values: o.up },
            { series: `model_server_model_loaded${lbl(s)}`, values: o.loaded },
            { series: `model_server_model_heldout_accuracy${lbl({ ...s, split: "f".repeat(64) })}`, values: o.up.replace(/1x/g, `${o.heldout}x`) },
        ];
    };
    // 1.0.0 (a root) ran until 20m; two pods of 1.1.0 (parent 1.0.0) all along; from 30m a canary 1.2.0 (parent 1.1.0)
    // with one pod loaded and one still loading; a pod of 1.1.0 in another namespace.
    const fleet: Series[] = [
        ...podSeries({ version: "1.0.0", parent: "", hash: "old", pod: "sentiment-old-abcde", up: "1x20 stale", loaded: "1x20 stale", heldout: 0.5 }),
        ...podSeries({ version: "1.1.0", parent: "1.0.0", hash: "aaa", pod: "sentiment-aaa-abcde", up: "1x90", loaded: "1x90", heldout: 0.875 }),
        ...podSeries({ version: "1.1.0", parent: "1.0.0", hash: "aaa", pod: "sentiment-aaa-fghij", up: "1x90", loaded: "1x90", heldout: 0.875 }),
        ...podSeries({ version: "1.2.0", parent: "1.1.0", hash: "bbb", pod: "sentiment-bbb-abcde", up: "_x30 1x60", loaded: "_x30 1x60", heldout: 0.9375 }),
        ...podSeries({ version: "1.2.0", parent: "1.1.0", hash: "bbb", pod: "sentiment-bbb-fghij", up: "_x30 1x60", loaded: "_x30 0x60", heldout: 0.9375 }),
        ...podSeries({
            ns: "models-staging",
            version: "1.1.0",
            parent: "1.0.0",
            hash: "ccc",
            pod: "sentiment-ccc-abcde",
            up: "1x90",
            loaded: "1x90",
            heldout: 0.25,
        }),
        // Live accuracy from labelled feedback: 1.1.0 75 %, 1.2.0 100 % (served_by → version through model_server_model_info).
        ...feedback("sentiment", "1.1.0", "aaa", 75, 25),
        ...feedback("sentiment", "1.2.0", "bbb", 100, 0, (n) => `_x30 0+${n}x60`, "_x30 1x60"),
    ];
    /** A result's labels; an empty label (a root's parent) is no label in Prometheus. */
    const version = (v: string, parent: string, extra: Record<string, string> = {}) =>
        lbl(
            Object.fromEntries(
                Object.entries({
                    ...sli("sentiment", v),
                    model: "sentiment",
                    parent,
                    training_spec: `training/versions/sentiment/${v}.json`,
                    ...card,
                    ...extra,
                }).filter(([, x]) => x !== ""),
            ),
        );
    const expr = (e: string) => substituteVariables(e).replace('app_kubernetes_io_name=~".*"', 'app_kubernetes_io_name=~"sentiment"');
    const run = (name: string, series: Series[], tests: Array<{ expr: string; eval_time: string; exp_samples: Array<{ labels: string; value: number }> }>) => {
        const test = {
            rule_files: ["rules.yaml"],
            evaluation_interval: "1m",
            tests: [{ name, interval: "1m", input_series: series, promql_expr_test: tests }],
        };
        return runPromtool((d) => ["test", "rules", `${d}/test.yaml`], {
            "rules.yaml": YAML.stringify({ groups }, { lineWidth: 0 }),
            "test.yaml": YAML.stringify(test, { lineWidth: 0 }),
        });
    };

    it("model:lineage:pods counts the pods that loaded each version, by its card's lineage, in the model's namespace only", () => {
        const rec = (v: string, parent: string) => `{__name__="${LINEAGE.pods}",${version(v, parent).slice(1)}`;
        const r = run("lineage record", fleet, [
            {
                expr: `${LINEAGE.pods}`,
                eval_time: "10m",
                exp_samples: [
                    { labels: rec("1.0.0", ""), value: 1 },
                    { labels: rec("1.1.0", "1.0.0"), value: 2 },
                ],
            },
            // 1.0.0 stopped at 20m; the canary's second pod has not loaded its model: not counted.
            {
                expr: `${LINEAGE.pods}`,
                eval_time: "60m",
                exp_samples: [
                    { labels: rec("1.1.0", "1.0.0"), value: 2 },
                    { labels: rec("1.2.0", "1.1.0"), value: 1 },
                ],
            },
        ]);
        assert.equal(r.status, 0, r.output);
    });

    it("the tree: each running version with its parent, and the parent's parent while the parent's lineage is on record", () => {
        const q = versionTreeQueries();
        const r = run("version tree", fleet, [
            {
                expr: expr(q.tree),
                eval_time: "60m",
                exp_samples: [
                    // 1.2.0 → 1.1.0 → 1.0.0: 1.1.0 runs, its record names its parent.
                    { labels: version("1.2.0", "1.1.0", { grandparent: "1.0.0" }), value: 1 },
                    // 1.1.0 → 1.0.0, a root (stopped 40m ago, its record still in the lookback): no grandparent.
                    { labels: version("1.1.0", "1.0.0"), value: 2 },
                ],
            },
            {
                expr: expr(q.heldout),
                eval_time: "60m",
                exp_samples: [
                    { labels: lbl(sli("sentiment", "1.1.0")), value: 0.875 },
                    { labels: lbl(sli("sentiment", "1.2.0")), value: 0.9375 },
                ],
            },
            {
                expr: expr(q.live),
                eval_time: "60m",
                exp_samples: [
                    { labels: lbl(sli("sentiment", "1.1.0")), value: 0.75 },
                    { labels: lbl(sli("sentiment", "1.2.0")), value: 1 },
                ],
            },
            {
                expr: expr(q.gap),
                eval_time: "60m",
                exp_samples: [
                    { labels: lbl(sli("sentiment", "1.1.0")), value: -0.125 },
                    { labels: lbl(sli("sentiment", "1.2.0")), value: 0.0625 },
                ],
            },
            // Before the canary: 1.0.0 and 1.1.0 run; no live accuracy for the stopped 1.0.0 afterwards, no row for it.
            {
                expr: expr(q.heldout),
                eval_time: "10m",
                exp_samples: [
                    { labels: lbl(sli("sentiment", "1.0.0")), value: 0.5 },
                    { labels: lbl(sli("sentiment", "1.1.0")), value: 0.875 },
                ],
            },
        ]);
        assert.equal(r.status, 0, r.output);
    });

    it("the tree: a version whose parent never ran here is still a row (parent named, no grandparent)", () => {
        const q = versionTreeQueries();
        const only = fleet.filter((s) => s.series.includes('app_kubernetes_io_version="1.2.0"'));
        const r = run("orphan", only, [
            { expr: expr(q.tree), eval_time: "60m", exp_samples: [{ labels: `{__name__="${LINEAGE.pods}",${version("1.2.0", "1.1.0").slice(1)}`, value: 1 }] },
        ]);
        assert.equal(r.status, 0, r.output);
    });
});
