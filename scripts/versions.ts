/**
 * npm run versions -- --model <m> [--stack <s>] [--registry <host/path>] [--key <ref>] [--json]
 *
 * Every version of a model the registry still holds, newest first: its card (read from the card attestation that
 * verifies), whether its signature and card verify, which stacks run it, and what retention does to it. Thin: the
 * registry listings are release/registryImages.ts, the rows release/versions.ts, the retention verdicts
 * release/retentionVerdict.ts; this file reads the stack files and outputs, runs cosign and prints.
 */
import { ECRClient } from "@aws-sdk/client-ecr";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { command, findTool, readFleetConfig, REPO_ROOT, runMain, table, UsageError, Values } from "./cli";
import { knownStacks } from "../support/stackFile";
import { attestedCard } from "./cardAttestation";
import { ecrImages, EcrImagesClient, harborImages, ociImages, RegistryError, RepositoryListing, RepositoryLocation } from "../release/registryImages";
import { DeclaredRetention, HarborRetentionBody, retentionVerdicts } from "../release/retentionVerdict";
import {
    isVersionTag,
    pinnedImage,
    SignatureStatus,
    CardStatus,
    StackModelState,
    stackRegistry,
    StackRegistry,
    tagVersion,
    versionEntries,
    VersionEntry,
    versionRows,
    VersionsReport,
    versionsJson,
} from "../release/versions";
import { ANNOTATION_KEYS, cosignVerifyPromotionArgs, PRIVATE_VERIFY_FLAGS } from "../release/signing";
import { ecrLifecyclePolicy } from "../components/registry/ecrLifecycle";
import { protectPatterns } from "../components/registry/protect";
import { HARBOR_DEFAULTS, retentionBody, retentionPolicyInputs } from "../components/registry/harbor/provider";
import { retentionSchema } from "../config/schema";
import { parseReleaseTag, RELEASE_TAG_PATTERN, RELEASE_TAG_PREFIX } from "../domain/image/tag";

export const versionsCommand = command({
    name: "versions",
    usage: ["--model <name> [--weights] [--stack <name>] [--registry <host>/<path>] [--key <ref>] [--json]"],
    description: `
Lists every version of a model the registry still holds, newest first (by push time): its tags, its card (version,
data set, held-out accuracy, when it trained, parent) read from the card attestation that verifies with the stack's
key, whether its signature and card verify (cosign), which stacks run it (their \`images\` output, read with the
Pulumi CLI, and the digest pinned in Pulumi.<stack>.yaml), and what the stack's retention does to it (protected,
kept for now, expires at the next run). The registry, key and retention are those of --stack (default: the one
stack that builds the model); the running stacks are every Pulumi.*.yaml, or only --stack. cosign's .sig/.att tags
and the build cache are not versions. --json prints the stable form documented in docs/model-card.md.

Weights artifacts (docs/design/weights.md): a digest a stack mounts as the model's weights is marked "(weights)" in
"running in"; --weights lists the repository that holds the model's weights (its weights.repository in the
registry stack, default the model's own) with the same checks: the weights' signature (model and version
annotations), their card, and retention (which keeps weights.tag and weights.previousTag).`,
    options: {
        model: { type: "string", value: "name", help: "the model (its repository is <repositoryPrefix>/<model>)" },
        stack: { type: "string", value: "name", help: "read this stack's registry, key and retention, and only its running digest" },
        registry: {
            type: "string",
            value: "host/path",
            help: "list this repository instead, with the distribution API (a plain OCI registry; http on loopback)",
        },
        key: { type: "string", value: "ref", help: "the public key to verify with (a .pub file or KMS URI) instead of the stack's" },
        json: { type: "boolean", help: "print the machine-readable form (schema model-fleet/versions-v1)" },
        weights: { type: "boolean", help: "list the model's weights artifacts (the repository its weights.repository names) instead of its images" },
    },
    userErrors: [RegistryError],
});

type Opts = Values<typeof versionsCommand.spec.options>;

