/**
 * The versions of a model the registry still holds (pure): `npm run versions` and `npm run rollback` list them.
 *
 * From one repository's listing (./registryImages.ts): tags grouped per digest, cosign's `sha256-<hex>.sig`/`.att`
 * tags and the build cache left out (an image left with no tag is not a version), the version read from the release
 * tag (`v<semver>-<sha>`, domain/image/tag.ts) and from the card attested on the digest (./cardAttestation.ts), plus
 * which stacks run it (their `images` output and the digest pinned in their stack file), whether its signature and
 * card verify, and what retention does to it (./retentionVerdict.ts). Newest first: by push time, then version.
 */
import * as semver from "semver";
import { BUILD_CACHE_TAG, deployedReleaseTags, parseReleaseTag } from "../domain/image/tag";
import { withWeightsTags } from "../domain/image/weights";
import type { ModelCard } from "../domain/card/modelCard";
import { CardCheck } from "./cardAttestation";
import { isCosignTag, ListedImage, PushTimeSource, RegistryError, RepositoryLocation } from "./registryImages";
import { RetentionVerdict } from "./retentionVerdict";

/** Schema id of `npm run versions -- --json` (docs/model-card.md#versions-and-rollback). */
export const VERSIONS_SCHEMA = "model-fleet/versions-v1";

/** Whether a tag names a version: not cosign's signature/attestation tag, not the build cache. */
export function isVersionTag(tag: string): boolean {
    return !isCosignTag(tag) && tag !== BUILD_CACHE_TAG && !tag.startsWith(`${BUILD_CACHE_TAG}-`);
}

/** Where a stack runs a digest: its `images` stack output (what is deployed) and/or its stack file (what is pinned). */
export interface RunningIn {
    readonly stack: string;
    readonly via: "output" | "config" | "output+config";
    /** `weights`: the stack mounts this digest as the model's weights artifact (docs/design/weights.md), not as its image. */
    readonly artifact?: "weights";
}

/** One stack's view of a model: the digest its output says it runs, and the one its stack file pins. */
export interface StackModelState {
    readonly stack: string;
    readonly outputDigest?: string;
    readonly configDigest?: string;
    /** The weights artifact the stack mounts for the model: its `images` output's and its stack file's. */
    readonly outputWeightsDigest?: string;
    readonly configWeightsDigest?: string;
}

export type SignatureStatus = { readonly status: "verified" } | { readonly status: "unverified" | "unchecked"; readonly detail: string };

export type CardStatus = CardCheck | { readonly status: "unchecked"; readonly detail: string };

/** The card fields the listing shows. */
export interface CardSummary {
    readonly version: string;
    readonly dataset: { readonly name: string; readonly version: string };
    readonly accuracy: number;
    readonly trainedAt: string;
    readonly parent: string | null;
}

export interface VersionEntry {
    readonly digest: string;
    /** Version tags of the digest, sorted (release tags and any other, e.g. `rollback-…`). */
    readonly tags: string[];
    /** `v<semver>-<sha>` tags among them. */
    readonly releaseTags: string[];
    /** The release tag's version, else the verified card's; undefined when neither says. */
    readonly version?: string;
    /** Where the version comes from. `tag≠card`: both say, and they differ (the tag's is shown). */
    readonly versionFrom: "tag" | "card" | "tag+card" | "tag≠card" | "none";
    readonly pushedAt?: string;
    readonly pushedAtSource?: PushTimeSource;
    readonly signature: SignatureStatus;
    readonly card:
        { readonly status: "verified"; readonly card: CardSummary } | { readonly status: "unverified" | "invalid" | "unchecked"; readonly detail: string };
    readonly runningIn: RunningIn[];
    readonly retention: RetentionVerdict;
}

export interface VersionFacts {
    readonly signatures?: ReadonlyMap<string, SignatureStatus>;
    readonly cards?: ReadonlyMap<string, CardStatus>;
    readonly stacks?: readonly StackModelState[];
    readonly retention?: ReadonlyMap<string, RetentionVerdict>;
}

/** The images that are versions: each digest once, its version tags sorted; images with no version tag left out. */
export function versionImages(images: readonly ListedImage[]): ListedImage[] {
    const byDigest = new Map<string, ListedImage>();
    for (const image of images) {
        const tags = image.tags.filter(isVersionTag);
        if (tags.length === 0) continue;
        const seen = byDigest.get(image.digest);
        byDigest.set(image.digest, seen ? { ...seen, tags: [...new Set([...seen.tags, ...tags])] } : { ...image, tags });
    }
    return [...byDigest.values()].map((i) => ({ ...i, tags: [...i.tags].sort() }));
}

