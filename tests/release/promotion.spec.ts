import { strict as assert } from "assert";
import * as YAML from "yaml";
import { parseConfig } from "../../config/load";
import { ModelImage } from "../../components/image/ModelImage";
import {
    applyConfigSets,
    configSetArgs,
    imageRecordFor,
    modelsFromStackFile,
    parseConfigPath,
    planPromotion as planPromotionOf,
    PromotionError,
    PromotionPlan,
    PromotionSource,
    weightsCandidate,
} from "../../release/promotion";
import { fleetConfigOf, PROJECT, readStackDocument } from "../../support/stackFile";
import { runProgram, unwrap } from "../../support/harness";

/** dev's signing key (Pulumi.prod.yaml records it next to every promoted digest). */
const DEV_KEY = "awskms:///arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93";
/** Promotions as `npm run promote` plans them: with the source's signing key (dev's, unless a case says otherwise). */
const planPromotion = (req: Parameters<typeof planPromotionOf>[0]) => planPromotionOf({ signingKey: DEV_KEY, ...req });

const DEV_REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/sentiment";
const NEW_DIGEST = "sha256:" + "1111222233334444".repeat(4);
const OLD_DIGEST = "sha256:" + "aaaabbbbccccdddd".repeat(4);

/** What `pulumi stack output --stack dev --json images` prints. */
const devImages = {
    sentiment: { version: "2.2.0", tag: "v2.2.0-a1b2c3d", digest: NEW_DIGEST, ref: `${DEV_REPO}@${NEW_DIGEST}` },
    summarizer: {
        version: "1.4.0",
        tag: "v1.4.0-a1b2c3d",
        digest: OLD_DIGEST,
        ref: `123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/summarizer@${OLD_DIGEST}`,
    },
};

function fromDev(images: unknown = devImages): PromotionSource {
    return { kind: "stack", stack: "dev", images };
}

/** Validates a stack document the way the program does (schema + cross-checks); throws ConfigError when invalid. */
function validateStackDoc(doc: Record<string, any>, stack: string) {
    return parseConfig(fleetConfigOf(doc), {
        project: PROJECT,
        stack,
        region: doc.config["aws:region"],
        env: {},
        git: () => {
            throw new Error("a promotion target must not need git: it never builds");
        },
    });
}

