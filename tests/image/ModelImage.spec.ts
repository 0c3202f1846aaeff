import { strict as assert } from "assert";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { byType, MockResource, runProgram, runStack, unwrap } from "../../support/harness";
import { ModelImage, ModelImageArgs, MODEL_IMAGE_TYPE } from "../../components/image/ModelImage";
import { isDigestRef } from "../../domain/image/tag";

const FULL_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const PROMOTED = "sha256:" + "fedcba9876543210".repeat(4);
const REGION = "eu-west-1";
const REPO = `123456789012.dkr.ecr.${REGION}.amazonaws.com/model-fleet/sentiment`;
const IMAGE_TYPE = "docker-build:index:Image";

type Outputs = { ref: string; digest: string; tag: string | undefined; version: string; repositoryUrl: string; built: boolean };

/** Declares the model's ECR repository and auth the way the program does, then the ModelImage. */
async function declare(args: Partial<ModelImageArgs>): Promise<{ resources: MockResource[]; out: Outputs }> {
    const { resources, result } = await runProgram(
        async () => {
            const repo = new aws.ecr.Repository("sentiment-repo", { name: "model-fleet/sentiment" });
            const token = aws.ecr.getAuthorizationTokenOutput({ registryId: repo.registryId });
            const image = new ModelImage("sentiment", {
                modelName: "sentiment",
                version: "2.1.4",
                gitSha: FULL_SHA,
                source: { build: { context: "images/model-server" } },
                repositoryUrl: repo.repositoryUrl,
                registry: { username: token.userName, password: token.password },
                sourceUrl: "https://github.com/acme/model-fleet",
                requireCleanTree: true,
                treeDirty: false,
                ...args,
            });
            return {
                ref: await unwrap(image.ref),
                digest: await unwrap(image.digest),
                tag: await unwrap(image.tag),
                version: await unwrap(image.version),
                repositoryUrl: await unwrap(image.repositoryUrl),
                built: image.built,
            };
        },
        { region: REGION },
    );
    return { resources, out: result };
}

