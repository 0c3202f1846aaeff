/**
 * `promote()` with a weights artifact (docs/design/weights.md), in process as in ./promote-card.spec.ts: the scan
 * result from the Harbor stub, a fake cosign on PATH (`verify` fails for the refs listed in `unsigned`,
 * `verify-attestation` prints the card envelope stored for that key and digest), the target a temp stack file whose
 * model mounts weights. It checks that the weights' signature is verified with the same key before anything is
 * changed, that unsigned weights are refused, that the card gate reads the weights' cards, and that a weights-only
 * release skips the image's scan and signature (its image is the running one). The real cosign is the supply-chain suite's.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { ModelCard } from "../../domain/card/modelCard";
import { PromotionError, WEIGHTS_SCAN_NOTE } from "../../release/promotion";
import { promote } from "../../scripts/promote";
import { HARBOR_SWAGGER, HarborStub } from "../../support/harborStub";
import { needsReference } from "../../support/reference";
import { FakeCosign, fixtureCard, inProcessPromote, writeFakeCosign } from "../helpers/fakeCosign";

const IMAGE = "sha256:" + "1".repeat(64);
const NEW_IMAGE = "sha256:" + "2".repeat(64);
const RUNNING_WEIGHTS = "sha256:" + "3".repeat(64);
const NEW_WEIGHTS = "sha256:" + "4".repeat(64);
const RUNNING_KEY = "awskms:///arn:aws:kms:us-east-1:123456789012:key/running-key";

/** The weights' card: names the weights artifact (the attestation's subject) and the server image. */
const weightsCard = (version: string, image: string, weights: string, gitSha: string, accuracy: number): ModelCard =>
    fixtureCard({ version, gitSha, digest: image, weightsDigest: weights }, accuracy);

