/**
 * The promotion card gate (issue #26, release/cardGate.ts): every branch of the decision and its texts, the card
 * diff's rows, the threshold read from the target's canary config, and the override promotion records next to the digest.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ModelCard } from "../../domain/card/modelCard";
import { CardCheck } from "../../release/cardAttestation";
import { ACCURACY_TOLERANCE, CardGateInput, cardDiffTable, decideCardGate, maxAccuracyDropOf } from "../../release/cardGate";
import { cardFromEvaluation } from "../../release/modelCard";
import { applyConfigSets, modelsFromStackFile, planPromotion } from "../../release/promotion";
import { parseConfig } from "../../config/load";
import { fleetConfigOf, PROJECT, readStackDocument } from "../../support/stackFile";

const FIXTURES = path.join(__dirname, "..", "fixtures", "card");
const RUNNING = "sha256:" + "1".repeat(64);
const CANDIDATE = "sha256:" + "2".repeat(64);
const OVERRIDE = { reason: "rollback: 2.2.0 mislabels in production", by: "rm@example.com", at: "2026-12-07T10:00:00.000Z" };

/** A card of the fixture training run (accuracy 0.9711111111111111 on 450 held-out instances) for one version. */
function card(version: string, digest: string, change: (c: any) => void = () => {}): ModelCard {
    const c: any = cardFromEvaluation({
        evaluation: JSON.parse(fs.readFileSync(path.join(FIXTURES, "evaluation.json"), "utf8")),
        trainingRun: JSON.parse(fs.readFileSync(path.join(FIXTURES, "training-run.json"), "utf8")),
        build: { model: "sentiment", version, gitSha: "8aa5dba1c0ffee00112233445566778899aabbcc", digest, parent: null },
    });
    change(c);
    return c;
}
const verified = (c: ModelCard): CardCheck => ({ status: "verified", card: c });
const withAccuracy = (a: number) => (c: any) => (c.metrics.accuracy = a);

function input(runningCard: CardCheck | undefined, candidateCard: CardCheck, rest: Partial<CardGateInput> = {}): CardGateInput {
    return {
        candidate: { model: "sentiment", version: "2.2.0", digest: CANDIDATE, gitSha: "8aa5dba", card: candidateCard },
        ...(runningCard ? { running: { model: "sentiment", version: "2.1.0", digest: RUNNING, card: runningCard } } : {}),
        maxAccuracyDrop: 0.02,
        ...rest,
    };
}

