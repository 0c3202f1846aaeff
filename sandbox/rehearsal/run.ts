/**
 * One release rehearsal (issue #13) against a running sandbox:
 *
 * 1. validate the scenario; find the sandbox, the stack's workspace config, the model's Rollout at rest (stable
 *    hash), its ServiceMonitor and the AnalysisTemplates;
 * 2. start the scripted exporter and a real Prometheus on the stack's `rollouts.prometheusUrl` (loopback), whose
 *    Kubernetes discovery and operator-generated relabeling give the series their real labels; wait for stable's
 *    series;
 * 3. set the canary model's new version (patch + 1, a new digest, no release tag) and `rollouts.timeScale`, and
 *    `pulumi up` with the real engine: the real Argo Rollouts controller starts a canary;
 * 4. poll the Rollout, its pods and AnalysisRuns every second and record the timeline until the outcome;
 * 5. always restore: abort a paused rollout, put the stack's config back byte for byte, `pulumi up`, wait for the
 *    Rollout to be Healthy on the stable hash again, stop Prometheus and the exporter.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { Stack } from "@pulumi/pulumi/automation";
import * as semver from "semver";
import * as YAML from "yaml";
import { exposure } from "../../components/rollouts/canary";
import { labelValue } from "../../domain/labels";
import { templateMinSeconds } from "../../components/rollouts/analysis";
import { readState, sandboxPaths, SandboxPaths, waitFor } from "../cluster/controlPlane";
import { Kube, KubeObject } from "../cluster/kube";
import { httpStatus, isAlive, portTaken, ProcessRecord, sleep, startProcess, stopProcess } from "../cluster/processes";
import { prepareEngine, REPO_ROOT, sandboxStack } from "../stack";
import { FleetOptions, PodRef } from "./exporter";
import { formatEvent, HASH_LABEL, Recorder, Routing, Snapshot, stepText, TimelineEvent } from "./observe";
import { activeTargets, instantQuery, prometheusBinary, PrometheusServer, startPrometheus } from "./prometheus";
import { compressedScrape, prometheusConfig } from "./prometheusConfig";
import { loadScenario, Outcome, Scenario } from "./scenario";

export const SANDBOX_DIR = path.join(REPO_ROOT, "out", "sandbox");
export const OUT_DIR = path.join(REPO_ROOT, "out", "rehearsal");
const PROJECT_KEY = "model-fleet";
const ROLLOUT_API = "argoproj.io/v1alpha1";

export interface RehearseOptions {
    stack: string;
    model: string;
    scenarioFile: string;
    timeScale: number;
    log?: (line: string) => void;
}

export interface RehearsalReport {
    stack: string;
    model: string;
    scenario: string;
    scenarioFile: string;
    description?: string;
    timeScale: number;
    startedAt: string;
    expect?: Scenario["expect"];
    outcome: Outcome | "error";
    match: boolean;
    stepAtEnd: number | null;
    maxCanaryWeight: number;
    canaryWeightAtEnd: number;
    stableRevisionBefore: string;
    stableRevisionAfter: string;
    /** The stable hash after the restore (differs from stableRevisionBefore only when the program changed meanwhile). */
    stableRevisionRestored?: string;
    versions: { stable: string; canary: string; canaryDigest: string };
    /** Seconds from the rollout's start to the outcome, and of the whole command. */
    seconds: { toOutcome: number | null; total: number; pulumiUp: number; restore: number };
    rendered: { steps: string[]; templates: Record<string, unknown>[]; scrape: Record<string, unknown> };
    seriesLabels: Record<string, string>;
    error?: string;
    events: TimelineEvent[];
}

export interface RehearsalResult {
    exitCode: 0 | 1 | 2;
    report?: RehearsalReport;
    reportFile?: string;
    error?: string;
}

/** Marker of a rehearsal in progress: what to put back if it is interrupted. */
interface InProgress {
    /** The sandbox it ran in (ClusterState.startedAt): a marker from another sandbox restores nothing. */
    sandboxStartedAt: string;
    stack: string;
    model: string;
    stackFile: string;
    originalText: string;
    stableHash: string;
    processes: ProcessRecord[];
}

/** Set by SIGINT/SIGTERM (sandbox/rehearse.ts): the rehearsal stops waiting and restores. */
let interruptedBy: string | undefined;
export function interrupt(signal: string): void {
    interruptedBy = signal;
}

