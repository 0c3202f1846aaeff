/**
 * Starts the sandbox cluster on 127.0.0.1, the way envtest and kwokctl do: etcd, kube-apiserver (Pod Security
 * admission on, as in every cluster since 1.25), kube-controller-manager, kube-scheduler, kwok (fake nodes and pod
 * lifecycles), the Argo Rollouts controller as the cluster's add-on (its CRDs and the Prometheus Operator's taken
 * from the upstream module sources), and the HTTPS Harbor stub. Everything is checked before anything starts; each
 * process is recorded the moment it is spawned; a failure or an interrupt stops what was started. The command lines
 * come from the typed builders in ./components.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { toolPath, toolShare } from "../toolchain/build";
import { Kube, KubeObject, parseManifests } from "./kube";
import { NodeObject } from "./nodes";
import type { AddedStack } from "../stacks";
import { adminKubeconfig, makePki, Pki } from "./pki";
import { autoscalingApiObjects, buildAutoscalingComponents, buildClusterComponents, Component, HARBOR_CREDENTIALS, PORTS } from "./components";
import { makeKedaCerts } from "./autoscalingPki";
import {
    httpStatus,
    portTaken,
    ProcessRecord,
    ProcessSpec,
    sleep,
    spawnProcess,
    stopAll,
    StopOutcome,
    throwIfAborted,
    TlsClient,
    waitReady,
} from "./processes";

export { HARBOR_CREDENTIALS, PORTS };

export interface SandboxPaths {
    root: string;
    kubeconfig: string;
    pki: string;
    logs: string;
    etcd: string;
    state: string;
}

export function sandboxPaths(root: string): SandboxPaths {
    return {
        root,
        kubeconfig: path.join(root, "kubeconfig"),
        pki: path.join(root, "pki"),
        logs: path.join(root, "logs"),
        etcd: path.join(root, "etcd"),
        state: path.join(root, "state.json"),
    };
}

export interface ClusterState {
    startedAt: string;
    /** The stack that started the sandbox (its pools made the nodes). */
    stack: string;
    /** Stacks deployed beside it (`up --stack <other>` while it runs; sandbox/stacks.ts). */
    added?: AddedStack[];
    processes: ProcessRecord[];
    caCert: string;
}

/** Every binary and data directory the cluster needs, checked before anything starts. */
function requiredTools() {
    return {
        etcd: toolPath("etcd"),
        apiserver: toolPath("kubernetes", "kube-apiserver"),
        controllerManager: toolPath("kubernetes", "kube-controller-manager"),
        scheduler: toolPath("kubernetes", "kube-scheduler"),
        kwok: toolPath("kwok"),
        kwokStages: toolShare("kwok", "stages"),
        argo: toolPath("argo-rollouts", "rollouts-controller"),
        argoCrds: toolShare("argo-rollouts", "crds"),
        promOperatorCrds: toolShare("prometheus-operator-crds", "crds"),
        kyvernoCrds: toolShare("kyverno", "crds"),
        metricsServer: toolPath("metrics-server"),
        keda: toolPath("keda", "keda"),
        kedaAdapter: toolPath("keda", "keda-adapter"),
        kedaCrds: toolShare("keda", "crds"),
    };
}

/** kwok's stages, concatenated from the tool's share directory into one config file. */
export function writeKwokStages(stagesDir: string, file: string): void {
    fs.writeFileSync(
        file,
        fs
            .readdirSync(stagesDir)
            .sort()
            .map((f) => fs.readFileSync(path.join(stagesDir, f), "utf8").trim())
            .join("\n---\n") + "\n",
    );
}

