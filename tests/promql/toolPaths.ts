/**
 * The real tools the PromQL suite runs (npm run test:promql): Prometheus's `promtool` and `argo-evaluate` (Argo
 * Rollouts' own analysis code behind a JSON CLI, sandbox/toolchain/wrappers/argo-evaluate). Both live in the tool cache
 * `${MODEL_FLEET_TOOLS_DIR:-$HOME/.cache/model-fleet/tools}/<name>/<version>/bin/<binary>`. A missing tool fails the
 * suite with the command that builds it; nothing is skipped and nothing is imitated.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { toolsDir } from "../../support/toolCache";

/** Prometheus release built from the Go module github.com/prometheus/prometheus v0.316.0 (its VERSION file: 3.16.0). */
export const PROMETHEUS_VERSION = "v3.16.0";
/** Argo Rollouts release whose evaluation code argo-evaluate links (the controller version model-fleet installs). */
export const ARGO_ROLLOUTS_VERSION = "v1.9.0";

export { toolsDir };

function toolPath(name: string, version: string, binary: string, howToBuild: string): string {
    const p = path.join(toolsDir(), name, version, "bin", binary);
    if (!fs.existsSync(p)) {
        throw new Error(`${binary} ${version} is missing (looked for ${p}). Build it with: ${howToBuild}`);
    }
    return p;
}

/** Throws unless `<binary> --version` prints `expected` (a binary of another version in the right place). */
function checkVersion(p: string, expected: string, build: string): string {
    const out = spawnSync(p, ["--version"], { encoding: "utf8" });
    const text = `${out.stdout ?? ""}${out.stderr ?? ""}`;
    if (out.status !== 0 || !text.includes(expected)) {
        throw new Error(`${p} is not the expected build (${expected}): \`--version\` says ${JSON.stringify(text.split("\n")[0])}. Rebuild it with ${build}`);
    }
    return p;
}

/** promtool of the pinned Prometheus release; throws (naming the build command) when absent or of another version. */
export function promtool(): string {
    const build = "`npm run tools -- build prometheus`";
    return checkVersion(toolPath("prometheus", PROMETHEUS_VERSION, "promtool", build), `promtool, version ${PROMETHEUS_VERSION.replace(/^v/, "")} `, build);
}

/** argo-evaluate linked against argo-rollouts ARGO_ROLLOUTS_VERSION; throws (naming the build command) when absent. */
export function argoEvaluate(): string {
    const build = "`npm run tools -- build argo-evaluate`";
    return checkVersion(toolPath("argo-evaluate", ARGO_ROLLOUTS_VERSION, "argo-evaluate", build), `argo-rollouts ${ARGO_ROLLOUTS_VERSION})`, build);
}
