/**
 * The rehearsal's first phase: every check before anything changes, and the plan the later phases follow. It
 * throws, having changed nothing (but restoring an interrupted earlier rehearsal, and bringing a deployed stack
 * that is behind the program up to date), when the scenario is invalid, no sandbox of the stack runs, a tool or the
 * Prometheus port is missing, the model is released by no Rollout (no canary, no blue-green), or its Rollout cannot
 * be brought to rest.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { Stack } from "@pulumi/pulumi/automation";
import * as semver from "semver";
import * as YAML from "yaml";
import { labelValue } from "../../domain/labels";
import { readState, sandboxPaths, SandboxPaths } from "../cluster/controlPlane";
import { Kube, KubeObject } from "../cluster/kube";
import { isAlive, portTaken } from "../cluster/processes";
import { prepareEngine, REPO_ROOT, sandboxStack } from "../stack";
import { deployedStacks } from "../stacks";
import type { Routing } from "./observe";
import { prometheusBinary } from "./prometheus";
import { OUT_DIR } from "./report";
import { markerFile, recoverInterrupted } from "./restore";
import { ROLLOUT_API, rolloutAtRest, RolloutPatcher, RolloutReader, settleOnVersion } from "./rollout";
import { loadScenario, Scenario } from "./scenario";
import { trainingSpecFile } from "./fleet/prepare";
import type { StopCheck } from "./signal";

export const SANDBOX_DIR = path.join(REPO_ROOT, "out", "sandbox");
const PROJECT_KEY = "model-fleet";

export interface PreflightOptions {
    stack: string;
    model: string;
    scenarioFile: string;
    timeScale: number;
}

export interface ConfigEdit {
    key: string;
    /** undefined: remove the key. */
    value?: string;
}

/** `sha256:` + 64 hex, deterministic per model and version (the same version reuses its ReplicaSet). */
export function rehearsalDigest(model: string, version: string): string {
    return `sha256:${createHash("sha256").update(`model-fleet rehearsal ${model} ${version}`).digest("hex")}`;
}

/**
 * The stack file's config after the rehearsal's edits: new patch version, new digest, no tag, the time scale. A
 * blue-green model's digest is also per scenario (`scenario`): Argo fast-tracks a ReplicaSet that still carries a
 * `scale-down-deadline`, as an aborted preview does, skipping its pre-promotion analysis (argo-rollouts v1.9.0
 * rollout/analysis.go `rollbackToScaleDownDelay`, bluegreen.go `isBlueGreenFastTracked`), so a rehearsal right after
 * an aborted one must bring up a ReplicaSet of its own.
 */
export function rehearsalConfigEdits(models: any[], index: number, timeScale: number, pauseSeconds?: number, scenario?: string): ConfigEdit[] {
    const m = models[index];
    const version = semver.inc(m.version, "patch");
    if (!version) throw new Error(`models[${index}].version "${m.version}" is not a semantic version`);
    const blueGreen = m.release?.strategy === "blueGreen";
    const digest = rehearsalDigest(m.name, blueGreen && scenario !== undefined ? `${version} ${scenario}` : version);
    const edits: ConfigEdit[] = [
        { key: `${PROJECT_KEY}:models[${index}].version`, value: version },
        { key: `${PROJECT_KEY}:models[${index}].image.digest`, value: digest },
        { key: `${PROJECT_KEY}:rollouts.timeScale`, value: String(timeScale) },
    ];
    if (m.image?.tag !== undefined) edits.push({ key: `${PROJECT_KEY}:models[${index}].image.tag` });
    // The scenario's own pause (scenario seconds, divided by the time scale like the stack's): a fault can start
    // inside a pause long enough to tell a background abort from the next gate's.
    if (pauseSeconds !== undefined) edits.push({ key: `${PROJECT_KEY}:models[${index}].canary.pauseSeconds`, value: String(pauseSeconds) });
    return edits;
}

