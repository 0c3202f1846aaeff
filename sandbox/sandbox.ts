/**
 * The sandbox (`npm run sandbox -- up [--stack local]`, sandbox/cmd/sandbox.ts): a local GPU cluster with fake GPU nodes where the real Pulumi engine
 * deploys the fleet; `status` prints its pods; `down` destroys the stack and stops every process it started.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { gpuPoolSchema } from "../config/schema";
import {
    ClusterState,
    readState,
    removeKyvernoWebhooks,
    sandboxPaths,
    SandboxPaths,
    startCluster,
    stopCluster,
    waitFor,
    writeState,
} from "./cluster/controlPlane";
import { Kube, KubeObject } from "./cluster/kube";
import { poolNodes, SANDBOX_POOL_LABEL, sandboxNodes, SandboxPool } from "./cluster/nodes";
import { commandLine, processesWithEnv, ProcessRecord, recordStatus, sleep, stopProcess, StopOutcome } from "./cluster/processes";
import { formatRows, podRows } from "./cluster/view";
import {
    backendDir,
    backendUrl,
    describeLock,
    engineErrorSummary,
    lockHolder,
    prepareEngine,
    PROJECT,
    readStackLocks,
    REPO_ROOT,
    sandboxStack,
    StackLock,
    stackLockDir,
} from "./stack";
import { buildTools, isBuilt, selectTools, toolPath } from "./toolchain/build";
import { readFleetConfig, stackFilePath } from "../support/stackFile";
import { deployedStacks, downPlan, nodesToAdd, sandboxFeatures, SandboxFeatures, sandboxToolSets, upAction, withAddedStack, withoutStack } from "./stacks";

export const SANDBOX_DIR = path.join(REPO_ROOT, "out", "sandbox");

/** The GPU pools of a stack file (the sandbox fakes their nodes). */
export function stackPools(stack: string): SandboxPool[] {
    const file = stackFilePath(stack);
    if (!fs.existsSync(file)) {
        throw new Error(`no stack file ${path.relative(REPO_ROOT, file)}`);
    }
    return z.array(gpuPoolSchema).parse(readFleetConfig(stack).config.gpuPools ?? []);
}

/** The namespace of a stack's model workloads (serving.namespace, default models). */
export function stackNamespace(stack: string): string {
    return readFleetConfig(stack).config.serving?.namespace ?? "models";
}

/** What a stack needs the sandbox to run (sandbox/stacks.ts `sandboxFeatures`): Kyverno, KEDA. */
export function stackFeatures(stack: string): SandboxFeatures {
    return sandboxFeatures(readFleetConfig(stack).config, stack);
}

/**
 * Kyverno's webhook configurations, removed when its recorded process no longer runs (it crashed, or was stopped by
 * hand): left behind with failurePolicy Fail they refuse every pod of the models namespace. Returns what it removed.
 */
export async function removeDeadKyvernoWebhooks(paths: SandboxPaths, state: ClusterState, log: (l: string) => void): Promise<string[]> {
    const kyverno = state.processes.find((p) => p.name === "kyverno");
    if (!kyverno || recordStatus(kyverno) === "running") return [];
    const removed = await removeKyvernoWebhooks(new Kube(paths.kubeconfig));
    if (removed.length > 0)
        log(`Kyverno (pid ${kyverno.pid}) no longer runs: removed its webhook configurations (${removed.join(", ")}); pods are admitted unchecked`);
    return removed;
}

/** A recorded sandbox whose processes still run. */
export function runningSandbox(paths: SandboxPaths): ClusterState | undefined {
    const state = readState(paths);
    return state && state.processes.some((p) => recordStatus(p) === "running") ? state : undefined;
}

export async function podView(paths: SandboxPaths, namespace = "models"): Promise<string> {
    const kube = new Kube(paths.kubeconfig);
    const [pods, nodes] = await Promise.all([kube.list("v1", "Pod", namespace), kube.list("v1", "Node")]);
    return formatRows(podRows(pods, nodes));
}

/** Exit code of a process ended by a signal (128 + its number), as a shell reports it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** SIGINT/SIGTERM while `up` runs: a start in progress stops what it started; a running `pulumi up` gets SIGINT (the Automation API's abort signal), so that the engine cancels and releases the stack's lock. */
function onSignals(log: (l: string) => void): { abort: AbortController; interrupted: () => number } {
    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
        if (abort.signal.aborted) return;
        log(`${sig} received: stopping`);
        abort.abort(sig);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    return { abort, interrupted: () => SIGNAL_EXIT[String(abort.signal.reason)] ?? 130 };
}

