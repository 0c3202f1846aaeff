/**
 * Upstream reference data for the cross-checks, and where it is found: $MODEL_FLEET_REFERENCE_DIR, then
 * ../shared/reference, then .reference/ from `npm run reference:fetch`).
 *
 * A test or suite that needs a file calls `needsReference(this, …files)` first (in the test, or in the suite's
 * `before` hook): when a file is missing it prints one line naming the files and `npm run reference:fetch`, and
 * skips (mocha reports the skipped tests as pending, by name). `referencePath()` then returns the file's path.
 * Nothing here reads a reference file at import time.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "./stackFile";

/** The lock file of the pins, at the repository root. */
export const REFERENCE_LOCK = path.join(REPO_ROOT, "reference.lock.json");
/** Where `npm run reference:fetch` puts the files (git-ignored). */
export const FETCHED_REFERENCE_DIR = path.join(REPO_ROOT, ".reference");
export const REFERENCE_DIR_ENV = "MODEL_FLEET_REFERENCE_DIR";
export const FETCH_COMMAND = "npm run reference:fetch";

export interface ReferencePin {
    /** Path under the reference directory, `/`-separated (`charts/gpu-operator/values.yaml`). */
    path: string;
    /** Raw URL at a pinned commit or tag. */
    url: string;
    /** Hex SHA-256 of the file's bytes. */
    sha256: string;
}

/** The pins of reference.lock.json (read on each call; small). */
export function referencePins(lockFile = REFERENCE_LOCK): ReferencePin[] {
    const lock = JSON.parse(fs.readFileSync(lockFile, "utf8"));
    if (!Array.isArray(lock?.files)) throw new Error(`${lockFile}: no "files" list`);
    return lock.files as ReferencePin[];
}

export interface ReferenceSource {
    dir: string;
    /** How the user would name it: `$MODEL_FLEET_REFERENCE_DIR`, `../shared/reference`, `.reference/`. */
    label: string;
}

/** The places searched, in order (whether or not they exist). */
export function referenceSources(env: NodeJS.ProcessEnv = process.env): ReferenceSource[] {
    const sources: ReferenceSource[] = [];
    const fromEnv = env[REFERENCE_DIR_ENV];
    if (fromEnv) sources.push({ dir: path.resolve(fromEnv), label: `$${REFERENCE_DIR_ENV}` });
    sources.push({ dir: path.resolve(REPO_ROOT, "..", "shared", "reference"), label: "../shared/reference" });
    sources.push({ dir: FETCHED_REFERENCE_DIR, label: ".reference/" });
    return sources;
}

/** Absolute path of a reference file from the first place that has it, or undefined. */
export function findReferenceFile(file: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    for (const { dir } of referenceSources(env)) {
        const p = path.join(dir, ...file.split("/"));
        if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
    }
    return undefined;
}

/** The first existing directory among the places searched. */
export function firstReferenceSource(env: NodeJS.ProcessEnv = process.env): ReferenceSource | undefined {
    return referenceSources(env).find((s) => fs.existsSync(s.dir) && fs.statSync(s.dir).isDirectory());
}

/** One line: which files are missing, where they were looked for, and the command that fetches them. */
export function missingReferenceMessage(files: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
    const where = referenceSources(env)
        .map((s) => s.label)
        .join(", ");
    return `upstream reference data missing (${files.join(", ")}; looked in ${where}): run \`${FETCH_COMMAND}\``;
}

export function sha256(data: Buffer | string): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** Absolute path of a reference file (`charts/gpu-operator/values.yaml`, or its path segments). Call `needsReference` first. */
export function referencePath(...segments: string[]): string {
    const file = segments.join("/");
    const found = findReferenceFile(file);
    if (!found) throw new Error(`${missingReferenceMessage([file])} (call needsReference() first so the test is skipped instead)`);
    return found;
}

/** The missing ones among `files`. */
export function missingReference(files: readonly string[]): string[] {
    return files.filter((f) => findReferenceFile(f) === undefined);
}

/**
 * Skips the current test (or, from a `before` hook, the whole suite) when any of `files` is missing, with one line
 * naming them and the fetch command. Use a `function () {}` so that mocha passes its context as `this`.
 */
export function needsReference(ctx: Mocha.Context, ...files: string[]): void {
    const missing = missingReference(files);
    if (missing.length === 0) return;
    // Indented like the suite's tests in mocha's spec reporter, just above the skipped (pending) test lines.
    const depth = ctx.test?.parent?.titlePath().length ?? 1;
    console.log(`${"  ".repeat(depth + 1)}SKIPPED: ${missingReferenceMessage(missing)}`);
    ctx.skip();
}