/** The release tags' version (the highest, if several tags of one digest name different versions). */
export function tagVersion(tags: readonly string[]): string | undefined {
    const versions = tags.map((t) => parseReleaseTag(t)?.version).filter((v): v is string => v !== undefined);
    return versions.sort(semver.rcompare)[0];
}

export function cardSummary(card: ModelCard): CardSummary {
    return {
        version: card.version,
        dataset: { name: card.dataset.name, version: card.dataset.version },
        accuracy: card.metrics.accuracy,
        trainedAt: card.training.finishedAt,
        parent: card.parent,
    };
}

/** Newest first: by push time (missing last), then by version (highest first), then by digest. */
export function newestFirst(a: { pushedAt?: string; version?: string; digest: string }, b: { pushedAt?: string; version?: string; digest: string }): number {
    const ta = a.pushedAt ? Date.parse(a.pushedAt) : -Infinity;
    const tb = b.pushedAt ? Date.parse(b.pushedAt) : -Infinity;
    if (ta !== tb) return tb > ta ? 1 : -1;
    if (a.version && b.version && a.version !== b.version) return semver.rcompare(a.version, b.version);
    if (a.version !== b.version) return a.version ? -1 : 1;
    return a.digest.localeCompare(b.digest);
}

/** Every version of a repository's listing, with what is known of each, newest first. */
export function versionEntries(images: readonly ListedImage[], facts: VersionFacts = {}): VersionEntry[] {
    return versionImages(images)
        .map((image): VersionEntry => {
            const releaseTags = image.tags.filter((t) => parseReleaseTag(t) !== undefined);
            const fromTag = tagVersion(releaseTags);
            const cardCheck = facts.cards?.get(image.digest) ?? { status: "unchecked" as const, detail: "not checked" };
            const card: VersionEntry["card"] = cardCheck.status === "verified" ? { status: "verified", card: cardSummary(cardCheck.card) } : cardCheck;
            const fromCard = card.status === "verified" ? card.card.version : undefined;
            const versionFrom: VersionEntry["versionFrom"] =
                fromTag && fromCard ? (fromTag === fromCard ? "tag+card" : "tag≠card") : fromTag ? "tag" : fromCard ? "card" : "none";
            const runningIn = (facts.stacks ?? []).flatMap((s): RunningIn[] => {
                const out = s.outputDigest === image.digest;
                const cfg = s.configDigest === image.digest;
                const wOut = s.outputWeightsDigest === image.digest;
                const wCfg = s.configWeightsDigest === image.digest;
                return [
                    ...(out || cfg ? [{ stack: s.stack, via: out && cfg ? ("output+config" as const) : out ? ("output" as const) : ("config" as const) }] : []),
                    ...(wOut || wCfg
                        ? [
                              {
                                  stack: s.stack,
                                  via: wOut && wCfg ? ("output+config" as const) : wOut ? ("output" as const) : ("config" as const),
                                  artifact: "weights" as const,
                              },
                          ]
                        : []),
                ];
            });
            const version = fromTag ?? fromCard;
            return {
                digest: image.digest,
                tags: image.tags,
                releaseTags,
                ...(version ? { version } : {}),
                versionFrom,
                ...(image.pushedAt ? { pushedAt: image.pushedAt } : {}),
                ...(image.pushedAtSource ? { pushedAtSource: image.pushedAtSource } : {}),
                signature: facts.signatures?.get(image.digest) ?? { status: "unchecked", detail: "not checked" },
                card,
                runningIn,
                retention: facts.retention?.get(image.digest) ?? { status: "unknown", why: "not evaluated" },
            };
        })
        .sort(newestFirst);
}

export interface VersionsReport {
    readonly model: string;
    /** `host/path` of the repository listed. */
    readonly repository: string;
    /** The stack whose registry, key and retention were used. */
    readonly registryStack?: string;
    /** The stacks whose running digests were read. */
    readonly stacks: readonly string[];
    /** The time retention was evaluated at (ISO 8601). */
    readonly evaluatedAt: string;
    readonly entries: readonly VersionEntry[];
    readonly notes: readonly string[];
}

