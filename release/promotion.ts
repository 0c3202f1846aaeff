/**
 * Promotion by digest (pure): from a source stack's `images` output (or an explicit digest, for rollback) to the
 * `pulumi config set --path` calls that pin a target stack's model to that digest and version, plus a human diff.
 *
 * Nothing is rebuilt: the target deploys the exact image the source built and tested. Rollback is the same
 * operation with an older digest and version (`--digest sha256:… --version x.y.z`).
 */
import * as semver from "semver";
import { CONFIG_NAMESPACE } from "../config/schema";
import { fleetConfigOf } from "../support/stackFile";
import { isDigest, isDigestRef, parseDigestRef, parseReleaseTag } from "../domain/image/tag";

/** `models[i]…` paths are relative to the stack config namespace (= Pulumi project name). */
export const MODELS_KEY = `${CONFIG_NAMESPACE}:models`;

/** A model's weights artifact in the stack output `images` (docs/design/weights.md). */
export interface WeightsRecord {
    digest: string;
    /** Its release tag `v<semver>-<sha>`, when it was pushed with one. */
    tag?: string;
    /** `<repository url>@<digest>`. */
    ref: string;
    /** The repository's name in the stack (a model's, or a `registry.repositories` entry). */
    repository: string;
}

/** One entry of the stack output `images`: `{ <model>: { version, tag, digest, ref, weights? } }`. */
export interface ImageRecord {
    version: string;
    /** `v<semver>-<sha>`; absent when the source stack itself runs a promoted digest. */
    tag?: string;
    digest: string;
    ref: string;
    /** The weights artifact the model mounts; absent when its weights are baked into the image. */
    weights?: WeightsRecord;
}

export type PromotionSource =
    /** Promote what another stack runs: its `pulumi stack output --json images`. */
    | { kind: "stack"; stack: string; images: unknown }
    /**
     * Pin an explicit digest and version (rollback, or a digest from elsewhere). `weights`: the weights artifact to
     * pin with it (in the target's weights repository), `"none"` to remove the target's weights (the image has them
     * baked in), absent to leave the target's weights as they are.
     */
    | { kind: "explicit"; digest: string; version: string; tag?: string; weights?: { digest: string; tag?: string } | "none" };

export interface PromotionRequest {
    model: string;
    /** Target stack name (`prod`) and its parsed `model-fleet:models` array from `Pulumi.<stack>.yaml`. */
    target: { stack: string; models: unknown };
    source: PromotionSource;
    /**
     * The cosign key reference the digest was signed with (the source stack's `signing.keyRef`, or `--signing-key`),
     * recorded next to the digest: the target's admission policy trusts it. Undefined: the target keeps no key for a
     * new digest (the old one signed another image).
     */
    signingKey?: string;
    /** Recorded when the scan gate was overridden (`--allow-vulnerable <reason>`); any older override is dropped. */
    vulnerabilityOverride?: { reason: string; by: string; at: string; findings?: string };
    /** Recorded when the card gate was overridden (`--allow-regression <reason>`, release/cardGate.ts); any older one is dropped. */
    regressionOverride?: { reason: string; by: string; at: string; refused?: string };
}

/**
 * One `pulumi config set --path <path> <value>`; `path` is relative to the project namespace. A `value` of
 * `undefined` removes the key (`pulumi config rm --path <path>`).
 */
export interface ConfigSet {
    path: string;
    value: string | undefined;
}

export type PromotionKind = "none" | "upgrade" | "downgrade" | "redeploy" | "retag" | "weights";

/** What a target model mounts as weights now (its `weights` config). */
export interface CurrentWeights {
    digest?: string;
    tag?: string;
    previousTag?: string;
    /** `weights.repository` as written (absent: the model's own). */
    repository?: string;
}

