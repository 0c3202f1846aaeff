/**
 * What a model's image is (pure): either a build from source, tagged `v<semver>-<sha>`, or a promoted digest.
 * `ModelImage` only wires this plan to a `docker-build` `Image`.
 */
import * as path from "path";
import { cardLabels } from "../../domain/card/modelCard";
import { trainingSpecPath } from "../../domain/image/build";
import { assertDigest, assertModelVersion, BUILD_CACHE_TAG, buildTag, deployedReleaseTags, parseReleaseTag, shortSha } from "../../domain/image/tag";

/** Same shape as the config's `ImageSource`: build from a context, or deploy an existing digest (promotion). */
export type ModelImageSource = { build: { context: string; dockerfile?: string } } | { digest: string; tag?: string };

export interface ImagePlanInput {
    modelName: string;
    version: string;
    gitSha?: string;
    source: ModelImageSource;
    requireCleanTree: boolean;
    treeDirty: boolean;
    /** Changed paths from `git status --porcelain`, quoted in the refusal (optional). */
    dirtyPaths?: readonly string[];
    /** Names the uncommitted changes of a permitted dirty build; its tag carries `-dirty.<fingerprint>`. */
    dirtyFingerprint?: string;
    /** The model asks for a GPU (`gpu:`): build the image's GPU variant. Default false (the CPU variant). */
    gpu?: boolean;
    /** The model card fields the config gives before the build (`models[].card`); default none (docs/model-card.md). */
    card?: ModelImageCard;
}

/** What the stack config says of a built image's model card (`models[].card`): labelled, and the spec trained. */
export interface ModelImageCard {
    /** Training spec id `<model>/<semver>`: the `TRAINING_SPEC` build arg (`training/versions/<id>.json`) and a label. */
    readonly trainingSpec?: string;
    /** The version this one was trained from or replaces; null: none. */
    readonly parent?: string | null;
}

/**
 * OCI annotation keys set on every built image. Nothing time-varying (no `created`): an unchanged model does not
 * rebuild. Beside them, the model card's labels (`io.model-fleet.card.*`, domain/card/modelCard.ts `cardLabels`).
 */
export const OCI_LABELS = {
    version: "org.opencontainers.image.version",
    revision: "org.opencontainers.image.revision",
    source: "org.opencontainers.image.source",
    title: "org.opencontainers.image.title",
} as const;

export { BUILD_PLATFORMS } from "../../domain/image/build";

/**
 * Image variants of images/model-server (its Dockerfile's `VARIANT` build arg): `cpu` installs requirements.txt
 * (the `onnxruntime` CPU wheel), `gpu` installs requirements-gpu.txt (`onnxruntime-gpu` with NVIDIA's CUDA 12 and
 * cuDNN 9 wheels). The Dockerfile's default is `cpu`, so a CPU model's build args stay as they were.
 */
export type ImageVariant = "cpu" | "gpu";

/** The variant a model needs: GPU for a model with `gpu:`, else CPU. */
export function imageVariant(gpu: boolean | undefined): ImageVariant {
    return gpu ? "gpu" : "cpu";
}

export interface BuildPlan {
    kind: "build";
    version: string;
    /** 7-char short sha. */
    gitSha: string;
    /** `v<semver>-<sha>`. */
    tag: string;
    cacheTag: string;
    /** Context directory as configured (relative to the Pulumi project; never made absolute so inputs are machine-independent). */
    contextLocation: string;
    /** Dockerfile path: `dockerfile` resolved against the context, default `<context>/Dockerfile`. */
    dockerfileLocation: string;
    /** `VARIANT: "gpu"` only for the GPU variant (the Dockerfile defaults to `cpu`); `TRAINING_SPEC` only with `card.trainingSpec`. */
    buildArgs: { MODEL_VERSION: string; GIT_SHA: string; VARIANT?: "gpu"; TRAINING_SPEC?: string };
    /** OCI labels except `source` (an Input, added by the component). */
    labels: Record<string, string>;
}

export interface PromotedPlan {
    kind: "promoted";
    version: string;
    digest: string;
    /** The release tag the digest was pushed with, when the config records it (promotion does). */
    tag?: string;
}

export type ImagePlan = BuildPlan | PromotedPlan;

export class ImagePlanError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ImagePlanError";
    }
}

export function isBuildSource(source: ModelImageSource): source is { build: { context: string; dockerfile?: string } } {
    return typeof source === "object" && source !== null && "build" in source && source.build !== undefined;
}

const MAX_LISTED_PATHS = 5;
const FULL_SHA = /^[0-9a-f]{40}$/;

