/**
 * Image tag and reference formats (pure).
 *
 * Release tag: `v<semver>-<7-char git sha>` (e.g. `v2.1.4-a1b2c3d`). Never `latest`, never a tag without a
 * version. Workloads never use tags: they use the digest form `<repository>@sha256:<64 hex>`.
 */
import * as semver from "semver";

/** Length of the short git sha used in tags, labels and build args. */
export const SHORT_SHA_LENGTH = 7;

/** Tag of the BuildKit registry cache manifest, in the model's own repository (mutable: rewritten by every build). */
export const BUILD_CACHE_TAG = "buildcache";

/**
 * The ECR tag-immutability exclusion the registry must declare (`imageTagMutability: "IMMUTABLE_WITH_EXCLUSION"`)
 * so the cache tag can be overwritten while release tags stay immutable. Matches `buildcache` and `buildcache-*`.
 */
export const BUILD_CACHE_EXCLUSION_FILTER = { filterType: "WILDCARD", filter: `${BUILD_CACHE_TAG}*` } as const;

/**
 * cosign's legacy format keeps a digest's signatures under the tag `sha256-<hex>.sig` and its attestations under
 * `sha256-<hex>.att`, and rewrites that tag for every further signature or attestation (sigstore/cosign#3024): the
 * SBOM attestation rewrites the `.att` the provenance wrote. An immutable ECR repository refuses such a rewrite
 * (ImageTagAlreadyExistsException), so these two tags are excluded from immutability. Nothing else matches them:
 * release tags start with `v`, protect tags with `prod-`/`rollback-`.
 */
export const COSIGN_EXCLUSION_FILTERS = [
    { filterType: "WILDCARD", filter: "sha256-*.sig" },
    { filterType: "WILDCARD", filter: "sha256-*.att" },
] as const;

/** Every ECR tag-immutability exclusion of a model repository: the build cache tag and cosign's two tags. */
export const ECR_TAG_MUTABILITY_EXCLUSION_FILTERS = [BUILD_CACHE_EXCLUSION_FILTER, ...COSIGN_EXCLUSION_FILTERS] as const;

/**
 * ECR's limits on `imageTagMutabilityExclusionFilters` (API reference, PutImageTagMutability and
 * ImageTagMutabilityExclusionFilter): 1 to 5 filters, each `filterType: WILDCARD` and a `filter` matching
 * `^[0-9a-zA-Z._*-]{1,128}$`. https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImageTagMutability.html
 */
export const ECR_EXCLUSION_FILTER_LIMITS = { maxFilters: 5, pattern: /^[0-9a-zA-Z._*-]{1,128}$/ } as const;

/**
 * Whether an ECR WILDCARD filter matches a tag: `*` stands for zero or more characters, and the filter must match
 * the whole tag (ECR's wildcard rule, as in its scan and lifecycle filters:
 * https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html).
 */
export function ecrWildcardMatches(filter: string, tag: string): boolean {
    const escaped = filter.split("*").map((part) => part.replace(/[.+?^$|()[\]{}\\]/g, "\\$&"));
    return new RegExp(`^${escaped.join(".*")}$`).test(tag);
}

/** Whether an `IMMUTABLE_WITH_EXCLUSION` repository lets `tag` be overwritten: it matches one of the filters. */
export function ecrTagIsMutable(tag: string, filters: ReadonlyArray<{ readonly filterType: string; readonly filter: string }>): boolean {
    return filters.some((f) => f.filterType === "WILDCARD" && ecrWildcardMatches(f.filter, tag));
}