export interface PromotionPlan {
    model: string;
    targetStack: string;
    /** Index of the model in the target's `models` array. */
    index: number;
    current: {
        version?: string;
        digest?: string;
        tag?: string;
        previousTag?: string;
        signingKey?: string;
        overrideDigest?: string;
        regressionOverrideDigest?: string;
        /** The target's weights artifact; undefined when the model mounts none. */
        weights?: CurrentWeights;
    };
    /**
     * `weights`: the weights artifact pinned with the image (`repository` as the target writes it: absent for the
     * model's own); `null`: the target's weights are removed; undefined: the target's weights are left as they are
     * (an explicit digest without `weights`).
     */
    next: { version: string; digest: string; tag?: string; ref?: string; weights?: { digest: string; tag?: string; ref?: string; repository?: string } | null };
    /** `stack dev` or `explicit digest`. */
    origin: string;
    /**
     * none: already there; upgrade/downgrade by semver; redeploy: same version, another digest (a rebuild);
     * retag: same image and weights, only a recorded release tag changes; weights: same image and version, other
     * weights (a weights-only release: the workload rolls with the same server image).
     */
    kind: PromotionKind;
    /** Whether the weights the target mounts change (another artifact, one added, or removed): promote then checks them. */
    weightsChange: boolean;
    sets: ConfigSet[];
    /** Argument lists for the `pulumi` CLI, in order: digest first, then version. */
    commands: string[][];
    diff: string;
}

export class PromotionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromotionError";
    }
}

function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function canonicalVersion(version: unknown, what: string): string {
    if (typeof version !== "string" || semver.valid(version) !== version) {
        throw new PromotionError(`${what}: version ${JSON.stringify(version)} is not a semver version such as 2.1.4 (no leading v)`);
    }
    return version;
}

function checkedDigest(digest: unknown, what: string): string {
    if (typeof digest !== "string" || !isDigest(digest)) {
        throw new PromotionError(`${what}: digest ${JSON.stringify(digest)} is malformed: expected sha256:<64 lowercase hex>`);
    }
    return digest;
}

/** Validates one model's entry of a source stack's `images` output. */
export function imageRecordFor(images: unknown, model: string, stack: string): ImageRecord {
    if (!isObject(images)) {
        throw new PromotionError(
            `stack ${stack}: the "images" output is not an object (got ${JSON.stringify(images)}); is the stack deployed with this program?`,
        );
    }
    const entry = Object.prototype.hasOwnProperty.call(images, model) ? images[model] : undefined;
    if (entry === undefined) {
        const known = Object.keys(images).sort();
        throw new PromotionError(`model "${model}" is not in stack ${stack}'s images output (it has: ${known.length ? known.join(", ") : "none"})`);
    }
    const what = `stack ${stack} images.${model}`;
    if (!isObject(entry)) {
        throw new PromotionError(`${what} is not an object`);
    }
    const version = canonicalVersion(entry.version, what);
    const digest = checkedDigest(entry.digest, what);
    const ref = entry.ref;
    if (typeof ref !== "string" || !isDigestRef(ref) || parseDigestRef(ref)?.digest !== digest) {
        throw new PromotionError(`${what}: ref ${JSON.stringify(ref)} is not <repository>@${digest}`);
    }
    let tag: string | undefined;
    if (entry.tag !== undefined && entry.tag !== null) {
        const parsed = typeof entry.tag === "string" ? parseReleaseTag(entry.tag) : undefined;
        if (!parsed || parsed.version !== version) {
            throw new PromotionError(`${what}: tag ${JSON.stringify(entry.tag)} is not a release tag v${version}-<sha>`);
        }
        tag = entry.tag as string;
    }
    const weights = entry.weights === undefined || entry.weights === null ? undefined : weightsRecordOf(entry.weights, `${what}.weights`);
    return { version, digest, ref, ...(tag ? { tag } : {}), ...(weights ? { weights } : {}) };
}

const REPOSITORY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates `images.<model>.weights`: every problem in one error. */
function weightsRecordOf(w: unknown, what: string): WeightsRecord {
    if (!isObject(w)) throw new PromotionError(`${what} is not an object`);
    const problems: string[] = [];
    const digest = typeof w.digest === "string" && isDigest(w.digest) ? w.digest : undefined;
    if (!digest) problems.push(`digest ${JSON.stringify(w.digest)} is malformed: expected sha256:<64 lowercase hex>`);
    if (typeof w.ref !== "string" || !isDigestRef(w.ref) || (digest && parseDigestRef(w.ref)?.digest !== digest)) {
        problems.push(`ref ${JSON.stringify(w.ref)} is not <repository>@${digest ?? "<digest>"}`);
    }
    if (w.tag !== undefined && w.tag !== null && (typeof w.tag !== "string" || !parseReleaseTag(w.tag))) {
        problems.push(`tag ${JSON.stringify(w.tag)} is not a release tag v<semver>-<sha>`);
    }
    if (typeof w.repository !== "string" || !REPOSITORY_NAME.test(w.repository))
        problems.push(`repository ${JSON.stringify(w.repository)} is not a repository name`);
    if (problems.length > 0) throw new PromotionError(`${what}: ${problems.join("; ")}`);
    return { digest: digest!, ref: w.ref as string, repository: w.repository as string, ...(typeof w.tag === "string" ? { tag: w.tag } : {}) };
}

