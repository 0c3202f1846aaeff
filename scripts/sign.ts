/**
 * npm run sign -- --stack <name> | --outputs <file.json> | --image <repo@sha256:…> --model <m> --version <v> --git-sha <sha>
 *                 --sbom <dir>|buildkit|none [--card <dir>] [--key <ref>] [--verify] [--dry-run]
 *
 * Signs every image of a stack (its `images` and `signing` outputs) with Cosign, and attests a SLSA provenance, an
 * SPDX SBOM and (`--card <dir>`) its model card for each; a model's weights artifact (`images.<model>.weights`) is
 * signed with the same annotations and attested with a provenance and the card (docs/design/weights.md); `--verify` checks them all. Before signing it verifies: what already verifies is not
 * signed again (idempotent: re-runs write nothing new). The cosign command lines come from the pure functions of
 * ./signing (the real-tools suite runs the workflow's own command line). Flow, flags and reasons: docs/supply-chain.md.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command, command, PULUMI_CLI_HINTS, REPO_ROOT, requireTool, runMain, table, ToolRequest, UsageError, Values } from "./cli";
import { attestedCard } from "./cardAttestation";
import { cardCheckFrom, cardDifferences } from "../release/cardAttestation";
import { ModelCard } from "../domain/card/modelCard";
import {
    builderFromEnv,
    BUILDX_VERSION_ARGS,
    buildxMissingMessage,
    buildkitSbomArgs,
    checkCards,
    COSIGN_VERSION,
    cosignPublicKeyArgs,
    CosignStep,
    ImageStatus,
    ImageToSign,
    parseDigestRef,
    predicateFile,
    provenancePredicate,
    SbomSource,
    shellLine,
    SigningError,
    SigningInputs,
    signingInputsFromOutputs,
    signOutcome,
    signPlan,
    statusFromChecks,
    verifyPlan,
    weightsSubject,
} from "../release/signing";

export const signCommand = command({
    name: "sign",
    usage: [
        "--stack <name> --sbom <dir>|buildkit|none [--card <dir>] [--key <ref>] [--dry-run]",
        "--outputs <file.json> --sbom <dir>|buildkit|none [--card <dir>] [--key <ref>] [--dry-run]",
        "--image <repo@sha256:…> --model <name> --version <x.y.z> --git-sha <sha> --key <ref> --sbom … [--card <dir>] [--dry-run]",
        "(--stack … | --outputs … | --image …) --verify [--key <public key>] [--sbom none] [--card <dir>]",
    ],
    description: `
Signs model images with Cosign by digest (never by tag), with the model, version and git sha as annotations, and
attests a SLSA v1 provenance and an SPDX SBOM for each (cosign attest). Nothing goes to Sigstore's public
transparency log or certificate authority: the key alone vouches for the image. The images and the key come from a
stack's outputs (\`images\`, \`signing\`: read with \`pulumi stack output --json\`), from a file holding those outputs,
or from --image and its flags. --verify checks the signature (and its annotations) and both attestations instead.

Weights artifacts (a model's \`images.<model>.weights\` output, docs/design/weights.md): signed by digest with the same
key and the same model and version annotations (the git sha: the weights' release tag's), and attested with a
provenance and, with --card, the model card, which then goes on the weights artifact instead of the image (the
card is the weights' card: it names weights.digest and the server image's image.digest). No SBOM: the artifact holds
no packages.

Idempotent: before signing, each image's signature and attestations are verified with the public key (the stack's
signing.publicKeyPem, else \`cosign public-key\` of the key); whatever verifies is skipped and said so, so a re-run
writes nothing new to the registry (where cosign's tags are immutable, a rewrite would be refused).

SBOM (--sbom, required when signing): <dir> attests <dir>/<model>.spdx.json (the workflow writes them with Syft from
the pushed digests), buildkit reads BuildKit's SBOM of the image (needs docker buildx, and a build that made one),
none attests the provenance only.

Model card (--card <dir>): attests <dir>/<model>.card.json (schema model-fleet/model-card-v1, docs/model-card.md)
with its own predicate type, https://model-fleet.dev/attestations/model-card/v1. Every card is validated, and must
name the image's digest, model, version and commit, before anything is signed. With --verify, --card <dir> checks
the cards the same way and verifies each image's card attestation.

Keys (--key, or the stack's signing.keyRef): a cosign key file, awskms:///<key ARN>, k8s://<namespace>/<secret>,
env://<VAR>, … (whatever cosign --key accepts); COSIGN_PASSWORD unlocks an encrypted key file. --verify takes the
public key: a .pub file, a KMS URI, or the stack's signing.publicKeyPem when --key is not given.`,
    options: {
        stack: { type: "string", value: "name", help: "sign the images of this stack (its outputs, read with the Pulumi CLI)" },
        outputs: { type: "string", value: "file.json", help: "read the outputs from this file (`pulumi stack output --json` of a stack)" },
        image: { type: "string", value: "repo@sha256:…", help: "sign one image by digest (with --model, --version, --git-sha, --key)" },
        model: { type: "string", value: "name", help: "the model of --image" },
        version: { type: "string", value: "x.y.z", help: "the model version of --image" },
        "git-sha": { type: "string", value: "sha", help: "the commit --image was built from" },
        key: { type: "string", value: "ref", help: "cosign key reference (overrides the stack's signing.keyRef); the public key with --verify" },
        sbom: {
            type: "string",
            value: "buildkit|none|dir",
            help: "SBOM to attest (required when signing): <dir>/<model>.spdx.json, BuildKit's (docker buildx imagetools), or none; with --verify, none skips its check",
        },
        card: {
            type: "string",
            value: "dir",
            help: "attest <dir>/<model>.card.json, the image's model card (validated and matched to the digest first); with --verify, check it",
        },
        verify: { type: "boolean", help: "verify the signatures and attestations instead of signing" },
        "dry-run": { type: "boolean", help: "print the cosign commands instead of running them" },
    },
    userErrors: [SigningError],
});

type Opts = Values<typeof signCommand.spec.options>;

function sbomSource(value: string | undefined, verify: boolean): SbomSource {
    if (value === undefined) {
        // --verify checks the SBOM attestation unless told not to; signing must say where the SBOM comes from.
        if (verify) return { kind: "buildkit" };
        throw new UsageError(
            `--sbom is required when signing: --sbom <dir> (<dir>/<model>.spdx.json, e.g. Syft's, as the workflow writes them), --sbom buildkit (BuildKit's SBOM, when the build made one) or --sbom none\n${signCommand.usage()}`,
        );
    }
    if (value === "buildkit") return { kind: "buildkit" };
    if (value === "none") return { kind: "none" };
    if (!fs.existsSync(value) || !fs.statSync(value).isDirectory()) {
        throw new UsageError(`--sbom ${value}: not "buildkit", "none" or a directory holding <model>.spdx.json files`);
    }
    return { kind: "dir", dir: path.resolve(value) };
}

/** `--card <dir>`: the directory (absolute) and its card per model, after every card is checked against its image; undefined without it. */
function cardDirectory(value: string | undefined, images: readonly ImageToSign[]): { dir: string; cards: Record<string, ModelCard> } | undefined {
    if (value === undefined) return undefined;
    if (!fs.existsSync(value) || !fs.statSync(value).isDirectory()) throw new UsageError(`--card ${value}: not a directory holding <model>.card.json files`);
    const dir = path.resolve(value);
    return { dir, cards: checkCards(images, dir, (file) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined)) };
}

