/**
 * What a plan was made from, so that `npm run policy` never checks a stale plan: `npm run plan` writes
 * `out/<stack>/plan.json` with the stack file it read and the SHA-256 of that file and of the program's sources;
 * the policy runner re-plans when either changed since (or when a stack file exists but the plan records none).
 * Light on purpose: the policy runner reads it without loading the mock harness.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT, stackFilePath } from "../support/stackFile";

export const PLAN_STAMP_FILE = "plan.json";

/** The program's sources: what `index.ts` can load (support/ and scripts/ only run it). */
export const PROGRAM_SOURCES = ["index.ts", "config", "components", "domain"];

export interface PlanStamp {
    /** The stack file the plan read: relative to the repository root when inside it (`Pulumi.dev.yaml`), else absolute. */
    stackFile: string;
    stackFileSha256: string;
    /** Over every `.ts` file of PROGRAM_SOURCES, path and content, in path order. */
    programSha256: string;
}

function sha256(data: string | Buffer): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

function tsFiles(rel: string): string[] {
    const abs = path.join(REPO_ROOT, rel);
    if (!fs.existsSync(abs)) return [];
    if (fs.statSync(abs).isFile()) return rel.endsWith(".ts") ? [rel] : [];
    return fs
        .readdirSync(abs)
        .sort()
        .flatMap((f) => tsFiles(path.join(rel, f)));
}

/** The digest of the program's sources. */
export function programDigest(): string {
    const h = crypto.createHash("sha256");
    for (const rel of PROGRAM_SOURCES.flatMap(tsFiles)) h.update(`${rel.split(path.sep).join("/")}\0${sha256(fs.readFileSync(path.join(REPO_ROOT, rel)))}\n`);
    return h.digest("hex");
}

/** The stamp of a plan of `stackOrFile` made now. */
export function planStamp(stackOrFile: string): PlanStamp {
    const file = stackFilePath(stackOrFile);
    const rel = path.relative(REPO_ROOT, file);
    const stackFile = rel.startsWith("..") || path.isAbsolute(rel) ? file : rel.split(path.sep).join("/");
    return { stackFile, stackFileSha256: sha256(fs.readFileSync(file)), programSha256: programDigest() };
}

function shown(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/**
 * Why the plan under `planDir` (`out/<stack>/`) no longer matches its inputs, or undefined when it does. A plan
 * without a stamp is stale when the stack has a stack file (an older `npm run plan` wrote it); one with neither (a
 * hand-written resources.json) is taken as it is.
 */
export function stalePlanReason(stack: string, planDir: string): string | undefined {
    const stampFile = path.join(planDir, PLAN_STAMP_FILE);
    if (!fs.existsSync(stampFile)) {
        const own = stackFilePath(stack);
        return fs.existsSync(own) ? `the plan records no digest of ${shown(own)}` : undefined;
    }
    const stamp = JSON.parse(fs.readFileSync(stampFile, "utf8")) as PlanStamp;
    const file = path.resolve(REPO_ROOT, stamp.stackFile);
    if (!fs.existsSync(file)) return `${shown(file)}, which it was planned from, no longer exists`;
    if (sha256(fs.readFileSync(file)) !== stamp.stackFileSha256) return `${shown(file)} changed since the plan`;
    if (programDigest() !== stamp.programSha256) return `the program (${PROGRAM_SOURCES.join(", ")}) changed since the plan`;
    return undefined;
}

/** The stack file a stamped plan was made from, when it is not the stack's own `Pulumi.<stack>.yaml`. */
export function plannedConfigFile(stack: string, planDir: string): string | undefined {
    const stampFile = path.join(planDir, PLAN_STAMP_FILE);
    if (!fs.existsSync(stampFile)) return undefined;
    const file = path.resolve(REPO_ROOT, (JSON.parse(fs.readFileSync(stampFile, "utf8")) as PlanStamp).stackFile);
    return file === stackFilePath(stack) ? undefined : file;
}
