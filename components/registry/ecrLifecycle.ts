/**
 * ECR lifecycle policy generation, validation and description (pure). Rules from the Amazon ECR User Guide
 * ("Lifecycle policy properties", "Lifecycle policy evaluation rules"); protect rules and why one per pattern:
 * docs/design/image-retention.md.
 */
import { RELEASE_TAG_PREFIX } from "../../domain/image/tag";

/** Tag status of a rule's selection. */
export type TagStatus = "tagged" | "untagged" | "any";
/** Count types ECR documents. This module generates only the first two; the evaluator understands only those. */
export type CountType = "imageCountMoreThan" | "sinceImagePushed" | "sinceImagePulled" | "sinceImageTransitioned";

export interface LifecycleSelection {
    tagStatus: TagStatus;
    tagPatternList?: string[];
    tagPrefixList?: string[];
    countType: CountType;
    countUnit?: "days";
    countNumber: number;
    storageClass?: "standard" | "archive";
}

export interface LifecycleAction {
    type: "expire" | "transition";
    targetStorageClass?: "archive";
}

export interface LifecycleRule {
    rulePriority: number;
    description?: string;
    selection: LifecycleSelection;
    action: LifecycleAction;
}

export interface LifecyclePolicy {
    rules: LifecycleRule[];
}

export interface RetentionInput {
    /** Newest release images (tags `<releaseTagPrefix>*`) to keep; integer ≥ 1. */
    keepReleases: number;
    /** Untagged images pushed more than this many days ago expire; integer ≥ 1. */
    untaggedDays: number;
    /** ECR wildcard patterns (`*` only); an image carrying a tag that matches any of them is never expired. */
    protectTags: string[];
}

export interface LifecycleOptions {
    /** Release tags start with this (default "v": tags look like `v1.2.3-<sha>`). */
    releaseTagPrefix?: string;
}

/**
 * countNumber of the protect rules. Far above ECR's default images-per-repository quota (10,000) so a protect rule
 * never expires anything itself; 999999 is the value cloudposse/terraform-aws-ecr uses for its protected-tag rules,
 * which its terratest suite applies to real ECR.
 */
export const PROTECT_COUNT = 999999;
/** ECR quota: maximum characters in a lifecycle policy. */
export const MAX_POLICY_LENGTH = 30720;
/** ECR: at most four `*` per tagPatternList string. */
export const MAX_WILDCARDS = 4;
/**
 * Characters an ECR tag pattern may hold here: the OCI tag alphabet (`[A-Za-z0-9_.-]`, distribution-spec tag
 * grammar) plus ECR's single wildcard `*`. Restricting patterns to it is also what makes minimatch a faithful ECR
 * matcher (see release/ecrEvaluator.ts): none of minimatch's other metacharacters can occur.
 */
export const TAG_PATTERN = /^[A-Za-z0-9_.*-]+$/;
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function wildcardCount(pattern: string): number {
    return (pattern.match(/\*/g) ?? []).length;
}

/** Problems with the retention settings themselves (empty when usable). */
export function retentionProblems(retention: RetentionInput, opts: LifecycleOptions = {}): string[] {
    const problems: string[] = [];
    const prefix = opts.releaseTagPrefix ?? RELEASE_TAG_PREFIX;
    if (!Number.isInteger(retention.keepReleases) || retention.keepReleases < 1) {
        problems.push(`keepReleases must be an integer ≥ 1 (got ${retention.keepReleases})`);
    }
    if (!Number.isInteger(retention.untaggedDays) || retention.untaggedDays < 1) {
        problems.push(`untaggedDays must be an integer ≥ 1 (got ${retention.untaggedDays})`);
    }
    if (!OCI_TAG.test(prefix)) {
        problems.push(`releaseTagPrefix ${JSON.stringify(prefix)} is not a valid tag start`);
    }
    const seen = new Set<string>();
    retention.protectTags.forEach((p, i) => {
        if (p.length === 0) {
            problems.push(`protectTags[${i}] is empty`);
            return;
        }
        if (!TAG_PATTERN.test(p)) {
            problems.push(`protectTags[${i}] ${JSON.stringify(p)} may only contain letters, digits, '_', '.', '-' and '*'`);
        }
        if (wildcardCount(p) > MAX_WILDCARDS) {
            problems.push(`protectTags[${i}] ${JSON.stringify(p)} has more than ${MAX_WILDCARDS} '*' wildcards`);
        }
        if (seen.has(p)) {
            problems.push(`protectTags[${i}] ${JSON.stringify(p)} is listed twice`);
        }
        if (p === `${prefix}*`) {
            problems.push(`protectTags[${i}] ${JSON.stringify(p)} is the release pattern itself: it would keep every release forever`);
        }
        seen.add(p);
    });
    return problems;
}

