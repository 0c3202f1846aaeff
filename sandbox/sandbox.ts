/**
 * `npm run sandbox -- up [--stack local]`: a local GPU cluster with fake GPU nodes where the real Pulumi engine
 * deploys the fleet; `status` prints its pods; `down` destroys the stack and stops every process it started.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { gpuPoolSchema } from "../config/schema";
import { ClusterState, readState, sandboxPaths, SandboxPaths, startCluster, stopCluster } from "./cluster/controlPlane";
import { Kube } from "./cluster/kube";
import { sandboxNodes, SandboxPool } from "./cluster/nodes";
import { isAlive } from "./cluster/processes";
import { formatRows, podRows } from "./cluster/view";
import { prepareEngine, REPO_ROOT, sandboxStack } from "./stack";
import { toolPath } from "./toolchain/build";
import { readFleetConfig, stackFilePath } from "../support/stackFile";

const USAGE = `usage: npm run sandbox -- up [--stack local] | status | down
  up      start etcd, kube-apiserver, controller manager, scheduler, kwok, the Argo Rollouts controller and the
          Harbor stub on 127.0.0.1, create fake GPU nodes from the stack's gpuPools, and run \`pulumi up\`
  status  print the sandbox's processes and each model pod with its node, pool and GPU resource
  down    \`pulumi destroy\`, then stop every sandbox process and remove out/sandbox`;

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
    return state && state.processes.some((p) => isAlive(p.pid)) ? state : undefined;
}

export async function podView(paths: SandboxPaths, namespace = "models"): Promise<string> {
    const kube = new Kube(paths.kubeconfig);
    const [pods, nodes] = await Promise.all([kube.list("v1", "Pod", namespace), kube.list("v1", "Node")]);
    return formatRows(podRows(pods, nodes));
}

async function up(stack: string): Promise<number> {
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
    // The engine's tools too are checked before anything starts (the cluster's own are checked by startCluster).
    toolPath("pulumi");
    toolPath("pulumi-resource-kubernetes");
    const state = await startCluster(paths, stack, nodes, REPO_ROOT, log);
    log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig: ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    const engine = prepareEngine(paths, stack, state.caCert);
    const s = await sandboxStack(stack, engine);
    const t1 = Date.now();
    try {
        const res = await s.up({ onOutput: (o) => process.stdout.write(o), color: "never" });
        log(`pulumi up: ${res.summary.result} in ${((Date.now() - t1) / 1000).toFixed(1)} s (${JSON.stringify(res.summary.resourceChanges)})`);
    } catch (e) {
        log(
            `pulumi up failed; the cluster is still running for inspection (\`npm run sandbox -- status\`, logs in ${path.relative(REPO_ROOT, paths.logs)}); \`npm run sandbox -- down\` removes it`,
        );
        throw e;
    }
    console.log(await podView(paths));
    log(`sandbox up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
}

async function status(): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state) {
        console.log("no sandbox (start one with `npm run sandbox -- up`)");
        return 1;
    }
    console.log(`stack ${state.stack}, started ${state.startedAt}, kubeconfig ${path.relative(REPO_ROOT, paths.kubeconfig)}`);
    for (const p of state.processes) console.log(`  ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${isAlive(p.pid) ? "running" : "STOPPED"}`);
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

async function down(): Promise<number> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state) {
        console.log("no sandbox to stop");
        return 0;
    }
    const apiserverUp = state.processes.some((p) => p.name === "kube-apiserver" && isAlive(p.pid));
    if (apiserverUp && fs.existsSync(path.join(paths.root, "workspace"))) {
        const s = await sandboxStack(state.stack, prepareEngine(paths, state.stack, state.caCert));
        const destroy = () => s.destroy({ onOutput: (o) => process.stdout.write(o), color: "never" });
        let res;
        try {
            res = await destroy();
        } catch (e) {
            if (!isRolloutDeleteAwaitPanic(String(e))) throw e;
            console.log("[sandbox] pulumi destroy: the Kubernetes provider crashed awaiting a Rollout's deletion (known, docs/known-gaps.md); once more");
            res = await destroy();
        }
        console.log(`[sandbox] pulumi destroy: ${res.summary.result}`);
    }
    await stopCluster(state);
    fs.rmSync(paths.root, { recursive: true, force: true });
    console.log(`[sandbox] stopped ${state.processes.length} processes and removed ${path.relative(REPO_ROOT, paths.root)}`);
    return 0;
}

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { stack: { type: "string", default: "local" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    switch (positionals[0]) {
        case "up":
            return up(values.stack!);
        case "status":
            return status();
        case "down":
            return down();
        default:
            console.error(USAGE);
            return 2;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e) => {
            console.error(`sandbox: ${(e as Error).message}`);
            process.exit(1);
        },
    );
}