/** Extracts `model-fleet:models` from a parsed `Pulumi.<stack>.yaml` document. */
export function modelsFromStackFile(doc: unknown, stack: string): unknown[] {
    const config = isObject(doc) ? doc.config : undefined;
    const models = isObject(config) ? (fleetConfigOf({ config }).models ?? config.models) : undefined;
    if (!Array.isArray(models)) {
        throw new PromotionError(`Pulumi.${stack}.yaml has no ${MODELS_KEY} list`);
    }
    return models;
}

function shortDigest(d: string | undefined): string {
    return d ?? "(none)";
}

/**
 * `pulumi config set --path <path> <value> --stack <stack>` (or `config rm --path`) as an argument list. A target
 * given as a stack file (`…/Pulumi.<name>.yaml`, outside the project directory) is the stack `<name>` with
 * `--config-file <file>`: the CLI edits that file, not `Pulumi.<name>.yaml` beside Pulumi.yaml.
 */
export function configSetArgs(set: ConfigSet, stack: string): string[] {
    const target = /\.ya?ml$/.test(stack)
        ? [
              "--stack",
              stack
                  .split("/")
                  .pop()!
                  .replace(/\.ya?ml$/, "")
                  .replace(/^Pulumi\./, ""),
              "--config-file",
              stack,
          ]
        : ["--stack", stack];
    return set.value === undefined ? ["config", "rm", "--path", set.path, ...target] : ["config", "set", "--path", set.path, set.value, ...target];
}

