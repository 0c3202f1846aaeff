/**
 * The rehearsal's report and its match (sandbox/rehearsal/report.ts, issue #22): the outcome must be the expected
 * one, at the expected step, and decided by the expected metric; the report keeps its fields and their order.
 */
import { strict as assert } from "node:assert";
import type { RecordedOutcome } from "../../../sandbox/rehearsal/observe";
import { expectationText, finalLine, matchExpectation, newReport, recordOutcome } from "../../../sandbox/rehearsal/report";
import { headerLines } from "../../../sandbox/rehearsal/run";
import { parseScenario } from "../../../sandbox/rehearsal/scenario";

const latency = { outcome: "aborted" as const, atStep: 5, decidedBy: ["latency-p99"] };
const outcome = (o: Partial<RecordedOutcome>): RecordedOutcome => ({
    outcome: "aborted",
    step: 5,
    message: "Degraded: RolloutAborted",
    stableRevisionAfter: "st4ble",
    decidedBy: ["latency-p99"],
    ...o,
});

function report() {
    return newReport({
        stack: "local",
        model: "sentiment",
        scenario: "latency-p99",
        scenarioFile: "tests/scenarios/latency-p99.yaml",
        description: "p99 regression",
        timeScale: 10,
        startedMs: Date.UTC(2026, 0, 1),
        expect: latency,
        stableHash: "st4ble",
        versions: { stable: "2.2.0", canary: "2.2.1", canaryDigest: "sha256:" + "a".repeat(64) },
        events: [],
    });
}

describe("rehearsal report: the match", () => {
    it("a latency scenario that aborts at its step because latency-p99 failed matches", () => {
        assert.equal(matchExpectation(latency, outcome({})), true);
    });

    it("the same abort at the same step decided by another metric does not match (outcome and step alone would)", () => {
        const other = outcome({ decidedBy: ["accuracy-drop"] });
        assert.equal(matchExpectation(latency, other), false);
        assert.equal(matchExpectation({ outcome: "aborted", atStep: 5 }, other), true, "without decidedBy the metric is not checked");
        assert.equal(
            matchExpectation(latency, outcome({ decidedBy: ["latency-p99", "success-rate"] })),
            false,
            "another metric failing too is not what was expected",
        );
        assert.equal(matchExpectation(latency, outcome({ decidedBy: [] })), false, "an abort by no metric (progress deadline) is not a latency abort");
        assert.equal(
            matchExpectation({ outcome: "aborted", decidedBy: ["success-rate", "latency-p99"] }, outcome({ decidedBy: ["latency-p99", "success-rate"] })),
            true,
        );
    });

    it("outcome and step still decide first; no expect always matches", () => {
        assert.equal(matchExpectation(latency, outcome({ step: 2 })), false);
        assert.equal(matchExpectation(latency, outcome({ outcome: "paused" })), false);
        assert.equal(matchExpectation(undefined, outcome({ outcome: "promoted", decidedBy: [] })), true);
        assert.equal(matchExpectation({ outcome: "promoted" }, outcome({ outcome: "promoted", step: 9, decidedBy: [] })), true);
    });

    it("a scenario file's expect goes through parse to match: decidedBy: latency-p99", () => {
        const s = parseScenario(
            {
                canary: [{ at: "0s", successRate: 0.999, p99LatencyMs: 150, accuracy: 0.93 }],
                stable: [{ at: "0s", successRate: 0.999, p99LatencyMs: 110, accuracy: 0.94 }],
                expect: { outcome: "aborted", atStep: 5, decidedBy: "latency-p99" },
            },
            "latency-p99",
        );
        assert.equal(matchExpectation(s.expect, outcome({})), true);
        assert.equal(matchExpectation(s.expect, outcome({ decidedBy: ["client-error-increase"] })), false);
    });
});

describe("rehearsal report: fields and lines", () => {
    it("keeps the fields of before in their order, with decidedBy (new) after stepAtEnd", () => {
        assert.deepEqual(Object.keys(report()), [
            "stack",
            "model",
            "scenario",
            "scenarioFile",
            "description",
            "timeScale",
            "startedAt",
            "expect",
            "outcome",
            "match",
            "stepAtEnd",
            "decidedBy",
            "maxCanaryWeight",
            "canaryWeightAtEnd",
            "stableRevisionBefore",
            "stableRevisionAfter",
            "versions",
            "seconds",
            "rendered",
            "seriesLabels",
            "events",
        ]);
        const r = report();
        assert.equal(r.outcome, "error");
        assert.deepEqual(r.decidedBy, []);
        assert.equal(r.startedAt, "2026-01-01T00:00:00.000Z");
    });

    it("records an outcome: step, deciding metrics, weights, stable after, seconds to it, match", () => {
        const r = report();
        const matched = recordOutcome(r, outcome({ decidedBy: ["accuracy-drop"] }), { maxCanaryWeight: 50, canaryWeightAtEnd: 0, toOutcome: 43.6 });
        assert.equal(matched, false);
        assert.deepEqual(
            [r.outcome, r.stepAtEnd, r.decidedBy, r.maxCanaryWeight, r.canaryWeightAtEnd, r.stableRevisionAfter, r.seconds.toOutcome, r.match],
            ["aborted", 5, ["accuracy-drop"], 50, 0, "st4ble", 43.6, false],
        );
        assert.equal(
            finalLine(r, outcome({ decidedBy: ["accuracy-drop"] })),
            "  final: aborted at step 5 decided by accuracy-drop; canary weight max 50%, at end 0%; stable st4ble → st4ble; expected aborted at step 5, decided by latency-p99: MISMATCH",
        );
    });

    it("prints the expectation and the header as before, with the deciding metric when named", () => {
        assert.equal(expectationText({ outcome: "promoted" }), "promoted");
        assert.equal(expectationText({ outcome: "paused", atStep: 2 }), "paused at step 2");
        assert.equal(expectationText(latency), "aborted at step 5, decided by latency-p99");
        const lines = headerLines({
            options: { stack: "local", model: "sentiment", scenarioFile: "x", timeScale: 10 },
            scenario: { name: "latency-p99", canary: [], stable: [], expect: latency },
            scenarioFile: "tests/scenarios/latency-p99.yaml",
            stableVersion: "2.2.0",
            stableHash: "75f89d9c4d",
            canaryVersion: "2.2.1",
            canaryDigest: "sha256:999b22ba238a655d652cd483f362495c1c29933cc899e82828d0c9951edae7f3",
            routing: "none",
        });
        assert.deepEqual(lines, [
            "rehearsal: stack local, model sentiment, scenario latency-p99 (tests/scenarios/latency-p99.yaml), time scale 10",
            "  stable 2.2.0 (pod-template-hash 75f89d9c4d) → canary 2.2.1 (sha256:999b22ba238a…); traffic routing none",
            "  expect: aborted at step 5, decided by latency-p99",
        ]);
    });
});
