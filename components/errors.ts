/**
 * A component's refusal of its inputs: the domain rules' issues as one `pulumi.InputPropertiesError`, which the
 * engine prints per property (as pulumi-eks does, `nodejs/eks/nodes/ami.ts`). The message holds the same
 * `path (value) reason` lines config validation prints.
 */
import * as pulumi from "@pulumi/pulumi";
import { formatIssue, formatValue, prefixIssues, RuleIssue } from "../domain/rules/issues";

/** The error for `issues` (paths relative to the component's args, after `prefix`), headed by `what`. */
export function inputPropertiesError(what: string, issues: readonly RuleIssue[], prefix = ""): pulumi.InputPropertiesError {
    const all = prefixIssues(prefix, issues);
    const error = new pulumi.InputPropertiesError({
        message: `${what}: ${all.map(formatIssue).join("; ")}`,
        errors: all.map((i) => ({ propertyPath: i.path, reason: `${formatValue(i.value)}${i.value === undefined ? "" : " "}${i.reason}` })),
    });
    // No stack trace: the message says everything a user can act on (as config errors).
    error.stack = error.message;
    return error;
}

/** Throws `inputPropertiesError(what, issues, prefix)` when there is any issue. */
export function throwOnIssues(what: string, issues: readonly RuleIssue[], prefix = ""): void {
    if (issues.length > 0) throw inputPropertiesError(what, issues, prefix);
}
