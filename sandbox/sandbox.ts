/**
 * The sandbox (`npm run sandbox -- up [--stack local]`, sandbox/cmd/sandbox.ts): a local GPU cluster with fake GPU nodes where the real Pulumi engine
 * deploys the fleet; `status` prints its pods; `down` destroys the stack and stops every process it started.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { gpuPoolSchema } from "../config/schema";
import { ClusterState, readState, sandboxPaths, SandboxPaths, startCluster, stopCluster } from "./cluster/controlPlane";
import { Kube } from "./cluster/kube";
import { sandboxNodes, SandboxPool } from "./cluster/nodes";
import { commandLine, processesWithEnv, ProcessRecord, recordStatus, sleep, StopOutcome } from "./cluster/processes";
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

export const SANDBOX_DIR = path.join(REPO_ROOT, "out", "sandbox");

/** The GPU pools of a stack file (the sandbox fakes their nodes). */
export function stackPools(stack: string): SandboxPool[] {
    const file = stackFilePath(stack);
    if (!fs.existsSync(file)) {
        throw new Error(`no stack file ${path.relative(REPO_ROOT, file)}`);
    }
    return z.array(gpuPoolSchema).parse(readFleetConfig(stack).config.gpuPools ?? []);
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

export async function up(stack: string): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const running = runningSandbox(paths);
    if (running) {
        console.error(
            `a sandbox is already running (stack ${running.stack}, started ${running.startedAt}); nothing was changed. Stop it with \`npm run sandbox -- down\`.`,
        );
        return 1;
    }
    const t0 = Date.now();
    const log = (line: string) => console.log(`[sandbox] ${line}`);
    const nodes = sandboxNodes(stackPools(stack));
    // The tools it runs: built now (with progress) when missing or out of date, found in the cache otherwise.
    const tools = selectTools(["sandbox"]);
    if (tools.some((t) => !isBuilt(t))) {
        log("building the sandbox's tools from their Go modules first (cold: tens of minutes; once per machine)");
        await buildTools(tools, { tty: Boolean(process.stdout.isTTY) && !process.env.CI, write: (s) => process.stdout.write(s) });
    }
    // SIGINT/SIGTERM: a start in progress stops what it started; a running `pulumi up` gets SIGINT (the Automation
    // API's abort signal), so that the engine cancels and releases the stack's lock.
    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
        if (abort.signal.aborted) return;
        log(`${sig} received: stopping`);
        abort.abort(sig);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const interrupted = () => SIGNAL_EXIT[String(abort.signal.reason)] ?? 130;
    let state: ClusterState;
    try {
        state = await startCluster(paths, stack, nodes, REPO_ROOT, log, abort.signal);
    } catch (e) {
        if (!abort.signal.aborted) throw e;
        log(`interrupted while the cluster started: ${(e as Error).message.split("\n")[0]}; every process it had started was stopped`);
        return interrupted();
    }
    log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig: ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    const leftRunning = `the cluster is still running for inspection (\`npm run sandbox -- status\`, logs in ${path.relative(REPO_ROOT, paths.logs)}); \`npm run sandbox -- down\` removes it`;
    if (abort.signal.aborted) {
        log(`interrupted before pulumi up; ${leftRunning}`);
        return interrupted();
    }
    const engine = prepareEngine(paths, stack, state.caCert);
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
    console.log(await podView(paths));
    log(`sandbox up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
}

export async function status(): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state) {
        console.log("no sandbox (start one with `npm run sandbox -- up`)");
        return 1;
    }
    console.log(`stack ${state.stack}, started ${state.startedAt}, kubeconfig ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    const shown = { running: "running", gone: "STOPPED", reused: "STOPPED (its pid now runs another program)" } as const;
    for (const p of state.processes) console.log(`  ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${shown[recordStatus(p)]}`);
    console.log(await podView(paths));
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
async function stopEngineLeftovers(paths: SandboxPaths, stack: string, log: (l: string) => void): Promise<void> {
    const probe = { hostname: os.hostname(), commandLine };
    for (const l of readStackLocks(backendDir(paths), PROJECT, stack)) {
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
async function destroyStack(paths: SandboxPaths, state: ClusterState, log: (l: string) => void): Promise<string | undefined> {
    const s = await sandboxStack(state.stack, prepareEngine(paths, state.stack, state.caCert));
    const held = await clearStaleLock(paths, state.stack, () => s.cancel(), log);
    if (held.length > 0) {
        return `the stack is locked by a process the sandbox did not start (${held.map(describeLock).join("; ")}), so it was not destroyed; the lock is left in ${path.relative(REPO_ROOT, stackLockDir(backendDir(paths), PROJECT, state.stack))}`;
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
    log(`pulumi destroy: ${res.summary.result}`);
    return undefined;
}

export async function down(): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const log = (line: string) => console.log(`[sandbox] ${line}`);
    const state = readState(paths);
    if (!state) {
        if (fs.existsSync(paths.root)) {
            fs.rmSync(paths.root, { recursive: true, force: true });
            log(`no process was recorded; removed ${path.relative(REPO_ROOT, paths.root)}`);
        } else {
            console.log("no sandbox to stop");
        }
        return 0;
    }
    await stopEngineLeftovers(paths, state.stack, log);
    let destroyError: string | undefined;
    const apiserver = state.processes.find((p) => p.name === "kube-apiserver");
    if (apiserver && recordStatus(apiserver) === "running" && fs.existsSync(path.join(paths.root, "workspace"))) {
        try {
            destroyError = await destroyStack(paths, state, log);
        } catch (e) {
            destroyError = engineErrorSummary((e as Error).message);
        }
        if (destroyError) log(`pulumi destroy failed: ${destroyError}`);
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
        log("the stack was not destroyed, but nothing of it is left: its objects went with the cluster, its state with out/sandbox");
        return 1;
    }
    return 0;
}
