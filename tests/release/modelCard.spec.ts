import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { ModelCardError, MODEL_CARD_SCHEMA } from "../../domain/card/modelCard";
import { CardBuildFacts, cardFromEvaluation, cardMismatches } from "../../release/modelCard";

const FIXTURES = path.join(__dirname, "..", "fixtures", "card");
const evaluation = (): any => JSON.parse(fs.readFileSync(path.join(FIXTURES, "evaluation.json"), "utf8"));
const trainingRun = (): any => JSON.parse(fs.readFileSync(path.join(FIXTURES, "training-run.json"), "utf8"));

const BUILD: CardBuildFacts = {
    model: "sentiment",
    version: "2.2.0",
    gitSha: "8aa5dba1c0ffee00112233445566778899aabbcc",
    digest: "sha256:e76cd5449f7c40c0f3a91bc86c3d701142febb0d3ccf90c8c4bd37523f4f69ad",
    parent: "2.1.0",
};

function problems(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof ModelCardError, `not a ModelCardError: ${e}`);
        return e.issues.map((i) => i.path);
    }
    assert.fail("no error");
}

describe("release/modelCard: a card from a training's evaluation.json and training-run.json", () => {
    it("fills every field from the evaluation (training/build.py's real output), its run, and the build's facts", () => {
        const ev = evaluation();
        const run = trainingRun();
        const card = cardFromEvaluation({ evaluation: ev, trainingRun: run, build: BUILD });
        assert.deepEqual(card, {
            schema: MODEL_CARD_SCHEMA,
            model: "sentiment",
            version: "2.2.0",
            gitSha: BUILD.gitSha,
            dataset: { name: ev.dataset.name, version: `scikit-learn==${ev.dataset.package_version}`, sha256: ev.dataset.sha256 },
            training: { spec: "digits/1.1.0", startedAt: run.started_at, finishedAt: run.finished_at },
            metrics: { accuracy: ev.metrics.accuracy, macroF1: ev.metrics.macro_f1 },
            split: { sha256: ev.split.holdout_sha256, instances: ev.split.holdout_instances },
            parent: "2.1.0",
            image: { digest: BUILD.digest },
        });
    });

    it("the parent: the build's (null for a first version), else the training spec's, else an error — never guessed", () => {
        const ev = evaluation();
        assert.equal(cardFromEvaluation({ evaluation: ev, trainingRun: trainingRun(), build: { ...BUILD, parent: null } }).parent, null);
        const { parent: _, ...noParent } = BUILD;
        assert.equal(cardFromEvaluation({ evaluation: ev, trainingRun: trainingRun(), build: noParent }).parent, ev.spec.parent);
        // The spec's parent is read even when the evaluation has another problem: only that problem is named.
        const broken = evaluation();
        delete broken.metrics.accuracy;
        assert.deepEqual(
            problems(() => cardFromEvaluation({ evaluation: broken, trainingRun: trainingRun(), build: noParent })),
            ["evaluation.json: metrics.accuracy"],
        );
        delete ev.spec.parent;
        assert.deepEqual(
            problems(() => cardFromEvaluation({ evaluation: ev, trainingRun: trainingRun(), build: noParent })),
            ["parent"],
        );
    });

    it("a metric the evaluation lacks is an error naming file and key path, never a made-up value; macro F1 is left out when absent", () => {
        const ev = evaluation();
        delete ev.metrics.accuracy;
        delete ev.split.holdout_sha256;
        const run = trainingRun();
        delete run.finished_at;
        assert.deepEqual(
            problems(() => cardFromEvaluation({ evaluation: ev, trainingRun: run, build: BUILD })),
            ["evaluation.json: split.holdout_sha256", "evaluation.json: metrics.accuracy", "training-run.json: finished_at"],
        );
        const noF1 = evaluation();
        delete noF1.metrics.macro_f1;
        assert.deepEqual(cardFromEvaluation({ evaluation: noF1, trainingRun: trainingRun(), build: BUILD }).metrics, { accuracy: noF1.metrics.accuracy });
    });

    it("a team's own evaluation may name the data set version directly (no package)", () => {
        const ev = evaluation();
        ev.dataset = { name: "reviews", version: "2026-11-30", sha256: ev.dataset.sha256 };
        assert.deepEqual(cardFromEvaluation({ evaluation: ev, trainingRun: trainingRun(), build: BUILD }).dataset, {
            name: "reviews",
            version: "2026-11-30",
            sha256: ev.dataset.sha256,
        });
        delete ev.dataset.version;
        assert.deepEqual(
            problems(() => cardFromEvaluation({ evaluation: ev, trainingRun: trainingRun(), build: BUILD })),
            ["evaluation.json: dataset.version"],
        );
    });

    it("refuses a run record of another spec or artifact", () => {
        const run = { ...trainingRun(), version: "1.0.0", artifact_sha256: "0".repeat(64) };
        assert.deepEqual(
            problems(() => cardFromEvaluation({ evaluation: evaluation(), trainingRun: run, build: BUILD })),
            ["training-run.json: model, version", "training-run.json: artifact_sha256"],
        );
    });

    it("the build's facts go through the card schema: a short sha or a tag instead of a digest is named", () => {
        assert.deepEqual(
            problems(() =>
                cardFromEvaluation({ evaluation: evaluation(), trainingRun: trainingRun(), build: { ...BUILD, gitSha: "8aa5dba", digest: "v2.2.0-8aa5dba" } }),
            ),
            ["gitSha", "image.digest"],
        );
    });
});

