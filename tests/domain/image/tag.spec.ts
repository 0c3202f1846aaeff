import { strict as assert } from "assert";
import { dirtyPaths, GIT_SHORT_SHA_ARGS, isTreeDirty, resolveGitSha } from "../../../domain/image/gitSha";
import { dirtyTreeMessage, ImagePlanError, planModelImage } from "../../../components/image/imagePlan";
import {
    BUILD_CACHE_EXCLUSION_FILTER,
    ECR_EXCLUSION_FILTER_LIMITS,
    ECR_TAG_MUTABILITY_EXCLUSION_FILTERS,
    ecrTagIsMutable,
    ecrWildcardMatches,
    BUILD_CACHE_TAG,
    digestRef,
    isDigest,
    isDigestRef,
    isReleaseTag,
    parseDigestRef,
    parseReleaseTag,
    releaseTag,
    shortSha,
    tagRef,
} from "../../../domain/image/tag";

const FULL_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);
const REPO = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model-fleet/sentiment";

describe("image tag format", () => {
    describe("releaseTag", () => {
        it("formats v<semver>-<7-char sha>", () => {
            assert.equal(releaseTag("2.1.4", "a1b2c3d"), "v2.1.4-a1b2c3d");
        });
        it("normalises a full 40-char sha to 7 lowercase chars", () => {
            assert.equal(releaseTag("2.1.4", FULL_SHA), "v2.1.4-a1b2c3d");
            assert.equal(releaseTag("2.1.4", FULL_SHA.toUpperCase()), "v2.1.4-a1b2c3d");
        });
        it("keeps semver pre-releases", () => {
            assert.equal(releaseTag("3.0.0-rc.1", "abcdef0"), "v3.0.0-rc.1-abcdef0");
        });
        for (const bad of ["latest", "", "v2.1.4", "2.1", "2.1.4+build.5", " 2.1.4", "01.2.3"]) {
            it(`rejects version ${JSON.stringify(bad)}`, () => {
                assert.throws(() => releaseTag(bad, "a1b2c3d"), /version/);
            });
        }
        for (const bad of ["", "latest", "a1b2c3", "g1b2c3d", "a1b2c3d-dirty", "x".repeat(41), "0".repeat(41)]) {
            it(`rejects sha ${JSON.stringify(bad)}`, () => {
                assert.throws(() => releaseTag("1.0.0", bad), /git sha/);
            });
        }
        it("shortSha trims and lowercases", () => {
            assert.equal(shortSha(" ABCDEF0123 \n"), "abcdef0");
        });
    });

    describe("parseReleaseTag", () => {
        it("round-trips releaseTag", () => {
            for (const v of ["0.0.1", "2.1.4", "10.20.30-beta.2", "1.0.0-x-y-z"]) {
                assert.deepEqual(parseReleaseTag(releaseTag(v, FULL_SHA)), { version: v, sha: "a1b2c3d" });
            }
        });
        for (const tag of ["latest", "buildcache", "2.1.4-a1b2c3d", "v2.1.4", "v2.1-a1b2c3d", "v2.1.4-A1B2C3D", "v2.1.4-a1b2c3", "prod-2.1.4"]) {
            it(`is undefined for ${JSON.stringify(tag)}`, () => {
                assert.equal(parseReleaseTag(tag), undefined);
                assert.equal(isReleaseTag(tag), false);
            });
        }
    });

    describe("digest refs", () => {
        it("digestRef builds <repo>@sha256:<64hex>", () => {
            assert.equal(digestRef(REPO, DIGEST), `${REPO}@${DIGEST}`);
            assert.deepEqual(parseDigestRef(`${REPO}@${DIGEST}`), { repository: REPO, digest: DIGEST });
        });
        it("accepts a registry with a port (Harbor)", () => {
            assert.equal(isDigestRef(`harbor.example.com:8443/models/llm@${DIGEST}`), true);
        });
        for (const bad of ["sha256:abc", DIGEST.toUpperCase().replace("SHA256", "sha256"), DIGEST.slice(7), `sha512:${"0".repeat(64)}`, "latest", ""]) {
            it(`digestRef rejects digest ${JSON.stringify(bad.slice(0, 20))}`, () => {
                assert.throws(() => digestRef(REPO, bad), /digest/);
                assert.equal(isDigest(bad), false);
            });
        }
        for (const bad of [`${REPO}:v1.0.0-a1b2c3d`, `${REPO}@${DIGEST}`, "", "Upper/Case"]) {
            it(`digestRef rejects repository ${JSON.stringify(bad.slice(-30))}`, () => {
                assert.throws(() => digestRef(bad, DIGEST), /repository/);
            });
        }
        it("isDigestRef rejects tags, latest and the mixed tag@digest form", () => {
            assert.equal(isDigestRef(`${REPO}@${DIGEST}`), true);
            assert.equal(isDigestRef(`${REPO}:latest`), false);
            assert.equal(isDigestRef(`${REPO}:v2.1.4-a1b2c3d`), false);
            assert.equal(isDigestRef(`${REPO}:v2.1.4-a1b2c3d@${DIGEST}`), false);
            assert.equal(isDigestRef(`${REPO}@sha256:abc`), false);
            assert.equal(isDigestRef("nginx"), false);
        });
        it("tagRef validates the tag", () => {
            assert.equal(tagRef(REPO, "v1.0.0-a1b2c3d"), `${REPO}:v1.0.0-a1b2c3d`);
            assert.throws(() => tagRef(REPO, "-bad"), /tag/);
        });
    });

    describe("build cache tag", () => {
        it("the ECR exclusion filter matches the cache tag and no release tag", () => {
            assert.deepEqual(BUILD_CACHE_EXCLUSION_FILTER, { filterType: "WILDCARD", filter: "buildcache*" });
            const wildcard = new RegExp("^" + BUILD_CACHE_EXCLUSION_FILTER.filter.replace(/\*/g, ".*") + "$");
            assert.ok(wildcard.test(BUILD_CACHE_TAG));
            assert.ok(!wildcard.test(releaseTag("1.0.0", FULL_SHA)));
            assert.equal(isReleaseTag(BUILD_CACHE_TAG), false);
        });
    });

    describe("ECR tag-immutability exclusions (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImageTagMutability.html)", () => {
        const digest = `sha256-${"ab".repeat(32)}`;
        it("cover the cache tag and the tags cosign's legacy format rewrites (sigstore/cosign#3024), and no release or protect tag", () => {
            for (const tag of [BUILD_CACHE_TAG, `${BUILD_CACHE_TAG}-amd64`, `${digest}.sig`, `${digest}.att`]) {
                assert.ok(ecrTagIsMutable(tag, ECR_TAG_MUTABILITY_EXCLUSION_FILTERS), tag);
            }
            for (const tag of [releaseTag("2.1.5", FULL_SHA), "prod-2.1.5", "rollback-2.1.4", digest, `${digest}.sbom`, "latest", "x.sig"]) {
                assert.ok(!ecrTagIsMutable(tag, ECR_TAG_MUTABILITY_EXCLUSION_FILTERS), tag);
            }
        });
        it("stay within ECR's limits: at most 5 filters, WILDCARD, ^[0-9a-zA-Z._*-]{1,128}$", () => {
            assert.ok(ECR_TAG_MUTABILITY_EXCLUSION_FILTERS.length <= ECR_EXCLUSION_FILTER_LIMITS.maxFilters);
            for (const f of ECR_TAG_MUTABILITY_EXCLUSION_FILTERS) {
                assert.equal(f.filterType, "WILDCARD");
                assert.match(f.filter, ECR_EXCLUSION_FILTER_LIMITS.pattern);
            }
        });
        it("a wildcard stands for zero or more characters and the filter matches the whole tag", () => {
            assert.ok(ecrWildcardMatches("buildcache*", "buildcache"));
            assert.ok(ecrWildcardMatches("sha256-*.sig", "sha256-.sig"));
            assert.ok(!ecrWildcardMatches("sha256-*.sig", "xsha256-1.sig"));
            assert.ok(!ecrWildcardMatches("sha256-*.sig", "sha256-1.sig.old"));
            assert.ok(!ecrWildcardMatches("a.b", "axb"), "a dot is literal");
        });
    });
});

