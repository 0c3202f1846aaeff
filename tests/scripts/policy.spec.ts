/**
 * The offline runner (`npm run policy`, scripts/policy.ts): argument parsing, the stack tags it derives, and the
 * command itself on a resources.json: the report grouped by level and policy, and the exit code (non-zero on any
 * mandatory violation, zero with advisory ones only).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { plan } from "../../scripts/plan";
import { stalePlanReason } from "../../scripts/planStamp";
import { parseArgs, stackTagsFor } from "../../scripts/policy";
import { REPO_ROOT } from "../../support/stackFile";
import { hpa, HPA } from "../fixtures/policy/hpa";
import { DEPLOYMENT, REPO, deployment, edit, podSpec } from "../fixtures/policy/workloads";

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/policy.ts", ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 60000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writePlan(outRoot: string, stack: string, resources: unknown[], outputs?: unknown): void {
    fs.mkdirSync(path.join(outRoot, stack), { recursive: true });
    fs.writeFileSync(path.join(outRoot, stack, "resources.json"), JSON.stringify(resources));
    if (outputs) fs.writeFileSync(path.join(outRoot, stack, "outputs.json"), JSON.stringify(outputs));
}

describe("policy runner (scripts/policy.ts)", function () {
    this.timeout(120000);
    let outRoot: string;

    before(() => {
        outRoot = fs.mkdtempSync(path.join(os.tmpdir(), "policy-runner-"));
        const urn = (type: string, name: string) => `urn:pulumi:bad::model-fleet::${type}::${name}`;
        writePlan(
            outRoot,
            "bad",
            [
                {
                    type: DEPLOYMENT,
                    name: "sentiment",
                    urn: urn(DEPLOYMENT, "sentiment"),
                    inputs: deployment(edit(podSpec(), (s) => (s.containers[0].image = `${REPO}:v2.1.4-a1b2c3d`))),
                },
                { type: HPA, name: "sentiment-hpa", urn: urn(HPA, "sentiment-hpa"), inputs: hpa(1, 3) },
            ],
            { environment: "production" },
        );
        writePlan(outRoot, "advisory-only", [{ type: DEPLOYMENT, name: "sentiment", inputs: deployment() }], { environment: "development" });
    });

    after(() => fs.rmSync(outRoot, { recursive: true, force: true }));

    it("parses --stack, --plan, repeated --tag, --policy-config, --json and rejects the rest", () => {
        assert.deepStrictEqual(
            parseArgs(["--stack", "prod", "--plan", "--tag", "environment=production", "--tag=team=ml", "--policy-config", "p.json", "--json"]),
            {
                stack: "prod",
                plan: true,
                json: true,
                tags: { environment: "production", team: "ml" },
                policyConfig: "p.json",
            },
        );
        assert.throws(() => parseArgs([]), /usage: npm run policy -- --stack <name>/);
        assert.throws(() => parseArgs(["--stack", "dev", "--tag", "novalue"]), /--tag expects key=value/);
        assert.throws(() => parseArgs(["--stack", "dev", "--bogus"]), /unknown option --bogus/);
    });

    it("tags the stack with the program's environment output; --tag overrides", () => {
        assert.deepStrictEqual(stackTagsFor({ environment: "production" }), { environment: "production" });
        assert.deepStrictEqual(stackTagsFor(undefined), {});
        assert.deepStrictEqual(stackTagsFor({ environment: "development" }, { environment: "production" }), { environment: "production" });
    });

    it("prints mandatory violations grouped by policy and exits 1", () => {
        const r = runCli(["--stack", "bad", "--out", outRoot]);
        assert.strictEqual(r.status, 1, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assert.match(lines[0], /^Resources from .*bad\/resources\.json \(planned .*; --plan to re-plan\)$/);
        assert.strictEqual(lines[1], "Policy pack model-fleet on stack bad: 2 resources, stack tags: environment=production");
        assert.strictEqual(lines[3], "MANDATORY (3 violations)");
        assert.match(lines[4], /^  image-digest-pinned: /);
        assert.match(lines[5], /^    - \[kubernetes:apps\/v1:Deployment sentiment\] container "server" image ".*:v2\.1\.4-a1b2c3d" is pinned by tag only/);
        assert.match(lines[6], /^  hpa-production-min-replicas: /);
        assert.match(lines[7], /^    - \[kubernetes:autoscaling\/v2:HorizontalPodAutoscaler sentiment-hpa\] minReplicas is 1 on a production stack/);
        // A production stack without an admission policy (issue #16).
        assert.match(lines[8], /^  production-admission-policy: /);
        assert.match(lines[9], /^    - \[stack\] the production stack declares no admission policy/);
        assert.strictEqual(lines[lines.length - 1], "25 policies evaluated: 3 mandatory and 1 advisory violation(s). FAILED");
    });

    it("exits 0 when only advisory policies are violated", () => {
        const r = runCli(["--stack", "advisory-only", "--out", outRoot]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /ADVISORY \(1 violation\)\n  pdb-per-workload: /);
        assert.match(r.stdout, /PASSED\n$/);
    });

    it("applies a --policy-pack-config style file (here: disabling a policy) and prints JSON with --json", () => {
        const cfg = path.join(outRoot, "config.json");
        fs.writeFileSync(
            cfg,
            JSON.stringify({
                "image-digest-pinned": "disabled",
                "hpa-production-min-replicas": { enforcementLevel: "advisory" },
                "production-admission-policy": "disabled",
            }),
        );
        const r = runCli(["--stack", "bad", "--out", outRoot, "--policy-config", cfg, "--json"]);
        assert.strictEqual(r.status, 0, r.stderr);
        const json = JSON.parse(r.stdout);
        assert.strictEqual(json.failed, false);
        assert.deepStrictEqual(
            json.violations.map((v: any) => [v.policyName, v.enforcementLevel]),
            [
                ["hpa-production-min-replicas", "advisory"],
                ["pdb-per-workload", "advisory"],
            ],
        );
    });

    it("refuses a --policy-config with an unknown enforcement level before planning: one line naming the file and the valid levels, exit 2", () => {
        const cfg = path.join(outRoot, "bad-level.json");
        fs.writeFileSync(cfg, JSON.stringify({ "image-digest-pinned": "warn", "hpa-production-min-replicas": { enforcementLevel: "strict" } }));
        const r = runCli(["--stack", "bad", "--out", outRoot, "--policy-config", cfg]);
        assert.strictEqual(r.status, 2, r.stderr);
        assert.strictEqual(r.stdout, "", "no report from an unvalidated config");
        assert.strictEqual(
            r.stderr,
            `policy: policy config ${cfg} is invalid: image-digest-pinned: "warn" is not an enforcement level (valid: advisory, mandatory, remediate, disabled); ` +
                `hpa-production-min-replicas: enforcementLevel: "strict" is not an enforcement level (valid: advisory, mandatory, remediate, disabled); fix these entries\n`,
        );
        const missing = runCli(["--stack", "bad", "--out", outRoot, "--policy-config", path.join(outRoot, "nope.json")]);
        assert.strictEqual(missing.status, 2, missing.stderr);
        assert.match(missing.stderr, /^policy: policy config .*nope\.json does not exist: check the --policy-config path[^\n]*\n$/);
    });

    describe("a plan older than its stack file or program is re-planned, not checked", () => {
        let dir: string;
        let stackFile: string;
        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-stale-"));
            stackFile = path.join(dir, "stale.yaml");
            fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), stackFile);
            await plan(stackFile, { configFile: stackFile, outRoot: dir });
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("npm run plan records the stack file and digests in plan.json", () => {
            const stamp = JSON.parse(fs.readFileSync(path.join(dir, "stale", "plan.json"), "utf8"));
            assert.strictEqual(stamp.stackFile, stackFile);
            assert.match(stamp.stackFileSha256, /^[0-9a-f]{64}$/);
            assert.match(stamp.programSha256, /^[0-9a-f]{64}$/);
            assert.strictEqual(stalePlanReason("stale", path.join(dir, "stale")), undefined);
        });

        it("unchanged: reads the plan; after an edit of the stack file: re-plans from that file and says why", () => {
            const fresh = runCli(["--stack", "stale", "--out", dir]);
            assert.strictEqual(fresh.status, 0, fresh.stderr);
            assert.match(fresh.stdout, /^Resources from .*stale\/resources\.json \(planned /);
            const hpaMax = () =>
                JSON.parse(fs.readFileSync(path.join(dir, "stale", "resources.json"), "utf8")).find(
                    (x: any) => x.type === HPA && x.inputs.metadata?.name === "sentiment",
                )?.inputs.spec.maxReplicas;
            assert.strictEqual(hpaMax(), 2);
            const edited = fs.readFileSync(stackFile, "utf8").replace("maxReplicas: 2", "maxReplicas: 4");
            assert.notStrictEqual(edited, fs.readFileSync(stackFile, "utf8"));
            fs.writeFileSync(stackFile, edited);
            assert.match(stalePlanReason("stale", path.join(dir, "stale"))!, /stale\.yaml changed since the plan$/);
            const r = runCli(["--stack", "stale", "--out", dir]);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, /^Resources from a fresh plan \(written to .*stale\/; re-planned because .*stale\.yaml changed since the plan\)$/m);
            assert.strictEqual(hpaMax(), 4, "the policies ran on the edited config");
            assert.strictEqual(stalePlanReason("stale", path.join(dir, "stale")), undefined, "the fresh plan is stamped");
        });

        it("a plan without a stamp for a stack that has a stack file is stale; a hand-written one without either is read", () => {
            writePlan(dir, "dev", [{ type: HPA, name: "sentiment-hpa", inputs: hpa(1, 3) }], { environment: "development" });
            assert.match(stalePlanReason("dev", path.join(dir, "dev"))!, /^the plan records no digest of Pulumi\.dev\.yaml$/);
            assert.strictEqual(stalePlanReason("bad", path.join(outRoot, "bad")), undefined);
        });
    });

    it("ships policy/production.json, which marks an untagged stack as production", () => {
        writePlan(outRoot, "untagged", [{ type: HPA, name: "sentiment-hpa", inputs: hpa(1, 3) }]);
        const plain = runCli(["--stack", "untagged", "--out", outRoot]);
        assert.strictEqual(plain.status, 0, plain.stderr);
        assert.match(plain.stdout, /stack tags: none/);
        const prod = runCli(["--stack", "untagged", "--out", outRoot, "--policy-config", "policy/production.json"]);
        assert.strictEqual(prod.status, 1, prod.stderr);
        assert.match(prod.stdout, /MANDATORY \(1 violation\)\n  hpa-production-min-replicas: /);
    });
});
