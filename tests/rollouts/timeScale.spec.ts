import { strict as assert } from "assert";
import { DEFAULT_MEASUREMENT, validateMeasurement } from "../../components/rollouts/analysis";
import { scaleCanary, scaleMeasurement, scaleSeconds } from "../../components/rollouts/timeScale";

describe("rollouts.timeScale (release rehearsals)", () => {
    it("leaves everything unchanged at 1", () => {
        assert.deepEqual(scaleMeasurement(DEFAULT_MEASUREMENT, 1), DEFAULT_MEASUREMENT);
        const c = {
            steps: [25, 50, 100],
            pauseSeconds: 60,
            analysis: { successRate: 0.95, maxClientErrorIncrease: 0.05, p99LatencyMs: 800, minFeedbackSamples: 100, minRequests: 100 },
        };
        assert.deepEqual(scaleCanary(c, 1), c);
    });

    it("divides intervals, the rate and feedback windows and pauses by the factor, never counts, limits or steps", () => {
        const m = scaleMeasurement(DEFAULT_MEASUREMENT, 10);
        assert.deepEqual(
            { ...m, interval: undefined, rateWindow: undefined, feedbackWindow: undefined },
            { ...DEFAULT_MEASUREMENT, interval: undefined, rateWindow: undefined, feedbackWindow: undefined },
        );
        assert.equal(m.interval, "6s");
        assert.equal(m.rateWindow, "12s");
        assert.equal(m.feedbackWindow, "60s");
        validateMeasurement(m);
        const c = scaleCanary(
            {
                steps: [5, 25, 100],
                pauseSeconds: 300,
                analysis: { successRate: 0.99, maxClientErrorIncrease: 0.05, p99LatencyMs: 500, minFeedbackSamples: 100, minRequests: 100 },
            },
            10,
        );
        assert.deepEqual(c.steps, [5, 25, 100]);
        assert.equal(c.pauseSeconds, 30);
        assert.equal(c.analysis.successRate, 0.99);
    });

    it("keeps at least 1 s per interval and a window of two intervals", () => {
        const m = scaleMeasurement(DEFAULT_MEASUREMENT, 600);
        assert.equal(m.interval, "1s");
        assert.equal(m.rateWindow, "2s");
        assert.equal(m.feedbackWindow, "2s");
        assert.equal(scaleSeconds(0, 5, 0), 0);
        assert.throws(() => scaleSeconds(60, 0.5), /must be ≥ 1/);
    });
});
