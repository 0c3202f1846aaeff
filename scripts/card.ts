/**
 * npm run card -- (--stack <name> | --outputs <file.json>) --out <dir> [--training <dir>] [--git-sha <40 hex>] [--dry-run]
 *
 * Writes `<out>/<model>.card.json`, the model card of every image the stack built (release/trainingRecord.ts), for
 * `npm run sign -- --card <out>` to attest. Each card is filled from the image's training record — exported from
 * the image build's BuildKit cache with `docker buildx build --target training-record` into
 * `<out>/training/<model>/` — or from `--training <dir>/<model>/` that a pipeline wrote itself. Thin: the argv, the
 * model list and the card are pure and tested.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { command, readFleetConfig, REPO_ROOT, requireTool, runMain, table, UsageError, Values } from "./cli";
import { readStackOutputs } from "./sign";
import { modelCardJson } from "../domain/card/modelCard";
import { parseDigestRef, shellLine, SigningError, signingInputsFromOutputs } from "../release/signing";
import { builtModels, cardsFromRecords, TrainingRecordError, trainingRecordExportArgs } from "../release/trainingRecord";

export const cardCommand = command({
    name: "card",
    usage: ["(--stack <name> | --outputs <file.json>) --out <dir> [--training <dir>] [--git-sha <40 hex>] [--dry-run]"],
    description: `
Writes <out>/<model>.card.json, the model card (docs/model-card.md) of every image the stack builds, for
\`npm run sign -- --card <out>\`. The images come from the stack's \`images\` output (as for npm run sign); what it
builds, its training spec and parent from Pulumi.<stack>.yaml (models[].image.build, models[].card). Each card is
filled from the image's training record: evaluation.json (held-out metrics, split, data set) and training-run.json
(when it trained), exported from the image build's cache with \`docker buildx build --target training-record
--cache-from type=registry,ref=<repository>:buildcache --output type=local,dest=<out>/training/<model>\` (the same
context, Dockerfile, platform and TRAINING_SPEC as the image), or read from --training <dir>/<model>/ when the
pipeline trained elsewhere. The commit is --git-sha, else GITHUB_SHA, else \`git rev-parse HEAD\`; it must be the one
each image was built at. Nothing is written unless every card is valid.`,
    options: {
        stack: { type: "string", value: "name", help: "the stack whose built images get cards (its outputs, read with the Pulumi CLI)" },
        outputs: { type: "string", value: "file.json", help: "read the outputs from this file instead (`pulumi stack output --json`)" },
        config: {
            type: "string",
            value: "stack|file",
            help: "the stack (or a Pulumi.<stack>.yaml) whose config says what it builds: required with --outputs; default: --stack",
        },
        out: { type: "string", value: "dir", help: "where <model>.card.json go (created)" },
        training: { type: "string", value: "dir", help: "read <dir>/<model>/{evaluation,training-run}.json instead of exporting them with docker buildx" },
        "git-sha": { type: "string", value: "40 hex", help: "the full commit the images were built at (default: GITHUB_SHA, else git rev-parse HEAD)" },
        "dry-run": { type: "boolean", help: "print the docker buildx commands; write nothing" },
    },
    userErrors: [TrainingRecordError, SigningError],
});

type Opts = Values<typeof cardCommand.spec.options>;

function fullSha(values: Opts): string {
    if (values["git-sha"]) return values["git-sha"];
    if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA;
    const r = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : "";
}

function readJson(file: string): unknown {
    if (!fs.existsSync(file)) return undefined;
    try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new TrainingRecordError(`${file}: ${(e as Error).message}`);
    }
}

function main(values: Opts): number {
    if ((values.stack === undefined) === (values.outputs === undefined) || !values.out) throw new UsageError(cardCommand.usage());
    const configOf = values.config ?? values.stack;
    if (!configOf) throw new UsageError(`--outputs needs --config <stack>: the stack config says which models it builds\n${cardCommand.usage()}`);
    const { outputs, source } = readStackOutputs(cardCommand, values);
    const images = signingInputsFromOutputs(outputs, source).images;
    const builds = builtModels(readFleetConfig(configOf).config.models);
    if (builds.length === 0) throw new TrainingRecordError(`${configOf} builds no model (no models[].image.build): no card to write`);
    const out = path.resolve(values.out);
    const trainingDir = values.training !== undefined ? path.resolve(values.training) : path.join(out, "training");

    if (values.training === undefined) {
        const exports = builds.map((b) => {
            const img = images.find((i) => i.model === b.model);
            if (!img) throw new TrainingRecordError(`${b.model}: the stack builds it but ${source}'s images output has no entry`);
            return { model: b.model, args: trainingRecordExportArgs(b, parseDigestRef(img.ref).repository, path.join(trainingDir, b.model)) };
        });
        if (values["dry-run"]) {
            for (const e of exports) console.log(shellLine("docker", e.args));
            return 0;
        }
        const docker = requireTool(cardCommand, {
            name: "docker",
            title: "Docker with the Buildx plugin",
            purpose: "to export each image's training record from its build cache",
            instead: ["give the records with --training <dir> (<dir>/<model>/evaluation.json and training-run.json)"],
        }).path;
        for (const e of exports) {
            console.error(`card: ${e.model}: $ ${shellLine("docker", e.args)}`);
            const r = spawnSync(docker, e.args, { cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"] });
            if (r.status !== 0)
                throw new TrainingRecordError(
                    `${e.model}: exporting the training record failed (docker exited ${r.status ?? r.error?.message}); no card was written`,
                );
        }
    } else if (values["dry-run"]) {
        console.log(`# --training ${values.training}: nothing to export`);
        return 0;
    }

    const cards = cardsFromRecords(images, builds, fullSha(values), (model, file) => readJson(path.join(trainingDir, model, file)));
    fs.mkdirSync(out, { recursive: true });
    const rows = Object.entries(cards).map(([model, card]) => {
        fs.writeFileSync(path.join(out, `${model}.card.json`), modelCardJson(card));
        return [model, card.version, card.training.spec, String(card.metrics.accuracy), card.parent ?? "none", card.image.digest];
    });
    console.log(table([["MODEL", "VERSION", "TRAINING SPEC", "HELD-OUT ACCURACY", "PARENT", "DIGEST"], ...rows]));
    console.log(`\nWrote ${rows.length} card(s) to ${out}; attest them with: npm run sign -- … --card ${values.out}`);
    return 0;
}

if (require.main === module) {
    void runMain(cardCommand, main);
}