const markerFile = (stack: string) => path.join(OUT_DIR, stack, ".in-progress.json");

/** `sha256:` + 64 hex, deterministic per model and version (the same version reuses its ReplicaSet). */
export function rehearsalDigest(model: string, version: string): string {
    return `sha256:${createHash("sha256").update(`model-fleet rehearsal ${model} ${version}`).digest("hex")}`;
}

/** The stack file's config after the rehearsal's edits: new patch version, new digest, no tag, the time scale. */
export function rehearsalConfigEdits(models: any[], index: number, timeScale: number): Array<{ key: string; value?: string }> {
    const m = models[index];
    const version = semver.inc(m.version, "patch");
    if (!version) throw new Error(`models[${index}].version "${m.version}" is not a semantic version`);
    const edits: Array<{ key: string; value?: string }> = [
        { key: `${PROJECT_KEY}:models[${index}].version`, value: version },
        { key: `${PROJECT_KEY}:models[${index}].image.digest`, value: rehearsalDigest(m.name, version) },
        { key: `${PROJECT_KEY}:rollouts.timeScale`, value: String(timeScale) },
    ];
    if (m.image?.tag !== undefined) edits.push({ key: `${PROJECT_KEY}:models[${index}].image.tag` });
    return edits;
}

function postJson(url: string, body: unknown): Promise<number> {
    return new Promise((resolve) => {
        const req = http.request(url, { method: "POST", headers: { "Content-Type": "application/json" }, timeout: 3000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => req.destroy());
        req.end(JSON.stringify(body));
    });
}

const isLoopback = (host: string) => ["127.0.0.1", "localhost", "[::1]"].includes(host);

function podRefs(pods: KubeObject[]): PodRef[] {
    return pods
        .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && p.status?.podIP)
        .map((p) => ({
            namespace: p.metadata!.namespace!,
            name: p.metadata!.name!,
            hash: p.metadata?.labels?.[HASH_LABEL] ?? "",
            version: p.metadata?.labels?.["app.kubernetes.io/version"],
        }));
}

function rolloutAtRest(r: KubeObject | undefined): boolean {
    const st = r?.status ?? {};
    return st.phase === "Healthy" && !!st.stableRS && st.stableRS === st.currentPodHash && st.abort !== true;
}

