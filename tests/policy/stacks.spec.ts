/**
 * `npm run policy` passes on dev and prod: the program's rendered resources (the real index.ts run through the
 * shared mock harness, not stale files from out/) produce zero mandatory violations, with the stack tag CI sets
 * from the stack's environment. The checks must actually run: the policies that guard what each stack declares
 * are applicable to its resources, not skipped.
 */
import * as assert from "assert";
import * as path from "path";
import { mandatoryViolations } from "../../support/policy/evaluate";
import { checkStack, CheckResult, plannedFrom } from "../../scripts/policy";
import { runStack } from "../../support/harness";

/** Policies that must have evaluated at least one resource (or the stack) of each stack. */
const MUST_APPLY: Record<string, string[]> = {
    dev: [
        "image-digest-pinned",
        "ecr-immutable-tags",
        "ecr-scan-on-push",
        "ecr-kms-encryption",
        "ecr-lifecycle-policy",
        "pod-probes",
        "pod-resources",
        "pod-run-as-non-root",
        "container-no-privilege-escalation",
        "container-read-only-root-filesystem",
        "container-drop-all-capabilities",
        "container-not-privileged",
        "pod-no-service-account-token",
        "gpu-pod-scheduling",
        "eks-gpu-node-group-taint",
        "hpa-replica-bounds",
        "rollout-canary-analysis",
    ],
    prod: ["hpa-production-min-replicas"],
};

for (const stack of ["dev", "prod"]) {
    describe(`policy pack on stack ${stack} (npm run policy)`, function () {
        this.timeout(120000);
        let result: CheckResult;
        let resourceCount = 0;

        before(async () => {
            const run = await runStack(stack);
            resourceCount = run.resources.length;
            result = await checkStack(stack, plannedFrom(run.resources), run.outputs);
        });

        it("tags the stack with its environment, as CI does", () => {
            assert.deepStrictEqual(result.stackTags, { environment: stack === "prod" ? "production" : "development" });
        });

        it("reports zero mandatory violations", () => {
            const mandatory = mandatoryViolations(result.evaluation).map((v) => `${v.policyName} [${v.resourceType} ${v.resourceName}] ${v.message}`);
            assert.deepStrictEqual(mandatory, [], result.report);
            assert.strictEqual(result.failed, false);
        });

        it("evaluates the policies that guard what the stack declares", () => {
            assert.ok(resourceCount > 0);
            const wanted = [...MUST_APPLY.dev, ...(MUST_APPLY[stack] ?? [])];
            // A policy "applied" when at least one evaluation was not marked not-applicable.
            const skippedEverywhere = wanted.filter((name) => {
                const skipped = result.evaluation.notApplicable.filter((n) => n.policyName === name).length;
                const resourcePolicy = !["ecr-lifecycle-policy", "pod-no-service-account-token", "pdb-per-workload"].includes(name);
                return resourcePolicy ? skipped >= resourceCount : skipped > 0;
            });
            assert.deepStrictEqual(skippedEverywhere, [], "these policies found nothing to check in the stack");
        });

        it("prints a report that passes", () => {
            assert.match(result.report.split("\n").pop() ?? "", /0 mandatory .* PASSED$/);
        });
    });
}

describe("policy pack on the blue-green fixture stack (tests/fixtures/stacks/blue-green.yaml)", function () {
    this.timeout(120000);
    it("passes; without its pre-promotion analysis the blue-green Rollout fails rollout-bluegreen-analysis", async () => {
        const run = await runStack("blue-green", { configFile: path.join(__dirname, "..", "fixtures", "stacks", "blue-green.yaml") });
        const result = await checkStack("blue-green", plannedFrom(run.resources), run.outputs);
        const mandatory = mandatoryViolations(result.evaluation).map((v) => `${v.policyName} [${v.resourceType} ${v.resourceName}] ${v.message}`);
        assert.deepStrictEqual(mandatory, [], result.report);
        const rollouts = run.resources.filter((r) => r.type === "kubernetes:argoproj.io/v1alpha1:Rollout").length;
        assert.strictEqual(rollouts, 2);
        // Not vacuous: the same stack with the blue-green Rollout's pre-promotion analysis removed fails.
        const planned = plannedFrom(run.resources);
        const bg = planned.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:Rollout" && r.inputs?.spec?.strategy?.blueGreen)!;
        delete bg.inputs.spec.strategy.blueGreen.prePromotionAnalysis;
        const broken = await checkStack("blue-green", planned, run.outputs);
        assert.deepStrictEqual(
            mandatoryViolations(broken.evaluation).map((v) => v.policyName),
            ["rollout-bluegreen-analysis"],
        );
    });
});