/** `pulumi up` of a stack into the running sandbox, then its pods. Returns the exit code (a signal's on interruption). */
async function deployStack(
    paths: SandboxPaths,
    stack: string,
    caCert: string,
    signals: ReturnType<typeof onSignals>,
    log: (l: string) => void,
): Promise<number> {
    const { abort, interrupted } = signals;
    const leftRunning = `the cluster is still running for inspection (\`npm run sandbox -- status\`, logs in ${path.relative(REPO_ROOT, paths.logs)}); \`npm run sandbox -- down\` removes it`;
    if (abort.signal.aborted) {
        log(`interrupted before pulumi up; ${leftRunning}`);
        return interrupted();
    }
    const engine = prepareEngine(paths, stack, caCert);
    const s = await sandboxStack(stack, engine);
    if (abort.signal.aborted) {
        log(`interrupted before pulumi up; ${leftRunning}`);
        return interrupted();
    }
    const t1 = Date.now();
    try {
        const res = await s.up({ onOutput: (o) => process.stdout.write(o), color: "never", signal: abort.signal });
        log(`pulumi up: ${res.summary.result} in ${((Date.now() - t1) / 1000).toFixed(1)} s (${JSON.stringify(res.summary.resourceChanges)})`);
    } catch (e) {
        if (abort.signal.aborted) {
            log(`pulumi up interrupted (the engine was asked to cancel); ${leftRunning}`);
            return interrupted();
        }
        log(`pulumi up failed; ${leftRunning}`);
        throw e;
    }
    console.log(await podView(paths, stackNamespace(stack)));
    return 0;
}

export async function up(stack: string): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const running = runningSandbox(paths);
    const features = stackFeatures(stack);
    const action = upAction(running, stack, features);
    if (action.kind === "refuse") {
        console.error(action.message);
        return 1;
    }
    if (action.kind === "add") return addStack(paths, running!, stack);
    const t0 = Date.now();
    const log = (line: string) => console.log(`[sandbox] ${line}`);
    const nodes = sandboxNodes(stackPools(stack));
    // Kyverno's admission controller runs for a stack that enforces admission only, KEDA for one that autoscales through it.
    // The tools it runs: built now (with progress) when missing or out of date, found in the cache otherwise.
    const tools = selectTools(sandboxToolSets(features));
    if (tools.some((t) => !isBuilt(t))) {
        log("building the sandbox's tools from their Go modules first (cold: tens of minutes; once per machine)");
        await buildTools(tools, { tty: Boolean(process.stdout.isTTY) && !process.env.CI, write: (s) => process.stdout.write(s) });
    }
    const signals = onSignals(log);
    let state: ClusterState;
    try {
        state = await startCluster(paths, stack, nodes, REPO_ROOT, log, signals.abort.signal, features);
    } catch (e) {
        if (!signals.abort.signal.aborted) throw e;
        log(`interrupted while the cluster started: ${(e as Error).message.split("\n")[0]}; every process it had started was stopped`);
        return signals.interrupted();
    }
    log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig: ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    const code = await deployStack(paths, stack, state.caCert, signals, log);
    if (code === 0) log(`sandbox up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return code;
}

/**
 * Deploys another stack into the running sandbox (sandbox/stacks.ts): the nodes of its pools the sandbox lacks are
 * created first, and the stack is recorded before its `pulumi up`, so that `down` destroys it whatever happens.
 */
async function addStack(paths: SandboxPaths, running: ClusterState, stack: string): Promise<number> {
    const t0 = Date.now();
    const log = (line: string) => console.log(`[sandbox] ${line}`);
    const features = stackFeatures(stack);
    const kube = new Kube(paths.kubeconfig);
    const existing = (await kube.list("v1", "Node")) as Array<KubeObject & { metadata: { name: string } }>;
    const nodes = nodesToAdd(existing, stackPools(stack).flatMap(poolNodes), SANDBOX_POOL_LABEL);
    writeState(
        paths,
        withAddedStack(
            running,
            stack,
            nodes.map((n) => n.metadata.name),
        ),
    );
    log(`adding stack ${stack} to the running sandbox (stack ${deployedStacks(running).join(", ")}, started ${running.startedAt})`);
    if (features.admission && !running.processes.some((p) => p.name === "kyverno")) {
        log(
            `stack ${stack} enforces admission, but this sandbox runs no Kyverno (its first stack does not enforce): its ClusterPolicy is stored, not enforced`,
        );
    }
    await removeDeadKyvernoWebhooks(paths, running, log);
    for (const node of nodes) await kube.apply(node as unknown as KubeObject);
    if (nodes.length > 0) {
        const names = new Set(nodes.map((n) => n.metadata.name));
        await waitFor(`${nodes.length} nodes to be Ready`, 60, async () => {
            const ready = (await kube.list("v1", "Node")).filter(
                (n) => names.has(n.metadata!.name!) && n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
            );
            return ready.length >= nodes.length ? true : undefined;
        });
        log(`${nodes.length} kwok nodes of stack ${stack}'s pools Ready`);
    }
    const code = await deployStack(paths, stack, running.caCert, onSignals(log), log);
    if (code === 0) log(`stack ${stack} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return code;
}

export async function status(): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state) {
        console.log("no sandbox (start one with `npm run sandbox -- up`)");
        return 1;
    }
    const stacks = deployedStacks(state);
    console.log(`stack ${stacks.join(", ")}, started ${state.startedAt}, kubeconfig ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    const shown = { running: "running", gone: "STOPPED", reused: "STOPPED (its pid now runs another program)" } as const;
    for (const p of state.processes) console.log(`  ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${shown[recordStatus(p)]}`);
    const kyverno = state.processes.find((p) => p.name === "kyverno");
    if (kyverno && recordStatus(kyverno) !== "running") {
        console.log(
            "  Kyverno does not run: its webhooks (failurePolicy Fail) refuse the models namespace's pods until removed (`up --stack` or `down` removes them)",
        );
    }
    for (const stack of stacks) {
        const ns = stackNamespace(stack);
        if (stacks.length > 1) console.log(`stack ${stack} (namespace ${ns}):`);
        console.log(await podView(paths, ns));
    }
    return 0;
}

