/**
 * One release rehearsal (issue #13) against a running sandbox, in phases (each its own file and tests):
 *
 * 1. preflight.ts — validate the scenario, find the sandbox, the stack's workspace config, the model's Rollout at
 *    rest (stable hash) and its ServiceMonitor: the Plan; nothing changes when it throws;
 * 2. servers.ts — start the scripted exporter and a real Prometheus on the stack's `rollouts.prometheusUrl`
 *    (loopback), whose Kubernetes discovery and operator-generated relabeling give the series their real labels;
 *    poller.ts starts polling; wait for stable's series and a warm-up;
 * 3. set the canary model's new version (patch + 1, a new digest, no release tag) and `rollouts.timeScale`, and
 *    `pulumi up` with the real engine: the real Argo Rollouts controller starts a canary (rendered.ts reads back
 *    what it runs);
 * 4. the poller records the timeline (observe.ts) until the outcome, which report.ts matches against `expect`;
 * 5. restore.ts, always: abort a canary in flight, put the stack's config back byte for byte, `pulumi up`, wait for
 *    the Rollout to be Healthy on the stable hash again; then stop Prometheus and the exporter, write the report.
 *
 * The sequence follows kwokctl's `create cluster` (start, wait until served, clean up what was started on failure).
 * An interrupt is the `signal` of the options (sandbox/cmd/rehearse.ts aborts it on SIGINT/SIGTERM): every wait ends
 * with "interrupted by <signal>" and the restore runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readState } from "../cluster/controlPlane";
import { ProcessRecord, stopProcess } from "../cluster/processes";
import { REPO_ROOT } from "../stack";
import { formatEvent, Recorder } from "./observe";
import { kubeSources, Poller, podRefs, postJson } from "./poller";
import { Plan, PreflightOptions, preflight } from "./preflight";
import { prometheusBinary, PrometheusServer } from "./prometheus";
import { readRendered, renderedLines } from "./rendered";
import { expectationText, finalLine, newReport, RehearsalReport, RehearsalResult, recordOutcome, writeReport } from "./report";
import { InProgress, restore, saveMarker } from "./restore";
import { pause, StopCheck, stopCheck, throwIfStopped, waitUntil } from "./signal";
import { scrapeSetup, stableSelector, startExporter, startRehearsalPrometheus, waitForStableSeries } from "./servers";
import { fleetStats, startFleet } from "./fleet/start";

export type { RehearsalReport, RehearsalResult } from "./report";

export interface RehearseOptions extends PreflightOptions {
    log?: (line: string) => void;
    /** Aborted to interrupt: the rehearsal stops waiting, restores the sandbox and reports the reason (the signal's name). */
    signal?: AbortSignal;
}

/** The header the command prints once the plan is made. */
export function headerLines(
    p: Pick<Plan, "options" | "scenario" | "scenarioFile" | "stableVersion" | "stableHash" | "canaryVersion" | "canaryDigest" | "routing">,
): string[] {
    const s = p.scenario;
    return [
        `rehearsal: stack ${p.options.stack}, model ${p.options.model}, scenario ${s.name} (${p.scenarioFile}), time scale ${p.options.timeScale}`,
        ...(s.description ? [`  ${s.description}`] : []),
        `  stable ${p.stableVersion} (pod-template-hash ${p.stableHash}) → canary ${p.canaryVersion} (${p.canaryDigest.slice(0, 19)}…); traffic routing ${p.routing}`,
        `  expect: ${s.expect ? expectationText(s.expect) : "(none)"}`,
    ];
}

/** What the rehearsal started and changed, for the restore: filled in as it goes. */
interface Started {
    processes: ProcessRecord[];
    prom?: PrometheusServer;
    poller?: Poller;
    /** Real-server scenarios: the fleet's URL (its /stats go into the report). */
    fleetUrl?: string;
    /** The stack's config was edited for the new version (the restore must put it back and deploy). */
    stackChanged: boolean;
}

