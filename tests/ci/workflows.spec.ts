/**
 * Lints the GitHub Actions workflows in `.github/workflows/` (they cannot run here): they parse, have the shape GitHub
 * requires, authenticate to AWS through OIDC only, run every Pulumi operation with the policy pack, gate prod behind
 * a protected environment, and stay in step with the repository (npm scripts, stack files, reference data).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { findReferenceFile, firstReferenceSource, referencePins, sha256 } from "../../support/reference";
import { COSIGN_VERSION } from "../../release/signing";
import { toolSpec } from "../../sandbox/toolchain/manifest";
import { readStackDocument, REPO_ROOT } from "../../support/stackFile";
import { needsReference } from "../../support/reference";

const WORKFLOW_DIR = path.join(REPO_ROOT, ".github", "workflows");

interface Step {
    name?: string;
    id?: string;
    if?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
    "working-directory"?: string;
    shell?: string;
}
interface Job {
    name?: string;
    "runs-on"?: unknown;
    needs?: string | string[];
    if?: string;
    environment?: string | { name: string; url?: string };
    permissions?: Record<string, string> | string;
    concurrency?: string | { group: string; "cancel-in-progress"?: boolean | string };
    strategy?: { matrix?: Record<string, any>; "fail-fast"?: boolean };
    env?: Record<string, unknown>;
    steps?: Step[];
}
interface Workflow {
    name?: string;
    on?: any;
    permissions?: Record<string, string> | string;
    concurrency?: unknown;
    env?: Record<string, unknown>;
    jobs?: Record<string, Job>;
}

/**
 * Inputs the actions declare (pulumi/actions: `action.yml` and `src/config.ts`; aws-actions/configure-aws-credentials:
 * `action.yml`; actions/upload-artifact, actions/checkout, actions/setup-node: their documented inputs). A step passing
 * an input that is not listed for its action is a typo (`policy-packs` for `policyPacks` is silently ignored by the
 * runner, which only warns) or an input nobody has checked: look it up in the action's action.yml, then add it here.
 * Actions not listed here (docker/setup-buildx-action, used without inputs) are not checked.
 */
const KNOWN_INPUTS: Record<string, ReadonlySet<string>> = {
    "pulumi/actions": new Set([
        "command",
        "stack-name",
        "pulumi-version",
        "pulumi-version-file",
        "work-dir",
        "comment-on-pr",
        "comment-on-pr-number",
        "comment-on-summary",
        "github-token",
        "cloud-url",
        "secrets-provider",
        "parallel",
        "message",
        "config-map",
        "expect-no-changes",
        "diff",
        "replace",
        "target",
        "target-dependents",
        "policyPacks",
        "policyPackConfigs",
        "refresh",
        "upsert",
        "remove",
        "edit-pr-comment",
        "color",
        "exclude-protected",
        "plan",
        "suppress-outputs",
        "suppress-progress",
        "always-include-summary",
    ]),
    "aws-actions/configure-aws-credentials": new Set([
        "audience",
        "aws-region",
        "role-to-assume",
        "role-session-name",
        "role-duration-seconds",
        "role-external-id",
        "role-skip-session-tagging",
        "mask-aws-account-id",
        "web-identity-token-file",
        // Present in the action, listed so the "no long-lived keys" test below is what rejects them:
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
    ]),
    "actions/checkout": new Set(["repository", "ref", "token", "persist-credentials", "path", "fetch-depth"]),
    "actions/setup-node": new Set(["node-version", "node-version-file", "cache", "cache-dependency-path", "registry-url"]),
    "actions/setup-go": new Set(["go-version", "go-version-file", "cache", "cache-dependency-path", "check-latest"]),
    "actions/cache": new Set(["path", "key", "restore-keys", "enableCrossOsArchive", "fail-on-cache-miss", "lookup-only"]),
    "actions/upload-artifact": new Set(["name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite", "include-hidden-files"]),
    "sigstore/cosign-installer": new Set(["cosign-release", "install-dir", "use-sudo"]),
    "aws-actions/amazon-ecr-login": new Set(["registries", "skip-logout", "mask-password", "registry-type", "http-proxy"]),
    // anchore/sbom-action download-syft/action.yml: inputs run, syft-version; output cmd.
    "anchore/sbom-action": new Set(["syft-version"]),
};

/** Long-lived AWS credentials must never reach a workflow, as action inputs or as environment variables. */
const FORBIDDEN_AWS_INPUTS = ["aws-access-key-id", "aws-secret-access-key", "aws-session-token"];
const FORBIDDEN_AWS_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