export function checkTimeScale(timeScale: number): void {
    if (!Number.isInteger(timeScale) || timeScale < 1 || timeScale > 600)
        throw new Error(`--time-scale ${timeScale} must be an integer in 1..600 (rollouts.timeScale)`);
}

const isLoopback = (host: string) => ["127.0.0.1", "localhost", "[::1]"].includes(host);

/** What the stack file says about the rehearsal: the model, its versions, the edits, where Prometheus must listen. */
export interface StackPlan {
    ns: string;
    routing: Routing;
    /** host:port Prometheus listens on (the stack's rollouts.prometheusUrl, loopback). */
    promListen: string;
    promPort: number;
    /** The exporter's port: Prometheus' + 1. */
    exporterPort: number;
    stableVersion: string;
    /** rollouts.timeScale as configured (1 when unset): what the restore puts back. */
    stableTimeScale: number;
    canaryVersion: string;
    canaryDigest: string;
    edits: ConfigEdit[];
    /** The model's `canary.abTest` (its header or cookie), when it has one. */
    abTest?: { header?: { name: string; value: string }; cookie?: string };
}

/** Reads the stack file's text (pure): throws when the model is missing or has no canary, or the Prometheus URL is not loopback http. */
export function planStack(
    stackText: string,
    o: Pick<PreflightOptions, "stack" | "model" | "timeScale"> & { pauseSeconds?: number; scenario?: string },
): StackPlan {
    const config = YAML.parse(stackText).config as Record<string, any>;
    const models: any[] = config[`${PROJECT_KEY}:models`] ?? [];
    const index = models.findIndex((m) => m.name === o.model);
    if (index < 0) throw new Error(`stack ${o.stack} has no model "${o.model}" (models: ${models.map((m) => m.name).join(", ")})`);
    const blueGreen = models[index].release?.strategy === "blueGreen";
    if (!models[index].canary && !blueGreen)
        throw new Error(`model "${o.model}" has no canary config and is not blue-green: it is a Deployment, there is nothing to rehearse`);
    if (blueGreen && o.pauseSeconds !== undefined)
        throw new Error(`the scenario sets pauseSeconds, but model "${o.model}" is released blue-green: it has no canary pauses`);
    const rolloutsCfg = config[`${PROJECT_KEY}:rollouts`] ?? {};
    const promUrl = new URL(rolloutsCfg.prometheusUrl ?? "");
    if (promUrl.protocol !== "http:" || !isLoopback(promUrl.hostname) || !promUrl.port) {
        throw new Error(
            `rollouts.prometheusUrl ${promUrl} must be http://127.0.0.1:<port>: the rehearsal runs Prometheus there for the host's Argo controller`,
        );
    }
    const edits = rehearsalConfigEdits(models, index, o.timeScale, o.pauseSeconds, o.scenario);
    return {
        ns: config[`${PROJECT_KEY}:serving`]?.namespace ?? "models",
        routing: rolloutsCfg.trafficRouting ?? "none",
        promListen: `127.0.0.1:${promUrl.port}`,
        promPort: Number(promUrl.port),
        exporterPort: Number(promUrl.port) + 1,
        stableVersion: models[index].version,
        stableTimeScale: rolloutsCfg.timeScale ?? 1,
        canaryVersion: edits[0].value!,
        canaryDigest: edits[1].value!,
        edits,
        ...(models[index].canary?.abTest ? { abTest: models[index].canary.abTest } : {}),
    };
}

/**
 * A real-server scenario's A/B group against the model's `canary.abTest` (pure): a model with an A/B phase needs the
 * group (its first gate judges only the group's requests: without them it has no data), and a group needs the
 * phase (no router rule would pin its requests). Undefined when they agree.
 */
