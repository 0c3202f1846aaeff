import { strict as assert } from "assert";
import {
    CARD_LABEL_PREFIX,
    cardLabels,
    MODEL_CARD_SCHEMA,
    ModelCard,
    ModelCardError,
    modelCardJson,
    parseModelCard,
    parseModelCardJson,
} from "../../../domain/card/modelCard";

export const VALID_CARD: ModelCard = {
    schema: MODEL_CARD_SCHEMA,
    model: "sentiment",
    version: "2.2.0",
    gitSha: "8aa5dba1c0ffee00112233445566778899aabbcc",
    dataset: { name: "digits", version: "scikit-learn==1.9.1", sha256: "f6d9e39f37dc45d327f6db33428ee58970ccceabb2535a5c179de35886b70443" },
    training: { spec: "digits/1.1.0", startedAt: "2026-12-07T03:15:26.116+00:00", finishedAt: "2026-12-07T03:15:29.270+00:00" },
    metrics: { accuracy: 0.9711111111111111, macroF1: 0.9715154758468874 },
    split: { sha256: "ddc0a3673421a2d78feb2ded9adeb29e8950496655a464fe22d5d36823481ccf", instances: 450 },
    parent: "2.1.0",
    image: { digest: "sha256:e76cd5449f7c40c0f3a91bc86c3d701142febb0d3ccf90c8c4bd37523f4f69ad" },
};

/** The key paths (`  - <path> …` lines) an error names, in order. */
function pathsOf(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof ModelCardError, `not a ModelCardError: ${e}`);
        assert.equal(e.stack, e.message, "printed without a stack trace");
        return e.issues.map((i) => i.path);
    }
    assert.fail("no error");
}

describe("domain/card: the model card schema (model-fleet/model-card-v1)", () => {
    it("accepts a complete card and returns it unchanged; null parent (a first version) and no macroF1 are valid", () => {
        assert.deepEqual(parseModelCard(structuredClone(VALID_CARD)), VALID_CARD);
        const { macroF1: _, ...onlyAccuracy } = VALID_CARD.metrics;
        const first = { ...VALID_CARD, parent: null, metrics: onlyAccuracy };
        assert.deepEqual(parseModelCard(first), first);
        // The JSON written for signing round-trips.
        assert.deepEqual(parseModelCardJson(modelCardJson(VALID_CARD), "card.json"), VALID_CARD);
    });

    it("one error lists every offending key path, with the value and why, under the file's name", () => {
        const bad = {
            ...VALID_CARD,
            schema: "model-fleet/model-card-v0",
            version: "v2.2.0",
            gitSha: "8aa5dba",
            dataset: { name: "digits", sha256: "F6D9" },
            training: { spec: "training/versions/digits/1.1.0.json", startedAt: "yesterday", finishedAt: "2026-12-07T03:15:29" },
            metrics: { accuracy: 1.2, macroF1: -0.1 },
            split: { sha256: VALID_CARD.split.sha256, instances: 0 },
            parent: "latest",
            image: { digest: "e76cd5449f7c40c0f3a91bc86c3d701142febb0d3ccf90c8c4bd37523f4f69ad" },
            accuracy: 0.97,
        };
        let message = "";
        const paths = pathsOf(() => {
            try {
                parseModelCard(bad, "cards/sentiment.card.json");
            } catch (e) {
                message = (e as Error).message;
                throw e;
            }
        });
        assert.deepEqual(paths.sort(), [
            "accuracy",
            "dataset.sha256",
            "dataset.version",
            "gitSha",
            "image.digest",
            "metrics.accuracy",
            "metrics.macroF1",
            "parent",
            "schema",
            "split.instances",
            "training.finishedAt",
            "training.spec",
            "training.startedAt",
            "version",
        ]);
        assert.match(message, /^cards\/sentiment\.card\.json is not a valid model card \(14 problems\):\n/);
        assert.match(message, /^ {2}- gitSha \(8aa5dba\) must be the full 40-hex git sha of the training code$/m);
        assert.match(message, /^ {2}- dataset\.version is required$/m);
        assert.match(message, /^ {2}- accuracy is not a card key$/m);
        assert.match(message, /^ {2}- metrics\.accuracy \(1\.2\) must be in \[0, 1\]$/m);
        assert.match(message, /^ {2}- training\.spec \(training\/versions\/digits\/1\.1\.0\.json\) must be a training spec id <model>\/<semver>/m);
        assert.doesNotMatch(message, /at .*\.ts:\d+/, "no stack frames");
    });

    it("a missing group or metric is named by its path ('is required'), never filled in", () => {
        const { metrics: _m, split: _s, ...noResults } = VALID_CARD;
        assert.deepEqual(pathsOf(() => parseModelCard(noResults)).sort(), ["metrics", "split"]);
        assert.deepEqual(
            pathsOf(() => parseModelCard({ ...VALID_CARD, metrics: { macroF1: 0.9 } })),
            ["metrics.accuracy"],
        );
        assert.deepEqual(
            pathsOf(() => parseModelCard({ ...VALID_CARD, parent: undefined })),
            ["parent"],
        );
    });

    it("refuses a training that finished before it started", () => {
        const training = { ...VALID_CARD.training, finishedAt: "2026-12-07T03:15:20.000Z" };
        assert.deepEqual(
            pathsOf(() => parseModelCard({ ...VALID_CARD, training })),
            ["training.finishedAt"],
        );
    });

    it("a file that is not JSON is one card error, not a SyntaxError with a stack", () => {
        assert.deepEqual(
            pathsOf(() => parseModelCardJson("{ not json", "x.card.json")),
            ["(card)"],
        );
    });
});

