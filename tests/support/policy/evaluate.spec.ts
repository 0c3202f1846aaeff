/**
 * The CrossGuard pack, policy by policy: for every policy, compliant fixtures report nothing (and the policy does
 * apply to them), violating fixtures report exactly the expected messages (problem + the policy's remediation),
 * out-of-scope fixtures are marked not applicable. Fixtures: tests/fixtures/policy/.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as path from "path";
import type { Policy, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { effectiveLevel, evaluate, evaluatePolicy, formatReport, mandatoryViolations } from "../../../support/policy/evaluate";
import { policies } from "../../../policy/policies";
import { policyFixtures } from "../../fixtures/policy";
import { ResourceCase, StackCase } from "../../fixtures/policy/types";
import { deployment, edit, podSpec, DEPLOYMENT } from "../../fixtures/policy/workloads";
import { resourcePolicyOutcome, runResourcePolicy, runStackPolicy, stackPolicyOutcome } from "../../helpers/policyHelper";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

function policyNamed(name: string): Policy {
    const p = policies.find((x) => x.name === name);
    if (!p) throw new Error(`no policy named ${name}`);
    return p;
}

/** The full message a policy reports for `problem`. */
function message(policy: Policy, problem: string): string {
    return `${problem} Remediation: ${policy.remediationSteps}`;
}

const EXPECTED_POLICIES: [string, "mandatory" | "advisory", "resource" | "stack"][] = [
    ["image-digest-pinned", "mandatory", "resource"],
    ["chart-image-digest-pinned", "advisory", "resource"],
    ["ecr-immutable-tags", "mandatory", "resource"],
    ["ecr-scan-on-push", "mandatory", "resource"],
    ["ecr-kms-encryption", "mandatory", "resource"],
    ["ecr-lifecycle-policy", "mandatory", "stack"],
    ["pod-probes", "mandatory", "resource"],
    ["pod-resources", "mandatory", "resource"],
    ["pod-run-as-non-root", "mandatory", "resource"],
    ["container-no-privilege-escalation", "mandatory", "resource"],
    ["container-read-only-root-filesystem", "mandatory", "resource"],
    ["container-drop-all-capabilities", "mandatory", "resource"],
    ["container-not-privileged", "mandatory", "resource"],
    ["pod-no-service-account-token", "mandatory", "stack"],
    ["gpu-pod-scheduling", "mandatory", "resource"],
    ["eks-gpu-node-group-taint", "mandatory", "resource"],
    ["hpa-replica-bounds", "mandatory", "resource"],
    ["hpa-production-min-replicas", "mandatory", "resource"],
    ["rollout-canary-analysis", "mandatory", "resource"],
    ["rollout-bluegreen-analysis", "mandatory", "resource"],
    ["service-internal-load-balancer", "mandatory", "resource"],
    ["production-admission-policy", "mandatory", "stack"],
    ["pdb-per-workload", "advisory", "stack"],
    ["pod-topology-spread", "advisory", "resource"],
    ["gpu-limits-equal-requests", "advisory", "resource"],
];

describe("policy pack: metadata", () => {
    it("declares exactly the issue's policies, with their enforcement levels and kinds", () => {
        const actual = policies.map((p) => [
            p.name,
            p.enforcementLevel,
            typeof (p as StackValidationPolicy).validateStack === "function" ? "stack" : "resource",
        ]);
        assert.deepStrictEqual(actual, EXPECTED_POLICIES);
    });

    it("gives every policy a unique name, a description, an enforcement level and remediation steps", () => {
        assert.strictEqual(new Set(policies.map((p) => p.name)).size, policies.length);
        for (const p of policies) {
            assert.match(p.name, /^[a-z0-9-]+$/, p.name);
            assert.ok(p.description.length > 20, `${p.name}: description`);
            assert.ok(p.enforcementLevel === "mandatory" || p.enforcementLevel === "advisory", `${p.name}: level`);
            assert.ok((p.remediationSteps ?? "").length > 20, `${p.name}: remediationSteps`);
        }
    });

    it("has fixtures for every policy: at least one compliant and one violating case", () => {
        const covered = policyFixtures.map((f) => f.policy);
        assert.deepStrictEqual([...covered].sort(), policies.map((p) => p.name).sort());
        for (const f of policyFixtures) {
            assert.ok(f.compliant.length >= 1 && f.violating.length >= 1, f.policy);
            const isStack = typeof (policyNamed(f.policy) as StackValidationPolicy).validateStack === "function";
            assert.strictEqual(f.kind, isStack ? "stack" : "resource", f.policy);
        }
    });

    it("importing policy/policies.ts does not start the pack's server", () => {
        // A started PolicyPack prints its gRPC port and keeps the process alive; a side-effect-free import exits at once.
        const out = execFileSync(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", "-e", "const { policies } = require('./policy/policies'); console.log('policies=' + policies.length)"],
            { cwd: REPO_ROOT, timeout: 30000, encoding: "utf8" },
        );
        assert.strictEqual(out.trim(), `policies=${EXPECTED_POLICIES.length}`);
    });
});

