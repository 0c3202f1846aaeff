/** The e2e suites' way to run a sandbox command (`sandbox/cmd/<script>`) as a user would: its exit status, output and time. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readState, sandboxPaths } from "../cluster/controlPlane";
import { Kube } from "../cluster/kube";
import { SANDBOX_DIR } from "../sandbox";
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

/**
 * A sandbox the spec starts itself with `stack` (none may be running: the previous spec took its own down) and takes
 * down after its tests, as mocha hooks of the calling `describe`. `kube()` is its client once up.
 */
export function ownSandbox(stack: string): { kube: () => Kube } {
    const paths = sandboxPaths(SANDBOX_DIR);
    let startedHere = false;
    let kube: Kube | undefined;
    before(function () {
        this.timeout(1_800_000);
        const state = readState(paths);
        assert.equal(state, undefined, `a sandbox is recorded in ${paths.root} (stack ${state?.stack}): run \`npm run sandbox -- down\` first`);
        const up = cli("sandbox.ts", ["up", "--stack", stack]);
        startedHere = true;
        console.log(
            up.out
                .split("\n")
                .filter((l) => l.startsWith("[sandbox]"))
                .map((l) => `      ${l}`)
                .join("\n"),
        );
        assert.equal(up.status, 0, up.out.slice(-6000));
        kube = new Kube(paths.kubeconfig);
    });
    after(function () {
        this.timeout(600_000);
        if (startedHere) {
            const down = cli("sandbox.ts", ["down"]);
            assert.equal(down.status, 0, down.out.slice(-4000));
        }
    });
    return { kube: () => kube! };
}

/**
 * `npm run rehearse` of one scenario on a stack's model, as a user runs it (time scale REHEARSAL_TIME_SCALE, default
 * 10): prints its lines matching `show`, asserts it exited 0, and returns its JSON report.
 */
export function rehearse(stack: string, model: string, scenarioFile: string, show: RegExp): any {
    const timeScale = Number(process.env.REHEARSAL_TIME_SCALE ?? 10);
    const r = cli("rehearse.ts", ["--stack", stack, "--model", model, "--scenario", scenarioFile, "--time-scale", String(timeScale)]);
    console.log(
        r.out
            .split("\n")
            .filter((l) => show.test(l))
            .map((l) => `      ${l.trim()}`)
            .join("\n"),
    );
    assert.equal(r.status, 0, `rehearse exited ${r.status}:\n${r.out.slice(-6000)}`);
    const report = path.join(REPO_ROOT, "out", "rehearsal", stack, model, path.basename(scenarioFile).replace(/\.yaml$/, ".json"));
    return JSON.parse(fs.readFileSync(report, "utf8"));
}