describe("release/cardGate: the promotion's card gate", () => {
    const running = verified(card("2.1.0", RUNNING));

    it("passes a candidate as good as the running version, and one within maxAccuracyDrop, saying how it compared", () => {
        const same = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE))));
        assert.deepEqual([same.allowed, same.overridden, same.refusals], [true, false, []]);
        assert.deepEqual(same.notes, ["held-out accuracy 0.971111 vs the running version's 0.971111: not worse"]);
        assert.equal(same.summary, "card gate: passed");
        const within = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE, withAccuracy(0.96)))));
        assert.equal(within.allowed, true);
        assert.deepEqual(within.notes, [
            "held-out accuracy 0.96 vs the running version's 0.971111: 0.011111 worse, within the allowed drop (maxAccuracyDrop 0.02)",
        ]);
    });

    it("refuses a candidate worse by more than maxAccuracyDrop, naming both accuracies and the threshold", () => {
        const d = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE, withAccuracy(0.8111111111111111)))));
        assert.equal(d.allowed, false);
        assert.deepEqual(d.refusals, ["held-out accuracy 0.811111 vs the running version's 0.971111: 0.16 worse, more than allowed (maxAccuracyDrop 0.02)"]);
        assert.equal(d.summary, `card gate: ${d.refusals[0]}`);
    });

    it("a drop of exactly maxAccuracyDrop passes despite float error; one held-out instance more is refused", () => {
        // 0.9711111111111111 − 0.9511111111111111 is 0.020000000000000018 in floating point.
        const exact = card("2.2.0", CANDIDATE, withAccuracy(0.9511111111111111));
        assert.ok(0.9711111111111111 - 0.9511111111111111 > 0.02, "the float difference exceeds the threshold");
        assert.equal(decideCardGate(input(running, verified(exact))).allowed, true);
        // 450 instances: one more misclassified instance is 1/450 lower.
        const oneMore = card("2.2.0", CANDIDATE, withAccuracy(0.9511111111111111 - 1 / 450));
        assert.equal(decideCardGate(input(running, verified(oneMore))).allowed, false);
        // The tolerance never reaches half an instance, whatever the split's size.
        const huge = (c: any) => ((c.split.instances = 4e9), (c.metrics.accuracy = 0.95));
        const r = verified(card("2.1.0", RUNNING, (c: any) => ((c.split.instances = 4e9), (c.metrics.accuracy = 0.95 + 0.02 + 1 / 4e9))));
        assert.ok(1 / 4e9 < ACCURACY_TOLERANCE);
        assert.equal(decideCardGate(input(r, verified(card("2.2.0", CANDIDATE, huge)))).allowed, false);
    });

    it("without a configured maxAccuracyDrop (no canary quality gate) no drop is allowed", () => {
        const d = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE, withAccuracy(0.97))), { maxAccuracyDrop: undefined }));
        assert.equal(d.allowed, false);
        assert.match(d.refusals[0], /0\.001111 worse, more than allowed \(no maxAccuracyDrop is configured: no drop allowed\)$/);
        const better = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE, withAccuracy(0.98))), { maxAccuracyDrop: undefined }));
        assert.equal(better.allowed, true);
    });

    it("refuses cards of different held-out splits: their metrics are not comparable", () => {
        const other = card("2.2.0", CANDIDATE, (c: any) => ((c.split.sha256 = "e".repeat(64)), (c.metrics.accuracy = 0.99)));
        const d = decideCardGate(input(running, verified(other)));
        assert.equal(d.allowed, false);
        assert.deepEqual(d.refusals, [
            `the cards' held-out splits differ (split.sha256 ${running.status === "verified" && running.card.split.sha256} running, ${"e".repeat(64)} candidate): ` +
                "their accuracies are of different data and cannot show that the candidate is not worse",
        ]);
    });

    it("refuses a candidate without a verified card, with an untrusted one, or one that describes another image", () => {
        const none = decideCardGate(input(running, { status: "unverified", detail: "Error: no matching attestations" }));
        assert.deepEqual(none.refusals, [
            `candidate 2.2.0 (${CANDIDATE}): no card attestation verifies with the key (Error: no matching attestations); promotion needs its verified card`,
        ]);
        const invalid = decideCardGate(input(running, { status: "invalid", detail: "attestation 1: its subject is not sha256:…" }));
        assert.match(
            invalid.refusals[0],
            /its card attestation cannot be trusted \(attestation 1: its subject is not sha256:…\); promotion needs its verified card$/,
        );
        const wrong = decideCardGate(input(running, verified(card("2.3.0", CANDIDATE, (c: any) => (c.model = "summarizer")))));
        assert.equal(wrong.allowed, false);
        assert.deepEqual(wrong.refusals, [
            `candidate 2.2.0 (${CANDIDATE}): its card does not describe it: model (summarizer) is not the image's model sentiment; ` +
                "version (2.3.0) is not the image's version 2.2.0; promotion needs its verified card",
        ]);
        const otherDigest = decideCardGate(input(running, verified(card("2.2.0", "sha256:" + "3".repeat(64)))));
        assert.match(otherDigest.refusals[0], /image\.digest \(sha256:3{64}\) is not the image's digest sha256:2{64}/);
        const otherCommit = decideCardGate({
            ...input(running, verified(card("2.2.0", CANDIDATE))),
            candidate: { ...input(running, running).candidate, gitSha: "0000000", card: verified(card("2.2.0", CANDIDATE)) },
        });
        assert.match(otherCommit.refusals[0], /gitSha \(8aa5dba1c0ffee00112233445566778899aabbcc\) is not the commit the image was built from \(0000000\)/);
    });

    it("the running version without a trusted card: the comparison cannot be made, said plainly, and the candidate's card suffices", () => {
        const candidate = verified(card("2.2.0", CANDIDATE, withAccuracy(0.5)));
        for (const [runningCard, why] of [
            [
                { status: "unverified", detail: "Error: no matching attestations" },
                "no card attestation verifies with the key (Error: no matching attestations)",
            ],
            [{ status: "invalid", detail: "not a card" }, "its card attestation cannot be trusted (not a card)"],
            [verified(card("2.0.0", RUNNING)), "its card does not describe it: version (2.0.0) is not the image's version 2.1.0"],
        ] as const) {
            const d = decideCardGate(input(runningCard, candidate));
            assert.deepEqual([d.allowed, d.refusals], [true, []]);
            assert.deepEqual(d.notes, [
                `running 2.1.0 (${RUNNING}): ${why}. Its held-out metrics are unknown, so the accuracies cannot be compared: promoting on the candidate's card alone`,
            ]);
        }
        // Still: the candidate's own card is required.
        assert.equal(decideCardGate(input({ status: "unverified", detail: "x" }, { status: "unverified", detail: "y" })).allowed, false);
    });

    it("a model new in the target has nothing to compare with", () => {
        const d = decideCardGate(input(undefined, verified(card("2.2.0", CANDIDATE))));
        assert.deepEqual([d.allowed, d.notes], [true, ["the target runs no digest of sentiment yet: there is no running version to compare with"]]);
        assert.equal(decideCardGate(input(undefined, { status: "unverified", detail: "x" })).allowed, false);
    });

    it("--allow-regression lets every refusal through, says so, and keeps the refusals to record; it changes nothing that passes", () => {
        const worse = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE, withAccuracy(0.9))), { override: OVERRIDE }));
        assert.deepEqual([worse.allowed, worse.overridden], [true, true]);
        assert.equal(
            worse.summary,
            `card gate: held-out accuracy 0.9 vs the running version's 0.971111: 0.071111 worse, more than allowed (maxAccuracyDrop 0.02); ` +
                `promoted anyway: --allow-regression "${OVERRIDE.reason}" (${OVERRIDE.by}, ${OVERRIDE.at})`,
        );
        const noCard = decideCardGate(input(running, { status: "unverified", detail: "x" }, { override: OVERRIDE }));
        assert.deepEqual([noCard.allowed, noCard.overridden, noCard.refusals.length], [true, true, 1]);
        const clean = decideCardGate(input(running, verified(card("2.2.0", CANDIDATE)), { override: OVERRIDE }));
        assert.deepEqual([clean.allowed, clean.overridden, clean.summary], [true, false, "card gate: passed"]);
    });
});

