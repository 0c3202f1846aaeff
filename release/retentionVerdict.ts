/**
 * What a repository's retention does to each image it holds, now (pure): protects it, keeps it for now, would expire
 * it at the next run, or (ECR) leaves it alone because no rule selects it. `npm run versions` shows it per version;
 * `npm run rollback` warns before pinning a version retention is about to remove.
 *
 * The rules evaluated are the ones the program declares, computed by the command with the program's own functions
 * from the stack config (scripts/versions.ts `declaredRetention`):
 *  - ECR: the repository's lifecycle policy (components/registry/ecrLifecycle.ts `ecrLifecyclePolicy` over the
 *    deployed tags + `protectTags`, `keepReleases`, `untaggedDays`), evaluated by release/ecrEvaluator.ts with the
 *    rules of the Amazon ECR User Guide, "Lifecycle policy evaluation rules"
 *    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lp_evaluation_rules): rules apply
 *    in priority order, the first rule whose tag filter an image matches claims it and no lower rule can expire it,
 *    `imageCountMoreThan` ranks by push time (newest first), `sinceImagePushed` counts days since the push. A protect
 *    rule is a count rule above the images-per-repository quota (10,000, "Amazon ECR service quotas"): it can never
 *    expire anything, so whatever it claims is protected.
 *  - Harbor: the project's retention policy body (components/registry/harbor/provider.ts `retentionBody`), with
 *    Harbor's semantics (goharbor/harbor v2: `src/pkg/retention/policy/alg/or/processor.go`, algorithm "or": an
 *    artifact is retained when any rule retains it, and the retain action removes every other artifact in scope;
 *    `src/lib/selector/selectors/doublestar/selector.go`: a tag selector "matches" an artifact when any of its tags
 *    matches the pattern, and an untagged artifact only when the selector's extras say `{"untagged": true}`;
 *    `src/pkg/retention/policy/rule/always/evaluator.go` retains all it is given;
 *    `rule/latestps/evaluator.go` (`latestPushedK`) sorts by push time, newest first, and retains the first K;
 *    `rule/daysps/evaluator.go` (`nDaysSinceLastPush`) retains what was pushed at or after now − N days).
 * Both run on a schedule (ECR within 24 hours of a change, Harbor by its cron): "expires" means "at the next run".
 */
import { evaluateLifecyclePolicy, LifecyclePolicy, LifecycleRule, ecrWildcardMatch } from "./ecrEvaluator";

/** One image of a repository as the registry lists it. */
export interface RegistryImage {
    readonly digest: string;
    readonly tags: readonly string[];
    /** ISO 8601; undefined when the registry says nothing (retention cannot then be evaluated). */
    readonly pushedAt?: string;
}

export type RetentionStatus = "protected" | "kept" | "expires" | "unmatched" | "unknown" | "unmanaged";

export interface RetentionVerdict {
    /**
     * protected: a protect rule (ECR) or an `always` rule (Harbor) holds it, however many images arrive;
     * kept: a count or age rule keeps it for now (newer releases or time will expire it);
     * expires: the next retention run removes it;
     * unmatched: ECR, no rule selects its tags, so it is never expired;
     * unknown: a push time is missing, so the count and age rules cannot be evaluated;
     * unmanaged: the program declares no retention for this registry (`registry.type: external`).
     */
    readonly status: RetentionStatus;
    /** Why, in words: the rule and, for kept images, what would expire them. */
    readonly why: string;
}

/** The Harbor retention policy body the program declares (`retentionBody` of components/registry/harbor/provider.ts). */
export interface HarborRetentionBody {
    algorithm: string;
    rules: Array<{
        disabled?: boolean;
        action: string;
        template: string;
        params: Record<string, unknown>;
        tag_selectors: Array<{ kind: string; decoration: string; pattern: string; extras?: string }>;
    }>;
}

export type DeclaredRetention = { kind: "ecr"; policy: LifecyclePolicy } | { kind: "harbor"; body: HarborRetentionBody } | { kind: "none"; why: string };

/** ECR's default images-per-repository quota: a count rule above it never expires anything (a protect rule). */
export const ECR_MAX_IMAGES_PER_REPOSITORY = 10000;
const DAY_MS = 24 * 60 * 60 * 1000;