/** Runs the Pulumi CLI quietly: its stdout, or why not. */
function pulumiRead(cli: string, args: string[]): { ok: true; out: string } | { ok: false; why: string } {
    try {
        return { ok: true, out: execFileSync(cli, args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) as unknown as string };
    } catch (e: any) {
        const err = String(e?.stderr ?? e?.message ?? e)
            .trim()
            .split("\n")
            .pop();
        return { ok: false, why: `\`pulumi ${args.join(" ")}\` failed${err ? `: ${err}` : ""}` };
    }
}

function jsonOr(out: string): any {
    try {
        return JSON.parse(out);
    } catch {
        return undefined;
    }
}

/** The stack that builds `model`, when exactly one does: where its versions come from. */
function buildingStack(model: string): string {
    const builders = knownStacks().filter((s) => pinnedImage(readFleetConfig(s).config, model).builds);
    if (builders.length !== 1) {
        throw new UsageError(
            `--stack is required: ${builders.length === 0 ? `no stack builds ${model}` : `stacks ${builders.join(", ")} all build ${model}`}, so which registry to list is not clear`,
        );
    }
    return builders[0];
}

/**
 * The retention the program declares for the model's repository, computed with the program's own functions from the
 * stack config (components/registry/ModelRegistry.ts does the same): ECR, the lifecycle policy over the deployed
 * tags and `protectTags`; Harbor, the project-wide retention body over every model's deployed tags.
 */
export function declaredRetention(reg: StackRegistry, model: string): DeclaredRetention {
    if (reg.type === "external") return { kind: "none", why: "registry.type external: the program declares no retention for it" };
    const parsed = retentionSchema.safeParse(reg.retention);
    if (!parsed.success) {
        const problems = parsed.error.issues.map(
            (i) => `registry.retention${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${i.message}`,
        );
        throw new RegistryError(`Pulumi.${reg.stack}.yaml: ${problems.join("; ")}`);
    }
    const retention = parsed.data;
    if (reg.type === "ecr") {
        const deployed = reg.deployedTags[model] ?? [];
        return {
            kind: "ecr",
            policy: ecrLifecyclePolicy(
                { ...retention, protectTags: protectPatterns(deployed, retention.protectTags) },
                { releaseTagPrefix: RELEASE_TAG_PREFIX },
            ),
        };
    }
    const deployed = [...new Set(Object.values(reg.deployedTags).flat())];
    const body = retentionBody(
        retentionPolicyInputs({
            projectId: 0,
            keepReleases: retention.keepReleases,
            releasePattern: RELEASE_TAG_PATTERN,
            protectPatterns: protectPatterns(deployed, retention.protectTags),
            untaggedDays: retention.untaggedDays,
            schedule: HARBOR_DEFAULTS.schedule,
        }),
    );
    return { kind: "harbor", body: body as HarborRetentionBody };
}

export interface RegistryAccess {
    ecr: (region: string) => EcrImagesClient;
    harborPassword: (stack: string) => string;
    fetch: typeof fetch;
}

/** Lists the repository, with readable errors. */
export async function listRepository(location: RepositoryLocation, stack: string, access: RegistryAccess): Promise<RepositoryListing> {
    switch (location.kind) {
        case "ecr":
            return ecrImages(access.ecr(location.region), location);
        case "harbor":
            return harborImages(location, { password: access.harborPassword(stack) }, access.fetch);
        case "oci":
            return ociImages(location.repository, access.fetch, (t) => !isVersionTag(t));
    }
}

function harborPasswordOf(stack: string, cli: string | undefined): string {
    if (process.env.HARBOR_PASSWORD) return process.env.HARBOR_PASSWORD;
    if (!cli) throw new RegistryError(`set HARBOR_PASSWORD to read stack ${stack}'s Harbor (the Pulumi CLI, which could read its secret, is not installed)`);
    const r = pulumiRead(cli, ["config", "get", "--path", "model-fleet:registry.harbor.password", "--stack", stack]);
    if (!r.ok) throw new RegistryError(`cannot read stack ${stack}'s Harbor password (${r.why}): set HARBOR_PASSWORD`);
    return r.out.trim();
}

export function defaultAccess(cli: string | undefined): RegistryAccess {
    return { ecr: (region) => new ECRClient({ region }), harborPassword: (stack) => harborPasswordOf(stack, cli), fetch };
}

