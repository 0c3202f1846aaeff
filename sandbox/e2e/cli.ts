/** The e2e suites' way to run a sandbox command (`sandbox/cmd/<script>`) as a user would: its exit status, output and time. */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT } from "../stack";

export function cli(script: string, args: string[]): { status: number | null; out: string; seconds: number } {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(REPO_ROOT, "sandbox", "cmd", script), ...args], {
        cwd: REPO_ROOT,
        env: process.env,
        encoding: "utf8",
        maxBuffer: 256 << 20,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}`, seconds: (Date.now() - t0) / 1000 };
}
