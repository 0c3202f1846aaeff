/**
 * `npm run tools -- build [name|set…]` builds the sandbox's real tools from their Go modules into the tool cache,
 * with progress; `npm run tools -- list` shows each tool, its version and whether it is built; `npm run tools -- path
 * <name>` prints the bin directory.
 */
import { parseArgs } from "node:util";
import { binDir, buildTools, isBuilt, selectTools, toolsDir } from "../toolchain/build";
import { TOOL_SETS, TOOLS, toolSpec } from "../toolchain/manifest";

const USAGE = `usage: npm run tools -- build [name|set…] | list | path <name>
tools: ${TOOLS.map((t) => `${t.name} ${t.version}`).join(", ")}
sets:  ${Object.entries(TOOL_SETS)
    .map(([k, v]) => `${k} (${v.join(", ")})`)
    .join("; ")}
cache: $MODEL_FLEET_TOOLS_DIR (default ~/.cache/model-fleet/tools)`;

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: "boolean", short: "h" } } });
    const [command, ...names] = positionals;
    if (values.help || !command) {
        console.log(USAGE);
        return values.help ? 0 : 2;
    }
    switch (command) {
        case "build": {
            const started = Date.now();
            const specs = selectTools(names);
            const results = await buildTools(specs, { tty: Boolean(process.stdout.isTTY) && !process.env.CI, write: (s) => process.stdout.write(s) });
            const built = results.filter((r) => !r.cached);
            console.log(
                `[tools] ${results.length} tool(s) ready in ${toolsDir()}: ${built.length} built, ${results.length - built.length} cached, ${Math.round((Date.now() - started) / 1000)} s`,
            );
            return 0;
        }
        case "list":
            for (const t of TOOLS) {
                console.log(`${t.name.padEnd(28)} ${t.version.padEnd(10)} ${isBuilt(t) ? "built" : "missing"}  ${binDir(t)}`);
            }
            return 0;
        case "path":
            console.log(binDir(toolSpec(names[0] ?? "")));
            return 0;
        default:
            console.error(`unknown command "${command}"\n${USAGE}`);
            return 2;
    }
}

main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: Error) => {
        console.error(`tools: ${e.message}`);
        process.exitCode = 1;
    },
);
