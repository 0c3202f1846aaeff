/**
 * npm run promote -- --model <m> --from dev --to prod [--allow-vulnerable <reason>] [--allow-regression <reason>] [--dry-run]
 * npm run promote -- --model <m> --to prod --digest sha256:… --version x.y.z --repository <host>/<path> [--tag …] [--signing-key …]
 *                   [--weights-digest sha256:…|none [--weights-tag …] [--weights-repository <host>/<path>]] [--dry-run]
 *
 * Thin wrapper around the pure `planPromotion` and `decideScanGate`: reads the source stack's `images` and `signing`
 * outputs with the Pulumi CLI, reads `Pulumi.<to>.yaml`, asks the registry for the digest's scan result (ECR or
 * Harbor, release/scanFindings.ts), prints the findings and refuses a digest without a finished scan or with
 * findings at or above the target's `supplyChain.scan.severity` unless `--allow-vulnerable <reason>` (recorded next
 * to the digest), verifies the signature, reads the candidate's and the running version's verified model cards, prints
 * their diff and refuses by `decideCardGate` (release/cardGate.ts) unless `--allow-regression <reason>` (recorded
 * next to the digest), then pins the target model, with the signing key, by `pulumi config set --path` (or only
 * prints those commands with --dry-run). It never builds: the target runs the source's exact digest.
 * A model's weights artifact (docs/design/weights.md) travels with the image: its signature is verified with the
 * same key, the card gate reads the weights' card, and it has no scan gate (`WEIGHTS_SCAN_NOTE`).
 */
import { ECRClient } from "@aws-sdk/client-ecr";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import {
    applyConfigSets,
    imageRecordFor,
    modelsFromStackFile,
    WEIGHTS_SCAN_NOTE,
    WeightsCandidate,
    weightsCandidate,
    planPromotion,
    PromotionError,
    PromotionSource,
    SignatureCheck,
    signatureCheck,
} from "../release/promotion";
import { decideScanGate, FINDING_COLUMNS, findingRows, overrideRefusal, ScanResult } from "../release/scanGate";
import { COSIGN_VERSION, cosignVerifyPromotionArgs, parseDigestRef, shellLine } from "../release/signing";
import { CardCheck } from "../release/cardAttestation";
import { CARD_DIFF_COLUMNS, cardDiffTable, decideCardGate, maxAccuracyDropOf } from "../release/cardGate";
import { attestedCard } from "./cardAttestation";
import { parseReleaseTag } from "../domain/image/tag";
import { CONFIG_NAMESPACE } from "../config/schema";
import { defaultThreshold } from "../domain/severity";
import { command, PULUMI_CLI_HINTS, readStackDocument, REPO_ROOT, requireTool, runMain, stackFilePath, table, ToolRequest, UsageError, Values } from "./cli";
import { ecrScan, EcrScanClient, harborScan, locateImage } from "../release/scanFindings";