export async function rehearse(o: RehearseOptions): Promise<RehearsalResult> {
    const log = o.log ?? ((l: string) => console.log(l));
    const startedMs = Date.now();
    // 1. Everything is checked before anything runs.
    const plan = await preflight(o, log, stopCheck(o.signal));
    for (const l of headerLines(plan)) log(l);

    /** The sandbox this rehearsal changed is still the one running (nobody stopped or replaced it). */
    const sameSandbox = () => readState(plan.paths)?.startedAt === plan.sandboxStartedAt;
    const replaced: StopCheck = () =>
        sameSandbox() ? undefined : `the sandbox (started ${plan.sandboxStartedAt}) was stopped or replaced during the rehearsal`;
    const stopped = stopCheck(o.signal, replaced);

    const started: Started = { processes: [], stackChanged: false };
    const marker: InProgress = {
        sandboxStartedAt: plan.sandboxStartedAt,
        stack: o.stack,
        model: o.model,
        stackFile: plan.stackFile,
        originalText: plan.originalText,
        stableHash: plan.stableHash,
        processes: started.processes,
    };
    const running = (p: ProcessRecord) => {
        started.processes.push(p);
        saveMarker(plan.markerFile, marker);
    };
    saveMarker(plan.markerFile, marker);

    const recorder = new Recorder({
        routing: plan.routing,
        timeScale: o.timeScale,
        stableHashBefore: plan.stableHash,
        canaryService: `${o.model}-canary`,
        pauseSettleSeconds: 10,
        abortSettleSeconds: 30,
    });
    const printer = timelinePrinter(recorder, log);
    const report = newReport({
        stack: o.stack,
        model: o.model,
        scenario: plan.scenario.name,
        scenarioFile: plan.scenarioFile,
        description: plan.scenario.description,
        timeScale: o.timeScale,
        startedMs,
        expect: plan.scenario.expect,
        stableHash: plan.stableHash,
        versions: { stable: plan.stableVersion, canary: plan.canaryVersion, canaryDigest: plan.canaryDigest },
        events: recorder.events,
    });

    let exitCode: 0 | 1 | 2 = 2;
    try {
        await startMetrics(plan, report, started, { recorder, printer, running, stopped, log, signal: o.signal });
        await release(plan, report, started, log);
        exitCode = await awaitOutcome(plan, report, recorder, printer, stopped, log);
    } catch (e) {
        report.error = (e as Error).message;
        exitCode = 2;
        printer.flush();
        log(`  error: ${report.error}`);
    } finally {
        // 5. Always restore. The recorder's part is over: nothing after this point is the rehearsal's timeline.
        await started.poller?.stop();
        if (started.fleetUrl && report.servers) report.servers.stats = await fleetStats(started.fleetUrl);
        const tRestore = Date.now();
        try {
            const settled = await restore({ ...plan, model: o.model, sameSandbox, replaced, log }, started.stackChanged, tRestore);
            if (settled !== undefined) report.stableRevisionRestored = settled;
        } catch (e) {
            exitCode = 2;
            report.error = `${report.error ? `${report.error}; ` : ""}restore failed: ${(e as Error).message}`;
            log(`  restore FAILED: ${(e as Error).message}`);
        }
        for (const p of [...started.processes].reverse()) await stopProcess(p);
        if (started.prom) fs.rmSync(started.prom.dataDir, { recursive: true, force: true }); // the TSDB; config and logs stay
        // Keep the marker only when this sandbox still holds changes a later run must put back.
        if (!report.error?.includes("restore failed") || !sameSandbox()) fs.rmSync(plan.markerFile, { force: true });
        report.seconds.restore = Math.round((Date.now() - tRestore) / 100) / 10;
        report.seconds.total = Math.round((Date.now() - startedMs) / 100) / 10;
        const pollError = started.poller?.lastError;
        if (pollError && exitCode !== 2 && !recorder.outcome) report.error ??= pollError.message;
        writeReport(plan.reportFile, report);
        log(`  report: ${path.relative(REPO_ROOT, plan.reportFile)} (total ${report.seconds.total} s)`);
    }
    return { exitCode, report, reportFile: plan.reportFile, error: report.error };
}

/** Prints the recorder's events as they come, once enabled (the timeline header is printed). */
function timelinePrinter(recorder: Recorder, log: (l: string) => void): { flush(): void; enable(): void } {
    let printed = 0;
    let printing = false;
    const flush = () => {
        if (!printing) return;
        for (; printed < recorder.events.length; printed++) log(formatEvent(recorder.events[printed]));
    };
    return {
        flush,
        enable: () => {
            printing = true;
            flush();
        },
    };
}