/** The key a stack's images verify with: --key, the stack's `signing` output, its stack file, or the model's recorded key. */
function verificationKey(
    values: Opts,
    stack: string,
    config: Record<string, any>,
    signingOutput: any,
    model: string,
    tmp: string,
): { key?: string; from: string } {
    if (values.key) return { key: values.key as string, from: "--key" };
    const pem = typeof signingOutput?.publicKeyPem === "string" ? signingOutput.publicKeyPem : config.supplyChain?.signing?.publicKeyPem;
    if (typeof pem === "string") {
        const file = path.join(tmp, "signing.pub");
        fs.writeFileSync(file, pem);
        return { key: file, from: `stack ${stack}'s signing.publicKeyPem` };
    }
    for (const [ref, from] of [
        [signingOutput?.keyRef, `stack ${stack}'s signing output`],
        [config.supplyChain?.signing?.keyRef, `Pulumi.${stack}.yaml supplyChain.signing.keyRef`],
        [pinnedImage(config, model).signingKey, `Pulumi.${stack}.yaml models[${model}].image.signingKey`],
    ] as const) {
        if (typeof ref === "string" && ref !== "") return { key: ref, from };
    }
    return { from: `no key: stack ${stack} has no signing output, supplyChain.signing or recorded image.signingKey (give --key)` };
}

/** `cosign verify` of one version: the key, the model annotation, and the version and commit where known. */
export function cosignVerifyVersionArgs(ref: string, model: string, version: string | undefined, tags: readonly string[], key: string): string[] {
    const sha = tags.map((t) => parseReleaseTag(t)).find((p) => p?.version === version)?.sha;
    if (version) return cosignVerifyPromotionArgs({ model, version, ref, ...(sha ? { gitSha: sha } : {}) }, key);
    return ["verify", "--key", key, ...PRIVATE_VERIFY_FLAGS, "-a", `${ANNOTATION_KEYS.model}=${model}`, "--output", "json", ref];
}

export interface Gathered {
    report: VersionsReport;
    registry: StackRegistry;
    listing: RepositoryListing;
}

