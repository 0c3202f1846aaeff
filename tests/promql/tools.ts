/**
 * The real tools the PromQL suite runs (npm run test:promql): Prometheus's `promtool` and `argo-evaluate` (Argo
 * Rollouts' own condition evaluation, tests/promql/argo-evaluate). Both live in the tool cache
 * `${MODEL_FLEET_TOOLS_DIR:-$HOME/.cache/model-fleet/tools}/<name>/<version>/bin/<binary>`. A missing tool fails the
 * suite with the command that builds it; nothing is skipped and nothing is imitated.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Prometheus release built from the Go module github.com/prometheus/prometheus v0.316.0 (its VERSION file: 3.16.0). */
export const PROMETHEUS_VERSION = "v3.16.0";
/** Argo Rollouts release whose evaluation code argo-evaluate links (the controller version model-fleet installs). */
export const ARGO_ROLLOUTS_VERSION = "v1.9.0";

export function toolsDir(): string {
    return process.env.MODEL_FLEET_TOOLS_DIR ?? path.join(os.homedir(), ".cache", "model-fleet", "tools");
}

function toolPath(name: string, version: string, binary: string, howToBuild: string): string {
    const p = path.join(toolsDir(), name, version, "bin", binary);
    if (!fs.existsSync(p)) {
        throw new Error(`${binary} ${version} is missing (looked for ${p}). Build it with: ${howToBuild}`);
    }
    return p;
}

/** promtool of the pinned Prometheus release; throws (naming the build command) when absent or of another version. */
export function promtool(): string {
    const p = toolPath("prometheus", PROMETHEUS_VERSION, "promtool", "`npm run tools -- build prometheus`");
    const out = spawnSync(p, ["--version"], { encoding: "utf8" });
    const text = `${out.stdout}${out.stderr}`;
    if (!text.includes(`version ${PROMETHEUS_VERSION.replace(/^v/, "")}`)) {
        throw new Error(`${p} is not promtool ${PROMETHEUS_VERSION}: \`promtool --version\` says ${JSON.stringify(text.split("\n")[0])}. Rebuild it with \`npm run tools -- build prometheus\``);
    }
    return p;
}

/** argo-evaluate linked against argo-rollouts ARGO_ROLLOUTS_VERSION; throws (naming the build command) when absent. */
export function argoEvaluate(): string {
    return toolPath(
        "argo-evaluate",
        ARGO_ROLLOUTS_VERSION,
        "argo-evaluate",
        `\`npm run tools -- build argo-evaluate\` (or: cd tests/promql/argo-evaluate && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -o "${path.join(toolsDir(), "argo-evaluate", ARGO_ROLLOUTS_VERSION, "bin", "argo-evaluate")}" .)`,
    );
}
