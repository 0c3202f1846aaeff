/**
 * `npm run policy -- --stack <name> [--plan] [--tag key=value ...] [--policy-config <file.json>] [--json]`
 *
 * Evaluates the CrossGuard pack (policy/policies.ts) offline on the stack's planned resources, the way
 * `pulumi preview --policy-pack policy` evaluates them on a real preview: every resource policy on every resource,
 * every stack policy on the whole list. Prints the violations grouped by enforcement level and policy, and exits
 * non-zero when any mandatory policy is violated.
 *
 * - Resources come from `out/<stack>/resources.json` (written by `npm run plan`); with `--plan`, when the file
 *   is missing, or when the plan is stale (its stack file or the program changed since: `out/<stack>/plan.json`,
 *   scripts/planStamp.ts), the plan is run first (scripts/plan.ts, through the shared mock harness).
 * - Stack tags: `environment` is the stack's resolved `model-fleet:environment` (the plan's `environment`
 *   output), which is the tag CI sets on the real stack (`pulumi stack tag set environment production`).
 *   `--tag key=value` adds or overrides tags.
 * - `--policy-config` takes the same JSON file as `pulumi preview --policy-pack-config` (policy name → level, or
 *   `{ enforcementLevel?, ...config }`), validated before any policy runs (support/policy/config.ts).
 */
import * as fs from "fs";
import * as path from "path";
import { EvaluateOptions, Evaluation, PackConfig, PlannedResource, evaluate, formatReport, mandatoryViolations } from "../support/policy/evaluate";
import { PolicyConfigError, readPackConfig } from "../support/policy/config";
import { policies } from "../policy/policies";
import { command, REPO_ROOT, runMain, UsageError, Values } from "./cli";
import { plannedConfigFile, stalePlanReason } from "./planStamp";

export const policyCommand = command({
    name: "policy",
    usage: ["--stack <name> [--plan] [--tag key=value ...] [--policy-config <file.json>] [--json] [--out <dir>]"],
    description: `
Evaluates the CrossGuard pack (policy/) offline on the stack's planned resources, as \`pulumi preview --policy-pack
policy\` does on a real preview, and prints the violations by enforcement level and policy. Resources come from
out/<stack>/resources.json (npm run plan); with --plan, when that file is missing, or when the stack file or the
program changed since that plan, the stack is planned first. The --policy-config file is validated first (levels:
advisory, mandatory, remediate, disabled). Exit code: 0 without mandatory violations, 1 with any, 2 on a usage,
config or plan error.`,
    options: {
        stack: { type: "string", value: "name", help: "stack whose plan to check (required)" },
        plan: { type: "boolean", help: "re-plan first instead of reading out/<stack>/resources.json (also done when that plan is stale)" },
        tag: { type: "string", multiple: true, value: "key=value", help: "add or override a stack tag (default: environment from the plan)" },
        "policy-config": { type: "string", value: "file.json", help: "policy config, as for pulumi preview --policy-pack-config" },
        json: { type: "boolean", help: "print the result as JSON" },
        out: { type: "string", value: "dir", help: "read and write plans under <dir>/<stack>/ instead of out/<stack>/" },
    },
    errorExitCode: 2,
    userErrors: [PolicyConfigError],
});

export interface CheckOptions {
    /** Tags added to (or overriding) the ones derived from the plan. */
    tags?: Record<string, string>;
    /** Policy config, as in a `--policy-pack-config` file. */
    policyConfig?: PackConfig;
}

export interface CheckResult {
    evaluation: Evaluation;
    stackTags: Record<string, string>;
    report: string;
    /** True when a mandatory policy is violated. */
    failed: boolean;
}

/** Resources as the evaluator takes them, from the plan's resources (resources.json or the harness's). */
export function plannedFrom(resources: { type: string; name: string; urn?: string; parent?: string; inputs?: Record<string, any> }[]): PlannedResource[] {
    return resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, parent: r.parent, inputs: r.inputs ?? {} }));
}

/** The stack tags a real stack carries: `environment` from the program's resolved environment, plus overrides. */
export function stackTagsFor(outputs: Record<string, unknown> | undefined, overrides: Record<string, string> = {}): Record<string, string> {
    const tags: Record<string, string> = {};
    if (typeof outputs?.environment === "string") tags.environment = outputs.environment;
    return { ...tags, ...overrides };
}