describe("release/cardGate: the card diff promote prints", () => {
    it("rows of key path, running and candidate for the keys a reviewer compares; differing rows marked", () => {
        const running = card("2.1.0", RUNNING);
        const candidate = card("2.2.0", CANDIDATE, (c: any) => {
            c.metrics.accuracy = 0.9;
            delete c.metrics.macroF1;
            c.parent = "2.1.0";
        });
        const rows = cardDiffTable(running, candidate);
        assert.deepEqual(
            rows.map((r) => r[0]),
            [
                "* version",
                "* parent",
                "  dataset.name",
                "  dataset.version",
                "  dataset.sha256",
                "  training.spec",
                "  training.finishedAt",
                "* metrics.accuracy",
                "* metrics.macroF1",
                "  split.sha256",
                "  split.instances",
                "  gitSha",
                "* image.digest",
                "  weights.digest",
            ],
        );
        assert.deepEqual(rows[1], ["* parent", "null", "2.1.0"]);
        assert.deepEqual(rows[7], ["* metrics.accuracy", "0.9711111111111111", "0.9"]);
        assert.deepEqual(rows[8], ["* metrics.macroF1", "0.9715154758468874", "-"]);
        assert.deepEqual(rows[6], ["  training.finishedAt", "2026-12-07T03:15:29.270+00:00", "2026-12-07T03:15:29.270+00:00"]);
        assert.deepEqual(rows[12], ["* image.digest", RUNNING, CANDIDATE]);
    });

    describe("a model with a weights artifact: the card is the weights' card", () => {
        const W_RUN = "sha256:" + "3".repeat(64);
        const W_CAND = "sha256:" + "4".repeat(64);
        const weightsCard = (version: string, image: string, weights: string, change: (c: any) => void = () => {}) =>
            card(version, image, (c: any) => ((c.weights = { digest: weights }), change(c)));

        it("passes the candidate weights' card even with another server image (the metrics are the weights'), and compares accuracies", () => {
            const d = decideCardGate({
                candidate: {
                    model: "sentiment",
                    version: "2.2.0",
                    digest: CANDIDATE,
                    weightsDigest: W_CAND,
                    card: verified(weightsCard("2.2.0", RUNNING, W_CAND, withAccuracy(0.8))),
                },
                running: { model: "sentiment", version: "2.1.0", digest: RUNNING, weightsDigest: W_RUN, card: verified(weightsCard("2.1.0", RUNNING, W_RUN)) },
                maxAccuracyDrop: 0.02,
            });
            assert.equal(d.allowed, false);
            assert.deepEqual(d.refusals, ["held-out accuracy 0.8 vs the running version's 0.971111: 0.171111 worse, more than allowed (maxAccuracyDrop 0.02)"]);
        });

        it("refuses an image's card (no weights.digest) for a model that mounts weights, and a weights card of other weights", () => {
            const imageCard = decideCardGate({
                candidate: { model: "sentiment", version: "2.2.0", digest: CANDIDATE, weightsDigest: W_CAND, card: verified(card("2.2.0", CANDIDATE)) },
            });
            assert.deepEqual(imageCard.refusals, [
                `candidate 2.2.0 (${CANDIDATE}, weights ${W_CAND}): its card does not describe it: weights.digest is required: the model mounts the weights artifact ${W_CAND}; promotion needs its verified card`,
            ]);
            const other = decideCardGate({
                candidate: {
                    model: "sentiment",
                    version: "2.2.0",
                    digest: CANDIDATE,
                    weightsDigest: W_CAND,
                    card: verified(weightsCard("2.2.0", CANDIDATE, W_RUN)),
                },
            });
            assert.match(other.refusals[0], new RegExp(`weights\\.digest \\(${W_RUN}\\) is not the weights artifact's digest ${W_CAND}`));
        });

        it("a weights card does not describe a model whose weights are in its image", () => {
            const d = decideCardGate({
                candidate: { model: "sentiment", version: "2.2.0", digest: CANDIDATE, card: verified(weightsCard("2.2.0", CANDIDATE, W_CAND)) },
            });
            assert.match(d.refusals[0], /weights\.digest \(sha256:4+\) names a weights artifact, but the model mounts none/);
        });

        it("the card diff shows the weights digests", () => {
            const rows = cardDiffTable(weightsCard("2.1.0", RUNNING, W_RUN), weightsCard("2.2.0", RUNNING, W_CAND));
            assert.deepEqual(rows[rows.length - 1], ["* weights.digest", W_RUN, W_CAND]);
            assert.deepEqual(rows[rows.length - 2], ["  image.digest", RUNNING, RUNNING]);
        });
    });

    it("one card missing: its column is '-', nothing marked", () => {
        const rows = cardDiffTable(undefined, card("2.2.0", CANDIDATE));
        assert.deepEqual(rows[0], ["  version", "-", "2.2.0"]);
        assert.ok(rows.every((r) => r[0].startsWith("  ") && r[1] === "-"));
        assert.deepEqual(cardDiffTable(card("2.1.0", RUNNING), undefined)[0], ["  version", "2.1.0", "-"]);
    });
});