describe("domain/card: the card's image labels (io.model-fleet.card.*)", () => {
    it("writes each given scalar field under its key path, the schema beside them, never the image digest", () => {
        const { image: _image, ...rest } = VALID_CARD;
        const labels = cardLabels(rest);
        assert.deepEqual(labels, {
            "io.model-fleet.card.dataset.name": "digits",
            "io.model-fleet.card.dataset.sha256": VALID_CARD.dataset.sha256,
            "io.model-fleet.card.dataset.version": "scikit-learn==1.9.1",
            "io.model-fleet.card.gitSha": VALID_CARD.gitSha,
            "io.model-fleet.card.metrics.accuracy": "0.9711111111111111",
            "io.model-fleet.card.metrics.macroF1": "0.9715154758468874",
            "io.model-fleet.card.model": "sentiment",
            "io.model-fleet.card.parent": "2.1.0",
            "io.model-fleet.card.schema": MODEL_CARD_SCHEMA,
            "io.model-fleet.card.split.instances": "450",
            "io.model-fleet.card.split.sha256": VALID_CARD.split.sha256,
            "io.model-fleet.card.training.finishedAt": VALID_CARD.training.finishedAt,
            "io.model-fleet.card.training.spec": "digits/1.1.0",
            "io.model-fleet.card.training.startedAt": VALID_CARD.training.startedAt,
            "io.model-fleet.card.version": "2.2.0",
        });
        assert.ok(Object.keys(labels).every((k) => k.startsWith(CARD_LABEL_PREFIX)));
    });

    it("writes only what the build knows: unknown fields get no label, a null parent is 'none', nothing known is no labels at all", () => {
        assert.deepEqual(cardLabels({ model: "sentiment", version: "2.2.0", training: { spec: "digits/1.0.0" }, parent: null }), {
            "io.model-fleet.card.model": "sentiment",
            "io.model-fleet.card.parent": "none",
            "io.model-fleet.card.schema": MODEL_CARD_SCHEMA,
            "io.model-fleet.card.training.spec": "digits/1.0.0",
            "io.model-fleet.card.version": "2.2.0",
        });
        assert.deepEqual(cardLabels({}), {});
    });
});
