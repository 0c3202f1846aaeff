/**
 * What retention does to each image (release/retentionVerdict.ts), on the fixture repository
 * (tests/fixtures/registry/), with the rules the program declares for it, computed by the program's own functions.
 * Expected verdicts are worked out by hand from the upstream rules:
 *  - ECR, Amazon ECR User Guide "Lifecycle policy evaluation rules": the first rule whose tag filter matches claims an
 *    image; a lower count rule still counts claimed images when it ranks (Example A), so a protected image takes one
 *    of the `keepReleases` places;
 *  - Harbor v2, goharbor/harbor `src/pkg/retention/policy/alg/or/processor.go` (retained by any rule, the rest
 *    removed), `rule/latestps/evaluator.go` (newest K by push time), `rule/daysps/evaluator.go` (pushed within N days),
 *    `src/lib/selector/selectors/doublestar/selector.go` (any tag matches; untagged only with `{"untagged": true}`).
 */
import { strict as assert } from "assert";
import { ecrLifecyclePolicy, TAG_PATTERN as COMPONENT_TAG_PATTERN } from "../../components/registry/ecrLifecycle";
import { protectPatterns } from "../../components/registry/protect";
import { retentionBody, retentionPolicyInputs } from "../../components/registry/harbor/provider";
import { TAG_PATTERN } from "../../release/ecrEvaluator";
import { ecrRetentionVerdicts, harborRetentionVerdicts, HarborRetentionBody, retentionVerdicts } from "../../release/retentionVerdict";
import { ecrImages } from "../../release/registryImages";
import { DIGESTS, fakeEcr } from "../helpers/registryFixtures";

const NOW = new Date("2026-12-10T00:00:00Z");
const RETENTION = { keepReleases: 2, untaggedDays: 3, protectTags: ["rollback-*"] };
const DEPLOYED = ["v2.1.4-5e2c9a1"];

async function images() {
    return (await ecrImages(fakeEcr(), { region: "us-west-2", repositoryName: "model-fleet/sentiment" })).images;
}

function statuses(verdicts: Map<string, { status: string; why: string }>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(DIGESTS).map(([name, d]) => [name, verdicts.get(d) ? `${verdicts.get(d)!.status}: ${verdicts.get(d)!.why}` : "-"]),
    );
}

describe("retention verdicts", () => {
    it("the evaluator's pattern alphabet is the one config validation and the lifecycle policy enforce", () => {
        assert.equal(TAG_PATTERN.source, COMPONENT_TAG_PATTERN.source);
    });

    it("ECR: the deployed tag and rollback-* are protected; the release rule counts them among the newest; untagged expire after the days", async () => {
        const policy = ecrLifecyclePolicy({ ...RETENTION, protectTags: protectPatterns(DEPLOYED, RETENTION.protectTags) });
        assert.deepEqual(statuses(ecrRetentionVerdicts(policy, await images(), NOW)), {
            v220: "kept: priority 3 (tag v*): newest 1 of 2 kept",
            v214: "protected: priority 1 (tag v2.1.4-5e2c9a1): protect rule",
            // Third newest v* image: 2.1.4, protected by priority 1, still holds the second place (evaluation rule 4).
            v213: "expires: priority 3 (tag v*): older than the newest 2",
            v212: "protected: priority 2 (tag rollback-*): protect rule",
            sig: "unmatched: no rule selects its tags: never expired",
            att: "unmatched: no rule selects its tags: never expired",
            buildcache: "unmatched: no rule selects its tags: never expired",
            untagged: "expires: priority 4 (untagged images): pushed more than 3 days ago",
        });
    });

    it("ECR: an untagged image pushed within the days is kept until then", () => {
        const policy = ecrLifecyclePolicy(RETENTION);
        const v = ecrRetentionVerdicts(policy, [{ digest: DIGESTS.untagged, tags: [], pushedAt: "2026-12-08T12:00:00Z" }], NOW);
        assert.deepEqual(v.get(DIGESTS.untagged), { status: "kept", why: "priority 3 (untagged images): until 2026-12-11" });
    });

    it("Harbor: `always` protects, latestPushedK keeps the newest K of v*, everything pushed within the days is kept, the rest is deleted", async () => {
        const body = retentionBody(
            retentionPolicyInputs({ projectId: 1, keepReleases: 2, protectPatterns: protectPatterns(DEPLOYED, RETENTION.protectTags), untaggedDays: 3 }),
        ) as HarborRetentionBody;
        // Harbor lists cosign signatures as accessories, not artifacts: the fixture's Harbor listing has none.
        const harborImages = (await images()).filter((i) => i.digest !== DIGESTS.sig && i.digest !== DIGESTS.att);
        assert.deepEqual(statuses(harborRetentionVerdicts(body, harborImages, NOW)), {
            v220: "kept: retain the 2 most recently pushed (matches v*): newest 1 of 2",
            v214: "protected: retain always (matches v2.1.4-5e2c9a1)",
            v213: "expires: no rule retains it: the next retention run deletes it",
            v212: "protected: retain always (matches rollback-*)",
            sig: "-",
            att: "-",
            buildcache: "kept: retain pushed within 3 days (matches **): until 2026-12-10",
            untagged: "expires: no rule retains it: the next retention run deletes it",
        });
    });

    it("Harbor: an untagged artifact is selected only by a selector whose extras say untagged (doublestar selector)", () => {
        const untagged = [{ digest: DIGESTS.untagged, tags: [], pushedAt: "2026-12-09T00:00:00Z" }];
        const body = (extras: string): HarborRetentionBody => ({
            algorithm: "or",
            rules: [
                { action: "retain", template: "always", params: {}, tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: "**", extras }] },
            ],
        });
        assert.equal(harborRetentionVerdicts(body(JSON.stringify({ untagged: false })), untagged, NOW).get(DIGESTS.untagged)!.status, "expires");
        assert.equal(harborRetentionVerdicts(body(JSON.stringify({ untagged: true })), untagged, NOW).get(DIGESTS.untagged)!.status, "protected");
    });

    it("without a push time nothing can be ranked: every verdict is unknown; an external registry is unmanaged", async () => {
        const list = [...(await images()), { digest: "sha256:" + "0".repeat(64), tags: ["v0.1.0-abcdef0"] }];
        const v = ecrRetentionVerdicts(ecrLifecyclePolicy(RETENTION), list, NOW);
        assert.deepEqual([...new Set([...v.values()].map((x) => x.status))], ["unknown"]);
        assert.match(v.get(DIGESTS.v220)!.why, /no push time for 1 of 9 images/);
        const none = retentionVerdicts({ kind: "none", why: "registry.type external" }, list, NOW);
        assert.deepEqual(none.get(DIGESTS.v220), { status: "unmanaged", why: "registry.type external" });
    });
});