describe("promotion by digest", () => {
    const prodDoc = readStackDocument("prod");
    const prodModels = modelsFromStackFile(prodDoc, "prod");
    const sentimentIndex = prodModels.findIndex((m: any) => m.name === "sentiment");
    const prodSentiment = prodModels[sentimentIndex] as any;

    it("the prod stack file is a valid promotion target (all digests, validates as is)", () => {
        assert.ok(sentimentIndex >= 0);
        assert.ok(prodModels.every((m: any) => typeof m.image.digest === "string" && m.image.build === undefined));
        validateStackDoc(prodDoc, "prod");
    });

    describe("dev → prod", () => {
        let plan: PromotionPlan;
        before(() => {
            plan = planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: fromDev() });
        });

        it("sets the digest, then the version, with pulumi config set --path on the prod stack", () => {
            assert.deepEqual(plan.commands, [
                ["config", "set", "--path", `models[${sentimentIndex}].image.digest`, NEW_DIGEST, "--stack", "prod"],
                ["config", "set", "--path", `models[${sentimentIndex}].version`, "2.2.0", "--stack", "prod"],
                ["config", "set", "--path", `models[${sentimentIndex}].image.tag`, "v2.2.0-a1b2c3d", "--stack", "prod"],
                ["config", "set", "--path", `models[${sentimentIndex}].image.previousTag`, prodSentiment.image.tag, "--stack", "prod"],
            ]);
            assert.deepEqual(plan.sets, [
                { path: `models[${sentimentIndex}].image.digest`, value: NEW_DIGEST },
                { path: `models[${sentimentIndex}].version`, value: "2.2.0" },
                { path: `models[${sentimentIndex}].image.tag`, value: "v2.2.0-a1b2c3d" },
                // The image it replaces stays protected: the canary's abort target and the rollback target.
                { path: `models[${sentimentIndex}].image.previousTag`, value: prodSentiment.image.tag },
            ]);
        });
        it("classifies the change and carries the source's tag and ref", () => {
            assert.equal(plan.kind, "upgrade");
            assert.deepEqual(plan.current, {
                version: prodSentiment.version,
                digest: prodSentiment.image.digest,
                tag: prodSentiment.image.tag,
                previousTag: undefined,
                signingKey: DEV_KEY,
                overrideDigest: undefined,
                regressionOverrideDigest: undefined,
            });
            // dev mounts no weights artifact: the target runs the image alone too (weights: null removes any).
            assert.deepEqual(plan.next, { ...devImages.sentiment, weights: null });
            assert.equal(plan.origin, "stack dev");
        });
        it("prints a diff old → new", () => {
            assert.equal(
                plan.diff,
                [
                    `stack prod: model "sentiment" (model-fleet:models[${sentimentIndex}]) ← stack dev (tag v2.2.0-a1b2c3d)`,
                    `- version: ${prodSentiment.version}`,
                    "+ version: 2.2.0",
                    `- image.digest: ${prodSentiment.image.digest}`,
                    `+ image.digest: ${NEW_DIGEST}`,
                    `- image.tag: ${prodSentiment.image.tag}`,
                    "+ image.tag: v2.2.0-a1b2c3d",
                    `  image.previousTag: ${prodSentiment.image.tag} (kept as the rollback target)`,
                ].join("\n"),
            );
        });
        it("applied to Pulumi.prod.yaml, the config re-validates and pins exactly the new digest and version", () => {
            const updated = applyConfigSets(prodDoc, plan.sets);
            // Round-trip through YAML text, as the file on disk would be.
            const reparsed = YAML.parse(YAML.stringify(updated));
            const cfg = validateStackDoc(reparsed, "prod");
            const model = cfg.models.find((m) => m.name === "sentiment")!;
            assert.equal(model.version, "2.2.0");
            assert.deepEqual(model.image, { digest: NEW_DIGEST, tag: "v2.2.0-a1b2c3d", previousTag: prodSentiment.image.tag, signingKey: DEV_KEY });
            // Nothing else moved.
            const before = modelsFromStackFile(prodDoc, "prod");
            const after = modelsFromStackFile(reparsed, "prod");
            assert.equal(after.length, before.length);
            after.forEach((m: any, i) => {
                if (i !== sentimentIndex) assert.deepEqual(m, before[i]);
                else assert.deepEqual({ ...m, version: prodSentiment.version, image: prodSentiment.image }, before[i]);
            });
            assert.deepEqual({ ...reparsed.config, "model-fleet:models": null }, { ...prodDoc.config, "model-fleet:models": null });
            assert.notEqual(prodSentiment.image.digest, NEW_DIGEST, "the input document is not modified");
        });
        it("re-running it is a no-op", () => {
            const updated = applyConfigSets(prodDoc, plan.sets);
            const again = planPromotion({ model: "sentiment", target: { stack: "prod", models: modelsFromStackFile(updated, "prod") }, source: fromDev() });
            assert.equal(again.kind, "none");
            assert.deepEqual(again.commands, []);
            assert.match(again.diff, /already at version 2\.2\.0, sha256:1111/);
        });
    });

    describe("rollback and explicit digests", () => {
        it("rolls back with --digest/--version: same operation, older digest, flagged as a downgrade", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodModels },
                source: { kind: "explicit", digest: OLD_DIGEST, version: "2.0.9" },
            });
            assert.equal(plan.kind, "downgrade");
            assert.deepEqual(plan.commands, [
                ["config", "set", "--path", `models[${sentimentIndex}].image.digest`, OLD_DIGEST, "--stack", "prod"],
                ["config", "set", "--path", `models[${sentimentIndex}].version`, "2.0.9", "--stack", "prod"],
                // The old release tag named the image being replaced: it goes, so retention stops pinning it.
                ["config", "rm", "--path", `models[${sentimentIndex}].image.tag`, "--stack", "prod"],
                ["config", "set", "--path", `models[${sentimentIndex}].image.previousTag`, prodSentiment.image.tag, "--stack", "prod"],
            ]);
            assert.match(plan.diff, /← explicit digest\n/);
            assert.match(plan.diff, /note: 2\.1\.4 → 2\.0\.9 is a downgrade \(rollback\)/);
            validateStackDoc(applyConfigSets(prodDoc, plan.sets), "prod");
        });
        it("a same-version rebuild only changes the digest and says so", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodModels },
                source: { kind: "explicit", digest: NEW_DIGEST, version: prodSentiment.version },
            });
            assert.equal(plan.kind, "redeploy");
            assert.deepEqual(plan.sets, [
                { path: `models[${sentimentIndex}].image.digest`, value: NEW_DIGEST },
                { path: `models[${sentimentIndex}].image.tag`, value: undefined },
                { path: `models[${sentimentIndex}].image.previousTag`, value: prodSentiment.image.tag },
            ]);
            assert.match(plan.diff, /same version .*different image/);
        });
        it("each promotion hands the replaced release to previousTag", () => {
            const first = planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: fromDev() });
            const afterFirst = applyConfigSets(prodDoc, first.sets);
            const second = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: modelsFromStackFile(afterFirst, "prod") },
                source: { kind: "explicit", digest: OLD_DIGEST, version: "2.3.0", tag: "v2.3.0-0badc0d" },
            });
            const cfg = validateStackDoc(applyConfigSets(afterFirst, second.sets), "prod");
            assert.deepEqual(cfg.models[sentimentIndex].image, {
                digest: OLD_DIGEST,
                tag: "v2.3.0-0badc0d",
                previousTag: "v2.2.0-a1b2c3d",
                signingKey: DEV_KEY,
            });
        });
        it("rolls back with --tag too, so the rollback target stays protected from retention", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodModels },
                source: { kind: "explicit", digest: OLD_DIGEST, version: "2.0.9", tag: "v2.0.9-0badc0d" },
            });
            assert.deepEqual(plan.sets[2], { path: `models[${sentimentIndex}].image.tag`, value: "v2.0.9-0badc0d" });
            const cfg = validateStackDoc(applyConfigSets(prodDoc, plan.sets), "prod");
            assert.deepEqual(cfg.models[sentimentIndex].image, {
                digest: OLD_DIGEST,
                tag: "v2.0.9-0badc0d",
                previousTag: prodSentiment.image.tag,
                signingKey: DEV_KEY,
            });
            assert.throws(
                () =>
                    planPromotion({
                        model: "sentiment",
                        target: { stack: "prod", models: prodModels },
                        source: { kind: "explicit", digest: OLD_DIGEST, version: "2.0.9", tag: "v2.1.4-0badc0d" },
                    }),
                /--tag "v2.1.4-0badc0d" is not a release tag v2.0.9-<sha>/,
            );
        });
        for (const [digest, version, err] of [
            ["sha256:1234", "1.0.0", /explicit --digest\/--version: digest "sha256:1234" is malformed/],
            [NEW_DIGEST.toUpperCase(), "1.0.0", /is malformed/],
            [NEW_DIGEST, "v1.0.0", /version "v1.0.0" is not a semver/],
            [NEW_DIGEST, "latest", /version "latest" is not a semver/],
        ] as const) {
            it(`rejects --digest ${digest.slice(0, 12)}… --version ${version}`, () => {
                assert.throws(
                    () => planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: { kind: "explicit", digest, version } }),
                    (e: unknown) => e instanceof PromotionError && err.test(e.message),
                );
            });
        }
    });

    describe("weights artifacts travel with the image", () => {
        const W_OLD = "sha256:" + "0a0b0c0d".repeat(8);
        const W_NEW = "sha256:" + "1e2f3a4b".repeat(8);
        const DEV_WEIGHTS = { digest: W_NEW, tag: "v2.2.0-0f1e2d3", ref: `${DEV_REPO}@${W_NEW}`, repository: "sentiment" };
        const withWeights = (weights: unknown, image: Record<string, unknown> = devImages.sentiment) =>
            fromDev({ ...devImages, sentiment: { ...image, weights } });
        /** prod's models, sentiment mounting `weights`. */
        const prodWith = (weights: Record<string, unknown>, image?: Record<string, unknown>) =>
            prodModels.map((m: any, i) => (i === sentimentIndex ? { ...m, ...(image ? { image: { ...m.image, ...image } } : {}), weights } : m));
        const W = `models[${sentimentIndex}].weights`;

        it("pins the source's weights digest and tag, keeps the replaced weights tag as weights.previousTag, and shows both in the diff", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodWith({ digest: W_OLD, tag: "v2.1.4-8d41f0c" }) },
                source: withWeights(DEV_WEIGHTS),
            });
            assert.equal(plan.kind, "upgrade");
            assert.deepEqual(
                plan.sets.filter((x) => x.path.startsWith(W)),
                [
                    { path: `${W}.digest`, value: W_NEW },
                    { path: `${W}.tag`, value: "v2.2.0-0f1e2d3" },
                    { path: `${W}.previousTag`, value: "v2.1.4-8d41f0c" },
                ],
            );
            assert.deepEqual(plan.current.weights, { digest: W_OLD, tag: "v2.1.4-8d41f0c" });
            const diff = plan.diff.split("\n");
            for (const line of [
                `- weights.digest: ${W_OLD}`,
                `+ weights.digest: ${W_NEW}`,
                "- weights.tag: v2.1.4-8d41f0c",
                "+ weights.tag: v2.2.0-0f1e2d3",
                "  weights.previousTag: v2.1.4-8d41f0c (kept as the rollback target's weights)",
            ])
                assert.ok(diff.includes(line), `diff has ${JSON.stringify(line)}:\n${plan.diff}`);
        });

        it("a weights-only change (same image and version, new weights) is its own kind, not none or retag", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: {
                    stack: "prod",
                    models: prodWith({ digest: W_OLD, tag: "v2.2.0-8d41f0c" }, { digest: NEW_DIGEST, tag: "v2.2.0-a1b2c3d" }).map((m: any, i) =>
                        i === sentimentIndex ? { ...m, version: "2.2.0" } : m,
                    ),
                },
                source: withWeights(DEV_WEIGHTS),
            });
            assert.equal(plan.kind, "weights");
            assert.deepEqual(plan.sets, [
                { path: `${W}.digest`, value: W_NEW },
                { path: `${W}.tag`, value: "v2.2.0-0f1e2d3" },
                { path: `${W}.previousTag`, value: "v2.2.0-8d41f0c" },
            ]);
            assert.match(plan.diff, /note: weights-only release: the same server image with other weights/);
        });

        it("the weights repository is written only when it is not the model's own; a promoted model that gains weights records no previousTag", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodModels },
                source: withWeights({ ...DEV_WEIGHTS, repository: "sentiment-weights", ref: `${DEV_REPO}-weights@${W_NEW}` }),
            });
            assert.deepEqual(
                plan.sets.filter((x) => x.path.startsWith(W)),
                [
                    { path: `${W}.digest`, value: W_NEW },
                    { path: `${W}.tag`, value: "v2.2.0-0f1e2d3" },
                    { path: `${W}.repository`, value: "sentiment-weights" },
                ],
            );
            const back = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodWith({ digest: W_OLD, repository: "sentiment-weights" }) },
                source: withWeights(DEV_WEIGHTS),
            });
            assert.deepEqual(
                back.sets.find((x) => x.path === `${W}.repository`),
                { path: `${W}.repository`, value: undefined },
            );
            assert.ok(back.diff.includes("+ weights.repository: (the model's own)"));
        });

        it("a source without weights removes the target's weights (the source's image has them baked in) and says so", () => {
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: prodWith({ digest: W_OLD, tag: "v2.1.4-8d41f0c" }) },
                source: fromDev(),
            });
            assert.deepEqual(
                plan.sets.filter((x) => x.path.startsWith(W)),
                [{ path: W, value: undefined }],
            );
            assert.deepEqual(
                plan.commands.find((c) => c.includes(W)),
                ["config", "rm", "--path", W, "--stack", "prod"],
            );
            assert.match(plan.diff, new RegExp(`- weights: ${W_OLD} \\(tag v2\\.1\\.4-8d41f0c\\)`));
            assert.match(plan.diff, /note: the source runs the model without a weights artifact .*: the target's weights are removed/);
            const cfg = validateStackDoc(YAML.parse(YAML.stringify(applyConfigSets(prodDoc, plan.sets))), "prod");
            assert.equal(cfg.models[sentimentIndex].weights, undefined);
        });

        it("applied to Pulumi.prod.yaml (with cluster.version 1.35), the promoted weights validate and nothing else moves", () => {
            const doc = JSON.parse(JSON.stringify(prodDoc));
            doc.config["model-fleet:cluster"] = { ...doc.config["model-fleet:cluster"], version: "1.35" };
            doc.config["model-fleet:models"] = prodWith({ digest: W_OLD, tag: "v2.1.4-8d41f0c" });
            const plan = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: doc.config["model-fleet:models"] },
                source: withWeights(DEV_WEIGHTS),
            });
            const cfg = validateStackDoc(YAML.parse(YAML.stringify(applyConfigSets(doc, plan.sets))), "prod");
            assert.deepEqual(cfg.models[sentimentIndex].weights, { digest: W_NEW, tag: "v2.2.0-0f1e2d3", previousTag: "v2.1.4-8d41f0c" });
            const again = planPromotion({
                model: "sentiment",
                target: { stack: "prod", models: modelsFromStackFile(applyConfigSets(doc, plan.sets), "prod") },
                source: withWeights(DEV_WEIGHTS),
            });
            assert.equal(again.kind, "none");
            assert.match(again.diff, new RegExp(`with weights ${W_NEW}: nothing to change`));
        });

        it('explicit --weights-digest/--weights-tag pin weights in the target\'s repository; "none" removes them; none given leaves them', () => {
            const target = { stack: "prod", models: prodWith({ digest: W_NEW, tag: "v2.2.0-0f1e2d3", repository: "sentiment-weights" }) };
            const rollback = planPromotion({
                model: "sentiment",
                target,
                source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3", weights: { digest: W_OLD, tag: "v2.1.3-8d41f0c" } },
            });
            assert.deepEqual(
                rollback.sets.filter((x) => x.path.startsWith(W)),
                [
                    { path: `${W}.digest`, value: W_OLD },
                    { path: `${W}.tag`, value: "v2.1.3-8d41f0c" },
                    { path: `${W}.previousTag`, value: "v2.2.0-0f1e2d3" },
                ],
            );
            const none = planPromotion({ model: "sentiment", target, source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3", weights: "none" } });
            assert.deepEqual(
                none.sets.filter((x) => x.path.startsWith(W)),
                [{ path: W, value: undefined }],
            );
            const kept = planPromotion({ model: "sentiment", target, source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3" } });
            assert.deepEqual(
                kept.sets.filter((x) => x.path.startsWith(W)),
                [],
            );
            assert.match(kept.diff, new RegExp(`  weights: ${W_NEW} \\(left as they are: no weights given with the digest\\)`));
        });

        it("weightsCandidate: the source's ref, or an explicit digest in the target's weights repository (its URL needed when not the model's own)", () => {
            const fromStack = planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: withWeights(DEV_WEIGHTS) });
            assert.deepEqual(weightsCandidate(fromStack, undefined), { digest: W_NEW, ref: DEV_WEIGHTS.ref, tag: "v2.2.0-0f1e2d3", gitSha: "0f1e2d3" });
            const explicit = (weights: Record<string, unknown>) =>
                planPromotion({
                    model: "sentiment",
                    target: { stack: "prod", models: prodWith(weights) },
                    source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3", weights: { digest: W_OLD } },
                });
            assert.deepEqual(weightsCandidate(explicit({ digest: W_NEW }), `${DEV_REPO}/`), { digest: W_OLD, ref: `${DEV_REPO}@${W_OLD}` });
            assert.throws(
                () => weightsCandidate(explicit({ digest: W_NEW, repository: "sentiment-weights" }), undefined),
                /--weights-digest: the target's weights are in repository sentiment-weights, not the model's own: give its URL, --weights-repository/,
            );
            assert.equal(
                weightsCandidate(planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: fromDev() }), DEV_REPO),
                undefined,
            );
        });

        it("refuses a malformed weights entry in the source output (every problem at once) and a malformed --weights-digest/--weights-tag", () => {
            assert.throws(
                () =>
                    planPromotion({
                        model: "sentiment",
                        target: { stack: "prod", models: prodModels },
                        source: withWeights({ digest: "sha256:abc", tag: "latest", ref: `${DEV_REPO}:latest`, repository: "Bad" }),
                    }),
                (e: Error) =>
                    e instanceof PromotionError &&
                    e.message ===
                        `stack dev images.sentiment.weights: digest "sha256:abc" is malformed: expected sha256:<64 lowercase hex>; ref "${DEV_REPO}:latest" is not <repository>@<digest>; tag "latest" is not a release tag v<semver>-<sha>; repository "Bad" is not a repository name`,
            );
            assert.throws(
                () =>
                    planPromotion({
                        model: "sentiment",
                        target: { stack: "prod", models: prodModels },
                        source: withWeights({ ...DEV_WEIGHTS, ref: `${DEV_REPO}@${W_OLD}` }),
                    }),
                new RegExp(`ref "${DEV_REPO}@${W_OLD}" is not <repository>@${W_NEW}`),
            );
            assert.throws(
                () =>
                    planPromotion({
                        model: "sentiment",
                        target: { stack: "prod", models: prodModels },
                        source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3", weights: { digest: "sha256:1" } },
                    }),
                /--weights-digest: digest "sha256:1" is malformed/,
            );
            assert.throws(
                () =>
                    planPromotion({
                        model: "sentiment",
                        target: { stack: "prod", models: prodModels },
                        source: { kind: "explicit", digest: OLD_DIGEST, version: "2.1.3", weights: { digest: W_OLD, tag: "2.1.3" } },
                    }),
                /--weights-tag "2\.1\.3" is not a release tag/,
            );
        });
    });

    describe("refusals", () => {
        const promote = (model: string, images: unknown = devImages, models: unknown = prodModels) =>
            planPromotion({ model, target: { stack: "prod", models }, source: fromDev(images) });

        it("model missing in the source stack's images output", () => {
            assert.throws(
                () => promote("embeddings", { sentiment: devImages.sentiment }),
                /model "embeddings" is not in stack dev's images output \(it has: sentiment\)/,
            );
        });
        it("model missing in the target stack", () => {
            const images = { ...devImages, translator: { ...devImages.sentiment, ref: `${DEV_REPO}@${NEW_DIGEST}` } };
            assert.throws(() => promote("translator", images), /model "translator" is not declared in stack prod .*has: sentiment, summarizer/);
        });
        it("target model configured to build from source (a promotion target never builds)", () => {
            const devModels = modelsFromStackFile(readStackDocument("dev"), "dev");
            assert.throws(
                () => planPromotion({ model: "sentiment", target: { stack: "staging", models: devModels }, source: fromDev() }),
                /refusing to promote into stack staging: model "sentiment" is configured to build from source \(image\.build\)/,
            );
        });
        it("malformed digest in the source output", () => {
            const bad = { sentiment: { ...devImages.sentiment, digest: "sha256:abc" } };
            assert.throws(() => promote("sentiment", bad), /stack dev images\.sentiment: digest "sha256:abc" is malformed/);
        });
        it("a ref that does not carry the digest, or is a tag", () => {
            const mismatch = { sentiment: { ...devImages.sentiment, ref: `${DEV_REPO}@${OLD_DIGEST}` } };
            assert.throws(() => promote("sentiment", mismatch), /ref .* is not <repository>@sha256:1111/);
            const tagged = { sentiment: { ...devImages.sentiment, ref: `${DEV_REPO}:v2.2.0-a1b2c3d` } };
            assert.throws(() => promote("sentiment", tagged), /is not <repository>@/);
        });
        it("a tag whose version disagrees with the entry's version", () => {
            const bad = { sentiment: { ...devImages.sentiment, tag: "v2.1.0-a1b2c3d" } };
            assert.throws(() => promote("sentiment", bad), /tag "v2.1.0-a1b2c3d" is not a release tag v2.2.0-<sha>/);
            const latest = { sentiment: { ...devImages.sentiment, tag: "latest" } };
            assert.throws(() => promote("sentiment", latest), /tag "latest" is not a release tag/);
        });
        it("an images output that is not an object (e.g. a secret)", () => {
            assert.throws(() => promote("sentiment", "[secret]"), /the "images" output is not an object/);
        });
        it("source and target being the same stack", () => {
            assert.throws(() => planPromotion({ model: "sentiment", target: { stack: "dev", models: prodModels }, source: fromDev() }), /same stack \(dev\)/);
        });
        it("a model declared twice in the target", () => {
            assert.throws(() => promote("sentiment", devImages, [prodSentiment, prodSentiment]), /declared 2 times/);
        });
        it("a stack file without a models list", () => {
            assert.throws(() => modelsFromStackFile({ config: { "aws:region": "us-west-2" } }, "prod"), /Pulumi\.prod\.yaml has no model-fleet:models list/);
        });
    });

    describe("config paths", () => {
        it("configSetArgs builds the CLI argument list", () => {
            assert.deepEqual(configSetArgs({ path: "models[2].image.digest", value: NEW_DIGEST }, "prod"), [
                "config",
                "set",
                "--path",
                "models[2].image.digest",
                NEW_DIGEST,
                "--stack",
                "prod",
            ]);
        });
        it("configSetArgs edits a stack file given by path with --config-file (the stack named by the file), not the project's Pulumi.<name>.yaml", () => {
            assert.deepEqual(configSetArgs({ path: "models[0].version", value: "2.1.0" }, "/tmp/x/Pulumi.lineage.yaml"), [
                "config",
                "set",
                "--path",
                "models[0].version",
                "2.1.0",
                "--stack",
                "lineage",
                "--config-file",
                "/tmp/x/Pulumi.lineage.yaml",
            ]);
            assert.deepEqual(configSetArgs({ path: "models[0].image.tag", value: undefined }, "/tmp/x/Pulumi.lineage.yaml").slice(-4), [
                "--stack",
                "lineage",
                "--config-file",
                "/tmp/x/Pulumi.lineage.yaml",
            ]);
        });
        it("parses the --path syntax it emits and rejects anything else", () => {
            assert.deepEqual(parseConfigPath("models[2].image.digest"), ["models", 2, "image", "digest"]);
            assert.deepEqual(parseConfigPath("models[10].version"), ["models", 10, "version"]);
            for (const bad of ["", "[2]", "models..x", "models[x]", "models.", 'a["b"]']) {
                assert.throws(() => parseConfigPath(bad), /unsupported config path/);
            }
        });
        it("applyConfigSets writes under the project namespace and copies the document", () => {
            const doc = { config: { "model-fleet:models": [{ name: "a", image: { digest: OLD_DIGEST } }] } };
            const out = applyConfigSets(doc, [{ path: "models[0].image.digest", value: NEW_DIGEST }]);
            assert.equal(out.config["model-fleet:models"][0].image.digest, NEW_DIGEST);
            assert.equal(doc.config["model-fleet:models"][0].image.digest, OLD_DIGEST);
        });
    });

    describe("ModelImage outputs feed the promotion", () => {
        it("the images entry a built ModelImage exports is accepted as a promotion source", async () => {
            const { result } = await runProgram(async () => {
                const img = new ModelImage("sentiment", {
                    modelName: "sentiment",
                    version: "2.2.0",
                    gitSha: "a1b2c3d4e5f6",
                    source: { build: { context: "images/model-server" } },
                    repositoryUrl: DEV_REPO,
                    treeDirty: false,
                });
                return unwrap({ version: img.version, tag: img.tag, digest: img.digest, ref: img.ref });
            });
            const record = imageRecordFor({ sentiment: result }, "sentiment", "dev");
            assert.equal(record.tag, "v2.2.0-a1b2c3d");
            const plan = planPromotion({ model: "sentiment", target: { stack: "prod", models: prodModels }, source: fromDev({ sentiment: result }) });
            assert.equal(plan.next.digest, result.digest);
            validateStackDoc(applyConfigSets(prodDoc, plan.sets), "prod");
        });
        it("a promoted ModelImage's entry (no tag) can be promoted onwards", async () => {
            const { result } = await runProgram(async () => {
                const img = new ModelImage("sentiment", { modelName: "sentiment", version: "2.2.0", source: { digest: NEW_DIGEST }, repositoryUrl: DEV_REPO });
                return unwrap({ version: img.version, tag: img.tag, digest: img.digest, ref: img.ref });
            });
            assert.deepEqual(imageRecordFor({ sentiment: JSON.parse(JSON.stringify(result)) }, "sentiment", "staging"), {
                version: "2.2.0",
                digest: NEW_DIGEST,
                ref: `${DEV_REPO}@${NEW_DIGEST}`,
            });
        });
    });
});