function workflowFiles(): string[] {
    return fs
        .readdirSync(WORKFLOW_DIR)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => path.join(WORKFLOW_DIR, f));
}

function load(file: string): Workflow {
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"), { prettyErrors: true, uniqueKeys: true });
    assert.deepEqual(
        doc.errors.map((e) => e.message),
        [],
        `${path.basename(file)} does not parse`,
    );
    assert.deepEqual(
        doc.warnings.map((e) => e.message),
        [],
        `${path.basename(file)} has YAML warnings`,
    );
    return doc.toJS() as Workflow;
}

let loaded: Array<{ file: string; wf: Workflow }> | undefined;
/** Every workflow, parsed on first use (inside a test, so a parse error fails tests instead of the whole run). */
function workflows(): Array<{ file: string; wf: Workflow }> {
    loaded ??= fs.existsSync(WORKFLOW_DIR) ? workflowFiles().map((file) => ({ file: path.basename(file), wf: load(file) })) : [];
    return loaded;
}

function workflow(file: string): Workflow {
    const found = workflows().find((w) => w.file === file);
    assert.ok(found, `.github/workflows/${file} is missing`);
    return found.wf;
}

function jobs(wf: Workflow): Array<[string, Job]> {
    return Object.entries(wf.jobs ?? {});
}

function allJobs(): Array<{ file: string; id: string; job: Job }> {
    return workflows().flatMap(({ file, wf }) => jobs(wf).map(([id, job]) => ({ file, id, job })));
}

/** `owner/repo` of a `uses:` reference (`owner/repo/path@ref` → `owner/repo`). */
function actionName(uses: string): string {
    return uses.split("@")[0].split("/").slice(0, 2).join("/");
}

function stepsUsing(job: Job, action: string): Step[] {
    return (job.steps ?? []).filter((s) => s.uses !== undefined && actionName(s.uses) === action);
}

function indexOfStep(job: Job, pred: (s: Step) => boolean): number {
    return (job.steps ?? []).findIndex(pred);
}

function runs(job: Job): string[] {
    return (job.steps ?? []).flatMap((s) => (s.run === undefined ? [] : s.run.split("\n").map((l) => l.trim())));
}

function needsOf(job: Job): string[] {
    return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

function environmentName(job: Job): string | undefined {
    return typeof job.environment === "string" ? job.environment : job.environment?.name;
}

function permissionsOf(p: Job["permissions"]): Record<string, string> {
    if (p === undefined) return {};
    if (typeof p === "string") {
        assert.ok(p === "read-all" || p === "{}", `blanket permissions "${p}" are not least-privilege`);
        return {};
    }
    return p;
}

/** Stacks a job deploys or previews: from `matrix.stack` / `matrix.include[].stack`, or from its stack-name. */
function matrixStacks(job: Job): string[] {
    const m = job.strategy?.matrix ?? {};
    const listed: string[] = Array.isArray(m.stack) ? m.stack : [];
    const included: string[] = Array.isArray(m.include) ? m.include.map((i: any) => i.stack).filter(Boolean) : [];
    return [...listed, ...included];
}

function pulumiSteps(): Array<{ file: string; id: string; job: Job; step: Step }> {
    return allJobs().flatMap(({ file, id, job }) => stepsUsing(job, "pulumi/actions").map((step) => ({ file, id, job, step })));
}

const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));

