import { strict as assert } from "assert";
import {
    LifecyclePolicy,
    LifecycleRule,
    MAX_POLICY_LENGTH,
    PROTECT_COUNT,
    RetentionInput,
    describeRetention,
    ecrLifecyclePolicy,
    retentionProblems,
    validateLifecyclePolicy,
} from "../../components/registry/ecrLifecycle";
import { EcrImage, ecrWildcardMatch, evaluateLifecyclePolicy } from "../../release/ecrEvaluator";
import { prng } from "../../sandbox/rehearsal/exporter";

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date("2026-06-01T00:00:00Z");
const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY);

/**
 * The test's own notion of "matches an ECR pattern", written independently of the evaluator (which uses
 * minimatch): `*` = any run of characters, everything else literal.
 */
function patternRegex(pattern: string): RegExp {
    return new RegExp(
        "^" +
            pattern
                .split("*")
                .map((s) => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"))
                .join(".*") +
            "$",
    );
}

const rule = (r: Partial<LifecycleRule> & { selection: LifecycleRule["selection"] }, prio = 1): LifecycleRule => ({
    rulePriority: prio,
    action: { type: "expire" },
    ...r,
});

describe("registry retention: ecrLifecyclePolicy", () => {
    const retention: RetentionInput = { keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*", "rollback-*"] };

    it("puts one protect rule per pattern at the top priorities, then releases, then untagged", () => {
        const policy = ecrLifecyclePolicy(retention);
        assert.deepEqual(policy, {
            rules: [
                {
                    rulePriority: 1,
                    description: "Protect images tagged prod-* (never expired)",
                    selection: { tagStatus: "tagged", tagPatternList: ["prod-*"], countType: "imageCountMoreThan", countNumber: PROTECT_COUNT },
                    action: { type: "expire" },
                },
                {
                    rulePriority: 2,
                    description: "Protect images tagged rollback-* (never expired)",
                    selection: { tagStatus: "tagged", tagPatternList: ["rollback-*"], countType: "imageCountMoreThan", countNumber: PROTECT_COUNT },
                    action: { type: "expire" },
                },
                {
                    rulePriority: 3,
                    description: "Keep the newest 10 release images (v*)",
                    selection: { tagStatus: "tagged", tagPatternList: ["v*"], countType: "imageCountMoreThan", countNumber: 10 },
                    action: { type: "expire" },
                },
                {
                    rulePriority: 4,
                    description: "Expire untagged images older than 3 days",
                    selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 3 },
                    action: { type: "expire" },
                },
            ],
        });
        assert.ok(PROTECT_COUNT > 10000, "protect count must exceed ECR's default images-per-repository quota");
    });

    it("honours a custom release tag prefix and an empty protect list", () => {
        const policy = ecrLifecyclePolicy({ keepReleases: 1, untaggedDays: 1, protectTags: [] }, { releaseTagPrefix: "release-" });
        assert.equal(policy.rules.length, 2);
        assert.deepEqual(policy.rules[0].selection.tagPatternList, ["release-*"]);
        assert.equal(policy.rules[0].rulePriority, 1);
        assert.equal(policy.rules[1].selection.tagStatus, "untagged");
    });

    it("generates policies that pass the AWS constraint check for many settings", () => {
        const rand = prng(7);
        for (let i = 0; i < 200; i++) {
            const n = Math.floor(rand() * 8);
            const protectTags = Array.from({ length: n }, (_, j) => `p${j}-${"*".repeat(1 + Math.floor(rand() * 4))}`);
            const policy = ecrLifecyclePolicy({ keepReleases: 1 + Math.floor(rand() * 1000), untaggedDays: 1 + Math.floor(rand() * 3650), protectTags });
            assert.deepEqual(validateLifecyclePolicy(policy), [], JSON.stringify(policy));
            assert.deepEqual(JSON.parse(JSON.stringify(policy)), policy, "policy must be plain JSON");
        }
    });

    it("rejects unusable retention settings", () => {
        const bad: Array<[RetentionInput, RegExp]> = [
            [{ keepReleases: 0, untaggedDays: 3, protectTags: [] }, /keepReleases must be an integer ≥ 1/],
            [{ keepReleases: 2.5, untaggedDays: 3, protectTags: [] }, /keepReleases/],
            [{ keepReleases: 5, untaggedDays: 0, protectTags: [] }, /untaggedDays must be an integer ≥ 1/],
            [{ keepReleases: 5, untaggedDays: 3, protectTags: [""] }, /protectTags\[0\] is empty/],
            [{ keepReleases: 5, untaggedDays: 3, protectTags: ["prod/*"] }, /may only contain/],
            [{ keepReleases: 5, untaggedDays: 3, protectTags: ["a*b*c*d*e*"] }, /more than 4 '\*' wildcards/],
            [{ keepReleases: 5, untaggedDays: 3, protectTags: ["prod-*", "prod-*"] }, /listed twice/],
            [{ keepReleases: 5, untaggedDays: 3, protectTags: ["v*"] }, /release pattern itself/],
        ];
        for (const [r, re] of bad) {
            assert.match(retentionProblems(r).join("\n"), re);
            assert.throws(() => ecrLifecyclePolicy(r), re);
        }
    });
});

describe("registry retention: validateLifecyclePolicy", () => {
    const good = (): LifecyclePolicy => ecrLifecyclePolicy({ keepReleases: 5, untaggedDays: 7, protectTags: ["prod-*"] });
    const expectViolation = (mutate: (p: any) => void, re: RegExp) => {
        const p: any = good();
        mutate(p);
        const errs = validateLifecyclePolicy(p);
        assert.ok(
            errs.some((e) => re.test(e)),
            `expected ${re} in ${JSON.stringify(errs)}`,
        );
    };

    it("accepts the generated policy and AWS's documented examples", () => {
        assert.deepEqual(validateLifecyclePolicy(good()), []);
        // "Filtering on image age" and "Filtering on image count" from the ECR user guide.
        assert.deepEqual(
            validateLifecyclePolicy({
                rules: [
                    rule({ selection: { tagStatus: "tagged", tagPatternList: ["prod*"], countType: "sinceImagePushed", countUnit: "days", countNumber: 14 } }),
                ],
            }),
            [],
        );
        assert.deepEqual(
            validateLifecyclePolicy({ rules: [rule({ selection: { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 1 } })] }),
            [],
        );
        // An `any` rule as the last, highest priority is fine; so are non-sequential priorities.
        const p = good();
        p.rules.push(rule({ selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 500 } }, 100));
        assert.deepEqual(validateLifecyclePolicy(p), []);
    });

    it("requires an object with a non-empty rules array", () => {
        assert.match(validateLifecyclePolicy(null).join(), /rules/);
        assert.match(validateLifecyclePolicy({ rule: [] }).join(), /rules/);
        assert.match(validateLifecyclePolicy({ rules: [] }).join(), /at least one rule/);
    });
    it("rejects unknown keys at every level", () => {
        expectViolation((p) => (p.version = 1), /policy has unknown keys: version/);
        expectViolation((p) => (p.rules[0].priority = 1), /rules\[0\] has unknown keys: priority/);
        expectViolation((p) => (p.rules[0].selection.tagPatterns = ["x"]), /selection has unknown keys: tagPatterns/);
        expectViolation((p) => (p.rules[0].action.kind = "x"), /action has unknown keys: kind/);
    });
    it("requires positive integer priorities", () => {
        expectViolation((p) => (p.rules[0].rulePriority = 0), /rulePriority must be a positive integer/);
        expectViolation((p) => (p.rules[0].rulePriority = 1.5), /rulePriority must be a positive integer/);
    });
    it("requires unique priorities", () => expectViolation((p) => (p.rules[1].rulePriority = 1), /rulePriority 1 is not unique/));
    it("requires a known tagStatus", () => expectViolation((p) => (p.rules[0].selection.tagStatus = "TAGGED"), /tagStatus must be/));
    it("requires a tag list for tagged rules", () =>
        expectViolation((p) => delete p.rules[0].selection.tagPatternList, /requires tagPatternList or tagPrefixList/));
    it("rejects tagPatternList and tagPrefixList together", () =>
        expectViolation((p) => (p.rules[0].selection.tagPrefixList = ["prod"]), /cannot both be set/));
    it("rejects tag lists on untagged rules", () => expectViolation((p) => (p.rules[2].selection.tagPrefixList = ["x"]), /untagged must omit/));
    it("rejects more than four wildcards in a pattern", () =>
        expectViolation((p) => (p.rules[0].selection.tagPatternList = ["test*1*2*3*4*5*6"]), /more than 4 '\*' wildcards/));
    it("rejects pattern characters ECR tags cannot contain", () => expectViolation((p) => (p.rules[0].selection.tagPatternList = ["prod/*"]), /outside/));
    it("rejects empty tag lists and prefixes", () => {
        expectViolation((p) => (p.rules[0].selection.tagPatternList = []), /non-empty list/);
        expectViolation((p) => (p.rules[0].selection.tagPatternList = [""]), /tagPatternList\[0\] is empty/);
        expectViolation((p) => {
            delete p.rules[0].selection.tagPatternList;
            p.rules[0].selection.tagPrefixList = [""];
        }, /empty prefix/);
    });
    it("rejects two rules with the same tag filter", () =>
        expectViolation((p) => (p.rules[1].selection.tagPatternList = ["prod-*"]), /same tag pattern set as rules\[0\]/));
    it("requires a known countType", () => expectViolation((p) => (p.rules[0].selection.countType = "imageCountLessThan"), /countType must be one of/));
    it("rejects countUnit with imageCountMoreThan", () => expectViolation((p) => (p.rules[0].selection.countUnit = "days"), /countUnit must be omitted/));
    it("requires countUnit days with sinceImagePushed", () => {
        expectViolation((p) => delete p.rules[2].selection.countUnit, /countUnit must be "days" with sinceImagePushed/);
        expectViolation((p) => (p.rules[2].selection.countUnit = "hours"), /countUnit must be "days"/);
    });
    it("requires countNumber ≥ 1", () => {
        expectViolation((p) => (p.rules[1].selection.countNumber = 0), /countNumber must be an integer ≥ 1/);
        expectViolation((p) => (p.rules[1].selection.countNumber = "5"), /countNumber must be an integer ≥ 1/);
    });
    it("requires a valid action", () => {
        expectViolation((p) => (p.rules[0].action.type = "delete"), /action.type must be expire or transition/);
        expectViolation((p) => (p.rules[0].action = { type: "transition" }), /requires targetStorageClass "archive"/);
        expectViolation((p) => (p.rules[0].action.targetStorageClass = "archive"), /only for transition/);
        expectViolation((p) => delete p.rules[0].action, /action is required/);
    });
    it("allows only one untagged rule", () =>
        expectViolation(
            (p) => p.rules.push(rule({ selection: { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 3 } }, 9)),
            /only one rule may select untagged/,
        ));
    it("allows only one any rule", () =>
        expectViolation((p) => {
            p.rules.push(rule({ selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 3 } }, 9));
            p.rules.push(rule({ selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 4 } }, 10));
        }, /only one rule may have tagStatus any/));
    it("requires the any rule to be last", () =>
        expectViolation((p) => {
            p.rules.push(rule({ selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 3 } }, 50));
            p.rules[0].rulePriority = 60;
        }, /the tagStatus any rule \(priority 50\) must have the highest rulePriority \(60\)/));
    it("enforces ECR's policy length quota", () =>
        expectViolation((p) => (p.rules[0].description = "x".repeat(MAX_POLICY_LENGTH)), /ECR allows at most 30720/));
});

