/**
 * Which version `npm run rollback` pins (pure). A rollback is a promotion of an older digest the registry still
 * holds (release/promotion.ts, explicit form): it never rebuilds, and it goes through promote's checks.
 *
 * - `--to <version>` or `--to <release tag>`: that version, if the registry still holds it under a release tag;
 *   several digests of one version need the tag.
 * - Default: the stack's recorded `image.previousTag` (the release the running one replaced, kept by retention as the
 *   rollback target), when the registry holds it and it is older than the running version; else the highest held
 *   version below the running one (newest push among its digests).
 * Refused: a stack that builds the model (a promotion target never builds), a version the registry no longer holds
 * (retention expired it, or it was never pushed there: the error names the versions it holds), the running digest.
 *
 * Weights (docs/design/weights.md): a model that mounts a weights artifact rolls back its weights with its image, to
 * the weights of the chosen version: the recorded `weights.previousTag` when it is a release of that version (what
 * the promotion that replaced it kept), else the one weights artifact its repository holds under a release tag of
 * that version. None, or several: refused, naming the explicit promotion that says which (`--weights-digest`).
 */
import * as semver from "semver";
import { parseReleaseTag } from "../domain/image/tag";
import type { RetentionVerdict } from "./retentionVerdict";

export class RollbackError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RollbackError";
    }
}

/** A version the registry holds (a `VersionEntry` of ./versions.ts, or the parts rollback reads). */
export interface HeldVersion {
    readonly digest: string;
    readonly releaseTags: readonly string[];
    readonly pushedAt?: string;
    readonly retention?: RetentionVerdict;
}

export interface RollbackRequest {
    readonly model: string;
    readonly stack: string;
    /** What the stack file pins for the model now; `weights`: the weights artifact it mounts, if any. */
    readonly running: {
        readonly version?: string;
        readonly digest?: string;
        readonly tag?: string;
        readonly previousTag?: string;
        readonly weights?: { readonly digest?: string; readonly tag?: string; readonly previousTag?: string; readonly repository?: string };
    };
    /** The model's image is built by the stack (`image.build`): not a promotion target. */
    readonly builds: boolean;
    readonly held: readonly HeldVersion[];
    /**
     * The weights repository's versions, when the model's weights are in a repository of their own
     * (`weights.repository`); absent: they share the image's repository, `held`.
     */
    readonly weightsHeld?: readonly HeldVersion[];
    /** `--to`: a version (`2.1.3`) or a release tag (`v2.1.3-0ddba11`). */
    readonly to?: string;
}

export interface RollbackPlan {
    readonly digest: string;
    readonly version: string;
    readonly tag: string;
    /** Why this one: `--to 2.1.3`, `the recorded previousTag`, `the highest held version below 2.2.0`. */
    readonly chosenBy: string;
    /** The weights restored with it (a model that mounts weights), and why those. */
    readonly weights?: { readonly digest: string; readonly tag: string; readonly chosenBy: string };
    readonly notes: string[];
}

interface Candidate {
    digest: string;
    version: string;
    tag: string;
    pushedAt?: string;
    retention?: RetentionVerdict;
}

function candidatesOf(held: readonly HeldVersion[]): Candidate[] {
    return held.flatMap((h) =>
        h.releaseTags.flatMap((tag) => {
            const parsed = parseReleaseTag(tag);
            return parsed ? [{ digest: h.digest, version: parsed.version, tag, pushedAt: h.pushedAt, retention: h.retention }] : [];
        }),
    );
}

/** `2.2.0 (v2.2.0-8aa5dba), 2.1.4 (v2.1.4-5e2c9a1)`: highest first. */
export function heldList(held: readonly HeldVersion[]): string {
    const c = candidatesOf(held).sort((a, b) => semver.rcompare(a.version, b.version) || a.tag.localeCompare(b.tag));
    return c.length ? c.map((x) => `${x.version} (${x.tag})`).join(", ") : "no release-tagged version";
}

function newestPush(a: Candidate, b: Candidate): number {
    return (b.pushedAt ? Date.parse(b.pushedAt) : -Infinity) - (a.pushedAt ? Date.parse(a.pushedAt) : -Infinity) || a.tag.localeCompare(b.tag);
}