/** Computes the config change that pins `model` in the target stack to the source's digest and version. */
export function planPromotion(req: PromotionRequest): PromotionPlan {
    const { model, target, source } = req;
    if (typeof model !== "string" || model === "") {
        throw new PromotionError("--model is required");
    }
    if (source.kind === "stack" && source.stack === target.stack) {
        throw new PromotionError(`source and target are the same stack (${target.stack})`);
    }

    // Source: what to deploy.
    let next: PromotionPlan["next"];
    let origin: string;
    if (source.kind === "stack") {
        const rec = imageRecordFor(source.images, model, source.stack);
        // The target runs exactly what the source ran: its weights artifact, or none (the weights baked into its image).
        const { weights, ...image } = rec;
        next = {
            ...image,
            weights: weights
                ? {
                      digest: weights.digest,
                      ref: weights.ref,
                      ...(weights.tag ? { tag: weights.tag } : {}),
                      ...(weights.repository !== model ? { repository: weights.repository } : {}),
                  }
                : null,
        };
        origin = `stack ${source.stack}`;
    } else {
        const what = "explicit --digest/--version";
        next = { digest: checkedDigest(source.digest, what), version: canonicalVersion(source.version, what) };
        if (source.tag !== undefined) {
            if (parseReleaseTag(source.tag)?.version !== next.version) {
                throw new PromotionError(`${what}: --tag ${JSON.stringify(source.tag)} is not a release tag v${next.version}-<sha>`);
            }
            next.tag = source.tag;
        }
        if (source.weights === "none") {
            next.weights = null;
        } else if (source.weights !== undefined) {
            const w = { digest: checkedDigest(source.weights.digest, `${what} --weights-digest`) } as { digest: string; tag?: string };
            if (source.weights.tag !== undefined) {
                if (!parseReleaseTag(source.weights.tag))
                    throw new PromotionError(`${what}: --weights-tag ${JSON.stringify(source.weights.tag)} is not a release tag v<semver>-<sha>`);
                w.tag = source.weights.tag;
            }
            next.weights = w;
        }
        origin = "explicit digest";
    }

    // Target: where it goes.
    if (!Array.isArray(target.models)) {
        throw new PromotionError(`stack ${target.stack}: ${MODELS_KEY} is not a list`);
    }
    const names = target.models.map((m) => (isObject(m) ? m.name : undefined));
    const indices = names.flatMap((n, i) => (n === model ? [i] : []));
    if (indices.length === 0) {
        throw new PromotionError(
            `model "${model}" is not declared in stack ${target.stack} (${MODELS_KEY} has: ${names.filter((n) => typeof n === "string").join(", ") || "none"}); ` +
                `add it to Pulumi.${target.stack}.yaml with its resources first: promotion only changes an existing model's digest and version`,
        );
    }
    if (indices.length > 1) {
        throw new PromotionError(`model "${model}" is declared ${indices.length} times in stack ${target.stack}`);
    }
    const index = indices[0];
    const entry = target.models[index] as Record<string, unknown>;
    const image = entry.image;
    if (isObject(image) && image.build !== undefined) {
        throw new PromotionError(
            `refusing to promote into stack ${target.stack}: model "${model}" is configured to build from source (image.build). ` +
                `A promotion target never builds; replace models[${index}].image with {digest: …} in Pulumi.${target.stack}.yaml`,
        );
    }
    if (!isObject(image) || (image.digest !== undefined && typeof image.digest !== "string")) {
        throw new PromotionError(`stack ${target.stack}: models[${index}].image must be {digest: "sha256:…"}`);
    }
    const current = {
        version: typeof entry.version === "string" ? entry.version : entry.version === undefined ? undefined : String(entry.version),
        digest: typeof image.digest === "string" ? image.digest : undefined,
        tag: typeof image.tag === "string" ? image.tag : undefined,
        previousTag: typeof image.previousTag === "string" ? image.previousTag : undefined,
        signingKey: typeof image.signingKey === "string" ? image.signingKey : undefined,
        overrideDigest: isObject(image.vulnerabilityOverride) ? String(image.vulnerabilityOverride.digest) : undefined,
        regressionOverrideDigest: isObject(image.regressionOverride) ? String(image.regressionOverride.digest) : undefined,
        ...(isObject(entry.weights) ? { weights: currentWeights(entry.weights) } : {}),
    };
    const weights = weightsSets(index, current.weights, next.weights);

    const sets: ConfigSet[] = [];
    if (current.digest !== next.digest) {
        sets.push({ path: `models[${index}].image.digest`, value: next.digest });
    }
    if (current.version !== next.version) {
        sets.push({ path: `models[${index}].version`, value: next.version });
    }
    // The release tag travels with the digest: the target's retention rules protect exactly the deployed tag.
    // A digest promoted without a tag drops the stale one (it named another image).
    if (current.tag !== next.tag) {
        sets.push({ path: `models[${index}].image.tag`, value: next.tag });
    }
    // The image being replaced stays protected as the abort/rollback target (its tag, when the config had one).
    if (current.digest !== next.digest && current.previousTag !== current.tag) {
        sets.push({ path: `models[${index}].image.previousTag`, value: current.tag });
    }
    sets.push(...weights.sets);
    // The signing key travels with the digest too: admission in the target trusts exactly the recorded keys.
    const nextKey = req.signingKey ?? (current.digest === next.digest ? current.signingKey : undefined);
    if (nextKey !== current.signingKey) {
        sets.push({ path: `models[${index}].image.signingKey`, value: nextKey });
    }
    // An override belongs to one digest: a new one is recorded, an old one for another digest is dropped.
    const o = req.vulnerabilityOverride;
    if (o) {
        const base = `models[${index}].image.vulnerabilityOverride`;
        sets.push(
            { path: `${base}.digest`, value: next.digest },
            { path: `${base}.reason`, value: o.reason },
            { path: `${base}.by`, value: o.by },
            { path: `${base}.at`, value: o.at },
        );
        if (o.findings) sets.push({ path: `${base}.findings`, value: o.findings });
    } else if (current.overrideDigest !== undefined && current.overrideDigest !== next.digest) {
        sets.push({ path: `models[${index}].image.vulnerabilityOverride`, value: undefined });
    }
    const ro = req.regressionOverride;
    if (ro) {
        const base = `models[${index}].image.regressionOverride`;
        sets.push(
            { path: `${base}.digest`, value: next.digest },
            { path: `${base}.reason`, value: ro.reason },
            { path: `${base}.by`, value: ro.by },
            { path: `${base}.at`, value: ro.at },
        );
        if (ro.refused) sets.push({ path: `${base}.refused`, value: ro.refused });
    } else if (current.regressionOverrideDigest !== undefined && current.regressionOverrideDigest !== next.digest) {
        sets.push({ path: `models[${index}].image.regressionOverride`, value: undefined });
    }
    let kind: PromotionKind;
    if (sets.length === 0) {
        kind = "none";
    } else if (current.digest === next.digest && current.version === next.version) {
        kind = weights.digestChanges ? "weights" : "retag";
    } else if (current.version && semver.valid(current.version) === current.version && current.version !== next.version) {
        kind = semver.gt(next.version, current.version) ? "upgrade" : "downgrade";
    } else if (current.version === next.version) {
        kind = "redeploy";
    } else {
        kind = "upgrade";
    }

    const header = `stack ${target.stack}: model "${model}" (${MODELS_KEY}[${index}]) ← ${origin}${next.tag ? ` (tag ${next.tag})` : ""}`;
    const lines = [header];
    if (kind === "none") {
        lines.push(
            `  already at version ${next.version}, ${next.digest}${next.weights ? ` with weights ${next.weights.digest}` : current.weights?.digest && next.weights === undefined ? ` (weights ${current.weights.digest} left as they are)` : ""}: nothing to change`,
        );
    } else {
        lines.push(`- version: ${current.version ?? "(none)"}`, `+ version: ${next.version}`);
        lines.push(`- image.digest: ${shortDigest(current.digest)}`, `+ image.digest: ${next.digest}`);
        if (current.tag !== next.tag) lines.push(`- image.tag: ${current.tag ?? "(none)"}`, `+ image.tag: ${next.tag ?? "(none)"}`);
        if (current.digest !== next.digest && current.previousTag !== current.tag) {
            lines.push(`  image.previousTag: ${current.tag ?? "(none)"} (kept as the rollback target)`);
        }
        lines.push(...weights.diff);
        if (nextKey !== current.signingKey) lines.push(`- image.signingKey: ${current.signingKey ?? "(none)"}`, `+ image.signingKey: ${nextKey ?? "(none)"}`);
        if (o) lines.push(`+ image.vulnerabilityOverride: ${o.reason} (${o.by}, ${o.at}${o.findings ? `; ${o.findings}` : ""})`);
        else if (current.overrideDigest !== undefined && current.overrideDigest !== next.digest)
            lines.push(`- image.vulnerabilityOverride (it was for ${current.overrideDigest})`);
        if (ro) lines.push(`+ image.regressionOverride: ${ro.reason} (${ro.by}, ${ro.at}${ro.refused ? `; ${ro.refused}` : ""})`);
        else if (current.regressionOverrideDigest !== undefined && current.regressionOverrideDigest !== next.digest)
            lines.push(`- image.regressionOverride (it was for ${current.regressionOverrideDigest})`);
        if (kind === "downgrade") {
            lines.push(`  note: ${current.version} → ${next.version} is a downgrade (rollback)`);
        } else if (kind === "redeploy") {
            lines.push(`  note: same version ${next.version}, different image: the source rebuilt it from another commit`);
        } else if (kind === "weights") {
            lines.push(`  note: weights-only release: the same server image with other weights; the workload rolls a new ReplicaSet`);
        }
    }
    return {
        model,
        targetStack: target.stack,
        index,
        current,
        next,
        origin,
        kind,
        weightsChange: weights.digestChanges,
        sets,
        commands: sets.map((s) => configSetArgs(s, target.stack)),
        diff: lines.join("\n"),
    };
}

