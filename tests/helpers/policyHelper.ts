/**
 * Runs one policy the way @pulumi/policy 1.21's analyzer server would, through `support/policy/evaluate.ts` (the code the
 * offline runner uses): `ResourceValidationArgs` / `StackValidationArgs` carry `stackTags`, `getConfig()` and
 * `notApplicable()` (which 1.21's typed helpers call, and which older community helpers lack).
 */
import type { Policy } from "@pulumi/policy";
import { EvaluateOptions, NotApplicable, PackConfig, PlannedResource, Violation, evaluatePolicy } from "../../support/policy/evaluate";

export interface RunOptions {
    /** Stack tags, e.g. `{ environment: "production" }`. */
    stackTags?: Record<string, string>;
    /** This policy's config properties (`{ environment: "production" }`), or a level. */
    config?: PackConfig[string];
    /** Pulumi name of the resource (resource policies). */
    name?: string;
    /** URN of the resource (resource policies), e.g. one under a Helm chart component. */
    urn?: string;
}

export interface Outcome {
    messages: string[];
    violations: Violation[];
    notApplicable: NotApplicable[];
}

function options(policy: Policy, opts: RunOptions): EvaluateOptions {
    return {
        stack: "test",
        stackTags: opts.stackTags,
        config: opts.config === undefined ? undefined : { [policy.name]: opts.config },
    };
}

/** Everything a resource policy reports for one resource. */
export async function resourcePolicyOutcome(policy: Policy, type: string, props: Record<string, any>, opts: RunOptions = {}): Promise<Outcome> {
    const resource: PlannedResource = { type, name: opts.name ?? "subject", urn: opts.urn, inputs: props };
    const e = await evaluatePolicy(policy, [resource], options(policy, opts));
    return { messages: e.violations.map((v) => v.message), violations: e.violations, notApplicable: e.notApplicable };
}

/** The violation messages a resource policy reports for one resource (`[]` when compliant or not applicable). */
export async function runResourcePolicy(policy: Policy, type: string, props: Record<string, any>, opts: RunOptions = {}): Promise<string[]> {
    return (await resourcePolicyOutcome(policy, type, props, opts)).messages;
}

/** A resource for a stack fixture: `props` are its inputs; name and URN default from the type. */
export interface StackFixtureResource {
    type: string;
    name?: string;
    urn?: string;
    parent?: string;
    props: Record<string, any>;
    propertyDependencies?: Record<string, string[]>;
}

export function planned(resources: StackFixtureResource[]): PlannedResource[] {
    return resources.map((r, i) => ({
        type: r.type,
        name: r.name ?? `r${i}`,
        urn: r.urn,
        parent: r.parent,
        inputs: r.props,
        propertyDependencies: r.propertyDependencies,
    }));
}

/** Everything a stack policy reports for a list of resources. */
export async function stackPolicyOutcome(policy: Policy, resources: StackFixtureResource[], opts: RunOptions = {}): Promise<Outcome> {
    const e = await evaluatePolicy(policy, planned(resources), options(policy, opts));
    return { messages: e.violations.map((v) => v.message), violations: e.violations, notApplicable: e.notApplicable };
}

/** The violation messages a stack policy reports. */
export async function runStackPolicy(policy: Policy, resources: StackFixtureResource[], opts: RunOptions = {}): Promise<string[]> {
    return (await stackPolicyOutcome(policy, resources, opts)).messages;
}