/**
 * The stable machine-readable form of `npm run versions -- --json`: fixed key order, absent facts as `null`
 * (documented in docs/model-card.md#versions-and-rollback).
 */
export function versionsJson(report: VersionsReport): object {
    return {
        schema: VERSIONS_SCHEMA,
        model: report.model,
        repository: report.repository,
        registryStack: report.registryStack ?? null,
        stacks: [...report.stacks],
        evaluatedAt: report.evaluatedAt,
        versions: report.entries.map((e) => ({
            version: e.version ?? null,
            versionFrom: e.versionFrom,
            digest: e.digest,
            ref: `${report.repository}@${e.digest}`,
            tags: e.tags,
            releaseTags: e.releaseTags,
            pushedAt: e.pushedAt ?? null,
            pushedAtSource: e.pushedAtSource ?? null,
            signature: { status: e.signature.status, detail: e.signature.status === "verified" ? null : e.signature.detail },
            card:
                e.card.status === "verified"
                    ? {
                          status: "verified",
                          detail: null,
                          version: e.card.card.version,
                          dataset: { name: e.card.card.dataset.name, version: e.card.card.dataset.version },
                          accuracy: e.card.card.accuracy,
                          trainedAt: e.card.card.trainedAt,
                          parent: e.card.card.parent,
                      }
                    : { status: e.card.status, detail: e.card.detail, version: null, dataset: null, accuracy: null, trainedAt: null, parent: null },
            runningIn: e.runningIn.map((r) => ({ stack: r.stack, via: r.via, artifact: r.artifact ?? "image" })),
            retention: { status: e.retention.status, why: e.retention.why },
        })),
        notes: [...report.notes],
    };
}

function shortDigest(d: string): string {
    return d.replace(/^sha256:/, "").slice(0, 12);
}

/** The table `npm run versions` prints: one row per version. */
export function versionRows(entries: readonly VersionEntry[]): string[][] {
    const head = ["version", "tags", "digest", "pushed", "data set", "accuracy", "trained", "parent", "signature", "card", "running in", "retention"];
    const rows = entries.map((e) => {
        const c = e.card.status === "verified" ? e.card.card : undefined;
        return [
            `${e.version ?? "?"}${e.versionFrom === "tag≠card" ? ` (card: ${c?.version})` : ""}`,
            e.tags.join(","),
            shortDigest(e.digest),
            e.pushedAt ? e.pushedAt.slice(0, 16).replace("T", " ") : "-",
            c ? `${c.dataset.name} ${c.dataset.version}` : "-",
            c ? c.accuracy.toFixed(4) : "-",
            c ? c.trainedAt.slice(0, 10) : "-",
            c ? (c.parent ?? "none") : "-",
            e.signature.status,
            e.card.status,
            e.runningIn
                .map((r) => {
                    const how = [...(r.via === "output+config" ? [] : [r.via]), ...(r.artifact ? ["weights"] : [])];
                    return how.length ? `${r.stack} (${how.join(", ")})` : r.stack;
                })
                .join(", ") || "-",
            `${e.retention.status}: ${e.retention.why}`,
        ];
    });
    return [head, ...rows];
}

// ---------------------------------------------------------------------------------------------------------------
// A stack's registry, as its stack file declares it

/** What the program declares about a model's repository in one stack (read from `Pulumi.<stack>.yaml`). */
export interface StackRegistry {
    readonly stack: string;
    readonly type: "ecr" | "harbor" | "external";
    readonly location: RepositoryLocation;
    /** `registry.retention` as written (validated by the command with the config schema); absent for external. */
    readonly retention?: unknown;
    /**
     * Per model of the stack, the release tags retention protects by name: a promoted digest's `image.tag` and
     * `image.previousTag` (domain/image/tag.ts `deployedReleaseTags`); a built model's tag is only known from the
     * stack's `images` output (`builtTags`), since it names the commit of the last `pulumi up`.
     */
    readonly deployedTags: Record<string, string[]>;
    /** Models the stack builds (their deployed tag comes from the stack output). */
    readonly builds: string[];
}

