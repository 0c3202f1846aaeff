/**
 * Offline evaluation of the pack's policies: the same argument objects @pulumi/policy 1.21's analyzer server
 * builds (`ResourceValidationArgs` with `stackTags`, `getConfig`, `notApplicable`; `StackValidationArgs` with linked
 * `PolicyResource`s), the same enforcement-level rules (policy config over the policy's level over the pack's
 * default `advisory`; `disabled` skips; `remediate` reports as `mandatory`), run over a list of planned resources.
 *
 * Pure: no I/O, no runtime dependency (types only). `scripts/policy.ts` and `tests/helpers/policyHelper.ts` both use it,
 * so the runner and the tests evaluate policies through one code path.
 */
import type {
    EnforcementLevel,
    Policies,
    Policy,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";

/** A resource as `npm run plan` writes it to `out/<stack>/resources.json`. */
export interface PlannedResource {
    type: string;
    name: string;
    urn?: string;
    /** URN of the parent resource. */
    parent?: string;
    /** The resource's inputs, as the provider receives them (camelCase, Outputs resolved). */
    inputs: Record<string, any>;
    /** URNs this resource depends on. */
    dependencies?: string[];
    /** Property name → URNs the property's value came from. */
    propertyDependencies?: Record<string, string[]>;
}

/** Per-policy config in `--policy-pack-config` form: a level, or `{ enforcementLevel?, ...properties }`. */
export type PolicyConfigEntry = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);
export type PackConfig = Record<string, PolicyConfigEntry>;

export interface EvaluateOptions {
    /** Stack tags (`environment: production` marks a production stack). */
    stackTags?: Record<string, string>;
    /** Policy config, as in a `--policy-pack-config` file. */
    config?: PackConfig;
    /** Stack and project names, for URNs a resource lacks. */
    stack?: string;
    project?: string;
}

export type ReportedLevel = "advisory" | "mandatory";

export interface Violation {
    policyName: string;
    description: string;
    enforcementLevel: ReportedLevel;
    message: string;
    /** The resource in violation (always set for resource policies; set by stack policies that name one). */
    urn?: string;
    resourceType?: string;
    resourceName?: string;
}

export interface NotApplicable {
    policyName: string;
    reason: string;
    urn?: string;
}

export interface Evaluation {
    violations: Violation[];
    notApplicable: NotApplicable[];
}

/** Thrown by `args.notApplicable()`; @pulumi/policy's own class is internal to its server. */
class NotApplicableError extends Error {
    constructor(public readonly reason: string) {
        super(reason);
    }
}

const PACK_DEFAULT_LEVEL: EnforcementLevel = "advisory";

export function isResourcePolicy(p: Policy): p is ResourceValidationPolicy {
    const v = (p as ResourceValidationPolicy).validateResource;
    return typeof v === "function" || (Array.isArray(v) && v.every((f) => typeof f === "function"));
}

export function isStackPolicy(p: Policy): p is StackValidationPolicy {
    return typeof (p as StackValidationPolicy).validateStack === "function";
}

function configuredLevel(entry: PolicyConfigEntry | undefined): EnforcementLevel | undefined {
    return typeof entry === "string" ? entry : entry?.enforcementLevel;
}

/**
 * The level a policy reports at under `config`, or `"disabled"`: the policy's entry, else the `all` entry, else the
 * policy's own level, else the pack's default (the Pulumi CLI's order: pulumi/pulumi
 * `pkg/resource/analyzer/config.go` `applyConfig`).
 */
export function effectiveLevel(policy: Policy, config: PackConfig = {}): ReportedLevel | "disabled" {
    const level = configuredLevel(config[policy.name]) ?? configuredLevel(config.all) ?? policy.enforcementLevel ?? PACK_DEFAULT_LEVEL;
    if (level === "disabled") return "disabled";
    return level === "advisory" ? "advisory" : "mandatory"; // "remediate" reports as mandatory
}