describe("registry retention: describeRetention", () => {
    it("explains every rule in priority order", () => {
        const lines = describeRetention(ecrLifecyclePolicy({ keepReleases: 30, untaggedDays: 14, protectTags: ["prod-*", "rollback-*"] }));
        assert.deepEqual(lines, [
            'priority 1: protect images tagged "prod-*": never expired, and no lower rule can touch them',
            'priority 2: protect images tagged "rollback-*": never expired, and no lower rule can touch them',
            'priority 3: keep the newest 30 images tagged "v*" (by push time); expire older ones not protected above',
            "priority 4: expire untagged images pushed more than 14 days ago",
            "images whose tags match no rule are never expired",
        ]);
    });
});

describe("registry retention: evaluator on hand cases", () => {
    const img = (digest: string, tags: string[], age: number): EcrImage => ({ digest, tags, pushedAt: daysAgo(age) });
    const expiredOf = (policy: LifecyclePolicy, images: EcrImage[]) => [...evaluateLifecyclePolicy(policy, images, NOW).expired.keys()].sort();

    // The repository of the ECR user guide's "Filtering on multiple rules" examples.
    const repo = [img("A", ["beta-1", "prod-1"], 10), img("B", ["beta-2", "prod-2"], 9), img("C", ["beta-3"], 8)];
    const countRule = (prefix: string, prio: number) =>
        rule({ selection: { tagStatus: "tagged", tagPrefixList: [prefix], countType: "imageCountMoreThan", countNumber: 1 } }, prio);

    it("AWS Example A: a lower rule still counts images claimed above but cannot expire them", () => {
        assert.deepEqual(expiredOf({ rules: [countRule("prod", 1), countRule("beta", 2)] }, repo), ["A"]);
    });
    it("AWS Example B: reversing the priorities expires A and B", () => {
        assert.deepEqual(expiredOf({ rules: [countRule("beta", 1), countRule("prod", 2)] }, repo), ["A", "B"]);
    });
    it("AWS multiple-tags examples: every listed prefix must match some tag", () => {
        const images = [
            img("A", ["alpha-1"], 12),
            img("B", ["beta-1"], 11),
            img("C", ["alpha-2", "beta-2"], 10),
            img("D", ["alpha-3"], 4),
            img("E", ["beta-3"], 3),
            img("F", ["alpha-4", "beta-4"], 2),
        ];
        const since = rule({
            selection: { tagStatus: "tagged", tagPrefixList: ["alpha", "beta"], countType: "sinceImagePushed", countUnit: "days", countNumber: 5 },
        });
        assert.deepEqual(expiredOf({ rules: [since] }, images), ["C"]);
        const notExclusive = [
            img("A", ["alpha-1", "beta-1", "gamma-1"], 10),
            img("B", ["alpha-2", "beta-2"], 9),
            img("C", ["alpha-3", "beta-3", "gamma-2"], 8),
        ];
        const count = rule({ selection: { tagStatus: "tagged", tagPrefixList: ["alpha", "beta"], countType: "imageCountMoreThan", countNumber: 1 } });
        assert.deepEqual(expiredOf({ rules: [count] }, notExclusive), ["A", "B"]);
    });
    it("keeps the newest by push time, not by tag order", () => {
        const images = [img("old", ["v9.9.9-aaaaaaa"], 30), img("new", ["v1.0.0-bbbbbbb"], 1), img("mid", ["v5.0.0-ccccccc"], 10)];
        const keep2 = rule({ selection: { tagStatus: "tagged", tagPatternList: ["v*"], countType: "imageCountMoreThan", countNumber: 2 } });
        assert.deepEqual(expiredOf({ rules: [keep2] }, images), ["old"]);
    });
    it("untagged, tagged and any select the right images", () => {
        const images = [img("u", [], 10), img("t", ["x"], 10)];
        const age = (tagStatus: "untagged" | "any") => rule({ selection: { tagStatus, countType: "sinceImagePushed", countUnit: "days", countNumber: 5 } });
        assert.deepEqual(expiredOf({ rules: [age("untagged")] }, images), ["u"]);
        assert.deepEqual(expiredOf({ rules: [age("any")] }, images), ["t", "u"]);
        const taggedStar = rule({
            selection: { tagStatus: "tagged", tagPatternList: ["*"], countType: "sinceImagePushed", countUnit: "days", countNumber: 5 },
        });
        assert.deepEqual(expiredOf({ rules: [taggedStar] }, images), ["t"]);
    });
    it("a single rule listing two protect patterns protects only images carrying both (why one rule per pattern)", () => {
        const images = [img("prodOnly", ["v1.0.0-a", "prod-1"], 50), img("both", ["v1.0.1-b", "prod-2", "rollback-1"], 40), img("newest", ["v1.0.2-c"], 1)];
        const keep1 = rule({ selection: { tagStatus: "tagged", tagPatternList: ["v*"], countType: "imageCountMoreThan", countNumber: 1 } }, 2);
        const combined = rule(
            { selection: { tagStatus: "tagged", tagPatternList: ["prod-*", "rollback-*"], countType: "imageCountMoreThan", countNumber: PROTECT_COUNT } },
            1,
        );
        assert.deepEqual(expiredOf({ rules: [combined, keep1] }, images), ["prodOnly"]);
        assert.deepEqual(expiredOf(ecrLifecyclePolicy({ keepReleases: 1, untaggedDays: 1, protectTags: ["prod-*", "rollback-*"] }), images), []);
    });
    it("ECR's * matches any run of characters, including none, and nothing else is special", () => {
        assert.ok(ecrWildcardMatch("prod", "prod*"));
        assert.ok(ecrWildcardMatch("prod-2026.01.02", "prod-*"));
        assert.ok(ecrWildcardMatch("v1.2.3-abc-pinned", "*-pinned"));
        assert.ok(ecrWildcardMatch("a.b_c-d", "a*b*c*d"));
        assert.ok(!ecrWildcardMatch("xprod", "prod*"));
        assert.ok(!ecrWildcardMatch("Prod-1", "prod-*"), "tags are case-sensitive");
        assert.throws(() => ecrWildcardMatch("a", "{a,b}"), /alphabet/);
        assert.throws(() => ecrWildcardMatch("a", "?"), /alphabet/);
    });
});

