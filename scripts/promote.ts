/**
 * npm run promote -- --model <m> --from dev --to prod [--dry-run]
 * npm run promote -- --model <m> --to prod --digest sha256:… --version x.y.z [--tag v<x.y.z>-<sha>] [--dry-run]   (rollback / explicit)
 *
 * Thin wrapper around the pure `planPromotion`: reads the source stack's `images` output with the Pulumi CLI,
 * reads `Pulumi.<to>.yaml`, prints the diff, and pins the target model with `pulumi config set --path`
 * (or only prints those commands with --dry-run). It never builds: the target runs the source's exact digest.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import { applyConfigSets, modelsFromStackFile, planPromotion, PromotionError, PromotionSource } from "./promotion";
import { command, PULUMI_CLI_HINTS, readStackDocument, REPO_ROOT, requireTool, runMain, stackFilePath, ToolRequest, UsageError, Values } from "./cli";

export const promoteCommand = command({
    name: "promote",
    usage: [
        "--model <name> --from <stack> --to <stack> [--dry-run]",
        "--model <name> --to <stack> --digest sha256:<64 hex> --version <x.y.z> [--tag v<x.y.z>-<sha>] [--dry-run]",
    ],
    description: `
Pins a model of the target stack to the exact image another stack runs (its \`images\` stack output, read with the
Pulumi CLI), or to an explicit digest and version (rollback). Prints the diff, then runs the \`pulumi config set
--path\` commands on Pulumi.<to>.yaml, or only prints them with --dry-run. Nothing is rebuilt.`,
    options: {
        model: { type: "string", value: "name", help: "the model to promote (an entry of model-fleet:models in both stacks)" },
        from: { type: "string", value: "stack", help: "source stack: promote what it runs (needs the Pulumi CLI)" },
        to: { type: "string", value: "stack", help: "target stack (its Pulumi.<stack>.yaml is updated)" },
        digest: { type: "string", value: "sha256:…", help: "explicit digest instead of --from (rollback); needs --version" },
        version: { type: "string", value: "x.y.z", help: "the model version of --digest" },
        tag: { type: "string", value: "v<x.y.z>-<sha>", help: "release tag of --digest (keeps its deployed-tag protect rule)" },
        "dry-run": { type: "boolean", help: "print the pulumi config commands instead of running them" },
    },
    userErrors: [PromotionError],
});

function shellQuote(arg: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The Pulumi CLI (PATH or the sandbox's tool cache), or an error that says what to do without it. */
function pulumiCli(purpose: string, instead: string[]): string {
    const req: ToolRequest = { name: "pulumi", title: "the Pulumi CLI", purpose, instead: [...instead, ...PULUMI_CLI_HINTS] };
    const found = requireTool(promoteCommand, req);
    if (found.source === "tool cache") console.error(`promote: using the Pulumi CLI from the tool cache: ${found.path}`);
    return found.path;
}

/** Runs the Pulumi CLI; a failure (not logged in, no such stack) is a PromotionError naming the command, no stack trace. */
function pulumi(cli: string, args: string[], capture: boolean): string {
    try {
        return execFileSync(cli, args, {
            cwd: REPO_ROOT,
            encoding: "utf8",
            stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit",
        }) as unknown as string;
    } catch (e: any) {
        const why = e?.status !== undefined ? `exited ${e.status} (its error is printed above)` : String(e?.message ?? e);
        throw new PromotionError(
            `\`pulumi ${args.join(" ")}\` ${why}: log the CLI in (\`pulumi login\`, or PULUMI_ACCESS_TOKEN) and check the stack name, or promote an explicit --digest`,
        );
    }
}

function main(values: Values<typeof promoteCommand.spec.options>): number {
    const { model, from, to } = values;
    const explicit = values.digest !== undefined || values.version !== undefined;
    if (!model || !to || (!explicit && !from) || (explicit && (!values.digest || !values.version))) {
        throw new UsageError(promoteCommand.usage());
    }

    let source: PromotionSource;
    if (explicit) {
        source = { kind: "explicit", digest: values.digest as string, version: values.version as string, ...(values.tag ? { tag: values.tag as string } : {}) };
    } else {
        const cli = pulumiCli(`to read stack ${from}'s \`images\` output`, [
            `promote an explicit digest instead (${from}'s digest from \`pulumi stack output --stack ${from} --json images\` where the CLI is set up, or from the registry): ` +
                `npm run promote -- --model ${model} --to ${to} --digest sha256:<64 hex> --version <x.y.z> --tag v<x.y.z>-<sha> --dry-run`,
        ]);
        const out = pulumi(cli, ["stack", "output", "--stack", from as string, "--json", "images"], true);
        let images: unknown;
        try {
            images = JSON.parse(out);
        } catch {
            throw new PromotionError(`pulumi stack output --stack ${from} --json images did not print JSON: ${out.slice(0, 200)}`);
        }
        source = { kind: "stack", stack: from as string, images };
    }

    const file = stackFilePath(to);
    const doc = readStackDocument(file);
    const plan = planPromotion({ model, target: { stack: to, models: modelsFromStackFile(doc, to) }, source });
    console.log(plan.diff);
    if (plan.commands.length === 0) {
        return 0;
    }
    if (values["dry-run"]) {
        console.log("\n--dry-run: would run");
        for (const args of plan.commands) {
            console.log("  pulumi " + args.map(shellQuote).join(" "));
        }
        return 0;
    }
    const cli = pulumiCli(`to run \`pulumi config set\` on ${path.basename(file)}`, [
        "print the commands instead and run them where the Pulumi CLI is set up: add --dry-run",
    ]);
    for (const args of plan.commands) {
        pulumi(cli, args, false);
    }
    // Check the file now says what the plan meant it to say.
    const expected = modelsFromStackFile(applyConfigSets(doc, plan.sets), to)[plan.index];
    const actual = modelsFromStackFile(readStackDocument(file), to)[plan.index];
    if (!isDeepStrictEqual(actual, expected)) {
        throw new PromotionError(`${path.basename(file)} does not show the promoted values for ${model}; check it by hand`);
    }
    console.log(`\n${path.basename(file)} updated. Review and commit it, then run: pulumi up --stack ${to}`);
    return 0;
}

if (require.main === module) {
    void runMain(promoteCommand, main);
}