function currentWeights(w: Record<string, unknown>): CurrentWeights {
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    const out: CurrentWeights = {};
    for (const k of ["digest", "tag", "previousTag", "repository"] as const) {
        const v = str(w[k]);
        if (v !== undefined) out[k] = v;
    }
    return out;
}

/**
 * The `weights` config changes of a promotion, and their diff lines: the weights travel with the image as its digest
 * does (digest, tag, repository), the replaced weights' tag is kept as `weights.previousTag` (what rollback restores
 * with `image.previousTag`, and retention keeps), and a source without weights removes the target's.
 */
function weightsSets(
    index: number,
    current: CurrentWeights | undefined,
    next: PromotionPlan["next"]["weights"],
): { sets: ConfigSet[]; diff: string[]; digestChanges: boolean } {
    const base = `models[${index}].weights`;
    if (next === undefined) {
        return {
            sets: [],
            diff: current?.digest ? [`  weights: ${current.digest} (left as they are: no weights given with the digest)`] : [],
            digestChanges: false,
        };
    }
    if (next === null) {
        if (!current) return { sets: [], diff: [], digestChanges: false };
        return {
            sets: [{ path: base, value: undefined }],
            diff: [
                `- weights: ${current.digest ?? "(none)"}${current.tag ? ` (tag ${current.tag})` : ""}`,
                `  note: the source runs the model without a weights artifact (its weights are baked into its image): the target's weights are removed, so it runs exactly what the source ran`,
            ],
            digestChanges: true,
        };
    }
    const sets: ConfigSet[] = [];
    const diff: string[] = [];
    const digestChanges = current?.digest !== next.digest;
    if (digestChanges) {
        sets.push({ path: `${base}.digest`, value: next.digest });
        diff.push(`- weights.digest: ${current?.digest ?? "(none)"}`, `+ weights.digest: ${next.digest}`);
    }
    if (current?.tag !== next.tag) {
        sets.push({ path: `${base}.tag`, value: next.tag });
        diff.push(`- weights.tag: ${current?.tag ?? "(none)"}`, `+ weights.tag: ${next.tag ?? "(none)"}`);
    }
    // An explicit digest names no repository: the target's own is kept. A stack's output names one.
    const repository = next.ref === undefined ? current?.repository : next.repository;
    if (current?.repository !== repository) {
        sets.push({ path: `${base}.repository`, value: repository });
        diff.push(`- weights.repository: ${current?.repository ?? "(the model's own)"}`, `+ weights.repository: ${repository ?? "(the model's own)"}`);
    }
    if (current && digestChanges && current.previousTag !== current.tag) {
        sets.push({ path: `${base}.previousTag`, value: current.tag });
        diff.push(`  weights.previousTag: ${current.tag ?? "(none)"} (kept as the rollback target's weights)`);
    }
    return { sets, diff, digestChanges };
}

