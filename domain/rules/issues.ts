/**
 * A rule's finding: a key path relative to the rule's input, the offending value, and why. Config validation adds
 * the key-path prefix (`models[1].`); components throw them as `pulumi.InputPropertiesError` (components/errors.ts).
 */
export interface RuleIssue {
    /** Key path relative to the input, e.g. `steps[2]` or `autoscaling.minReplicas`. */
    path: string;
    /** The offending value, shown in parentheses after the path. */
    value?: unknown;
    /** Why, as a predicate of the path: `must be in 1..100`. */
    reason: string;
}

/** `(value)`, or nothing when the issue has no value. */
export function formatValue(value: unknown): string {
    return value === undefined ? "" : `(${typeof value === "string" ? value : JSON.stringify(value)})`;
}

/** `path (value) reason`: the one line config errors and component errors print. */
export function formatIssue(issue: { path: string; value?: unknown; reason: string }): string {
    const value = formatValue(issue.value);
    return `${issue.path}${value === "" ? "" : ` ${value}`} ${issue.reason}`;
}

/** The issues with `prefix` put before each path (`models[0].` + `steps[1]`). */
export function prefixIssues(prefix: string, issues: readonly RuleIssue[]): RuleIssue[] {
    return issues.map((i) => ({ ...i, path: `${prefix}${i.path}` }));
}

export const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** `models[0].canary.steps[1]`: a zod issue path in the key-path form every config and card error uses ("" for the root). */
export function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const part of path) {
        if (typeof part === "number") out += `[${part}]`;
        else out += out === "" ? String(part) : `.${String(part)}`;
    }
    return out;
}

/** The value at a zod issue path in the raw input (undefined where the path leaves the objects). */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
    let cur: any = root;
    for (const part of path) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = cur[part as any];
    }
    return cur;
}