/** Everything `npm run versions` shows (rollback uses it without cosign: `verify: false`). */
export async function gatherVersions(
    values: Opts,
    opts: {
        verify: boolean;
        access?: RegistryAccess;
        now?: Date;
        /** The Pulumi CLI; null: none (tests). Default: found on PATH or in the tool cache. */ cli?: string | null;
    },
): Promise<Gathered> {
    const model = values.model as string;
    const registryStack = (values.stack as string | undefined) ?? buildingStack(model);
    const stacks = values.stack ? [values.stack as string] : knownStacks();
    const cli = opts.cli === undefined ? findTool("pulumi")?.path : (opts.cli ?? undefined);
    const notes: string[] = [];
    if (!cli) notes.push("the Pulumi CLI is not installed: running digests are read from the stack files only (not the `images` outputs)");

    const states: StackModelState[] = [];
    const builtTags: Record<string, string> = {};
    for (const stackOrFile of stacks) {
        // A stack file given by path (`--stack dir/Pulumi.<name>.yaml`) is the stack <name>.
        const { config, stack } = readFleetConfig(stackOrFile);
        const pinned = pinnedImage(config, model);
        let outputDigest: string | undefined;
        let outputWeightsDigest: string | undefined;
        if (cli && pinned.declared) {
            const r = pulumiRead(cli, ["stack", "output", "--stack", stack, "--json", "images"]);
            const images = r.ok ? jsonOr(r.out) : undefined;
            if (!r.ok) notes.push(`stack ${stack}: ${r.why}`);
            outputDigest = typeof images?.[model]?.digest === "string" ? images[model].digest : undefined;
            outputWeightsDigest = typeof images?.[model]?.weights?.digest === "string" ? images[model].weights.digest : undefined;
            if (stack === registryStack && images && typeof images === "object") {
                for (const [m, img] of Object.entries<any>(images)) if (typeof img?.tag === "string") builtTags[m] = img.tag;
            }
        }
        if (pinned.declared) {
            states.push({
                stack,
                ...(outputDigest ? { outputDigest } : {}),
                ...(pinned.digest ? { configDigest: pinned.digest } : {}),
                ...(outputWeightsDigest ? { outputWeightsDigest } : {}),
                ...(pinned.weights?.digest ? { configWeightsDigest: pinned.weights.digest } : {}),
            });
        }
    }

    const { config, region } = readFleetConfig(registryStack);
    // --weights: the repository holding the model's weights artifacts in the registry stack (docs/design/weights.md).
    const weightsOf = pinnedImage(config, model).weights;
    if (values.weights && !weightsOf) throw new UsageError(`--weights: stack ${registryStack} mounts no weights artifact for ${model} (models[].weights)`);
    const repositoryName = values.weights ? (weightsOf!.repository ?? model) : model;
    if (values.weights) notes.push(`the weights artifacts of ${model}: repository ${repositoryName} of stack ${registryStack}`);
    const reg = stackRegistry(registryStack, config, region, repositoryName, builtTags);
    for (const m of reg.builds)
        if (!builtTags[m]) notes.push(`stack ${registryStack} builds ${m}: its deployed tag (protected by name) is unknown without its \`images\` output`);
    const location: RepositoryLocation = values.registry ? { kind: "oci", repository: values.registry as string } : reg.location;
    if (values.registry) notes.push(`listed ${values.registry} (--registry); retention evaluated as stack ${registryStack}'s ${reg.type} rules would treat it`);
    const listing = await listRepository(location, registryStack, opts.access ?? defaultAccess(cli));
    notes.push(...listing.notes);
    const now = opts.now ?? new Date();
    const retention = retentionVerdicts(declaredRetention(reg, repositoryName), listing.images, now);

    const signatures = new Map<string, SignatureStatus>();
    const cards = new Map<string, CardStatus>();
    if (opts.verify) {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-versions-"));
        try {
            let signingOutput: any;
            if (cli && !values.key) {
                const r = pulumiRead(cli, ["stack", "output", "--stack", registryStack, "--json", "--show-secrets", "signing"]);
                signingOutput = r.ok ? jsonOr(r.out) : undefined;
            }
            const { key, from } = verificationKey(values, registryStack, config, signingOutput, model, tmp);
            const cosign = findTool("cosign")?.path;
            const unchecked = !cosign ? "cosign is not installed (npm run tools -- build cosign)" : !key ? from : undefined;
            if (key) notes.push(`signatures and cards verified with ${from}`);
            for (const e of versionEntries(listing.images)) {
                const ref = `${listing.repository}@${e.digest}`;
                if (unchecked) {
                    signatures.set(e.digest, { status: "unchecked", detail: unchecked });
                    cards.set(e.digest, { status: "unchecked", detail: unchecked });
                    continue;
                }
                const card = attestedCard(cosign!, ref, key!);
                cards.set(e.digest, card);
                const version = tagVersion(e.releaseTags) ?? (card.status === "verified" ? card.card.version : undefined);
                const r = spawnSync(cosign!, cosignVerifyVersionArgs(ref, model, version, e.releaseTags, key!), {
                    encoding: "utf8",
                    stdio: ["ignore", "pipe", "pipe"],
                    maxBuffer: 64 << 20,
                });
                const why = String(r.stderr ?? "")
                    .split("\n")
                    .filter((l) => l.startsWith("Error:"))
                    .pop();
                signatures.set(e.digest, r.status === 0 ? { status: "verified" } : { status: "unverified", detail: why ?? `cosign exited ${r.status}` });
            }
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    const entries: VersionEntry[] = versionEntries(listing.images, { signatures, cards, stacks: states, retention });
    const report: VersionsReport = { model, repository: listing.repository, registryStack, stacks, evaluatedAt: now.toISOString(), entries, notes };
    return { report, registry: reg, listing };
}

export async function versions(values: Opts): Promise<number> {
    if (!values.model) throw new UsageError(versionsCommand.usage());
    const { report } = await gatherVersions(values, { verify: true });
    if (values.json) {
        console.log(JSON.stringify(versionsJson(report), null, 2));
        return 0;
    }
    console.log(`${report.model}: ${report.entries.length} version(s) in ${report.repository} (stack ${report.registryStack}), newest first\n`);
    if (report.entries.length > 0) console.log(table(versionRows(report.entries)));
    for (const n of report.notes) console.log(`note: ${n}`);
    return 0;
}

if (require.main === module) {
    void runMain(versionsCommand, versions);
}