/**
 * A stack's outputs (`pulumi stack output --json --show-secrets`, with the Pulumi CLI on PATH or in the tool cache),
 * or those saved in `--outputs <file>`; `cmd` names the command in a missing-CLI message. Also `npm run card`'s.
 */
export function readStackOutputs(cmd: Command<any>, values: { stack?: string; outputs?: string }): { outputs: unknown; source: string } {
    let outputs: unknown;
    let source: string;
    if (values.outputs !== undefined) {
        source = values.outputs;
        try {
            outputs = JSON.parse(fs.readFileSync(values.outputs, "utf8"));
        } catch (e) {
            throw new SigningError(`${values.outputs}: ${(e as Error).message}`);
        }
    } else {
        const stack = values.stack!;
        source = `stack ${stack}`;
        const req: ToolRequest = {
            name: "pulumi",
            title: "the Pulumi CLI",
            purpose: `to read stack ${stack}'s outputs`,
            instead: [
                "save the outputs where the CLI is set up (`pulumi stack output --stack <name> --json --show-secrets > outputs.json`) and pass --outputs outputs.json",
                ...PULUMI_CLI_HINTS,
            ],
        };
        const cli = requireTool(cmd, req).path;
        // --show-secrets: on a kubeconfig stack the key reference is a Pulumi secret. It is read, never printed.
        const out = execFileSync(cli, ["stack", "output", "--stack", stack, "--json", "--show-secrets"], {
            cwd: REPO_ROOT,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
        });
        try {
            outputs = JSON.parse(out);
        } catch {
            throw new SigningError(`pulumi stack output --stack ${stack} --json did not print JSON: ${out.slice(0, 200)}`);
        }
    }
    return { outputs, source };
}