/**
 * The lifecycle policy for one repository: protect rules (priorities 1..n, one per protectTags pattern), then keep
 * the newest `keepReleases` release images, then expire untagged images older than `untaggedDays`.
 * Throws on unusable retention settings (config validation should have caught them first).
 */
export function ecrLifecyclePolicy(retention: RetentionInput, opts: LifecycleOptions = {}): LifecyclePolicy {
    const problems = retentionProblems(retention, opts);
    if (problems.length > 0) {
        throw new Error(`invalid retention settings: ${problems.join("; ")}`);
    }
    const prefix = opts.releaseTagPrefix ?? RELEASE_TAG_PREFIX;
    const rules: LifecycleRule[] = retention.protectTags.map((pattern, i) => ({
        rulePriority: i + 1,
        description: `Protect images tagged ${pattern} (never expired)`,
        selection: {
            tagStatus: "tagged",
            tagPatternList: [pattern],
            countType: "imageCountMoreThan",
            countNumber: PROTECT_COUNT,
        },
        action: { type: "expire" },
    }));
    const n = rules.length;
    rules.push({
        rulePriority: n + 1,
        description: `Keep the newest ${retention.keepReleases} release images (${prefix}*)`,
        selection: {
            tagStatus: "tagged",
            tagPatternList: [`${prefix}*`],
            countType: "imageCountMoreThan",
            countNumber: retention.keepReleases,
        },
        action: { type: "expire" },
    });
    rules.push({
        rulePriority: n + 2,
        description: `Expire untagged images older than ${retention.untaggedDays} days`,
        selection: {
            tagStatus: "untagged",
            countType: "sinceImagePushed",
            countUnit: "days",
            countNumber: retention.untaggedDays,
        },
        action: { type: "expire" },
    });
    return { rules };
}

const RULE_KEYS = new Set(["rulePriority", "description", "selection", "action"]);
const SELECTION_KEYS = new Set(["tagStatus", "tagPatternList", "tagPrefixList", "countType", "countUnit", "countNumber", "storageClass"]);
const ACTION_KEYS = new Set(["type", "targetStorageClass"]);
const TAG_STATUSES = new Set(["tagged", "untagged", "any"]);
const COUNT_TYPES = new Set(["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"]);

function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unknownKeys(obj: Record<string, unknown>, allowed: Set<string>): string[] {
    return Object.keys(obj).filter((k) => !allowed.has(k));
}

