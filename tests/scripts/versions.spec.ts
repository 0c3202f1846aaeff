/**
 * npm run versions and npm run rollback, the commands (scripts/versions.ts, scripts/rollback.ts), with the registry
 * replayed from tests/fixtures/registry/ and no Pulumi CLI or cosign: the retention they evaluate is exactly the one
 * the program declares (same functions, compared with the offline plan's resources), the report joins listing,
 * stack files and retention, and every failure before promote() is one readable line.
 */
import { strict as assert } from "assert";
import * as os from "os";
import * as path from "path";
import * as fs from "fs";
import { declaredRetention, gatherVersions, RegistryAccess, versions, versionsCommand } from "../../scripts/versions";
import { rollbackCommand, rollbackWith } from "../../scripts/rollback";
import { runMain } from "../../scripts/cli";
import { stackRegistry } from "../../release/versions";
import { retentionBody, retentionPolicyInputs } from "../../components/registry/harbor/provider";
import { byType, runStack } from "../../support/harness";
import { knownStacks, readFleetConfig, readStackDocument } from "../../support/stackFile";
import { closedPort, DIGESTS, fakeEcr } from "../helpers/registryFixtures";

const HARBOR = path.join(__dirname, "..", "fixtures", "stacks", "harbor.yaml");
const NOW = new Date("2026-12-10T00:00:00Z");
const access = (): RegistryAccess => ({ ecr: () => fakeEcr(), harborPassword: () => "pw", fetch });
const values = (v: Record<string, unknown>) => ({ model: undefined, stack: undefined, registry: undefined, key: undefined, json: undefined, ...v }) as any;

/** Runs a command's main as `npm run` would, and returns what it printed. */
async function run(main: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const [log, error] = [console.log, console.error];
    console.log = (...a: unknown[]) => void out.push(a.join(" "));
    console.error = (...a: unknown[]) => void err.push(a.join(" "));
    try {
        return { code: await main(), out: out.join("\n"), err: err.join("\n") };
    } finally {
        [console.log, console.error] = [log, error];
    }
}