function readInputs(values: Opts): SigningInputs & { stack?: string } {
    const sources = [values.stack, values.outputs, values.image].filter((v) => v !== undefined);
    if (sources.length !== 1) throw new UsageError(`give exactly one of --stack, --outputs, --image\n${signCommand.usage()}`);
    if (values.image !== undefined) {
        const missing = (["model", "version", "git-sha", "key"] as const).filter((k) => values[k] === undefined);
        if (missing.length > 0) throw new UsageError(`--image needs ${missing.map((k) => `--${k}`).join(", ")}`);
        parseDigestRef(values.image);
        const image: ImageToSign = { model: values.model!, version: values.version!, ref: values.image, gitSha: values["git-sha"]! };
        return { images: [image], keyRef: values.key! };
    }
    for (const k of ["model", "version", "git-sha"] as const) {
        if (values[k] !== undefined) throw new UsageError(`--${k} goes with --image (the stack outputs say it for each image)`);
    }
    const { outputs, source } = readStackOutputs(signCommand, values);
    const inputs = signingInputsFromOutputs(outputs, source);
    return { ...inputs, keyRef: values.key ?? inputs.keyRef, ...(values.stack ? { stack: values.stack } : {}) };
}

function cosignPath(): string {
    const found = requireTool(signCommand, {
        name: "cosign",
        title: `Cosign (${COSIGN_VERSION})`,
        purpose: "to sign and verify the images",
        instead: [
            "build it into the tool cache: `npm run tools -- build cosign` (then rerun; it is picked up from there)",
            `or install cosign ${COSIGN_VERSION} (https://github.com/sigstore/cosign/releases) and put \`cosign\` on PATH`,
        ],
    });
    if (found.source === "tool cache") console.error(`sign: using cosign from the tool cache: ${found.path}`);
    return found.path;
}

/** Runs one verification quietly: whether it passed, and cosign's last error line when it did not. */
function checkQuietly(cosign: string, step: CosignStep): { ok: boolean; why: string; stdout: string } {
    const r = spawnSync(cosign, step.args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
    if (r.error) throw new SigningError(`cosign: ${r.error.message}`);
    const lines = String(r.stderr)
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("Error:") || l.startsWith("error"));
    return { ok: r.status === 0, why: lines[lines.length - 1] ?? `exit ${r.status}`, stdout: String(r.stdout) };
}

/** The public key to check existing signatures with before signing: the stack's PEM, else `cosign public-key`. */
function publicKeyForSigning(cosign: string, values: Opts, inputs: SigningInputs, tmp: string): string {
    const file = path.join(tmp, "verify.pub");
    if (values.key === undefined && inputs.publicKeyPem) {
        fs.writeFileSync(file, inputs.publicKeyPem);
        return file;
    }
    const r = spawnSync(cosign, cosignPublicKeyArgs(inputs.keyRef), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.error || r.status !== 0) {
        throw new SigningError(
            `cannot read the public key of ${inputs.keyRef} to check for existing signatures first (\`cosign public-key\`: ${r.error?.message ?? String(r.stderr).trim().slice(-400)})`,
        );
    }
    fs.writeFileSync(file, r.stdout);
    return file;
}

/** Verifies each image's signature and attestations before signing; prints what is already there. */
function verifiedBefore(
    cosign: string,
    images: readonly ImageToSign[],
    publicKey: string,
    sbom: SbomSource,
    cards: Record<string, ModelCard> | undefined,
): Record<string, ImageStatus> {
    const results = verifyPlan(images, publicKey, sbom.kind !== "none", cards !== undefined).map((step) => ({ step, ...checkQuietly(cosign, step) }));
    for (const r of results) {
        console.error(`sign: ${r.step.model}: ${r.step.what}: ${r.ok ? "verifies already, not signed again" : `not yet (${r.why})`}`);
    }
    // A card attestation that verifies must be the card given: one card per digest, never a second, different one.
    const conflicts = results
        .filter((r) => r.ok && (r.step.what === "verify card" || r.step.what === "verify weights card") && cards !== undefined)
        .flatMap((r) => {
            const img = images.find((i) => i.model === r.step.model)!;
            const ref = r.step.what === "verify weights card" ? img.weights!.ref : img.ref;
            const attested = cardCheckFrom({ code: 0, stdout: r.stdout, stderr: "" }, parseDigestRef(ref).digest);
            if (attested.status !== "verified") return [`${img.model}: ${ref}: ${attested.detail}`];
            const differ = cardDifferences(attested.card, cards![img.model]);
            return differ.length === 0
                ? []
                : [`${img.model}: ${ref} already carries a card attestation that differs from the given card in ${differ.join(", ")}`];
        });
    if (conflicts.length > 0) {
        throw new SigningError(
            `--card: nothing was signed: one card per digest; a digest's card is written once, when it is signed:\n${conflicts.map((c) => `  - ${c}`).join("\n")}`,
        );
    }
    return statusFromChecks(results);
}

