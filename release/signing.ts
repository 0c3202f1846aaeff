/**
 * Signing model images with Cosign (pure: no I/O). Every cosign command line of `npm run sign` — in the CI workflow,
 * for an operator, and in the real-tools suite (sandbox/supplychain) — comes from the argv functions here, so the
 * tests run the same command line the workflow runs. Flags and the reasons for them: docs/supply-chain.md.
 *
 * cosign v3 flags: cmd/cosign/cli/options/{sign,attest,verify}.go; the no-transparency-log checks:
 * cmd/cosign/cli/signcommon/common.go (LoadTrustedMaterialAndSigningConfig) and cmd/cosign/cli/verify/common.go
 * (verifyOfflineWithKey), all at github.com/sigstore/cosign/v3@v3.1.3. The format Kyverno reads:
 * pkg/image/verifiers/cpol/cosign/cosign.go (buildCosignOptions) at github.com/kyverno/kyverno@v1.18.2.
 */
import { z } from "zod";
import { MODEL_CARD_PREDICATE_TYPE, ModelCard, ModelCardError, parseModelCardJson } from "../domain/card/modelCard";
import { formatIssue } from "../domain/rules/issues";
import { modelLabels } from "../domain/labels";
import { cardMismatches } from "./modelCard";
import { parseReleaseTag } from "../domain/image/tag";

/** The cosign release the tool cache builds and the workflow installs (sigstore/cosign-installer `cosign-release`). */
export const COSIGN_VERSION = "v3.1.3";

/** A signing, attesting or verifying failure that the user can act on (printed without a stack trace). */
export class SigningError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "SigningError";
    }
}

/**
 * Annotation keys of a signature: the keys the project already uses for each fact. The model and version are the
 * pod's own labels (components/serving/labels.ts `modelLabels`, same values), so an admission policy can compare the
 * signature with the pod; the git sha is the OCI revision key the image itself carries (components/image/imagePlan.ts).
 */
export const ANNOTATION_KEYS = {
    model: "app.kubernetes.io/name",
    version: "app.kubernetes.io/version",
    gitSha: "org.opencontainers.image.revision",
} as const;

/** What is signed: one model image, by digest, and the weights artifact it mounts, if any. */
export interface ImageToSign {
    readonly model: string;
    readonly version: string;
    /** `<repository>@sha256:<64 hex>`; a tag is refused. */
    readonly ref: string;
    readonly gitSha: string;
    /** The release tag (`v<version>-<sha>`), recorded in the provenance. */
    readonly tag?: string;
    /**
     * The model's weights artifact (docs/design/weights.md): signed with the same key and the same model and version
     * annotations as the image (admission verifies the image volume as it verifies the container), attested with a
     * provenance and, with `--card`, the model card (the weights' card); no SBOM (no packages in it).
     */
    readonly weights?: WeightsToSign;
}

/** A weights artifact to sign: `<repository>@sha256:…`, its release tag, and the commit its annotation names. */
export interface WeightsToSign {
    readonly ref: string;
    readonly tag?: string;
    /** The weights' release tag's sha; without a tag, the image's. */
    readonly gitSha: string;
}

