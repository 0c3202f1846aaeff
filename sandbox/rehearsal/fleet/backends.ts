/**
 * The real model servers behind the rehearsal's kwok pods: one `python -m app` process (the image's CMD: gunicorn
 * and a uvicorn worker) per running pod of the model, on a free loopback port, with the weights of that pod's
 * version. kwok runs no containers; this is what the pod would have run, with the environment the program's pod
 * template gives it (MODEL_NAME, MODEL_VERSION, POD_TEMPLATE_HASH from the pod's label, the model's shared
 * PREDICTION_ID_KEY).
 *
 * Which version a pod is: its `rollouts-pod-template-hash` is stable's hash → the `stable` server spec, any other →
 * `canary` (as the scripted exporter decides). The processes are children of the fleet process and share its
 * process group, so stopping the fleet (processes.ts stopProcess: SIGTERM to the group) stops every server.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { PodRef } from "../exporter";

/** How one version's servers run: its weights and any extra environment (e.g. the slow-model latency knob). */
export interface ServerSpec {
    /** The version the pods report (MODEL_VERSION). */
    version: string;
    /** The ONNX file (MODEL_PATH). */
    modelPath: string;
    env: Record<string, string>;
}

export interface BackendOptions {
    python: string;
    /** images/model-server (the server's working directory: `python -m app`). */
    serverDir: string;
    model: string;
    stableHash: string;
    stable: ServerSpec;
    canary: ServerSpec;
    /** HMAC key of the prediction ids, shared by every pod of the model (the program's per-model Secret). */
    predictionIdKey: string;
    /** Per-pod run directories and logs go here. */
    workDir: string;
}

export type BackendState = "starting" | "ready" | "exited";

export interface Backend {
    pod: PodRef;
    version: "stable" | "canary";
    port: number;
    state: BackendState;
    startedMs: number;
    readyMs?: number;
    exit?: string;
    child: ChildProcess;
    log: string;
}

export const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** What to start and stop so that exactly the running pods have a server (pure). */
export function reconcilePlan(current: Iterable<string>, pods: PodRef[]): { start: PodRef[]; stop: string[] } {
    const want = new Map(pods.map((p) => [podKey(p), p]));
    const have = new Set(current);
    return {
        start: [...want.entries()].filter(([k]) => !have.has(k)).map(([, p]) => p),
        stop: [...have].filter((k) => !want.has(k)),
    };
}

/** The server's environment for one pod (pure): what the program's pod template sets, plus the rehearsal's. */
export function serverEnv(
    o: Pick<BackendOptions, "model" | "predictionIdKey">,
    spec: ServerSpec,
    pod: PodRef,
    port: number,
    runDir: string,
): Record<string, string> {
    return {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        HOST: "127.0.0.1",
        PORT: String(port),
        MODEL_PATH: spec.modelPath,
        MODEL_NAME: o.model,
        MODEL_VERSION: spec.version,
        POD_TEMPLATE_HASH: pod.hash,
        PREDICTION_ID_KEY: o.predictionIdKey,
        MODEL_DEVICE: "cpu",
        WEB_CONCURRENCY: "1",
        MODEL_SERVER_RUN_DIR: runDir,
        PROMETHEUS_DISABLE_CREATED_SERIES: "True",
        PYTHONDONTWRITEBYTECODE: "1",
        PYTHONUNBUFFERED: "1",
        OMP_NUM_THREADS: "1",
        ...spec.env,
    };
}

/** A free port on 127.0.0.1 (the kernel's choice). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

async function httpOk(url: string): Promise<boolean> {
    try {
        const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        return r.status === 200;
    } catch {
        return false;
    }
}

export class PodBackends {
    readonly backends = new Map<string, Backend>();
    /** Every server this fleet started (for the report): pod, version, seconds to ready, how it ended. */
    readonly history: Array<{ pod: string; version: string; hash: string; readySeconds?: number; exit?: string }> = [];

    constructor(private readonly o: BackendOptions) {}

    private queue: Promise<void> = Promise.resolve();

    /**
     * Starts a server for each new running pod (and again for one whose server exited) and stops the servers of pods
     * that are gone. Calls run one after the other: two overlapping updates never start one pod twice.
     */
    reconcile(pods: PodRef[]): Promise<void> {
        const run = async () => {
            for (const [key, b] of this.backends) if (b.state === "exited") this.backends.delete(key);
            const plan = reconcilePlan(this.backends.keys(), pods);
            for (const key of plan.stop) this.stop(key);
            for (const pod of plan.start) await this.start(pod);
        };
        this.queue = this.queue.then(run, run);
        return this.queue;
    }

    /** The ready server of a pod. */
    ready(namespace: string, name: string): Backend | undefined {
        const b = this.backends.get(podKey({ namespace, name }));
        return b?.state === "ready" ? b : undefined;
    }

    private async start(pod: PodRef): Promise<void> {
        const version = pod.hash === this.o.stableHash ? "stable" : "canary";
        const spec = this.o[version];
        const port = await freePort();
        const runDir = path.join(this.o.workDir, "servers", pod.name);
        fs.rmSync(runDir, { recursive: true, force: true });
        fs.mkdirSync(runDir, { recursive: true });
        const log = path.join(this.o.workDir, "servers", `${pod.name}.log`);
        const fd = fs.openSync(log, "a");
        const child = spawn(this.o.python, ["-m", "app"], {
            cwd: this.o.serverDir,
            env: serverEnv(this.o, spec, pod, port, runDir),
            stdio: ["ignore", fd, fd],
        });
        fs.closeSync(fd);
        const b: Backend = { pod, version, port, state: "starting", startedMs: Date.now(), child, log };
        const record = { pod: pod.name, version: spec.version, hash: pod.hash } as (typeof this.history)[number];
        this.history.push(record);
        this.backends.set(podKey(pod), b);
        child.once("exit", (code, sig) => {
            b.state = "exited";
            b.exit = code !== null ? `code ${code}` : `signal ${sig}`;
            record.exit = b.exit;
        });
        child.on("error", (e) => {
            b.state = "exited";
            b.exit = e.message;
            record.exit = b.exit;
        });
        void this.awaitReady(b, record);
    }

    private async awaitReady(b: Backend, record: { readySeconds?: number }): Promise<void> {
        while (b.state === "starting") {
            if (await httpOk(`http://127.0.0.1:${b.port}/v2/health/ready`)) {
                if (b.state !== "starting") return;
                b.state = "ready";
                b.readyMs = Date.now();
                record.readySeconds = Math.round((b.readyMs - b.startedMs) / 100) / 10;
                return;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
    }

    private stop(key: string): void {
        const b = this.backends.get(key);
        this.backends.delete(key);
        if (b && b.state !== "exited") b.child.kill("SIGTERM");
    }

    /** Stops every server (SIGTERM: gunicorn drains and exits). */
    stopAll(): void {
        for (const key of [...this.backends.keys()]) this.stop(key);
    }
}
