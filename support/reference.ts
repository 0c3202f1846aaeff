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

/** Downloads a URL's bytes (injectable for tests). */
export type Downloader = (url: string) => Promise<Buffer>;

/** HTTP GET with up to 3 attempts on transient failures (5xx, 429, reset or timed-out connections), as `curl --retry 3`. */
const httpDownload: Downloader = async (url) => {
    for (let attempt = 1; ; attempt++) {
        let transient: boolean;
        try {
            const res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(60_000) });
            if (res.ok) return Buffer.from(await res.arrayBuffer());
            transient = res.status >= 500 || res.status === 429;
            if (!transient || attempt >= 3) throw new Error(`HTTP ${res.status} ${res.statusText}`);
        } catch (e) {
            const code = (e as any)?.cause?.code ?? (e as any)?.name;
            transient = ["ECONNRESET", "ETIMEDOUT", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "TimeoutError"].includes(code);
            if (!transient || attempt >= 3) throw e;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
};

export interface FetchReport {
    fetched: string[];
    kept: string[];
    /** `path: reason` for each file that could not be fetched or did not match its pin. */
    failed: string[];
}

/**
 * Downloads every pin into `dest` (default `.reference/`), checking its SHA-256; a file already there with the pinned
 * checksum is kept. A download that fails or does not match leaves no file behind. Never throws for one file.
 */
export async function fetchReference(
    opts: { dest?: string; pins?: ReferencePin[]; download?: Downloader; log?: (line: string) => void } = {},
): Promise<FetchReport> {
    const dest = opts.dest ?? FETCHED_REFERENCE_DIR;
    const download = opts.download ?? httpDownload;
    const log = opts.log ?? (() => undefined);
    const report: FetchReport = { fetched: [], kept: [], failed: [] };
    for (const pin of opts.pins ?? referencePins()) {
        const target = path.join(dest, ...pin.path.split("/"));
        if (!path.resolve(target).startsWith(path.resolve(dest) + path.sep)) {
            report.failed.push(`${pin.path}: not a path under the reference directory`);
            continue;
        }
        if (fs.existsSync(target) && sha256(fs.readFileSync(target)) === pin.sha256) {
            report.kept.push(pin.path);
            log(`ok       ${pin.path} (already there, SHA-256 matches)`);
            continue;
        }
        let data: Buffer;
        try {
            data = await download(pin.url);
        } catch (e) {
            const cause = (e as any)?.cause?.code ?? (e as any)?.cause?.message ?? (e as Error)?.message ?? String(e);
            const hint = cause === "ENOTFOUND" || cause === "EAI_AGAIN" ? " (host not found: no network access?)" : "";
            report.failed.push(`${pin.path}: could not download ${pin.url}: ${cause}${hint}`);
            continue;
        }
        const actual = sha256(data);
        if (actual !== pin.sha256) {
            report.failed.push(`${pin.path}: SHA-256 ${actual} from ${pin.url} is not the pinned ${pin.sha256}`);
            continue;
        }
        fs.mkdirSync(path.dirname(target), { recursive: true });
        const tmp = `${target}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, data);
        fs.renameSync(tmp, target);
        report.fetched.push(pin.path);
        log(`fetched  ${pin.path}`);
    }
    return report;
}