describe("CI workflows (.github/workflows)", () => {
    it("has the pull-request and main workflows, and every workflow file parses", () => {
        assert.ok(fs.existsSync(WORKFLOW_DIR), ".github/workflows is missing");
        const files = workflows().map((w) => w.file);
        assert.ok(files.includes("pull-request.yml"), `workflows: ${files.join(", ")}`);
        assert.ok(files.includes("main.yml"), `workflows: ${files.join(", ")}`);
        for (const { file, wf } of workflows()) {
            assert.equal(typeof wf, "object", `${file}: not a mapping`);
            assert.ok(typeof wf.name === "string" && wf.name.length > 0, `${file}: no name`);
            // `on` must stay a key: YAML 1.1 parsers would read a bare `on` as the boolean true.
            assert.ok(wf.on !== undefined && wf.on !== null, `${file}: no "on" trigger`);
            assert.ok(wf.jobs && Object.keys(wf.jobs).length > 0, `${file}: no jobs`);
        }
    });

    it("every job has runs-on and non-empty steps, each step either uses an action or runs a command", () => {
        for (const { file, id, job } of allJobs()) {
            const where = `${file} › ${id}`;
            assert.ok(job["runs-on"], `${where}: no runs-on`);
            assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${where}: no steps`);
            job.steps.forEach((step, i) => {
                const kinds = [step.uses !== undefined, step.run !== undefined].filter(Boolean).length;
                assert.equal(kinds, 1, `${where} step ${i} (${step.name ?? "unnamed"}): needs exactly one of uses/run`);
                if (step.run !== undefined) assert.ok(step.run.trim().length > 0, `${where} step ${i}: empty run`);
            });
            for (const need of needsOf(job)) {
                assert.ok(workflows().find((w) => w.file === file)!.wf.jobs![need], `${where}: needs unknown job ${need}`);
            }
        }
    });

    it("pins every action to a release tag (at least the major version) or a commit, never a branch", () => {
        for (const { file, id, job } of allJobs()) {
            for (const step of job.steps ?? []) {
                if (step.uses === undefined || step.uses.startsWith("./")) continue;
                assert.match(step.uses, /^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, `${file} › ${id}: ${step.uses}`);
            }
        }
    });

    it("passes only the inputs each action declares", () => {
        for (const { file, id, job } of allJobs()) {
            for (const step of job.steps ?? []) {
                if (step.uses === undefined) continue;
                const known = KNOWN_INPUTS[actionName(step.uses)];
                if (!known) continue;
                for (const input of Object.keys(step.with ?? {})) {
                    assert.ok(known.has(input), `${file} › ${id}: ${actionName(step.uses)} has no input "${input}"`);
                }
            }
        }
    });

    describe("permissions (least privilege)", () => {
        it("grants nothing at workflow level and declares permissions on every job", () => {
            for (const { file, wf } of workflows()) {
                assert.ok(wf.permissions !== undefined, `${file}: no workflow-level permissions`);
                const granted = Object.entries(permissionsOf(wf.permissions)).filter(([, v]) => v !== "none");
                assert.deepEqual(granted, [], `${file}: workflow-level permissions should be {} (jobs ask for their own)`);
            }
            for (const { file, id, job } of allJobs()) {
                assert.ok(job.permissions !== undefined, `${file} › ${id}: no job-level permissions`);
            }
        });

        it("gives id-token: write exactly to the jobs that assume an AWS role, pull-requests: write only to PR commenters", () => {
            for (const { file, id, job } of allJobs()) {
                const perms = permissionsOf(job.permissions);
                const oidc = stepsUsing(job, "aws-actions/configure-aws-credentials").length > 0;
                assert.equal(perms["id-token"] === "write", oidc, `${file} › ${id}: id-token: write iff the job uses OIDC`);
                const comments = stepsUsing(job, "pulumi/actions").some((s) => String(s.with?.["comment-on-pr"]) === "true");
                assert.equal(perms["pull-requests"] === "write", comments, `${file} › ${id}: pull-requests: write iff it comments on the PR`);
                for (const [scope, level] of Object.entries(perms)) {
                    if (scope === "id-token" || scope === "pull-requests") continue;
                    assert.notEqual(level, "write", `${file} › ${id}: ${scope}: write is not needed`);
                }
                if ((job.steps ?? []).some((s) => s.uses && actionName(s.uses) === "actions/checkout")) {
                    assert.equal(perms.contents, "read", `${file} › ${id}: checkout needs contents: read`);
                }
            }
        });
    });

    describe("AWS authentication", () => {
        it("assumes a role through OIDC in every job that touches AWS, with a role and region", () => {
            const oidcJobs = allJobs().filter(({ job }) => stepsUsing(job, "aws-actions/configure-aws-credentials").length > 0);
            assert.ok(oidcJobs.length >= 3, "preview, up-dev and up-prod all assume an AWS role");
            for (const { file, id, job } of oidcJobs) {
                for (const step of stepsUsing(job, "aws-actions/configure-aws-credentials")) {
                    assert.ok(step.with?.["role-to-assume"], `${file} › ${id}: no role-to-assume`);
                    assert.ok(step.with?.["aws-region"], `${file} › ${id}: no aws-region`);
                    assert.match(String(step.with?.["role-to-assume"]), /^\$\{\{\s*(vars|secrets|matrix)\./, `${file} › ${id}: role ARN comes from settings`);
                }
            }
        });

        it("uses no long-lived AWS keys anywhere (inputs, env, or secrets references)", () => {
            for (const { file, wf } of workflows()) {
                const text = fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8");
                for (const name of [...FORBIDDEN_AWS_INPUTS, ...FORBIDDEN_AWS_ENV]) {
                    assert.ok(!text.includes(name), `${file} mentions ${name}`);
                }
                const envs = [wf.env, ...jobs(wf).flatMap(([, j]) => [j.env, ...(j.steps ?? []).map((s) => s.env)])];
                for (const env of envs) {
                    for (const key of Object.keys(env ?? {})) assert.ok(!FORBIDDEN_AWS_ENV.includes(key), `${file}: env ${key}`);
                }
                for (const [id, job] of jobs(wf)) {
                    for (const step of job.steps ?? []) {
                        for (const input of FORBIDDEN_AWS_INPUTS) assert.ok(!(input in (step.with ?? {})), `${file} › ${id}: input ${input}`);
                    }
                }
            }
        });
    });

    describe("pulumi/actions steps", () => {
        it("every one runs preview or up, with the policy pack, a stack name and the Pulumi token from secrets", () => {
            const steps = pulumiSteps();
            assert.ok(steps.length >= 3, "preview, up-dev and up-prod use pulumi/actions");
            for (const { file, id, step } of steps) {
                const where = `${file} › ${id}`;
                assert.ok(["preview", "up"].includes(String(step.with?.command)), `${where}: command ${step.with?.command}`);
                assert.equal(step.with?.policyPacks, "policy", `${where}: policyPacks`);
                assert.ok(step.with?.["stack-name"], `${where}: no stack-name`);
                assert.match(String(step.with?.["stack-name"]), /^\$\{\{\s*vars\.PULUMI_ORG\s*\}\}\//, `${where}: stack-name is <org>/<stack>`);
                assert.equal(step.env?.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}", `${where}: PULUMI_ACCESS_TOKEN`);
            }
        });

        it("tells the pack which stacks are production (policy/production.json for prod, development.json otherwise)", () => {
            for (const { file, id, job, step } of pulumiSteps()) {
                const where = `${file} › ${id}`;
                const cfg = String(step.with?.policyPackConfigs ?? "");
                const stacks = cfg.includes("matrix.")
                    ? (job.strategy?.matrix?.include ?? []).map((i: any) => [i.stack, i["policy-config"]])
                    : [[String(step.with?.["stack-name"]).split("/").pop(), cfg]];
                assert.ok(stacks.length > 0, `${where}: policyPackConfigs`);
                for (const [stack, config] of stacks) {
                    assert.equal(config, stack === "prod" ? "policy/production.json" : "policy/development.json", `${where} (${stack})`);
                    assert.ok(fs.existsSync(path.join(REPO_ROOT, config)), `${config} exists`);
                }
            }
        });

        it("the policy pack directory is a Pulumi policy pack", () => {
            for (const { step } of pulumiSteps()) {
                const dir = path.join(REPO_ROOT, String(step.with?.policyPacks));
                assert.ok(fs.existsSync(path.join(dir, "PulumiPolicy.yaml")), `${dir}/PulumiPolicy.yaml is missing`);
            }
        });

        it("runs only after dependencies (program and policy pack), AWS credentials and a BuildKit builder are set up", () => {
            const packDir = path.join(REPO_ROOT, "policy");
            const packLock = fs.existsSync(path.join(packDir, "package-lock.json"));
            for (const { file, id, job, step } of pulumiSteps()) {
                const where = `${file} › ${id}`;
                const at = (job.steps ?? []).indexOf(step);
                const before = (pred: (s: Step) => boolean, what: string) => {
                    const i = indexOfStep(job, pred);
                    assert.ok(i >= 0 && i < at, `${where}: ${what} must come before pulumi/actions`);
                };
                before((s) => s.uses !== undefined && actionName(s.uses) === "actions/setup-node", "setup-node");
                before((s) => s.run !== undefined && /^npm ci\b/.test(s.run.trim()) && s["working-directory"] === undefined, "npm ci");
                before((s) => s.uses !== undefined && actionName(s.uses) === "aws-actions/configure-aws-credentials", "configure-aws-credentials");
                before((s) => s.uses !== undefined && actionName(s.uses) === "docker/setup-buildx-action", "setup-buildx-action");
                // The pack's own install: unconditional, or gated on its lock file existing.
                const packInstall = (job.steps ?? []).find((s) => s["working-directory"] === "policy" && /^npm ci\b/.test(s.run?.trim() ?? ""));
                if (packLock) {
                    assert.ok(packInstall, `${where}: policy/package-lock.json exists, so policy/ needs its own npm ci`);
                    assert.ok(
                        packInstall.if === undefined || /hashFiles\('policy\/package-lock\.json'\)/.test(packInstall.if),
                        `${where}: policy npm ci gated wrongly`,
                    );
                }
            }
            if (!packLock && fs.existsSync(path.join(packDir, "package.json"))) {
                // Without its own lock file the pack runs on the root install: everything it declares must resolve
                // from policy/ through the root node_modules that `npm ci` creates.
                const pack = JSON.parse(fs.readFileSync(path.join(packDir, "package.json"), "utf8"));
                const deps = Object.keys({ ...pack.dependencies, ...pack.devDependencies });
                for (const dep of deps) {
                    assert.doesNotThrow(() => require.resolve(`${dep}/package.json`, { paths: [packDir] }), `policy/ cannot resolve ${dep}`);
                    assert.ok(dep in { ...packageJson.dependencies, ...packageJson.devDependencies }, `${dep} is not in the root package.json`);
                }
            }
        });

        it("every stack it targets has a stack file with the AWS region the credentials step reads", () => {
            const stacks = new Set<string>();
            for (const { job, step } of pulumiSteps()) {
                const name = String(step.with?.["stack-name"]);
                const literal = /\/([\w-]+)$/.exec(name);
                if (literal) stacks.add(literal[1]);
                else for (const s of matrixStacks(job)) stacks.add(s);
            }
            assert.deepEqual([...stacks].sort(), ["dev", "prod"]);
            for (const stack of stacks) {
                const file = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
                assert.ok(fs.existsSync(file), `Pulumi.${stack}.yaml is missing`);
                const region = readStackDocument(stack).config["aws:region"];
                assert.match(String(region), /^[a-z]{2}(-gov)?-[a-z]+-\d$/, `Pulumi.${stack}.yaml: aws:region`);
            }
        });
    });

    describe("pull-request.yml", () => {
        const wf = () => workflow("pull-request.yml");

        it("runs on pull requests to main", () => {
            const on = wf().on;
            assert.ok(on.pull_request, "no pull_request trigger");
            assert.deepEqual(on.pull_request.branches, ["main"]);
        });

        it("test job: the project's Node (.node-version) with npm cache, npm ci, type check, tests, plan and policy for both stacks, rendered output uploaded", () => {
            const job = wf().jobs!.test;
            assert.ok(job, "no test job");
            const node = stepsUsing(job, "actions/setup-node")[0];
            assert.ok(node, "no setup-node");
            assert.equal(node.with?.["node-version-file"], ".node-version");
            assert.equal(node.with?.cache, "npm");
            const lines = runs(job);
            const order = [
                "npm ci --no-audit --no-fund",
                "npx tsc --noEmit -p .",
                "npm test",
                "npm run plan -- --stack dev",
                "npm run plan -- --stack prod",
                "npm run policy -- --stack dev",
                "npm run policy -- --stack prod",
            ].map((cmd) => {
                const i = lines.indexOf(cmd);
                assert.ok(i >= 0, `test job does not run \`${cmd}\``);
                return i;
            });
            assert.deepEqual(
                order,
                [...order].sort((a, b) => a - b),
                "commands run in order",
            );
            const upload = stepsUsing(job, "actions/upload-artifact")[0];
            assert.ok(upload, "rendered manifests are not uploaded");
            assert.match(String(upload.with?.path), /^out\/?$/);
            const uploadAt = (job.steps ?? []).indexOf(upload);
            const lastRun = Math.max(...(job.steps ?? []).map((s, i) => (s.run?.includes("npm run ") ? i : -1)));
            assert.ok(uploadAt > lastRun, "upload after plan/policy wrote out/");
        });

        it("real-tools job: caches the tool cache and the Go caches keyed by the tool recipe, builds the tools, runs every real-tools suite", () => {
            const job = wf().jobs!["real-tools"];
            assert.ok(job, "no real-tools job");
            const cache = stepsUsing(job, "actions/cache")[0];
            assert.ok(cache, "no actions/cache step");
            const paths = String(cache.with?.path).trim().split("\n");
            assert.deepEqual(paths, ["~/.cache/model-fleet/tools", "~/.cache/go-build", "~/go/pkg/mod"]);
            assert.match(String(cache.with?.key), /hashFiles\('sandbox\/toolchain\/manifest\.ts', 'sandbox\/toolchain\/wrappers\/\*\*'\)/);
            const steps = job.steps ?? [];
            const lines = runs(job);
            const build = lines.indexOf("npm run tools -- build");
            assert.ok(steps.indexOf(cache) < steps.findIndex((s) => s.run === "npm run tools -- build"), "the cache is restored before the build");
            for (const suite of ["test:e2e", "test:promql", "test:promtool", "test:admission", "test:supplychain"]) {
                const at = lines.indexOf(`npm run ${suite}`);
                assert.ok(at > build, `npm run ${suite} after the tool build`);
            }
            const node = stepsUsing(job, "actions/setup-node")[0];
            assert.equal(node.with?.["node-version-file"], ".node-version");
        });

        it("every `npm run <script>` the workflows use exists in package.json", () => {
            for (const { file, id, job } of allJobs()) {
                for (const line of runs(job)) {
                    const m = /^npm run ([\w:-]+)/.exec(line);
                    if (m) assert.ok(packageJson.scripts?.[m[1]], `${file} › ${id}: npm run ${m[1]} is not a script`);
                }
            }
        });

        it("test job fetches the reference files pinned in reference.lock.json (npm run reference:fetch) before the tests", () => {
            const job = wf().jobs!.test;
            const fetchAt = indexOfStep(job, (s) => s.run?.trim() === "npm run reference:fetch");
            const testAt = indexOfStep(job, (s) => s.run?.trim() === "npm test");
            assert.ok(fetchAt >= 0 && fetchAt < testAt, "reference data is fetched before npm test");
            // One list of pins: the workflow keeps none of its own.
            const text = fs.readFileSync(path.join(WORKFLOW_DIR, "pull-request.yml"), "utf8");
            for (const pin of referencePins())
                assert.ok(!text.includes(pin.sha256) && !text.includes(pin.url), `pull-request.yml repeats the pin of ${pin.path}`);
        });

        it("reference.lock.json pins every reference file by a raw URL at a commit or tag and a SHA-256", () => {
            const pins = referencePins();
            assert.ok(pins.length > 0, "no pins");
            assert.equal(new Set(pins.map((p) => p.path)).size, pins.length, "each path once");
            for (const { path: file, sha256: sha, url } of pins) {
                assert.match(file, /^[\w.-]+(\/[\w.-]+)*$/, `${file}: a relative path`);
                assert.ok(!file.split("/").includes(".."), `${file}: stays under the reference directory`);
                assert.match(sha, /^[0-9a-f]{64}$/, `${file}: SHA-256`);
                assert.match(url, /^https:\/\/raw\.githubusercontent\.com\/[\w.-]+\/[\w.-]+\/[\w.-]+\//, `${file}: ${url}`);
                assert.doesNotMatch(url, /\/(main|master|HEAD)\//, `${file}: ${url} follows a branch, not a pinned ref`);
            }
        });

        it("reference.lock.json lists exactly the local reference files, with their SHA-256", function () {
            const pins = referencePins();
            needsReference(this, ...pins.map((p) => p.path));
            const source = firstReferenceSource()!;
            const local: string[] = [];
            const walk = (dir: string) => {
                for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
                    const p = path.join(dir, e.name);
                    if (e.isDirectory()) walk(p);
                    else local.push(path.relative(source.dir, p).split(path.sep).join("/"));
                }
            };
            walk(source.dir);
            const expected = local.filter((f) => f !== "README.md").sort();
            assert.deepEqual(pins.map((m) => m.path).sort(), expected, `reference.lock.json lists exactly the files of ${source.label}`);
            for (const pin of pins) {
                assert.equal(
                    pin.sha256,
                    sha256(fs.readFileSync(findReferenceFile(pin.path)!)),
                    `${pin.path}: pinned SHA-256 differs from the copy the tests read`,
                );
            }
        });

        it("preview job: after the tests, per stack (dev, prod), commenting on the PR, skipped for forks", () => {
            const job = wf().jobs!.preview;
            assert.ok(job, "no preview job");
            assert.deepEqual(needsOf(job), ["test"]);
            assert.deepEqual(matrixStacks(job).sort(), ["dev", "prod"]);
            assert.equal(job.strategy?.["fail-fast"], false, "one stack's failure should not hide the other's preview");
            assert.match(String(job.if), /head\.repo\.full_name == github\.repository/);
            const pulumi = stepsUsing(job, "pulumi/actions");
            assert.equal(pulumi.length, 1);
            assert.equal(pulumi[0].with?.command, "preview");
            assert.equal(String(pulumi[0].with?.["comment-on-pr"]), "true");
            assert.match(String(pulumi[0].with?.["stack-name"]), /\$\{\{\s*matrix\.stack\s*\}\}$/);
            const perms = permissionsOf(job.permissions);
            assert.deepEqual(perms, { "id-token": "write", contents: "read", "pull-requests": "write" });
            // Per-stack roles, so the prod preview can never silently fall back to the dev role.
            const include: any[] = job.strategy?.matrix?.include ?? [];
            const roles = include.map((i) => i.role);
            assert.equal(new Set(roles).size, include.length, "each stack has its own role");
            assert.equal(stepsUsing(job, "aws-actions/configure-aws-credentials")[0].with?.["role-to-assume"], "${{ matrix.role }}");
        });
    });

    describe("main.yml", () => {
        const wf = () => workflow("main.yml");
        const upJob = (stack: string): [string, Job] => {
            const found = jobs(wf()).filter(([, j]) =>
                stepsUsing(j, "pulumi/actions").some((s) => s.with?.command === "up" && String(s.with?.["stack-name"]).endsWith(`/${stack}`)),
            );
            assert.equal(found.length, 1, `exactly one job runs pulumi up on ${stack}`);
            return found[0];
        };

        it("runs on pushes to main and nothing else", () => {
            const on = wf().on;
            assert.deepEqual(Object.keys(on), ["push"]);
            assert.deepEqual(on.push.branches, ["main"]);
        });

        it("deploys dev in the dev environment", () => {
            const [id, job] = upJob("dev");
            assert.equal(id, "up-dev");
            assert.equal(environmentName(job), "dev");
        });

        it("deploys prod only after dev, in the protected production environment, with its own role", () => {
            const [id, job] = upJob("prod");
            assert.equal(id, "up-prod");
            assert.deepEqual(needsOf(job), ["up-dev"]);
            assert.equal(environmentName(job), "production");
            const devRole = stepsUsing(upJob("dev")[1], "aws-actions/configure-aws-credentials")[0].with?.["role-to-assume"];
            const prodRole = stepsUsing(job, "aws-actions/configure-aws-credentials")[0].with?.["role-to-assume"];
            assert.notEqual(prodRole, devRole, "prod assumes a different role than dev");
            assert.match(String(prodRole), /PROD/);
        });

        it("never runs two updates of the same stack at once (one concurrency group per stack, not cancelled)", () => {
            const groups = new Map<string, string>();
            for (const stack of ["dev", "prod"]) {
                const [id, job] = upJob(stack);
                const c = job.concurrency;
                assert.ok(c && typeof c === "object", `${id}: no concurrency`);
                assert.ok(c.group.includes(stack), `${id}: group ${c.group} should name the stack`);
                assert.ok(!c.group.includes("${{"), `${id}: group must be fixed per stack, not per run`);
                assert.equal(c["cancel-in-progress"], false, `${id}: a running up must never be cancelled`);
                groups.set(stack, c.group);
            }
            assert.notEqual(groups.get("dev"), groups.get("prod"));
            // PR previews must not share a group with an up: a newer pending preview would cancel a pending up.
            for (const { id, job } of allJobs().filter(({ file }) => file === "pull-request.yml")) {
                const g = typeof job.concurrency === "object" ? job.concurrency.group : job.concurrency;
                if (g !== undefined) assert.ok(![...groups.values()].includes(g), `pull-request.yml › ${id} shares an up group`);
            }
        });

        it("dev signs its images after pulumi up: cosign installed at the tool cache's release, ECR login, npm run sign on the stack", () => {
            const [, job] = upJob("dev");
            const steps = job.steps ?? [];
            const upAt = indexOfStep(job, (s) => s.uses !== undefined && actionName(s.uses) === "pulumi/actions");
            const signAt = indexOfStep(job, (s) => /^npm run sign\b/.test(s.run?.trim() ?? ""));
            assert.ok(signAt > upAt && upAt >= 0, "npm run sign runs after pulumi up");
            const sign = steps[signAt];
            // The command the real-tools suite runs (it reads this step), with an SBOM source the build really has:
            // without --sbom the command refuses, and BuildKit's SBOM does not exist (docker-build is not asked for one).
            assert.equal(
                sign.run?.trim(),
                'npm run sign -- --stack "$STACK" --sbom "$SBOM_DIR" --card "$CARD_DIR"',
                "signs the whole stack and attests its cards, the command the suite runs",
            );
            assert.equal(sign.env?.STACK, "${{ vars.PULUMI_ORG }}/dev");
            assert.equal(sign.env?.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}", "reads the stack outputs from Pulumi Cloud");
            assert.deepEqual(Object.keys(sign.env ?? {}).sort(), ["CARD_DIR", "PULUMI_ACCESS_TOKEN", "SBOM_DIR", "STACK"], "the suite sets each of these");

            // The model cards: npm run card, after pulumi up and the ECR login (it reads the build cache), before signing,
            // into the directory npm run sign reads (docs/model-card.md).
            const cardAt = indexOfStep(job, (s) => /^npm run card\b/.test(s.run?.trim() ?? ""));
            const ecrLoginAt = indexOfStep(job, (s) => s.uses !== undefined && actionName(s.uses) === "aws-actions/amazon-ecr-login");
            assert.ok(cardAt > upAt && cardAt > ecrLoginAt && cardAt < signAt, "cards are written after pulumi up and the ECR login, before npm run sign");
            const cardStep = steps[cardAt];
            assert.equal(cardStep.run?.trim(), 'npm run card -- --stack "$STACK" --out "$CARD_DIR"');
            assert.equal(cardStep.env?.CARD_DIR, sign.env?.CARD_DIR, "written where npm run sign reads them");
            assert.equal(cardStep.env?.STACK, sign.env?.STACK);
            assert.ok(
                indexOfStep(job, (s) => s.uses !== undefined && actionName(s.uses) === "docker/setup-buildx-action") < cardAt,
                "docker buildx is set up before",
            );

            // The SBOMs: Syft, from the pushed digests of the same stack, into the directory npm run sign reads.
            const sbomAt = indexOfStep(job, (s) => /"\$SYFT" scan "registry:\$ref"/.test(s.run ?? ""));
            assert.ok(sbomAt > upAt && sbomAt < signAt, "the SBOMs are made after pulumi up and before npm run sign");
            const sbomStep = steps[sbomAt];
            assert.equal(sbomStep.env?.SBOM_DIR, sign.env?.SBOM_DIR, "written where npm run sign reads them");
            assert.equal(sbomStep.env?.STACK, sign.env?.STACK);
            assert.equal(sbomStep.shell, "bash", "bash -eo pipefail: a failed scan fails the step");
            assert.match(sbomStep.run ?? "", /pulumi stack output images --stack "\$STACK" --json/);
            assert.match(sbomStep.run ?? "", /-o "spdx-json=\$SBOM_DIR\/\$model\.spdx\.json"/, "<dir>/<model>.spdx.json, the name --sbom <dir> reads");
            const syft = stepsUsing(job, "anchore/sbom-action");
            assert.equal(syft.length, 1);
            assert.match(String(syft[0].uses), /^anchore\/sbom-action\/download-syft@/);
            assert.match(String(syft[0].with?.["syft-version"]), /^v\d+\.\d+\.\d+$/, "Syft pinned to a release");
            assert.equal(sbomStep.env?.SYFT, `\${{ steps.${syft[0].id}.outputs.cmd }}`);

            const installer = stepsUsing(job, "sigstore/cosign-installer");
            assert.equal(installer.length, 1, "cosign is installed once");
            assert.match(String(installer[0].uses), /@v4(\.|$)/, "cosign-installer v4 installs cosign v3");
            assert.equal(installer[0].with?.["cosign-release"], COSIGN_VERSION);
            assert.equal(COSIGN_VERSION, toolSpec("cosign").version, "the workflow's cosign is the one the real-tools suite builds");
            const before = (action: string) => {
                const i = indexOfStep(job, (s) => s.uses !== undefined && actionName(s.uses) === action);
                assert.ok(i >= 0 && i < signAt, `${action} comes before npm run sign`);
                return i;
            };
            before("sigstore/cosign-installer");
            const loginAt = before("aws-actions/amazon-ecr-login");
            assert.ok(loginAt < sbomAt, "Syft reads the images with the ECR login");
            assert.ok(before("aws-actions/configure-aws-credentials") < loginAt, "the ECR login uses the assumed role");
        });

        it("prod does not sign: it runs digests promoted from dev, signed there", () => {
            const [, job] = upJob("prod");
            assert.equal(
                indexOfStep(job, (s) => /^npm run sign\b/.test(s.run?.trim() ?? "")),
                -1,
            );
        });
    });
});
