/**
 * Blue-green releases in the sandbox (issue #28): the `local-bluegreen` stack (Pulumi.local-bluegreen.yaml,
 * `release.strategy: blueGreen`) deployed by the real engine into a sandbox it starts, and two release rehearsals
 * (`npm run rehearse`, tests/scenarios/blue-green/) decided by the real Argo Rollouts controller v1.9.0 from metrics a
 * real Prometheus scrapes: the new version comes up in full behind the preview Service, the pre-promotion analysis
 * (AnalysisRun `rollout-type: PrePromotion`, rollout/bluegreen.go) judges the preview's pods alone, and only then
 * does Argo switch the active Service's selector (status.blueGreen.activeSelector). A preview that fails its gate is
 * aborted and never promoted; one that passes is promoted at once (autoPromotionEnabled).
 *
 * Starts its own sandbox (none may be running) and takes it down afterwards.
 * REHEARSAL_TIME_SCALE (default 10) compresses analysis intervals and scenario times.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { ROLLOUT_API } from "../rehearsal/rollout";
import { REPO_ROOT } from "../stack";
import { ownSandbox, rehearse } from "./cli";

const STACK = "local-bluegreen";
const NS = "models-bluegreen";
const MODEL = "sentiment";
const HASH = "rollouts-pod-template-hash";
const SCENARIOS = path.join(REPO_ROOT, "tests", "scenarios", "blue-green");

describe("sandbox e2e: blue-green releases (stack local-bluegreen) decided by the real controller", function () {
    const sandbox = ownSandbox(STACK);
    const kube = () => sandbox.kube();

    it("1. at rest: a blue-green Rollout, both Services pinned by Argo to the one running ReplicaSet", async function () {
        const ro = (await kube().read(ROLLOUT_API, "Rollout", MODEL, NS))!;
        assert.ok(ro.spec.strategy.blueGreen, "strategy.blueGreen");
        assert.equal(ro.status?.phase, "Healthy");
        const stable = ro.status.stableRS as string;
        assert.equal(ro.status.blueGreen?.activeSelector, stable);
        for (const svc of [MODEL, `${MODEL}-preview`]) {
            const s = (await kube().read("v1", "Service", svc, NS))!;
            assert.equal(s.spec.selector?.[HASH], stable, `${svc} selects the running ReplicaSet`);
        }
    });

    /** `npm run rehearse` of one scenario; its report. */
    const rehearseScenario = (file: string) =>
        rehearse(STACK, MODEL, path.join(SCENARIOS, file), /steps|blueGreen|prePromotion|analysis .*pre-promotion|OUTCOME|final:|^\s*error:|restore|report:/);

    it("2. preview-fails.yaml: the pre-promotion analysis fails on the preview, Argo aborts, and the active Service never switched", function () {
        this.timeout(1_800_000);
        const report = rehearseScenario("preview-fails.yaml");
        assert.equal(report.match, true);
        assert.equal(report.outcome, "aborted");
        assert.deepEqual(report.decidedBy, ["success-rate"]);
        assert.equal(report.decidingRun?.kind, "prePromotion", "decided by the pre-promotion AnalysisRun");
        assert.equal(report.maxCanaryWeight, 0, "no user request reached the new version");
        assert.equal(report.stableRevisionAfter, report.stableRevisionBefore, "stable unchanged");
        const runs = report.events.filter((e: any) => e.kind === "analysisrun");
        assert.ok(runs.length > 0 && runs.every((e: any) => e.runKind === "prePromotion"), runs.map((e: any) => `${e.run} ${e.runKind}`).join(", "));
    });

    it("3. preview-passes.yaml: the pre-promotion analysis passes and Argo switches the active Service to the new version at once", function () {
        this.timeout(1_800_000);
        const report = rehearseScenario("preview-passes.yaml");
        assert.equal(report.match, true);
        assert.equal(report.outcome, "promoted");
        assert.equal(report.maxCanaryWeight, 100, "the switch: all traffic at once");
        assert.notEqual(report.stableRevisionAfter, report.stableRevisionBefore, "stable is the new revision");
        assert.ok(report.events.some((e: any) => e.kind === "analysisrun" && e.runKind === "prePromotion" && e.phase === "Successful"));
    });
});