async function abortRollout(kc: k8s.KubeConfig, ns: string, name: string): Promise<void> {
    // As `kubectl argo rollouts abort` (pkg/kubectl-argo-rollouts/cmd/abort): a merge patch of the status subresource.
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    await api.patchNamespacedCustomObjectStatus(
        { group: "argoproj.io", version: "v1alpha1", namespace: ns, plural: "rollouts", name, body: { status: { abort: true } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
}

async function promoteFull(kc: k8s.KubeConfig, ns: string, name: string, specPaused: boolean): Promise<void> {
    // As `kubectl argo rollouts promote --full` (pkg/kubectl-argo-rollouts/cmd/promote): status.promoteFull, and unpause.
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
    const target = { group: "argoproj.io", version: "v1alpha1", namespace: ns, plural: "rollouts", name };
    await api.patchNamespacedCustomObjectStatus({ ...target, body: { status: { promoteFull: true } } }, merge);
    if (specPaused) await api.patchNamespacedCustomObject({ ...target, body: { spec: { paused: false } } }, merge);
}

/**
 * Waits until the Rollout is at rest on `version` and returns its stable hash. A rollback to `expectHash` (the stable
 * ReplicaSet, or one within the rollbackWindow) is Argo's to finish. Any OTHER new ReplicaSet of that same version
 * means the program renders the version differently than when it was deployed (the code changed in between): it
 * is promoted in full, as an operator would, since it is the version already serving, not a release.
 */
async function settleOnVersion(o: {
    kube: Kube;
    kc: k8s.KubeConfig;
    ns: string;
    model: string;
    version: string;
    expectHash?: string;
    seconds: number;
    log: (l: string) => void;
    fatal?: () => string | undefined;
}): Promise<string> {
    let promoted = "";
    return waitUntil(
        `Rollout ${o.ns}/${o.model} Healthy on version ${o.version}`,
        o.seconds,
        async () => {
            const r = await o.kube.read(ROLLOUT_API, "Rollout", o.model, o.ns);
            const v = r?.spec?.template?.metadata?.labels?.["app.kubernetes.io/version"];
            if (!r || v !== labelValue(o.version)) throw new Error(`the Rollout's template is version ${v ?? "(none)"}, not ${o.version}`);
            const st = r.status ?? {};
            if (rolloutAtRest(r)) return st.stableRS as string;
            const current: string | undefined = st.currentPodHash;
            if (current && current !== st.stableRS && current !== o.expectHash && promoted !== current) {
                o.log(
                    `  the program renders ${o.model} ${o.version} differently than when it was deployed (new ReplicaSet ${current}): promoting it in full (status.promoteFull)`,
                );
                await promoteFull(o.kc, o.ns, o.model, r.spec?.paused === true);
                promoted = current;
            }
            return undefined;
        },
        o.fatal,
    );
}

/** The sandbox's poll loop, once a second, ended early by `fatal`. */
function waitUntil<T>(what: string, seconds: number, probe: () => Promise<T | undefined>, fatal: () => string | undefined = () => undefined): Promise<T> {
    return waitFor(what, seconds, probe, { intervalMs: 1000, fatal });
}

/** Rendered steps as text lines, with the analysis args of each gate. */
function stepLines(rollout: KubeObject): string[] {
    const steps: any[] = rollout.spec?.strategy?.canary?.steps ?? [];
    return steps.map((s, i) => {
        const args = s.analysis
            ? `  args: ${(s.analysis.args ?? [])
                  .filter((a: any) => a.value !== undefined)
                  .map((a: any) => `${a.name}=${a.value}`)
                  .join(" ")}`
            : "";
        return `${String(i).padStart(2)} ${stepText(s)}${args}`;
    });
}

function templateSummary(t: KubeObject): Record<string, unknown>[] {
    return (t.spec?.metrics ?? []).map((m: any) => ({
        template: t.metadata?.name,
        metric: m.name,
        interval: m.interval,
        count: m.count,
        failureLimit: m.failureLimit,
        inconclusiveLimit: m.inconclusiveLimit,
        consecutiveErrorLimit: m.consecutiveErrorLimit,
        successCondition: m.successCondition,
        failureCondition: m.failureCondition,
        query: m.provider?.prometheus?.query,
    }));
}

/** Restores the stack after an interrupted rehearsal (a marker left behind). */
async function recoverInterrupted(stack: Stack, sandboxStartedAt: string, log: (l: string) => void): Promise<void> {
    const file = markerFile(stack.name);
    if (!fs.existsSync(file)) return;
    const m = JSON.parse(fs.readFileSync(file, "utf8")) as InProgress;
    for (const p of m.processes) if (isAlive(p.pid) && p.name.startsWith("rehearsal-")) await stopProcess(p);
    if (m.sandboxStartedAt === sandboxStartedAt) {
        log(`an interrupted rehearsal of ${m.model} left ${path.relative(REPO_ROOT, file)}: restoring the stack config first`);
        fs.writeFileSync(m.stackFile, m.originalText);
        await stack.up({ color: "never", onOutput: () => undefined });
    } else {
        log(`a rehearsal marker from another sandbox (${m.sandboxStartedAt}) was dropped; this sandbox's config is untouched`);
    }
    fs.rmSync(file, { force: true });
}

export async function rehearse(o: RehearseOptions): Promise<RehearsalResult> {
    const log = o.log ?? ((l: string) => console.log(l));
    const started = Date.now();
    // 1. Everything is checked before anything runs.
    const scenario = loadScenario(o.scenarioFile);
    if (!Number.isInteger(o.timeScale) || o.timeScale < 1 || o.timeScale > 600)
        throw new Error(`--time-scale ${o.timeScale} must be an integer in 1..600 (rollouts.timeScale)`);
    const paths: SandboxPaths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state || !state.processes.some((p) => isAlive(p.pid)))
        throw new Error(`no running sandbox in ${path.relative(REPO_ROOT, paths.root)}: start one with \`npm run sandbox -- up --stack ${o.stack}\``);
    if (state.stack !== o.stack) throw new Error(`the running sandbox deploys stack "${state.stack}", not "${o.stack}"`);
    const stopped = state.processes.filter((p) => !isAlive(p.pid)).map((p) => p.name);
    if (stopped.length > 0) throw new Error(`sandbox processes not running: ${stopped.join(", ")} (\`npm run sandbox -- status\`)`);
    prometheusBinary("prometheus"); // fail now, not after the stack changed

    const kube = new Kube(paths.kubeconfig);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    const engine = prepareEngine(paths, o.stack, state.caCert);
    const stack = await sandboxStack(o.stack, engine);
    await recoverInterrupted(stack, state.startedAt, log);

    const stackFile = path.join(engine.workDir, `Pulumi.${o.stack}.yaml`);
    const originalText = fs.readFileSync(stackFile, "utf8");
    const config = YAML.parse(originalText).config as Record<string, any>;
    const models: any[] = config[`${PROJECT_KEY}:models`] ?? [];
    const index = models.findIndex((m) => m.name === o.model);
    if (index < 0) throw new Error(`stack ${o.stack} has no model "${o.model}" (models: ${models.map((m) => m.name).join(", ")})`);
    if (!models[index].canary) throw new Error(`model "${o.model}" has no canary config: it is a Deployment, there is nothing to rehearse`);
    const rolloutsCfg = config[`${PROJECT_KEY}:rollouts`] ?? {};
    const routing: Routing = rolloutsCfg.trafficRouting ?? "none";
    const promUrl = new URL(rolloutsCfg.prometheusUrl ?? "");
    if (promUrl.protocol !== "http:" || !isLoopback(promUrl.hostname) || !promUrl.port) {
        throw new Error(
            `rollouts.prometheusUrl ${promUrl} must be http://127.0.0.1:<port>: the rehearsal runs Prometheus there for the host's Argo controller`,
        );
    }
    const promListen = `127.0.0.1:${promUrl.port}`;
    const exporterPort = Number(promUrl.port) + 1;
    for (const [what, port] of [
        ["Prometheus", Number(promUrl.port)],
        ["the rehearsal exporter", exporterPort],
    ] as const) {
        if (await portTaken(port)) throw new Error(`127.0.0.1:${port} (${what}) is in use: another rehearsal or Prometheus runs; nothing was changed`);
    }
    const ns: string = config[`${PROJECT_KEY}:serving`]?.namespace ?? "models";
    let rollout0 = await kube.read(ROLLOUT_API, "Rollout", o.model, ns);
    if (!rollout0) throw new Error(`no Rollout ${ns}/${o.model} in the sandbox (is the stack deployed?)`);
    // The deployed stack must be what the program renders now: otherwise the restore could not return to the same
    // ReplicaSet (a commit since the sandbox was deployed may change the pod template). Bring it up to date first.
    const preview = await stack.preview({ color: "never" });
    const pending = Object.entries(preview.changeSummary ?? {}).filter(([op, n]) => op !== "same" && Number(n) > 0);
    if (pending.length > 0 || !rolloutAtRest(rollout0)) {
        const templateVersion = rollout0.spec?.template?.metadata?.labels?.["app.kubernetes.io/version"];
        if (templateVersion !== labelValue(models[index].version)) {
            throw new Error(`Rollout ${ns}/${o.model} runs version ${templateVersion}, the stack config says ${models[index].version}: nothing was changed`);
        }
        if (pending.length > 0) {
            log(`  the deployed stack is behind the program or its config (${pending.map(([op, n]) => `${n} to ${op}`).join(", ")}): pulumi up first`);
            const sync = await stack.up({ color: "never", onOutput: () => undefined });
            log(`  pulumi up: ${sync.summary.result} ${JSON.stringify(sync.summary.resourceChanges)}`);
        } else {
            log(
                `  Rollout ${ns}/${o.model} is not at rest on its configured version ${models[index].version} (phase ${rollout0.status?.phase}): settling it first`,
            );
        }
        await settleOnVersion({ kube, kc, ns, model: o.model, version: models[index].version, expectHash: rollout0.status?.stableRS, seconds: 180, log });
        rollout0 = (await kube.read(ROLLOUT_API, "Rollout", o.model, ns))!;
    }
    if (!rolloutAtRest(rollout0)) {
        const st = rollout0.status ?? {};
        throw new Error(
            `Rollout ${ns}/${o.model} is not at rest (phase ${st.phase}, stable ${st.stableRS}, current ${st.currentPodHash}${st.abort ? ", aborted" : ""}): nothing was changed`,
        );
    }
    const stableHash: string = rollout0.status.stableRS;
    const serviceMonitor = await kube.read("monitoring.coreos.com/v1", "ServiceMonitor", o.model, ns);
    if (!serviceMonitor) throw new Error(`no ServiceMonitor ${ns}/${o.model}: the rehearsal derives the scrape from it (serving.prometheusOperator: true)`);

    const outDir = path.join(OUT_DIR, o.stack, o.model);
    const workDir = path.join(outDir, `${scenario.name}.work`);
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    const logDir = path.join(workDir, "logs");
    const reportFile = path.join(outDir, `${scenario.name}.json`);
    const edits = rehearsalConfigEdits(models, index, o.timeScale);
    const canaryVersion = edits[0].value!;
    const canaryDigest = edits[1].value!;
    const stableVersion: string = models[index].version;

    log(
        `rehearsal: stack ${o.stack}, model ${o.model}, scenario ${scenario.name} (${path.relative(REPO_ROOT, path.resolve(o.scenarioFile))}), time scale ${o.timeScale}`,
    );
    if (scenario.description) log(`  ${scenario.description}`);
    log(`  stable ${stableVersion} (pod-template-hash ${stableHash}) → canary ${canaryVersion} (${canaryDigest.slice(0, 19)}…); traffic routing ${routing}`);
    log(
        `  expect: ${scenario.expect ? `${scenario.expect.outcome}${scenario.expect.atStep !== undefined ? ` at step ${scenario.expect.atStep}` : ""}` : "(none)"}`,
    );

    const processes: ProcessRecord[] = [];
    const marker: InProgress = { sandboxStartedAt: state.startedAt, stack: o.stack, model: o.model, stackFile, originalText, stableHash, processes };
    /** The sandbox this rehearsal changed is still the one running (nobody stopped or replaced it). */
    const sameSandbox = () => readState(paths)?.startedAt === state.startedAt;
    const saveMarker = () => {
        fs.mkdirSync(path.dirname(markerFile(o.stack)), { recursive: true });
        fs.writeFileSync(markerFile(o.stack), JSON.stringify(marker, null, 2));
    };
    saveMarker();

    const recorder = new Recorder({
        routing,
        timeScale: o.timeScale,
        stableHashBefore: stableHash,
        canaryService: `${o.model}-canary`,
        pauseSettleSeconds: 10,
        abortSettleSeconds: 30,
    });
    let printed = 0;
    let printing = false;
    const flush = () => {
        if (!printing) return;
        for (; printed < recorder.events.length; printed++) log(formatEvent(recorder.events[printed]));
    };
    const report: RehearsalReport = {
        stack: o.stack,
        model: o.model,
        scenario: scenario.name,
        scenarioFile: path.relative(REPO_ROOT, path.resolve(o.scenarioFile)),
        description: scenario.description,
        timeScale: o.timeScale,
        startedAt: new Date(started).toISOString(),
        expect: scenario.expect,
        outcome: "error",
        match: false,
        stepAtEnd: null,
        maxCanaryWeight: 0,
        canaryWeightAtEnd: 0,
        stableRevisionBefore: stableHash,
        stableRevisionAfter: stableHash,
        versions: { stable: stableVersion, canary: canaryVersion, canaryDigest },
        seconds: { toOutcome: null, total: 0, pulumiUp: 0, restore: 0 },
        rendered: { steps: [], templates: [], scrape: {} },
        seriesLabels: {},
        events: recorder.events,
    };

    let prom: PrometheusServer | undefined;
    let stackChanged = false;
    let polling = true;
    let pollError: Error | undefined;
    const replaced = () => (sameSandbox() ? undefined : `the sandbox (started ${state.startedAt}) was stopped or replaced during the rehearsal`);
    const gone = () => (interruptedBy ? `interrupted by ${interruptedBy}` : replaced());
    let poller: Promise<void> | undefined;
    let exitCode: 0 | 1 | 2 = 2;
    try {
        // 2. The exporter and Prometheus.
        const fleet: FleetOptions = { scenario: { canary: scenario.canary, stable: scenario.stable }, timeScale: o.timeScale, model: o.model, seed: 1 };
        const fleetFile = path.join(workDir, "exporter.json");
        fs.writeFileSync(fleetFile, JSON.stringify(fleet));
        const exporterUrl = `http://127.0.0.1:${exporterPort}`;
        processes.push(
            await startProcess(
                {
                    name: "rehearsal-exporter",
                    command: process.execPath,
                    args: [
                        "-r",
                        "ts-node/register/transpile-only",
                        path.join(__dirname, "exporterServer.ts"),
                        `--port=${exporterPort}`,
                        `--config=${fleetFile}`,
                    ],
                    cwd: REPO_ROOT,
                    ready: async () => (await httpStatus(`${exporterUrl}/healthz`)) === 200,
                    timeoutSeconds: 60,
                },
                logDir,
            ),
        );
        saveMarker();
        const listPods = () => kube.list("v1", "Pod", ns, `app.kubernetes.io/name=${o.model}`);
        await postJson(`${exporterUrl}/state`, { pods: podRefs(await listPods()) });

        const promConfig = prometheusConfig({
            serviceMonitor,
            exporterAddress: `127.0.0.1:${exporterPort}`,
            kubeconfig: paths.kubeconfig,
            timeScale: o.timeScale,
        });
        const scrape = compressedScrape(serviceMonitor.spec?.endpoints?.[0] ?? {}, o.timeScale);
        prom = await startPrometheus({ dir: path.join(workDir, "prometheus"), listen: promListen, config: promConfig, logDir });
        processes.push(prom.record);
        saveMarker();
        report.rendered.scrape = {
            job: (promConfig.scrape_configs as any[])[0]?.job_name,
            interval: scrape.interval,
            timeout: scrape.timeout,
            serviceMonitorInterval: serviceMonitor.spec?.endpoints?.[0]?.interval,
        };
        log(
            `  prometheus ${prometheusBinary("prometheus")} on ${prom.url}: job ${report.rendered.scrape.job}, scrape every ${scrape.interval} (ServiceMonitor ${serviceMonitor.spec?.endpoints?.[0]?.interval ?? "30s"} ÷ ${o.timeScale}), Kubernetes discovery of the ServiceMonitor's endpoints`,
        );

        // 3. Poll loop: pods to the exporter, snapshots to the recorder, targets from Prometheus.
        let lastTargets = "";
        let lastTargetPoll = 0;
        let tUpStart = 0;
        const poll = async () => {
            const tMs = Date.now();
            const [rollout, pods] = await Promise.all([kube.read(ROLLOUT_API, "Rollout", o.model, ns), listPods()]);
            if (!rollout) throw new Error(`Rollout ${ns}/${o.model} disappeared`);
            const update: { pods: PodRef[]; clock?: unknown } = { pods: podRefs(pods) };
            const current: string | undefined = rollout.status?.currentPodHash;
            if (recorder.t0Ms === undefined && current && current !== stableHash) {
                const rs = (await kube.list("apps/v1", "ReplicaSet", ns, `${HASH_LABEL}=${current}`))[0];
                const created = rs?.metadata?.creationTimestamp ? new Date(rs.metadata.creationTimestamp as unknown as string).getTime() : NaN;
                // The new ReplicaSet's creation (second precision) when it was created by this update, else now.
                const t0 = Number.isFinite(created) && created >= tUpStart - 1000 && created <= tMs ? created : tMs - 500;
                update.clock = { t0Ms: t0, canaryHash: current, stableHash };
                recorder.start(t0, current);
            }
            await postJson(`${exporterUrl}/state`, update);
            const canaryHash = recorder.canaryHash;
            const runs = canaryHash
                ? (await kube.list(ROLLOUT_API, "AnalysisRun", ns, `${HASH_LABEL}=${canaryHash}`)).filter(
                      (a) =>
                          (a.metadata?.ownerReferences ?? []).some((r: any) => r.uid === rollout.metadata?.uid) &&
                          // A version rehearsed before reuses its ReplicaSet (same hash): only this update's runs count
                          // (creation timestamps have second precision).
                          new Date((a.metadata?.creationTimestamp as unknown as string) ?? 0).getTime() >= tUpStart - 2000,
                  )
                : [];
            const snap: Snapshot = { tMs, rollout, pods, analysisRuns: runs };
            if (routing === "nginx") snap.canaryIngress = await kube.read("networking.k8s.io/v1", "Ingress", `${o.model}-${o.model}-canary`, ns);
            if (routing === "istio") snap.virtualService = await kube.read("networking.istio.io/v1beta1", "VirtualService", o.model, ns);
            recorder.observe(snap);
            if (prom && tMs - lastTargetPoll > 2000) {
                lastTargetPoll = tMs;
                const targets = (await activeTargets(prom.url).catch(() => []))
                    .map((t) => ({ pod: t.labels.pod ?? "?", hash: t.labels.rollouts_pod_template_hash ?? "?", health: t.health, labels: t.labels }))
                    .sort((a, b) => a.pod.localeCompare(b.pod));
                const key = JSON.stringify(targets.map((t) => [t.pod, t.hash, t.health]));
                if (key !== lastTargets) {
                    lastTargets = key;
                    recorder.targets(tMs, targets);
                }
            }
            flush();
        };
        poller = (async () => {
            while (polling) {
                const t = Date.now();
                try {
                    await poll();
                    pollError = undefined;
                } catch (e) {
                    if ((e as Error).message !== pollError?.message) log(`  (poll: ${(e as Error).message})`);
                    pollError = e as Error;
                }
                if (gone()) break;
                await sleep(Math.max(0, 1000 - (Date.now() - t)));
            }
        })();

        // Stable's series must be in Prometheus with the labels the queries select on before the canary starts.
        const selector = `namespace="${ns}",app_kubernetes_io_name="${o.model}",rollouts_pod_template_hash="${stableHash}"`;
        const stableSeries = await waitUntil(
            `stable's series {${selector}} in Prometheus`,
            90,
            async () => {
                const r = await instantQuery(prom!.url, `model_server_requests_total{${selector},handler="/predict"}`);
                return r.length > 0 ? r : undefined;
            },
            gone,
        );
        report.seriesLabels = stableSeries[0].metric;
        log(`  series labels (from Prometheus): ${JSON.stringify(stableSeries[0].metric)}`);
        const warmup = Math.min(60, Math.max(10, 120 / o.timeScale));
        log(`  warm-up ${warmup} s: stable's history for the rate windows`);
        await sleep(warmup * 1000);

        // 4. The new version, with the real engine.
        log(`  pulumi up: ${edits.map((e) => (e.value === undefined ? `remove ${e.key}` : `${e.key}=${e.value}`)).join(", ")}`);
        for (const e of edits) {
            if (e.value === undefined) await stack.removeConfig(e.key, true);
            else await stack.setConfig(e.key, { value: e.value }, true);
        }
        stackChanged = true;
        const pulumiLog = path.join(workDir, "pulumi-up.log");
        tUpStart = Date.now();
        const up = await stack.up({ color: "never", onOutput: (out) => fs.appendFileSync(pulumiLog, out) });
        report.seconds.pulumiUp = Math.round((Date.now() - tUpStart) / 100) / 10;
        log(
            `  pulumi up: ${up.summary.result} in ${report.seconds.pulumiUp} s ${JSON.stringify(up.summary.resourceChanges)} (log ${path.relative(REPO_ROOT, pulumiLog)})`,
        );

        const rendered = await kube.read(ROLLOUT_API, "Rollout", o.model, ns);
        const templateNames = [
            ...new Set(
                (rendered?.spec?.strategy?.canary?.steps ?? []).flatMap((s: any) => (s.analysis?.templates ?? []).map((t: any) => t.templateName as string)),
            ),
        ] as string[];
        const templates = (await Promise.all(templateNames.map((n) => kube.read(ROLLOUT_API, "AnalysisTemplate", n, ns)))).filter((t): t is KubeObject => !!t);
        report.rendered.steps = stepLines(rendered!);
        report.rendered.templates = templates.flatMap(templateSummary);
        log(`  steps (Rollout ${ns}/${o.model} as rendered):`);
        for (const l of report.rendered.steps) log(`    ${l}`);
        log(`  analysis (AnalysisTemplates in the API server):`);
        for (const t of report.rendered.templates) {
            log(
                `    ${t.template}/${t.metric}: interval ${t.interval}, count ${t.count}, failureLimit ${t.failureLimit}, inconclusiveLimit ${t.inconclusiveLimit}, consecutiveErrorLimit ${t.consecutiveErrorLimit}`,
            );
            log(`      success: ${t.successCondition}   failure: ${t.failureCondition}`);
            log(`      query: ${t.query}`);
        }
        const minSeconds = Object.fromEntries(templates.map((t) => [t.metadata!.name!, templateMinSeconds(t.spec)]));
        const expected = exposure(rendered?.spec?.strategy?.canary?.steps ?? [], minSeconds).minSecondsToFull;
        const budget = Math.ceil(expected * 2 + 180);
        log(`  timeline (t = seconds since the canary ReplicaSet was created; scn = t × ${o.timeScale}); deadline ${budget} s:`);
        printing = true;
        flush();

        await waitUntil("the rollout to start (a new pod-template hash)", 120, async () => (recorder.t0Ms !== undefined ? true : undefined), gone);
        await waitUntil(`an outcome (promoted, aborted or paused) within ${budget} s`, budget, async () => (recorder.outcome ? true : undefined), gone);
        flush();

        const out = recorder.outcome!;
        report.outcome = out.outcome;
        report.stepAtEnd = out.step;
        report.maxCanaryWeight = recorder.maxCanaryWeight;
        report.canaryWeightAtEnd = recorder.lastWeight?.weight ?? 0;
        report.stableRevisionAfter = out.stableRevisionAfter;
        report.seconds.toOutcome = recorder.events.find((e) => e.kind === "outcome")?.t ?? null;
        const exp = scenario.expect;
        report.match = !exp || (exp.outcome === out.outcome && (exp.atStep === undefined || exp.atStep === out.step));
        exitCode = report.match ? 0 : 1;
        log(
            `  final: ${out.outcome} at step ${out.step ?? "-"}; canary weight max ${report.maxCanaryWeight}%, at end ${report.canaryWeightAtEnd}%; stable ${stableHash} → ${out.stableRevisionAfter}` +
                (exp ? `; expected ${exp.outcome}${exp.atStep !== undefined ? ` at step ${exp.atStep}` : ""}: ${report.match ? "MATCH" : "MISMATCH"}` : ""),
        );
    } catch (e) {
        report.error = (e as Error).message;
        exitCode = 2;
        flush();
        log(`  error: ${report.error}`);
    } finally {
        // 5. Always restore. The recorder's part is over: nothing after this point is the rehearsal's timeline.
        polling = false;
        await poller;
        const tRestore = Date.now();
        try {
            if (stackChanged && !sameSandbox()) {
                // Its workspace and cluster are gone (or belong to a new sandbox): nothing of ours to put back.
                log(`  restore: skipped, ${replaced()}`);
            } else if (stackChanged) {
                const r = await kube.read(ROLLOUT_API, "Rollout", o.model, ns);
                if (r && !rolloutAtRest(r) && r.status?.abort !== true && r.status?.stableRS === stableHash) {
                    log(`  restore: aborting the rollout (status.abort, as kubectl argo rollouts abort)`);
                    await abortRollout(kc, ns, o.model);
                }
                fs.writeFileSync(stackFile, originalText);
                log(`  restore: stack config back to ${stableVersion}, timeScale ${rolloutsCfg.timeScale ?? 1}; pulumi up`);
                const up = await stack.up({ color: "never", onOutput: (out) => fs.appendFileSync(path.join(workDir, "pulumi-restore.log"), out) });
                log(`  restore: pulumi up ${up.summary.result} ${JSON.stringify(up.summary.resourceChanges)}`);
                const settled = await settleOnVersion({
                    kube,
                    kc,
                    ns,
                    model: o.model,
                    version: stableVersion,
                    expectHash: stableHash,
                    seconds: 180,
                    log,
                    fatal: replaced,
                });
                report.stableRevisionRestored = settled;
                log(`  restore: Rollout Healthy on ${settled} (${stableVersion}) after ${((Date.now() - tRestore) / 1000).toFixed(1)} s`);
            } else if (sameSandbox() && fs.existsSync(stackFile) && fs.readFileSync(stackFile, "utf8") !== originalText) {
                fs.writeFileSync(stackFile, originalText);
            }
        } catch (e) {
            exitCode = 2;
            report.error = `${report.error ? `${report.error}; ` : ""}restore failed: ${(e as Error).message}`;
            log(`  restore FAILED: ${(e as Error).message}`);
        }
        for (const p of [...processes].reverse()) await stopProcess(p);
        if (prom) fs.rmSync(prom.dataDir, { recursive: true, force: true }); // the TSDB; config and logs stay
        // Keep the marker only when this sandbox still holds changes a later run must put back.
        if (!report.error?.includes("restore failed") || !sameSandbox()) fs.rmSync(markerFile(o.stack), { force: true });
        report.seconds.restore = Math.round((Date.now() - tRestore) / 100) / 10;
        report.seconds.total = Math.round((Date.now() - started) / 100) / 10;
        if (pollError && exitCode !== 2 && !recorder.outcome) report.error ??= pollError.message;
        fs.mkdirSync(outDir, { recursive: true });
        fs.writeFileSync(reportFile, JSON.stringify(report, null, 2) + "\n");
        log(`  report: ${path.relative(REPO_ROOT, reportFile)} (total ${report.seconds.total} s)`);
    }
    return { exitCode, report, reportFile, error: report.error };
}
