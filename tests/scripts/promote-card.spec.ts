/**
 * `promote()` with the card gate wired in (issue #26), in process: the scan result from the Harbor stub, cosign a
 * fake on PATH that answers `verify` with success and `verify-attestation` with the card envelope stored for that key
 * and digest (the DSSE line cosign v3.1.3 prints, as in tests/release/cardAttestation.spec.ts), the target a temp
 * stack file. It checks which card is read with which key and where, what is printed, what is refused and what
 * `--allow-regression` records. The real cosign reading a real attestation is the supply-chain suite's part.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { ModelCard } from "../../domain/card/modelCard";
import { PromotionError } from "../../release/promotion";
import { promote } from "../../scripts/promote";
import { HARBOR_SWAGGER, HarborStub } from "../../support/harborStub";
import { needsReference } from "../../support/reference";
import { FakeCosign, fixtureCard, inProcessPromote, writeFakeCosign } from "../helpers/fakeCosign";

const RUNNING = "sha256:" + "1".repeat(64);
const CANDIDATE = "sha256:" + "2".repeat(64);
const RUNNING_KEY = "awskms:///arn:aws:kms:us-east-1:123456789012:key/running-key";

describe("scripts/promote: promote() reads both cards, prints their diff and gates on them", function () {
    const stub = new HarborStub();
    let tmp: string;
    let host: string;
    let stackFile: string;
    let devKey: string;
    let cosign: FakeCosign;
    const env = inProcessPromote({ cosign: () => cosign, harborPassword: () => stub.password });

    before(async function () {
        needsReference(this, HARBOR_SWAGGER);
        await stub.start();
        host = new URL(stub.url).host;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "promote-card-"));
        devKey = path.join(tmp, "dev.pub");
        fs.writeFileSync(devKey, "-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n");
        cosign = writeFakeCosign(tmp);
        stackFile = path.join(tmp, "Pulumi.target.yaml");
        const analysis = { successRate: 0.99, p99LatencyMs: 500, maxAccuracyDrop: 0.02 };
        fs.writeFileSync(
            stackFile,
            YAML.stringify({
                config: {
                    "model-fleet:registry": { type: "harbor", harbor: { url: `https://${host}`, project: "models", username: stub.username } },
                    "model-fleet:models": [
                        {
                            name: "sentiment",
                            version: "2.1.0",
                            image: { digest: RUNNING, tag: "v2.1.0-aaaaaaa", signingKey: RUNNING_KEY },
                            canary: { steps: [25, 50, 100], pauseSeconds: 60, analysis },
                        },
                    ],
                },
            }),
        );
        for (const digest of [CANDIDATE]) {
            stub.artifacts.set(`models/model-fleet/sentiment@${digest}`, {
                digest,
                scan_overview: { "application/vnd.security.vulnerability.report; version=1.1": { scan_status: "Success", summary: { total: 0, summary: {} } } },
            });
        }
    });
    after(async () => {
        await stub.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });
    const attest = (key: string, c: ModelCard) => cosign.attest(key, c);
    const runningCard = (accuracy = 0.9711111111111111) =>
        attest(RUNNING_KEY, fixtureCard({ version: "2.1.0", digest: RUNNING, gitSha: "aaaaaaa" + "0".repeat(33) }, accuracy));
    const candidateCard = (accuracy: number) =>
        attest(devKey, fixtureCard({ version: "2.2.0", digest: CANDIDATE, gitSha: "8aa5dba" + "0".repeat(33) }, accuracy));
    const run = (extra: Record<string, unknown> = {}) =>
        promote({
            model: "sentiment",
            to: stackFile,
            digest: CANDIDATE,
            version: "2.2.0",
            tag: "v2.2.0-8aa5dba",
            repository: `${host}/models/model-fleet/sentiment`,
            "signing-key": devKey,
            "dry-run": true,
            ...extra,
        } as any);
    const printed = env.printed;
    const calls = () => cosign.calls();

    it("reads the candidate's card with the signing key and the running digest's with the key the target recorded, in the candidate's repository", async () => {
        runningCard();
        candidateCard(0.96);
        assert.equal(await run(), 0);
        const repo = `${host}/models/model-fleet/sentiment`;
        assert.deepEqual(calls(), [
            `verify ${devKey} ${repo}@${CANDIDATE}`,
            `verify-attestation ${devKey} ${repo}@${CANDIDATE}`,
            `verify-attestation ${RUNNING_KEY} ${repo}@${RUNNING}`,
        ]);
        assert.match(printed(), /\* metrics\.accuracy\s+0\.9711111111111111\s+0\.96/);
        assert.match(printed(), /\* version\s+2\.1\.0\s+2\.2\.0/);
        assert.match(
            printed(),
            /held-out accuracy 0\.96 vs the running version's 0\.971111: 0\.011111 worse, within the allowed drop \(maxAccuracyDrop 0\.02\)/,
        );
        assert.match(printed(), /card gate: passed/);
        assert.match(printed(), /--dry-run: would run/);
        assert.doesNotMatch(printed(), /regressionOverride/);
    });

    it("refuses a candidate worse than the running version by more than the target's maxAccuracyDrop, after printing the diff and the decision (--dry-run too)", async () => {
        runningCard();
        candidateCard(0.9);
        await assert.rejects(
            run(),
            (e: Error) =>
                e instanceof PromotionError &&
                e.message ===
                    `refusing to promote ${CANDIDATE} into stack ${stackFile}: held-out accuracy 0.9 vs the running version's 0.971111: 0.071111 worse, more than allowed (maxAccuracyDrop 0.02). ` +
                        `Attest the candidate's card (npm run sign -- … --card <dir>), or record an exception: --allow-regression "<reason>"`,
        );
        assert.match(printed(), /\* metrics\.accuracy\s+0\.9711111111111111\s+0\.9\b/);
        assert.match(printed(), /card gate: held-out accuracy 0\.9 vs/);
        assert.doesNotMatch(printed(), /would run/);
    });

    it("--allow-regression <reason> promotes it and records who, when, why and what was refused next to the digest", async () => {
        runningCard();
        candidateCard(0.9);
        assert.equal(await run({ "allow-regression": "rollback drill" }), 0);
        const p = printed();
        assert.match(p, /promoted anyway: --allow-regression "rollback drill"/);
        assert.match(p, /\+ image\.regressionOverride: rollback drill \(/);
        assert.match(p, new RegExp(`pulumi config set --path 'models\\[0\\]\\.image\\.regressionOverride\\.digest' ${CANDIDATE} --stack`));
        assert.match(p, /pulumi config set --path 'models\[0\]\.image\.regressionOverride\.reason' 'rollback drill' --stack/);
        assert.match(p, /pulumi config set --path 'models\[0\]\.image\.regressionOverride\.refused' 'held-out accuracy 0\.9 vs/);
        assert.match(p, /pulumi config set --path 'models\[0\]\.image\.regressionOverride\.at' '?\d{4}-\d\d-\d\dT/);
        await assert.rejects(run({ "allow-regression": "  " }), /--allow-regression needs a reason/);
    });

    it("refuses a candidate without a verified card; the running version without one only makes the comparison impossible, said plainly", async () => {
        runningCard();
        await assert.rejects(
            run(),
            /refusing to promote .*: candidate 2\.2\.0 \(sha256:2{64}\): no card attestation verifies with the key \(Error: none of the attestations matched/,
        );
        candidateCard(0.5);
        fs.rmSync(path.join(tmp, "att", `${path.basename(RUNNING_KEY)}.${RUNNING.slice(7)}`));
        env.clear();
        assert.equal(await run(), 0);
        assert.match(
            printed(),
            /running 2\.1\.0 \(sha256:1{64}\): no card attestation verifies with the key .*the accuracies cannot be compared: promoting on the candidate's card alone/,
        );
        assert.match(printed(), /^\s+version\s+-\s+2\.2\.0$/m);
    });
});