/**
 * pulumi-kubernetes 4.25.0 panics in `(*Deleted).Satisfied` (pkg/await/condition/deleted.go) when a status event of
 * an object being deleted arrives before its deletion: kstatus cannot read an Argo Rollout's string
 * `status.observedGeneration` and returns no result, which the provider dereferences. The object is deleted all the
 * same, so a second destroy finishes the job.
 */
export function isRolloutDeleteAwaitPanic(output: string): boolean {
    return /panic: runtime error: invalid memory address or nil pointer dereference/.test(output) && /await\/condition\/deleted\.go/.test(output);
}

/** Waits until a pid no longer runs; false on timeout. */
async function waitExit(pid: number, seconds: number): Promise<boolean> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        if (commandLine(pid) === undefined) return true;
        await sleep(200);
    }
    return commandLine(pid) === undefined;
}

/**
 * What is left of the sandbox's engine after `up` was killed: a sandbox `pulumi` CLI that still holds the stack's lock
 * (only the Node.js process was killed) is asked to cancel (SIGINT, SIGKILL after 60 s), so that it releases the
 * lock itself; then every process still running with the sandbox's `PULUMI_BACKEND_URL` in its environment (the
 * engine's plugins, each in a process group of its own, outlive a killed process tree) is stopped.
 */
async function stopEngineLeftovers(paths: SandboxPaths, stacks: string[], log: (l: string) => void): Promise<void> {
    const probe = { hostname: os.hostname(), commandLine };
    for (const l of stacks.flatMap((stack) => readStackLocks(backendDir(paths), PROJECT, stack))) {
        if (lockHolder(l, probe, toolPath("pulumi")) !== "sandbox engine") continue;
        log(`the sandbox's pulumi CLI still runs and holds the stack's lock (${describeLock(l)}): asking it to cancel (SIGINT)`);
        process.kill(l.pid, "SIGINT");
        if (!(await waitExit(l.pid, 60))) {
            log(`pulumi (pid ${l.pid}) did not exit within 60 s of SIGINT: SIGKILL`);
            process.kill(l.pid, "SIGKILL");
            await waitExit(l.pid, 10);
        }
    }
    const left = processesWithEnv("PULUMI_BACKEND_URL", backendUrl(paths));
    if (left.length === 0) return;
    // An interpreter is named by its script: `sh pulumi-resource-pulumi-nodejs`, `node index.js`.
    const named = left.map((pid) => {
        const argv = (commandLine(pid) ?? "?").split(" ").map((a) => path.basename(a));
        return `${/^(sh|bash|node)$/.test(argv[0]) && argv[1] ? `${argv[0]} ${argv[1]}` : argv[0]} (pid ${pid})`;
    });
    const signal = (sig: NodeJS.Signals) => {
        for (const pid of left) {
            try {
                process.kill(pid, sig);
            } catch {
                /* gone */
            }
        }
    };
    signal("SIGTERM");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && left.some((pid) => commandLine(pid) !== undefined)) await sleep(100);
    signal("SIGKILL");
    log(`stopped ${left.length} leftover process(es) of the interrupted engine: ${named.join(", ")}`);
}