/** The weights artifact a promotion pins, as promote checks it: its digest, `<repository>@<digest>`, tag and commit. */
export interface WeightsCandidate {
    digest: string;
    ref: string;
    tag?: string;
    /** The weights' release tag's sha: what their signature's revision annotation must carry. */
    gitSha?: string;
}

/**
 * The weights artifact `plan` pins, with the reference its signature and card are read from: the source stack's
 * `ref`, or for an explicit `--weights-digest` the target's weights repository at `repositoryUrl` (`--weights-repository`,
 * else the image's repository when the weights are in the model's own). Undefined when the plan pins no weights
 * (none in the source, or left as they are).
 */
export function weightsCandidate(plan: PromotionPlan, repositoryUrl: string | undefined): WeightsCandidate | undefined {
    const w = plan.next.weights;
    if (!w) return undefined;
    let ref = w.ref;
    if (ref === undefined) {
        if (!repositoryUrl) {
            throw new PromotionError(
                `--weights-digest: the target's weights are in repository ${plan.current.weights?.repository}, not the model's own: give its URL, --weights-repository <host>/<path>`,
            );
        }
        ref = `${repositoryUrl.replace(/\/+$/, "")}@${w.digest}`;
    }
    const sha = w.tag ? parseReleaseTag(w.tag)?.sha : undefined;
    return { digest: w.digest, ref, ...(w.tag ? { tag: w.tag } : {}), ...(sha ? { gitSha: sha } : {}) };
}

/**
 * Why the weights artifact has no scan gate: it holds the model's files (model.onnx, card.json, evaluation.json), no
 * operating system or package manager, so a registry scan has nothing to find and ECR reports it UNSUPPORTED_IMAGE
 * ("its media type, operating system, or package manager isn't supported",
 * https://docs.aws.amazon.com/AmazonECRPublic/latest/APIReference/API_ImageScanStatus.html; Inspector's
 * UNSUPPORTED_OS, https://docs.aws.amazon.com/inspector/v2/APIReference/API_ScanStatus.html). Gating on it would
 * refuse every weights artifact for a scan that cannot exist; its signature by the stack's key, its card and the
 * digest pin are what promote checks (docs/design/weights.md).
 */
