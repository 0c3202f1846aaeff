/**
 * An ECR lifecycle policy evaluator (pure), written from AWS's documented evaluation rules
 * (Amazon ECR User Guide, "Lifecycle policy evaluation rules" and "Examples of lifecycle policies"):
 *
 *  1. All rules are evaluated at the same time, then applied in rulePriority order (lowest first).
 *  2. An image is expired by exactly one or zero rules.
 *  3. An image that matches the tagging requirements of a rule cannot be expired by a rule with a lower priority:
 *     the first rule whose selection matches an image "claims" it.
 *  4. Rules can never mark images that are marked by higher-priority rules, but can still identify them as if they
 *     had not been expired: a lower rule still COUNTS claimed images in its `imageCountMoreThan` ranking
 *     (docs Example A: rule 2 `beta` ranks images A, B and C although A and B were seen by rule 1, keeps C, and
 *     skips B because rule 1 claimed it).
 *  5. Expiry is ordered by push time; `imageCountMoreThan` sorts youngest → oldest and expires everything past
 *     `countNumber`; `sinceImagePushed` expires images pushed more than `countNumber` days ago.
 *  6. Tag matching: `tagged` rules see only images with at least one tag; with `tagPrefixList` (or
 *     `tagPatternList`) an image matches when EVERY listed prefix (pattern) matches at least one of its tags.
 *     `untagged` sees only images without tags; `any` sees all.
 *
 * Wildcards: ECR's only wildcard is `*` (any run of characters, possibly empty). Patterns are restricted to
 * TAG_PATTERN (`[A-Za-z0-9_.*-]`), and tags to the OCI alphabet, so none of minimatch's other metacharacters
 * (`? [ ] { } ! + @ ( ) \`) can appear and no tag contains `/`; with globstar, braces, extglobs, negation and
 * comments disabled and `dot: true`, minimatch's `*` is then exactly ECR's `*`. A pattern outside that alphabet
 * throws instead of being matched with semantics ECR does not have.
 *
 * Not modelled: images referenced by a multi-arch index are not independently expired by ECR (observed with
 * get-lifecycle-policy-preview, DefangLabs/pulumi-defang#466); the histories evaluated here are single-manifest.
 * Pull-time and archive count types need data this model has not and are rejected.
 *
 * Used by `npm run versions` (release/retentionVerdict.ts) on the policy the program declares
 * (components/registry/ecrLifecycle.ts `ecrLifecyclePolicy`, computed by the command), and by the tests. The policy
 * is taken structurally: release/ sits below the commands and does not import components/ (docs/design/layers.md).
 */
import { minimatch } from "minimatch";

/** The parts of an ECR lifecycle rule the evaluator reads (components/registry/ecrLifecycle.ts `LifecycleRule`). */
export interface LifecycleRule {
    rulePriority: number;
    description?: string;
    selection: {
        tagStatus: "tagged" | "untagged" | "any";
        tagPatternList?: string[];
        tagPrefixList?: string[];
        countType: string;
        countUnit?: string;
        countNumber: number;
    };
    action: { type: string };
}

export interface LifecyclePolicy {
    rules: LifecycleRule[];
}

/**
 * The pattern alphabet under which minimatch's `*` is ECR's `*`: the same as components/registry/ecrLifecycle.ts
 * `TAG_PATTERN`, which config validation enforces (tests/release/retentionVerdict.spec.ts checks they are equal).
 */
export const TAG_PATTERN = /^[A-Za-z0-9_.*-]+$/;

export interface EcrImage {
    digest: string;
    tags: string[];
    pushedAt: Date;
}

export interface EvaluationResult {
    /** Digests that expire, with the priority of the rule that expires each. */
    expired: Map<string, number>;
    /** For every image, the priority of the rule that claimed it (matched it first), if any. */
    claimedBy: Map<string, number>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MINIMATCH_OPTIONS = { dot: true, nobrace: true, noext: true, nonegate: true, nocomment: true, noglobstar: true } as const;

/** ECR `*` wildcard match of one tag against one pattern. */
export function ecrWildcardMatch(tag: string, pattern: string): boolean {
    if (!TAG_PATTERN.test(pattern)) {
        throw new Error(`tag pattern ${JSON.stringify(pattern)} has characters outside ECR's pattern alphabet`);
    }
    return minimatch(tag, pattern, MINIMATCH_OPTIONS);
}

/** Whether an image meets a rule's tagging requirements (rule 6 above). */
export function selects(rule: LifecycleRule, image: EcrImage): boolean {
    const sel = rule.selection;
    switch (sel.tagStatus) {
        case "any":
            return true;
        case "untagged":
            return image.tags.length === 0;
        case "tagged":
            if (image.tags.length === 0) return false;
            if (sel.tagPatternList) {
                return sel.tagPatternList.every((p) => image.tags.some((t) => ecrWildcardMatch(t, p)));
            }
            return (sel.tagPrefixList ?? []).every((p) => image.tags.some((t) => t.startsWith(p)));
    }
}

function byNewest(a: EcrImage, b: EcrImage): number {
    const d = b.pushedAt.getTime() - a.pushedAt.getTime();
    return d !== 0 ? d : a.digest.localeCompare(b.digest);
}

/** The images a rule would mark on its own (rule 5), ignoring other rules. */
function wouldMark(rule: LifecycleRule, matched: EcrImage[], now: Date): EcrImage[] {
    const sel = rule.selection;
    switch (sel.countType) {
        case "imageCountMoreThan":
            return [...matched].sort(byNewest).slice(sel.countNumber);
        case "sinceImagePushed": {
            const cutoff = now.getTime() - sel.countNumber * DAY_MS;
            return matched.filter((img) => img.pushedAt.getTime() < cutoff);
        }
        default:
            throw new Error(`countType ${sel.countType} is not supported by this evaluator`);
    }
}

/** Which images the policy expires at time `now`. */
export function evaluateLifecyclePolicy(policy: LifecyclePolicy, images: EcrImage[], now: Date): EvaluationResult {
    const rules = [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority);
    const claimedBy = new Map<string, number>();
    const expired = new Map<string, number>();
    for (const rule of rules) {
        if (rule.action.type !== "expire") {
            throw new Error(`action ${rule.action.type} is not supported by this evaluator`);
        }
        // Rule 4: the rule identifies every image meeting its tag requirements, claimed or not.
        const matched = images.filter((img) => selects(rule, img));
        for (const img of wouldMark(rule, matched, now)) {
            const owner = claimedBy.get(img.digest);
            // Rules 2 and 3: only an unclaimed image can be expired, and only once.
            if (owner === undefined && !expired.has(img.digest)) {
                expired.set(img.digest, rule.rulePriority);
            }
        }
        for (const img of matched) {
            if (!claimedBy.has(img.digest)) claimedBy.set(img.digest, rule.rulePriority);
        }
    }
    return { expired, claimedBy };
}
