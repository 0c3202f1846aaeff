/**
 * npm run rollback -- --model <m> --stack <s> [--to <version|tag>] [--signing-key <ref>] [--registry <host/path>] [--allow-regression <reason>] [--skip-preview] [--dry-run]
 *
 * Pins an older version the registry still holds, through the promotion path: lists the stack's repository
 * (scripts/versions.ts), decides the target with the pure `planRollback` (release/rollback.ts), then calls
 * `promote()` (scripts/promote.ts) with the explicit digest, version, release tag, repository and signing key, so
 * the scan gate, the signature check and the card checks apply as for any promotion. Then `pulumi preview --diff`.
 * Never rebuilds. A model that mounts a weights artifact rolls back its weights with it (`--weights-digest`,
 * `--weights-tag`; the rule is release/rollback.ts's, docs/design/weights.md).
 */
import { spawnSync } from "child_process";
import { command, findTool, readFleetConfig, REPO_ROOT, runMain, UsageError, Values } from "./cli";
import { stackFilePath, stackNameOf } from "../support/stackFile";
import { promote } from "./promote";
import { gatherVersions, RegistryAccess } from "./versions";
import { planRollback, RollbackError } from "../release/rollback";
import { PromotionError } from "../release/promotion";
import { RegistryError } from "../release/registryImages";
import { pinnedImage } from "../release/versions";

export const rollbackCommand = command({
    name: "rollback",
    usage: [
        "--model <name> --stack <name> [--to <x.y.z>|<v<x.y.z>-<sha>>] [--signing-key <ref>] [--registry <host>/<path>] [--allow-regression <reason>] [--allow-vulnerable <reason>] [--skip-preview] [--dry-run]",
    ],
    description: `
Rolls a model of a stack back to an older version the registry still holds. Default: the release the running one
replaced (its recorded image.previousTag), else the highest held version below the running one; --to picks one.
Refuses a version retention no longer holds (naming those it holds), and the version already running. It never
rebuilds: it runs the promotion of that digest (npm run promote with --digest --version --tag --repository
--signing-key), with its scan gate, signature check and card gate (--allow-regression and --allow-vulnerable are
passed to it), then \`pulumi preview --stack <s> --diff\` (or prints it
when the Pulumi CLI is not installed). --dry-run prints what it would do and changes nothing.

A model that mounts a weights artifact (models[].weights) rolls back its weights with its image: to the recorded
weights.previousTag when it is a release of the chosen version, else to the one weights artifact tagged for that
version (v<x.y.z>-<sha>) in the weights' repository; none or several is refused, naming the explicit
\`npm run promote -- --digest … --weights-digest …\` that says which.`,
    options: {
        model: { type: "string", value: "name", help: "the model to roll back" },
        stack: { type: "string", value: "name", help: "the stack (a promotion target: it deploys digests, it does not build)" },
        to: { type: "string", value: "version|tag", help: "the version (2.1.3) or release tag (v2.1.3-<sha>) to go back to" },
        "signing-key": {
            type: "string",
            value: "ref",
            help: "the key the target was signed with (default: the model's recorded image.signingKey, else the stack's signing key)",
        },
        registry: { type: "string", value: "host/path", help: "read this repository (distribution API) instead of the stack's registry" },
        "allow-regression": {
            type: "string",
            value: "reason",
            help: "roll back although the target's card is missing or its held-out accuracy is lower than the running version's by more than maxAccuracyDrop; recorded with who and when",
        },
        "allow-vulnerable": { type: "string", value: "reason", help: "roll back despite scan findings at or above the threshold; recorded with who and when" },
        "skip-preview": { type: "boolean", help: "update the stack file but do not run `pulumi preview` (print the command instead)" },
        "dry-run": { type: "boolean", help: "print what would be done; change nothing" },
    },
    userErrors: [RollbackError, RegistryError, PromotionError],
});

type Opts = Values<typeof rollbackCommand.spec.options>;

export async function rollback(values: Opts): Promise<number> {
    return rollbackWith(values, {});
}

