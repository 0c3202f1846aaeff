/**
 * The rehearsal's recorder (sandbox/rehearsal/observe.ts) on snapshots shaped like the Argo Rollouts v1.9.0
 * controller's objects, and the config edits that start a canary (sandbox/rehearsal/preflight.ts).
 */
import { strict as assert } from "node:assert";
import { ANALYSIS_TEMPLATE_NAMES } from "../../../components/rollouts/RolloutsController";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { canaryWeight, formatEvent, Recorder, runKind, Snapshot } from "../../../sandbox/rehearsal/observe";
import { rehearsalConfigEdits, rehearsalDigest } from "../../../sandbox/rehearsal/preflight";
import { finalLine, matchExpectation, newReport, recordOutcome } from "../../../sandbox/rehearsal/report";

const STEPS = [
    { setWeight: 25 },
    { pause: { duration: "6s" } },
    { analysis: { templates: [{ templateName: ANALYSIS_TEMPLATE_NAMES.successRate }] } },
    { setWeight: 50 },
    { pause: { duration: "6s" } },
    { analysis: { templates: [{ templateName: ANALYSIS_TEMPLATE_NAMES.successRate }] } },
];
const T0 = 1_700_000_000_000;

function rollout(status: Record<string, unknown>): KubeObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Rollout",
        metadata: { name: "sentiment", uid: "u" },
        spec: { strategy: { canary: { steps: STEPS } } },
        status,
    };
}

function pod(name: string, hash: string, ready = true, deleting = false): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { "rollouts-pod-template-hash": hash }, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
        status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
    };
}

function run(step: number, phase: string, measurements: Array<{ phase: string; value?: string; startedAt: string }>): KubeObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AnalysisRun",
        metadata: { name: `sentiment-c4n4ry-2-${step}`, labels: { "step-index": String(step) }, creationTimestamp: new Date("2026-01-01T00:00:00Z") },
        status: { phase, metricResults: [{ name: "success-rate", phase, measurements }] },
    };
}

const snap = (dt: number, status: Record<string, unknown>, pods: KubeObject[], analysisRuns: KubeObject[] = []): Snapshot => ({
    tMs: T0 + dt * 1000,
    rollout: rollout(status),
    pods,
    analysisRuns,
});
const opts = { routing: "none" as const, timeScale: 10, stableHashBefore: "st4ble", pauseSettleSeconds: 10, abortSettleSeconds: 30 };