/** Evaluates every policy on a stack's resources. Pure apart from the policies themselves. */
export async function checkStack(
    stack: string,
    resources: PlannedResource[],
    outputs: Record<string, unknown> | undefined,
    opts: CheckOptions = {},
): Promise<CheckResult> {
    const stackTags = stackTagsFor(outputs, opts.tags);
    const evalOpts: EvaluateOptions = { stack, stackTags, config: opts.policyConfig };
    const evaluation = await evaluate(policies, resources, evalOpts);
    const tagText =
        Object.entries(stackTags)
            .map(([k, v]) => `${k}=${v}`)
            .join(", ") || "none";
    const heading = `Policy pack model-fleet on stack ${stack}: ${resources.length} resources, stack tags: ${tagText}`;
    return { evaluation, stackTags, report: formatReport(evaluation, policies, heading, evalOpts), failed: mandatoryViolations(evaluation).length > 0 };
}

interface Args {
    stack: string;
    plan: boolean;
    json: boolean;
    tags: Record<string, string>;
    policyConfig?: string;
    out?: string;
}

/** The runner's arguments from the parsed flags; throws UsageError when they do not make a run. */
function argsFrom(v: Values<typeof policyCommand.spec.options>): Args {
    if (!v.stack) throw new UsageError(policyCommand.usage());
    const args: Args = { stack: v.stack, plan: v.plan ?? false, json: v.json ?? false, tags: {} };
    for (const kv of v.tag ?? []) {
        const eq = kv.indexOf("=");
        if (eq <= 0) throw new UsageError(`--tag expects key=value, got ${kv}`);
        args.tags[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    if (v["policy-config"] !== undefined) args.policyConfig = v["policy-config"];
    if (v.out !== undefined) args.out = v.out;
    return args;
}

/** The runner's arguments; throws UsageError on anything else. */
export function parseArgs(argv: string[]): Args {
    const parsed = policyCommand.parse(argv);
    if (parsed.help) throw new UsageError(policyCommand.usage());
    return argsFrom(parsed.values);
}

/** The stack's planned resources and outputs: from `out/<stack>/`, or from a fresh plan. */
async function loadPlan(
    stack: string,
    replan: boolean,
    outRoot: string,
): Promise<{ resources: PlannedResource[]; outputs?: Record<string, unknown>; source: string }> {
    const dir = path.join(outRoot, stack);
    const resourcesFile = path.join(dir, "resources.json");
    const stale = replan || !fs.existsSync(resourcesFile) ? undefined : stalePlanReason(stack, dir);
    if (replan || stale !== undefined || !fs.existsSync(resourcesFile)) {
        const { plan } = await import("./plan");
        const configFile = fs.existsSync(resourcesFile) ? plannedConfigFile(stack, dir) : undefined;
        const result = await plan(configFile ?? stack, { configFile, outRoot });
        const why = stale === undefined ? "" : `; re-planned because ${stale}`;
        return {
            resources: plannedFrom(result.resources),
            outputs: result.outputs,
            source: `a fresh plan (written to ${path.relative(process.cwd(), dir)}/${why})`,
        };
    }
    const resources = plannedFrom(JSON.parse(fs.readFileSync(resourcesFile, "utf8")));
    const outputsFile = path.join(dir, "outputs.json");
    const outputs = fs.existsSync(outputsFile) ? JSON.parse(fs.readFileSync(outputsFile, "utf8")) : undefined;
    const when = fs.statSync(resourcesFile).mtime.toISOString();
    return { resources, outputs, source: `${path.relative(process.cwd(), resourcesFile)} (planned ${when}; --plan to re-plan)` };
}

async function main(args: Args): Promise<number> {
    const policyConfig: PackConfig | undefined = args.policyConfig
        ? readPackConfig(
              args.policyConfig,
              policies.map((p) => p.name),
          )
        : undefined;
    const { resources, outputs, source } = await loadPlan(args.stack, args.plan, args.out ?? path.join(REPO_ROOT, "out"));
    const result = await checkStack(args.stack, resources, outputs, { tags: args.tags, policyConfig });
    if (args.json) {
        console.log(
            JSON.stringify({ stack: args.stack, stackTags: result.stackTags, failed: result.failed, violations: result.evaluation.violations }, null, 2),
        );
    } else {
        console.log(`Resources from ${source}`);
        console.log(result.report);
    }
    return result.failed ? 1 : 0;
}

if (require.main === module) {
    void runMain(policyCommand, (values) => main(argsFrom(values)));
}
