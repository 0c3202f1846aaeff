/**
 * Long-running sandbox processes: started detached (each leads its own process group and outlives
 * `npm run sandbox -- up`), logged to files, recorded by pid the moment they are spawned (as kwok's
 * pkg/kwokctl/runtime/exec.go `ForkExec` writes its pid file right after the start), and stopped by process group on
 * `down`, on a failed start, or when `up` is interrupted.
 *
 * Stopping follows envtest's pkg/internal/testing/process/process.go `Stop` (SIGTERM, wait, report what did not
 * stop), and checks a recorded pid's command line first: a pid the kernel has handed to another program is never
 * signalled.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";

export interface ProcessRecord {
    name: string;
    pid: number;
    log: string;
    /** The command line as started (argv joined by spaces): checked against the running pid before any signal. */
    command: string;
}

export interface ProcessSpec {
    name: string;
    command: string;
    args: string[];
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Resolves true once the process serves. */
    ready: () => Promise<boolean>;
    /** Seconds to wait for `ready`. */
    timeoutSeconds: number;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether something already listens on 127.0.0.1:port. */
export async function portTaken(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once("error", () => resolve(true));
        s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
    });
}

const HAS_PROC = fs.existsSync("/proc/self/stat");

/** `/proc/<pid>/stat` after the command name: state, ppid, pgrp (undefined when the pid does not exist). */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return { state: rest[0], pgrp: Number(rest[2]) };
    } catch {
        return undefined;
    }
}

/** Whether the pid runs (a zombie, exited but not yet reaped by its parent, does not). */
export function isAlive(pid: number): boolean {
    if (pid <= 0) return false;
    try {
        process.kill(pid, 0);
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
    if (!HAS_PROC) return true;
    const s = procStat(pid);
    return s !== undefined && s.state !== "Z" && s.state !== "X";
}

/** The running command line of a pid (argv joined by spaces), or undefined when it does not run. */
export function commandLine(pid: number): string | undefined {
    if (!isAlive(pid)) return undefined;
    if (HAS_PROC) {
        try {
            const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
            while (argv.length > 0 && argv[argv.length - 1] === "") argv.pop();
            return argv.length > 0 ? argv.join(" ") : undefined;
        } catch {
            return undefined;
        }
    }
    try {
        return execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" }).trim() || undefined;
    } catch {
        return undefined;
    }
}

/** The live (not zombie) members of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
    if (pgid <= 0) return [];
    if (!HAS_PROC) {
        try {
            process.kill(-pgid, 0);
            return [pgid];
        } catch {
            return [];
        }
    }
    const members: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        const s = procStat(Number(entry));
        if (s && s.pgrp === pgid && s.state !== "Z" && s.state !== "X") members.push(Number(entry));
    }
    return members;
}

/**
 * The live processes whose environment holds `name=value` exactly (Linux `/proc/<pid>/environ`; none elsewhere), other
 * than this one. The sandbox finds the engine's leftovers this way: the Pulumi CLI starts each plugin in a process
 * group of its own, so a plugin outlives a killed `up`'s process tree, and only its environment
 * (`PULUMI_BACKEND_URL` of the sandbox's backend) says whose it is.
 */
export function processesWithEnv(name: string, value: string): number[] {
    if (!HAS_PROC) return [];
    const want = Buffer.from(`${name}=${value}`);
    const found: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
        let env: Buffer;
        try {
            env = fs.readFileSync(`/proc/${entry}/environ`);
        } catch {
            continue;
        }
        let start = 0;
        while (start < env.length) {
            let end = env.indexOf(0, start);
            if (end < 0) end = env.length;
            if (end - start === want.length && env.subarray(start, end).equals(want)) {
                if (isAlive(Number(entry))) found.push(Number(entry));
                break;
            }
            start = end + 1;
        }
    }
    return found;
}

/**
 * What a record's pid is now: `running` (the recorded program, or the rest of its process group once the leader
 * is gone: the kernel does not reuse a pid that still names a group), `gone`, or `reused` (another program holds
 * the pid now; it must not be signalled).
 */
export function recordStatus(p: ProcessRecord): "running" | "gone" | "reused" {
    if (p.pid <= 0) return "gone";
    if (isAlive(p.pid)) {
        const cmd = commandLine(p.pid);
        // A process that exited between the two reads has no command line: the group decides below.
        if (cmd !== undefined && cmd !== p.command) return "reused";
    }
    return groupMembers(p.pid).length > 0 ? "running" : "gone";
}

function tail(file: string, lines = 15): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

/** Thrown when a start is interrupted (SIGINT/SIGTERM to `up`). */
export class Interrupted extends Error {
    constructor(reason: string) {
        super(`interrupted by ${reason}`);
        this.name = "Interrupted";
    }
}

export function throwIfAborted(signal?: AbortSignal): void {
    if (signal?.aborted) throw new Interrupted(String(signal.reason ?? "a signal"));
}

/** How each process spawned here ended (for the error of one that exits before it is ready). */
const exits = new Map<number, string>();

/**
 * Spawns one process detached, in its own process group, logging to `<logDir>/<name>.log`, and returns its record
 * at once (before it is ready), so that the caller can save the pid before anything else can go wrong.
 */
