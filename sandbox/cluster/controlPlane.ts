/**
 * Starts the sandbox cluster on 127.0.0.1, the way envtest and kwokctl do: etcd, kube-apiserver (Pod Security
 * admission on, as in every cluster since 1.25), kube-controller-manager, kube-scheduler, kwok (fake nodes and pod
 * lifecycles), the Argo Rollouts controller as the cluster's add-on (its CRDs and the Prometheus Operator's taken
 * from the upstream module sources), the HTTPS Harbor stub, and, for a stack that enforces admission, Kyverno's
 * admission controller with its webhooks registered in this API server. Everything is checked before anything starts; each
 * process is recorded the moment it is spawned; a failure or an interrupt stops what was started. The command lines
 * come from the typed builders in ./components.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { toolPath, toolShare } from "../toolchain/build";
import { Kube, KubeObject, parseManifests } from "./kube";
import { NodeObject } from "./nodes";
import type { AddedStack, SandboxFeatures } from "../stacks";
import { adminKubeconfig, makePki, Pki } from "./pki";
import {
    autoscalingApiObjects,
    buildAutoscalingComponents,
    buildClusterComponents,
    Component,
    HARBOR_CREDENTIALS,
    KYVERNO_NAMESPACE,
    KYVERNO_WEBHOOK_SELECTOR,
    PORTS,
} from "./components";
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

export { HARBOR_CREDENTIALS, KYVERNO_WEBHOOK_SELECTOR, PORTS };

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
function requiredTools({ admission, keda }: SandboxFeatures) {
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
        istioCrds: toolShare("istio-crds", "crds"),
        // With Kyverno running, all 22 of its CRDs (the ClusterPolicy's among them); otherwise the ClusterPolicy's only.
        kyvernoCrds: admission ? toolShare("kyverno-admission", "crds") : toolShare("kyverno", "crds"),
        kyverno: admission ? toolPath("kyverno-admission", "kyverno") : undefined,
        metricsServer: toolPath("metrics-server"),
        keda: keda ? toolPath("keda", "keda") : undefined,
        kedaAdapter: keda ? toolPath("keda", "keda-adapter") : undefined,
        kedaCrds: keda ? toolShare("keda", "crds") : undefined,
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
 * Of Istio's CRDs, those Argo Rollouts reads or writes for an istio-routed canary (rollout/trafficrouting/istio:
 * the VirtualService's routes, and a DestinationRule's subsets when one is configured).
 */
export const ISTIO_CRDS = ["virtualservices.networking.istio.io", "destinationrules.networking.istio.io"];

/**
 * The CRDs the program's objects need: Argo Rollouts', the Prometheus Operator's and Kyverno's, from upstream sources.
 * Without Kyverno running, only its ClusterPolicy CRD: the admission policy is stored and schema-checked, not enforced.
 */
function upstreamCrds(tools: ReturnType<typeof requiredTools>): KubeObject[] {
    const fromDir = (dir: string) =>
        fs
            .readdirSync(dir)
            .filter((f) => f.endsWith(".yaml"))
            .sort()
            .flatMap((f) => parseManifests(fs.readFileSync(path.join(dir, f), "utf8"), (d) => YAML.parse(d)));
    return [
        ...[tools.argoCrds, tools.promOperatorCrds, tools.kyvernoCrds, ...(tools.kedaCrds ? [tools.kedaCrds] : [])].flatMap(fromDir),
        ...fromDir(tools.istioCrds).filter((crd) => ISTIO_CRDS.includes(crd.metadata?.name ?? "")),
    ];
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
 * Options of `startCluster` (sandbox/stacks.ts `sandboxFeatures`): `admission` runs Kyverno's admission controller
 * (tool `kyverno-admission`) with its webhooks in this API server, `keda` KEDA's operator, metrics apiserver and CRDs.
 * Default neither.
 */
export type ClusterOptions = Partial<SandboxFeatures>;

/** Kyverno's webhook configurations (labelled `webhook.kyverno.io/managed-by=kyverno`), mutating and validating. */
export async function kyvernoWebhookConfigurations(kube: Kube): Promise<KubeObject[]> {
    const kinds = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];
    const apiVersion = "admissionregistration.k8s.io/v1";
    // A list's items carry no apiVersion and kind: set them, so that each can be read, replaced or deleted as it is.
    const lists = await Promise.all(
        kinds.map(async (kind) => (await kube.list(apiVersion, kind, undefined, KYVERNO_WEBHOOK_SELECTOR)).map((o) => ({ ...o, apiVersion, kind }))),
    );
    return lists.flat();
}

