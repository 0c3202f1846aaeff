/**
 * The rehearsal's way back, run whatever happened before it: abort a canary still in flight, put the stack file
 * back byte for byte, `pulumi up`, and wait until the Rollout is Healthy on the stable hash again. A marker file
 * records what to put back while a rehearsal runs, so the next run in the same sandbox restores an interrupted one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import type { KubeObject } from "../cluster/kube";
import { isAlive, ProcessRecord, stopProcess } from "../cluster/processes";
import { REPO_ROOT } from "../stack";
import { OUT_DIR } from "./report";
import { abortRollout, ROLLOUT_API, rolloutAtRest, RolloutPatcher, RolloutReader, settleOnVersion } from "./rollout";
import type { StopCheck } from "./signal";

/** Marker of a rehearsal in progress: what to put back if it is interrupted. */
export interface InProgress {
    /** The sandbox it ran in (ClusterState.startedAt): a marker from another sandbox restores nothing. */
    sandboxStartedAt: string;
    stack: string;
    model: string;
    stackFile: string;
    originalText: string;
    stableHash: string;
    processes: ProcessRecord[];
}

export const markerFile = (stack: string, outDir = OUT_DIR) => path.join(outDir, stack, ".in-progress.json");

/** Writes the marker (again, after each process it records was started). */
export function saveMarker(file: string, m: InProgress): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(m, null, 2));
}

/** Restores the stack after an interrupted rehearsal (a marker left behind), before a new one starts. */
export async function recoverInterrupted(
    stack: Pick<Stack, "up">,
    sandboxStartedAt: string,
    file: string,
    log: (l: string) => void,
    stop: (p: ProcessRecord) => Promise<unknown> = stopProcess,
): Promise<void> {
    if (!fs.existsSync(file)) return;
    const m = JSON.parse(fs.readFileSync(file, "utf8")) as InProgress;
    for (const p of m.processes) if (isAlive(p.pid) && p.name.startsWith("rehearsal-")) await stop(p);
    if (m.sandboxStartedAt === sandboxStartedAt) {
        log(`an interrupted rehearsal of ${m.model} left ${path.relative(REPO_ROOT, file)}: restoring the stack config first`);
        fs.writeFileSync(m.stackFile, m.originalText);
        await stack.up({ color: "never", onOutput: () => undefined });
    } else {
        log(`a rehearsal marker from another sandbox (${m.sandboxStartedAt}) was dropped; this sandbox's config is untouched`);
    }
    fs.rmSync(file, { force: true });
}

/**
 * What the restore does:
 * - `skip`: the stack was changed but the sandbox is gone or replaced: its workspace and cluster are not ours;
 * - `restore`: the stack was changed: abort if needed, the file back, `pulumi up`, wait for the stable hash;
 * - `rewrite`: nothing was deployed but the stack file differs (an edit failed half-way): the file back;
 * - `none`: nothing to put back.
 */
export type RestoreAction = "skip" | "restore" | "rewrite" | "none";

export function restoreAction(stackChanged: boolean, sameSandbox: boolean, fileDiffers: () => boolean): RestoreAction {
    if (stackChanged) return sameSandbox ? "restore" : "skip";
    return sameSandbox && fileDiffers() ? "rewrite" : "none";
}

/** A canary still in flight on our stable (not at rest, not aborted yet) is aborted before the config goes back. */
export function needsAbort(r: KubeObject | undefined, stableHash: string): boolean {
    return !!r && !rolloutAtRest(r) && r.status?.abort !== true && r.status?.stableRS === stableHash;
}

export interface RestoreContext {
    kube: RolloutReader;
    kc: RolloutPatcher;
    stack: Pick<Stack, "up">;
    ns: string;
    model: string;
    stackFile: string;
    originalText: string;
    stableHash: string;
    stableVersion: string;
    /** The configured rollouts.timeScale the file goes back to (for the log line). */
    stableTimeScale: number;
    workDir: string;
    sameSandbox: () => boolean;
    /** Why the sandbox is no longer this rehearsal's, if it is not. */
    replaced: StopCheck;
    log: (l: string) => void;
    /** Seconds to wait for the Rollout to be Healthy on the stable hash again. */
    settleSeconds?: number;
}

/** Puts the sandbox back; returns the stable hash it settled on when it deployed. Throws when the restore failed. */
export async function restore(c: RestoreContext, stackChanged: boolean, startedMs = Date.now()): Promise<string | undefined> {
    const fileDiffers = () => fs.existsSync(c.stackFile) && fs.readFileSync(c.stackFile, "utf8") !== c.originalText;
    switch (restoreAction(stackChanged, c.sameSandbox(), fileDiffers)) {
        case "skip":
            // Its workspace and cluster are gone (or belong to a new sandbox): nothing of ours to put back.
            c.log(`  restore: skipped, ${c.replaced()}`);
            return undefined;
        case "rewrite":
            fs.writeFileSync(c.stackFile, c.originalText);
            return undefined;
        case "none":
            return undefined;
        case "restore":
            break;
    }
    const r = await c.kube.read(ROLLOUT_API, "Rollout", c.model, c.ns);
    if (needsAbort(r, c.stableHash)) {
        c.log(`  restore: aborting the rollout (status.abort, as kubectl argo rollouts abort)`);
        await abortRollout(c.kc, c.ns, c.model);
    }
    fs.writeFileSync(c.stackFile, c.originalText);
    c.log(`  restore: stack config back to ${c.stableVersion}, timeScale ${c.stableTimeScale}; pulumi up`);
    const up = await c.stack.up({ color: "never", onOutput: (out) => fs.appendFileSync(path.join(c.workDir, "pulumi-restore.log"), out) });
    c.log(`  restore: pulumi up ${up.summary.result} ${JSON.stringify(up.summary.resourceChanges)}`);
    const settled = await settleOnVersion({
        kube: c.kube,
        kc: c.kc,
        ns: c.ns,
        model: c.model,
        version: c.stableVersion,
        expectHash: c.stableHash,
        seconds: c.settleSeconds ?? 180,
        log: c.log,
        stopped: c.replaced,
    });
    c.log(`  restore: Rollout Healthy on ${settled} (${c.stableVersion}) after ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    return settled;
}
