/**
 * The one place that says where the real tools live: `${MODEL_FLEET_TOOLS_DIR:-$HOME/.cache/model-fleet/tools}`,
 * laid out as `<name>/<version>/bin/<binary>` (sandbox/toolchain builds it; the commands and suites read it).
 */
import * as os from "os";
import * as path from "path";

export function toolsDir(env: NodeJS.ProcessEnv = process.env): string {
    return env.MODEL_FLEET_TOOLS_DIR || path.join(env.HOME || os.homedir(), ".cache", "model-fleet", "tools");
}