export const WEIGHTS_SCAN_NOTE =
    "not scanned: a weights artifact holds model files, no OS packages (ECR reports such content UNSUPPORTED_IMAGE); its signature and card are checked instead";

type PathPart = string | number;

const NAME_PART = "[A-Za-z_][A-Za-z0-9_-]*(?:\\[\\d+\\])*";
const CONFIG_PATH = new RegExp(`^${NAME_PART}(?:\\.${NAME_PART})*$`);

/** Parses the paths `planPromotion` emits (`models[2].image.digest` → ["models", 2, "image", "digest"]). */
export function parseConfigPath(p: string): PathPart[] {
    if (!CONFIG_PATH.test(p)) {
        throw new PromotionError(`unsupported config path ${JSON.stringify(p)}`);
    }
    return Array.from(p.matchAll(/([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]/g), (m) => (m[1] !== undefined ? m[1] : Number(m[2])));
}

/**
 * What `pulumi config set --path` does to the stack file, applied to a parsed `Pulumi.<stack>.yaml` document
 * (returns a modified deep copy). Used to show and check the result before touching the real file.
 */
export function applyConfigSets(doc: unknown, sets: readonly ConfigSet[], namespace = CONFIG_NAMESPACE): Record<string, any> {
    const copy = JSON.parse(JSON.stringify(doc ?? {})) as Record<string, any>;
    copy.config = copy.config ?? {};
    for (const set of sets) {
        const [head, ...rest] = parseConfigPath(set.path);
        const key = `${namespace}:${head}`;
        if (rest.length === 0) {
            if (set.value === undefined) delete copy.config[key];
            else copy.config[key] = set.value;
            continue;
        }
        let cur: any = (copy.config[key] = copy.config[key] ?? (typeof rest[0] === "number" ? [] : {}));
        for (let i = 0; i < rest.length - 1; i++) {
            const part = rest[i];
            if (cur[part] === undefined || cur[part] === null) {
                cur[part] = typeof rest[i + 1] === "number" ? [] : {};
            }
            cur = cur[part];
        }
        if (set.value === undefined) delete cur[rest[rest.length - 1]];
        else cur[rest[rest.length - 1]] = set.value;
    }
    return copy;
}

// ---------------------------------------------------------------------------------------------------------------
// The signature check before promoting

export interface SignatureCheckInput {
    model: string;
    version: string;
    /** `<repository>@sha256:…` being promoted. */
    ref: string;
    /** The git sha the signature's annotation must carry, when known (source stack output, or a release tag). */
    gitSha?: string;
    /** The source stack's `signing.publicKeyPem`. */
    publicKeyPem?: string;
    /** The key reference recorded with the digest (source `signing.keyRef` or `--signing-key`). */
    signingKey?: string;
    /** Whether the target stack declares its admission policy (`supplyChain.admission.enabled`, default true). */
    admissionEnabled: boolean;
    /** `stack dev` or `--digest`: who should have signed. */
    origin: string;
}

export type SignatureCheck =
    | { kind: "verify"; image: { model: string; version: string; ref: string; gitSha?: string }; key: { pem: string } | { ref: string } }
    | { kind: "skip"; why: string }
    | { kind: "refuse"; why: string };

/**
 * What promote checks before it pins a digest: a signature by the key the target's admission will trust (the source
 * stack's public key, else its key reference, which cosign resolves: a KMS URI). Without a key to check with, it
 * refuses (the target's admission would refuse the pods only after the approval), unless the target declares no
 * admission policy.
 */
export function signatureCheck(input: SignatureCheckInput): SignatureCheck {
    const image = { model: input.model, version: input.version, ref: input.ref, ...(input.gitSha ? { gitSha: input.gitSha } : {}) };
    if (input.publicKeyPem) return { kind: "verify", image, key: { pem: input.publicKeyPem } };
    if (input.signingKey) return { kind: "verify", image, key: { ref: input.signingKey } };
    if (!input.admissionEnabled)
        return { kind: "skip", why: "no signing key is known and the target declares no admission policy: the signature is not checked" };
    return {
        kind: "refuse",
        why:
            `cannot check that ${input.ref} is signed: no signing key is known (${input.origin} exports no \`signing\` output; give --signing-key <ref>, ` +
            `e.g. awskms:///<key arn>). The target's admission policy would refuse an unsigned digest only after approval`,
    };
}
