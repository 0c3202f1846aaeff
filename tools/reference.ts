/**
 * Upstream reference data for the cross-checks (scripts/reference.ts finds it: $MODEL_FLEET_REFERENCE_DIR, then
 * ../shared/reference, then .reference/ from `npm run reference:fetch`).
 *
 * A test or suite that needs a file calls `needsReference(this, …files)` first (in the test, or in the suite's
 * `before` hook): when a file is missing it prints one line naming the files and `npm run reference:fetch`, and
 * skips (mocha reports the skipped tests as pending, by name). `referencePath()` then returns the file's path.
 * Nothing here reads a reference file at import time.
 */
import { findReferenceFile, missingReferenceMessage } from "../scripts/reference";

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
