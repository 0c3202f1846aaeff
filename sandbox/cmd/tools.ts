/**
 * `npm run tools -- build [name|set…]` builds the sandbox's real tools from their Go modules into the tool cache,
 * with progress; `list` shows each tool, its version and whether it is built; `path <name>` prints its bin directory.
 * A thin command over sandbox/toolchain/.
 */
import { command, runMain, UsageError } from "../../scripts/cli";
import { binDir, buildTools, isBuilt, MissingToolError, selectTools, ToolBuildError, toolsDir } from "../toolchain/build";
import { TOOL_SETS, TOOLS, toolSpec } from "../toolchain/manifest";

export const toolsCommand = command({
    name: "tools",
    usage: ["build [name|set…]", "list", "path <name>"],
    description: `
Builds the real tools from their Go modules into $MODEL_FLEET_TOOLS_DIR (default ~/.cache/model-fleet/tools), each
once per recipe; a cached tool costs nothing. Progress: one line rewritten in place on a terminal, a line per step
and a heartbeat every minute elsewhere (CI).
tools: ${TOOLS.map((t) => `${t.name} ${t.version}`).join(", ")}
sets:  ${Object.entries(TOOL_SETS)
        .map(([k, v]) => `${k} (${v.join(", ")})`)
        .join("; ")}`,
    options: {},
    positionals: true,
    userErrors: [ToolBuildError, MissingToolError],
});

export async function main(argv: string[]): Promise<number> {
    return runMain(
        toolsCommand,
        async (_values, [verb, ...names]) => {
            switch (verb) {
                case "build": {
                    const started = Date.now();
                    const results = await buildTools(selectTools(names), {
                        tty: Boolean(process.stdout.isTTY) && !process.env.CI,
                        write: (s) => process.stdout.write(s),
                    });
                    const built = results.filter((r) => !r.cached);
                    console.log(
                        `[tools] ${results.length} tool(s) ready in ${toolsDir()}: ${built.length} built, ${results.length - built.length} cached, ${Math.round((Date.now() - started) / 1000)} s`,
                    );
                    return 0;
                }
                case "list":
                    for (const t of TOOLS) console.log(`${t.name.padEnd(28)} ${t.version.padEnd(10)} ${isBuilt(t) ? "built" : "missing"}  ${binDir(t)}`);
                    return 0;
                case "path":
                    if (names.length !== 1) throw new UsageError("path takes one tool name");
                    console.log(binDir(toolSpec(names[0])));
                    return 0;
                case undefined:
                    throw new UsageError("a command is required: build, list or path");
                default:
                    throw new UsageError(`unknown command "${verb}"`);
            }
        },
        argv,
    );
}

if (require.main === module) void main(process.argv.slice(2));
