/**
 * npm run promote -- --model <m> --from dev --to prod [--dry-run]
 * npm run promote -- --model <m> --to prod --digest sha256:… --version x.y.z [--tag v<x.y.z>-<sha>] [--dry-run]   (rollback / explicit)
 *
 * Thin wrapper around the pure `planPromotion`: reads the source stack's `images` output with the Pulumi CLI,
 * reads `Pulumi.<to>.yaml`, prints the diff, and pins the target model with `pulumi config set --path`
 * (or only prints those commands with --dry-run). It never builds: the target runs the source's exact digest.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { isDeepStrictEqual, parseArgs } from "util";
import * as YAML from "yaml";
import { applyConfigSets, modelsFromStackFile, planPromotion, PromotionError, PromotionSource } from "../components/image/promote";

const ROOT = path.resolve(__dirname, "..");

const USAGE = `usage:
  npm run promote -- --model <name> --from <stack> --to <stack> [--dry-run]
  npm run promote -- --model <name> --to <stack> --digest sha256:<64 hex> --version <x.y.z> [--tag v<x.y.z>-<sha>] [--dry-run]`;

function shellQuote(arg: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function pulumi(args: string[], capture: boolean): string {
    return execFileSync("pulumi", args, {
        cwd: ROOT,
        encoding: "utf8",
        stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit",
    }) as unknown as string;
}

/** `Pulumi.<stack>.yaml` for a stack name, also for fully-qualified `org/project/stack` names. */
function stackFile(stack: string): string {
    return path.join(ROOT, `Pulumi.${stack.split("/").pop()}.yaml`);
}

function main(): number {
    const { values } = parseArgs({
        options: {
            model: { type: "string" },
            from: { type: "string" },
            to: { type: "string" },
            digest: { type: "string" },
            version: { type: "string" },
            tag: { type: "string" },
            "dry-run": { type: "boolean", default: false },
            help: { type: "boolean", short: "h", default: false },
        },
        strict: true,
        allowPositionals: false,
    });
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    const { model, from, to } = values;
    const explicit = values.digest !== undefined || values.version !== undefined;
    if (!model || !to || (!explicit && !from) || (explicit && (!values.digest || !values.version))) {
        console.error(USAGE);
        return 2;
    }

    let source: PromotionSource;
    if (explicit) {
        source = { kind: "explicit", digest: values.digest as string, version: values.version as string, ...(values.tag ? { tag: values.tag as string } : {}) };
    } else {
        const out = pulumi(["stack", "output", "--stack", from as string, "--json", "images"], true);
        let images: unknown;
        try {
            images = JSON.parse(out);
        } catch {
            throw new PromotionError(`pulumi stack output --stack ${from} --json images did not print JSON: ${out.slice(0, 200)}`);
        }
        source = { kind: "stack", stack: from as string, images };
    }

    const file = stackFile(to);
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
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
    for (const args of plan.commands) {
        pulumi(args, false);
    }
    // Check the file now says what the plan meant it to say.
    const expected = modelsFromStackFile(applyConfigSets(doc, plan.sets), to)[plan.index];
    const actual = modelsFromStackFile(YAML.parse(fs.readFileSync(file, "utf8")), to)[plan.index];
    if (!isDeepStrictEqual(actual, expected)) {
        throw new PromotionError(`${path.basename(file)} does not show the promoted values for ${model}; check it by hand`);
    }
    console.log(`\n${path.basename(file)} updated. Review and commit it, then run: pulumi up --stack ${to}`);
    return 0;
}

try {
    process.exitCode = main();
} catch (e) {
    console.error(`promote: ${(e as Error).message}`);
    process.exitCode = 1;
}
