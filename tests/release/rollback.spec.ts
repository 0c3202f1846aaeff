/**
 * Which version `npm run rollback` pins (release/rollback.ts `planRollback`), on the fixture repository's versions
 * (tests/fixtures/registry/: 2.2.0, 2.1.4 = what Pulumi.prod.yaml runs, 2.1.3, 2.1.2 kept by a rollback-* tag).
 */
import { strict as assert } from "assert";
import { planRollback, RollbackError, RollbackRequest } from "../../release/rollback";
import { versionEntries } from "../../release/versions";
import { ecrImages } from "../../release/registryImages";
import { DIGESTS, fakeEcr } from "../helpers/registryFixtures";

const RUNNING = { version: "2.1.4", digest: DIGESTS.v214, tag: "v2.1.4-5e2c9a1" };
const HELD_LIST = "2.2.0 (v2.2.0-8aa5dba), 2.1.4 (v2.1.4-5e2c9a1), 2.1.3 (v2.1.3-0ddba11), 2.1.2 (v2.1.2-1234567)";

async function request(over: Partial<RollbackRequest> = {}): Promise<RollbackRequest> {
    const listing = await ecrImages(fakeEcr(), { region: "us-west-2", repositoryName: "model-fleet/sentiment" });
    return { model: "sentiment", stack: "prod", running: RUNNING, builds: false, held: versionEntries(listing.images), ...over };
}

function refused(req: RollbackRequest, message: RegExp | string): void {
    assert.throws(
        () => planRollback(req),
        (e: any) => {
            assert.ok(e instanceof RollbackError, String(e));
            if (typeof message === "string") assert.equal(e.message, message);
            else assert.match(e.message, message);
            return true;
        },
    );
}

