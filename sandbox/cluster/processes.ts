/**
 * Long-running sandbox processes: started detached (they outlive `npm run sandbox -- up`), logged to files,
 * recorded by pid in the state file, and stopped by pid (process group) on `down` or when a start fails.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";

export interface ProcessRecord {
    name: string;
    pid: number;
    log: string;
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

export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

function tail(file: string, lines = 15): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

/** Starts one process and waits until it is ready; on failure kills it and throws with the log's tail. */
export async function startProcess(spec: ProcessSpec, logDir: string): Promise<ProcessRecord> {
    fs.mkdirSync(logDir, { recursive: true });
    const log = path.join(logDir, `${spec.name}.log`);
    const fd = fs.openSync(log, "a");
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, detached: true, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    let spawnError: Error | undefined;
    child.once("error", (e) => (spawnError = e));
    child.unref();
    const record: ProcessRecord = { name: spec.name, pid: child.pid ?? -1, log, command: [spec.command, ...spec.args].join(" ") };
    const deadline = Date.now() + spec.timeoutSeconds * 1000;
    while (Date.now() < deadline) {
        await sleep(250);
        if (spawnError) {
            throw new Error(`${spec.name}: cannot start ${spec.command}: ${spawnError.message}`);
        }
        if (child.exitCode !== null || !isAlive(record.pid)) {
            throw new Error(`${spec.name} exited (code ${child.exitCode}) before it was ready; last lines of ${log}:\n${tail(log)}`);
        }
        if (await spec.ready().catch(() => false)) {
            return record;
        }
    }
    await stopProcess(record);
    throw new Error(`${spec.name} was not ready after ${spec.timeoutSeconds} s; last lines of ${log}:\n${tail(log)}`);
}

/** SIGTERM to the process group, then SIGKILL after the grace period. */
export async function stopProcess(p: ProcessRecord, graceSeconds = 10): Promise<void> {
    if (p.pid <= 0 || !isAlive(p.pid)) return;
    const signal = (s: NodeJS.Signals) => {
        try {
            process.kill(-p.pid, s);
        } catch {
            try {
                process.kill(p.pid, s);
            } catch {
                /* gone */
            }
        }
    };
    signal("SIGTERM");
    const deadline = Date.now() + graceSeconds * 1000;
    while (Date.now() < deadline && isAlive(p.pid)) {
        await sleep(100);
    }
    if (isAlive(p.pid)) signal("SIGKILL");
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