function day(ms: number): string {
    return new Date(ms).toISOString().slice(0, 10);
}

function ruleText(rule: LifecycleRule): string {
    const s = rule.selection;
    const what =
        s.tagStatus === "untagged"
            ? "untagged images"
            : s.tagStatus === "any"
              ? "all images"
              : `tag ${(s.tagPatternList ?? s.tagPrefixList ?? []).map((p) => (s.tagPatternList ? p : `${p}*`)).join(" + ")}`;
    return `priority ${rule.rulePriority} (${what})`;
}

function byNewest(a: RegistryImage, b: RegistryImage): number {
    const d = Date.parse(b.pushedAt!) - Date.parse(a.pushedAt!);
    return d !== 0 ? d : a.digest.localeCompare(b.digest);
}

function missingPushTime(images: readonly RegistryImage[]): Map<string, RetentionVerdict> | undefined {
    const missing = images.filter((i) => i.pushedAt === undefined || Number.isNaN(Date.parse(i.pushedAt)));
    if (missing.length === 0) return undefined;
    const why = `the registry gives no push time for ${missing.length} of ${images.length} images: count and age rules cannot be evaluated`;
    return new Map(images.map((i) => [i.digest, { status: "unknown", why }]));
}

/** The verdict of an ECR lifecycle policy on every image, at `now`. */
export function ecrRetentionVerdicts(policy: LifecyclePolicy, images: readonly RegistryImage[], now: Date): Map<string, RetentionVerdict> {
    const unknown = missingPushTime(images);
    if (unknown) return unknown;
    const evaluated = images.map((i) => ({ digest: i.digest, tags: [...i.tags], pushedAt: new Date(i.pushedAt!) }));
    const { expired, claimedBy } = evaluateLifecyclePolicy(policy, evaluated, now);
    const rules = new Map(policy.rules.map((r) => [r.rulePriority, r]));
    const out = new Map<string, RetentionVerdict>();
    for (const image of images) {
        const by = expired.get(image.digest);
        if (by !== undefined) {
            const rule = rules.get(by)!;
            const s = rule.selection;
            const why =
                s.countType === "imageCountMoreThan"
                    ? `${ruleText(rule)}: older than the newest ${s.countNumber}`
                    : `${ruleText(rule)}: pushed more than ${s.countNumber} days ago`;
            out.set(image.digest, { status: "expires", why });
            continue;
        }
        const claim = claimedBy.get(image.digest);
        if (claim === undefined) {
            out.set(image.digest, { status: "unmatched", why: "no rule selects its tags: never expired" });
            continue;
        }
        const rule = rules.get(claim)!;
        const s = rule.selection;
        if (s.countType === "imageCountMoreThan" && s.countNumber >= ECR_MAX_IMAGES_PER_REPOSITORY) {
            out.set(image.digest, { status: "protected", why: `${ruleText(rule)}: protect rule` });
        } else if (s.countType === "imageCountMoreThan") {
            const ranked = images.filter((i) => evaluatedSelects(rule, i)).sort(byNewest);
            const rank = ranked.findIndex((i) => i.digest === image.digest) + 1;
            out.set(image.digest, { status: "kept", why: `${ruleText(rule)}: newest ${rank} of ${s.countNumber} kept` });
        } else if (s.countType === "sinceImagePushed") {
            out.set(image.digest, { status: "kept", why: `${ruleText(rule)}: until ${day(Date.parse(image.pushedAt!) + s.countNumber * DAY_MS)}` });
        } else {
            out.set(image.digest, { status: "kept", why: `${ruleText(rule)}` });
        }
    }
    return out;
}

function evaluatedSelects(rule: LifecycleRule, image: RegistryImage): boolean {
    const s = rule.selection;
    if (s.tagStatus === "any") return true;
    if (s.tagStatus === "untagged") return image.tags.length === 0;
    if (image.tags.length === 0) return false;
    if (s.tagPatternList) return s.tagPatternList.every((p) => image.tags.some((t) => ecrWildcardMatch(t, p)));
    return (s.tagPrefixList ?? []).every((p) => image.tags.some((t) => t.startsWith(p)));
}

/**
 * Harbor's doublestar tag selector (`matches`/`excludes`) on one artifact. Tags hold no `/`, and the patterns the
 * program declares use `*` only (config validation), so doublestar's `*` and `**` are both "any run of characters":
 * the same matcher as ECR's.
 */