/** Runs one cosign step with its output passed through; returns its exit code. */
function runCosign(cosign: string, step: CosignStep): number {
    console.error(`\nsign: ${step.model}: ${step.what}\n$ ${shellLine("cosign", step.args)}`);
    const r = spawnSync(cosign, step.args, { stdio: ["ignore", "inherit", "inherit"] });
    if (r.error) throw new SigningError(`cosign: ${r.error.message}`);
    return r.status ?? 1;
}

/** The public key for --verify: --key, else the stack's PEM (to a temp file), else the key reference (a KMS URI). */
function publicKeyFor(values: Opts, inputs: SigningInputs, tmp: string): string {
    if (values.key !== undefined) return values.key;
    if (inputs.publicKeyPem) {
        const file = path.join(tmp, "signing.pub");
        fs.writeFileSync(file, inputs.publicKeyPem);
        return file;
    }
    return inputs.keyRef;
}

function main(values: Opts): number {
    const inputs = readInputs(values);
    const sbom = sbomSource(values.sbom, values.verify === true);
    // Before anything is signed or verified: every card valid and describing its image.
    const cardGiven = cardDirectory(values.card, inputs.images);
    const cardDir = cardGiven?.dir;
    const card = cardGiven !== undefined;
    const dryRun = values["dry-run"] === true;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-sign-"));
    let keep = false;
    try {
        if (values.verify) {
            if (dryRun) {
                // The stack's PEM would go to a temp file that is gone when the commands are read: name it signing.pub.
                const fromPem = values.key === undefined && inputs.publicKeyPem !== undefined;
                if (fromPem) console.log("# first save the stack's signing.publicKeyPem output as signing.pub");
                for (const s of verifyPlan(inputs.images, fromPem ? "signing.pub" : publicKeyFor(values, inputs, tmp), sbom.kind !== "none", card))
                    console.log(shellLine("cosign", s.args));
                return 0;
            }
            const steps = verifyPlan(inputs.images, publicKeyFor(values, inputs, tmp), sbom.kind !== "none", card);
            const cosign = cosignPath();
            const results = steps.map((s) => ({ step: s, code: runCosign(cosign, s) }));
            // The card attestation that verifies must also be the card in --card <dir>.
            const cardChecks = cardGiven
                ? inputs.images.map((img) => {
                      // The card is on the weights artifact when the model has one (docs/design/weights.md).
                      const attested = attestedCard(cosign, img.weights?.ref ?? img.ref, publicKeyFor(values, inputs, tmp));
                      const differ = attested.status === "verified" ? cardDifferences(attested.card, cardGiven.cards[img.model]) : [];
                      return {
                          model: img.model,
                          ok: attested.status === "verified" && differ.length === 0,
                          why: attested.status === "verified" ? `differs in ${differ.join(", ")}` : attested.detail,
                      };
                  })
                : [];
            for (const c of cardChecks) if (!c.ok) console.error(`sign: ${c.model}: the attested card is not ${values.card}/${c.model}.card.json: ${c.why}`);
            console.log(
                `\n${table([["MODEL", "CHECK", "RESULT"], ...results.map((r) => [r.step.model, r.step.what, r.code === 0 ? "ok" : `FAILED (exit ${r.code})`]), ...cardChecks.map((c) => [c.model, "card matches --card", c.ok ? "ok" : "FAILED"])])}`,
            );
            const failed = results.filter((r) => r.code !== 0).length + cardChecks.filter((c) => !c.ok).length;
            if (failed > 0) throw new SigningError(`${failed} of ${results.length + cardChecks.length} checks failed`);
            return 0;
        }

        const builder = builderFromEnv(process.env);
        for (const img of inputs.images) {
            const file = path.join(tmp, predicateFile(img.model, "slsaprovenance1"));
            fs.writeFileSync(file, JSON.stringify(provenancePredicate(img, builder, inputs.stack), null, 2) + "\n");
            const weights = weightsSubject(img);
            if (weights) {
                const wfile = path.join(tmp, predicateFile(img.model, "slsaprovenance1", "weights"));
                fs.writeFileSync(wfile, JSON.stringify(provenancePredicate(weights, builder, inputs.stack, "weights"), null, 2) + "\n");
            }
        }
        if (dryRun) {
            // Keep the provenance predicates the printed commands name. A real run first verifies and skips what verifies.
            keep = true;
            console.log(`# the provenance predicates are in ${tmp}; a real run first verifies each image and skips what already verifies`);
            if (sbom.kind === "buildkit")
                for (const img of inputs.images)
                    console.log(`${shellLine("docker", buildkitSbomArgs(img.ref))} > ${path.join(tmp, predicateFile(img.model, "spdxjson"))}`);
            for (const s of signPlan(inputs.images, inputs.keyRef, tmp, sbom, {}, cardDir)) console.log(shellLine("cosign", s.args));
            return 0;
        }
        if (sbom.kind === "buildkit") requireBuildx();
        const cosign = cosignPath();
        const status = verifiedBefore(cosign, inputs.images, publicKeyForSigning(cosign, values, inputs, tmp), sbom, cardGiven?.cards);
        const steps = signPlan(inputs.images, inputs.keyRef, tmp, sbom, status, cardDir);
        // SBOMs are needed only for the images whose SBOM attestation is still missing.
        const needSbom = inputs.images.filter((i) => steps.some((s) => s.model === i.model && s.what === "attest sbom"));
        if (sbom.kind === "buildkit") {
            for (const img of needSbom) fs.writeFileSync(path.join(tmp, predicateFile(img.model, "spdxjson")), buildkitSbom(img.ref));
        } else if (sbom.kind === "dir") {
            const missing = needSbom.map((i) => path.join(sbom.dir, predicateFile(i.model, "spdxjson"))).filter((f) => !fs.existsSync(f));
            if (missing.length > 0) throw new SigningError(`--sbom ${sbom.dir}: missing ${missing.join(", ")}`);
        }
        for (const s of steps) {
            const code = runCosign(cosign, s);
            if (code !== 0) throw new SigningError(`cosign ${s.what} of ${s.model} failed (exit ${code}); nothing after it was signed`);
        }
        const rows = inputs.images.map((i) => {
            const { done, skipped } = signOutcome(status[i.model], sbom, card, i.weights !== undefined);
            return [i.model, i.version, i.weights ? `${i.ref} + weights ${i.weights.ref}` : i.ref, done.join(", ") || "-", skipped.join(", ") || "-"];
        });
        console.log(`\n${table([["MODEL", "VERSION", "IMAGE", "SIGNED NOW", "ALREADY VERIFIED (SKIPPED)"], ...rows])}`);
        if (steps.length === 0) console.log(`\nNothing to sign: every image's signature and attestations already verify.`);
        return 0;
    } finally {
        if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** `--sbom buildkit` needs Docker's Buildx plugin: without it, say which plugin to install (not docker's own flag error). */
function requireBuildx(): void {
    const r = spawnSync("docker", [...BUILDX_VERSION_ARGS], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.error || r.status !== 0) {
        throw new SigningError(buildxMissingMessage(r.error ? `docker: ${r.error.message}` : String(r.stderr).trim().split("\n")[0] || `exit ${r.status}`));
    }
}

/** BuildKit's SPDX document of an image (docker buildx imagetools inspect), or an error saying what to do. */
function buildkitSbom(ref: string): string {
    const r = spawnSync("docker", buildkitSbomArgs(ref), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.error || r.status !== 0) {
        throw new SigningError(
            `reading BuildKit's SBOM of ${ref} failed (${r.error?.message ?? `docker exited ${r.status}: ${String(r.stderr).trim().slice(0, 400)}`}); pass --sbom <dir> or --sbom none`,
        );
    }
    const out = String(r.stdout).trim();
    if (out === "" || out === "null") {
        throw new SigningError(`${ref} carries no BuildKit SBOM (build it with an SBOM attestation, or pass --sbom <dir> / --sbom none)`);
    }
    return out + "\n";
}

if (require.main === module) {
    void runMain(signCommand, main);
}