/** A component as a process: its health check probed with the sandbox's CA or admin client certificate. */
export function componentProcess(c: Component, pki: Pki): ProcessSpec {
    const ca = () => fs.readFileSync(pki.caCert);
    const tls = (): TlsClient => {
        switch (c.health.tls) {
            case "none":
                return {};
            case "insecure":
                return { insecure: true };
            case "ca":
                return { ca: ca() };
            case "admin":
                return { ca: ca(), cert: fs.readFileSync(pki.adminCert), key: fs.readFileSync(pki.adminKey) };
        }
    };
    const client = c.health.tls === "none" ? {} : tls();
    return {
        name: c.name,
        command: c.command,
        args: c.args,
        cwd: c.cwd,
        env: c.env ? { ...process.env, ...c.env } : undefined,
        ready: async () => {
            const status = await httpStatus(c.health.url, client);
            return c.health.accept === "ok" ? status === 200 : status > 0;
        },
        timeoutSeconds: c.timeoutSeconds,
    };
}

/**
 * The CRDs the program's objects need: Argo Rollouts', the Prometheus Operator's and Kyverno's ClusterPolicy (no
 * Kyverno controller runs here: the admission policy is stored and schema-checked, not enforced), from upstream sources.
 */
function upstreamCrds(tools: ReturnType<typeof requiredTools>): KubeObject[] {
    return [tools.argoCrds, tools.promOperatorCrds, tools.kyvernoCrds, tools.kedaCrds].flatMap((dir) =>
        fs
            .readdirSync(dir)
            .filter((f) => f.endsWith(".yaml"))
            .sort()
            .flatMap((f) => parseManifests(fs.readFileSync(path.join(dir, f), "utf8"), (d) => YAML.parse(d))),
    );
}

/**
 * Polls `probe` until it returns a value, every `intervalMs`; `fatal` may end the wait early with its message (e.g.
 * the sandbox went away). Throws after `seconds`, with the probe's last error.
 */
