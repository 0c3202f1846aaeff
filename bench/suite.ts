/** Section (c) of `npm run bench`: wall time of the type check and the unit suite. */
import { spawnSync } from "child_process";
import { REPO_ROOT } from "../support/stackFile";

export interface SuiteRow {
    command: string;
    ms: number;
    exitCode: number | null;
    /** `npm test`: mocha's "N passing / M failing" summary. */
    summary?: string;
}

function timeCommand(command: string, args: string[]): SuiteRow {
    const t = performance.now();
    const r = spawnSync(command, args, { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 256 * 2 ** 20, env: { ...process.env, FORCE_COLOR: "0" } });
    const ms = performance.now() - t;
    const out = `${r.stdout ?? ""}\n${r.stderr ?? ""}`;
    const passing = /(\d+) passing/.exec(out)?.[0];
    const failing = /(\d+) failing/.exec(out)?.[0];
    const pending = /(\d+) pending/.exec(out)?.[0];
    const summary = [passing, pending, failing].filter(Boolean).join(", ");
    return { command: [command, ...args].join(" "), ms, exitCode: r.status, ...(summary ? { summary } : {}) };
}

export function suiteTimes(): SuiteRow[] {
    return [timeCommand("npx", ["tsc", "--noEmit", "-p", "."]), timeCommand("npm", ["test"])];
}
