/**
 * `npm run tools -- build [name…]` builds the sandbox's real tools from their Go modules into the tool cache;
 * `npm run tools -- list` shows each tool, its version and whether it is built; `npm run tools -- path <name>`
 * prints the bin directory.
 */
import { parseArgs } from "node:util";
import { binDir, buildTools, isBuilt, toolsDir } from "./tools/build";
import { TOOLS, toolSpec } from "./tools/manifest";

const USAGE = `usage: npm run tools -- build [name…] | list | path <name>
tools: ${TOOLS.map((t) => `${t.name} ${t.version}`).join(", ")}
cache: $MODEL_FLEET_TOOLS_DIR (default ~/.cache/model-fleet/tools)`;

function main(argv: string[]): number {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: "boolean", short: "h" } } });
    const [command, ...names] = positionals;
    if (values.help || !command) {
        console.log(USAGE);
        return values.help ? 0 : 2;
    }
    switch (command) {
        case "build": {
            const started = Date.now();
            const results = buildTools(names, (line) => console.log(`[tools] ${line}`));
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

try {
    process.exitCode = main(process.argv.slice(2));
} catch (e) {
    console.error(`tools: ${(e as Error).message}`);
    process.exitCode = 1;
}