export async function spawnProcess(spec: ProcessSpec, logDir: string): Promise<ProcessRecord> {
    fs.mkdirSync(logDir, { recursive: true });
    const log = path.join(logDir, `${spec.name}.log`);
    const fd = fs.openSync(log, "a");
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, detached: true, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    if (child.pid === undefined) {
        const e = await new Promise<Error>((resolve) => child.once("error", resolve));
        throw new Error(`${spec.name}: cannot start ${spec.command}: ${e.message}`);
    }
    const pid = child.pid;
    child.on("error", () => undefined);
    child.once("exit", (code, sig) => exits.set(pid, code !== null ? `code ${code}` : `signal ${sig}`));
    child.unref();
    return { name: spec.name, pid: child.pid, log, command: [spec.command, ...spec.args].join(" ") };
}

/**
 * Waits until a spawned process is ready. Throws (after stopping it) with the log's tail when it exits first or is
 * not ready in time, and stops it when `signal` aborts.
 */
export async function waitReady(spec: ProcessSpec, record: ProcessRecord, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + spec.timeoutSeconds * 1000;
    try {
        while (Date.now() < deadline) {
            throwIfAborted(signal);
            if (!isAlive(record.pid)) {
                await sleep(50); // the exit event follows the reaping
                const how = exits.get(record.pid);
                throw new Error(`${spec.name} exited${how ? ` (${how})` : ""} before it was ready; last lines of ${record.log}:\n${tail(record.log)}`);
            }
            if (await spec.ready().catch(() => false)) return;
            await sleep(250);
        }
        throw new Error(`${spec.name} was not ready after ${spec.timeoutSeconds} s; last lines of ${record.log}:\n${tail(record.log)}`);
    } catch (e) {
        await stopProcess(record).catch(() => undefined);
        throw e;
    }
}

/** Spawns, reports the record through `onSpawn` (to be saved), and waits until ready. */
export async function startProcess(
    spec: ProcessSpec,
    logDir: string,
    onSpawn: (r: ProcessRecord) => void = () => undefined,
    signal?: AbortSignal,
): Promise<ProcessRecord> {
    const record = await spawnProcess(spec, logDir);
    onSpawn(record);
    await waitReady(spec, record, signal);
    return record;
}

/** `stopped` by SIGTERM; `killed`: it outlived the grace period and took SIGKILL. */
export type StopOutcome = "stopped" | "killed" | "not running" | "pid reused";

export interface StopOptions {
    /** Seconds between SIGTERM and SIGKILL; default 10. */
    graceSeconds?: number;
    /** Sends a signal to a process group; default `process.kill(-pgid, s)` (a test seam for unkillable processes). */
    kill?: (pgid: number, s: NodeJS.Signals) => void;
}

/**
 * SIGTERM to the whole process group, SIGKILL to whatever is left after the grace period. Resolves with what it
 * did; throws when a member of the group survives SIGKILL (as envtest's `Stop` reports a process that did not
 * stop). A pid now held by another program is left alone. Stopping a stopped process is harmless.
 */
export async function stopProcess(p: ProcessRecord, opts: StopOptions = {}): Promise<StopOutcome> {
    const status = recordStatus(p);
    if (status !== "running") return status === "gone" ? "not running" : "pid reused";
    const send = (s: NodeJS.Signals) => {
        try {
            (opts.kill ?? ((pgid, sig) => process.kill(-pgid, sig)))(p.pid, s);
        } catch {
            /* the group is gone */
        }
    };
    const waitGone = async (ms: number) => {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline && groupMembers(p.pid).length > 0) await sleep(100);
    };
    send("SIGTERM");
    await waitGone((opts.graceSeconds ?? 10) * 1000);
    if (groupMembers(p.pid).length === 0) return "stopped";
    send("SIGKILL");
    await waitGone(5000);
    const left = groupMembers(p.pid);
    if (left.length > 0) {
        throw new Error(`${p.name} (pid ${p.pid}): pid(s) ${left.join(", ")} of its process group survived SIGKILL`);
    }
    return "killed";
}

/**
 * Stops every record in reverse order (the last started first). Every record is tried; the failures are thrown
 * together at the end (as errors.Join), after `report` has seen each outcome.
 */
export async function stopAll(
    records: ProcessRecord[],
    report: (p: ProcessRecord, outcome: StopOutcome) => void = () => undefined,
    opts: StopOptions = {},
): Promise<void> {
    const errors: Error[] = [];
    for (const p of [...records].reverse()) {
        try {
            report(p, await stopProcess(p, opts));
        } catch (e) {
            errors.push(e as Error);
        }
    }
    if (errors.length > 0) throw new AggregateError(errors, errors.map((e) => e.message).join("\n"));
}

export interface TlsClient {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    /** Components that serve with a self-generated certificate (controller manager, scheduler). */
    insecure?: boolean;
}

/** GET a URL; resolves to the HTTP status (0 when unreachable). */
export function httpStatus(url: string, tls: TlsClient = {}): Promise<number> {
    return new Promise((resolve) => {
        const u = new URL(url);
        const opts = { method: "GET", timeout: 2000, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure };
        const req = (u.protocol === "https:" ? https : http).request(u, opts, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => {
            req.destroy();
            resolve(0);
        });
        req.end();
    });
}