/**
 * Deletes Kyverno's webhook configurations; returns `<Kind>/<name>` of each. Run out of cluster, Kyverno deletes
 * nothing when it stops (`IsGoingDown` is false in its debug mode: pkg/webhooks/server.go), and a left configuration
 * with failurePolicy Fail refuses every pod of the models namespace ("failed calling webhook"), so the sandbox
 * removes them itself once Kyverno is stopped (`down`, or a deploy into a sandbox whose Kyverno died).
 */
export async function removeKyvernoWebhooks(kube: Kube): Promise<string[]> {
    const found = await kyvernoWebhookConfigurations(kube);
    for (const w of found) await kube.delete({ apiVersion: w.apiVersion, kind: w.kind, metadata: { name: w.metadata!.name } });
    return found.map((w) => `${w.kind}/${w.metadata!.name}`);
}

/**
 * Waits until Kyverno enforces a ClusterPolicy on pods: its condition Ready=True and its webhooks registered. A policy
 * with `webhookConfiguration.matchConditions` gets webhooks of its own, `{mutate|validate}.kyverno.svc-{fail|ignore}-
 * finegrained-<policy>` (pkg/controllers/webhook/controller.go, utils.go `webhookNameAndPath`); any other is served by
 * the shared `{mutate|validate}.kyverno.svc-{fail|ignore}` webhooks, which then list pods. Before that, a pod is
 * admitted unchecked. Returns the webhooks' names.
 */
export async function waitPolicyEnforced(kube: Kube, policy: string, seconds = 120): Promise<string[]> {
    return waitFor(`ClusterPolicy ${policy} to be Ready with its webhooks registered`, seconds, async () => {
        const p = await kube.read("kyverno.io/v1", "ClusterPolicy", policy);
        if (!p?.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True")) return undefined;
        const fineGrained = (p.spec?.webhookConfiguration?.matchConditions ?? []).length > 0;
        const hooks = (await kyvernoWebhookConfigurations(kube))
            .flatMap((c) => (c.webhooks as Array<{ name: string; rules?: Array<{ resources?: string[] }> }> | undefined) ?? [])
            .filter((w) =>
                fineGrained
                    ? w.name.endsWith(`-finegrained-${policy}`)
                    : /^(mutate|validate)\.kyverno\.svc-(fail|ignore)$/.test(w.name) && (w.rules ?? []).some((r) => r.resources?.includes("pods")),
            )
            .map((w) => w.name);
        return hooks.some((n) => n.startsWith("mutate.")) && hooks.some((n) => n.startsWith("validate.")) ? hooks : undefined;
    });
}

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
    options: ClusterOptions = {},
): Promise<ClusterState> {
    const admission = options.admission ?? false;
    const keda = options.keda ?? false;
    const tools = requiredTools({ admission, keda });
    const taken: string[] = [];
    for (const [name, port] of Object.entries(PORTS).filter(([n]) => (admission || !n.startsWith("kyverno")) && (keda || !n.startsWith("keda")))) {
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
        // metrics-server and, for a KEDA stack, KEDA (the HPAs' metrics), after the cluster's own components.
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
        log(
            `${crds.length} upstream CRDs established (Argo Rollouts v1.9.0, Prometheus Operator v0.85.0, Kyverno v1.18.2 ${admission ? "(all 22)" : "ClusterPolicy"}${keda ? ", KEDA v2.21.0" : ""}, Istio v1.32.0 VirtualService and DestinationRule)`,
        );
        await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "argo-rollouts" } });
        // Kyverno keeps its CA and serving Secrets, Leases and Events in its namespace, which must exist first.
        if (admission) await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: KYVERNO_NAMESPACE } });
        for (const o of autoscalingApiObjects(PORTS, { keda })) await kube.apply(o as KubeObject);
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
        await start("metrics-server");
        if (keda) {
            makeKedaCerts(pki, kedaCertDir);
            await start("keda-operator");
            await start("keda-adapter");
        }
        if (admission) {
            await start("kyverno");
            // Its webhook controller registers the configurations once it leads (a Lease) and has reconciled.
            const hooks = await waitFor(
                "Kyverno's webhook configurations",
                120,
                async () => {
                    const names = (await kyvernoWebhookConfigurations(kube)).map((c) => c.metadata!.name!);
                    return names.includes("kyverno-policy-validating-webhook-cfg") ? names : undefined;
                },
                { fatal },
            );
            log(`Kyverno v1.18.2 admission controller registered ${hooks.length} webhook configurations (${hooks.sort().join(", ")})`);
        }
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
