/**
 * npm run versions (issue #26), the pure parts: the registry listings (release/registryImages.ts) replayed from
 * recorded-shape answers of ECR, Harbor and a distribution registry (tests/fixtures/registry/README.md cites the
 * API references), Harbor's listing against the stub (requests checked against Harbor's swagger), and the versions
 * derived from a listing (release/versions.ts): tags grouped per digest, cosign's and the build cache's left out,
 * newest first, running stacks, the stable --json form, and a stack file's registry.
 */
import { strict as assert } from "assert";
import { DescribeImagesCommand } from "@aws-sdk/client-ecr";
import { ecrImages, harborImages, ociImages, ociScheme, RegistryError } from "../../release/registryImages";
import { isVersionTag, pinnedImage, stackRegistry, versionEntries, versionRows, versionsJson, VERSIONS_SCHEMA } from "../../release/versions";
import { closedPort, DIGESTS, fakeDistributionFetch, fakeEcr, fakeHarborFetch, Recorded } from "../helpers/registryFixtures";
import { HARBOR_SWAGGER, HarborStub } from "../../support/harborStub";
import { needsReference } from "../../support/reference";
import { readFleetConfig } from "../../support/stackFile";
import { MODEL_CARD_SCHEMA } from "../../domain/card/modelCard";

const SIG_TAG = `sha256-${DIGESTS.v214.slice(7)}.sig`;