interface History {
    images: EcrImage[];
    releases: EcrImage[];
}

/**
 * A repository history: `releases` releases with `v<semver>-<sha>` tags pushed every ~2 days (newest last), some
 * carrying protected tags (promotions `prod-<date>`, rollback pins, `-pinned` suffix tags), a cache tag and PR tags
 * that match no rule, and untagged leftovers of all ages (superseded cache manifests, failed pushes).
 */
function history(seed: number, releases: number, untagged: number): History {
    const rand = prng(seed);
    const images: EcrImage[] = [];
    const rel: EcrImage[] = [];
    let major = 1;
    let minor = 0;
    let patch = 0;
    for (let i = 0; i < releases; i++) {
        const r = rand();
        if (r < 0.02) {
            major++;
            minor = 0;
            patch = 0;
        } else if (r < 0.2) {
            minor++;
            patch = 0;
        } else {
            patch++;
        }
        const sha = Math.floor(rand() * 0xfffffff)
            .toString(16)
            .padStart(7, "0");
        const age = (releases - i) * 2 + rand();
        const tags = [`v${major}.${minor}.${patch}-${sha}`];
        const p = rand();
        if (p < 0.06) tags.push(`prod-${daysAgo(age).toISOString().slice(0, 10)}`);
        else if (p < 0.08) tags.push(`rollback-${major}.${minor}`);
        else if (p < 0.09) tags.push(`v${major}.${minor}.${patch}-${sha}-pinned`);
        const image = { digest: `sha256:rel${i}`, tags, pushedAt: daysAgo(age) };
        images.push(image);
        rel.push(image);
    }
    for (let i = 0; i < untagged; i++) {
        images.push({ digest: `sha256:untagged${i}`, tags: [], pushedAt: daysAgo(rand() * releases * 2) });
    }
    images.push({ digest: "sha256:cache", tags: ["buildcache"], pushedAt: daysAgo(400) });
    images.push({ digest: "sha256:pr", tags: ["pr-1234"], pushedAt: daysAgo(500) });
    // An old promotion that is not a release build at all: protected by its tag alone.
    images.push({ digest: "sha256:hotfix", tags: ["prod-hotfix"], pushedAt: daysAgo(700) });
    return { images, releases: rel };
}