describe("release/modelCard: whether a card describes an image", () => {
    const card = cardFromEvaluation({ evaluation: evaluation(), trainingRun: trainingRun(), build: BUILD });
    const image = { model: "sentiment", version: "2.2.0", digest: BUILD.digest, gitSha: "8aa5dba" };

    it("the same digest, model, version and commit: no problem", () => {
        assert.deepEqual(cardMismatches(card, image), []);
    });

    it("another digest, model, version or commit is each named", () => {
        const other = { model: "summarizer", version: "2.2.1", digest: `sha256:${"1".repeat(64)}`, gitSha: "1234567" };
        assert.deepEqual(
            cardMismatches(card, other).map((i) => i.path),
            ["image.digest", "model", "version", "gitSha"],
        );
    });

    it("a model with a weights artifact: the card names it (weights.digest, from the build's facts) and must match it", () => {
        const weightsDigest = `sha256:${"2".repeat(64)}`;
        const weightsCard = cardFromEvaluation({ evaluation: evaluation(), trainingRun: trainingRun(), build: { ...BUILD, weightsDigest } });
        assert.deepEqual(weightsCard.weights, { digest: weightsDigest });
        assert.deepEqual(cardMismatches(weightsCard, { ...image, weightsDigest }), []);
        // promote's gate gives the weights alone: the same weights' card holds with another server build.
        assert.deepEqual(cardMismatches(weightsCard, { model: "sentiment", version: "2.2.0", weightsDigest }), []);
        assert.deepEqual(
            cardMismatches(weightsCard, { ...image, weightsDigest: `sha256:${"3".repeat(64)}` }).map((i) => `${i.path}: ${i.reason}`),
            [`weights.digest: is not the weights artifact's digest sha256:${"3".repeat(64)}`],
        );
        assert.deepEqual(
            cardMismatches(card, { ...image, weightsDigest }).map((i) => `${i.path}: ${i.reason}`),
            [`weights.digest: is required: the model mounts the weights artifact ${weightsDigest}`],
        );
        assert.deepEqual(
            cardMismatches(weightsCard, image).map((i) => `${i.path}: ${i.reason}`),
            ["weights.digest: names a weights artifact, but the model mounts none (its weights are in the image)"],
        );
    });
});