describe("versions: registry listings (recorded-shape answers)", () => {
    it("ECR: DescribeRepositories for the URI, then every DescribeImages page (nextToken); tags and push times per digest", async () => {
        const ecr = fakeEcr();
        const listing = await ecrImages(ecr, { region: "us-west-2", repositoryName: "model-fleet/sentiment" });
        assert.equal(listing.repository, "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment");
        const pages = ecr.calls.filter((c) => c instanceof DescribeImagesCommand);
        assert.deepEqual(
            pages.map((c) => [c.input.repositoryName, c.input.maxResults, c.input.nextToken]),
            [
                ["model-fleet/sentiment", 1000, undefined],
                ["model-fleet/sentiment", 1000, "eyJvZmZzZXQiOjR9"],
            ],
        );
        assert.equal(listing.images.length, 8);
        const v212 = listing.images.find((i) => i.digest === DIGESTS.v212)!;
        assert.deepEqual(v212, {
            digest: DIGESTS.v212,
            tags: ["v2.1.2-1234567", "rollback-2.1.2-1234567"],
            pushedAt: "2026-10-01T08:00:00.000Z",
            pushedAtSource: "ECR imagePushedAt",
        });
        assert.deepEqual(listing.images.find((i) => i.digest === DIGESTS.untagged)!.tags, []);
    });

    it("ECR: a missing repository, and missing credentials, are one readable RegistryError", async () => {
        const missing = {
            send: async () => Promise.reject(Object.assign(new Error("The repository does not exist"), { name: "RepositoryNotFoundException" })),
        };
        await assert.rejects(ecrImages(missing as any, { region: "us-west-2", repositoryName: "model-fleet/x" }), (e: any) => {
            assert.ok(e instanceof RegistryError);
            assert.match(e.message, /ECR repository model-fleet\/x \(us-west-2\) does not exist/);
            return true;
        });
        const noCreds = { send: async () => Promise.reject(Object.assign(new Error("Could not load credentials"), { name: "CredentialsProviderError" })) };
        await assert.rejects(
            ecrImages(noCreds as any, { region: "us-west-2", repositoryName: "model-fleet/x" }),
            /CredentialsProviderError.*ecr:DescribeRepositories/,
        );
    });

    it("Harbor: listArtifacts with tags, the repository URL-encoded twice, basic auth; digest, tag names and push_time", async () => {
        const requests: Recorded[] = [];
        const listing = await harborImages(
            { url: "https://harbor.example.com/", project: "models", repository: "model-fleet/sentiment", username: "robot" },
            { password: "pw" },
            fakeHarborFetch(requests),
        );
        assert.deepEqual(
            requests.map((r) => r.url),
            ["/api/v2.0/projects/models/repositories/model-fleet%252Fsentiment/artifacts?with_tag=true&page=1&page_size=100"],
        );
        assert.equal(requests[0].headers.Authorization, "Basic " + Buffer.from("robot:pw").toString("base64"));
        assert.equal(listing.repository, "harbor.example.com/models/model-fleet/sentiment");
        assert.deepEqual(
            listing.images.map((i) => [i.digest, i.tags, i.pushedAt]),
            [
                [DIGESTS.v220, ["v2.2.0-8aa5dba"], "2026-12-07T03:20:00.000Z"],
                [DIGESTS.buildcache, ["buildcache"], "2026-12-07T03:19:00.000Z"],
                [DIGESTS.v214, ["v2.1.4-5e2c9a1"], "2026-11-20T10:00:00.000Z"],
                [DIGESTS.v213, ["v2.1.3-0ddba11"], "2026-11-01T09:00:00.000Z"],
                [DIGESTS.v212, ["v2.1.2-1234567", "rollback-2.1.2-1234567"], "2026-10-01T08:00:00.000Z"],
                [DIGESTS.untagged, [], "2026-09-01T00:00:00.000Z"],
            ],
        );
    });

    it("distribution: tags/list page by page (Link), a HEAD per version tag for its digest, the config's created as push time", async () => {
        const requests: Recorded[] = [];
        const { repository, fetch } = fakeDistributionFetch(requests);
        const listing = await ociImages(repository, fetch, (t) => !isVersionTag(t));
        assert.equal(listing.repository, "127.0.0.1:15100/model-fleet/sentiment");
        assert.ok(requests.every((r) => r.url.startsWith("/v2/model-fleet/sentiment/")));
        assert.deepEqual(
            requests.filter((r) => r.url.includes("/tags/list")).map((r) => r.url),
            ["/v2/model-fleet/sentiment/tags/list?n=1000", "/v2/model-fleet/sentiment/tags/list?last=rollback-2.1.2-1234567&n=1000"],
        );
        const heads = requests.filter((r) => r.method === "HEAD").map((r) => r.url.split("/").pop());
        assert.deepEqual(
            heads.sort(),
            ["rollback-2.1.2-1234567", "v2.1.2-1234567", "v2.1.3-0ddba11", "v2.1.4-5e2c9a1", "v2.2.0-8aa5dba"],
            "no lookup of cosign or cache tags",
        );
        assert.match(requests.find((r) => r.method === "HEAD")!.headers.Accept, /application\/vnd\.oci\.image\.index\.v1\+json/);
        assert.deepEqual(
            listing.images.map((i) => [i.digest, i.tags, i.pushedAt ?? null, i.pushedAtSource ?? null]),
            [
                [DIGESTS.v212, ["rollback-2.1.2-1234567", "v2.1.2-1234567"], null, null],
                [DIGESTS.v213, ["v2.1.3-0ddba11"], "2026-11-01T09:00:00.000Z", "image config created"],
                [DIGESTS.v214, ["v2.1.4-5e2c9a1"], "2026-11-20T10:00:00.000Z", "image config created"],
                [DIGESTS.v220, ["v2.2.0-8aa5dba"], "2026-12-07T03:20:00.000Z", "image config created"],
            ],
        );
        // The index's platform manifest, not its BuildKit attestation manifest, gives the config.
        assert.ok(requests.some((r) => r.url.endsWith("/manifests/sha256:" + (0xa11).toString(16).padStart(64, "0"))));
        assert.ok(!requests.some((r) => r.url.endsWith("/manifests/sha256:" + (0xa77).toString(16).padStart(64, "0"))));
        assert.match(listing.notes.join("\n"), /records no push time: each image's config `created` stands for it/);
        assert.match(listing.notes.join("\n"), new RegExp(`${DIGESTS.v212}: its image config has no \`created\` time`));
    });

    it("distribution: a placeholder `created` (Go's zero time that crane writes, the epoch) is no push time", async () => {
        for (const placeholder of ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]) {
            const { repository, fetch } = fakeDistributionFetch();
            const edited = (async (input: any, init: any) => {
                const res = await fetch(input, init);
                if (!String(input).includes("/blobs/")) return res;
                return new Response(JSON.stringify({ ...((await res.json()) as object), created: placeholder }), { status: 200 });
            }) as typeof globalThis.fetch;
            const listing = await ociImages(repository, edited, (t) => !isVersionTag(t));
            assert.deepEqual(
                listing.images.map((i) => i.pushedAt),
                [undefined, undefined, undefined, undefined],
            );
            assert.match(listing.notes.join("\n"), /its image config has no `created` time \(only the placeholder (0001|1970)-01-01T00:00:00\.000Z\)/);
        }
    });

    it("distribution: an unreachable registry, a missing repository and an auth challenge are readable errors", async () => {
        const port = await closedPort();
        await assert.rejects(ociImages(`127.0.0.1:${port}/model-fleet/sentiment`), (e: any) => {
            assert.ok(e instanceof RegistryError);
            assert.equal(
                e.message,
                `cannot reach registry 127.0.0.1:${port} (repository model-fleet/sentiment) at http://127.0.0.1:${port} (ECONNREFUSED): is the registry up, and is this its address?`,
            );
            return true;
        });
        const { fetch } = fakeDistributionFetch();
        await assert.rejects(ociImages("127.0.0.1:15100/model-fleet/other", fetch), /the repository does not exist \(HTTP 404/);
        const challenge = (async () => new Response("{}", { status: 401 })) as unknown as typeof globalThis.fetch;
        await assert.rejects(ociImages("registry.example.com/m", challenge), /asks for credentials \(HTTP 401\)/);
    });

    it("plain HTTP only on loopback and .local hosts (go-containerregistry's rule)", () => {
        assert.deepEqual(["127.0.0.1:15100", "localhost:5000", "[::1]:5000", "registry.local", "registry.example.com", "10.0.0.1:5000"].map(ociScheme), [
            "http",
            "http",
            "http",
            "http",
            "https",
            "https",
        ]);
    });
});

describe("versions: Harbor listing against the stub (swagger-checked requests)", function () {
    const stub = new HarborStub();
    before(async function () {
        needsReference(this, HARBOR_SWAGGER);
        await stub.start();
    });
    after(async () => stub.stop());
    afterEach(() => assert.deepEqual(stub.violations, [], "every request must match the Harbor swagger"));

    it("pages through listArtifacts until a short page", async () => {
        for (let i = 0; i < 105; i++) {
            const digest = "sha256:" + i.toString(16).padStart(64, "0");
            const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
            stub.artifacts.set(`models/model-fleet/sentiment@${digest}`, { digest, push_time: at, tags: [{ name: `v1.0.${i}-abcdef0`, push_time: at }] });
        }
        stub.artifacts.set(`models/model-fleet/other@sha256:${"9".repeat(64)}`, {
            digest: "sha256:" + "9".repeat(64),
            push_time: "2026-01-01T00:00:00Z",
            tags: null,
        });
        const listing = await harborImages(
            { url: stub.url, project: "models", repository: "model-fleet/sentiment", username: stub.username },
            { password: stub.password },
        );
        assert.equal(listing.images.length, 105);
        assert.deepEqual(listing.images[0].tags, ["v1.0.104-abcdef0"]);
        const lists = stub.requests.filter((r) => r.path.endsWith("/artifacts"));
        assert.deepEqual(
            lists.map((r) => [r.path, r.query.page, r.query.page_size, r.query.with_tag]),
            [
                ["/api/v2.0/projects/models/repositories/model-fleet%252Fsentiment/artifacts", "1", "100", "true"],
                ["/api/v2.0/projects/models/repositories/model-fleet%252Fsentiment/artifacts", "2", "100", "true"],
            ],
        );
        await assert.rejects(
            harborImages({ url: stub.url, project: "models", repository: "model-fleet/sentiment", username: stub.username }, { password: "wrong" }),
            /HTTP 401: the user admin cannot list it/,
        );
    });
});

const CARD = {
    schema: MODEL_CARD_SCHEMA,
    model: "sentiment",
    version: "2.1.4",
    gitSha: "5e2c9a1" + "0".repeat(33),
    dataset: { name: "digits", version: "scikit-learn==1.9.1", sha256: "f".repeat(64) },
    training: { spec: "digits/1.1.0", startedAt: "2026-11-20T09:00:00+00:00", finishedAt: "2026-11-20T09:00:03+00:00" },
    metrics: { accuracy: 0.9711 },
    split: { sha256: "d".repeat(64), instances: 450 },
    parent: "2.1.3",
    image: { digest: DIGESTS.v214 },
} as const;

describe("versions: from a listing to versions", () => {
    it("groups tags per digest, leaves out cosign's .sig/.att, the build cache and untagged images, newest push first", async () => {
        const listing = await ecrImages(fakeEcr(), { region: "us-west-2", repositoryName: "model-fleet/sentiment" });
        const entries = versionEntries(listing.images);
        assert.deepEqual(
            entries.map((e) => [e.version, e.versionFrom, e.tags, e.releaseTags]),
            [
                ["2.2.0", "tag", ["v2.2.0-8aa5dba"], ["v2.2.0-8aa5dba"]],
                ["2.1.4", "tag", ["v2.1.4-5e2c9a1"], ["v2.1.4-5e2c9a1"]],
                ["2.1.3", "tag", ["v2.1.3-0ddba11"], ["v2.1.3-0ddba11"]],
                ["2.1.2", "tag", ["rollback-2.1.2-1234567", "v2.1.2-1234567"], ["v2.1.2-1234567"]],
            ],
        );
        assert.deepEqual([SIG_TAG, `sha256-${"0".repeat(64)}.att`, "buildcache", "buildcache-arm64"].map(isVersionTag), [false, false, false, false]);
        assert.deepEqual(["rollback-2.1.2-1234567", "prod-2026-11", "v1.0.0-abcdef0"].map(isVersionTag), [true, true, true]);
    });

    it("reads the card of a verified attestation, says where the version comes from, and which stacks run each digest", () => {
        const images = [
            { digest: DIGESTS.v214, tags: ["v2.1.4-5e2c9a1"], pushedAt: "2026-11-20T10:00:00.000Z" },
            { digest: DIGESTS.v213, tags: ["rollback-kept"], pushedAt: "2026-11-01T09:00:00.000Z" },
            { digest: DIGESTS.v212, tags: ["v2.1.2-1234567"], pushedAt: "2026-10-01T08:00:00.000Z" },
        ];
        const entries = versionEntries(images, {
            cards: new Map<string, any>([
                [DIGESTS.v214, { status: "verified", card: CARD }],
                [DIGESTS.v213, { status: "verified", card: { ...CARD, version: "2.1.3", parent: null, image: { digest: DIGESTS.v213 } } }],
                [DIGESTS.v212, { status: "verified", card: { ...CARD, version: "2.0.0", image: { digest: DIGESTS.v212 } } }],
            ]),
            signatures: new Map([[DIGESTS.v214, { status: "verified" as const }]]),
            stacks: [
                { stack: "dev", outputDigest: DIGESTS.v212 },
                { stack: "prod", outputDigest: DIGESTS.v214, configDigest: DIGESTS.v214 },
                { stack: "staging", configDigest: DIGESTS.v214 },
            ],
        });
        assert.deepEqual(
            entries.map((e) => [e.version, e.versionFrom, e.signature.status, e.runningIn]),
            [
                [
                    "2.1.4",
                    "tag+card",
                    "verified",
                    [
                        { stack: "prod", via: "output+config" },
                        { stack: "staging", via: "config" },
                    ],
                ],
                ["2.1.3", "card", "unchecked", []],
                ["2.1.2", "tag≠card", "unchecked", [{ stack: "dev", via: "output" }]],
            ],
        );
        assert.deepEqual(entries[0].card, {
            status: "verified",
            card: {
                version: "2.1.4",
                dataset: { name: "digits", version: "scikit-learn==1.9.1" },
                accuracy: 0.9711,
                trainedAt: "2026-11-20T09:00:03+00:00",
                parent: "2.1.3",
            },
        });
        const rows = versionRows(entries);
        assert.deepEqual(rows[0].slice(0, 4), ["version", "tags", "digest", "pushed"]);
        assert.deepEqual(rows[1].slice(4, 11), [
            "digits scikit-learn==1.9.1",
            "0.9711",
            "2026-11-20",
            "2.1.3",
            "verified",
            "verified",
            "prod, staging (config)",
        ]);
        assert.equal(rows[3][0], "2.1.2 (card: 2.0.0)");
    });

    it("marks the digests a stack mounts as the model's weights artifact, apart from the image it runs", () => {
        const weights = `sha256:${"7".repeat(64)}`;
        const entries = versionEntries(
            [
                { digest: DIGESTS.v214, tags: ["v2.1.4-5e2c9a1"], pushedAt: "2026-11-20T10:00:00.000Z" },
                { digest: weights, tags: ["v2.1.4-8d41f0c"], pushedAt: "2026-11-20T09:00:00.000Z" },
            ],
            {
                stacks: [
                    { stack: "prod", outputDigest: DIGESTS.v214, configDigest: DIGESTS.v214, outputWeightsDigest: weights, configWeightsDigest: weights },
                    { stack: "staging", configDigest: DIGESTS.v214, configWeightsDigest: weights },
                ],
            },
        );
        assert.deepEqual(
            entries.map((e) => [e.digest, e.runningIn]),
            [
                [
                    DIGESTS.v214,
                    [
                        { stack: "prod", via: "output+config" },
                        { stack: "staging", via: "config" },
                    ],
                ],
                [
                    weights,
                    [
                        { stack: "prod", via: "output+config", artifact: "weights" },
                        { stack: "staging", via: "config", artifact: "weights" },
                    ],
                ],
            ],
        );
        assert.deepEqual(
            versionRows(entries).map((r) => r[10]),
            ["running in", "prod, staging (config)", "prod (weights), staging (config, weights)"],
        );
    });

    it("pinnedImage reads the weights a stack file pins (digest, tags, repository)", () => {
        const config = {
            models: [
                {
                    name: "sentiment",
                    version: "2.1.4",
                    image: { digest: DIGESTS.v214 },
                    weights: { digest: DIGESTS.v213, tag: "v2.1.4-8d41f0c", previousTag: "v2.1.3-7c30e0b", repository: "w" },
                },
            ],
        };
        assert.deepEqual(pinnedImage(config, "sentiment").weights, {
            digest: DIGESTS.v213,
            tag: "v2.1.4-8d41f0c",
            previousTag: "v2.1.3-7c30e0b",
            repository: "w",
        });
        assert.equal(pinnedImage({ models: [{ name: "sentiment", image: { digest: DIGESTS.v214 } }] }, "sentiment").weights, undefined);
    });

    it("--json: a stable form, every key present (null when unknown), in a fixed order", () => {
        const [entry] = versionEntries(
            [{ digest: DIGESTS.v214, tags: ["v2.1.4-5e2c9a1"], pushedAt: "2026-11-20T10:00:00.000Z", pushedAtSource: "ECR imagePushedAt" }],
            {
                retention: new Map([[DIGESTS.v214, { status: "protected" as const, why: "priority 1 (tag v2.1.4-5e2c9a1): protect rule" }]]),
                stacks: [{ stack: "prod", configDigest: DIGESTS.v214 }],
            },
        );
        const json = versionsJson({
            model: "sentiment",
            repository: "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment",
            registryStack: "prod",
            stacks: ["prod"],
            evaluatedAt: "2026-12-10T00:00:00.000Z",
            entries: [entry],
            notes: [],
        });
        assert.equal(
            JSON.stringify(json),
            JSON.stringify({
                schema: VERSIONS_SCHEMA,
                model: "sentiment",
                repository: "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment",
                registryStack: "prod",
                stacks: ["prod"],
                evaluatedAt: "2026-12-10T00:00:00.000Z",
                versions: [
                    {
                        version: "2.1.4",
                        versionFrom: "tag",
                        digest: DIGESTS.v214,
                        ref: `123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment@${DIGESTS.v214}`,
                        tags: ["v2.1.4-5e2c9a1"],
                        releaseTags: ["v2.1.4-5e2c9a1"],
                        pushedAt: "2026-11-20T10:00:00.000Z",
                        pushedAtSource: "ECR imagePushedAt",
                        signature: { status: "unchecked", detail: "not checked" },
                        card: { status: "unchecked", detail: "not checked", version: null, dataset: null, accuracy: null, trainedAt: null, parent: null },
                        runningIn: [{ stack: "prod", via: "config", artifact: "image" }],
                        retention: { status: "protected", why: "priority 1 (tag v2.1.4-5e2c9a1): protect rule" },
                    },
                ],
                notes: [],
            }),
        );
    });

    it("a stack file's registry: ECR by region, Harbor by URL and project, external as a plain OCI registry; what it protects by name", () => {
        const prod = readFleetConfig("prod");
        const reg = stackRegistry("prod", prod.config, prod.region, "sentiment");
        assert.deepEqual(reg.location, { kind: "ecr", region: "us-west-2", repositoryName: "model-fleet/sentiment" });
        assert.deepEqual(reg.deployedTags.sentiment, ["v2.1.4-5e2c9a1"]);
        const local = readFleetConfig("local");
        assert.deepEqual(stackRegistry("local", local.config, local.region, "sentiment").location, {
            kind: "harbor",
            url: "https://127.0.0.1:18443",
            project: "models",
            repository: "model-fleet/sentiment",
            username: "admin",
        });
        const external = { registry: { type: "external", externalPrefix: "127.0.0.1:15100/model-fleet" }, models: [] };
        const ext = stackRegistry("x", external, undefined, "sentiment");
        assert.deepEqual([ext.location, ext.retention], [{ kind: "oci", repository: "127.0.0.1:15100/model-fleet/sentiment" }, undefined]);
        const dev = readFleetConfig("dev");
        assert.deepEqual(stackRegistry("dev", dev.config, dev.region, "sentiment", { sentiment: "v2.2.0-8aa5dba" }).deployedTags.sentiment, ["v2.2.0-8aa5dba"]);
        assert.deepEqual(stackRegistry("dev", dev.config, dev.region, "sentiment").builds.includes("sentiment"), true);
        assert.throws(() => stackRegistry("k", { registry: { type: "ecr" } }, undefined, "m"), /registry.type ecr needs aws:region/);
        assert.deepEqual(pinnedImage(prod.config, "sentiment"), {
            declared: true,
            builds: false,
            version: "2.1.4",
            digest: DIGESTS.v214,
            tag: "v2.1.4-5e2c9a1",
            signingKey: "awskms:///arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93",
        });
    });
});