/**
 * The stack's lock, left by an interrupted `pulumi up`: a lock whose process is gone is cleared with `pulumi cancel`
 * (which on a file backend deletes every lock file of the stack, pkg/backend/diy/backend.go `CancelCurrentUpdate`,
 * so it runs only once every lock is known to be stale). Returns the locks it had to leave (held by a live process
 * it did not start).
 */
async function clearStaleLock(paths: SandboxPaths, stack: string, cancel: () => Promise<void>, log: (l: string) => void): Promise<StackLock[]> {
    const backend = backendDir(paths);
    const probe = { hostname: os.hostname(), commandLine };
    const pulumi = toolPath("pulumi");
    const locks = readStackLocks(backend, PROJECT, stack);
    const held = locks.filter((l) => lockHolder(l, probe, pulumi) !== "gone");
    if (locks.length === 0) return [];
    if (held.length > 0) return held;
    await cancel();
    const left = readStackLocks(backend, PROJECT, stack);
    if (left.length > 0) throw new Error(`pulumi cancel left the lock file(s) ${left.map((l) => l.file).join(", ")}`);
    for (const l of locks) {
        log(
            `cleared the stack's lock left by an interrupted pulumi update (${describeLock(l)}; that process is gone) with pulumi cancel: ${path.relative(REPO_ROOT, l.file)}`,
        );
    }
    return [];
}

/**
 * `pulumi destroy` of the sandbox stack, after the recovery from an interrupted update that docs/runbook.md describes
 * for a real stack: a stale lock cleared, then pending operations cleared by `pulumi refresh --clear-pending-creates`.
 * Returns an error message instead of throwing: the processes are stopped whatever happens here.
 */
async function destroyStack(paths: SandboxPaths, stack: string, caCert: string, log: (l: string) => void): Promise<string | undefined> {
    const s = await sandboxStack(stack, prepareEngine(paths, stack, caCert));
    const held = await clearStaleLock(paths, stack, () => s.cancel(), log);
    if (held.length > 0) {
        return `the stack ${stack} is locked by a process the sandbox did not start (${held.map(describeLock).join("; ")}), so it was not destroyed; the lock is left in ${path.relative(REPO_ROOT, stackLockDir(backendDir(paths), PROJECT, stack))}`;
    }
    const pending: Array<{ type: string; resource: { urn: string } }> = (await s.exportStack()).deployment?.pending_operations ?? [];
    if (pending.length > 0) {
        log(
            `the interrupted update left ${pending.length} pending operation(s): ${pending.map((o) => `${o.type} ${o.resource.urn.split("::").pop()}`).join(", ")}`,
        );
        const r = await s.refresh({ clearPendingCreates: true, color: "never", onOutput: (o) => process.stdout.write(o) });
        const after = (await s.exportStack()).deployment?.pending_operations ?? [];
        log(`pulumi refresh --clear-pending-creates: ${r.summary.result}; ${after.length} pending operation(s) left`);
    }
    const destroy = () => s.destroy({ onOutput: (o) => process.stdout.write(o), color: "never" });
    let res;
    try {
        res = await destroy();
    } catch (e) {
        if (!isRolloutDeleteAwaitPanic(String(e))) throw e;
        log("pulumi destroy: the Kubernetes provider crashed awaiting a Rollout's deletion (known, docs/known-gaps.md); once more");
        res = await destroy();
    }
    log(stack === "local" ? `pulumi destroy: ${res.summary.result}` : `pulumi destroy: ${res.summary.result} (stack ${stack})`);
    return undefined;
}

/**
 * `down --stack <added stack>`: destroys one stack deployed beside the first and deletes the nodes added for it; the
 * sandbox keeps running. A failed destroy keeps the stack recorded (a later `down` tries again).
 */