describe("planRollback", () => {
    it("defaults to the highest held version below the running one", async () => {
        const plan = planRollback(await request());
        assert.deepEqual(plan, {
            digest: DIGESTS.v213,
            version: "2.1.3",
            tag: "v2.1.3-0ddba11",
            chosenBy: "the highest held version below the running 2.1.4",
            notes: [],
        });
    });

    it("prefers the recorded previousTag (the release the running one replaced) when it is held and older", async () => {
        const plan = planRollback(await request({ running: { ...RUNNING, previousTag: "v2.1.2-1234567" } }));
        assert.deepEqual([plan.version, plan.tag, plan.chosenBy], ["2.1.2", "v2.1.2-1234567", "the release 2.1.4 replaced (image.previousTag v2.1.2-1234567)"]);
    });

    it("ignores a previousTag that is newer (the stack was rolled back before) or no longer held, and says so", async () => {
        const newer = planRollback(await request({ running: { ...RUNNING, previousTag: "v2.2.0-8aa5dba" } }));
        assert.equal(newer.version, "2.1.3");
        assert.deepEqual(newer.notes, ["the recorded previousTag v2.2.0-8aa5dba is not older than the running 2.1.4: not a rollback target"]);
        const gone = planRollback(await request({ running: { ...RUNNING, previousTag: "v2.0.9-abcdef0" } }));
        assert.equal(gone.version, "2.1.3");
        assert.deepEqual(gone.notes, ["the recorded previousTag v2.0.9-abcdef0 is not in the registry any more"]);
    });

    it("--to a version or a release tag the registry holds; it may also go forward", async () => {
        assert.equal(planRollback(await request({ to: "2.1.2" })).digest, DIGESTS.v212);
        const forward = planRollback(await request({ to: "v2.2.0-8aa5dba" }));
        assert.deepEqual([forward.digest, forward.chosenBy], [DIGESTS.v220, "--to v2.2.0-8aa5dba"]);
    });

    it("refuses a version retention no longer holds, naming the versions it holds", async () => {
        refused(
            await request({ to: "2.0.0" }),
            `sentiment 2.0.0 is not in the registry any more (retention expired it, or it was never pushed there): the registry holds: ${HELD_LIST}`,
        );
        refused(await request({ to: "v2.1.3-fffffff" }), /v2\.1\.3-fffffff is not in the registry any more/);
        refused(
            await request({ running: { version: "2.1.2", digest: DIGESTS.v212 } }),
            `the registry holds no version of sentiment older than the running 2.1.2: the registry holds: ${HELD_LIST}`,
        );
    });

    it("refuses the running version, a stack that builds the model, and what is not a version", async () => {
        refused(await request({ to: "2.1.4" }), new RegExp(`^stack prod already runs sentiment 2\\.1\\.4 \\(${DIGESTS.v214}\\): nothing to roll back to`));
        refused(await request({ builds: true }), /^stack prod builds sentiment from source \(image\.build\)/);
        refused(await request({ to: "latest" }), "--to latest is neither a version (2.1.3) nor a release tag (v2.1.3-<sha>)");
        refused(await request({ running: { digest: DIGESTS.v214 } }), /pins no semver version for sentiment: .* give --to <version>/);
    });

    it("one version held as two images: --to needs the tag; the default takes the newest push and names the other", async () => {
        const req = await request();
        const rebuilt = { digest: "sha256:" + "b2".repeat(32), releaseTags: ["v2.1.3-feedbee"], pushedAt: "2026-11-02T09:00:00.000Z" };
        const held = [...req.held, rebuilt];
        refused(
            { ...req, held, to: "2.1.3" },
            /2\.1\.3 is held as 2 different images \(v2\.1\.3-0ddba11, v2\.1\.3-feedbee\): give the release tag, --to <tag>/,
        );
        assert.equal(planRollback({ ...req, held, to: "v2.1.3-0ddba11" }).digest, DIGESTS.v213);
        const plan = planRollback({ ...req, held });
        assert.equal(plan.tag, "v2.1.3-feedbee");
        assert.deepEqual(plan.notes, [
            "2.1.3 is held as several images (v2.1.3-feedbee, v2.1.3-0ddba11): took the newest push, v2.1.3-feedbee; --to <tag> picks another",
        ]);
    });

    it("warns when retention would expire the target before the rollback is applied", async () => {
        const req = await request();
        const held = req.held.map((h) =>
            h.digest === DIGESTS.v213 ? { ...h, retention: { status: "expires" as const, why: "priority 3 (tag v*): older than the newest 2" } } : h,
        );
        assert.match(planRollback({ ...req, held }).notes[0], /^retention would expire v2\.1\.3-0ddba11 at its next run \(priority 3/);
    });

    describe("a model that mounts a weights artifact rolls its weights back with it", () => {
        const W = (n: string) => `sha256:${n.repeat(64)}`;
        /** The weights repository (a `registry.repositories` entry of its own): one artifact per release. */
        const weightsHeld = [
            { digest: W("a"), releaseTags: ["v2.1.4-8d41f0c"] },
            { digest: W("b"), releaseTags: ["v2.1.3-7c30e0b"] },
            { digest: W("c"), releaseTags: ["v2.1.2-6b2fd0a"] },
        ];
        const mounts = (weights: Record<string, string>) => ({
            ...RUNNING,
            previousTag: "v2.1.3-0ddba11",
            weights: { digest: W("a"), tag: "v2.1.4-8d41f0c", repository: "sentiment-weights", ...weights },
        });

        it("to the recorded weights.previousTag, when it is a release of the chosen version", async () => {
            const plan = planRollback(await request({ running: mounts({ previousTag: "v2.1.3-7c30e0b" }), weightsHeld }));
            assert.equal(plan.tag, "v2.1.3-0ddba11");
            assert.deepEqual(plan.weights, { digest: W("b"), tag: "v2.1.3-7c30e0b", chosenBy: "the recorded weights.previousTag v2.1.3-7c30e0b" });
        });

        it("else to the one weights artifact tagged for the chosen version (--to, or a stale previousTag of another version)", async () => {
            const plan = planRollback(await request({ running: mounts({ previousTag: "v2.1.3-7c30e0b" }), weightsHeld, to: "2.1.2" }));
            assert.deepEqual(plan.weights, { digest: W("c"), tag: "v2.1.2-6b2fd0a", chosenBy: "the weights artifact tagged for 2.1.2 (v2.1.2-6b2fd0a)" });
        });

        it("refuses when the weights of the chosen version are not known: none held, several, or the recorded one expired", async () => {
            refused(
                await request({ running: mounts({}), weightsHeld: weightsHeld.slice(0, 1) }),
                /^stack prod mounts weights for sentiment, and the registry holds no weights artifact tagged for 2\.1\.3 \(v2\.1\.3-<sha>\): which weights ran with it is not known\. Roll back explicitly: npm run promote -- --model sentiment --to prod --digest sha256:\w+ --version 2\.1\.3 --tag v2\.1\.3-0ddba11 --weights-digest <sha256:…\|none>$/,
            );
            refused(
                await request({ running: mounts({}), weightsHeld: [...weightsHeld, { digest: W("d"), releaseTags: ["v2.1.3-0000000"] }] }),
                /the registry holds 2 weights artifacts tagged for sentiment 2\.1\.3 \(v2\.1\.3-7c30e0b, v2\.1\.3-0000000\): which ran with it is not known/,
            );
            refused(
                await request({ running: mounts({ previousTag: "v2.1.3-7c30e0b" }), weightsHeld: weightsHeld.slice(0, 1) }),
                /the weights that ran with sentiment 2\.1\.3 \(the recorded weights\.previousTag v2\.1\.3-7c30e0b\) are not in the registry any more/,
            );
        });

        it("weights in the model's own repository: the recorded weights tags are not image versions; an ambiguous version is refused", async () => {
            const listing = await ecrImages(fakeEcr(), { region: "us-west-2", repositoryName: "model-fleet/sentiment" });
            const shared = [...versionEntries(listing.images), { digest: W("b"), releaseTags: ["v2.1.3-7c30e0b"] }];
            const running = { ...RUNNING, previousTag: "v2.1.3-0ddba11", weights: { digest: W("a"), tag: "v2.1.4-8d41f0c", previousTag: "v2.1.3-7c30e0b" } };
            const plan = planRollback(await request({ running, held: shared }));
            assert.deepEqual([plan.digest, plan.tag], [DIGESTS.v213, "v2.1.3-0ddba11"]);
            assert.deepEqual(plan.weights, { digest: W("b"), tag: "v2.1.3-7c30e0b", chosenBy: "the recorded weights.previousTag v2.1.3-7c30e0b" });
            // Unrecorded weights of 2.1.3 beside its image: which digest is the server is not known from tags.
            refused(
                await request({ running: { ...running, previousTag: undefined, weights: { digest: W("a") } }, held: shared, to: "2.1.3" }),
                /sentiment 2\.1\.3 is held as 2 digests \(.*\) in a repository that also holds its weights artifacts: which is the server image is not known from the tags/,
            );
        });

        it("a model without weights gets no weights in its plan", async () => {
            assert.equal(planRollback(await request()).weights, undefined);
        });
    });
});