describe("registry retention: safety of the generated policy on a synthetic history", () => {
    const cases: Array<{ name: string; seed: number; retention: RetentionInput; releases: number; untagged: number }> = [
        { name: "dev-like", seed: 1, retention: { keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*", "rollback-*"] }, releases: 300, untagged: 200 },
        {
            name: "prod-like",
            seed: 2,
            retention: { keepReleases: 30, untaggedDays: 14, protectTags: ["prod-*", "rollback-*", "*-pinned"] },
            releases: 500,
            untagged: 150,
        },
        { name: "keep one, no protection", seed: 3, retention: { keepReleases: 1, untaggedDays: 1, protectTags: [] }, releases: 250, untagged: 100 },
        { name: "keep more than exist", seed: 4, retention: { keepReleases: 1000, untaggedDays: 90, protectTags: ["prod-*"] }, releases: 400, untagged: 100 },
    ];

    for (const c of cases) {
        it(`${c.name}: protected images survive, newest releases survive, the rest expire`, () => {
            const { images, releases } = history(c.seed, c.releases, c.untagged);
            const policy = ecrLifecyclePolicy(c.retention);
            assert.deepEqual(validateLifecyclePolicy(policy), []);
            const { expired } = evaluateLifecyclePolicy(policy, images, NOW);

            const protectRes = c.retention.protectTags.map(patternRegex);
            const isProtected = (i: EcrImage) => i.tags.some((t) => protectRes.some((re) => re.test(t)));
            const protectedImages = images.filter(isProtected);
            if (c.retention.protectTags.length > 0) assert.ok(protectedImages.length >= 5, "history must contain protected images");

            // 1. No protected image expires.
            for (const i of protectedImages) assert.ok(!expired.has(i.digest), `protected ${i.tags.join(",")} expired`);

            // 2. The newest keepReleases releases survive.
            const newestFirst = [...releases].sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime());
            const kept = newestFirst.slice(0, c.retention.keepReleases);
            for (const i of kept) assert.ok(!expired.has(i.digest), `recent release ${i.tags[0]} expired`);

            // 3. Unprotected releases beyond that expire (by the release rule).
            const beyond = newestFirst.slice(c.retention.keepReleases).filter((i) => !isProtected(i));
            if (c.releases > c.retention.keepReleases) assert.ok(beyond.length > 0);
            for (const i of beyond) assert.equal(expired.get(i.digest), c.retention.protectTags.length + 1, `old release ${i.tags[0]} kept`);

            // 4. Untagged images older than untaggedDays expire; younger ones stay.
            const untagged = images.filter((i) => i.tags.length === 0);
            const cutoff = NOW.getTime() - c.retention.untaggedDays * DAY;
            const old = untagged.filter((i) => i.pushedAt.getTime() < cutoff);
            assert.ok(old.length > 0 && old.length < untagged.length, "history must have untagged images on both sides of the cutoff");
            for (const i of untagged) assert.equal(expired.has(i.digest), i.pushedAt.getTime() < cutoff, `untagged ${i.digest}`);

            // 5. Tags matching no rule (cache, PR builds) are left alone, and nothing else expires.
            assert.ok(!expired.has("sha256:cache") && !expired.has("sha256:pr"));
            assert.equal(expired.size, beyond.length + old.length);
        });
    }

    it("stays safe as the history grows day by day (protected and newest releases never lost)", () => {
        const retention = { keepReleases: 5, untaggedDays: 7, protectTags: ["prod-*"] };
        const policy = ecrLifecyclePolicy(retention);
        const { images, releases } = history(11, 120, 40);
        const order = [...releases].sort((a, b) => a.pushedAt.getTime() - b.pushedAt.getTime());
        // Replay: after each push, evaluate the repository as it is at that moment.
        for (let n = 1; n <= order.length; n += 7) {
            const at = new Date(order[n - 1].pushedAt.getTime() + 1000);
            const present = images.filter((i) => i.pushedAt.getTime() <= at.getTime());
            const { expired } = evaluateLifecyclePolicy(policy, present, at);
            const newest = order.slice(Math.max(0, n - retention.keepReleases), n);
            for (const i of newest) assert.ok(!expired.has(i.digest));
            for (const i of present.filter((x) => x.tags.some((t) => t.startsWith("prod-")))) assert.ok(!expired.has(i.digest));
        }
    });
});
