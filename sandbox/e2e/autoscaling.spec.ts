/**
 * The autoscaling loop in the sandbox (issue #27): the `local-keda` stack (Pulumi.local-keda.yaml) deployed by the real
 * engine into a sandbox it starts, which therefore runs KEDA (sandbox/stacks.ts `autoscalesThroughKeda`). Its model scales on requests per second, so the program renders a KEDA ScaledObject for its
 * Rollout, and everything after that is the real upstream code: KEDA v2.21.0's operator makes the HPA `sentiment`
 * (controllers/keda/hpa.go), its metrics apiserver serves the request rate from a real Prometheus
 * (external.metrics.k8s.io), metrics-server v0.8.0 serves CPU from kwok's emulated kubelet (metrics.k8s.io), the
 * controller manager's HPA controller scales the Rollout through /scale, Argo makes the pods and the scheduler places
 * them on the pool's fake GPU nodes. The load is scripted: a small exporter serves the model server's request counter
 * (its exact name and the labels a scrape of the pods gives) at a rate the test sets, and the pods' CPU usage follows
 * kwok's annotation. What is checked: load up → replicas to maxReplicas, the pods the pool has GPUs for Running and
 * the rest Pending as the capacity plan (components/gpu/capacity.ts) predicts; load down → back to minReplicas after
 * the stabilisation window (rollouts.timeScale 10 compresses it).
 *
 * Starts its own sandbox (none may be running) and takes it down afterwards. Titled `[tools: e2e-late]`: it needs the
 * `autoscaling` tool set (KEDA) beyond the `sandbox` set, so `.ci/run` runs it after the rest of the suite.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { capacityPlan } from "../../components/gpu/capacity";
import { readState, sandboxPaths, waitFor } from "../cluster/controlPlane";
import { Kube, KubeObject } from "../cluster/kube";
import { stopProcess } from "../cluster/processes";
import { SANDBOX_POOL_LABEL } from "../cluster/nodes";
import { startPrometheus } from "../rehearsal/prometheus";
import { ROLLOUT_API } from "../rehearsal/rollout";
import { SANDBOX_DIR } from "../sandbox";
import { toolPath } from "../toolchain/build";
import { cli } from "./cli";

const STACK = "local-keda";
const NS = "models-keda";
const MODEL = "sentiment";
const POOL = { name: "l4-keda", instanceType: "g6.xlarge", nodes: 2 };
const MIN = 1;
const MAX = 4;
const TARGET_RPS = 1;
/** The stack's rollouts.prometheusUrl. */
const PROMETHEUS = "127.0.0.1:19091";
const EXPORTER_PORT = 19092;
const USAGE_CPU = "kwok.x-k8s.io/usage-cpu";
const paths = sandboxPaths(SANDBOX_DIR);

const sandboxLines = (out: string) =>
    out
        .split("\n")
        .filter((l) => l.startsWith("[sandbox]"))
        .map((l) => `      ${l}`)
        .join("\n");

/** A CPU quantity as metrics-server writes it (nanocores `…n`, millicores `…m`, or cores) in cores. */
function cores(q: string): number {
    const m = /^(\d+(?:\.\d+)?)([nm]?)$/.exec(q);
    if (!m) return NaN;
    return Number(m[1]) / (m[2] === "n" ? 1e9 : m[2] === "m" ? 1e3 : 1);
}

/**
 * The model server's request counter for each pod, growing at `rps` requests per second in total, spread over the
 * Running pods: the labels a scrape of the pod gives (namespace, app_kubernetes_io_name, pod) and the server's own.
 */
class RequestLoad {
    rps = 0;
    private readonly counts = new Map<string, number>();
    private last = Date.now();
    constructor(private readonly pods: () => string[]) {}
    private advance(): void {
        const now = Date.now();
        const running = this.pods();
        for (const p of running) this.counts.set(p, (this.counts.get(p) ?? 0) + (this.rps * (now - this.last)) / 1000 / running.length);
        this.last = now;
    }
    exposition(): string {
        this.advance();
        const lines = ["# TYPE model_server_requests_total counter"];
        for (const [pod, n] of this.counts)
            lines.push(
                `model_server_requests_total{namespace="${NS}",app_kubernetes_io_name="${MODEL}",pod="${pod}",handler="/v2/infer",method="POST",code="200"} ${n}`,
            );
        return lines.join("\n") + "\n";
    }
}