function harborSelects(selector: { decoration: string; pattern: string; extras?: string }, image: RegistryImage): boolean {
    let untagged = selector.decoration !== "excludes";
    if (selector.extras) {
        try {
            untagged = JSON.parse(selector.extras).untagged === true;
        } catch {
            // Harbor keeps the default when extras do not parse.
        }
    }
    if (image.tags.length === 0) return selector.decoration === "excludes" ? !untagged : untagged;
    const pattern = selector.pattern.replace(/\*\*+/g, "*");
    if (selector.decoration === "excludes") return image.tags.some((t) => !ecrWildcardMatch(t, pattern));
    return image.tags.some((t) => ecrWildcardMatch(t, pattern));
}

function harborRuleText(rule: HarborRetentionBody["rules"][number]): string {
    const sel = rule.tag_selectors.map((s) => `${s.decoration} ${s.pattern}`).join(", ");
    switch (rule.template) {
        case "always":
            return `retain always (${sel})`;
        case "latestPushedK":
            return `retain the ${Number(rule.params.latestPushedK)} most recently pushed (${sel})`;
        case "nDaysSinceLastPush":
            return `retain pushed within ${Number(rule.params.nDaysSinceLastPush)} days (${sel})`;
        default:
            return `${rule.template} (${sel})`;
    }
}

/** The verdict of a Harbor retention policy (algorithm "or") on every artifact of one repository, at `now`. */
export function harborRetentionVerdicts(body: HarborRetentionBody, images: readonly RegistryImage[], now: Date): Map<string, RetentionVerdict> {
    if (body.algorithm !== "or") throw new Error(`Harbor retention algorithm ${body.algorithm} is not evaluated here (the program declares "or")`);
    const unknown = missingPushTime(images);
    if (unknown) return unknown;
    const retained = new Map<string, RetentionVerdict>();
    // The strongest reason first: an `always` rule protects; the others keep for now.
    const order = (t: string) => (t === "always" ? 0 : 1);
    const rules = body.rules.filter((r) => r.disabled !== true && r.action === "retain").sort((a, b) => order(a.template) - order(b.template));
    for (const rule of rules) {
        const selected = images.filter((i) => rule.tag_selectors.every((s) => harborSelects(s, i)));
        let kept: Array<{ image: RegistryImage; why: string }>;
        switch (rule.template) {
            case "always":
                kept = selected.map((image) => ({ image, why: harborRuleText(rule) }));
                break;
            case "latestPushedK": {
                const k = Number(rule.params.latestPushedK);
                kept = [...selected]
                    .sort(byNewest)
                    .slice(0, k)
                    .map((image, i) => ({ image, why: `${harborRuleText(rule)}: newest ${i + 1} of ${k}` }));
                break;
            }
            case "nDaysSinceLastPush": {
                const n = Number(rule.params.nDaysSinceLastPush);
                const min = now.getTime() - n * DAY_MS;
                kept = selected
                    .filter((i) => Date.parse(i.pushedAt!) >= min)
                    .map((image) => ({ image, why: `${harborRuleText(rule)}: until ${day(Date.parse(image.pushedAt!) + n * DAY_MS)}` }));
                break;
            }
            default:
                throw new Error(`Harbor retention template ${rule.template} is not evaluated here`);
        }
        for (const { image, why } of kept) {
            if (!retained.has(image.digest)) retained.set(image.digest, { status: rule.template === "always" ? "protected" : "kept", why });
        }
    }
    return new Map(
        images.map((i) => [i.digest, retained.get(i.digest) ?? { status: "expires", why: "no rule retains it: the next retention run deletes it" }]),
    );
}

/** The verdicts of the declared retention, whatever the registry. */
export function retentionVerdicts(declared: DeclaredRetention, images: readonly RegistryImage[], now: Date): Map<string, RetentionVerdict> {
    if (declared.kind === "ecr") return ecrRetentionVerdicts(declared.policy, images, now);
    if (declared.kind === "harbor") return harborRetentionVerdicts(declared.body, images, now);
    return new Map(images.map((i) => [i.digest, { status: "unmanaged", why: declared.why }]));
}