describe("rehearsal recorder", () => {
    it("weight without a router is the ready-pod split; with nginx the canary Ingress annotation", () => {
        const s = snap(0, {}, [pod("a", "st4ble"), pod("b", "st4ble"), pod("c", "c4n4ry"), pod("d", "c4n4ry", false), pod("e", "c4n4ry", true, true)]);
        assert.deepEqual(canaryWeight(s, "none", "c4n4ry"), { weight: 33.3, canaryPods: 1, stablePods: 2, source: "replicas" });
        s.canaryIngress = {
            apiVersion: "networking.k8s.io/v1",
            kind: "Ingress",
            metadata: { annotations: { "nginx.ingress.kubernetes.io/canary-weight": "25" } },
        };
        assert.equal(canaryWeight(s, "nginx", "c4n4ry").weight, 25);
        s.canaryIngress.metadata!.annotations!["nginx.ingress.kubernetes.io/canary-weight-total"] = "1000";
        assert.equal(canaryWeight(s, "nginx", "c4n4ry").weight, 2.5);
    });

    it("istio: the weight of the route Argo re-weights (the Rollout's virtualService.routes), not of the header or mirror routes ahead of it", () => {
        const s = snap(0, {}, [pod("a", "st4ble"), pod("c", "c4n4ry")]);
        s.rollout.spec = { strategy: { canary: { trafficRouting: { istio: { virtualService: { name: "sentiment", routes: ["primary"] } } } } } };
        const dests = (w: number) => [
            { destination: { host: "sentiment" }, weight: 100 - w },
            { destination: { host: "sentiment-canary" }, weight: w },
        ];
        s.virtualService = {
            apiVersion: "networking.istio.io/v1beta1",
            kind: "VirtualService",
            spec: {
                http: [
                    {
                        name: "ab-test",
                        match: [{ headers: { "x-canary": { exact: "always" } } }],
                        route: [{ destination: { host: "sentiment-canary" }, weight: 100 }],
                    },
                    { name: "mirror", match: [{ uri: { exact: "/predict" } }], route: dests(0), mirror: { host: "sentiment-canary" } },
                    { name: "primary", route: dests(20) },
                ],
            },
        };
        assert.deepEqual(canaryWeight(s, "istio", "c4n4ry", "sentiment-canary"), { weight: 20, canaryPods: 1, stablePods: 1, source: "virtualservice" });
    });

    it("blue-green: the users' traffic is where the active Service points (status.blueGreen.activeSelector), whatever the preview's ready pods", () => {
        const pods = [pod("a", "st4ble"), pod("b", "st4ble"), pod("c", "c4n4ry"), pod("d", "c4n4ry")];
        const bg = (activeSelector: string): Snapshot => ({
            tMs: T0,
            rollout: {
                ...rollout({ blueGreen: { activeSelector, previewSelector: "c4n4ry" } }),
                spec: { strategy: { blueGreen: { activeService: "sentiment" } } },
            },
            pods,
            analysisRuns: [],
        });
        assert.deepEqual(canaryWeight(bg("st4ble"), "none", "c4n4ry"), { weight: 0, canaryPods: 2, stablePods: 2, source: "activeService" });
        assert.equal(canaryWeight(bg("c4n4ry"), "nginx", "c4n4ry").weight, 100, "promoted: the switch, at once");
    });

    it("an AnalysisRun's kind from Argo's rollout-type label: Step, Background, PrePromotion (blue-green)", () => {
        const ar = (label?: string): KubeObject => ({
            apiVersion: "argoproj.io/v1alpha1",
            kind: "AnalysisRun",
            metadata: { name: "r", labels: label ? { "rollout-type": label } : {} },
        });
        assert.deepEqual(
            ["Step", "Background", "PrePromotion", undefined].map((l) => runKind(ar(l))),
            ["step", "background", "prePromotion", "step"],
        );
    });

    it("records steps, weights, runs and each measurement once; an abort is decided at the failed run's step with weight back to 0", () => {
        const r = new Recorder(opts);
        const stable = [pod("a", "st4ble"), pod("b", "st4ble")];
        r.observe(snap(-1, { phase: "Healthy", currentStepIndex: 6, stableRS: "st4ble", currentPodHash: "st4ble" }, stable));
        assert.equal(r.events.length, 0, "nothing is stamped before the rollout starts");
        r.start(T0, "c4n4ry");
        assert.deepEqual(
            r.events.map((e) => [e.kind, e.t]),
            [
                ["rollout", -1],
                ["weight", -1],
            ],
        );
        r.observe(snap(2, { phase: "Progressing", currentStepIndex: 0, stableRS: "st4ble", currentPodHash: "c4n4ry" }, [...stable, pod("c", "c4n4ry")]));
        r.observe(
            snap(
                9,
                { phase: "Progressing", currentStepIndex: 2, stableRS: "st4ble", currentPodHash: "c4n4ry" },
                [...stable, pod("c", "c4n4ry")],
                [run(2, "Running", [{ phase: "Successful", value: "[0.99]", startedAt: "t1" }])],
            ),
        );
        r.observe(
            snap(
                10,
                { phase: "Progressing", currentStepIndex: 2, stableRS: "st4ble", currentPodHash: "c4n4ry" },
                [...stable, pod("c", "c4n4ry")],
                [run(2, "Running", [{ phase: "Successful", value: "[0.99]", startedAt: "t1" }])],
            ),
        );
        const failed = run(2, "Failed", [
            { phase: "Successful", value: "[0.99]", startedAt: "t1" },
            { phase: "Failed", value: "[0.5]", startedAt: "t2" },
            { phase: "Failed", value: "[0.4]", startedAt: "t3" },
        ]);
        // Argo resets currentStepIndex to 0 on abort; the canary pod is still up for a moment.
        r.observe(
            snap(
                21,
                { phase: "Degraded", abort: true, currentStepIndex: 0, stableRS: "st4ble", currentPodHash: "c4n4ry", message: "RolloutAborted: metric failed" },
                [...stable, pod("c", "c4n4ry")],
                [failed],
            ),
        );
        assert.equal(r.outcome, undefined, "waits for the weight to reach 0");
        r.observe(
            snap(
                23,
                { phase: "Degraded", abort: true, currentStepIndex: 0, stableRS: "st4ble", currentPodHash: "c4n4ry", message: "RolloutAborted: metric failed" },
                stable,
                [failed],
            ),
        );
        assert.deepEqual(r.outcome, {
            outcome: "aborted",
            step: 2,
            message: "Degraded: RolloutAborted: metric failed",
            stableRevisionAfter: "st4ble",
            decidedBy: ["success-rate"],
            decidingRun: { name: "sentiment-c4n4ry-2-2", kind: "step" },
        });
        assert.equal(r.maxCanaryWeight, 33.3);
        assert.equal(r.lastWeight?.weight, 0);
        const measured = r.events.filter((e) => e.kind === "measurement");
        assert.deepEqual(
            measured.map((e) => (e.kind === "measurement" ? [e.index, e.phase, e.value, e.t, e.scenarioT] : [])),
            [
                [1, "Successful", "[0.99]", 9, 90],
                [2, "Failed", "[0.5]", 21, 210],
                [3, "Failed", "[0.4]", 21, 210],
            ],
        );
        for (const e of r.events) assert.ok(formatEvent(e).length > 10);
        assert.match(formatEvent(r.events[r.events.length - 1]), /OUTCOME {3}aborted at step 2/);
    });

    it("a timed pause step is not an outcome; an Inconclusive pause is, once it has lasted the settle time", () => {
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        const pods = [pod("a", "st4ble"), pod("c", "c4n4ry")];
        for (let t = 0; t <= 30; t += 5)
            r.observe(
                snap(
                    t,
                    { phase: "Paused", currentStepIndex: 1, pauseConditions: [{ reason: "CanaryPauseStep" }], stableRS: "st4ble", currentPodHash: "c4n4ry" },
                    pods,
                ),
            );
        assert.equal(r.outcome, undefined);
        const inconclusive = {
            phase: "Paused",
            currentStepIndex: 2,
            pauseConditions: [{ reason: "InconclusiveAnalysisRun" }],
            controllerPause: true,
            stableRS: "st4ble",
            currentPodHash: "c4n4ry",
            message: "InconclusiveAnalysisRun",
        };
        r.observe(snap(40, inconclusive, pods));
        r.observe(snap(45, inconclusive, pods));
        assert.equal(r.outcome, undefined);
        r.observe(snap(50, inconclusive, pods));
        const decided = r.outcome as Recorder["outcome"];
        assert.equal(decided?.outcome, "paused");
        assert.equal(decided?.step, 2);
    });

    it("promoted: Healthy with the new hash as stable", () => {
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        r.observe(snap(5, { phase: "Progressing", currentStepIndex: 6, stableRS: "st4ble", currentPodHash: "c4n4ry" }, [pod("c", "c4n4ry")]));
        assert.equal(r.outcome, undefined);
        r.observe(snap(6, { phase: "Healthy", currentStepIndex: 6, stableRS: "c4n4ry", currentPodHash: "c4n4ry" }, [pod("c", "c4n4ry")]));
        assert.deepEqual(r.outcome, {
            outcome: "promoted",
            step: 6,
            message: "Healthy, stable is the new ReplicaSet c4n4ry",
            stableRevisionAfter: "c4n4ry",
            decidedBy: [],
        });
        assert.equal(r.maxCanaryWeight, 100);
    });
});