describe("release/cardGate: the threshold and what promotion records", () => {
    const prodDoc = readStackDocument("prod");
    const models = modelsFromStackFile(prodDoc, "prod");
    const validate = (doc: unknown) =>
        parseConfig(fleetConfigOf(YAML.parse(YAML.stringify(doc))), { project: PROJECT, stack: "prod", region: "us-west-2", env: {}, git: () => "" });

    it("reads maxAccuracyDrop from the target model's canary analysis, through the config schema", () => {
        const sentiment = models.find((m: any) => m.name === "sentiment") as any;
        assert.equal(maxAccuracyDropOf(sentiment, "Pulumi.prod.yaml models[0]"), sentiment.canary.analysis.maxAccuracyDrop);
        assert.equal(typeof maxAccuracyDropOf(sentiment, "x"), "number", "prod's canary model has a quality gate");
        assert.equal(maxAccuracyDropOf({ name: "summarizer" }, "x"), undefined, "no canary: no quality gate");
        const noGate = { canary: { ...sentiment.canary, analysis: { ...sentiment.canary.analysis, maxAccuracyDrop: undefined } } };
        assert.equal(maxAccuracyDropOf(noGate, "x"), undefined);
        assert.throws(
            () =>
                maxAccuracyDropOf(
                    { canary: { ...sentiment.canary, analysis: { ...sentiment.canary.analysis, maxAccuracyDrop: 2 } } },
                    "Pulumi.prod.yaml models[0]",
                ),
            /^PromotionError: Pulumi\.prod\.yaml models\[0\]: canary\.analysis\.maxAccuracyDrop must be in \[0, 1\]: fix the target stack's config/,
        );
    });

    it("records the override (digest, who, when, why, what was refused) next to the digest; the config validates; the next promotion drops it", () => {
        const source = { kind: "explicit" as const, digest: CANDIDATE, version: "2.2.0", tag: "v2.2.0-8aa5dba" };
        const KEY = "awskms:///arn:aws:kms:us-east-1:123456789012:key/0e7c4b2a-9d31-4f6e-8a25-3c1b7d9e4f60";
        const refused = "held-out accuracy 0.9 vs the running version's 0.971111: 0.071111 worse, more than allowed (maxAccuracyDrop 0.02)";
        const plan = planPromotion({
            model: "sentiment",
            target: { stack: "prod", models },
            source,
            signingKey: KEY,
            regressionOverride: { ...OVERRIDE, refused },
        });
        const after = applyConfigSets(prodDoc, plan.sets);
        const i = plan.index;
        const image = validate(after).models[i].image as any;
        assert.deepEqual(image.regressionOverride, { digest: CANDIDATE, ...OVERRIDE, refused });
        assert.ok(plan.diff.includes(`+ image.regressionOverride: ${OVERRIDE.reason} (${OVERRIDE.by}, ${OVERRIDE.at}; ${refused})`), plan.diff);
        const next = planPromotion({
            model: "sentiment",
            target: { stack: "prod", models: modelsFromStackFile(after, "prod") },
            source: { ...source, digest: "sha256:" + "9".repeat(64), tag: "v2.2.1-b1b2c3d", version: "2.2.1" },
            signingKey: KEY,
        });
        assert.ok(next.sets.some((s) => s.path === `models[${i}].image.regressionOverride` && s.value === undefined));
        assert.ok(next.diff.includes(`- image.regressionOverride (it was for ${CANDIDATE})`));
        assert.equal((validate(applyConfigSets(after, next.sets)).models[i].image as any).regressionOverride, undefined);
    });

    it("the stack config refuses an override without a reason or with a bad timestamp, with key paths", () => {
        const sets = planPromotion({
            model: "sentiment",
            target: { stack: "prod", models },
            source: { kind: "explicit", digest: CANDIDATE, version: "2.2.0", tag: "v2.2.0-8aa5dba" },
            signingKey: "awskms:///arn:aws:kms:us-east-1:123456789012:key/0e7c4b2a-9d31-4f6e-8a25-3c1b7d9e4f60",
            regressionOverride: { reason: " ", by: "me", at: "yesterday" },
        }).sets;
        assert.throws(
            () => validate(applyConfigSets(prodDoc, sets)),
            (e: Error) =>
                /models\[\d\]\.image\.regressionOverride\.reason \( \) must give a reason/.test(e.message) &&
                /models\[\d\]\.image\.regressionOverride\.at \(yesterday\) must be an ISO 8601 UTC timestamp/.test(e.message),
        );
    });
});