describe("sandbox e2e: the autoscaling loop (stack local-keda: KEDA, metrics-server, the HPA controller) [tools: e2e-late]", function () {
    this.timeout(900_000);
    let startedHere = false;
    let kube: Kube;
    let core: k8s.CoreV1Api;
    let running: string[] = [];
    const load = new RequestLoad(() => running);
    let exporter: http.Server | undefined;
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    const report: string[] = [];

    const pods = async () => kube.list("v1", "Pod", NS, `app.kubernetes.io/name=${MODEL}`);
    const isRunning = (p: KubeObject) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp;
    const hpa = async () => (await kube.read("autoscaling/v2", "HorizontalPodAutoscaler", MODEL, NS))!;
    const rolloutReplicas = async () => (await kube.read(ROLLOUT_API, "Rollout", MODEL, NS))?.spec?.replicas as number;
    const annotateCpu = async (value: string) => {
        for (const p of (await pods()).filter(isRunning))
            await core.patchNamespacedPod(
                { name: p.metadata!.name!, namespace: NS, body: { metadata: { annotations: { [USAGE_CPU]: value } } } },
                k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
            );
    };

    before(function () {
        // A missing tool fails here with `npm run tools -- build <name>` in the message (MissingToolError).
        toolPath("keda", "keda");
        const state = readState(paths);
        assert.equal(state, undefined, `a sandbox is recorded in ${paths.root} (stack ${state?.stack}): run \`npm run sandbox -- down\` first`);
    });

    after(async function () {
        this.timeout(600_000);
        console.log("    the loop:");
        for (const l of report) console.log(`      ${l}`);
        exporter?.close();
        if (prometheus) await stopProcess(prometheus.record).catch(() => undefined);
        if (startedHere) {
            const down = cli("sandbox.ts", ["down"]);
            assert.equal(down.status, 0, down.out.slice(-4000));
        }
    });

    it("1. `sandbox up --stack local-keda` starts KEDA with the sandbox; both aggregated metrics APIs are Available: metrics-server (metrics.k8s.io) and KEDA's metrics apiserver (external.metrics.k8s.io)", async function () {
        this.timeout(1_800_000);
        const up = cli("sandbox.ts", ["up", "--stack", STACK]);
        startedHere = true;
        console.log(sandboxLines(up.out));
        assert.equal(up.status, 0, up.out.slice(-6000));
        assert.match(up.out, /keda-operator ready/);
        kube = new Kube(paths.kubeconfig);
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(paths.kubeconfig);
        core = kc.makeApiClient(k8s.CoreV1Api);
        for (const name of ["v1beta1.metrics.k8s.io", "v1beta1.external.metrics.k8s.io"]) {
            await waitFor(`APIService ${name} Available`, 180, async () => {
                const a = await kube.read("apiregistration.k8s.io/v1", "APIService", name);
                return a?.status?.conditions?.some((c: any) => c.type === "Available" && c.status === "True") ? true : undefined;
            });
        }
        // metrics-server answers for kwok's nodes (two 15 s scrapes before the first value).
        const nodeMetrics = await waitFor("NodeMetrics from metrics-server", 120, async () => {
            const ms = await kube.list("metrics.k8s.io/v1beta1", "NodeMetrics");
            return ms.length > 0 ? ms : undefined;
        });
        report.push(`metrics-server: NodeMetrics for ${nodeMetrics.length} kwok nodes`);
    });

    it("2. the API server stores the ScaledObject (KEDA's CRD), and KEDA makes the HPA `sentiment` for the Rollout, with the CPU and request-rate metrics", async function () {
        const so = await kube.read("keda.sh/v1alpha1", "ScaledObject", MODEL, NS);
        assert.ok(so, "the ScaledObject is stored");
        const h = await waitFor("KEDA's HPA sentiment", 120, async () => kube.read("autoscaling/v2", "HorizontalPodAutoscaler", MODEL, NS));
        assert.deepEqual(
            h.metadata?.ownerReferences?.map((o: any) => `${o.kind}/${o.name}`),
            [`ScaledObject/${MODEL}`],
            "the HPA is KEDA's, named as the plain one",
        );
        assert.deepEqual({ ...h.spec.scaleTargetRef }, { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: MODEL });
        assert.deepEqual([h.spec.minReplicas, h.spec.maxReplicas], [MIN, MAX]);
        assert.deepEqual(
            h.spec.metrics
                .map((m: any) =>
                    m.type === "Resource"
                        ? `Resource ${m.resource.name} ${m.resource.target.type}`
                        : `External ${m.external.metric.name} ${m.external.target.type}`,
                )
                .sort(),
            ["External s1-prometheus AverageValue", "Resource cpu Utilization"],
        );
        assert.equal(h.spec.behavior.scaleDown.stabilizationWindowSeconds, 60, "GPU scale-down window 600 s ÷ rollouts.timeScale 10");
        await waitFor(`${MIN} Running pod of ${MODEL}`, 180, async () => ((await pods()).filter(isRunning).length === MIN ? true : undefined));
    });

    it("3. load rises: the HPA raises the Rollout to maxReplicas; the pool's GPUs take what the capacity plan says fits, the rest stay Pending", async function () {
        // Prometheus on the stack's URL, scraping the load every second.
        exporter = http.createServer((_req, res) => {
            res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
            res.end(load.exposition());
        });
        await new Promise<void>((r) => exporter!.listen(EXPORTER_PORT, "127.0.0.1", r));
        prometheus = await startPrometheus({
            dir: path.join(paths.root, "autoscaling-prometheus"),
            listen: PROMETHEUS,
            logDir: paths.logs,
            config: {
                global: { scrape_interval: "1s", scrape_timeout: "1s" },
                scrape_configs: [{ job_name: "model-load", honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${EXPORTER_PORT}`] }] }],
            },
        });
        const tick = setInterval(() => void pods().then((ps) => (running = ps.filter(isRunning).map((p) => p.metadata!.name!))), 1000);
        try {
            const t0 = Date.now();
            load.rps = (MAX + 2) * TARGET_RPS; // 6 requests per second: 6 pods' worth at the target, capped at 4
            await annotateCpu("900m"); // 90 % of the 1-CPU request, over the 70 % target
            const cpu = await waitFor("PodMetrics of the annotated pod (900m)", 120, async () => {
                const ms = await kube.list("metrics.k8s.io/v1beta1", "PodMetrics", NS);
                const usage = ms.flatMap((m: any) => m.containers.map((c: any) => c.usage.cpu as string));
                return usage.some((u) => Math.abs(cores(u) - 0.9) < 0.05) ? usage : undefined;
            });
            report.push(`metrics-server: pod CPU usage ${cpu.join(", ")} (kwok annotation ${USAGE_CPU}=900m)`);
            let reached = 0;
            await waitFor(`the HPA to scale the Rollout to ${MAX}`, 300, async () => {
                reached = Math.max(reached, await rolloutReplicas());
                return reached >= MAX ? true : undefined;
            });
            const h = await hpa();
            report.push(
                `load up (${load.rps} req/s in total, target ${TARGET_RPS} per pod): the HPA raised the Rollout ${MIN} → ${reached} in ${((Date.now() - t0) / 1000).toFixed(0)} s; metrics ${JSON.stringify(h.status?.currentMetrics?.map((m: any) => m.external?.current?.averageValue ?? m.resource?.current?.averageUtilization))}`,
            );
            // The capacity plan of the stack's pool at maxReplicas (what `npm run plan` prints).
            const [plan] = capacityPlan(
                [{ name: POOL.name, instanceType: POOL.instanceType, maxSize: POOL.nodes }],
                [{ name: MODEL, gpu: { pool: POOL.name, count: 1 }, autoscaling: { maxReplicas: MAX } }],
            );
            const fit = Math.floor((plan!.gpusPerNode * plan!.maxSize) / 1);
            assert.equal(plan!.fits, false);
            const settled = await waitFor(`${fit} Running and ${MAX - fit} Pending pods`, 180, async () => {
                const ps = (await pods()).filter((p) => !p.metadata?.deletionTimestamp);
                const run = ps.filter(isRunning);
                const pending = ps.filter((p) => p.status?.phase === "Pending");
                return run.length === fit && pending.length === MAX - fit ? { run, pending } : undefined;
            });
            const nodes = new Map((await kube.list("v1", "Node")).map((n) => [n.metadata!.name!, n]));
            for (const p of settled.run) assert.equal(nodes.get(p.spec.nodeName)?.metadata?.labels?.[SANDBOX_POOL_LABEL], POOL.name);
            for (const p of settled.pending) {
                const cond = p.status?.conditions?.find((c: any) => c.type === "PodScheduled");
                assert.equal(cond?.reason, "Unschedulable", `${p.metadata?.name}: ${JSON.stringify(cond)}`);
                assert.match(cond?.message ?? "", /Insufficient nvidia\.com\/gpu/);
            }
            report.push(
                `replicas reached ${reached} (maxReplicas ${MAX}); capacity plan: ${plan!.gpusNeeded} GPUs needed, ${plan!.gpusPerNode * plan!.maxSize} in pool ${POOL.name} → ${fit} fit, ${MAX - fit} cannot; observed ${settled.run.length} Running on ${POOL.name}, ${settled.pending.length} Pending (Insufficient nvidia.com/gpu)`,
            );
        } finally {
            clearInterval(tick);
        }
    });

    it("4. load falls: after the (compressed) stabilisation window the HPA brings the Rollout back to minReplicas", async function () {
        const tick = setInterval(() => void pods().then((ps) => (running = ps.filter(isRunning).map((p) => p.metadata!.name!))), 1000);
        try {
            const t0 = Date.now();
            load.rps = 0;
            await annotateCpu("1m");
            const seen: number[] = [];
            await waitFor(`the HPA to bring the Rollout back to ${MIN}`, 420, async () => {
                const r = await rolloutReplicas();
                if (seen[seen.length - 1] !== r) seen.push(r);
                return r === MIN ? true : undefined;
            });
            const seconds = (Date.now() - t0) / 1000;
            // Scale-down waits the window (60 s) and then removes one pod per 30 s: never faster than the window.
            assert.ok(seconds >= 55, `scaled down after ${seconds.toFixed(0)} s, before the 60 s stabilisation window`);
            report.push(`load down: replicas ${seen.join(" → ")} in ${seconds.toFixed(0)} s (window 60 s, then 1 pod per 30 s)`);
            await waitFor(`${MIN} pod left`, 120, async () => ((await pods()).filter((p) => !p.metadata?.deletionTimestamp).length === MIN ? true : undefined));
        } finally {
            clearInterval(tick);
        }
    });
});
