/**
 * The rehearsal's restore (sandbox/rehearsal/restore.ts) with a fake API server, a fake Pulumi stack and a real
 * stack file in a temporary directory: what it does in each case, in which order, and an interrupted run's marker.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { InProgress, needsAbort, recoverInterrupted, restore, RestoreContext, restoreAction, saveMarker } from "../../../sandbox/rehearsal/restore";

const ORIGINAL = "config:\n  model-fleet:models:\n    - name: sentiment\n      version: 2.2.0\n";
const EDITED = "config:\n  model-fleet:models:\n    - name: sentiment\n      version: 2.2.1\n";

function rollout(status: Record<string, unknown>, version = "2.2.0"): KubeObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Rollout",
        metadata: { name: "sentiment" },
        spec: { template: { metadata: { labels: { "app.kubernetes.io/version": version } } } },
        status,
    };
}
const atRest = { phase: "Healthy", stableRS: "st4ble", currentPodHash: "st4ble" };
const inFlight = { phase: "Paused", stableRS: "st4ble", currentPodHash: "c4n4ry", pauseConditions: [{ reason: "InconclusiveAnalysisRun" }] };

describe("rehearsal restore: what to do", () => {
    it("restore a changed stack in the same sandbox, skip it in a replaced one; rewrite a half-edited file; else nothing", () => {
        const differs = () => true;
        const same = () => false;
        assert.equal(restoreAction(true, true, differs), "restore");
        assert.equal(restoreAction(true, false, differs), "skip");
        assert.equal(restoreAction(false, true, differs), "rewrite");
        assert.equal(restoreAction(false, true, same), "none");
        assert.equal(restoreAction(false, false, differs), "none");
    });

    it("aborts only a canary in flight on our stable hash, not one at rest, already aborted, or on another stable", () => {
        assert.equal(needsAbort(rollout(inFlight), "st4ble"), true);
        assert.equal(needsAbort(rollout(atRest), "st4ble"), false);
        assert.equal(needsAbort(rollout({ ...inFlight, abort: true }), "st4ble"), false);
        assert.equal(needsAbort(rollout({ ...inFlight, stableRS: "c4n4ry" }), "st4ble"), false, "promoted: the way back is a rollback");
        assert.equal(needsAbort(undefined, "st4ble"), false);
    });
});

describe("rehearsal restore: the sequence", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehearsal-restore-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function context(reads: KubeObject[], o: { same?: boolean; upFails?: boolean } = {}) {
        const calls: string[] = [];
        const lines: string[] = [];
        const stackFile = path.join(dir, "Pulumi.local.yaml");
        fs.writeFileSync(stackFile, EDITED);
        let i = 0;
        const c: RestoreContext = {
            kube: {
                read: async () => {
                    calls.push("read");
                    return reads[Math.min(i++, reads.length - 1)];
                },
            },
            kc: {
                makeApiClient: (() => ({
                    patchNamespacedCustomObjectStatus: async (req: { body: unknown; name: string; namespace: string }) => {
                        calls.push(`patch status ${req.namespace}/${req.name} ${JSON.stringify(req.body)}`);
                        return {};
                    },
                })) as any,
            },
            stack: {
                up: async () => {
                    calls.push(`up with ${fs.readFileSync(stackFile, "utf8") === ORIGINAL ? "the original file" : "the EDITED file"}`);
                    if (o.upFails) throw new Error("update failed");
                    return { summary: { result: "succeeded", resourceChanges: { same: 36, update: 6 } } } as any;
                },
            },
            ns: "models",
            model: "sentiment",
            stackFile,
            originalText: ORIGINAL,
            stableHash: "st4ble",
            stableVersion: "2.2.0",
            stableTimeScale: 1,
            workDir: dir,
            sameSandbox: () => o.same ?? true,
            replaced: () => (o.same === false ? "the sandbox (started t) was stopped or replaced during the rehearsal" : undefined),
            log: (l) => lines.push(l),
            settleSeconds: 5,
        };
        return { c, calls, lines, stackFile };
    }

    it("a canary in flight: abort (as kubectl argo rollouts abort), the file back byte for byte, pulumi up, Healthy on the stable hash", async () => {
        const { c, calls, lines, stackFile } = context([rollout(inFlight, "2.2.1"), rollout(atRest)]);
        const settled = await restore(c, true);
        assert.equal(settled, "st4ble");
        assert.deepEqual(calls, ["read", 'patch status models/sentiment {"status":{"abort":true}}', "up with the original file", "read"]);
        assert.equal(fs.readFileSync(stackFile, "utf8"), ORIGINAL);
        assert.deepEqual(lines.slice(0, 3), [
            "  restore: aborting the rollout (status.abort, as kubectl argo rollouts abort)",
            "  restore: stack config back to 2.2.0, timeScale 1; pulumi up",
            '  restore: pulumi up succeeded {"same":36,"update":6}',
        ]);
        assert.match(lines[3], /^ {2}restore: Rollout Healthy on st4ble \(2\.2\.0\) after \d+\.\d s$/);
    });

    it("a promoted canary is not aborted: the way back is Argo's rollback", async () => {
        const { c, calls } = context([rollout({ phase: "Healthy", stableRS: "c4n4ry", currentPodHash: "c4n4ry" }, "2.2.1"), rollout(atRest)]);
        await restore(c, true);
        assert.ok(!calls.some((x) => x.startsWith("patch")));
    });

    it("a replaced sandbox: skipped with the reason, nothing read or deployed, the file left alone", async () => {
        const { c, calls, lines, stackFile } = context([rollout(inFlight)], { same: false });
        assert.equal(await restore(c, true), undefined);
        assert.deepEqual(calls, []);
        assert.deepEqual(lines, ["  restore: skipped, the sandbox (started t) was stopped or replaced during the rehearsal"]);
        assert.equal(fs.readFileSync(stackFile, "utf8"), EDITED);
    });

    it("nothing deployed but the file half-edited: only the file goes back", async () => {
        const { c, calls, stackFile } = context([rollout(atRest)]);
        assert.equal(await restore(c, false), undefined);
        assert.deepEqual(calls, []);
        assert.equal(fs.readFileSync(stackFile, "utf8"), ORIGINAL);
    });

    it("a failed pulumi up is thrown (the command reports 'restore failed' and keeps the marker)", async () => {
        const { c } = context([rollout(atRest)], { upFails: true });
        await assert.rejects(restore(c, true), /update failed/);
    });

    it("an interrupted rehearsal's marker: the next run in the same sandbox restores first; one from another sandbox is dropped", async () => {
        const stackFile = path.join(dir, "Pulumi.local.yaml");
        const marker = path.join(dir, "local", ".in-progress.json");
        const m: InProgress = {
            sandboxStartedAt: "s1",
            stack: "local",
            model: "sentiment",
            stackFile,
            originalText: ORIGINAL,
            stableHash: "st4ble",
            processes: [{ name: "rehearsal-prometheus", pid: 2 ** 22 + 1, log: "", command: "prometheus" }],
        };
        const ups: string[] = [];
        const stack = { up: async () => (ups.push(fs.readFileSync(stackFile, "utf8")), {} as any) };
        const stopped: string[] = [];
        const lines: string[] = [];

        fs.writeFileSync(stackFile, EDITED);
        saveMarker(marker, m);
        await recoverInterrupted(
            stack,
            "s1",
            marker,
            (l) => lines.push(l),
            async (p) => void stopped.push(p.name),
        );
        assert.deepEqual(ups, [ORIGINAL]);
        assert.deepEqual(stopped, [], "a process that is gone is not stopped");
        assert.equal(fs.existsSync(marker), false);
        assert.match(lines[0], /an interrupted rehearsal of sentiment left .*: restoring the stack config first/);

        fs.writeFileSync(stackFile, EDITED);
        saveMarker(marker, m);
        await recoverInterrupted(stack, "s2", marker, (l) => lines.push(l));
        assert.equal(ups.length, 1, "another sandbox: nothing deployed");
        assert.equal(fs.readFileSync(stackFile, "utf8"), EDITED);
        assert.equal(fs.existsSync(marker), false);
        assert.match(lines[1], /a rehearsal marker from another sandbox \(s1\) was dropped/);

        await recoverInterrupted(stack, "s2", marker, (l) => lines.push(l));
        assert.equal(lines.length, 2, "no marker: nothing to do");
    });
});
