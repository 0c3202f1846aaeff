/**
 * The one place that says where the real tools live: `${MODEL_FLEET_TOOLS_DIR:-$HOME/.cache/model-fleet/tools}`,
 * laid out as `<name>/<version>/bin/<binary>` (sandbox/toolchain builds it; the commands and suites read it).
 */
import * as os from "os";
import * as path from "path";

export function toolsDir(env: NodeJS.ProcessEnv = process.env): string {
    return env.MODEL_FLEET_TOOLS_DIR || path.join(env.HOME || os.homedir(), ".cache", "model-fleet", "tools");
}

/**
 * Python environments built from the model server's lock files (the rehearsal's real servers):
 * `${MODEL_FLEET_PYTHON_DIR:-$HOME/.cache/model-fleet/python}`, one venv per lock digest.
 */
export function pythonEnvsDir(env: NodeJS.ProcessEnv = process.env): string {
    return env.MODEL_FLEET_PYTHON_DIR || path.join(env.HOME || os.homedir(), ".cache", "model-fleet", "python");
}
