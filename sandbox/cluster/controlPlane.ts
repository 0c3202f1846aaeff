/**
 * Starts the sandbox cluster on 127.0.0.1, the way envtest and kwokctl do: etcd, kube-apiserver (Pod Security
 * admission on, as in every cluster since 1.25), kube-controller-manager, kube-scheduler, kwok (fake nodes and pod
 * lifecycles), the Argo Rollouts controller as the cluster's add-on (its CRDs and the Prometheus Operator's taken
 * from the upstream module sources), and the HTTPS Harbor stub. Everything is checked before anything starts; a
 * failure stops what was started.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { toolPath, toolShare } from "../toolchain/build";
import { Kube, KubeObject, parseManifests } from "./kube";
import { NodeObject } from "./nodes";
import { adminKubeconfig, makePki, Pki } from "./pki";
import { httpStatus, portTaken, ProcessRecord, ProcessSpec, sleep, startProcess, stopProcess } from "./processes";

/** Fixed loopback ports: a second sandbox on the same machine is refused, not silently shifted. */
export const PORTS = {
    etcdClient: 12379,
    etcdPeer: 12380,
    apiserver: 16443,
    controllerManager: 16257,
    scheduler: 16259,
    kwok: 16260,
    argoMetrics: 16290,
    argoHealthz: 16291,
    harbor: 18443,
} as const;

export const HARBOR_CREDENTIALS = { username: "admin", password: "sandbox-harbor-pass" } as const;

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
    stack: string;
    processes: ProcessRecord[];
    caCert: string;
}

/** Every binary and data directory the cluster needs, checked before anything starts. */
function requiredTools(): Record<string, string> {
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
    };
}

function processSpecs(paths: SandboxPaths, pki: Pki, tools: Record<string, string>, repoRoot: string): ProcessSpec[] {
    const kc = paths.kubeconfig;
    const adminTls = { ca: fs.readFileSync(pki.caCert), cert: fs.readFileSync(pki.adminCert), key: fs.readFileSync(pki.adminKey) };
    const ok =
        (url: string, tls = {}) =>
        async () =>
            (await httpStatus(url, tls)) === 200;
    const loopback = "127.0.0.1";
    const kwokConfig = path.join(paths.root, "kwok-stages.yaml");
    fs.writeFileSync(
        kwokConfig,
        fs
            .readdirSync(tools.kwokStages)
            .sort()
            .map((f) => fs.readFileSync(path.join(tools.kwokStages, f), "utf8").trim())
            .join("\n---\n") + "\n",
    );
    // The controller manager and the scheduler: the admin kubeconfig, loopback serving, no leader election.
    const kubeComponent = (name: string, command: string, port: number, extra: string[]): ProcessSpec => ({
        name,
        command,
        args: [
            `--kubeconfig=${kc}`,
            `--authentication-kubeconfig=${kc}`,
            `--authorization-kubeconfig=${kc}`,
            `--bind-address=${loopback}`,
            `--secure-port=${port}`,
            "--leader-elect=false",
            ...extra,
        ],
        ready: ok(`https://${loopback}:${port}/healthz`, { insecure: true }),
        timeoutSeconds: 60,
    });
    return [
        {
            name: "etcd",
            command: tools.etcd,
            args: [
                "--name=sandbox",
                `--data-dir=${paths.etcd}`,
                `--listen-client-urls=http://${loopback}:${PORTS.etcdClient}`,
                `--advertise-client-urls=http://${loopback}:${PORTS.etcdClient}`,
                `--listen-peer-urls=http://${loopback}:${PORTS.etcdPeer}`,
                `--initial-advertise-peer-urls=http://${loopback}:${PORTS.etcdPeer}`,
                `--initial-cluster=sandbox=http://${loopback}:${PORTS.etcdPeer}`,
                "--unsafe-no-fsync",
            ],
            ready: ok(`http://${loopback}:${PORTS.etcdClient}/health`),
            timeoutSeconds: 30,
        },
        {
            name: "kube-apiserver",
            command: tools.apiserver,
            args: [
                `--etcd-servers=http://${loopback}:${PORTS.etcdClient}`,
                `--bind-address=${loopback}`,
                `--advertise-address=${loopback}`,
                `--secure-port=${PORTS.apiserver}`,
                `--cert-dir=${path.join(paths.root, "apiserver")}`,
                `--tls-cert-file=${pki.apiserverCert}`,
                `--tls-private-key-file=${pki.apiserverKey}`,
                `--client-ca-file=${pki.caCert}`,
                "--service-account-issuer=https://kubernetes.default.svc",
                `--service-account-key-file=${pki.saPub}`,
                `--service-account-signing-key-file=${pki.saKey}`,
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                // PodSecurity is in the default admission chain; named so that nobody turns it off by accident.
                "--enable-admission-plugins=PodSecurity",
                "--allow-privileged=true",
            ],
            ready: ok(`https://${loopback}:${PORTS.apiserver}/readyz`, adminTls),
            timeoutSeconds: 90,
        },
        kubeComponent("kube-controller-manager", tools.controllerManager, PORTS.controllerManager, [
            `--service-account-private-key-file=${pki.saKey}`,
            `--root-ca-file=${pki.caCert}`,
            "--use-service-account-credentials=false",
        ]),
        kubeComponent("kube-scheduler", tools.scheduler, PORTS.scheduler, []),
        {
            name: "kwok",
            command: tools.kwok,
            args: [
                `--kubeconfig=${kc}`,
                `--config=${kwokConfig}`,
                "--manage-all-nodes=false",
                // Node leases, as kwokctl sets them: without them the with-lease heartbeat stage leaves nodes NotReady
                // after ~55 s, the node lifecycle controller marks every pod unready, and canaries stall.
                "--node-lease-duration-seconds=40",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.244.0.0/16",
                `--node-ip=${loopback}`,
                `--server-address=${loopback}:${PORTS.kwok}`,
            ],
            ready: ok(`http://${loopback}:${PORTS.kwok}/healthz`),
            timeoutSeconds: 60,
        },
        {
            name: "argo-rollouts",
            command: tools.argo,
            args: [`--kubeconfig=${kc}`, "--leader-elect=false", `--metricsPort=${PORTS.argoMetrics}`, `--healthzPort=${PORTS.argoHealthz}`, "--loglevel=info"],
            ready: ok(`http://${loopback}:${PORTS.argoHealthz}/healthz`),
            timeoutSeconds: 90,
        },
        {
            name: "harbor-stub",
            command: process.execPath,
            args: [
                "-r",
                "ts-node/register/transpile-only",
                path.join(repoRoot, "sandbox", "harbor", "serve.ts"),
                `--port=${PORTS.harbor}`,
                `--cert=${pki.harborCert}`,
                `--key=${pki.harborKey}`,
                `--username=${HARBOR_CREDENTIALS.username}`,
                `--password=${HARBOR_CREDENTIALS.password}`,
            ],
            cwd: repoRoot,
            ready: async () => (await httpStatus(`https://${loopback}:${PORTS.harbor}/api/v2.0/projects`, { ca: fs.readFileSync(pki.caCert) })) > 0,
            timeoutSeconds: 60,
        },
    ];
}

