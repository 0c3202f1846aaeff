/**
 * `npm run reference:fetch`: downloads every pinned upstream reference file into `.reference/` and checks its SHA-256
 * (support/reference.ts has the pins, the lookup and the download).
 */
import { command, runMain } from "./cli";
import * as path from "path";
import { FETCHED_REFERENCE_DIR, fetchReference, REFERENCE_DIR_ENV, REFERENCE_LOCK } from "../support/reference";

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
