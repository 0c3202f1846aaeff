/**
 * Git sha resolution and work-tree state (pure: the environment and git are injected).
 *
 * The config loader calls these with the real `process.env` and a `git` function that runs
 * `git <args>` in the repository; tests pass their own.
 */
import { createHash } from "crypto";
import { shortSha } from "./tag";

/** Runs `git <args>` and returns stdout; throws when git is missing or fails (not a repository, no commits…). */
export type GitRunner = (args: readonly string[]) => string;

/** Arguments for the git fallback: `git rev-parse --short HEAD`. */
export const GIT_SHORT_SHA_ARGS: readonly string[] = ["rev-parse", "--short", "HEAD"];
/** Arguments for the dirty-tree check: `git status --porcelain` (v1, stable for scripts). */
export const GIT_STATUS_ARGS: readonly string[] = ["status", "--porcelain"];

export interface ResolveGitShaInput {
    env: Readonly<Record<string, string | undefined>>;
    git: GitRunner;
}

/**
 * Resolves the commit the image is built from: `GIT_SHA`, then `GITHUB_SHA`, then `git rev-parse --short HEAD`.
 * Empty variables count as unset. A variable that is set but not a hex sha is an error (a CI misconfiguration
 * must not silently fall through to another commit). Returns undefined only when no variable is set and git
 * cannot answer; the caller decides whether that is fatal (it is for a stack that builds).
 *
 * The result is the 7-char lowercase short sha, so a full 40-char CI sha and a local `--short` sha of the same
 * commit give the same tag, labels and build args (no spurious rebuild).
 */
export function resolveGitSha({ env, git }: ResolveGitShaInput): string | undefined {
    for (const name of ["GIT_SHA", "GITHUB_SHA"] as const) {
        const value = env[name]?.trim();
        if (value) {
            try {
                return shortSha(value);
            } catch (e) {
                throw new Error(`${name}=${JSON.stringify(value)} is not a git sha: ${(e as Error).message}`);
            }
        }
    }
    let out: string;
    try {
        out = git(GIT_SHORT_SHA_ARGS).trim();
    } catch {
        return undefined;
    }
    if (!out) {
        return undefined;
    }
    try {
        return shortSha(out);
    } catch (e) {
        throw new Error(`git ${GIT_SHORT_SHA_ARGS.join(" ")} returned ${JSON.stringify(out)}: ${(e as Error).message}`);
    }
}

/**
 * True when `git status --porcelain` reports any change: modified, staged, deleted, renamed or untracked files
 * (untracked files can be in the build context, so they count). Ignored files are not listed by git and do not.
 */
export function isTreeDirty(gitStatusPorcelain: string): boolean {
    return (gitStatusPorcelain ?? "").split(/\r?\n/).some((line) => line.trim() !== "");
}

/** The changed paths in `git status --porcelain` output (for the error message). */
export function dirtyPaths(gitStatusPorcelain: string): string[] {
    return (gitStatusPorcelain ?? "")
        .split(/\r?\n/)
        .filter((line) => line.trim() !== "")
        .map((line) => line.slice(3).trim());
}

/**
 * 8 hex characters naming a set of uncommitted changes: the same changes give the same fingerprint (so a rebuild of
 * an unchanged dirty tree reuses its tag), other changes give another. Inputs: `git diff HEAD --binary` and the
 * untracked files with their blob hashes (`git hash-object`), all limited to the build contexts.
 */
export function dirtyFingerprint(diff: string, untracked: ReadonlyArray<readonly [path: string, blob: string]>): string {
    const h = createHash("sha256").update(diff);
    for (const [file, blob] of [...untracked].sort((a, b) => a[0].localeCompare(b[0]))) h.update(`\0${file}\0${blob}`);
    return h.digest("hex").slice(0, 8);
}