describe("git sha resolution", () => {
    const noGit = () => {
        throw new Error("fatal: not a git repository");
    };
    it("prefers GIT_SHA over GITHUB_SHA over git", () => {
        const calls: string[][] = [];
        const git = (args: readonly string[]) => {
            calls.push([...args]);
            return "9999999\n";
        };
        assert.equal(resolveGitSha({ env: { GIT_SHA: "aaaaaaa", GITHUB_SHA: "bbbbbbb" }, git }), "aaaaaaa");
        assert.equal(resolveGitSha({ env: { GITHUB_SHA: FULL_SHA }, git }), "a1b2c3d");
        assert.deepEqual(calls, [], "git is not run when the environment names the commit");
        assert.equal(resolveGitSha({ env: {}, git }), "9999999");
        assert.deepEqual(calls, [[...GIT_SHORT_SHA_ARGS]]);
        assert.deepEqual(GIT_SHORT_SHA_ARGS, ["rev-parse", "--short", "HEAD"]);
    });
    it("treats empty variables as unset", () => {
        assert.equal(resolveGitSha({ env: { GIT_SHA: "", GITHUB_SHA: "  " }, git: () => "cafebab" }), "cafebab");
    });
    it("normalises a longer --short answer (core.abbrev) to 7 chars", () => {
        assert.equal(resolveGitSha({ env: {}, git: () => "a1b2c3d4e5\n" }), "a1b2c3d");
    });
    it("returns undefined when nothing can name the commit", () => {
        assert.equal(resolveGitSha({ env: {}, git: noGit }), undefined);
    });
    it("fails loudly on a malformed GIT_SHA instead of falling through", () => {
        assert.throws(() => resolveGitSha({ env: { GIT_SHA: "latest", GITHUB_SHA: FULL_SHA }, git: noGit }), /GIT_SHA="latest"/);
    });
    it("isTreeDirty reads git status --porcelain", () => {
        assert.equal(isTreeDirty(""), false);
        assert.equal(isTreeDirty("\n"), false);
        assert.equal(isTreeDirty(" M index.ts\n"), true);
        assert.equal(isTreeDirty("?? images/model-server/new.py\n"), true);
        assert.equal(isTreeDirty("R  a.ts -> b.ts"), true);
        assert.deepEqual(dirtyPaths(" M index.ts\n?? x.py\n"), ["index.ts", "x.py"]);
    });
});

