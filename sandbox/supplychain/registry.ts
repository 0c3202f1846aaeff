/**
 * The supply-chain suites' local OCI registry: the real `distribution` (CNCF registry) from the tool cache, on a
 * loopback address, storing under `<tmp>/registry`; started as a recorded process and ready once `/v2/` answers.
 */
import * as fs from "fs";
import * as path from "path";
import { httpStatus, ProcessRecord, startProcess } from "../cluster/processes";
import { toolPath } from "../toolchain/build";

export async function startRegistry(tmp: string, address: string, env: NodeJS.ProcessEnv, opts: { deletes?: boolean } = {}): Promise<ProcessRecord> {
    const config = path.join(tmp, "registry.yml");
    fs.writeFileSync(
        config,
        [
            "version: 0.1",
            "log:",
            "  level: warn",
            "storage:",
            "  filesystem:",
            `    rootdirectory: ${path.join(tmp, "registry")}`,
            ...(opts.deletes ? ["  delete:", "    enabled: true"] : []),
            "http:",
            `  addr: ${address}`,
            "",
        ].join("\n"),
    );
    return startProcess(
        {
            name: "registry",
            command: toolPath("distribution", "registry"),
            args: ["serve", config],
            env,
            ready: async () => (await httpStatus(`http://${address}/v2/`)) === 200,
            timeoutSeconds: 30,
        },
        path.join(tmp, "logs"),
    );
}