/** A gate's AnalysisRun with one result per metric (argo-rollouts MetricResult: name, phase, measurements). */
function gate(step: number, phase: string, metrics: Record<string, string>): KubeObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AnalysisRun",
        metadata: { name: `sentiment-c4n4ry-2-${step}`, labels: { "step-index": String(step) }, creationTimestamp: new Date("2026-01-01T00:00:00Z") },
        status: {
            phase,
            metricResults: Object.entries(metrics).map(([name, p], i) => ({ name, phase: p, measurements: [{ phase: p, value: "[1]", startedAt: `m${i}` }] })),
        },
    };
}

describe("rehearsal recorder: the metric that decided", () => {
    const stable = [pod("a", "st4ble"), pod("b", "st4ble")];
    const aborted = { phase: "Degraded", abort: true, currentStepIndex: 0, stableRS: "st4ble", currentPodHash: "c4n4ry", message: "RolloutAborted" };

    it("an abort is decided by the failed run's Failed metric, not by the metrics Argo terminated (Successful)", () => {
        // analysis/analysis.go: once latency-p99 fails, the run terminates and the other metrics complete Successful.
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        const failed = gate(5, "Failed", {
            "success-rate": "Successful",
            "client-error-increase": "Successful",
            "latency-p99": "Failed",
            "accuracy-drop": "Successful",
        });
        r.observe(snap(40, aborted, stable, [gate(2, "Successful", { "latency-p99": "Successful" }), failed]));
        assert.equal(r.outcome?.outcome, "aborted");
        assert.equal(r.outcome?.step, 5);
        assert.deepEqual(r.outcome?.decidedBy, ["latency-p99"]);
    });

    it("two metrics failing in one run both decided it (sorted); an Error metric counts as a failure", () => {
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        r.observe(snap(40, aborted, stable, [gate(2, "Failed", { "success-rate": "Failed", "latency-p99": "Error", "accuracy-drop": "Inconclusive" })]));
        assert.deepEqual(r.outcome?.decidedBy, ["latency-p99", "success-rate"]);
    });

    it("an abort by the background analysis names its run (rollout-type Background, no step-index), at the step the rollout was in", () => {
        // utils/analysis/factory.go BackgroundLabels: rollout-type=Background and the pod hash, no step-index.
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        r.observe(
            snap(
                10,
                { phase: "Paused", currentStepIndex: 1, stableRS: "st4ble", currentPodHash: "c4n4ry", pauseConditions: [{ reason: "CanaryPauseStep" }] },
                stable,
            ),
        );
        const background: KubeObject = {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "AnalysisRun",
            metadata: {
                name: "sentiment-c4n4ry-2",
                labels: { "rollout-type": "Background", "rollouts-pod-template-hash": "c4n4ry" },
                creationTimestamp: new Date(0),
            },
            status: {
                phase: "Failed",
                metricResults: [
                    { name: "success-rate", phase: "Failed", measurements: [] },
                    { name: "latency-p99", phase: "Successful", measurements: [] },
                ],
            },
        };
        const step2 = gate(2, "Running", { "success-rate": "Running" });
        const events = r.observe(snap(40, aborted, stable, [step2, background]));
        assert.equal(r.outcome?.outcome, "aborted");
        assert.equal(r.outcome?.step, 1, "the pause it was in, not a gate's index");
        assert.deepEqual(r.outcome?.decidedBy, ["success-rate"]);
        assert.deepEqual(r.outcome?.decidingRun, { name: "sentiment-c4n4ry-2", kind: "background" });
        const line = events.filter((e) => e.kind === "analysisrun" && e.run === "sentiment-c4n4ry-2").map(formatEvent)[0];
        assert.match(line, /sentiment-c4n4ry-2 \(background\) Failed/);
        const report = newReport({
            stack: "local",
            model: "sentiment",
            scenario: "fault-mid-pause",
            scenarioFile: "tests/scenarios/fault-mid-pause.yaml",
            timeScale: 10,
            versions: { stable: "2.2.0", canary: "2.2.1", canaryDigest: "sha256:x" },
            startedMs: T0,
            expect: { outcome: "aborted", decidedBy: ["success-rate"], run: "background" },
            stableHash: "st4ble",
            events: r.events,
        });
        assert.equal(recordOutcome(report, r.outcome!, { maxCanaryWeight: 33.3, canaryWeightAtEnd: 0, toOutcome: 40 }), true);
        assert.deepEqual(report.decidingRun, { name: "sentiment-c4n4ry-2", kind: "background" });
        assert.match(
            finalLine(report, r.outcome!),
            /decided by success-rate \(background run sentiment-c4n4ry-2\).*expected aborted, decided by success-rate \(background run\): MATCH/,
        );
        // The same abort expected from a step gate does not match.
        assert.equal(matchExpectation({ outcome: "aborted", run: "step" }, r.outcome!), false);
    });

    it("an abort without a failed AnalysisRun (e.g. Degraded by the progress deadline) is decided by no metric", () => {
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        r.observe(snap(40, { ...aborted, abort: undefined }, stable, [gate(2, "Running", { "latency-p99": "Running" })]));
        assert.equal(r.outcome?.outcome, "aborted");
        assert.deepEqual(r.outcome?.decidedBy, []);
    });

    it("an Inconclusive pause is decided by the run's Inconclusive metrics; a manual pause by none", () => {
        const pods = [pod("a", "st4ble"), pod("c", "c4n4ry")];
        const paused = (reason: string) => ({
            phase: "Paused",
            currentStepIndex: 2,
            pauseConditions: [{ reason }],
            stableRS: "st4ble",
            currentPodHash: "c4n4ry",
        });
        const r = new Recorder(opts);
        r.start(T0, "c4n4ry");
        const run2 = gate(2, "Inconclusive", { "success-rate": "Inconclusive", "latency-p99": "Successful", "accuracy-drop": "Inconclusive" });
        for (const t of [10, 21]) r.observe(snap(t, paused("InconclusiveAnalysisRun"), pods, [run2]));
        assert.equal(r.outcome?.outcome, "paused");
        assert.deepEqual(r.outcome?.decidedBy, ["accuracy-drop", "success-rate"]);

        const manual = new Recorder(opts);
        manual.start(T0, "c4n4ry");
        for (const t of [10, 21]) manual.observe(snap(t, { ...paused("PausedByUser"), currentStepIndex: 3 }, pods, [run2]));
        assert.equal(manual.outcome?.outcome, "paused");
        assert.deepEqual(manual.outcome?.decidedBy, []);
    });
});