describe("ModelImage", () => {
    describe("building from source", () => {
        let resources: MockResource[];
        let out: Outputs;
        let image: MockResource;
        before(async () => {
            ({ resources, out } = await declare({}));
            const images = byType(resources, IMAGE_TYPE);
            assert.equal(images.length, 1, "exactly one docker-build Image");
            image = images[0];
        });

        it("registers the component with its type token and parents the build to it", () => {
            const comp = byType(resources, MODEL_IMAGE_TYPE);
            assert.equal(comp.length, 1);
            assert.equal(comp[0].name, "sentiment");
            assert.equal(image.name, "sentiment-image");
            assert.ok(image.urn.includes(IMAGE_TYPE));
            assert.equal(image.parent, comp[0].urn, "the build is the component's child");
        });
        it("tags the push v<semver>-<short sha> in the model's repository, never latest", () => {
            assert.deepEqual(image.inputs.tags, [`${REPO}:v2.1.4-a1b2c3d`]);
            assert.equal(out.tag, "v2.1.4-a1b2c3d");
            assert.ok(!JSON.stringify(image.inputs.tags).includes("latest"));
        });
        it("pushes a linux/amd64 image built from the context's Dockerfile", () => {
            assert.equal(image.inputs.push, true);
            assert.deepEqual(image.inputs.platforms, ["linux/amd64"]);
            assert.deepEqual(image.inputs.context, { location: "images/model-server" });
            assert.deepEqual(image.inputs.dockerfile, { location: "images/model-server/Dockerfile" });
        });
        it("passes MODEL_VERSION and GIT_SHA build args (a CPU model: the Dockerfile's default VARIANT=cpu)", () => {
            assert.deepEqual(image.inputs.buildArgs, { MODEL_VERSION: "2.1.4", GIT_SHA: "a1b2c3d" });
        });
        it("builds the GPU variant (VARIANT=gpu: onnxruntime-gpu and the CUDA wheels) for a model with gpu:", async () => {
            const { resources: gpuResources } = await declare({ gpu: true });
            const [gpuImage] = byType(gpuResources, IMAGE_TYPE);
            assert.deepEqual(gpuImage.inputs.buildArgs, { MODEL_VERSION: "2.1.4", GIT_SHA: "a1b2c3d", VARIANT: "gpu" });
            assert.deepEqual(gpuImage.inputs.dockerfile, image.inputs.dockerfile, "the same Dockerfile, another variant");
            const { resources: cpuResources } = await declare({ gpu: false });
            assert.deepEqual(byType(cpuResources, IMAGE_TYPE)[0].inputs.buildArgs, image.inputs.buildArgs);
        });
        it("sets the OCI labels, the model card's labels it knows (model, version, full commit), and nothing time-varying", () => {
            assert.deepEqual(image.inputs.labels, {
                "org.opencontainers.image.version": "2.1.4",
                "org.opencontainers.image.revision": "a1b2c3d",
                "org.opencontainers.image.source": "https://github.com/acme/model-fleet",
                "org.opencontainers.image.title": "sentiment",
                "io.model-fleet.card.schema": "model-fleet/model-card-v1",
                "io.model-fleet.card.model": "sentiment",
                "io.model-fleet.card.version": "2.1.4",
                "io.model-fleet.card.gitSha": FULL_SHA,
            });
            assert.ok(!("org.opencontainers.image.created" in image.inputs.labels));
            assert.ok(!/\d{4}-\d{2}-\d{2}T/.test(JSON.stringify(image.inputs)), "no timestamp in any input");
        });
        it("uses a max-mode registry cache on the buildcache tag, ECR-compatible", () => {
            assert.deepEqual(image.inputs.cacheFrom, [{ registry: { ref: `${REPO}:buildcache` } }]);
            assert.deepEqual(image.inputs.cacheTo, [{ registry: { ref: `${REPO}:buildcache`, mode: "max", imageManifest: true, ociMediaTypes: true } }]);
        });
        it("authenticates the push with the ECR token, for the repository's registry host", () => {
            // The password is a secret, so the engine receives the whole `registries` value as a secret envelope.
            const SECRET_SIG = "4dabf18193072939515e22adb298388d";
            assert.equal(image.inputs.registries[SECRET_SIG], "1b47061264138c4ac30d75fd1eb44270", "registries is sent as a secret");
            assert.deepEqual(image.inputs.registries.value, [
                { address: `123456789012.dkr.ecr.${REGION}.amazonaws.com`, username: "AWS", password: "mock-token" },
            ]);
        });
        it("keeps pushed release tags when the resource is deleted (retainOnDelete)", async () => {
            // retainOnDelete is a resource option, not an input: observe it with an SDK-side transformation.
            const seen: Record<string, unknown> = {};
            await runProgram(() => {
                new ModelImage(
                    "keep",
                    { modelName: "keep", version: "1.0.0", gitSha: "abcdef0", source: { build: { context: "." } }, repositoryUrl: REPO },
                    {
                        transformations: [
                            (a) => {
                                seen[a.type] = a.opts.retainOnDelete;
                                return undefined;
                            },
                        ],
                    },
                );
            });
            assert.equal(seen[IMAGE_TYPE], true);
        });
        it("outputs the digest form <repository>@sha256:<64hex> from the pushed digest", () => {
            assert.equal(out.digest, image.state.digest);
            assert.equal(out.ref, `${REPO}@${image.state.digest}`);
            assert.ok(isDigestRef(out.ref), out.ref);
            assert.equal(out.version, "2.1.4");
            assert.equal(out.repositoryUrl, REPO);
            assert.equal(out.built, true);
        });
        it("is deterministic: same inputs, same build inputs and digest", async () => {
            const again = await declare({});
            const image2 = byType(again.resources, IMAGE_TYPE)[0];
            assert.deepEqual(image2.inputs, image.inputs);
            assert.equal(again.out.ref, out.ref);
        });
        it("a version bump changes the tag and build args only", async () => {
            const bumped = await declare({ version: "2.1.5" });
            const img = byType(bumped.resources, IMAGE_TYPE)[0];
            assert.deepEqual(img.inputs.tags, [`${REPO}:v2.1.5-a1b2c3d`]);
            assert.equal(img.inputs.buildArgs.MODEL_VERSION, "2.1.5");
            assert.deepEqual(img.inputs.cacheTo, image.inputs.cacheTo);
        });
        it("model card: the config's training spec is labelled and trained (TRAINING_SPEC), its parent labelled; no digest, metric or time label", async () => {
            const { resources: rs } = await declare({ card: { trainingSpec: "digits/1.0.0", parent: "2.1.3" } });
            const img = byType(rs, IMAGE_TYPE)[0];
            assert.deepEqual(img.inputs.buildArgs, { MODEL_VERSION: "2.1.4", GIT_SHA: "a1b2c3d", TRAINING_SPEC: "training/versions/digits/1.0.0.json" });
            const card = Object.fromEntries(Object.entries(img.inputs.labels as Record<string, string>).filter(([k]) => k.startsWith("io.model-fleet.card.")));
            assert.deepEqual(card, {
                "io.model-fleet.card.schema": "model-fleet/model-card-v1",
                "io.model-fleet.card.model": "sentiment",
                "io.model-fleet.card.version": "2.1.4",
                "io.model-fleet.card.gitSha": FULL_SHA,
                "io.model-fleet.card.training.spec": "digits/1.0.0",
                "io.model-fleet.card.parent": "2.1.3",
            });
            // A first version (parent null) says so; a short sha is the revision label's only (the card's is 40 hex).
            const { resources: first } = await declare({ gitSha: "a1b2c3d", card: { parent: null } });
            const labels = byType(first, IMAGE_TYPE)[0].inputs.labels;
            assert.equal(labels["io.model-fleet.card.parent"], "none");
            assert.ok(!("io.model-fleet.card.gitSha" in labels));
            assert.equal(labels["org.opencontainers.image.revision"], "a1b2c3d");
        });
        it("defaults: no explicit registry auth means none is sent (local credential store)", async () => {
            const { resources: rs } = await declare({ registry: undefined, sourceUrl: undefined });
            const img = byType(rs, IMAGE_TYPE)[0];
            assert.deepEqual(img.inputs.registries, []);
            assert.equal(img.inputs.labels["org.opencontainers.image.source"], "https://github.com/example/model-fleet");
        });
    });

    describe("a promoted model (image.digest)", () => {
        it("declares no build and refers to <repositoryUrl>@<digest>", async () => {
            const { resources, out } = await declare({ source: { digest: PROMOTED }, gitSha: undefined, registry: undefined });
            assert.deepEqual(byType(resources, IMAGE_TYPE), [], "no docker-build Image");
            assert.ok(!resources.some((r) => r.type.startsWith("docker")), "no docker resource at all");
            assert.equal(out.ref, `${REPO}@${PROMOTED}`);
            assert.ok(isDigestRef(out.ref));
            assert.equal(out.digest, PROMOTED);
            assert.equal(out.tag, undefined);
            assert.equal(out.built, false);
        });
        it("is deployable even from a dirty tree with requireCleanTree (nothing is built)", async () => {
            const { resources, out } = await declare({ source: { digest: PROMOTED }, treeDirty: true, requireCleanTree: true });
            assert.deepEqual(byType(resources, IMAGE_TYPE), []);
            assert.equal(out.ref, `${REPO}@${PROMOTED}`);
        });
    });

    describe("refusals", () => {
        const args: ModelImageArgs = {
            modelName: "sentiment",
            version: "2.1.4",
            gitSha: FULL_SHA,
            source: { build: { context: "images/model-server" } },
            repositoryUrl: REPO,
            requireCleanTree: true,
            treeDirty: true,
            dirtyPaths: ["images/model-server/app/main.py"],
        };
        it("refuses to build from a dirty tree, synchronously at construction, with a clear message", async () => {
            const { resources } = await runProgram(() => {
                assert.throws(
                    () => new ModelImage("sentiment", args),
                    (e: unknown) =>
                        pulumi.RunError.isInstance(e as Error) &&
                        (e as Error).message ===
                            'ModelImage sentiment: model "sentiment": refusing to build from a dirty git work tree (build.requireCleanTree is set for this stack); ' +
                                "changed: images/model-server/app/main.py. " +
                                "Commit or stash your changes so the image's tag and revision label name the exact source it was built from, " +
                                "or promote an existing digest instead of building.",
                );
            });
            assert.deepEqual(resources, [], "nothing registered: no component, no build");
        });
        it("builds from a dirty tree when requireCleanTree is false (dev)", async () => {
            const { resources } = await declare({ treeDirty: true, requireCleanTree: false, dirtyFingerprint: "0badc0de" });
            const [img] = byType(resources, IMAGE_TYPE);
            assert.match(img.inputs.tags[0], /:v\d+\.\d+\.\d+-[0-9a-f]{7}-dirty\.0badc0de$/, "never the clean release tag");
        });
        it("refuses a build without a git sha", () => {
            assert.throws(() => new ModelImage("s", { ...args, treeDirty: false, gitSha: undefined }), /GIT_SHA or GITHUB_SHA/);
        });
        it("refuses latest and malformed digests", () => {
            assert.throws(() => new ModelImage("s", { ...args, treeDirty: false, version: "latest" }), /never "latest"/);
            assert.throws(() => new ModelImage("s", { ...args, source: { digest: "sha256:abc" } }), /invalid image digest/);
        });
    });
    describe("in the dev stack (index.ts wiring)", () => {
        it("builds the GPU variant for the model with gpu: (sentiment) and the default CPU variant for the other (summarizer)", async function () {
            this.timeout(120_000);
            const { resources } = await runStack("dev");
            const variant = (model: string) => {
                const hits = byType(resources, IMAGE_TYPE).filter((i) => i.inputs.labels["org.opencontainers.image.title"] === model);
                assert.equal(hits.length, 1, model);
                return hits[0].inputs.buildArgs.VARIANT;
            };
            assert.equal(variant("sentiment"), "gpu");
            assert.equal(variant("summarizer"), undefined);
        });
        it("passes a model's card: config to its build (labels and TRAINING_SPEC), and only to that model's", async function () {
            this.timeout(120_000);
            const { resources } = await runStack("dev", {
                editConfig: (config) => {
                    config["model-fleet:models"][0].card = { trainingSpec: "digits/1.0.0", parent: "2.1.0" };
                },
            });
            const byTitle = (model: string) => byType(resources, IMAGE_TYPE).find((i) => i.inputs.labels["org.opencontainers.image.title"] === model)!;
            const sentiment = byTitle("sentiment");
            assert.equal(sentiment.inputs.labels["io.model-fleet.card.training.spec"], "digits/1.0.0");
            assert.equal(sentiment.inputs.labels["io.model-fleet.card.parent"], "2.1.0");
            assert.equal(sentiment.inputs.buildArgs.TRAINING_SPEC, "training/versions/digits/1.0.0.json");
            const summarizer = byTitle("summarizer");
            assert.equal(summarizer.inputs.labels["io.model-fleet.card.model"], "summarizer");
            assert.ok(!("io.model-fleet.card.training.spec" in summarizer.inputs.labels));
            assert.ok(!("TRAINING_SPEC" in summarizer.inputs.buildArgs));
        });
    });
});