/** The weights artifact of `image` as a signing subject of its own: same model and version, its ref, tag and commit. */
export function weightsSubject(image: ImageToSign): ImageToSign | undefined {
    const w = image.weights;
    return w ? { model: image.model, version: image.version, ref: w.ref, gitSha: w.gitSha, ...(w.tag ? { tag: w.tag } : {}) } : undefined;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Splits `<repository>@sha256:<hex>`; refuses a tag-only or malformed reference, naming what to do instead. */
export function parseDigestRef(ref: string): { repository: string; digest: string } {
    const at = ref.lastIndexOf("@");
    if (at < 0) {
        throw new SigningError(
            `${ref} is not pinned by digest: sign and verify <repository>@sha256:<64 hex>, never a tag (a tag can be moved to another image after signing)`,
        );
    }
    const repository = ref.slice(0, at);
    const digest = ref.slice(at + 1);
    if (!DIGEST.test(digest)) {
        throw new SigningError(`${ref}: the digest must be sha256:<64 lowercase hex>, got ${JSON.stringify(digest)}`);
    }
    const lastSegment = repository.slice(repository.lastIndexOf("/") + 1);
    if (repository === "" || lastSegment.includes(":")) {
        throw new SigningError(`${ref}: give the repository without a tag before the digest (<repository>@sha256:…)`);
    }
    return { repository, digest };
}

/** The annotations a signature carries (and a verification requires). */
export function signatureAnnotations(image: ImageToSign): Record<string, string> {
    const labels = modelLabels(image.model, image.version);
    return {
        [ANNOTATION_KEYS.model]: labels[ANNOTATION_KEYS.model],
        [ANNOTATION_KEYS.version]: labels[ANNOTATION_KEYS.version],
        [ANNOTATION_KEYS.gitSha]: image.gitSha,
    };
}

function annotationFlags(annotations: Record<string, string>): string[] {
    return Object.entries(annotations).flatMap(([k, v]) => ["-a", `${k}=${v}`]);
}

/**
 * Sign and attest in cosign's legacy ("simple signing") format, privately. The admission engine decides the format:
 * Kyverno v1.18.2's `verifyImages` `type: Cosign` reads only legacy signatures (`<repo>:sha256-<hex>.sig`) and
 * attestations (`….att`); its `SigstoreBundle` type, which reads cosign v3's default Sigstore bundles, does not yet
 * verify a static key without a transparency log (docs/supply-chain.md#the-signature-format-and-why).
 *  - `--new-bundle-format=false`: the legacy format (cosign v3 marks the flag deprecated; it prints a warning);
 *  - `--use-signing-config=false`: no signing config (cosign refuses a signing config with the legacy format and
 *    with `--tlog-upload=false`), so no TUF fetch of Sigstore's public one;
 *  - `--tlog-upload=false`: nothing goes to the public Rekor log (private images; deprecated flag, warning);
 *  - `--yes`: answers cosign's prompts (CI has no terminal).
 */
export const PRIVATE_SIGNING_FLAGS: readonly string[] = ["--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "--yes"];

/**
 * Verify against the key alone (the signature was never logged: no inclusion proof to check), and only the legacy
 * format: without `--new-bundle-format=false` cosign also accepts a Sigstore bundle, which admission would refuse.
 */
export const PRIVATE_VERIFY_FLAGS: readonly string[] = ["--insecure-ignore-tlog=true", "--new-bundle-format=false"];

/** `cosign sign`: the image digest (an index digest covers BuildKit's own SBOM/provenance manifests) with annotations. */
export function cosignSignArgs(image: ImageToSign, keyRef: string): string[] {
    parseDigestRef(image.ref);
    requireKey(keyRef);
    return ["sign", "--key", keyRef, ...PRIVATE_SIGNING_FLAGS, ...annotationFlags(signatureAnnotations(image)), image.ref];
}

/** The attestations every image gets, by cosign's `--type` name. */
export const ATTESTATION_TYPES = ["slsaprovenance1", "spdxjson"] as const;
/**
 * Those, and the model card (`--card <dir>`), whose `--type` is its own predicate type URI (cosign uses a URI it does
 * not know as the predicate type and the file as the predicate; docs/model-card.md).
 */
export type AttestationType = (typeof ATTESTATION_TYPES)[number] | typeof MODEL_CARD_PREDICATE_TYPE;

/** `cosign attest`: a signed in-toto statement about the digest with the predicate from a file. */
export function cosignAttestArgs(image: ImageToSign, keyRef: string, type: AttestationType, predicatePath: string): string[] {
    parseDigestRef(image.ref);
    requireKey(keyRef);
    return ["attest", "--key", keyRef, ...PRIVATE_SIGNING_FLAGS, "--type", type, "--predicate", predicatePath, image.ref];
}

/**
 * `cosign verify`: a signature by the key over exactly this digest, carrying the image's annotations.
 * `--output json` prints the verified payloads on stdout.
 */
export function cosignVerifyArgs(image: ImageToSign, publicKey: string): string[] {
    return cosignVerifyPromotionArgs(image, publicKey);
}

/**
 * `cosign verify` of a digest about to be promoted: a signature by the source stack's key over exactly this digest,
 * carrying the model and version annotations, and the git sha where promote knows it (a stack's `images` output or a
 * release tag; an explicit digest without a tag has none to compare).
 */
export function cosignVerifyPromotionArgs(image: Omit<ImageToSign, "gitSha"> & { gitSha?: string }, publicKey: string): string[] {
    parseDigestRef(image.ref);
    requireKey(publicKey);
    const annotations = signatureAnnotations({ ...image, gitSha: image.gitSha ?? "" });
    if (image.gitSha === undefined) delete annotations[ANNOTATION_KEYS.gitSha];
    return ["verify", "--key", publicKey, ...PRIVATE_VERIFY_FLAGS, ...annotationFlags(annotations), "--output", "json", image.ref];
}

/** `cosign verify-attestation`: an attestation of the type, by the key, over exactly this digest. */
export function cosignVerifyAttestationArgs(image: Pick<ImageToSign, "ref">, publicKey: string, type: AttestationType): string[] {
    parseDigestRef(image.ref);
    requireKey(publicKey);
    return ["verify-attestation", "--key", publicKey, ...PRIVATE_VERIFY_FLAGS, "--type", type, "--output", "json", image.ref];
}

/** `cosign public-key`: the public key of a key reference (a key file, a KMS URI, …), to verify before signing. */
export function cosignPublicKeyArgs(keyRef: string): string[] {
    requireKey(keyRef);
    return ["public-key", "--key", keyRef];
}

/** `docker buildx version`: whether the Buildx plugin (which `--sbom buildkit` reads the SBOM with) is installed. */
export const BUILDX_VERSION_ARGS: readonly string[] = ["buildx", "version"];

/**
 * What `--sbom buildkit` says when Docker has no Buildx plugin: without it docker answers `imagetools inspect … --format`
 * with its own "unknown command" or "unknown flag: --format", which names neither the plugin nor the way out.
 */
export function buildxMissingMessage(detail: string): string {
    return (
        `--sbom buildkit reads BuildKit's SBOM with \`docker buildx imagetools inspect\`, and Docker's Buildx plugin is not available ` +
        `(\`docker buildx version\`: ${detail}). Install it (Debian/Ubuntu: the docker-buildx-plugin package; ` +
        `https://docs.docker.com/build/concepts/overview/#install-buildx; in GitHub Actions docker/setup-buildx-action), ` +
        `or attest SBOMs from files: --sbom <dir> with <dir>/<model>.spdx.json`
    );
}

/** `docker buildx imagetools inspect`: the SPDX SBOM BuildKit attached to a single-platform image (`null` if none). */
export function buildkitSbomArgs(ref: string): string[] {
    parseDigestRef(ref);
    return ["buildx", "imagetools", "inspect", ref, "--format", "{{ json .SBOM.SPDX }}"];
}

function requireKey(keyRef: string): void {
    if (keyRef.trim() === "") {
        throw new SigningError("no signing key: give --key, or a stack whose `signing.keyRef` output is set");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The stack outputs `npm run sign -- --stack <name>` reads

const sha = z.string().regex(/^[0-9a-f]{7,40}$/, "a hex git sha");
const WeightsOutput = z.object({
    digest: z.string().regex(DIGEST, "sha256:<64 hex>"),
    tag: z
        .string()
        .refine((t) => parseReleaseTag(t) !== undefined, "a release tag v<semver>-<sha>")
        .optional(),
    ref: z.string().min(1),
    repository: z.string().min(1),
});
const ImageOutput = z.object({
    version: z.string().min(1),
    tag: z.string().optional(),
    digest: z.string().regex(DIGEST, "sha256:<64 hex>"),
    ref: z.string().min(1),
    gitSha: sha,
    weights: WeightsOutput.optional(),
});
/** The contract of index.ts's outputs (`pulumi stack output --json`): `images` and `signing`. */
const StackOutputs = z.object({
    images: z.record(z.string(), ImageOutput),
    signing: z.object({ keyRef: z.string().min(1), publicKeyPem: z.string().optional() }),
});

export interface SigningInputs {
    readonly images: ImageToSign[];
    readonly keyRef: string;
    readonly publicKeyPem?: string;
}

/** Reads and checks the stack outputs; one error lists every offending path. */
export function signingInputsFromOutputs(outputs: unknown, source: string): SigningInputs {
    const parsed = StackOutputs.safeParse(outputs);
    if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(outputs)"}: ${i.message}`);
        throw new SigningError(
            `${source} does not have the outputs signing needs (images.<model>.{version,digest,ref,gitSha,weights?}, signing.keyRef):\n${problems.join("\n")}`,
        );
    }
    const { images, signing } = parsed.data;
    const problems: string[] = [];
    const list = Object.entries(images).map(([model, img]) => {
        try {
            const { digest } = parseDigestRef(img.ref);
            if (digest !== img.digest) problems.push(`  images.${model}: ref ${img.ref} is not the digest ${img.digest}`);
        } catch (e) {
            problems.push(`  images.${model}.ref: ${(e as Error).message}`);
        }
        let weights: WeightsToSign | undefined;
        if (img.weights) {
            const w = img.weights;
            try {
                const { digest } = parseDigestRef(w.ref);
                if (digest !== w.digest) problems.push(`  images.${model}.weights: ref ${w.ref} is not the digest ${w.digest}`);
            } catch (e) {
                problems.push(`  images.${model}.weights.ref: ${(e as Error).message}`);
            }
            weights = { ref: w.ref, gitSha: (w.tag ? parseReleaseTag(w.tag)?.sha : undefined) ?? img.gitSha, ...(w.tag ? { tag: w.tag } : {}) };
        }
        return { model, version: img.version, ref: img.ref, gitSha: img.gitSha, ...(img.tag ? { tag: img.tag } : {}), ...(weights ? { weights } : {}) };
    });
    if (problems.length > 0) throw new SigningError(`${source}:\n${problems.join("\n")}`);
    if (list.length === 0) throw new SigningError(`${source}: no images to sign`);
    return { images: list, keyRef: signing.keyRef, ...(signing.publicKeyPem ? { publicKeyPem: signing.publicKeyPem } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// Provenance

/** Who signs: the CI run, or a person on a machine. */
export interface Builder {
    /** SLSA `runDetails.builder.id`: the workflow file at its ref on GitHub Actions. */
    readonly id: string;
    /** The run (its URL on GitHub Actions). */
    readonly invocationId?: string;
    /** `git+<repository URL>` and the full commit, when known. */
    readonly source?: { readonly uri: string; readonly commit: string };
}

/** The builder from the environment: GitHub Actions' variables, else a local signer. */
export function builderFromEnv(env: Readonly<Record<string, string | undefined>>): Builder {
    const server = env.GITHUB_SERVER_URL;
    const repo = env.GITHUB_REPOSITORY;
    if (env.GITHUB_ACTIONS === "true" && server && repo && env.GITHUB_WORKFLOW_REF) {
        return {
            id: `${server}/${env.GITHUB_WORKFLOW_REF}`,
            ...(env.GITHUB_RUN_ID ? { invocationId: `${server}/${repo}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT ?? "1"}` } : {}),
            ...(env.GITHUB_SHA ? { source: { uri: `git+${server}/${repo}`, commit: env.GITHUB_SHA } } : {}),
        };
    }
    return { id: "urn:model-fleet:signer:local" };
}

/** SLSA v1 build type of a model image: docker-build run by `pulumi up` of a model-fleet stack. */
export const BUILD_TYPE = "urn:model-fleet:buildtype:pulumi-docker-build:v1";
/** SLSA v1 build type of a weights artifact: pushed by the training pipeline, signed for the stack that mounts it. */
export const WEIGHTS_BUILD_TYPE = "urn:model-fleet:buildtype:weights-artifact:v1";

/**
 * The SLSA v1 provenance predicate (https://slsa.dev/spec/v1.0/provenance) of a built image: which model, version
 * and commit, built by which run. BuildKit's own provenance (when the image carries it) is inside the signed index;
 * this one is a signed attestation that `cosign verify-attestation --type slsaprovenance1` and admission can check.
 */
export function provenancePredicate(image: ImageToSign, builder: Builder, stack?: string, artifact: Artifact = "image"): Record<string, unknown> {
    const full = builder.source && builder.source.commit.startsWith(image.gitSha) ? builder.source : undefined;
    return {
        buildDefinition: {
            buildType: artifact === "weights" ? WEIGHTS_BUILD_TYPE : BUILD_TYPE,
            externalParameters: {
                model: image.model,
                version: image.version,
                gitSha: image.gitSha,
                ...(image.tag ? { tag: image.tag } : {}),
                ...(stack ? { stack } : {}),
                ...(artifact === "weights" ? { artifact: "weights" } : {}),
            },
            internalParameters: {},
            resolvedDependencies: full ? [{ uri: full.uri, digest: { gitCommit: full.commit } }] : [],
        },
        runDetails: {
            builder: { id: builder.id },
            metadata: builder.invocationId ? { invocationId: builder.invocationId } : {},
        },
    };
}

// ---------------------------------------------------------------------------------------------------------------
// The plan: every cosign command for a set of images

export type SbomSource = { kind: "buildkit" } | { kind: "dir"; dir: string } | { kind: "none" };

/**
 * What already verifies for one image (cosign verify and verify-attestation with the stack's public key), checked
 * before signing: a step whose check passes is not run again. Signing is idempotent that way: a re-run (every run
 * has a new invocation id, so its provenance differs) signs nothing new for a digest that verifies, and a run that
 * stopped half-way finishes only what is missing.
 */
export interface ImageStatus {
    readonly signature: boolean;
    readonly provenance: boolean;
    /** Meaningless with `--sbom none` (no SBOM is attested nor checked). */
    readonly sbom: boolean;
    /** The model card attestation; absent without `--card` (no card is attested nor checked). */
    readonly card?: boolean;
    /** The weights artifact's signature, provenance and (with `--card`) card; absent for a model without weights. */
    readonly weightsSignature?: boolean;
    readonly weightsProvenance?: boolean;
    readonly weightsCard?: boolean;
}

/** Which artifact of a model a step is about. */
export type Artifact = "image" | "weights";

const NOTHING_VERIFIED: ImageStatus = { signature: false, provenance: false, sbom: false };

const VERIFIED_BY: Partial<Record<CosignStep["what"], keyof ImageStatus>> = {
    verify: "signature",
    "verify provenance": "provenance",
    "verify sbom": "sbom",
    "verify card": "card",
    "verify weights": "weightsSignature",
    "verify weights provenance": "weightsProvenance",
    "verify weights card": "weightsCard",
};

/** Reads the results of `verifyPlan`'s steps (exit code 0 = verified) into a status per model. */
export function statusFromChecks(results: ReadonlyArray<{ step: CosignStep; ok: boolean }>): Record<string, ImageStatus> {
    const out: Record<string, ImageStatus> = {};
    for (const { step, ok } of results) {
        const current = out[step.model] ?? NOTHING_VERIFIED;
        const key = VERIFIED_BY[step.what];
        if (key === undefined) throw new Error(`not a verification step: ${step.what}`);
        out[step.model] = { ...current, [key]: ok };
    }
    return out;
}

/**
 * One line per image for the summary: what this run did, and what was already there. `weights`: the model has a
 * weights artifact (its card then goes on the weights, not on the image).
 */
export function signOutcome(status: ImageStatus | undefined, sbom: SbomSource, card = false, weights = false): { done: string[]; skipped: string[] } {
    const s = status ?? NOTHING_VERIFIED;
    const parts: Array<[string, boolean]> = [
        ["signature", s.signature],
        ["provenance", s.provenance],
        ...(sbom.kind === "none" ? [] : ([["sbom", s.sbom]] as Array<[string, boolean]>)),
        ...(card && !weights ? ([["card", s.card === true]] as Array<[string, boolean]>) : []),
        ...(weights
            ? ([
                  ["weights signature", s.weightsSignature === true],
                  ["weights provenance", s.weightsProvenance === true],
                  ...(card ? [["weights card", s.weightsCard === true]] : []),
              ] as Array<[string, boolean]>)
            : []),
    ];
    return { done: parts.filter(([, v]) => !v).map(([n]) => n), skipped: parts.filter(([, v]) => v).map(([n]) => n) };
}

export interface CosignStep {
    readonly model: string;
    readonly what:
        | "sign"
        | "attest provenance"
        | "attest sbom"
        | "attest card"
        | "verify"
        | "verify provenance"
        | "verify sbom"
        | "verify card"
        | "sign weights"
        | "attest weights provenance"
        | "attest weights card"
        | "verify weights"
        | "verify weights provenance"
        | "verify weights card";
    readonly args: string[];
}

/** File names of the predicates the sign command writes (provenance) or reads (`--sbom <dir>`, `--card <dir>`). */
export const predicateFile = (model: string, type: AttestationType, artifact: Artifact = "image"): string =>
    type === "spdxjson"
        ? `${model}.spdx.json`
        : type === MODEL_CARD_PREDICATE_TYPE
          ? `${model}.card.json`
          : artifact === "weights"
            ? `${model}.weights.provenance.json`
            : `${model}.provenance.json`;

/**
 * The cosign commands that sign one image set: a signature, then the provenance, (unless the SBOM source is
 * `none`) the SBOM attestation and (with a card directory) the model card attestation, leaving out each one
 * `status` says already verifies. Predicate paths are `<predicateDir>/<model>.provenance.json`,
 * `<sbomDir>/<model>.spdx.json` (`predicateDir` for an SBOM taken from BuildKit) and `<cardDir>/<model>.card.json`.
 */
export function signPlan(
    images: readonly ImageToSign[],
    keyRef: string,
    predicateDir: string,
    sbom: SbomSource,
    status: Readonly<Record<string, ImageStatus>> = {},
    cardDir?: string,
): CosignStep[] {
    return images.flatMap((img) => {
        const verified = status[img.model] ?? NOTHING_VERIFIED;
        const steps: CosignStep[] = [];
        if (!verified.signature) steps.push({ model: img.model, what: "sign", args: cosignSignArgs(img, keyRef) });
        if (!verified.provenance) {
            steps.push({
                model: img.model,
                what: "attest provenance",
                args: cosignAttestArgs(img, keyRef, "slsaprovenance1", joinPath(predicateDir, predicateFile(img.model, "slsaprovenance1"))),
            });
        }
        if (sbom.kind !== "none" && !verified.sbom) {
            const dir = sbom.kind === "dir" ? sbom.dir : predicateDir;
            steps.push({
                model: img.model,
                what: "attest sbom",
                args: cosignAttestArgs(img, keyRef, "spdxjson", joinPath(dir, predicateFile(img.model, "spdxjson"))),
            });
        }
        const weights = weightsSubject(img);
        // The model card describes the weights: on the weights artifact when the model has one, else on the image.
        if (cardDir !== undefined && !weights && !verified.card) {
            steps.push({
                model: img.model,
                what: "attest card",
                args: cosignAttestArgs(img, keyRef, MODEL_CARD_PREDICATE_TYPE, joinPath(cardDir, predicateFile(img.model, MODEL_CARD_PREDICATE_TYPE))),
            });
        }
        if (weights) {
            if (!verified.weightsSignature) steps.push({ model: img.model, what: "sign weights", args: cosignSignArgs(weights, keyRef) });
            if (!verified.weightsProvenance) {
                steps.push({
                    model: img.model,
                    what: "attest weights provenance",
                    args: cosignAttestArgs(weights, keyRef, "slsaprovenance1", joinPath(predicateDir, predicateFile(img.model, "slsaprovenance1", "weights"))),
                });
            }
            if (cardDir !== undefined && !verified.weightsCard) {
                steps.push({
                    model: img.model,
                    what: "attest weights card",
                    args: cosignAttestArgs(weights, keyRef, MODEL_CARD_PREDICATE_TYPE, joinPath(cardDir, predicateFile(img.model, MODEL_CARD_PREDICATE_TYPE))),
                });
            }
        }
        return steps;
    });
}

/** The cosign commands that verify one image set: the signature and each attestation `signPlan` makes. */
export function verifyPlan(images: readonly ImageToSign[], publicKey: string, sbom: boolean, card = false): CosignStep[] {
    return images.flatMap((img): CosignStep[] => {
        const weights = weightsSubject(img);
        return [
            { model: img.model, what: "verify", args: cosignVerifyArgs(img, publicKey) },
            { model: img.model, what: "verify provenance", args: cosignVerifyAttestationArgs(img, publicKey, "slsaprovenance1") },
            ...(sbom ? [{ model: img.model, what: "verify sbom" as const, args: cosignVerifyAttestationArgs(img, publicKey, "spdxjson") }] : []),
            ...(card && !weights
                ? [{ model: img.model, what: "verify card" as const, args: cosignVerifyAttestationArgs(img, publicKey, MODEL_CARD_PREDICATE_TYPE) }]
                : []),
            ...(weights
                ? [
                      { model: img.model, what: "verify weights" as const, args: cosignVerifyArgs(weights, publicKey) },
                      {
                          model: img.model,
                          what: "verify weights provenance" as const,
                          args: cosignVerifyAttestationArgs(weights, publicKey, "slsaprovenance1"),
                      },
                      ...(card
                          ? [
                                {
                                    model: img.model,
                                    what: "verify weights card" as const,
                                    args: cosignVerifyAttestationArgs(weights, publicKey, MODEL_CARD_PREDICATE_TYPE),
                                },
                            ]
                          : []),
                  ]
                : []),
        ];
    });
}

/**
 * The model cards of `--card <dir>`, checked before anything is signed: `<dir>/<model>.card.json` of every image
 * exists, is a valid card (domain/card/modelCard.ts) and describes that image (its digest, model, version and
 * commit). `read` returns a file's text, or undefined when it does not exist. One error lists every problem of
 * every image.
 */
export function checkCards(images: readonly ImageToSign[], dir: string, read: (file: string) => string | undefined): Record<string, ModelCard> {
    const cards: Record<string, ModelCard> = {};
    const problems: string[] = [];
    for (const img of images) {
        const file = joinPath(dir, predicateFile(img.model, MODEL_CARD_PREDICATE_TYPE));
        const text = read(file);
        if (text === undefined) {
            problems.push(`${img.model}: ${file} does not exist (a card per image: <dir>/<model>.card.json)`);
            continue;
        }
        let card: ModelCard;
        try {
            card = parseModelCardJson(text, file);
        } catch (e) {
            if (!(e instanceof ModelCardError)) throw e;
            problems.push(`${img.model}: ${e.message}`);
            continue;
        }
        // A model with weights: the weights' card, naming both the weights artifact and the server image, and the
        // weights' commit (docs/design/weights.md).
        const mismatches = cardMismatches(card, {
            model: img.model,
            version: img.version,
            digest: parseDigestRef(img.ref).digest,
            ...(img.weights ? { weightsDigest: parseDigestRef(img.weights.ref).digest } : {}),
            gitSha: img.weights?.gitSha ?? img.gitSha,
        });
        if (mismatches.length > 0) {
            const what = img.weights ? `${img.ref} with the weights ${img.weights.ref}` : img.ref;
            problems.push(`${img.model}: ${file} does not describe ${what}:\n${mismatches.map((m) => `  - ${formatIssue(m)}`).join("\n")}`);
            continue;
        }
        cards[img.model] = card;
    }
    if (problems.length > 0) throw new SigningError(`--card ${dir}: nothing was signed:\n${problems.join("\n")}`);
    return cards;
}

function joinPath(dir: string, file: string): string {
    return dir.endsWith("/") ? `${dir}${file}` : `${dir}/${file}`;
}

/** A command line for printing (`--dry-run`, logs): arguments quoted for a POSIX shell where needed. */
export function shellLine(cmd: string, args: readonly string[]): string {
    return [cmd, ...args].map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}