function isStringList(v: unknown): v is string[] {
    return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/**
 * Checks a lifecycle policy against the constraints AWS documents (see the header). Returns one message per
 * violation; empty means valid. Unknown keys are violations too: ECR validates the policy text against a JSON
 * schema, and a misspelt key in a policy we generate would otherwise change its meaning silently.
 */
export function validateLifecyclePolicy(policy: unknown): string[] {
    const errs: string[] = [];
    if (!isObject(policy) || !Array.isArray(policy.rules)) {
        return ["policy must be an object with a `rules` array"];
    }
    const extra = unknownKeys(policy, new Set(["rules"]));
    if (extra.length > 0) errs.push(`policy has unknown keys: ${extra.join(", ")}`);
    if (policy.rules.length === 0) errs.push("policy must have at least one rule");
    const length = JSON.stringify(policy).length;
    if (length > MAX_POLICY_LENGTH) errs.push(`policy is ${length} characters; ECR allows at most ${MAX_POLICY_LENGTH}`);

    const priorities = new Map<number, number>();
    const tagSets = new Map<string, number>();
    let untaggedRules = 0;
    let anyRules = 0;
    let maxPriority = -Infinity;
    const anyPriorities: number[] = [];

    policy.rules.forEach((rule: unknown, i: number) => {
        const at = `rules[${i}]`;
        if (!isObject(rule)) {
            errs.push(`${at} must be an object`);
            return;
        }
        const ruleExtra = unknownKeys(rule, RULE_KEYS);
        if (ruleExtra.length > 0) errs.push(`${at} has unknown keys: ${ruleExtra.join(", ")}`);

        const prio = rule.rulePriority;
        if (typeof prio !== "number" || !Number.isInteger(prio) || prio < 1) {
            errs.push(`${at}.rulePriority must be a positive integer`);
        } else {
            if (priorities.has(prio)) {
                errs.push(`${at}.rulePriority ${prio} is not unique (also rules[${priorities.get(prio)}])`);
            } else {
                priorities.set(prio, i);
            }
            maxPriority = Math.max(maxPriority, prio);
        }
        if (rule.description !== undefined && typeof rule.description !== "string") {
            errs.push(`${at}.description must be a string`);
        }

        const sel = rule.selection;
        if (!isObject(sel)) {
            errs.push(`${at}.selection is required`);
        } else {
            const selExtra = unknownKeys(sel, SELECTION_KEYS);
            if (selExtra.length > 0) errs.push(`${at}.selection has unknown keys: ${selExtra.join(", ")}`);
            const status = sel.tagStatus;
            const hasPatterns = sel.tagPatternList !== undefined;
            const hasPrefixes = sel.tagPrefixList !== undefined;
            if (typeof status !== "string" || !TAG_STATUSES.has(status)) {
                errs.push(`${at}.selection.tagStatus must be tagged, untagged or any`);
            } else if (status === "tagged") {
                if (!hasPatterns && !hasPrefixes) {
                    errs.push(`${at}.selection: tagStatus tagged requires tagPatternList or tagPrefixList`);
                }
                if (hasPatterns && hasPrefixes) {
                    errs.push(`${at}.selection: tagPatternList and tagPrefixList cannot both be set`);
                }
            } else {
                if (hasPatterns || hasPrefixes) {
                    errs.push(`${at}.selection: tagStatus ${status} must omit tagPatternList and tagPrefixList`);
                }
                if (status === "untagged") untaggedRules++;
                if (status === "any") {
                    anyRules++;
                    if (typeof prio === "number") anyPriorities.push(prio);
                }
            }
            if (hasPatterns) {
                if (!isStringList(sel.tagPatternList) || sel.tagPatternList.length === 0) {
                    errs.push(`${at}.selection.tagPatternList must be a non-empty list of strings`);
                } else {
                    sel.tagPatternList.forEach((p, j) => {
                        if (p.length === 0) errs.push(`${at}.selection.tagPatternList[${j}] is empty`);
                        else if (!TAG_PATTERN.test(p))
                            errs.push(`${at}.selection.tagPatternList[${j}] ${JSON.stringify(p)} has characters outside [A-Za-z0-9_.-*]`);
                        if (wildcardCount(p) > MAX_WILDCARDS) {
                            errs.push(`${at}.selection.tagPatternList[${j}] ${JSON.stringify(p)} has more than ${MAX_WILDCARDS} '*' wildcards`);
                        }
                    });
                }
            }
            if (hasPrefixes) {
                if (!isStringList(sel.tagPrefixList) || sel.tagPrefixList.length === 0) {
                    errs.push(`${at}.selection.tagPrefixList must be a non-empty list of strings`);
                } else if (sel.tagPrefixList.some((p) => p.length === 0)) {
                    errs.push(`${at}.selection.tagPrefixList has an empty prefix`);
                }
            }
            if (status === "tagged" && (isStringList(sel.tagPatternList) || isStringList(sel.tagPrefixList))) {
                const kind = hasPatterns ? "pattern" : "prefix";
                const list = (hasPatterns ? sel.tagPatternList : sel.tagPrefixList) as string[];
                const key = `${kind}:${[...new Set(list)].sort().join("\u0000")}`;
                if (tagSets.has(key)) {
                    errs.push(`${at}.selection selects the same tag ${kind} set as rules[${tagSets.get(key)}] (rules must have a unique set of tag filters)`);
                } else {
                    tagSets.set(key, i);
                }
            }

            const countType = sel.countType;
            if (typeof countType !== "string" || !COUNT_TYPES.has(countType)) {
                errs.push(`${at}.selection.countType must be one of ${[...COUNT_TYPES].join(", ")}`);
            } else if (countType === "imageCountMoreThan") {
                if (sel.countUnit !== undefined) errs.push(`${at}.selection.countUnit must be omitted with imageCountMoreThan`);
            } else if (sel.countUnit !== "days") {
                errs.push(`${at}.selection.countUnit must be "days" with ${countType}`);
            }
            const cn = sel.countNumber;
            if (typeof cn !== "number" || !Number.isInteger(cn) || cn < 1) {
                errs.push(`${at}.selection.countNumber must be an integer ≥ 1`);
            }
            if (sel.storageClass !== undefined && sel.storageClass !== "standard" && sel.storageClass !== "archive") {
                errs.push(`${at}.selection.storageClass must be standard or archive`);
            }
        }

        const action = rule.action;
        if (!isObject(action)) {
            errs.push(`${at}.action is required`);
        } else {
            const actExtra = unknownKeys(action, ACTION_KEYS);
            if (actExtra.length > 0) errs.push(`${at}.action has unknown keys: ${actExtra.join(", ")}`);
            if (action.type === "expire") {
                if (action.targetStorageClass !== undefined) errs.push(`${at}.action.targetStorageClass is only for transition`);
            } else if (action.type === "transition") {
                if (action.targetStorageClass !== "archive") errs.push(`${at}.action: transition requires targetStorageClass "archive"`);
            } else {
                errs.push(`${at}.action.type must be expire or transition`);
            }
        }
    });

    if (untaggedRules > 1) errs.push(`only one rule may select untagged images (found ${untaggedRules})`);
    if (anyRules > 1) errs.push(`only one rule may have tagStatus any (found ${anyRules})`);
    for (const p of anyPriorities) {
        if (p !== maxPriority) errs.push(`the tagStatus any rule (priority ${p}) must have the highest rulePriority (${maxPriority})`);
    }
    return errs;
}

function quoteList(list: string[]): string {
    return list.map((s) => `"${s}"`).join(" and ");
}

function describeSelection(sel: LifecycleSelection): string {
    if (sel.tagStatus === "untagged") return "untagged images";
    if (sel.tagStatus === "any") return "all images";
    if (sel.tagPatternList) return `images tagged ${quoteList(sel.tagPatternList)}`;
    return `images with tags starting ${quoteList(sel.tagPrefixList ?? [])}`;
}

/** Human-readable lines for `npm run plan`, in priority order, plus what the policy leaves alone. */
export function describeRetention(policy: LifecyclePolicy): string[] {
    const rules = [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority);
    const lines = rules.map((r) => {
        const s = r.selection;
        const what = describeSelection(s);
        const verb = r.action.type === "transition" ? "archive" : "expire";
        let text: string;
        if (s.countType === "imageCountMoreThan" && s.countNumber >= PROTECT_COUNT) {
            text = `protect ${what}: never ${verb}d, and no lower rule can touch them`;
        } else if (s.countType === "imageCountMoreThan") {
            text = `keep the newest ${s.countNumber} ${what} (by push time); ${verb} older ones not protected above`;
        } else {
            const since = s.countType === "sinceImagePulled" ? "last pulled" : s.countType === "sinceImageTransitioned" ? "archived" : "pushed";
            text = `${verb} ${what} ${since} more than ${s.countNumber} ${s.countUnit ?? "days"} ago`;
        }
        return `priority ${r.rulePriority}: ${text}`;
    });
    if (!rules.some((r) => r.selection.tagStatus === "any")) {
        lines.push("images whose tags match no rule are never expired");
    }
    return lines;
}
