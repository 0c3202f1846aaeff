/**
 * npm run card end to end, offline: the dev stack's config says what it builds, an outputs file says what was pushed,
 * and the training records are real trainings' (tests/fixtures/card). The docker buildx export is shown by --dry-run
 * (no Docker here); its argv is tested in tests/release/trainingRecord.spec.ts.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../scripts/cli";
import { parseModelCardJson } from "../../domain/card/modelCard";

const FIXTURES = path.join(REPO_ROOT, "tests", "fixtures", "card");
const SHA = "8aa5dba1c0ffee00112233445566778899aabbcc";
const REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet";
const digest = (c: string) => "sha256:" + c.repeat(64);

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/card.ts", ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 60000,
        env: { ...process.env, GITHUB_SHA: "" },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run card: the cards of the images the dev stack built", function () {
    this.timeout(120000);
    let tmp: string;
    let outputs: string;
    let training: string;

    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-card-"));
        outputs = path.join(tmp, "outputs.json");
        const image = (model: string, version: string, c: string) => ({
            version,
            tag: `v${version}-8aa5dba`,
            digest: digest(c),
            ref: `${REPO}/${model}@${digest(c)}`,
            gitSha: "8aa5dba",
        });
        fs.writeFileSync(
            outputs,
            JSON.stringify({
                images: { sentiment: image("sentiment", "2.2.0", "a"), summarizer: image("summarizer", "1.4.0", "b") },
                signing: { keyRef: "awskms:///arn" },
            }),
        );
        training = path.join(tmp, "training");
        for (const [model, dir] of [
            ["sentiment", ""],
            ["summarizer", ""],
        ]) {
            fs.mkdirSync(path.join(training, model), { recursive: true });
            for (const f of ["evaluation.json", "training-run.json"]) fs.copyFileSync(path.join(FIXTURES, dir, f), path.join(training, model, f));
        }
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("--dry-run prints one docker buildx export of the training-record stage per built model, from its repository's build cache", () => {
        const r = run(["--outputs", outputs, "--config", "dev", "--out", path.join(tmp, "cards"), "--git-sha", SHA, "--dry-run"]);
        assert.equal(r.status, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assert.equal(lines.length, 2, r.stdout);
        assert.match(
            lines[0],
            new RegExp(
                `^docker buildx build --file images/model-server/Dockerfile --target training-record --platform linux/amd64 .*--cache-from type=registry,ref=${REPO}/sentiment:buildcache --output type=local,dest=\\S+/cards/training/sentiment images/model-server$`,
            ),
        );
        assert.match(lines[1], /ref=\S+\/summarizer:buildcache --output type=local,dest=\S+\/cards\/training\/summarizer /);
        assert.ok(!fs.existsSync(path.join(tmp, "cards")), "nothing written");
    });

    it("writes a valid card per built image from --training records, each naming its digest, version, commit and held-out accuracy", () => {
        const out = path.join(tmp, "cards");
        const r = run(["--outputs", outputs, "--config", "dev", "--out", out, "--training", training, "--git-sha", SHA]);
        assert.equal(r.status, 0, r.stderr);
        const sentiment = parseModelCardJson(fs.readFileSync(path.join(out, "sentiment.card.json"), "utf8"), "sentiment.card.json");
        assert.deepEqual([sentiment.version, sentiment.image.digest, sentiment.gitSha, sentiment.training.spec], ["2.2.0", digest("a"), SHA, "digits/1.1.0"]);
        assert.match(r.stdout, /sentiment\s+2\.2\.0\s+digits\/1\.1\.0\s+0\.9711\d*\s+1\.0\.0\s+sha256:a{64}/);
        const summarizer = parseModelCardJson(fs.readFileSync(path.join(out, "summarizer.card.json"), "utf8"), "summarizer.card.json");
        assert.deepEqual([summarizer.version, summarizer.image.digest], ["1.4.0", digest("b")]);
    });

    it("refuses, writing nothing, an image built at another commit, naming it", () => {
        const out = path.join(tmp, "cards-other");
        const r = run(["--outputs", outputs, "--config", "dev", "--out", out, "--training", training, "--git-sha", "f".repeat(40)]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no card was written:\n {2}- sentiment: the image was built at 8aa5dba, not at ffffffffffff…/);
        assert.ok(!fs.existsSync(out));
    });
});