function isRecord(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The repository of `model` in a stack and what its retention protects by name. `config` is the stack's
 * `model-fleet:*` config (support/stackFile.ts `readFleetConfig`), `region` its `aws:region`; `builtTags` the release
 * tags of the models it builds, from its `images` output when known.
 */
export function stackRegistry(
    stack: string,
    config: Record<string, any>,
    region: string | undefined,
    model: string,
    builtTags: Record<string, string> = {},
): StackRegistry {
    const registry = isRecord(config.registry) ? config.registry : {};
    const type = registry.type ?? "ecr";
    const prefix = typeof registry.repositoryPrefix === "string" ? registry.repositoryPrefix : "model-fleet";
    const models: any[] = Array.isArray(config.models) ? config.models : [];
    let deployedTags: Record<string, string[]> = {};
    const builds: string[] = [];
    for (const m of models) {
        if (!isRecord(m) || typeof m.name !== "string" || !isRecord(m.image)) continue;
        if (m.image.build !== undefined) {
            builds.push(m.name);
            deployedTags[m.name] = builtTags[m.name] ? [builtTags[m.name]] : [];
        } else if (typeof m.image.digest === "string") {
            deployedTags[m.name] = deployedReleaseTags({ digest: m.image.digest, tag: m.image.tag, previousTag: m.image.previousTag }, "");
        }
    }
    // The weights artifacts' release tags too, as the program keeps them (docs/design/weights.md).
    deployedTags = withWeightsTags(
        deployedTags,
        models.filter((m) => isRecord(m) && typeof m.name === "string").map((m) => ({ name: m.name, weights: isRecord(m.weights) ? m.weights : undefined })),
    );
    let location: RepositoryLocation;
    if (type === "ecr") {
        if (typeof region !== "string") throw new RegistryError(`Pulumi.${stack}.yaml: registry.type ecr needs aws:region (the registry's region)`);
        location = { kind: "ecr", region, repositoryName: `${prefix}/${model}` };
    } else if (type === "harbor") {
        const h = registry.harbor;
        if (!isRecord(h) || typeof h.url !== "string" || typeof h.project !== "string") {
            throw new RegistryError(`Pulumi.${stack}.yaml: registry.harbor.url and registry.harbor.project are required with registry.type harbor`);
        }
        location = { kind: "harbor", url: h.url, project: h.project, repository: `${prefix}/${model}`, username: String(h.username ?? "admin") };
    } else if (type === "external") {
        if (typeof registry.externalPrefix !== "string")
            throw new RegistryError(`Pulumi.${stack}.yaml: registry.externalPrefix is required with registry.type external`);
        location = { kind: "oci", repository: `${registry.externalPrefix}/${model}` };
    } else {
        throw new RegistryError(`Pulumi.${stack}.yaml: registry.type ${JSON.stringify(type)} is not ecr, harbor or external`);
    }
    return { stack, type, location, ...(type !== "external" ? { retention: registry.retention } : {}), deployedTags, builds };
}

/** What a stack file pins for a model's weights artifact (`weights`), when it mounts one. */
export interface PinnedWeights {
    digest?: string;
    tag?: string;
    previousTag?: string;
    /** `weights.repository` as written; absent: the model's own. */
    repository?: string;
}

/** What a stack file pins for a model: its version, digest, tags, recorded signing key and weights, or that it builds it. */
export function pinnedImage(
    config: Record<string, any>,
    model: string,
): {
    declared: boolean;
    builds: boolean;
    version?: string;
    digest?: string;
    tag?: string;
    previousTag?: string;
    signingKey?: string;
    weights?: PinnedWeights;
} {
    const m = (Array.isArray(config.models) ? config.models : []).find((x: any) => isRecord(x) && x.name === model);
    if (!isRecord(m)) return { declared: false, builds: false };
    const image = isRecord(m.image) ? m.image : {};
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    return {
        declared: true,
        builds: image.build !== undefined,
        ...(m.version !== undefined ? { version: String(m.version) } : {}),
        ...(str(image.digest) ? { digest: str(image.digest) } : {}),
        ...(str(image.tag) ? { tag: str(image.tag) } : {}),
        ...(str(image.previousTag) ? { previousTag: str(image.previousTag) } : {}),
        ...(str(image.signingKey) ? { signingKey: str(image.signingKey) } : {}),
        ...(isRecord(m.weights)
            ? {
                  weights: Object.fromEntries(
                      (["digest", "tag", "previousTag", "repository"] as const).flatMap((k) => (str(m.weights[k]) ? [[k, str(m.weights[k])]] : [])),
                  ) as PinnedWeights,
              }
            : {}),
    };
}