export const promoteCommand = command({
    name: "promote",
    usage: [
        "--model <name> --from <stack> --to <stack> [--allow-vulnerable <reason>] [--allow-regression <reason>] [--dry-run]",
        "--model <name> --to <stack> --digest sha256:<64 hex> --version <x.y.z> --repository <host>/<path> [--tag v<x.y.z>-<sha>] [--signing-key <ref>] [--weights-digest sha256:<64 hex>|none [--weights-tag v<x.y.z>-<sha>] [--weights-repository <host>/<path>]] [--allow-vulnerable <reason>] [--allow-regression <reason>] [--dry-run]",
    ],
    description: `
Pins a model of the target stack to the exact image another stack runs (its \`images\` stack output, read with the
Pulumi CLI), or to an explicit digest and version (rollback). Prints the diff, then runs the \`pulumi config set
--path\` commands on Pulumi.<to>.yaml, or only prints them with --dry-run. Nothing is rebuilt. Before that it reads
the digest's scan result from its registry (ECR DescribeImageScanFindings, or Harbor's scan overview), prints the
findings, and refuses a digest with no finished scan or with findings at or above the target's
supplyChain.scan.severity, unless --allow-vulnerable <reason> records an override next to the digest (not on Harbor,
whose prevent_vul would refuse the pull anyway). It then verifies the digest's signature with cosign and the key
it was signed with (the source's \`signing\` output, or --signing-key), which is recorded next to it: an unsigned
digest is refused here, not by the target's admission after approval. Last, it reads the digest's model card and the
running version's (verified card attestations), prints their diff, and refuses a digest without a verified card that
describes it, with a card of another held-out split, or whose held-out accuracy is worse than the running version's by
more than the target's canary.analysis.maxAccuracyDrop (none set: no drop), unless --allow-regression <reason>
records an override next to the digest.

Weights artifacts (docs/design/weights.md): the source's weights (its images.<model>.weights output) are pinned with
the image (weights.digest, .tag, .repository; the replaced weights' tag kept as weights.previousTag), and a source
without weights removes the target's. Their signature is verified with the same key and annotations before anything
changes, and the card gate reads the weights' card (a model with weights carries its card on the weights). They
have no scan gate: no OS packages to scan. With --digest, --weights-digest (and --weights-tag) pins weights too,
"none" removes them; without it the target's weights are left as they are.`,
    options: {
        model: { type: "string", value: "name", help: "the model to promote (an entry of model-fleet:models in both stacks)" },
        from: { type: "string", value: "stack", help: "source stack: promote what it runs (needs the Pulumi CLI)" },
        to: { type: "string", value: "stack", help: "target stack (its Pulumi.<stack>.yaml is updated)" },
        digest: { type: "string", value: "sha256:…", help: "explicit digest instead of --from (rollback); needs --version" },
        version: { type: "string", value: "x.y.z", help: "the model version of --digest" },
        tag: { type: "string", value: "v<x.y.z>-<sha>", help: "release tag of --digest (keeps its deployed-tag protect rule)" },
        repository: { type: "string", value: "host/path", help: "with --digest: the repository holding it (where its scan result is read)" },
        "signing-key": { type: "string", value: "ref", help: "with --digest: the cosign key reference it was signed with (e.g. awskms:///<key arn>)" },
        "weights-digest": {
            type: "string",
            value: "sha256:…|none",
            help: "with --digest: the weights artifact to pin with it (signed by the same key), or none to remove the target's weights",
        },
        "weights-tag": { type: "string", value: "v<x.y.z>-<sha>", help: "with --weights-digest: its release tag (kept by retention)" },
        "weights-repository": {
            type: "string",
            value: "host/path",
            help: "with --weights-digest: the repository holding it, when not the model's own (default: --repository)",
        },
        "allow-vulnerable": {
            type: "string",
            value: "reason",
            help: "promote despite findings at or above the threshold (or no scan); recorded with who and when",
        },
        "allow-regression": {
            type: "string",
            value: "reason",
            help: "promote although the card gate refuses (no verified card, another held-out split, an accuracy drop); recorded with who and when",
        },
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

/** Who grants an override: the git user's email, else $USER. */
function whoAmI(): string {
    try {
        const email = execFileSync("git", ["config", "user.email"], { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
        if (email) return email;
    } catch {
        // no git identity
    }
    return process.env.USER ?? "unknown";
}

/** An ECR client whose failures (no credentials, no access, no network) are user errors naming what to do. */
function readableErrors(client: ECRClient, ref: string): EcrScanClient {
    return {
        send: async (command) => {
            try {
                return await client.send(command);
            } catch (e: any) {
                if (e?.name === "ScanNotFoundException" || e?.name === "ImageNotFoundException") throw e;
                throw new PromotionError(
                    `cannot read the scan result of ${ref} from ECR (${e?.name ?? "error"}: ${e?.message ?? e}): ` +
                        "run promote where AWS credentials can call ecr:DescribeImageScanFindings on that repository",
                );
            }
        },
    };
}

/** The `model-fleet:<key>` value of a parsed stack file. */
function stackValue(doc: unknown, key: string): any {
    const config = (doc as any)?.config ?? {};
    return config[`${CONFIG_NAMESPACE}:${key}`];
}

export interface ScanAccess {
    /** ECR client for a region. */
    ecr: (region: string) => EcrScanClient;
    /** Harbor password of a stack (env HARBOR_PASSWORD, else `pulumi config get`). */
    harborPassword: (stack: string) => string;
}

/** The scan result of `ref`, from ECR or from the Harbor of one of `stacks` (whose config names that host). */
export async function scanResultOf(ref: string, stacks: Array<{ name: string; doc: unknown }>, access: ScanAccess): Promise<ScanResult> {
    const loc = locateImage(ref);
    if (loc.kind === "ecr") return ecrScan(access.ecr(loc.region), loc);
    for (const s of stacks) {
        const harbor = stackValue(s.doc, "registry")?.harbor;
        if (harbor && typeof harbor.url === "string" && new URL(harbor.url).host === loc.host) {
            return harborScan({ url: harbor.url, username: String(harbor.username), password: access.harborPassword(s.name) }, loc.path, loc.digest);
        }
    }
    // A registry the program does not manage (`registry.type: external`, `<externalPrefix>/<model>@<digest>`): it has no
    // scan API the program knows, so the digest counts as never scanned, and only --allow-vulnerable, recorded, lets it
    // through (the gate fails closed; the team's own scan is the reason to give).
    for (const s of stacks) {
        const registry = stackValue(s.doc, "registry");
        const prefix = typeof registry?.externalPrefix === "string" ? registry.externalPrefix.replace(/\/+$/, "") : undefined;
        if (registry?.type === "external" && prefix !== undefined && parseDigestRef(ref).repository.startsWith(`${prefix}/`)) {
            return {
                scanner: `external registry of stack ${s.name} (${prefix}: no scan API the program reads)`,
                state: "none",
                status: "not scanned by a registry the program knows",
                counts: {},
                findings: [],
            };
        }
    }
    throw new PromotionError(
        `${loc.host} is neither an ECR registry, the Harbor of stack ${stacks.map((s) => s.name).join(" or ")}, nor its external registry: cannot read the scan result of ${ref}`,
    );
}

/** Cosign (PATH or the tool cache), or the error that says how to get it. */
function cosignCli(purpose: string): string {
    return requireTool(promoteCommand, {
        name: "cosign",
        title: `Cosign (${COSIGN_VERSION})`,
        purpose,
        instead: [
            "build it into the tool cache: `npm run tools -- build cosign` (then rerun; it is picked up from there)",
            `or install cosign ${COSIGN_VERSION} (https://github.com/sigstore/cosign/releases) and put \`cosign\` on PATH`,
        ],
    }).path;
}

/** What cosign's --key takes for a signature check's key: the PEM written into `dir`, or the key reference. */
function keyFile(key: { pem: string } | { ref: string }, dir: string): string {
    if ("ref" in key) return key.ref;
    const file = path.join(dir, "signing.pub");
    fs.writeFileSync(file, key.pem);
    return file;
}

/** The override of the card gate promote records next to the digest (`image.regressionOverride`). */
export interface RegressionOverride {
    reason: string;
    by: string;
    at: string;
    refused?: string;
}

/**
 * The card gate (release/cardGate.ts) after the signature check: reads the candidate's verified card with the key
 * its signature was checked with, and the running version's (the target's pinned digest, looked up in the
 * candidate's repository, where it was built and attested) with the key the target recorded for it, else the same
 * key; prints the diff and the decision. Throws a PromotionError when refused; returns the override to record.
 */
export function checkCards(input: {
    check: SignatureCheck;
    to: string;
    /** The candidate's `<repository>@sha256:…` and facts; `weights`: the weights artifact it mounts, which carries its card. */
    candidate: { model: string; version: string; digest: string; ref: string; gitSha?: string; weights?: WeightsCandidate };
    /** The target's pinned image of the model, when it has one, and the digest of the weights it mounts. */
    running?: { version?: string; digest: string; gitSha?: string; signingKey?: string; weightsDigest?: string };
    maxAccuracyDrop?: number;
    override?: { reason: string; by: string; at: string };
}): RegressionOverride | undefined {
    const { check, to, candidate, running } = input;
    const candidateKey = check.kind === "verify" ? check.key : undefined;
    const runningKey = running?.signingKey ? { ref: running.signingKey } : candidateKey;
    const noKey: CardCheck = { status: "unverified", detail: "no signing key is known to verify a card with" };
    // The card is on the weights artifact when the model mounts one (docs/design/weights.md); the running version's is
    // looked up where the candidate's is (its weights' repository, else the image's).
    const candidateRef = candidate.weights?.ref ?? candidate.ref;
    const runningRef = running
        ? running.weightsDigest
            ? `${parseDigestRef(candidateRef).repository}@${running.weightsDigest}`
            : `${parseDigestRef(candidate.ref).repository}@${running.digest}`
        : undefined;
    let candidateCard: CardCheck = noKey;
    let runningCard: CardCheck = noKey;
    if (candidateKey || (running && runningKey)) {
        const cosign = cosignCli("to read the model cards (verified card attestations) before promoting");
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-promote-"));
        try {
            if (candidateKey) candidateCard = attestedCard(cosign, candidateRef, keyFile(candidateKey, tmp));
            if (runningRef && runningKey) runningCard = attestedCard(cosign, runningRef, keyFile(runningKey, tmp));
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    const { weights, ...image } = candidate;
    const decision = decideCardGate({
        candidate: {
            ...image,
            ...(weights ? { weightsDigest: weights.digest, ...(weights.gitSha ? { gitSha: weights.gitSha } : {}) } : {}),
            card: candidateCard,
        },
        ...(running ? { running: { model: candidate.model, ...running, card: runningCard } } : {}),
        ...(input.maxAccuracyDrop !== undefined ? { maxAccuracyDrop: input.maxAccuracyDrop } : {}),
        ...(input.override ? { override: input.override } : {}),
    });
    const cardOf = (c: CardCheck) => (c.status === "verified" ? c.card : undefined);
    console.log(`Model cards: ${running ? `running ${runningRef}` : "no running version"} → candidate ${candidateRef}`);
    console.log(table([CARD_DIFF_COLUMNS, ...cardDiffTable(cardOf(runningCard), cardOf(candidateCard))]));
    for (const note of decision.notes) console.log(`  ${note}`);
    console.log(decision.summary + "\n");
    if (!decision.allowed) {
        throw new PromotionError(
            `refusing to promote ${candidate.digest} into stack ${to}: ${decision.refusals.join("; ")}. ` +
                `Attest the candidate's card (npm run sign -- … --card <dir>), or record an exception: --allow-regression "<reason>"`,
        );
    }
    return decision.overridden && input.override ? { ...input.override, refused: decision.refusals.join("; ") } : undefined;
}

/** Runs the signature check `signatureCheck` decided: cosign verify by the key, or a refusal naming what to do. */
export function verifySignature(check: SignatureCheck, to: string, what: "image" | "weights" = "image"): void {
    if (check.kind === "skip") {
        console.error(`promote: ${check.why}`);
        return;
    }
    if (check.kind === "refuse") throw new PromotionError(`refusing to promote into stack ${to}: ${check.why}`);
    const cosign = cosignCli("to verify the digest's signature before promoting it");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-promote-"));
    try {
        const key = keyFile(check.key, tmp);
        const args = cosignVerifyPromotionArgs(check.image, key);
        console.log(`Signature of ${check.image.ref}: $ ${shellLine("cosign", args)}`);
        const r = spawnSync(cosign, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
        if (r.error) throw new PromotionError(`cosign: ${r.error.message}`);
        if (r.status !== 0) {
            const why = String(r.stderr)
                .split("\n")
                .filter((l) => l.startsWith("Error:"))
                .pop();
            throw new PromotionError(
                `refusing to promote ${check.image.ref}${what === "weights" ? " (weights)" : ""} into stack ${to}: it is not signed by the key admission will trust (${why ?? `cosign exited ${r.status}`}). ` +
                    `Sign it first (npm run sign -- --stack <source> --sbom <dir>), or give the key it was signed with: --signing-key <ref>`,
            );
        }
        console.log(`signed by ${"pem" in check.key ? "the source stack's key" : check.key.ref}, with the model and version annotations\n`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** The whole promotion (also what `npm run rollback` runs, with an explicit digest): returns the exit code. */
export async function promote(values: Values<typeof promoteCommand.spec.options>): Promise<number> {
    const { model, from, to } = values;
    const explicit = values.digest !== undefined || values.version !== undefined;
    if (!model || !to || (!explicit && !from) || (explicit && (!values.digest || !values.version))) {
        throw new UsageError(promoteCommand.usage());
    }
    for (const flag of ["allow-vulnerable", "allow-regression"] as const) {
        const reason = values[flag] as string | undefined;
        if (reason !== undefined && reason.trim() === "") {
            throw new UsageError(`--${flag} needs a reason: it is recorded next to the digest\n${promoteCommand.usage()}`);
        }
    }
    for (const flag of ["weights-digest", "weights-tag", "weights-repository"] as const) {
        if (values[flag] !== undefined && !explicit)
            throw new UsageError(`--${flag} goes with --digest (a stack's output names its weights)\n${promoteCommand.usage()}`);
    }
    if ((values["weights-tag"] !== undefined || values["weights-repository"] !== undefined) && (values["weights-digest"] ?? "none") === "none") {
        throw new UsageError(`--weights-tag and --weights-repository go with --weights-digest sha256:…\n${promoteCommand.usage()}`);
    }
    if (explicit && !values.repository) {
        throw new UsageError(
            `--repository <host>/<path> is required with --digest: the scan gate reads the digest's scan result there\n${promoteCommand.usage()}`,
        );
    }

    let source: PromotionSource;
    let signingKey = values["signing-key"] as string | undefined;
    let publicKeyPem: string | undefined;
    let gitSha: string | undefined = values.tag ? parseReleaseTag(values.tag as string)?.sha : undefined;
    let ref: string;
    let cli: string | undefined;
    if (explicit) {
        const wd = values["weights-digest"] as string | undefined;
        source = {
            kind: "explicit",
            digest: values.digest as string,
            version: values.version as string,
            ...(values.tag ? { tag: values.tag as string } : {}),
            ...(wd === "none"
                ? { weights: "none" as const }
                : wd
                  ? { weights: { digest: wd, ...(values["weights-tag"] ? { tag: values["weights-tag"] as string } : {}) } }
                  : {}),
        };
        ref = `${values.repository}@${values.digest}`;
    } else {
        cli = pulumiCli(`to read stack ${from}'s \`images\` output`, [
            `promote an explicit digest instead (${from}'s digest from \`pulumi stack output --stack ${from} --json images\` where the CLI is set up, or from the registry): ` +
                `npm run promote -- --model ${model} --to ${to} --digest sha256:<64 hex> --version <x.y.z> --tag v<x.y.z>-<sha> --repository <host>/<path> --signing-key <ref> --dry-run`,
        ]);
        const out = pulumi(cli, ["stack", "output", "--stack", from as string, "--json", "images"], true);
        let images: unknown;
        try {
            images = JSON.parse(out);
        } catch {
            throw new PromotionError(`pulumi stack output --stack ${from} --json images did not print JSON: ${out.slice(0, 200)}`);
        }
        source = { kind: "stack", stack: from as string, images };
        ref = imageRecordFor(images, model, from as string).ref;
        const sha = (images as Record<string, any>)[model]?.gitSha;
        if (typeof sha === "string") gitSha = sha;
        // The key reference may be a secret (kubeconfig stacks): --show-secrets, and it is only written to the stack file.
        let signing: any = null;
        try {
            signing = JSON.parse(pulumi(cli, ["stack", "output", "--stack", from as string, "--json", "--show-secrets", "signing"], true) || "null");
        } catch {
            // A stack without the output (it neither builds nor configures a key): nothing to record.
        }
        signingKey ??= typeof signing?.keyRef === "string" ? signing.keyRef : undefined;
        if (values["signing-key"] === undefined && typeof signing?.publicKeyPem === "string") publicKeyPem = signing.publicKeyPem;
        if (!signingKey) console.error(`promote: stack ${from} exports no signing key; the target records none for this digest`);
    }

    const file = stackFilePath(to);
    const doc = readStackDocument(file);
    const targetModels = modelsFromStackFile(doc, to);
    const probe = planPromotion({ model, target: { stack: to, models: targetModels }, source, signingKey });

    console.log(probe.diff + "\n");
    // The weights artifact pinned with the image (docs/design/weights.md): its reference, for its signature and card.
    const weights = weightsCandidate(
        probe,
        (values["weights-repository"] as string | undefined) ??
            (probe.current.weights?.repository === undefined ? (values.repository as string | undefined) : undefined),
    );
    const imageChanges = probe.current.digest !== probe.next.digest;
    // The scan gate, for a digest the target does not run yet.
    let vulnerabilityOverride: { reason: string; by: string; at: string; findings?: string } | undefined;
    let regressionOverride: RegressionOverride | undefined;
    if (imageChanges) {
        const registryType = String(stackValue(doc, "registry")?.type ?? "ecr");
        const threshold = String(stackValue(doc, "supplyChain")?.scan?.severity ?? defaultThreshold(registryType));
        const stacks = [...(from ? [{ name: from as string, doc: readStackDocument(stackFilePath(from as string)) }] : []), { name: to, doc }];
        const result = await scanResultOf(ref, stacks, {
            ecr: (region) => readableErrors(new ECRClient({ region }), ref),
            harborPassword: (stack) =>
                process.env.HARBOR_PASSWORD ??
                pulumi(
                    cli ?? pulumiCli("to read the Harbor password", ["set HARBOR_PASSWORD"]),
                    ["config", "get", "--path", `${CONFIG_NAMESPACE}:registry.harbor.password`, "--stack", stack],
                    true,
                ).trim(),
        });
        const rows = findingRows(result);
        console.log(`Scan of ${ref}: ${result.scanner}, status ${result.status}`);
        if (rows.length > 0) console.log(table([FINDING_COLUMNS, ...rows]));
        const reason = values["allow-vulnerable"] as string | undefined;
        const override = reason ? { reason, by: whoAmI(), at: new Date().toISOString() } : undefined;
        const decision = decideScanGate(result, threshold, override);
        console.log(decision.summary + "\n");
        if (!decision.allowed) {
            throw new PromotionError(
                `refusing to promote ${probe.next.digest} into stack ${to}: ${decision.summary}. ` +
                    `Fix the image and rebuild, wait for the scan, or record an exception: --allow-vulnerable "<reason>"`,
            );
        }
        const cannot = overrideRefusal(registryType, decision, threshold);
        if (cannot) throw new PromotionError(`refusing to promote ${probe.next.digest} into stack ${to}: ${cannot}`);
        if (decision.overridden && override) vulnerabilityOverride = { ...override, ...(decision.blocking ? { findings: decision.blocking } : {}) };
    }
    if (weights && probe.weightsChange) console.log(`Scan of the weights ${weights.ref}: ${WEIGHTS_SCAN_NOTE}\n`);
    if (imageChanges || probe.weightsChange) {
        // The signature, with the key admission will trust: refused here rather than at the target's admission.
        const check = signatureCheck({
            model,
            version: probe.next.version,
            ref,
            ...(gitSha ? { gitSha } : {}),
            ...(publicKeyPem ? { publicKeyPem } : {}),
            ...(signingKey ? { signingKey } : {}),
            admissionEnabled: stackValue(doc, "supplyChain")?.admission?.enabled !== false,
            origin: from ? `stack ${from}` : "--digest",
        });
        if (imageChanges) verifySignature(check, to);
        // The weights artifact: signed by the same key, with the same model and version annotations (npm run sign).
        if (weights && probe.weightsChange) {
            const weightsCheck = signatureCheck({
                model,
                version: probe.next.version,
                ref: weights.ref,
                ...(weights.gitSha ? { gitSha: weights.gitSha } : {}),
                ...(publicKeyPem ? { publicKeyPem } : {}),
                ...(signingKey ? { signingKey } : {}),
                admissionEnabled: stackValue(doc, "supplyChain")?.admission?.enabled !== false,
                origin: from ? `stack ${from}` : "--digest",
            });
            verifySignature(weightsCheck, to, "weights");
        }

        // The card gate: the candidate's verified card, compared with the running version's.
        const current = probe.current;
        const why = values["allow-regression"] as string | undefined;
        const runningTag = current.weights?.digest ? current.weights.tag : current.tag;
        const runningSha = runningTag ? parseReleaseTag(runningTag)?.sha : undefined;
        regressionOverride = checkCards({
            check,
            to,
            candidate: { model, version: probe.next.version, digest: probe.next.digest, ref, ...(gitSha ? { gitSha } : {}), ...(weights ? { weights } : {}) },
            ...(current.digest
                ? {
                      running: {
                          digest: current.digest,
                          ...(current.version ? { version: current.version } : {}),
                          // The commit its card must name: the weights' (their tag's) when it mounts weights, else the image's.
                          ...(runningSha ? { gitSha: runningSha } : {}),
                          ...(current.signingKey ? { signingKey: current.signingKey } : {}),
                          ...(current.weights?.digest ? { weightsDigest: current.weights.digest } : {}),
                      },
                  }
                : {}),
            maxAccuracyDrop: maxAccuracyDropOf(targetModels[probe.index], `${path.basename(file)} models[${probe.index}]`),
            ...(why !== undefined ? { override: { reason: why, by: whoAmI(), at: new Date().toISOString() } } : {}),
        });
    }

    const plan =
        vulnerabilityOverride || regressionOverride
            ? planPromotion({
                  model,
                  target: { stack: to, models: targetModels },
                  source,
                  signingKey,
                  ...(vulnerabilityOverride ? { vulnerabilityOverride } : {}),
                  ...(regressionOverride ? { regressionOverride } : {}),
              })
            : probe;
    if (vulnerabilityOverride || regressionOverride) console.log(plan.diff);
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
    const setCli = pulumiCli(`to run \`pulumi config set\` on ${path.basename(file)}`, [
        "print the commands instead and run them where the Pulumi CLI is set up: add --dry-run",
    ]);
    for (const args of plan.commands) {
        pulumi(setCli, args, false);
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
    void runMain(promoteCommand, promote);
}