describe("scripts/promote: promote() verifies and gates a weights artifact with its image", function () {
    const stub = new HarborStub();
    let tmp: string;
    let host: string;
    let repo: string;
    let stackFile: string;
    let devKey: string;
    let cosign: FakeCosign;
    const env = inProcessPromote({ cosign: () => cosign, harborPassword: () => stub.password });

    before(async function () {
        needsReference(this, HARBOR_SWAGGER);
        await stub.start();
        host = new URL(stub.url).host;
        repo = `${host}/models/model-fleet/sentiment`;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "promote-weights-"));
        devKey = path.join(tmp, "dev.pub");
        fs.writeFileSync(devKey, "-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n");
        cosign = writeFakeCosign(tmp);
        stackFile = path.join(tmp, "Pulumi.target.yaml");
        fs.writeFileSync(
            stackFile,
            YAML.stringify({
                config: {
                    "model-fleet:registry": { type: "harbor", harbor: { url: `https://${host}`, project: "models", username: stub.username } },
                    "model-fleet:models": [
                        {
                            name: "sentiment",
                            version: "2.1.0",
                            image: { digest: IMAGE, tag: "v2.1.0-aaaaaaa", signingKey: RUNNING_KEY },
                            weights: { digest: RUNNING_WEIGHTS, tag: "v2.1.0-bbbbbbb" },
                            canary: { steps: [25, 50, 100], pauseSeconds: 60, analysis: { successRate: 0.99, p99LatencyMs: 500, maxAccuracyDrop: 0.02 } },
                        },
                    ],
                },
            }),
        );
        stub.artifacts.set(`models/model-fleet/sentiment@${NEW_IMAGE}`, {
            digest: NEW_IMAGE,
            scan_overview: { "application/vnd.security.vulnerability.report; version=1.1": { scan_status: "Success", summary: { total: 0, summary: {} } } },
        });
    });
    after(async () => {
        await stub.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });
    beforeEach(() => {
        // The running weights' card (its key: the one the target recorded) and the candidate weights' (the dev key).
        attest(RUNNING_KEY, weightsCard("2.1.0", IMAGE, RUNNING_WEIGHTS, "bbbbbbb" + "0".repeat(33), 0.9711111111111111));
    });

    const attest = (key: string, c: ModelCard) => cosign.attest(key, c);
    const candidateCard = (version: string, image: string, accuracy = 0.97) =>
        attest(devKey, weightsCard(version, image, NEW_WEIGHTS, "ccccccc" + "0".repeat(33), accuracy));
    const run = (extra: Record<string, unknown>) =>
        promote({
            model: "sentiment",
            to: stackFile,
            repository: repo,
            "signing-key": devKey,
            "weights-digest": NEW_WEIGHTS,
            "weights-tag": "v2.2.0-ccccccc",
            "dry-run": true,
            ...extra,
        } as any);
    const printed = env.printed;
    const calls = () => cosign.calls();

    it("an image with new weights: verifies both signatures with the same key, reads the weights' cards, and pins the weights", async () => {
        candidateCard("2.2.0", NEW_IMAGE);
        assert.equal(await run({ digest: NEW_IMAGE, version: "2.2.0", tag: "v2.2.0-8aa5dba" }), 0);
        assert.deepEqual(calls(), [
            `verify ${devKey} ${repo}@${NEW_IMAGE}`,
            `verify ${devKey} ${repo}@${NEW_WEIGHTS}`,
            `verify-attestation ${devKey} ${repo}@${NEW_WEIGHTS}`,
            `verify-attestation ${RUNNING_KEY} ${repo}@${RUNNING_WEIGHTS}`,
        ]);
        const p = printed();
        assert.ok(p.includes(`Scan of the weights ${repo}@${NEW_WEIGHTS}: ${WEIGHTS_SCAN_NOTE}`));
        assert.match(p, /\* weights\.digest\s+sha256:3{64}\s+sha256:4{64}/);
        assert.match(p, /card gate: passed/);
        assert.match(p, new RegExp(`pulumi config set --path 'models\\[0\\]\\.weights\\.digest' ${NEW_WEIGHTS}`));
        assert.match(p, /pulumi config set --path 'models\[0\]\.weights\.previousTag' v2\.1\.0-bbbbbbb/);
    });

    it("a weights-only release: no scan or signature check of the unchanged image; the weights' signature and card are still checked", async () => {
        candidateCard("2.1.0", IMAGE);
        assert.equal(await run({ digest: IMAGE, version: "2.1.0", "weights-tag": "v2.1.0-ccccccc" }), 0);
        assert.deepEqual(calls(), [
            `verify ${devKey} ${repo}@${NEW_WEIGHTS}`,
            `verify-attestation ${devKey} ${repo}@${NEW_WEIGHTS}`,
            `verify-attestation ${RUNNING_KEY} ${repo}@${RUNNING_WEIGHTS}`,
        ]);
        assert.match(printed(), /note: weights-only release/);
        assert.doesNotMatch(printed(), /Scan of .*@sha256:1{64}/);
    });

    it("refuses unsigned weights before changing anything, naming the artifact", async () => {
        candidateCard("2.2.0", NEW_IMAGE);
        cosign.unsign(`${repo}@${NEW_WEIGHTS}`);
        await assert.rejects(
            run({ digest: NEW_IMAGE, version: "2.2.0", tag: "v2.2.0-8aa5dba" }),
            (e: Error) =>
                e instanceof PromotionError &&
                e.message.startsWith(
                    `refusing to promote ${repo}@${NEW_WEIGHTS} (weights) into stack ${stackFile}: it is not signed by the key admission will trust (Error: no signatures found)`,
                ),
        );
        assert.doesNotMatch(printed(), /would run/);
        assert.ok(!calls().some((c) => c.startsWith("verify-attestation")), "no card is read once the signature is refused");
    });

    it("refuses candidate weights without a verified card, naming the weights artifact", async () => {
        await assert.rejects(
            run({ digest: NEW_IMAGE, version: "2.2.0", tag: "v2.2.0-8aa5dba" }),
            /candidate 2\.2\.0 \(sha256:2{64}, weights sha256:4{64}\): no card attestation verifies with the key/,
        );
    });

    it("--weights-tag without --weights-digest, and weights flags with --from, are usage errors", async () => {
        await assert.rejects(
            run({ digest: NEW_IMAGE, version: "2.2.0", "weights-digest": undefined }),
            /--weights-tag and --weights-repository go with --weights-digest/,
        );
        await assert.rejects(
            promote({ model: "sentiment", from: "dev", to: stackFile, "weights-digest": NEW_WEIGHTS } as any),
            /--weights-digest goes with --digest/,
        );
    });
});