function policyConfig(policy: Policy, config: PackConfig = {}): Record<string, unknown> {
    const entry = config[policy.name];
    if (entry === undefined || typeof entry === "string") return {};
    const { enforcementLevel: _level, ...properties } = entry;
    return properties;
}

function urnOf(r: PlannedResource, opts: EvaluateOptions): string {
    return r.urn ?? `urn:pulumi:${opts.stack ?? "stack"}::${opts.project ?? "model-fleet"}::${r.type}::${r.name}`;
}

function resourceOptions(r: PlannedResource): PolicyResourceOptions {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(r.parent ? { parent: r.parent } : {}),
    };
}

/** Same check as the policy server: the class's `__pulumiType`, else its `isInstance`. */
function isTypeOf(type: string, resourceClass: any): boolean {
    const token = resourceClass?.__pulumiType;
    if (typeof token === "string" && token !== "") return type === token;
    const isInstance = resourceClass?.isInstance;
    return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

function tagsOf(opts: EvaluateOptions): ReadonlyMap<string, string> {
    return new Map(Object.entries(opts.stackTags ?? {}));
}

function throwNotApplicable(reason?: string): never {
    throw new NotApplicableError(reason ?? "");
}

/** Each validation gets its own copy of the props, as each server call deserializes them afresh. */
function copy<T>(value: T): T {
    return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** The `ResourceValidationArgs` the policy server would pass for `r`. */
export function resourceValidationArgs(policy: Policy, r: PlannedResource, opts: EvaluateOptions = {}): ResourceValidationArgs {
    const props = copy(r.inputs ?? {});
    const config = policyConfig(policy, opts.config);
    return {
        type: r.type,
        props,
        urn: urnOf(r, opts),
        name: r.name,
        opts: resourceOptions(r),
        stackTags: tagsOf(opts),
        isType: (cls) => isTypeOf(r.type, cls),
        asType: ((cls: any) => (isTypeOf(r.type, cls) ? props : undefined)) as ResourceValidationArgs["asType"],
        getConfig: <T extends object>() => ({ ...config }) as T,
        notApplicable: throwNotApplicable,
    };
}

/** The `StackValidationArgs` the policy server would pass: resources linked to their parents and dependencies. */
export function stackValidationArgs(policy: Policy, resources: PlannedResource[], opts: EvaluateOptions = {}): StackValidationArgs {
    const byUrn = new Map<string, PolicyResource>();
    const built = resources.map((r) => {
        const props = copy(r.inputs ?? {});
        const res: PolicyResource = {
            type: r.type,
            props,
            urn: urnOf(r, opts),
            name: r.name,
            opts: resourceOptions(r),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(r.type, cls),
            asType: ((cls: any) => (isTypeOf(r.type, cls) ? props : undefined)) as PolicyResource["asType"],
        };
        byUrn.set(res.urn, res);
        return { r, res };
    });
    for (const { r, res } of built) {
        if (r.parent && byUrn.has(r.parent)) res.parent = byUrn.get(r.parent);
        res.dependencies = (r.dependencies ?? []).map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
        for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
            res.propertyDependencies[k] = urns.map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
        }
    }
    const config = policyConfig(policy, opts.config);
    return {
        resources: built.map((b) => b.res),
        stackTags: tagsOf(opts),
        getConfig: <T extends object>() => ({ ...config }) as T,
        notApplicable: throwNotApplicable,
    };
}

function failure(policy: Policy, e: unknown, what: string): Error {
    const msg = e instanceof Error ? e.message : String(e);
    return new Error(`Error validating ${what} with policy '${policy.name}': ${msg}`);
}

/** Runs one policy over the resources (a resource policy on each, a stack policy once). */
export async function evaluatePolicy(policy: Policy, resources: PlannedResource[], opts: EvaluateOptions = {}): Promise<Evaluation> {
    const out: Evaluation = { violations: [], notApplicable: [] };
    const level = effectiveLevel(policy, opts.config);
    if (level === "disabled") return out;
    const base = { policyName: policy.name, description: policy.description, enforcementLevel: level };

    if (isResourcePolicy(policy) && policy.validateResource) {
        const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
        for (const r of resources) {
            for (const validate of validations) {
                const args = resourceValidationArgs(policy, r, opts);
                const report = (message: string) => {
                    // As in the server, a resource policy's violation always names the resource being validated.
                    out.violations.push({ ...base, message, urn: args.urn, resourceType: r.type, resourceName: r.name });
                };
                try {
                    await Promise.resolve(validate(args, report));
                } catch (e) {
                    if (e instanceof NotApplicableError) {
                        out.notApplicable.push({ policyName: policy.name, reason: e.reason, urn: args.urn });
                    } else {
                        throw failure(policy, e, `resource ${args.urn}`);
                    }
                }
            }
        }
    } else if (isStackPolicy(policy)) {
        const args = stackValidationArgs(policy, resources, opts);
        const byUrn = new Map(args.resources.map((r) => [r.urn, r]));
        const report = (message: string, urn?: string) => {
            const r = urn ? byUrn.get(urn) : undefined;
            out.violations.push({ ...base, message, ...(urn ? { urn } : {}), ...(r ? { resourceType: r.type, resourceName: r.name } : {}) });
        };
        try {
            await Promise.resolve(policy.validateStack(args, report));
        } catch (e) {
            if (e instanceof NotApplicableError) {
                out.notApplicable.push({ policyName: policy.name, reason: e.reason });
            } else {
                throw failure(policy, e, "the stack");
            }
        }
    }
    return out;
}

/** Runs every policy: resource policies on each resource, stack policies on the whole list. */
export async function evaluate(policies: Policies, resources: PlannedResource[], opts: EvaluateOptions = {}): Promise<Evaluation> {
    const out: Evaluation = { violations: [], notApplicable: [] };
    for (const p of policies) {
        const r = await evaluatePolicy(p, resources, opts);
        out.violations.push(...r.violations);
        out.notApplicable.push(...r.notApplicable);
    }
    return out;
}

export function mandatoryViolations(e: Evaluation): Violation[] {
    return e.violations.filter((v) => v.enforcementLevel === "mandatory");
}

/**
 * A human report: violations grouped by enforcement level (mandatory first), then by policy, each with the
 * resource it names; then a one-line summary.
 */
export function formatReport(e: Evaluation, policies: Policies, heading: string, opts: EvaluateOptions = {}): string {
    const lines: string[] = [heading];
    for (const level of ["mandatory", "advisory"] as const) {
        const ofLevel = e.violations.filter((v) => v.enforcementLevel === level);
        lines.push("", `${level.toUpperCase()} (${ofLevel.length} violation${ofLevel.length === 1 ? "" : "s"})`);
        const byPolicy = new Map<string, Violation[]>();
        for (const v of ofLevel) byPolicy.set(v.policyName, [...(byPolicy.get(v.policyName) ?? []), v]);
        if (byPolicy.size === 0) lines.push("  none");
        for (const [name, vs] of byPolicy) {
            lines.push(`  ${name}: ${vs[0].description}`);
            for (const v of vs) {
                const where = v.resourceType ? `${v.resourceType} ${v.resourceName}` : "stack";
                lines.push(`    - [${where}] ${v.message}`);
            }
        }
    }
    const active = policies.filter((p) => effectiveLevel(p, opts.config) !== "disabled").length;
    const mandatory = mandatoryViolations(e).length;
    lines.push(
        "",
        `${active} policies evaluated: ${mandatory} mandatory and ${e.violations.length - mandatory} advisory violation(s). ` +
            (mandatory > 0 ? "FAILED" : "PASSED"),
    );
    return lines.join("\n");
}