export function abTrafficProblem(sp: Pick<StackPlan, "abTest">, scenario: Pick<Scenario, "name" | "servers">, model: string): string | undefined {
    if (!scenario.servers) return undefined;
    const share = scenario.servers.traffic.abShare;
    if (sp.abTest && share === undefined)
        return `model "${model}" has canary.abTest: its A/B gate judges only the requests that carry its ${sp.abTest.header ? `header ${sp.abTest.header.name}` : `cookie ${sp.abTest.cookie}`}; scenario ${scenario.name} must say which share of users carries it (servers.traffic.abShare)`;
    if (!sp.abTest && share !== undefined)
        return `scenario ${scenario.name} sends an A/B group (servers.traffic.abShare), but model "${model}" has no canary.abTest: no router rule would pin its requests`;
    return undefined;
}

/**
 * Brings the deployed stack to what the program renders now and the Rollout to rest, and returns the Rollout. The
 * restore must land on the same ReplicaSet, so a deployed stack behind the program or its config (a commit since the
 * sandbox was deployed may change the pod template) is brought up to date first; a Rollout not at rest on its
 * configured version is settled (settleOnVersion). Throws "nothing was changed" when it runs another version.
 */
export async function bringToRest(o: {
    kube: RolloutReader;
    kc: RolloutPatcher;
    stack: Pick<Stack, "preview" | "up">;
    ns: string;
    model: string;
    version: string;
    log: (l: string) => void;
    stopped?: StopCheck;
    settleSeconds?: number;
}): Promise<KubeObject> {
    let rollout = await o.kube.read(ROLLOUT_API, "Rollout", o.model, o.ns);
    if (!rollout) throw new Error(`no Rollout ${o.ns}/${o.model} in the sandbox (is the stack deployed?)`);
    const preview = await o.stack.preview({ color: "never" });
    const pending = Object.entries(preview.changeSummary ?? {}).filter(([op, n]) => op !== "same" && Number(n) > 0);
    if (pending.length > 0 || !rolloutAtRest(rollout)) {
        const templateVersion = rollout.spec?.template?.metadata?.labels?.["app.kubernetes.io/version"];
        if (templateVersion !== labelValue(o.version)) {
            throw new Error(`Rollout ${o.ns}/${o.model} runs version ${templateVersion}, the stack config says ${o.version}: nothing was changed`);
        }
        if (pending.length > 0) {
            o.log(`  the deployed stack is behind the program or its config (${pending.map(([op, n]) => `${n} to ${op}`).join(", ")}): pulumi up first`);
            const sync = await o.stack.up({ color: "never", onOutput: () => undefined });
            o.log(`  pulumi up: ${sync.summary.result} ${JSON.stringify(sync.summary.resourceChanges)}`);
        } else {
            o.log(`  Rollout ${o.ns}/${o.model} is not at rest on its configured version ${o.version} (phase ${rollout.status?.phase}): settling it first`);
        }
        await settleOnVersion({
            kube: o.kube,
            kc: o.kc,
            ns: o.ns,
            model: o.model,
            version: o.version,
            expectHash: rollout.status?.stableRS,
            seconds: o.settleSeconds ?? 180,
            log: o.log,
            stopped: o.stopped,
        });
        rollout = (await o.kube.read(ROLLOUT_API, "Rollout", o.model, o.ns))!;
    }
    if (!rolloutAtRest(rollout)) {
        const st = rollout.status ?? {};
        throw new Error(
            `Rollout ${o.ns}/${o.model} is not at rest (phase ${st.phase}, stable ${st.stableRS}, current ${st.currentPodHash}${st.abort ? ", aborted" : ""}): nothing was changed`,
        );
    }
    return rollout;
}

