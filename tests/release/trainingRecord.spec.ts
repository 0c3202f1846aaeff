import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { BuildOfModel, builtModels, cardsFromRecords, TrainingRecordError, trainingRecordExportArgs } from "../../release/trainingRecord";
import { ImageToSign } from "../../release/signing";
import { MODEL_CARD_SCHEMA } from "../../domain/card/modelCard";

const FIXTURES = path.join(__dirname, "..", "fixtures", "card");
const record = (dir: string) => (_model: string, file: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, dir, file), "utf8"));
const SHA = "8aa5dba1c0ffee00112233445566778899aabbcc";
const DIGEST = "sha256:" + "e".repeat(64);
const REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment";
const IMAGE: ImageToSign = { model: "sentiment", version: "2.2.0", ref: `${REPO}@${DIGEST}`, gitSha: "8aa5dba", tag: "v2.2.0-8aa5dba" };
const BUILD: BuildOfModel = {
    model: "sentiment",
    context: "images/model-server",
    dockerfile: "images/model-server/Dockerfile",
    trainingSpec: "digits/1.1.0",
    parent: "2.1.0",
};

function refusal(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof TrainingRecordError, `not a TrainingRecordError: ${e}`);
        return e.message;
    }
    assert.fail("no error");
}

describe("release/trainingRecord: model cards of the images a stack built", () => {
    it("builtModels: the models with image.build, their Dockerfile, training spec and parent (null kept, absent left out)", () => {
        const models = [
            { name: "sentiment", image: { build: { context: "images/model-server/" } }, card: { trainingSpec: "digits/1.1.0", parent: null } },
            { name: "vision", image: { build: { context: "images/vision", dockerfile: "gpu.Dockerfile" } } },
            { name: "promoted", image: { digest: DIGEST } },
        ];
        assert.deepEqual(builtModels(models), [
            { model: "sentiment", context: "images/model-server", dockerfile: "images/model-server/Dockerfile", trainingSpec: "digits/1.1.0", parent: null },
            { model: "vision", context: "images/vision", dockerfile: "images/vision/gpu.Dockerfile" },
        ]);
        assert.deepEqual(builtModels(undefined), []);
    });

    it("exports the training-record stage with the image build's context, Dockerfile, platform, spec and registry cache", () => {
        assert.deepEqual(trainingRecordExportArgs(BUILD, REPO, "/tmp/cards/training/sentiment"), [
            "buildx",
            "build",
            "--file",
            "images/model-server/Dockerfile",
            "--target",
            "training-record",
            "--platform",
            "linux/amd64",
            "--build-arg",
            "TRAINING_SPEC=training/versions/digits/1.1.0.json",
            "--cache-from",
            `type=registry,ref=${REPO}:buildcache`,
            "--output",
            "type=local,dest=/tmp/cards/training/sentiment",
            "images/model-server",
        ]);
        const { trainingSpec: _t, ...noSpec } = BUILD;
        assert.ok(!trainingRecordExportArgs(noSpec, REPO, "/d").includes("--build-arg"), "the Dockerfile's default spec: no build arg, as the image build");
    });

    it("the export matches the Dockerfile: the stage exists and holds the two files the card reads", () => {
        const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "images", "model-server", "Dockerfile"), "utf8");
        assert.match(dockerfile, /^FROM scratch AS training-record$/m);
        assert.match(dockerfile, /^COPY --from=weights \/weights\/evaluation\.json \/weights\/card\.json \/training-record\/training-run\.json \/$/m);
    });

    it("fills each card from a real training record (digits 1.1.0) and the build's facts", () => {
        const cards = cardsFromRecords([IMAGE], [BUILD], SHA, record(""));
        const card = cards.sentiment;
        assert.equal(card.schema, MODEL_CARD_SCHEMA);
        assert.deepEqual(
            [card.model, card.version, card.gitSha, card.image.digest, card.parent, card.training.spec],
            ["sentiment", "2.2.0", SHA, DIGEST, "2.1.0", "digits/1.1.0"],
        );
        assert.equal(card.metrics.accuracy, record("")("", "evaluation.json").metrics.accuracy);
        assert.equal(card.training.startedAt, record("")("", "training-run.json").started_at);
        const { parent: _p, ...noParent } = BUILD;
        assert.equal(cardsFromRecords([IMAGE], [noParent], SHA, record("")).sentiment.parent, "1.0.0", "without models[].card.parent: the training spec's own");
        assert.match(
            refusal(() => cardsFromRecords([IMAGE], [noParent], SHA, record("digits-1.0.0"))),
            /parent is not known/,
            "never guessed",
        );
    });

    it("refuses, writing nothing, and lists every problem: a short or other commit, a missing record, an image the outputs lack", () => {
        assert.match(
            refusal(() => cardsFromRecords([IMAGE], [BUILD], "8aa5dba", record(""))),
            /not a full 40-hex git sha/,
        );
        assert.match(
            refusal(() => cardsFromRecords([IMAGE], [BUILD], "f".repeat(40), record(""))),
            /sentiment: the image was built at 8aa5dba, not at ffffffffffff…/,
        );
        const vision: BuildOfModel = { model: "vision", context: "v", dockerfile: "v/Dockerfile" };
        const msg = refusal(() =>
            cardsFromRecords([IMAGE], [BUILD, vision], SHA, (_m, file) => (file === "evaluation.json" ? record("")("", file) : undefined)),
        );
        assert.match(msg, /sentiment: its training record has no training-run\.json/);
        assert.match(msg, /vision: the stack builds it but its images output has no entry/);
    });

    it("refuses a record of another training: the run record is not the evaluated spec's", () => {
        const mixed = (_m: string, file: string) => (file === "evaluation.json" ? record("")("", file) : record("digits-1.0.0")("", file));
        assert.match(
            refusal(() => cardsFromRecords([IMAGE], [BUILD], SHA, mixed)),
            /training-run\.json: model, version \(digits\/1\.0\.0\) is not the run of the evaluated spec digits\/1\.1\.0/,
        );
    });
});