for (const f of policyFixtures) {
    describe(`policy ${f.policy} (${f.kind})`, () => {
        const policy = policyNamed(f.policy);
        const outcome = (c: ResourceCase | StackCase) =>
            f.kind === "resource"
                ? resourcePolicyOutcome(policy, (c as ResourceCase).type, (c as ResourceCase).props, c.opts)
                : stackPolicyOutcome(policy, (c as StackCase).resources, c.opts);

        for (const c of f.compliant) {
            it(`passes: ${c.title}`, async () => {
                const o = await outcome(c);
                assert.deepStrictEqual(o.messages, []);
                assert.deepStrictEqual(o.notApplicable, [], "a compliant fixture must exercise the policy, not skip it");
            });
        }
        for (const c of f.violating) {
            it(`fails: ${c.title}`, async () => {
                const o = await outcome(c);
                if (f.kind === "resource") {
                    assert.deepStrictEqual(
                        o.messages,
                        (c as ResourceCase).problems.map((p) => message(policy, p)),
                    );
                } else {
                    assert.deepStrictEqual(
                        o.violations.map((v) => ({ message: v.message, urn: v.urn })),
                        (c as StackCase).problems.map((p) => ({ message: message(policy, p.problem), urn: p.urn })),
                    );
                }
                assert.ok(o.violations.every((v) => v.enforcementLevel === policy.enforcementLevel));
            });
        }
        for (const c of f.notApplicable ?? []) {
            it(`not applicable: ${c.title}`, async () => {
                const o = await outcome(c);
                assert.deepStrictEqual(o.messages, []);
                assert.strictEqual(o.notApplicable.length, 1);
                assert.strictEqual(o.notApplicable[0].policyName, f.policy);
            });
        }
    });
}