describe("planModelImage", () => {
    const build = { build: { context: "images/model-server" } };
    const base = { modelName: "sentiment", version: "2.1.4", gitSha: FULL_SHA, requireCleanTree: true, treeDirty: false };

    it("plans a build with tag, labels and build args, all free of timestamps", () => {
        const plan = planModelImage({ ...base, source: build });
        assert.deepEqual(plan, {
            kind: "build",
            version: "2.1.4",
            gitSha: "a1b2c3d",
            tag: "v2.1.4-a1b2c3d",
            cacheTag: "buildcache",
            contextLocation: "images/model-server",
            dockerfileLocation: "images/model-server/Dockerfile",
            buildArgs: { MODEL_VERSION: "2.1.4", GIT_SHA: "a1b2c3d" },
            labels: {
                "org.opencontainers.image.version": "2.1.4",
                "org.opencontainers.image.revision": "a1b2c3d",
                "org.opencontainers.image.title": "sentiment",
                // The model card's fields known before the build (docs/model-card.md#the-labels).
                "io.model-fleet.card.schema": "model-fleet/model-card-v1",
                "io.model-fleet.card.model": "sentiment",
                "io.model-fleet.card.version": "2.1.4",
                "io.model-fleet.card.gitSha": base.gitSha,
            },
        });
        assert.deepEqual(planModelImage({ ...base, source: build }), plan, "same inputs, same plan");
    });
    it("resolves a dockerfile relative to the context", () => {
        const plan = planModelImage({ ...base, source: { build: { context: "images/x", dockerfile: "gpu.Dockerfile" } } });
        assert.equal(plan.kind === "build" && plan.dockerfileLocation, "images/x/gpu.Dockerfile");
    });
    it("plans a promoted digest with no build", () => {
        assert.deepEqual(planModelImage({ ...base, gitSha: undefined, source: { digest: DIGEST } }), {
            kind: "promoted",
            version: "2.1.4",
            digest: DIGEST,
        });
    });
    it("a promoted digest is deployable from a dirty tree (nothing is built)", () => {
        assert.equal(planModelImage({ ...base, treeDirty: true, source: { digest: DIGEST } }).kind, "promoted");
    });
    it("refuses a dirty tree when a clean one is required", () => {
        assert.throws(
            () => planModelImage({ ...base, treeDirty: true, source: build }),
            (e: unknown) => e instanceof ImagePlanError && e.message === dirtyTreeMessage("sentiment") && /dirty git work tree/.test(e.message),
        );
    });
    it("quotes the changed paths (at most five) in the refusal", () => {
        const paths = ["index.ts", "a.py", "b.py", "c.py", "d.py", "e.py", "f.py"];
        assert.throws(
            () => planModelImage({ ...base, treeDirty: true, dirtyPaths: paths, source: build }),
            /dirty git work tree \(build.requireCleanTree is set for this stack\); changed: index.ts, a.py, b.py, c.py, d.py and 2 more\. Commit or stash/,
        );
    });
    it("builds from a dirty tree when the stack allows it, under a tag that names the changes", () => {
        const plan = planModelImage({ ...base, requireCleanTree: false, treeDirty: true, dirtyFingerprint: "0badc0de", source: build });
        assert.equal(plan.kind, "build");
        assert.match((plan as any).tag, /^v\d+\.\d+\.\d+-[0-9a-f]{7}-dirty\.0badc0de$/);
        assert.throws(
            () => planModelImage({ ...base, requireCleanTree: false, treeDirty: true, source: build }),
            /a build from a dirty work tree needs a fingerprint of the changes for its tag/,
        );
    });
    it("refuses a build without a git sha", () => {
        assert.throws(() => planModelImage({ ...base, gitSha: undefined, source: build }), /GIT_SHA or GITHUB_SHA/);
    });
    it("rejects a malformed promoted digest", () => {
        assert.throws(() => planModelImage({ ...base, source: { digest: "sha256:1234" } }), /model "sentiment": invalid image digest/);
    });
    it("rejects latest as a version", () => {
        assert.throws(() => planModelImage({ ...base, version: "latest", source: build }), /never "latest"/);
    });
    it("rejects a source with both or neither of build and digest", () => {
        assert.throws(() => planModelImage({ ...base, source: { ...build, digest: DIGEST } as any }), /exactly one/);
        assert.throws(() => planModelImage({ ...base, source: {} as any }), /exactly one/);
    });
});

describe("buildTag: dirty builds never reuse a release tag", () => {
    it("is the release tag for a clean tree and adds -dirty.<fingerprint> otherwise", () => {
        const { buildTag, parseReleaseTag } = require("../../../domain/image/tag");
        assert.equal(buildTag("2.2.0", "a1b2c3d"), "v2.2.0-a1b2c3d");
        assert.equal(buildTag("2.2.0", "a1b2c3d", "0badc0de"), "v2.2.0-a1b2c3d-dirty.0badc0de");
        assert.equal(parseReleaseTag(buildTag("2.2.0", "a1b2c3d", "0badc0de")), undefined, "a dirty tag is not a release tag: it cannot be promoted");
        assert.throws(() => buildTag("2.2.0", "a1b2c3d", "xyz"), /dirty fingerprint "xyz" must be 8 lowercase hex/);
    });
});