/** Everything the later phases need, decided before anything changes. */
export interface Plan extends StackPlan {
    options: PreflightOptions;
    scenario: Scenario;
    /** The scenario file relative to the repository (as the report names it). */
    scenarioFile: string;
    paths: SandboxPaths;
    /** The sandbox this rehearsal runs in (ClusterState.startedAt). */
    sandboxStartedAt: string;
    kube: Kube;
    kc: k8s.KubeConfig;
    stack: Stack;
    /** The sandbox workspace's stack file, and its text before the rehearsal (put back byte for byte). */
    stackFile: string;
    originalText: string;
    stableHash: string;
    serviceMonitor: KubeObject;
    workDir: string;
    logDir: string;
    reportFile: string;
    markerFile: string;
}

export async function preflight(o: PreflightOptions, log: (l: string) => void, stopped?: StopCheck): Promise<Plan> {
    const scenario = loadScenario(o.scenarioFile);
    checkTimeScale(o.timeScale);
    const paths: SandboxPaths = sandboxPaths(SANDBOX_DIR);
    const state = readState(paths);
    if (!state || !state.processes.some((p) => isAlive(p.pid)))
        throw new Error(`no running sandbox in ${path.relative(REPO_ROOT, paths.root)}: start one with \`npm run sandbox -- up --stack ${o.stack}\``);
    if (!deployedStacks(state).includes(o.stack)) {
        throw new Error(
            `the running sandbox deploys stack ${deployedStacks(state).join(", ")}, not "${o.stack}" (add it with \`npm run sandbox -- up --stack ${o.stack}\`)`,
        );
    }
    const down = state.processes.filter((p) => !isAlive(p.pid)).map((p) => p.name);
    if (down.length > 0) throw new Error(`sandbox processes not running: ${down.join(", ")} (\`npm run sandbox -- status\`)`);
    prometheusBinary("prometheus"); // fail now, not after the stack changed

    const kube = new Kube(paths.kubeconfig);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    const engine = prepareEngine(paths, o.stack, state.caCert);
    const stack = await sandboxStack(o.stack, engine);
    const marker = markerFile(o.stack);
    await recoverInterrupted(stack, state.startedAt, marker, log);

    const stackFile = path.join(engine.workDir, `Pulumi.${o.stack}.yaml`);
    const originalText = fs.readFileSync(stackFile, "utf8");
    const sp = planStack(originalText, { ...o, pauseSeconds: scenario.pauseSeconds, scenario: scenario.name });
    if (scenario.servers) {
        // Real model servers: weights the repository can train, and the A/B group the model's phase needs.
        for (const v of ["stable", "canary"] as const) trainingSpecFile(scenario.servers[v].training);
        const ab = abTrafficProblem(sp, scenario, o.model);
        if (ab) throw new Error(`${ab}; nothing was changed`);
    }
    for (const [what, port] of [
        ["Prometheus", sp.promPort],
        ["the rehearsal exporter", sp.exporterPort],
    ] as const) {
        if (await portTaken(port)) throw new Error(`127.0.0.1:${port} (${what}) is in use: another rehearsal or Prometheus runs; nothing was changed`);
    }
    const rollout = await bringToRest({ kube, kc, stack, ns: sp.ns, model: o.model, version: sp.stableVersion, log, stopped });
    const serviceMonitor = await kube.read("monitoring.coreos.com/v1", "ServiceMonitor", o.model, sp.ns);
    if (!serviceMonitor) throw new Error(`no ServiceMonitor ${sp.ns}/${o.model}: the rehearsal derives the scrape from it (serving.prometheusOperator: true)`);

    const outDir = path.join(OUT_DIR, o.stack, o.model);
    const workDir = path.join(outDir, `${scenario.name}.work`);
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    return {
        ...sp,
        options: o,
        scenario,
        scenarioFile: path.relative(REPO_ROOT, path.resolve(o.scenarioFile)),
        paths,
        sandboxStartedAt: state.startedAt,
        kube,
        kc,
        stack,
        stackFile,
        originalText,
        stableHash: rollout.status.stableRS,
        serviceMonitor,
        workDir,
        logDir: path.join(workDir, "logs"),
        reportFile: path.join(outDir, `${scenario.name}.json`),
        markerFile: marker,
    };
}