export function dirtyTreeMessage(modelName: string, dirtyPaths: readonly string[] = []): string {
    const listed = dirtyPaths.slice(0, MAX_LISTED_PATHS).join(", ");
    const more = dirtyPaths.length > MAX_LISTED_PATHS ? ` and ${dirtyPaths.length - MAX_LISTED_PATHS} more` : "";
    return (
        `model "${modelName}": refusing to build from a dirty git work tree (build.requireCleanTree is set for this stack)` +
        (dirtyPaths.length > 0 ? `; changed: ${listed}${more}. ` : ". ") +
        `Commit or stash your changes so the image's tag and revision label name the exact source it was built from, ` +
        `or promote an existing digest instead of building.`
    );
}

/** Validates the inputs and decides build vs promoted digest. Throws `ImagePlanError` with a user-facing message. */
export function planModelImage(input: ImagePlanInput): ImagePlan {
    const name = input.modelName;
    let version: string;
    try {
        version = assertModelVersion(input.version);
    } catch (e) {
        throw new ImagePlanError(`model "${name}": ${(e as Error).message}`);
    }
    const source = input.source;
    const hasBuild = isBuildSource(source);
    const hasDigest = typeof source === "object" && source !== null && "digest" in source && source.digest !== undefined;
    if (hasBuild === hasDigest) {
        throw new ImagePlanError(`model "${name}": image source must have exactly one of "build" or "digest"`);
    }
    if (!hasBuild) {
        const { digest, tag } = source as { digest: string; tag?: string };
        if (tag !== undefined && parseReleaseTag(tag)?.version !== version) {
            throw new ImagePlanError(`model "${name}": tag ${JSON.stringify(tag)} is not a release tag of version ${version}`);
        }
        try {
            return { kind: "promoted", version, digest: assertDigest(digest), ...(tag !== undefined ? { tag } : {}) };
        } catch (e) {
            throw new ImagePlanError(`model "${name}": ${(e as Error).message}`);
        }
    }
    if (input.requireCleanTree && input.treeDirty) {
        throw new ImagePlanError(dirtyTreeMessage(name, input.dirtyPaths ?? []));
    }
    if (input.treeDirty && input.dirtyFingerprint === undefined) {
        throw new ImagePlanError(`model "${name}": a build from a dirty work tree needs a fingerprint of the changes for its tag`);
    }
    if (input.gitSha === undefined || input.gitSha.trim() === "") {
        throw new ImagePlanError(`model "${name}": cannot tag a build without a git sha: set GIT_SHA or GITHUB_SHA, or run from a git checkout`);
    }
    let sha: string;
    let tag: string;
    try {
        sha = shortSha(input.gitSha);
        tag = buildTag(version, sha, input.treeDirty ? input.dirtyFingerprint : undefined);
    } catch (e) {
        throw new ImagePlanError(`model "${name}": ${(e as Error).message}`);
    }
    const { context, dockerfile } = source.build;
    if (typeof context !== "string" || context.trim() === "") {
        throw new ImagePlanError(`model "${name}": build.context must be a directory path`);
    }
    const variant = imageVariant(input.gpu);
    const card = input.card ?? {};
    const dockerfileLocation =
        dockerfile === undefined ? path.posix.join(context, "Dockerfile") : path.isAbsolute(dockerfile) ? dockerfile : path.posix.join(context, dockerfile);
    return {
        kind: "build",
        version,
        gitSha: sha,
        tag,
        cacheTag: BUILD_CACHE_TAG,
        contextLocation: context,
        dockerfileLocation,
        buildArgs: {
            MODEL_VERSION: version,
            GIT_SHA: sha,
            ...(variant === "gpu" ? { VARIANT: variant } : {}),
            ...(card.trainingSpec !== undefined ? { TRAINING_SPEC: trainingSpecPath(card.trainingSpec) } : {}),
        },
        labels: {
            [OCI_LABELS.version]: version,
            [OCI_LABELS.revision]: sha,
            [OCI_LABELS.title]: name,
            // The card's fields known before the build: never its digest, nor results a build has not produced yet.
            ...cardLabels({
                model: name,
                version,
                ...(FULL_SHA.test(input.gitSha) ? { gitSha: input.gitSha } : {}),
                ...(card.trainingSpec !== undefined ? { training: { spec: card.trainingSpec } } : {}),
                ...(card.parent !== undefined ? { parent: card.parent } : {}),
            }),
        },
    };
}

/**
 * The release tags retention must keep for the image `input` plans: the tag its build pushes, or a promoted digest's
 * recorded tag and `previousTag` (the rollback target). Empty when the input is invalid: ModelImage reports that.
 */
export function keptReleaseTags(input: ImagePlanInput, previousTag?: string): string[] {
    let plan: ImagePlan;
    try {
        plan = planModelImage(input);
    } catch (e) {
        if (e instanceof ImagePlanError) return [];
        throw e;
    }
    return plan.kind === "build"
        ? deployedReleaseTags({ build: true }, plan.tag)
        : deployedReleaseTags({ digest: plan.digest, tag: plan.tag, previousTag }, "");
}