async function waitFor<T>(
    what: string,
    seconds: number,
    probe: () => Promise<T | undefined>,
    opts: { intervalMs?: number; fatal?: () => string | undefined } = {},
): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let last: unknown;
    while (Date.now() < deadline) {
        const f = opts.fatal?.();
        if (f) throw new Error(f);
        try {
            const v = await probe();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        await sleep(opts.intervalMs ?? 500);
    }
    throw new Error(`timed out after ${seconds} s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export { waitFor };

/**
 * Starts the whole cluster and registers the fake nodes. Each process is recorded in the state file the moment it is
 * spawned, so that `down` finds it even when `up` dies before it is ready. Throws (after stopping whatever it
 * started) when a tool is missing, a port is taken, a component does not come up, or `signal` aborts (SIGINT or
 * SIGTERM to `up`). If a process survives that stop, the state file is kept, so that `down` can try again.
 */
export async function startCluster(
    paths: SandboxPaths,
    stack: string,
    nodes: NodeObject[],
    repoRoot: string,
    log: (line: string) => void,
    signal?: AbortSignal,
): Promise<ClusterState> {
    const tools = requiredTools();
    const taken: string[] = [];
    for (const [name, port] of Object.entries(PORTS)) {
        if (await portTaken(port)) taken.push(`127.0.0.1:${port} (${name})`);
    }
    if (taken.length > 0) {
        throw new Error(`port(s) already in use: ${taken.join(", ")}. Another sandbox or program holds them; nothing was started.`);
    }
    throwIfAborted(signal);
    fs.rmSync(paths.root, { recursive: true, force: true });
    fs.mkdirSync(paths.root, { recursive: true });
    const pki = makePki(paths.pki);
    fs.writeFileSync(paths.kubeconfig, adminKubeconfig(pki, `https://127.0.0.1:${PORTS.apiserver}`), { mode: 0o600 });
    const kwokConfig = path.join(paths.root, "kwok-stages.yaml");
    writeKwokStages(tools.kwokStages, kwokConfig);
    const started: ProcessRecord[] = [];
    const state: ClusterState = { startedAt: new Date().toISOString(), stack, processes: started, caCert: pki.caCert };
    const save = () => fs.writeFileSync(paths.state, JSON.stringify(state, null, 2));
    save();
    const fatal = () => (signal?.aborted ? `interrupted by ${String(signal.reason)}` : undefined);
    try {
        const components = buildClusterComponents({
            root: paths.root,
            kubeconfig: paths.kubeconfig,
            etcdDataDir: paths.etcd,
            kwokConfig,
            repoRoot,
            binaries: { ...tools, node: process.execPath },
            pki: { ...pki, proxyClientCert: pki.adminCert, proxyClientKey: pki.adminKey },
        });
        // metrics-server and KEDA (the HPAs' metrics), after the cluster's own components.
        const kedaCertDir = path.join(paths.root, "keda");
        components.push(
            ...buildAutoscalingComponents({
                kubeconfig: paths.kubeconfig,
                binaries: tools,
                ports: PORTS,
                kwokPort: PORTS.kwok,
                metricsServerCertDir: path.join(paths.root, "metrics-server"),
                kedaCertDir,
            }),
        );
        const byName = new Map(components.map((c) => [c.name, componentProcess(c, pki)]));
        const start = async (name: Component["name"]) => {
            throwIfAborted(signal);
            const t0 = Date.now();
            const spec = byName.get(name)!;
            const record = await spawnProcess(spec, paths.logs);
            started.push(record);
            save();
            await waitReady(spec, record, signal);
            log(`${name} ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        };
        await start("etcd");
        await start("kube-apiserver");
        const kube = new Kube(paths.kubeconfig);
        const crds = upstreamCrds(tools);
        for (const crd of crds) {
            throwIfAborted(signal);
            await kube.apply(crd);
        }
        for (const crd of crds) {
            await waitFor(
                `CRD ${crd.metadata?.name} to be established`,
                60,
                async () => {
                    const c = await kube.read("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd.metadata!.name!);
                    return c?.status?.conditions?.some((x: any) => x.type === "Established" && x.status === "True") ? true : undefined;
                },
                { fatal },
            );
        }
        log(`${crds.length} upstream CRDs established (Argo Rollouts v1.9.0, Prometheus Operator v0.85.0, Kyverno v1.18.2 ClusterPolicy, KEDA v2.21.0)`);
        await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "argo-rollouts" } });
        for (const o of autoscalingApiObjects(PORTS)) await kube.apply(o as KubeObject);
        await start("kube-controller-manager");
        await start("kube-scheduler");
        await start("kwok");
        for (const node of nodes) await kube.apply(node as unknown as KubeObject);
        await waitFor(
            `${nodes.length} nodes to be Ready`,
            60,
            async () => {
                const ready = (await kube.list("v1", "Node")).filter((n) => n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"));
                return ready.length >= nodes.length ? true : undefined;
            },
            { fatal },
        );
        log(`${nodes.length} kwok nodes Ready`);
        await start("argo-rollouts");
        await start("harbor-stub");
        makeKedaCerts(pki, kedaCertDir);
        await start("metrics-server");
        await start("keda-operator");
        await start("keda-adapter");
        return state;
    } catch (e) {
        try {
            await stopAll(started);
        } catch (survivors) {
            throw new Error(
                `${(e as Error).message}\nand stopping what was started failed, so ${paths.state} is kept for \`npm run sandbox -- down\`:\n${(survivors as Error).message}`,
            );
        }
        fs.rmSync(paths.root, { recursive: true, force: true });
        throw e;
    }
}

/** Rewrites the state file (a stack added to or removed from a running sandbox). */
export function writeState(paths: SandboxPaths, state: ClusterState): void {
    fs.writeFileSync(paths.state, JSON.stringify(state, null, 2));
}

export function readState(paths: SandboxPaths): ClusterState | undefined {
    try {
        return JSON.parse(fs.readFileSync(paths.state, "utf8")) as ClusterState;
    } catch {
        return undefined;
    }
}

/** Stops every recorded process, the last started first; throws every survivor together (see `stopAll`). */
export async function stopCluster(state: ClusterState, report?: (p: ProcessRecord, outcome: StopOutcome) => void): Promise<void> {
    await stopAll(state.processes, report);
}