export function planRollback(req: RollbackRequest): RollbackPlan {
    const { model, stack, running } = req;
    if (req.builds) {
        throw new RollbackError(
            `stack ${stack} builds ${model} from source (image.build): a rollback pins an older digest in a stack that deploys promoted digests. ` +
                `Here, set models[].version back (or revert the commit) and let the stack build it`,
        );
    }
    // In a repository the image shares with its weights, the weights the stack records are not image versions.
    const weightsOwn = running.weights !== undefined && req.weightsHeld === undefined;
    const knownWeights = new Set([running.weights?.digest, running.weights?.tag, running.weights?.previousTag].filter((x): x is string => x !== undefined));
    const candidates = candidatesOf(req.held).filter((c) => !(weightsOwn && (knownWeights.has(c.digest) || knownWeights.has(c.tag))));
    const holds = `the registry holds: ${heldList(req.held)}`;
    const notes: string[] = [];
    let chosen: Candidate;
    let chosenBy: string;

    if (req.to !== undefined) {
        const byTag = parseReleaseTag(req.to) !== undefined;
        if (!byTag && semver.valid(req.to) !== req.to) {
            throw new RollbackError(`--to ${req.to} is neither a version (2.1.3) nor a release tag (v2.1.3-<sha>)`);
        }
        const matches = candidates.filter((c) => (byTag ? c.tag === req.to : c.version === req.to));
        if (matches.length === 0) {
            throw new RollbackError(`${model} ${req.to} is not in the registry any more (retention expired it, or it was never pushed there): ${holds}`);
        }
        const digests = [...new Set(matches.map((m) => m.digest))];
        if (digests.length > 1 && weightsOwn) throw sharedRepository(model, req.to, matches);
        if (digests.length > 1) {
            throw new RollbackError(
                `${model} ${req.to} is held as ${digests.length} different images (${matches.map((m) => m.tag).join(", ")}): give the release tag, --to <tag>`,
            );
        }
        chosen = matches.sort(newestPush)[0];
        chosenBy = `--to ${req.to}`;
    } else {
        if (!running.version || semver.valid(running.version) !== running.version) {
            throw new RollbackError(`stack ${stack} pins no semver version for ${model}: cannot tell which version is the previous one; give --to <version>`);
        }
        const current = running.version;
        const older = candidates.filter((c) => semver.lt(c.version, current) && c.digest !== running.digest);
        const previous = running.previousTag ? older.find((c) => c.tag === running.previousTag) : undefined;
        if (running.previousTag && !previous) {
            const held = candidates.some((c) => c.tag === running.previousTag);
            notes.push(
                held
                    ? `the recorded previousTag ${running.previousTag} is not older than the running ${current}: not a rollback target`
                    : `the recorded previousTag ${running.previousTag} is not in the registry any more`,
            );
        }
        if (previous) {
            chosen = previous;
            chosenBy = `the release ${current} replaced (image.previousTag ${previous.tag})`;
        } else {
            if (older.length === 0) throw new RollbackError(`the registry holds no version of ${model} older than the running ${current}: ${holds}`);
            const top = older.map((c) => c.version).sort(semver.rcompare)[0];
            const same = older.filter((c) => c.version === top).sort(newestPush);
            chosen = same[0];
            chosenBy = `the highest held version below the running ${current}`;
            if (new Set(same.map((c) => c.digest)).size > 1 && weightsOwn) throw sharedRepository(model, top, same);
            if (new Set(same.map((c) => c.digest)).size > 1) {
                notes.push(
                    `${top} is held as several images (${same.map((c) => c.tag).join(", ")}): took the newest push, ${chosen.tag}; --to <tag> picks another`,
                );
            }
        }
    }

    if (chosen.digest === running.digest) {
        throw new RollbackError(`stack ${stack} already runs ${model} ${chosen.version} (${chosen.digest}): nothing to roll back to; ${holds}`);
    }
    if (chosen.retention?.status === "expires") {
        notes.push(
            `retention would expire ${chosen.tag} at its next run (${chosen.retention.why}); once \`pulumi up\` applies the rollback its tag is protected as the deployed release`,
        );
    }
    const weights = running.weights ? rollbackWeights(req, chosen) : undefined;
    return { digest: chosen.digest, version: chosen.version, tag: chosen.tag, chosenBy, ...(weights ? { weights } : {}), notes };
}

function sharedRepository(model: string, version: string, matches: readonly Candidate[]): RollbackError {
    return new RollbackError(
        `${model} ${version} is held as ${new Set(matches.map((m) => m.digest)).size} digests (${matches.map((m) => m.tag).join(", ")}) in a repository that also holds its weights artifacts: ` +
            `which is the server image is not known from the tags. Roll back explicitly: npm run promote -- --model ${model} --to <stack> --digest <image> --version ${version} --weights-digest <weights>`,
    );
}

/** The weights that ran with `chosen` (see the module comment), or the error that says how to name them. */
function rollbackWeights(req: RollbackRequest, chosen: Candidate): { digest: string; tag: string; chosenBy: string } {
    const w = req.running.weights!;
    const pool = candidatesOf(req.weightsHeld ?? req.held).filter((c) => c.digest !== chosen.digest);
    const explicit = `npm run promote -- --model ${req.model} --to ${req.stack} --digest ${chosen.digest} --version ${chosen.version} --tag ${chosen.tag} --weights-digest <sha256:…|none>`;
    if (w.previousTag && parseReleaseTag(w.previousTag)?.version === chosen.version) {
        const recorded = pool.find((c) => c.tag === w.previousTag);
        if (!recorded) {
            throw new RollbackError(
                `the weights that ran with ${req.model} ${chosen.version} (the recorded weights.previousTag ${w.previousTag}) are not in the registry any more; roll back explicitly: ${explicit}`,
            );
        }
        return { digest: recorded.digest, tag: recorded.tag, chosenBy: `the recorded weights.previousTag ${recorded.tag}` };
    }
    const ofVersion = pool.filter((c) => c.version === chosen.version);
    const digests = [...new Set(ofVersion.map((c) => c.digest))];
    if (digests.length === 1) {
        const pick = ofVersion.sort(newestPush)[0];
        return { digest: pick.digest, tag: pick.tag, chosenBy: `the weights artifact tagged for ${chosen.version} (${pick.tag})` };
    }
    throw new RollbackError(
        digests.length === 0
            ? `stack ${req.stack} mounts weights for ${req.model}, and the registry holds no weights artifact tagged for ${chosen.version} (v${chosen.version}-<sha>)` +
                  `${w.previousTag ? `; the recorded weights.previousTag ${w.previousTag} is of another version` : ""}: which weights ran with it is not known. Roll back explicitly: ${explicit}`
            : `the registry holds ${digests.length} weights artifacts tagged for ${req.model} ${chosen.version} (${ofVersion.map((c) => c.tag).join(", ")}): which ran with it is not known. Roll back explicitly: ${explicit}`,
    );
}
