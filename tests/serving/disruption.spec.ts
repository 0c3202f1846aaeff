import { strict as assert } from "assert";
import {
    desiredHealthy,
    disruptionsAllowed,
    drainCanProgress,
    MODEL_PDB_POLICY,
    PdbPolicy,
    scaledValue,
    UNHEALTHY_POD_EVICTION_POLICY,
} from "../../components/serving/disruption";
import { servingProblems } from "../../components/serving/checks";

describe("serving: PodDisruptionBudget never blocks a drain", () => {
    it("the model policy is maxUnavailable 1 with AlwaysAllow for unhealthy pods", () => {
        assert.deepEqual(MODEL_PDB_POLICY, { maxUnavailable: 1 });
        assert.equal(UNHEALTHY_POD_EVICTION_POLICY, "AlwaysAllow");
    });

    it("allows exactly one eviction at every minReplicas from 1 to 100 (including 1)", () => {
        for (let min = 1; min <= 100; min++) {
            assert.equal(disruptionsAllowed(MODEL_PDB_POLICY, min, min), 1, `minReplicas ${min}`);
            assert.ok(drainCanProgress(MODEL_PDB_POLICY, min), `minReplicas ${min}`);
        }
    });

    it("a drain proceeds pod by pod: with one pod already down it waits for its replacement", () => {
        // 3 replicas, one evicted and not yet Ready again: no second eviction until it is.
        assert.equal(disruptionsAllowed(MODEL_PDB_POLICY, 3, 2), 0);
        assert.equal(disruptionsAllowed(MODEL_PDB_POLICY, 3, 3), 1);
    });

    it("mirrors the disruption controller's percent rounding (round up)", () => {
        assert.equal(scaledValue("50%", 3, true), 2);
        assert.equal(scaledValue("10%", 1, true), 1);
        assert.equal(scaledValue("25%", 4, false), 1);
        assert.equal(scaledValue(2, 10, true), 2);
        assert.equal(desiredHealthy({ maxUnavailable: "34%" }, 3), 1);
        assert.equal(desiredHealthy({ minAvailable: "50%" }, 3), 2);
        assert.equal(desiredHealthy({ maxUnavailable: 5 }, 2), 0);
    });

    it("detects budgets that would block a drain (the check is not vacuous)", () => {
        const blocking: Array<[PdbPolicy, number]> = [
            [{ minAvailable: 1 }, 1],
            [{ minAvailable: 2 }, 2],
            [{ minAvailable: "100%" }, 3],
            [{ maxUnavailable: 0 }, 4],
            [{ maxUnavailable: "0%" }, 2],
            [{ minAvailable: "60%" }, 1],
        ];
        for (const [policy, min] of blocking) {
            assert.equal(drainCanProgress(policy, min), false, `${JSON.stringify(policy)} at ${min}`);
        }
        // …while these fixed alternatives let it progress.
        assert.ok(drainCanProgress({ minAvailable: 1 }, 2));
        assert.ok(drainCanProgress({ maxUnavailable: "10%" }, 1)); // rounds up to 1
        assert.ok(drainCanProgress({ minAvailable: "50%" }, 2));
    });

    it("ModelService's invariants accept minReplicas 1 in development, refuse it in production", () => {
        const model = {
            name: "m",
            autoscaling: { minReplicas: 1, maxReplicas: 3, targetCpuUtilization: 70 },
            startupBudgetSeconds: 600,
        };
        assert.deepEqual(servingProblems({ model, environment: "development", hasGpuScheduling: false, workloadKind: "Deployment" }), []);
        const prod = servingProblems({ model, environment: "production", hasGpuScheduling: false, workloadKind: "Deployment" });
        assert.equal(prod.length, 1);
        assert.match(prod[0], /minReplicas \(1\) must be ≥ 2 in production/);
    });
});