describe("policy evaluation (support/policy/evaluate.ts)", () => {
    const probes = policyNamed("pod-probes") as ResourceValidationPolicy;
    const noReadiness = deployment(edit(podSpec(), (s) => delete s.containers[0].readinessProbe));

    it("reports the resource a violation belongs to", async () => {
        const e = await evaluatePolicy(probes, [{ type: DEPLOYMENT, name: "sentiment", inputs: noReadiness }], { stack: "prod" });
        assert.deepStrictEqual(
            e.violations.map((v) => [v.policyName, v.enforcementLevel, v.resourceType, v.resourceName, v.urn]),
            [["pod-probes", "mandatory", DEPLOYMENT, "sentiment", `urn:pulumi:prod::model-fleet::${DEPLOYMENT}::sentiment`]],
        );
    });

    it("applies policy config: a level string, an object's enforcementLevel, disabled, remediate → mandatory", async () => {
        const r = [{ type: DEPLOYMENT, name: "sentiment", inputs: noReadiness }];
        assert.strictEqual((await evaluatePolicy(probes, r, { config: { "pod-probes": "advisory" } })).violations[0].enforcementLevel, "advisory");
        assert.strictEqual(
            (await evaluatePolicy(probes, r, { config: { "pod-probes": { enforcementLevel: "advisory" } } })).violations[0].enforcementLevel,
            "advisory",
        );
        assert.deepStrictEqual((await evaluatePolicy(probes, r, { config: { "pod-probes": "disabled" } })).violations, []);
        assert.strictEqual(effectiveLevel(probes, { "pod-probes": "remediate" }), "mandatory");
        assert.strictEqual(effectiveLevel({ name: "x", description: "x" }), "advisory", "the pack default is advisory");
    });

    it("passes stack tags and policy config to the policy", async () => {
        const hpa = policyNamed("hpa-production-min-replicas");
        const props = { spec: { minReplicas: 1, maxReplicas: 3 } };
        const type = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
        assert.strictEqual((await runResourcePolicy(hpa, type, props)).length, 0);
        assert.strictEqual((await runResourcePolicy(hpa, type, props, { stackTags: { environment: "production" } })).length, 1);
        assert.strictEqual((await runResourcePolicy(hpa, type, props, { config: { environment: "production" } })).length, 1);
    });

    it("links stack resources to their parents and dependencies", async () => {
        let seen: any;
        const spy: StackValidationPolicy = { name: "spy", description: "spy", validateStack: (args) => void (seen = args.resources) };
        await evaluatePolicy(spy, [
            { type: "model-fleet:serving:ModelService", name: "svc", urn: "urn:a", inputs: {} },
            { type: DEPLOYMENT, name: "d", urn: "urn:b", parent: "urn:a", inputs: {}, dependencies: ["urn:a"], propertyDependencies: { spec: ["urn:a"] } },
        ]);
        assert.strictEqual(seen[1].parent, seen[0]);
        assert.deepStrictEqual(seen[1].dependencies, [seen[0]]);
        assert.deepStrictEqual(seen[1].propertyDependencies, { spec: [seen[0]] });
    });

    it("gives each validation its own copy of the props", async () => {
        const mutating: ResourceValidationPolicy = { name: "mut", description: "mut", validateResource: (args) => void (args.props.spec = "changed") };
        const inputs = { spec: { replicas: 1 } };
        await evaluatePolicy(mutating, [{ type: DEPLOYMENT, name: "d", inputs }]);
        assert.deepStrictEqual(inputs, { spec: { replicas: 1 } });
    });

    it("surfaces a policy that throws (as the analyzer fails the preview)", async () => {
        const broken: ResourceValidationPolicy = {
            name: "broken",
            description: "broken",
            validateResource: () => {
                throw new Error("boom");
            },
        };
        await assert.rejects(evaluatePolicy(broken, [{ type: DEPLOYMENT, name: "d", inputs: {} }]), /Error validating resource .* with policy 'broken': boom/);
    });

    it("evaluates the whole pack and formats violations grouped by level and policy", async () => {
        const resources = [
            { type: DEPLOYMENT, name: "sentiment", inputs: noReadiness },
            { type: "kubernetes:core/v1:Service", name: "lb", inputs: { metadata: { name: "lb" }, spec: { type: "LoadBalancer" } } },
        ];
        const e = await evaluate(policies, resources, { stack: "dev" });
        assert.deepStrictEqual(
            mandatoryViolations(e).map((v) => v.policyName),
            ["pod-probes", "service-internal-load-balancer"],
        );
        assert.deepStrictEqual(
            e.violations.filter((v) => v.enforcementLevel === "advisory").map((v) => v.policyName),
            ["pdb-per-workload"],
        );
        const text = formatReport(e, policies, "policy report");
        const lines = text.split("\n");
        assert.strictEqual(lines[0], "policy report");
        assert.ok(lines.indexOf("MANDATORY (2 violations)") < lines.indexOf("ADVISORY (1 violation)"));
        assert.ok(lines.includes(`  pod-probes: ${probes.description}`));
        assert.ok(lines.includes(`    - [${DEPLOYMENT} sentiment] ${message(probes, 'container "server" has no readinessProbe.')}`));
        assert.strictEqual(lines[lines.length - 1], `${policies.length} policies evaluated: 2 mandatory and 1 advisory violation(s). FAILED`);
    });

    it("runStackPolicy returns messages", async () => {
        const pdb = policyNamed("pdb-per-workload");
        const messages = await runStackPolicy(pdb, [{ type: DEPLOYMENT, name: "sentiment", props: deployment() }]);
        assert.deepStrictEqual(messages, [message(pdb, "Deployment models/sentiment has no PodDisruptionBudget selecting its pods.")]);
    });
});