describe("npm run versions: the retention it evaluates is the program's", () => {
    it("ECR (prod): the lifecycle policy of the model's repository in the offline plan", async () => {
        const plan = await runStack("prod");
        const planned = JSON.parse(
            byType(plan.resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").find((p) => p.name === "registry-sentiment-lifecycle")!.inputs.policy,
        );
        const { config, region } = readFleetConfig("prod");
        assert.deepEqual(declaredRetention(stackRegistry("prod", config, region, "sentiment"), "sentiment"), { kind: "ecr", policy: planned });
    });

    it("Harbor: the body of the project's retention policy in the offline plan (every model's deployed tag, built ones from the output)", async () => {
        const plan = await runStack("harbor", { configFile: HARBOR });
        const resource = plan.resources.find((r) => r.name === "registry-harbor-retention")!;
        const { config, region } = readFleetConfig(HARBOR);
        const built = Object.fromEntries(Object.entries<any>(plan.outputs.images).map(([m, i]) => [m, i.tag]));
        const declared = declaredRetention(stackRegistry("harbor", config, region, "sentiment", built), "sentiment");
        assert.deepEqual(declared, { kind: "harbor", body: { ...retentionBody(retentionPolicyInputs(resource.inputs)), scope: { level: "project", ref: 0 } } });
        assert.ok((declared as any).body.rules.some((r: any) => r.tag_selectors[0].pattern === plan.outputs.images.sentiment.tag));
    });
});

describe("npm run versions: the report", () => {
    it("prod: its registry, its running digest from the stack file, its retention, newest first", async () => {
        const { report } = await gatherVersions(values({ model: "sentiment", stack: "prod" }), { verify: false, access: access(), cli: null, now: NOW });
        assert.equal(report.repository, "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment");
        assert.deepEqual(report.stacks, ["prod"]);
        assert.deepEqual(
            report.entries.map((e) => [e.version, e.runningIn.map((r) => `${r.stack} ${r.via}`).join(), `${e.retention.status}: ${e.retention.why}`]),
            [
                ["2.2.0", "", "kept: priority 4 (tag v*): newest 1 of 30 kept"],
                ["2.1.4", "prod config", "protected: priority 1 (tag v2.1.4-5e2c9a1): protect rule"],
                ["2.1.3", "", "kept: priority 4 (tag v*): newest 3 of 30 kept"],
                ["2.1.2", "", "protected: priority 3 (tag rollback-*): protect rule"],
            ],
        );
        assert.match(report.notes.join("\n"), /the Pulumi CLI is not installed: running digests are read from the stack files only/);
    });

    it("without --stack: the registry of the one stack that builds the model, every stack file for the running digests", async () => {
        const { report } = await gatherVersions(values({ model: "sentiment" }), { verify: false, access: access(), cli: null, now: NOW });
        assert.equal(report.registryStack, "dev");
        assert.deepEqual(report.stacks, knownStacks());
        assert.deepEqual(report.entries.find((e) => e.version === "2.1.4")!.runningIn, [{ stack: "prod", via: "config" }]);
        assert.match(report.notes.join("\n"), /stack dev builds sentiment: its deployed tag \(protected by name\) is unknown without its `images` output/);
    });

    it("an unreachable registry is one line naming it, no stack trace (exit 1)", async () => {
        const port = await closedPort();
        const tools = fs.mkdtempSync(path.join(os.tmpdir(), "no-tools-"));
        const saved = { PATH: process.env.PATH, MODEL_FLEET_TOOLS_DIR: process.env.MODEL_FLEET_TOOLS_DIR };
        process.env.PATH = "";
        process.env.MODEL_FLEET_TOOLS_DIR = tools;
        try {
            const r = await run(() =>
                runMain(versionsCommand, versions, ["--model", "sentiment", "--stack", "prod", "--registry", `127.0.0.1:${port}/model-fleet/sentiment`]),
            );
            assert.equal(r.code, 1);
            assert.equal(
                r.err,
                `versions: cannot reach registry 127.0.0.1:${port} (repository model-fleet/sentiment) at http://127.0.0.1:${port} (ECONNREFUSED): is the registry up, and is this its address?`,
            );
        } finally {
            process.env.PATH = saved.PATH;
            if (saved.MODEL_FLEET_TOOLS_DIR === undefined) delete process.env.MODEL_FLEET_TOOLS_DIR;
            else process.env.MODEL_FLEET_TOOLS_DIR = saved.MODEL_FLEET_TOOLS_DIR;
            fs.rmSync(tools, { recursive: true, force: true });
        }
    });

    it("--model is required; --stack is required when no single stack builds the model", async () => {
        assert.equal((await run(() => runMain(versionsCommand, versions, []))).code, 2);
        const r = await run(() => runMain(versionsCommand, versions, ["--model", "embedder"]));
        assert.equal(r.code, 2);
        assert.match(r.err, /--stack is required: no stack builds embedder/);
    });
});

describe("npm run rollback: what it refuses before promoting", () => {
    const rb = (v: Record<string, unknown>) =>
        run(() =>
            runMain(
                rollbackCommand,
                (x) => rollbackWith(x, { access: access(), cli: null }),
                Object.entries(v).flatMap(([k, x]) => [`--${k}`, String(x)]),
            ),
        );

    it("a version the registry no longer holds, naming those it holds; the running version; a stack that builds", async () => {
        const before = fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.prod.yaml"), "utf8");
        const gone = await rb({ model: "sentiment", stack: "prod", to: "2.0.0" });
        assert.equal(gone.code, 1);
        assert.equal(
            gone.err,
            "rollback: sentiment 2.0.0 is not in the registry any more (retention expired it, or it was never pushed there): the registry holds: " +
                "2.2.0 (v2.2.0-8aa5dba), 2.1.4 (v2.1.4-5e2c9a1), 2.1.3 (v2.1.3-0ddba11), 2.1.2 (v2.1.2-1234567)",
        );
        assert.match(
            (await rb({ model: "sentiment", stack: "prod", to: "v2.1.4-5e2c9a1" })).err,
            new RegExp(`^rollback: stack prod already runs sentiment 2\\.1\\.4 \\(${DIGESTS.v214}\\)`),
        );
        assert.match((await rb({ model: "sentiment", stack: "dev" })).err, /^rollback: stack dev builds sentiment from source \(image\.build\)/);
        assert.match((await rb({ model: "nope", stack: "prod" })).err, /^rollback: model nope is not declared in Pulumi\.prod\.yaml/);
        assert.equal((await rb({ model: "sentiment" })).code, 2);
        assert.equal(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.prod.yaml"), "utf8"), before, "nothing written");
        assert.ok(readStackDocument("prod"));
    });
});