/** A docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (distribution/reference). */
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HEX_SHA = /^[0-9a-fA-F]{7,40}$/;
/** distribution/reference name grammar: optional `domain[:port]/`, then lowercase path components. */
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?)`;
const PATH_COMPONENT = "(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)";
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REPOSITORY = new RegExp(`^${NAME}$`);
const DIGEST_REF = new RegExp(`^(${NAME})@(sha256:[0-9a-f]{64})$`);
/** Every release tag starts with this (`v<semver>-<sha>`). */
export const RELEASE_TAG_PREFIX = "v";
/** The release tags as a registry glob (ECR tagPatternList, Harbor doublestar). */
export const RELEASE_TAG_PATTERN = `${RELEASE_TAG_PREFIX}*`;
const RELEASE_TAG = new RegExp(`^${RELEASE_TAG_PREFIX}(.+)-([0-9a-f]{7})$`);

export class ImageRefError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ImageRefError";
    }
}

/**
 * Normalises a git sha to the 7-char lowercase short form. Accepts 7–40 hex chars (short or full sha).
 * Throws on anything else (empty, non-hex, `latest`…).
 */
export function shortSha(sha: string): string {
    const s = (sha ?? "").trim();
    if (!HEX_SHA.test(s)) {
        throw new ImageRefError(`invalid git sha ${JSON.stringify(sha)}: expected 7 to 40 hex characters`);
    }
    return s.slice(0, SHORT_SHA_LENGTH).toLowerCase();
}

/** Throws unless `version` is a plain semver (`2.1.4`, `2.1.4-rc.1`): no leading `v`, no build metadata. */
export function assertModelVersion(version: string): string {
    const v = typeof version === "string" ? version : "";
    if (v === "" || v.toLowerCase() === "latest") {
        throw new ImageRefError(`invalid model version ${JSON.stringify(version)}: a release needs a semver version, never "latest"`);
    }
    // semver.valid() tolerates a leading "v", whitespace and drops "+build" metadata; require the canonical form.
    if (semver.valid(v) !== v) {
        throw new ImageRefError(`invalid model version ${JSON.stringify(version)}: expected semver like 2.1.4 (no leading "v", no "+build" metadata)`);
    }
    return v;
}

/**
 * The tag a build pushes: the release tag, or for a build from uncommitted changes (allowed only where
 * `build.requireCleanTree` is off) `v<semver>-<sha>-dirty.<8 hex>`, the hex naming the changes. An immutable
 * repository then never sees two different images under one tag, and a dirty image can never be promoted
 * (promotion accepts release tags only).
 */
export function buildTag(version: string, sha: string, dirtyFingerprint?: string): string {
    const tag = releaseTag(version, sha);
    if (dirtyFingerprint === undefined) return tag;
    if (!/^[0-9a-f]{8}$/.test(dirtyFingerprint)) {
        throw new ImageRefError(`dirty fingerprint ${JSON.stringify(dirtyFingerprint)} must be 8 lowercase hex characters`);
    }
    return `${tag}-dirty.${dirtyFingerprint}`;
}

/** `releaseTag("2.1.4", "a1b2c3d4…")` → `v2.1.4-a1b2c3d`. */
export function releaseTag(version: string, sha: string): string {
    const tag = `${RELEASE_TAG_PREFIX}${assertModelVersion(version)}-${shortSha(sha)}`;
    if (!DOCKER_TAG.test(tag)) {
        throw new ImageRefError(`release tag ${JSON.stringify(tag)} is not a valid docker tag (max 128 chars of [A-Za-z0-9_.-])`);
    }
    return tag;
}

export interface ParsedReleaseTag {
    version: string;
    sha: string;
}

/** Inverse of `releaseTag`; returns undefined for anything that is not a release tag (e.g. `latest`, `buildcache`). */
export function parseReleaseTag(tag: string): ParsedReleaseTag | undefined {
    if (typeof tag !== "string" || !DOCKER_TAG.test(tag)) {
        return undefined;
    }
    const m = RELEASE_TAG.exec(tag);
    if (!m || semver.valid(m[1]) !== m[1]) {
        return undefined;
    }
    return { version: m[1], sha: m[2] };
}

/**
 * The exact release tags retention must keep for a model's image: the tag a build pushes, or for a promoted digest
 * its recorded tag and the one it replaced (the rollback target). Unique, in that order.
 */
export function deployedReleaseTags(image: { build: unknown } | { digest: string; tag?: string; previousTag?: string }, builtTag: string): string[] {
    if ("build" in image) return [builtTag];
    return [...new Set([image.tag, image.previousTag].filter((t): t is string => typeof t === "string"))];
}

export function isReleaseTag(tag: string): boolean {
    return parseReleaseTag(tag) !== undefined;
}

/** True for `sha256:<64 lowercase hex>`. */
export function isDigest(digest: string): boolean {
    return typeof digest === "string" && DIGEST.test(digest);
}

export function assertDigest(digest: string): string {
    if (!isDigest(digest)) {
        throw new ImageRefError(`invalid image digest ${JSON.stringify(digest)}: expected sha256:<64 lowercase hex>`);
    }
    return digest;
}

/** True for a bare repository (`host[:port]/path`) with neither tag nor digest. */
export function isRepository(repositoryUrl: string): boolean {
    return typeof repositoryUrl === "string" && REPOSITORY.test(repositoryUrl);
}

/** `<repository>@sha256:<64 hex>`; the repository must carry neither a tag nor a digest. */
export function digestRef(repositoryUrl: string, digest: string): string {
    if (!isRepository(repositoryUrl)) {
        throw new ImageRefError(`invalid repository ${JSON.stringify(repositoryUrl)}: expected host[:port]/path without tag or digest`);
    }
    return `${repositoryUrl}@${assertDigest(digest)}`;
}

/** `<repository>:<tag>` for a valid docker tag. */
export function tagRef(repositoryUrl: string, tag: string): string {
    if (!isRepository(repositoryUrl)) {
        throw new ImageRefError(`invalid repository ${JSON.stringify(repositoryUrl)}`);
    }
    if (!DOCKER_TAG.test(tag)) {
        throw new ImageRefError(`invalid tag ${JSON.stringify(tag)}`);
    }
    return `${repositoryUrl}:${tag}`;
}

/**
 * True only for the pinned form `<repository>@sha256:<64 hex>`. A tag (`repo:v1`), `latest`, or the mixed
 * `repo:tag@sha256:…` form are all rejected: workloads carry the digest and nothing else.
 */
export function isDigestRef(ref: string): boolean {
    return typeof ref === "string" && DIGEST_REF.test(ref);
}

/** Splits a digest ref into repository and digest; undefined when `ref` is not a digest ref. */
export function parseDigestRef(ref: string): { repository: string; digest: string } | undefined {
    const m = typeof ref === "string" ? DIGEST_REF.exec(ref) : null;
    return m ? { repository: m[1], digest: m[2] } : undefined;
}
