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

/**
 * A one-layer image made from `files` with crane (a tar with fixed owners and times, `crane append
 * --oci-empty-base`), pushed as `<repo>:<tag>`; its digest. `ok` runs a command and returns its stdout, failing the
 * test otherwise.
 */
export function pushFilesImage(
    crane: string,
    repo: string,
    tag: string,
    files: Record<string, string>,
    tmp: string,
    ok: (cmd: string, args: readonly string[]) => string,
): string {
    const dir = fs.mkdtempSync(path.join(tmp, "layer-"));
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    const tar = `${dir}.tar`;
    ok("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "-C", dir, "."]);
    ok(crane, ["append", "--oci-empty-base", "-f", tar, "-t", `${repo}:${tag}`]);
    return ok(crane, ["digest", `${repo}:${tag}`]);
}
