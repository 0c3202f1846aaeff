/** The HTTPS Harbor stub (sandbox/harbor/serve.ts) as a sandbox component, run by Node.js with ts-node. */
import * as path from "node:path";
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface HarborStubComponentConfig extends CommonComponentConfig {
    /** The repository root (working directory; the stub's source is under it). */
    repoRoot: string;
    port: number;
    cert: string;
    key: string;
    username: string;
    password: string;
}

export function buildHarborStubComponent(conf: HarborStubComponentConfig): Component {
    return {
        name: "harbor-stub",
        command: conf.binary,
        args: withExtraArgs(
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(conf.repoRoot, "sandbox", "harbor", "serve.ts"),
                `--port=${conf.port}`,
                `--cert=${conf.cert}`,
                `--key=${conf.key}`,
                `--username=${conf.username}`,
                `--password=${conf.password}`,
            ],
            conf.extraArgs,
        ),
        cwd: conf.repoRoot,
        health: { url: `https://${conf.address ?? LOOPBACK}:${conf.port}/api/v2.0/projects`, tls: "ca", accept: "any" },
        timeoutSeconds: 60,
    };
}
