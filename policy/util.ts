/**
 * Small helpers shared by every policy file. The pack imports nothing outside `policy/` (it must run on its own
 * under `pulumi preview --policy-pack policy` and when published), and nothing but `@pulumi/policy` at runtime.
 */
import type { ReportViolation, ResourceValidation, ResourceValidationArgs } from "@pulumi/policy";

/**
 * A resource validation that applies to the given Pulumi type tokens only. Matching is by token, because
 * `validateResourceOfType` needs the resource class (and `@pulumi/kubernetes`' `CustomResource` carries no
 * per-kind token, so an Argo `Rollout` can only be matched as `kubernetes:argoproj.io/v1alpha1:Rollout`).
 * For any other type the policy calls `args.notApplicable()`, as @pulumi/policy's own typed helpers do.
 */
export function validateTypes(
    types: readonly string[],
    validate: (props: Record<string, any>, args: ResourceValidationArgs, report: ReportViolation) => void | Promise<void>,
): ResourceValidation {
    const wanted = new Set(types);
    const fn: ResourceValidation = (args, report) => {
        if (!wanted.has(args.type)) {
            return args.notApplicable(`Policy only applies to resources of type ${types.map((t) => `'${t}'`).join(", ")}`);
        }
        return validate(args.props ?? {}, args, report);
    };
    if (types.length === 1) {
        // The policy server skips a policy early for other types when the function carries `__pulumiType`.
        (fn as any).__pulumiType = types[0];
    }
    return fn;
}

/** A violation message: the problem, then what to do about it. Every policy reports through this. */
export function violation(problem: string, remediation: string): string {
    return `${problem} Remediation: ${remediation}`;
}

/** `x` as an array: `undefined`/`null` → `[]`, a non-array → `[]`. */
export function arr<T = any>(x: unknown): T[] {
    return Array.isArray(x) ? (x as T[]) : [];
}

/** `x` as a plain object, or `{}`. */
export function obj(x: unknown): Record<string, any> {
    return x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Record<string, any>) : {};
}

/** Policy config merged over the policy's defaults (the CLI fills schema defaults; the offline runner may not). */
export function configOf<T extends object>(args: { getConfig<C extends object>(): C }, defaults: T): T {
    const given = (args.getConfig<Partial<T>>() ?? {}) as Partial<T>;
    const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
    for (const [k, v] of Object.entries(given)) {
        if (v !== undefined) out[k] = v;
    }
    return out as T;
}