describe("rehearsal config edits", () => {
    const models = [
        { name: "sentiment", version: "2.2.0", image: { digest: "sha256:" + "a".repeat(64), tag: "v2.2.0-1a2b3c4" } },
        { name: "embedder", version: "1.0.0", image: { digest: "sha256:" + "b".repeat(64) } },
    ];

    it("bump the patch version, give it its own digest, drop the release tag, set the time scale (path keys)", () => {
        assert.deepEqual(rehearsalConfigEdits(models, 0, 10), [
            { key: "model-fleet:models[0].version", value: "2.2.1" },
            { key: "model-fleet:models[0].image.digest", value: rehearsalDigest("sentiment", "2.2.1") },
            { key: "model-fleet:rollouts.timeScale", value: "10" },
            { key: "model-fleet:models[0].image.tag" },
        ]);
        assert.equal(rehearsalConfigEdits(models, 1, 1).length, 3, "no tag to remove");
    });

    it("a scenario's pauseSeconds sets the model's canary.pauseSeconds for the rehearsal (the restore writes the file back)", () => {
        assert.deepEqual(rehearsalConfigEdits(models, 0, 10, 900).at(-1), { key: "model-fleet:models[0].canary.pauseSeconds", value: "900" });
        assert.equal(
            rehearsalConfigEdits(models, 0, 10).some((e) => e.key.endsWith("pauseSeconds")),
            false,
        );
    });

    it("the digest is valid and stable per model and version", () => {
        assert.match(rehearsalDigest("sentiment", "2.2.1"), /^sha256:[0-9a-f]{64}$/);
        assert.equal(rehearsalDigest("sentiment", "2.2.1"), rehearsalDigest("sentiment", "2.2.1"));
        assert.notEqual(rehearsalDigest("sentiment", "2.2.1"), rehearsalDigest("sentiment", "2.2.2"));
    });
});
