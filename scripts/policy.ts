/**
 * `npm run policy -- --stack <name> [--plan] [--tag key=value ...] [--policy-config <file.json>] [--json]`
 *
 * Evaluates the CrossGuard pack (policy/policies.ts) offline on the stack's planned resources, the way
 * `pulumi preview --policy-pack policy` evaluates them on a real preview: every resource policy on every resource,
 * every stack policy on the whole list. Prints the violations grouped by enforcement level and policy, and exits
 * non-zero when any mandatory policy is violated.
 *
 * - Resources come from `out/<stack>/resources.json` (written by `npm run plan`); with `--plan`, or when the file
 *   is missing, the plan is run first (scripts/plan.ts, through the shared mock harness).
 * - Stack tags: `environment` is the stack's resolved `model-fleet:environment` (the plan's `environment`
 *   output), which is the tag CI sets on the real stack (`pulumi stack tag set environment production`).
 *   `--tag key=value` adds or overrides tags.
 * - `--policy-config` takes the same JSON file as `pulumi preview --policy-pack-config` (policy name → level, or
 *   `{ enforcementLevel?, ...config }`).
 */
import * as fs from "fs";
import * as path from "path";
import { EvaluateOptions, Evaluation, PackConfig, PlannedResource, evaluate, formatReport, mandatoryViolations } from "../policy/evaluate";
import { policies } from "../policy/policies";

export const REPO_ROOT = path.resolve(__dirname, "..");

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
    const tagText = Object.entries(stackTags).map(([k, v]) => `${k}=${v}`).join(", ") || "none";
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

export function parseArgs(argv: string[]): Args {
    const args: Args = { stack: "", plan: false, json: false, tags: {} };
    for (let i = 0; i < argv.length; i++) {
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        if (!m) throw new Error(`unexpected argument ${argv[i]}`);
        const [, flag, inline] = m;
        const value = () => {
            const v = inline ?? argv[++i];
            if (v === undefined) throw new Error(`--${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "stack":
                args.stack = value();
                break;
            case "plan":
                args.plan = true;
                break;
            case "json":
                args.json = true;
                break;
            case "tag": {
                const kv = value();
                const eq = kv.indexOf("=");
                if (eq <= 0) throw new Error(`--tag expects key=value, got ${kv}`);
                args.tags[kv.slice(0, eq)] = kv.slice(eq + 1);
                break;
            }
            case "policy-config":
                args.policyConfig = value();
                break;
            case "out":
                args.out = value();
                break;
            default:
                throw new Error(`unknown option --${flag}`);
        }
    }
    if (!args.stack) throw new Error("usage: npm run policy -- --stack <name> [--plan] [--tag key=value] [--policy-config <file.json>] [--json]");
    return args;
}

/** The stack's planned resources and outputs: from `out/<stack>/`, or from a fresh plan. */
async function loadPlan(stack: string, replan: boolean, outRoot: string): Promise<{ resources: PlannedResource[]; outputs?: Record<string, unknown>; source: string }> {
    const dir = path.join(outRoot, stack);
    const resourcesFile = path.join(dir, "resources.json");
    if (replan || !fs.existsSync(resourcesFile)) {
        const { plan } = await import("./plan");
        const result = await plan(stack, { outRoot });
        return { resources: plannedFrom(result.resources), outputs: result.outputs, source: `a fresh plan (written to ${path.relative(process.cwd(), dir)}/)` };
    }
    const resources = plannedFrom(JSON.parse(fs.readFileSync(resourcesFile, "utf8")));
    const outputsFile = path.join(dir, "outputs.json");
    const outputs = fs.existsSync(outputsFile) ? JSON.parse(fs.readFileSync(outputsFile, "utf8")) : undefined;
    const when = fs.statSync(resourcesFile).mtime.toISOString();
    return { resources, outputs, source: `${path.relative(process.cwd(), resourcesFile)} (planned ${when}; --plan to re-plan)` };
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    const policyConfig = args.policyConfig ? (JSON.parse(fs.readFileSync(args.policyConfig, "utf8")) as PackConfig) : undefined;
    const { resources, outputs, source } = await loadPlan(args.stack, args.plan, args.out ?? path.join(REPO_ROOT, "out"));
    const result = await checkStack(args.stack, resources, outputs, { tags: args.tags, policyConfig });
    if (args.json) {
        console.log(JSON.stringify({ stack: args.stack, stackTags: result.stackTags, failed: result.failed, violations: result.evaluation.violations }, null, 2));
    } else {
        console.log(`Resources from ${source}`);
        console.log(result.report);
    }
    return result.failed ? 1 : 0;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e: Error) => {
            console.error(e && (e as any).__pulumiRunError ? e.message : e?.stack ?? String(e));
            process.exit(2);
        },
    );
}