/** 2. The exporter and Prometheus, then the poller; stable's series in Prometheus, and a warm-up of its history. */
async function startMetrics(
    plan: Plan,
    report: RehearsalReport,
    started: Started,
    o: {
        recorder: Recorder;
        printer: { flush(): void };
        running: (p: ProcessRecord) => void;
        stopped: StopCheck;
        log: (l: string) => void;
        signal?: AbortSignal;
    },
): Promise<void> {
    const { model, timeScale } = plan.options;
    // Scripted metrics (the exporter), or real model servers behind the pods with real traffic (fleet/).
    let exporter: { url: string };
    const servers = plan.scenario.servers;
    if (servers) {
        const fleet = await startFleet({
            servers,
            model,
            namespace: plan.ns,
            kubeconfig: plan.paths.kubeconfig,
            routing: plan.routing,
            ...(plan.abTest ? { abTest: plan.abTest } : {}),
            stableHash: plan.stableHash,
            versions: { stable: plan.stableVersion, canary: plan.canaryVersion },
            timeScale,
            port: plan.exporterPort,
            workDir: plan.workDir,
            logDir: plan.logDir,
            log: o.log,
            running: o.running,
        });
        exporter = fleet;
        started.fleetUrl = fleet.url;
        report.servers = fleet.report;
    } else {
        const scripted = await startExporter({
            scenario: plan.scenario,
            timeScale,
            model,
            port: plan.exporterPort,
            workDir: plan.workDir,
            logDir: plan.logDir,
        });
        o.running(scripted.record);
        exporter = scripted;
    }
    await postJson(`${exporter.url}/state`, { pods: podRefs(await plan.kube.list("v1", "Pod", plan.ns, `app.kubernetes.io/name=${model}`)) });

    const { config, scrape } = scrapeSetup({
        serviceMonitor: plan.serviceMonitor,
        exporterPort: plan.exporterPort,
        kubeconfig: plan.paths.kubeconfig,
        timeScale,
    });
    const prom = await startRehearsalPrometheus({ config, listen: plan.promListen, workDir: plan.workDir, logDir: plan.logDir });
    started.prom = prom;
    o.running(prom.record);
    report.rendered.scrape = scrape;
    o.log(
        `  prometheus ${prometheusBinary("prometheus")} on ${prom.url}: job ${scrape.job}, scrape every ${scrape.interval} (ServiceMonitor ${scrape.serviceMonitorInterval ?? "30s"} ÷ ${timeScale}), Kubernetes discovery of the ServiceMonitor's endpoints`,
    );

    // 3. Poll loop: pods to the exporter, snapshots to the recorder, targets from Prometheus.
    started.poller = new Poller({
        recorder: o.recorder,
        sources: kubeSources({ kube: plan.kube, ns: plan.ns, model, routing: plan.routing, exporterUrl: exporter.url, prometheusUrl: prom.url }),
        stableHash: plan.stableHash,
        rolloutName: `${plan.ns}/${model}`,
        log: o.log,
        onTick: o.printer.flush,
        stopped: o.stopped,
    }).start();

    // Stable's series must be in Prometheus with the labels the queries select on before the canary starts.
    report.seriesLabels = await waitForStableSeries(prom.url, stableSelector(plan.ns, model, plan.stableHash), o.stopped);
    o.log(`  series labels (from Prometheus): ${JSON.stringify(report.seriesLabels)}`);
    const warmup = Math.min(60, Math.max(10, 120 / timeScale));
    o.log(`  warm-up ${warmup} s: stable's history for the rate windows`);
    await pause(warmup * 1000, o.signal);
    throwIfStopped(o.stopped);
}

/** 4. The new version, with the real engine. */
async function release(plan: Plan, report: RehearsalReport, started: Started, log: (l: string) => void): Promise<void> {
    const { stack, edits } = plan;
    log(`  pulumi up: ${edits.map((e) => (e.value === undefined ? `remove ${e.key}` : `${e.key}=${e.value}`)).join(", ")}`);
    for (const e of edits) {
        if (e.value === undefined) await stack.removeConfig(e.key, true);
        else await stack.setConfig(e.key, { value: e.value }, true);
    }
    started.stackChanged = true;
    const pulumiLog = path.join(plan.workDir, "pulumi-up.log");
    const tUpStart = Date.now();
    started.poller?.markUpdate(tUpStart);
    const up = await stack.up({ color: "never", onOutput: (out) => fs.appendFileSync(pulumiLog, out) });
    report.seconds.pulumiUp = Math.round((Date.now() - tUpStart) / 100) / 10;
    log(
        `  pulumi up: ${up.summary.result} in ${report.seconds.pulumiUp} s ${JSON.stringify(up.summary.resourceChanges)} (log ${path.relative(REPO_ROOT, pulumiLog)})`,
    );
}

/** The rendered steps and templates, then the timeline until the outcome; returns the exit code (0 match, 1 mismatch). */
async function awaitOutcome(
    plan: Plan,
    report: RehearsalReport,
    recorder: Recorder,
    printer: { flush(): void; enable(): void },
    stopped: StopCheck,
    log: (l: string) => void,
): Promise<0 | 1> {
    const { model, timeScale } = plan.options;
    const rendered = await readRendered(plan.kube, plan.ns, model);
    report.rendered.steps = rendered.steps;
    report.rendered.templates = rendered.templates;
    for (const l of renderedLines(rendered, plan.ns, model)) log(l);
    const budget = rendered.budgetSeconds;
    log(`  timeline (t = seconds since the canary ReplicaSet was created; scn = t × ${timeScale}); deadline ${budget} s:`);
    printer.enable();

    await waitUntil("the rollout to start (a new pod-template hash)", 120, async () => (recorder.t0Ms !== undefined ? true : undefined), stopped);
    await waitUntil(`an outcome (promoted, aborted or paused) within ${budget} s`, budget, async () => (recorder.outcome ? true : undefined), stopped);
    printer.flush();

    const out = recorder.outcome!;
    const match = recordOutcome(report, out, {
        maxCanaryWeight: recorder.maxCanaryWeight,
        canaryWeightAtEnd: recorder.lastWeight?.weight ?? 0,
        toOutcome: recorder.events.find((e) => e.kind === "outcome")?.t ?? null,
    });
    log(finalLine(report, out));
    return match ? 0 : 1;
}