/**
 * The CRDs the program's objects need: Argo Rollouts', the Prometheus Operator's and Kyverno's ClusterPolicy (no
 * Kyverno controller runs here: the admission policy is stored and schema-checked, not enforced), from upstream sources.
 */
function upstreamCrds(tools: Record<string, string>): KubeObject[] {
    return [tools.argoCrds, tools.promOperatorCrds, tools.kyvernoCrds].flatMap((dir) =>
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
 * Starts the whole cluster and registers the fake nodes. Throws (after stopping whatever it started) when a tool
 * is missing, a port is taken or a component does not come up.
 */
export async function startCluster(
    paths: SandboxPaths,
    stack: string,
    nodes: NodeObject[],
    repoRoot: string,
    log: (line: string) => void,
): Promise<ClusterState> {
    const tools = requiredTools();
    const taken: string[] = [];
    for (const [name, port] of Object.entries(PORTS)) {
        if (await portTaken(port)) taken.push(`127.0.0.1:${port} (${name})`);
    }
    if (taken.length > 0) {
        throw new Error(`port(s) already in use: ${taken.join(", ")}. Another sandbox or program holds them; nothing was started.`);
    }
    fs.rmSync(paths.root, { recursive: true, force: true });
    fs.mkdirSync(paths.root, { recursive: true });
    const pki = makePki(paths.pki);
    fs.writeFileSync(paths.kubeconfig, adminKubeconfig(pki, `https://127.0.0.1:${PORTS.apiserver}`), { mode: 0o600 });
    const started: ProcessRecord[] = [];
    const state: ClusterState = { startedAt: new Date().toISOString(), stack, processes: started, caCert: pki.caCert };
    const save = () => fs.writeFileSync(paths.state, JSON.stringify(state, null, 2));
    try {
        const specs = processSpecs(paths, pki, tools, repoRoot);
        const byName = new Map(specs.map((s) => [s.name, s]));
        const start = async (name: string) => {
            const t0 = Date.now();
            started.push(await startProcess(byName.get(name)!, paths.logs));
            save();
            log(`${name} ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        };
        await start("etcd");
        await start("kube-apiserver");
        const kube = new Kube(paths.kubeconfig);
        const crds = upstreamCrds(tools);
        for (const crd of crds) await kube.apply(crd);
        for (const crd of crds) {
            await waitFor(`CRD ${crd.metadata?.name} to be established`, 60, async () => {
                const c = await kube.read("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd.metadata!.name!);
                return c?.status?.conditions?.some((x: any) => x.type === "Established" && x.status === "True") ? true : undefined;
            });
        }
        log(`${crds.length} upstream CRDs established (Argo Rollouts v1.9.0, Prometheus Operator v0.85.0, Kyverno v1.18.2 ClusterPolicy)`);
        await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "argo-rollouts" } });
        await start("kube-controller-manager");
        await start("kube-scheduler");
        await start("kwok");
        for (const node of nodes) await kube.apply(node as unknown as KubeObject);
        await waitFor(`${nodes.length} nodes to be Ready`, 60, async () => {
            const ready = (await kube.list("v1", "Node")).filter((n) => n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"));
            return ready.length >= nodes.length ? true : undefined;
        });
        log(`${nodes.length} kwok nodes Ready`);
        await start("argo-rollouts");
        await start("harbor-stub");
        return state;
    } catch (e) {
        for (const p of [...started].reverse()) await stopProcess(p);
        fs.rmSync(paths.root, { recursive: true, force: true });
        throw e;
    }
}

export function readState(paths: SandboxPaths): ClusterState | undefined {
    try {
        return JSON.parse(fs.readFileSync(paths.state, "utf8")) as ClusterState;
    } catch {
        return undefined;
    }
}

export async function stopCluster(state: ClusterState): Promise<void> {
    for (const p of [...state.processes].reverse()) await stopProcess(p);
}
