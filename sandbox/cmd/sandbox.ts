/**
 * `npm run sandbox -- up [--stack local] | status | down [--stack <added stack>]`: the local sandbox (sandbox/sandbox.ts over cluster/ and
 * toolchain/). A thin command on scripts/cli.ts.
 */
import { command, runMain, UsageError } from "../../scripts/cli";
import { down, status, up } from "../sandbox";
import { MissingToolError, ToolBuildError } from "../toolchain/build";

export const sandboxCommand = command({
    name: "sandbox",
    usage: ["up [--stack local]", "status", "down [--stack <stack added beside the first>]"],
    description: `
up      build the sandbox's tools when missing (with progress), start etcd, kube-apiserver, controller manager,
        scheduler, kwok, the Argo Rollouts controller and the Harbor stub on 127.0.0.1, create fake GPU nodes from
        the stack's gpuPools, and run \`pulumi up\`. While a sandbox runs, \`up --stack <other>\` deploys that
        stack into it beside the first (e.g. local-nginx), with nodes for its own pools
status  print the sandbox's processes, its stacks and each model pod with its node, pool and GPU resource
down    stop a \`pulumi up\` left running, clear a stack lock whose process is gone, \`pulumi destroy\` every stack
        (the added ones first), then stop every sandbox process and remove out/sandbox (kept while a process
        survives). \`down --stack <added stack>\` destroys that stack only and removes its nodes`,
    options: { stack: { type: "string", value: "name", help: "the stack `up` deploys (default local), or the added stack `down` destroys" } },
    positionals: true,
    userErrors: [ToolBuildError, MissingToolError],
});

export async function main(argv: string[]): Promise<number> {
    return runMain(
        sandboxCommand,
        async (values, [verb, ...rest]) => {
            if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
            switch (verb) {
                case "up":
                    return up(values.stack ?? "local");
                case "status":
                    return status();
                case "down":
                    return down(values.stack);
                case undefined:
                    throw new UsageError("a command is required: up, status or down");
                default:
                    throw new UsageError(`unknown command "${verb}"`);
            }
        },
        argv,
    );
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