/** The rollback with its registry access and Pulumi CLI injectable (tests); `rollback` uses the real ones. */
export async function rollbackWith(values: Opts, deps: { access?: RegistryAccess; cli?: string | null }): Promise<number> {
    const model = values.model as string | undefined;
    const stack = values.stack as string | undefined;
    if (!model || !stack) throw new UsageError(rollbackCommand.usage());
    const { config } = readFleetConfig(stack);
    const pinned = pinnedImage(config, model);
    if (!pinned.declared) throw new RollbackError(`model ${model} is not declared in Pulumi.${stack}.yaml`);
    if (pinned.builds) planRollback({ model, stack, running: pinned, builds: true, held: [] });

    const base = { model, stack, registry: values.registry, key: undefined, json: undefined };
    const { report } = await gatherVersions({ ...base, weights: undefined }, { verify: false, ...deps });
    // Weights in a repository of their own: its versions too (in the model's own, `report` holds them already).
    const weightsReport =
        pinned.weights?.repository !== undefined && pinned.weights.repository !== model && values.registry === undefined
            ? (await gatherVersions({ ...base, weights: true }, { verify: false, ...deps })).report
            : undefined;
    const plan = planRollback({
        model,
        stack,
        running: pinned,
        builds: false,
        held: report.entries,
        ...(weightsReport ? { weightsHeld: weightsReport.entries } : {}),
        ...(values.to ? { to: values.to as string } : {}),
    });
    console.log(
        `rollback ${model} in stack ${stackNameOf(stack)}: ${pinned.version ?? "?"} (${pinned.tag ?? pinned.digest ?? "?"}) → ${plan.version} (${plan.tag}), chosen as ${plan.chosenBy}`,
    );
    if (plan.weights) console.log(`  with the weights ${plan.weights.tag} (${plan.weights.digest}), chosen as ${plan.weights.chosenBy}`);
    for (const n of plan.notes) console.log(`note: ${n}`);
    const signingKey =
        (values["signing-key"] as string | undefined) ??
        pinned.signingKey ??
        (typeof config.supplyChain?.signing?.keyRef === "string" ? config.supplyChain.signing.keyRef : undefined);
    console.log("");

    const code = await promote({
        model,
        to: stack,
        from: undefined,
        digest: plan.digest,
        version: plan.version,
        tag: plan.tag,
        repository: report.repository,
        "signing-key": signingKey,
        "weights-digest": plan.weights?.digest,
        "weights-tag": plan.weights?.tag,
        "weights-repository": plan.weights ? (weightsReport?.repository ?? report.repository) : undefined,
        "allow-vulnerable": values["allow-vulnerable"],
        "allow-regression": values["allow-regression"],
        "dry-run": values["dry-run"],
    });
    if (code !== 0) return code;

    // A stack given as a file is previewed with that file's config (as promote edited it).
    const preview = /\.ya?ml$/.test(stack)
        ? ["preview", "--stack", stackNameOf(stack), "--config-file", stackFilePath(stack), "--diff"]
        : ["preview", "--stack", stack, "--diff"];
    const cli = deps.cli === undefined ? findTool("pulumi") : deps.cli === null ? undefined : { path: deps.cli };
    if (values["dry-run"] || values["skip-preview"] || !cli) {
        const why = values["dry-run"]
            ? "--dry-run: then"
            : values["skip-preview"]
              ? "--skip-preview: preview with"
              : "the Pulumi CLI is not installed; preview with";
        console.log(`\n${why}: pulumi ${preview.join(" ")}`);
        return 0;
    }
    console.log(`\n$ pulumi ${preview.join(" ")}`);
    const r = spawnSync(cli.path, preview, { cwd: REPO_ROOT, stdio: "inherit" });
    if (r.status !== 0) {
        throw new RollbackError(
            `\`pulumi ${preview.join(" ")}\` exited ${r.status ?? r.error?.message}: Pulumi.${stack}.yaml is updated; review it, fix and preview again`,
        );
    }
    console.log(`\nPulumi.${stack}.yaml updated. Review and commit it, then run: pulumi up --stack ${stack}`);
    return 0;
}

if (require.main === module) {
    void runMain(rollbackCommand, rollback);
}
