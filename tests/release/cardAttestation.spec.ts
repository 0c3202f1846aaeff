import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { MODEL_CARD_PREDICATE_TYPE, ModelCard } from "../../domain/card/modelCard";
import { CardAttestationError, cardCheckFrom, cardDifferences, cardFromVerifiedAttestations } from "../../release/cardAttestation";
import { cardFromEvaluation } from "../../release/modelCard";

const FIXTURES = path.join(__dirname, "..", "fixtures", "card");
const DIGEST = "sha256:e76cd5449f7c40c0f3a91bc86c3d701142febb0d3ccf90c8c4bd37523f4f69ad";
const OTHER = "sha256:" + "1".repeat(64);

const card = (): ModelCard =>
    cardFromEvaluation({
        evaluation: JSON.parse(fs.readFileSync(path.join(FIXTURES, "evaluation.json"), "utf8")),
        trainingRun: JSON.parse(fs.readFileSync(path.join(FIXTURES, "training-run.json"), "utf8")),
        build: { model: "sentiment", version: "2.2.0", gitSha: "8aa5dba1c0ffee00112233445566778899aabbcc", digest: DIGEST, parent: "2.1.0" },
    });

/** One line as cosign v3.1.3 prints a verified attestation: the DSSE envelope, its payload the base64 in-toto statement. */
function envelope(predicate: unknown, opts: { digest?: string; type?: string } = {}): string {
    const statement = {
        _type: "https://in-toto.io/Statement/v0.1",
        predicateType: opts.type ?? MODEL_CARD_PREDICATE_TYPE,
        subject: [{ name: "127.0.0.1:15000/model-fleet/sentiment", digest: { sha256: (opts.digest ?? DIGEST).replace("sha256:", "") } }],
        predicate,
    };
    return JSON.stringify({
        payloadType: "application/vnd.in-toto+json",
        payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
        signatures: [{ keyid: "", sig: "MEUCIQ" }],
    });
}

function refusal(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof CardAttestationError, `not a CardAttestationError: ${e}`);
        return e.message;
    }
    assert.fail("no error");
}

describe("release/cardAttestation: the card a verified attestation carries", () => {
    it("reads the card from cosign's output (one envelope per line, other output ignored)", () => {
        assert.deepEqual(cardFromVerifiedAttestations(`${envelope(card())}\n`, DIGEST), card());
    });

    it("a digest attested twice with the same card gives that card; with two different cards it is refused", () => {
        assert.deepEqual(cardFromVerifiedAttestations(`${envelope(card())}\n${envelope(card())}\n`, DIGEST), card());
        const better = { ...card(), metrics: { accuracy: 0.99 } };
        assert.match(
            refusal(() => cardFromVerifiedAttestations(`${envelope(card())}\n${envelope(better)}`, DIGEST)),
            /2 card attestations that differ/,
        );
    });

    it("refuses a statement of another predicate type, over another subject, or a card of another image", () => {
        assert.match(
            refusal(() => cardFromVerifiedAttestations(envelope(card(), { type: "https://slsa.dev/provenance/v1" }), DIGEST)),
            /predicate type https:\/\/slsa\.dev/,
        );
        assert.match(
            refusal(() => cardFromVerifiedAttestations(envelope(card(), { digest: OTHER }), DIGEST)),
            /subject is not sha256:e76c/,
        );
        const forOther = { ...card(), image: { digest: OTHER } };
        assert.match(
            refusal(() => cardFromVerifiedAttestations(envelope(forOther), DIGEST)),
            /describes another image: image\.digest sha256:1111/,
        );
    });

    it("a weights card (weights.digest) is read from its weights artifact, whose digest is the subject; not from the server image", () => {
        const weights = "sha256:" + "2".repeat(64);
        const weightsCard = { ...card(), weights: { digest: weights } };
        assert.deepEqual(cardFromVerifiedAttestations(envelope(weightsCard, { digest: weights }), weights), weightsCard);
        assert.match(
            refusal(() => cardFromVerifiedAttestations(envelope(weightsCard), DIGEST)),
            /the card attested on sha256:e76c\w+ describes another weights artifact: weights\.digest sha256:2222/,
        );
    });

    it("refuses a predicate that is not a valid card, naming its key paths", () => {
        const { metrics: _m, ...noMetrics } = card();
        const bad = { ...noMetrics, gitSha: "abc" };
        const msg = refusal(() => cardFromVerifiedAttestations(envelope(bad), DIGEST));
        assert.match(msg, /gitSha \(abc\) must be the full 40-hex git sha/);
        assert.match(msg, /metrics is required/);
    });

    it("refuses output with no envelope, a line that is not JSON, or a payload that is not base64 JSON", () => {
        assert.match(
            refusal(() => cardFromVerifiedAttestations("", DIGEST)),
            /verified no card attestation/,
        );
        assert.match(
            refusal(() => cardFromVerifiedAttestations("{not json", DIGEST)),
            /not JSON/,
        );
        assert.match(
            refusal(() => cardFromVerifiedAttestations(JSON.stringify({ payload: Buffer.from("nope").toString("base64") }), DIGEST)),
            /not a JSON in-toto statement/,
        );
    });

    it("cardCheckFrom: cosign's failure is `unverified` with its last error line; a verified non-card is `invalid`", () => {
        const stderr =
            "Error: no matching attestations: invalid signature when validating ASN.1 encoded signature\nmain.go:74: error during command execution: …\n";
        assert.deepEqual(cardCheckFrom({ code: 1, stdout: "", stderr }, DIGEST), {
            status: "unverified",
            detail: "Error: no matching attestations: invalid signature when validating ASN.1 encoded signature",
        });
        assert.deepEqual(cardCheckFrom({ code: 0, stdout: envelope(card()), stderr: "" }, DIGEST), { status: "verified", card: card() });
        const check = cardCheckFrom({ code: 0, stdout: envelope(card(), { digest: OTHER }), stderr: "" }, DIGEST);
        assert.equal(check.status, "invalid");
    });

    it("cardDifferences: the key paths two cards differ in, sorted", () => {
        assert.deepEqual(cardDifferences(card(), card()), []);
        const other = { ...card(), version: "2.3.0", metrics: { accuracy: 0.5, macroF1: card().metrics.macroF1 }, parent: null };
        assert.deepEqual(cardDifferences(card(), other), ["metrics.accuracy", "parent", "version"]);
    });
});