async function downStack(paths: SandboxPaths, state: ClusterState, stack: string, log: (l: string) => void): Promise<number> {
    let plan;
    try {
        plan = downPlan(state, stack);
    } catch (e) {
        console.error(`sandbox: ${(e as Error).message}`);
        return 1;
    }
    const apiserver = state.processes.find((p) => p.name === "kube-apiserver");
    if (!apiserver || recordStatus(apiserver) !== "running") {
        console.error("sandbox: the sandbox's API server does not run: `npm run sandbox -- down` stops the whole sandbox");
        return 1;
    }
    let destroyError: string | undefined;
    try {
        destroyError = await destroyStack(paths, stack, state.caCert, log);
    } catch (e) {
        destroyError = engineErrorSummary((e as Error).message);
    }
    if (destroyError) {
        log(`pulumi destroy failed: ${destroyError}`);
        return 1;
    }
    const kube = new Kube(paths.kubeconfig);
    const nodes = plan.destroy[0].nodes;
    for (const name of nodes) await kube.delete({ apiVersion: "v1", kind: "Node", metadata: { name } });
    writeState(paths, withoutStack(state, stack));
    log(
        `removed stack ${stack}${nodes.length > 0 ? ` and its ${nodes.length} nodes (${nodes.join(", ")})` : ""}; the sandbox keeps running (stack ${state.stack})`,
    );
    return 0;
}

export async function down(stack?: string): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const log = (line: string) => console.log(`[sandbox] ${line}`);
    const state = readState(paths);
    if (state && stack !== undefined) return downStack(paths, state, stack, log);
    if (!state) {
        if (fs.existsSync(paths.root)) {
            fs.rmSync(paths.root, { recursive: true, force: true });
            log(`no process was recorded; removed ${path.relative(REPO_ROOT, paths.root)}`);
        } else {
            console.log("no sandbox to stop");
        }
        return 0;
    }
    await stopEngineLeftovers(paths, deployedStacks(state), log);
    let destroyError: string | undefined;
    const apiserver = state.processes.find((p) => p.name === "kube-apiserver");
    // Kyverno first, and its webhook configurations with it (it deletes none itself when run out of cluster): the
    // destroy below then meets no webhook of a stopped Kyverno.
    const kyverno = state.processes.find((p) => p.name === "kyverno");
    if (kyverno && apiserver && recordStatus(apiserver) === "running") {
        try {
            await stopProcess(kyverno);
            const removed = await removeKyvernoWebhooks(new Kube(paths.kubeconfig));
            log(`stopped Kyverno (pid ${kyverno.pid}) and removed its ${removed.length} webhook configurations`);
        } catch (e) {
            log(`could not remove Kyverno's webhook configurations: ${(e as Error).message}`);
        }
    }
    if (apiserver && recordStatus(apiserver) === "running" && fs.existsSync(path.join(paths.root, "workspace"))) {
        // The stacks added beside the first, the last added first, then the first.
        const { destroy } = downPlan(state);
        for (const s of [...destroy.map((a) => a.stack), state.stack]) {
            let error: string | undefined;
            try {
                error = await destroyStack(paths, s, state.caCert, log);
            } catch (e) {
                error = engineErrorSummary((e as Error).message);
            }
            if (error) log(`pulumi destroy failed${s === state.stack ? "" : ` (stack ${s})`}: ${error}`);
            destroyError ??= error;
        }
    }
    const said: Record<StopOutcome, (p: ProcessRecord) => string> = {
        stopped: (p) => `${p.name} (pid ${p.pid})`,
        killed: (p) => `${p.name} (pid ${p.pid}, SIGKILL after the grace period)`,
        "not running": (p) => `${p.name} (pid ${p.pid}) was not running`,
        "pid reused": (p) => `${p.name}: pid ${p.pid} now runs another program, left alone`,
    };
    const outcomes: string[] = [];
    try {
        await stopCluster(state, (p, o) => outcomes.push(said[o](p)));
    } catch (e) {
        log(`stopped: ${outcomes.join(", ") || "nothing"}`);
        console.error(
            `sandbox: ${(e as Error).message}\n${path.relative(REPO_ROOT, paths.state)} is kept; stop the survivors (kill -9 -<pid>) and run \`npm run sandbox -- down\` again`,
        );
        return 1;
    }
    fs.rmSync(paths.root, { recursive: true, force: true });
    log(`stopped ${state.processes.length} processes: ${outcomes.join(", ") || "none"}; removed ${path.relative(REPO_ROOT, paths.root)}`);
    if (destroyError) {
        log("a stack was not destroyed, but nothing of it is left: its objects went with the cluster, its state with out/sandbox");
        return 1;
    }
    return 0;
}
