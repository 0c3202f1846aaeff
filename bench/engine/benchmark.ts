/**
 * `npm run bench -- engine`: what a pull request's `pulumi preview` costs with the real engine. On the sandbox's
 * control plane (its real API server; the Kubernetes provider and the CLI built from their Go modules), for each size:
 * `pulumi preview`, `pulumi up` and a no-change `up` of the local stack with N models (bench/engine/stacks.ts), then
 * the same three for the floor: a program that declares as many plain ConfigMaps through the same engine and provider.
 * Reports the ratio to the floor and the marginal milliseconds per resource (least-squares slope). It never asserts a
 * time: it reports.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { readState, sandboxPaths, startCluster, stopCluster } from "../../sandbox/cluster/controlPlane";
import { sandboxNodes } from "../../sandbox/cluster/nodes";
import { isAlive } from "../../sandbox/cluster/processes";
import { SANDBOX_DIR, stackPools } from "../../sandbox/sandbox";
import { EngineEnv, prepareEngine, PROJECT, REPO_ROOT, sandboxStack } from "../../sandbox/stack";
import { binDir } from "../../sandbox/toolchain/build";
import { toolSpec } from "../../sandbox/toolchain/manifest";
import { stackFilePath } from "../../support/stackFile";
import { engineStackFile, Fit, linearFit } from "./stacks";
import * as YAML from "yaml";

export interface EngineTimings {
    readonly previewMs: number;
    readonly upMs: number;
    readonly noChangeUpMs: number;
}

export interface EngineRow {
    readonly models: number;
    readonly resources: number;
    readonly fleet: EngineTimings;
    readonly floor: EngineTimings;
}

export interface EngineResults {
    readonly rows: EngineRow[];
    readonly fit?: { readonly fleetPreview: Fit; readonly floorPreview: Fit; readonly fleetUp: Fit; readonly floorUp: Fit };
    readonly conditions: string;
    readonly target: string;
}

async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
    const t0 = process.hrtime.bigint();
    const r = await f();
    return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

/** The floor: `count` ConfigMaps through the same provider, nothing else. */
function floorProgram(count: number, kubeconfig: string) {
    return async () => {
        const provider = new k8s.Provider("floor", { kubeconfig: fs.readFileSync(kubeconfig, "utf8") });
        for (let i = 0; i < count; i++) {
            new k8s.core.v1.ConfigMap(`floor-${i}`, { metadata: { name: `floor-${i}`, namespace: "default" }, data: { i: String(i) } }, { provider });
        }
        return {};
    };
}

async function measure(stack: Stack, log: (s: string) => void, what: string): Promise<[EngineTimings, number]> {
    const [previewMs, preview] = await time(() => stack.preview({ color: "never" }));
    const resources = Object.values(preview.changeSummary).reduce((a, b) => a + (b ?? 0), 0);
    const [upMs] = await time(() => stack.up({ color: "never" }));
    const [noChangeUpMs, again] = await time(() => stack.up({ color: "never" }));
    const changed = Object.entries(again.summary.resourceChanges ?? {}).filter(([k, v]) => k !== "same" && (v ?? 0) > 0);
    if (changed.length > 0) throw new Error(`${what}: the second up was not a no-change up (${JSON.stringify(again.summary.resourceChanges)})`);
    log(
        `  ${what}: ${resources} resources, preview ${(previewMs / 1000).toFixed(1)} s, up ${(upMs / 1000).toFixed(1)} s, no-change up ${(noChangeUpMs / 1000).toFixed(1)} s`,
    );
    return [{ previewMs, upMs, noChangeUpMs }, resources];
}

export async function engineBenchmark(sizes: readonly number[], log: (s: string) => void): Promise<EngineResults> {
    const paths = sandboxPaths(SANDBOX_DIR);
    const running = readState(paths);
    if (running?.processes.some((p) => isAlive(p.pid))) throw new Error("a sandbox is running: stop it with `npm run sandbox -- down` first");
    const local = fs.readFileSync(stackFilePath("local"), "utf8");
    const rows: EngineRow[] = [];
    // Each size on a fresh control plane, so no size pays for another's objects and nothing is destroyed:
    // pulumi-kubernetes 4.25.0 panics awaiting a Rollout's deletion (docs/known-gaps.md), which made destroying
    // a 100-model stack take longer than measuring it.
    for (const n of [...sizes].sort((a, b) => a - b)) {
        const generated = YAML.parse(engineStackFile(local, n)).config[`${PROJECT}:gpuPools`] as Array<{ name: string; nodes: number }>;
        const pools = stackPools("local").map((p) => ({ ...p, nodes: generated.find((q) => q.name === p.name)!.nodes }));
        const state = await startCluster(paths, "local", sandboxNodes(pools), REPO_ROOT, (l) => log(`  [sandbox] ${l}`));
        try {
            const workDir = path.join(paths.root, "workspace");
            fs.mkdirSync(workDir, { recursive: true });
            const name = `bench-${n}`;
            fs.writeFileSync(path.join(workDir, `Pulumi.${name}.yaml`), engineStackFile(local, n));
            const engine: EngineEnv = prepareEngine(paths, name, state.caCert);
            const [fleet, resources] = await measure(await sandboxStack(name, engine), log, `fleet, ${n} models`);
            const floorStack = await LocalWorkspace.createOrSelectStack(
                { stackName: `floor-${n}`, projectName: PROJECT, program: floorProgram(resources, paths.kubeconfig) },
                {
                    workDir: fs.mkdtempSync(path.join(paths.root, "floor-")),
                    pulumiHome: engine.pulumiHome,
                    envVars: engine.env,
                    pulumiCommand: await PulumiCommand.get({ root: path.dirname(binDir(toolSpec("pulumi"))), skipVersionCheck: true }),
                    secretsProvider: "passphrase",
                },
            );
            const [floor] = await measure(floorStack, log, `floor, ${resources} ConfigMaps`);
            rows.push({ models: n, resources, fleet, floor });
        } finally {
            await stopCluster(state);
            fs.rmSync(paths.root, { recursive: true, force: true });
        }
    }
    const fitOf = (pick: (r: EngineRow) => number) => linearFit(rows.map((r) => ({ resources: r.resources, ms: pick(r) })));
    return {
        rows,
        ...(rows.length > 1
            ? {
                  fit: {
                      fleetPreview: fitOf((r) => r.fleet.previewMs),
                      floorPreview: fitOf((r) => r.floor.previewMs),
                      fleetUp: fitOf((r) => r.fleet.upMs),
                      floorUp: fitOf((r) => r.floor.upMs),
                  },
              }
            : {}),
        conditions:
            "the sandbox's control plane on this machine (kwok nodes, no containers), file backend, passphrase secrets, engine and provider built from Go modules",
        target: "preview at most 2× the floor, growing linearly",
    };
}
