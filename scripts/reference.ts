/**
 * Upstream reference data: the files the tests cross-check the program's output against (NVIDIA's default
 * mig-parted config, the pinned charts' Chart.yaml and values.yaml, Harbor's swagger). They are not in the
 * repository; `reference.lock.json` pins each one (raw URL at a commit or tag, and SHA-256).
 *
 * Where a file is found, first match wins:
 *   1. `$MODEL_FLEET_REFERENCE_DIR`;
 *   2. `../shared/reference` (beside the repository root; CI has it);
 *   3. `.reference/` in the repository (git-ignored), filled by `npm run reference:fetch`.
 *
 * `npm run reference:fetch` downloads every pinned file into `.reference/` and checks its SHA-256 (files already
 * there with the right checksum are kept). Nothing here reads a reference file when it is imported.
 */
import * as fs from "fs";
import * as path from "path";
import { command, runMain } from "./cli";
import { FETCHED_REFERENCE_DIR, ReferencePin, REFERENCE_DIR_ENV, referencePins, REFERENCE_LOCK, sha256 } from "../tools/reference";

export {
    FETCH_COMMAND,
    FETCHED_REFERENCE_DIR,
    findReferenceFile,
    firstReferenceSource,
    missingReferenceMessage,
    REFERENCE_DIR_ENV,
    REFERENCE_LOCK,
    referencePins,
    referenceSources,
    sha256,
} from "../tools/reference";
export type { ReferencePin, ReferenceSource } from "../tools/reference";

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

export const referenceFetchCommand = command({
    name: "reference:fetch",
    usage: ["[--dest <dir>]"],
    description: `
Downloads every upstream file pinned in reference.lock.json (raw URL at a commit or tag) and checks its SHA-256,
into .reference/ (git-ignored), where the tests find it when neither $${REFERENCE_DIR_ENV} nor ../shared/reference
has it. Files already there with the pinned checksum are kept. Exits 1 when any file cannot be fetched or does not
match its pin; the tests that need a missing file are then reported as skipped.`,
    options: {
        dest: { type: "string", value: "dir", help: "download into <dir> instead of .reference/" },
    },
});

if (require.main === module) {
    void runMain(referenceFetchCommand, async (args) => {
        const dest = args.dest ? path.resolve(args.dest) : FETCHED_REFERENCE_DIR;
        console.log(`Fetching the upstream files pinned in ${path.relative(process.cwd(), REFERENCE_LOCK) || REFERENCE_LOCK} into ${dest}`);
        const report = await fetchReference({ dest, log: (line) => console.log(`  ${line}`) });
        if (report.failed.length === 0) {
            console.log(
                `${report.fetched.length} fetched, ${report.kept.length} already there: all ${report.fetched.length + report.kept.length} match their pinned SHA-256.`,
            );
            return 0;
        }
        console.error(
            [
                `reference:fetch: ${report.failed.length} of ${report.failed.length + report.fetched.length + report.kept.length} file(s) not fetched:`,
                ...report.failed.map((f) => `  - ${f}`),
                `Without network access to raw.githubusercontent.com, point $${REFERENCE_DIR_ENV} at a directory holding these files (same layout),`,
                "or put them in ../shared/reference beside the repository. The tests that need a missing file are reported as skipped.",
            ].join("\n"),
        );
        return 1;
    });
}
