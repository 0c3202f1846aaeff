/**
 * The real Pulumi engine on the sandbox, through the Automation API (`@pulumi/pulumi/automation`): the locally
 * built CLI (v3.274.1) with a file backend and a passphrase secrets provider, the locally built Kubernetes provider
 * (4.25.0, installed from its file; automatic plugin downloads off), and `index.ts` itself as the program.
 *
 * The program runs as an Automation API inline program: the SDK serves the language-runtime protocol from this
 * process and the CLI connects to it (`--client`). This is the path Pulumi's own inline programs take; it is used
 * because the Node.js language host (`pulumi-language-nodejs`) cannot be had from the Go module proxy here (see
 * docs/sandbox.md#what-could-not-be-built). Dynamic providers (Harbor) run in the engine's provider host through
 * the SDK's own `pulumi-resource-pulumi-nodejs` launcher, and the policy pack as a binary analyzer plugin (an
 * executable `--policy-pack` path, pkg/v3 resource/plugin/analyzer_plugin.go) that starts the SDK's own
 * `@pulumi/pulumi/cmd/run-policy-pack` in the pack's directory: the engine asks the language host to start a
 * Node.js pack, and there is none here.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { binDir, toolPath } from "./toolchain/build";
import { toolSpec } from "./toolchain/manifest";
import { SandboxPaths } from "./cluster/controlPlane";
import { PROJECT, REPO_ROOT } from "../support/stackFile";

export { PROJECT, REPO_ROOT };
/** Passphrase of the sandbox stacks' secrets (a throwaway local stack; it encrypts the Harbor stub's password). */
export const SANDBOX_PASSPHRASE = "model-fleet-sandbox";
export const POLICY_DIR = path.join(REPO_ROOT, "policy");

/** The policy pack as a binary analyzer plugin: the engine passes its address as the only argument. */
function policyLauncher(): string {
    const runPolicyPack = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [POLICY_DIR] });
    return `#!/bin/sh\ncd "${POLICY_DIR}" && exec "${process.execPath}" "${runPolicyPack}" "$1" .\n`;
}

export interface EngineEnv {
    pulumiHome: string;
    workDir: string;
    env: Record<string, string>;
    /** What to pass as `--policy-pack` (the launcher of the repo's policy pack). */
    policyPack: string;
}

/** Installs the provider plugin into the sandbox's PULUMI_HOME and lays out the workspace directory. */
export function prepareEngine(paths: SandboxPaths, stack: string, caCert: string): EngineEnv {
    const pulumiHome = path.join(paths.root, "pulumi-home");
    const backend = path.join(paths.root, "backend");
    const workDir = path.join(paths.root, "workspace");
    const policyPack = path.join(paths.root, "policy-pack", "model-fleet-policy");
    for (const d of [pulumiHome, backend, workDir, path.dirname(policyPack)]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(policyPack, policyLauncher(), { mode: 0o755 });
    // The project and the stack's committed config; the workspace may write to these copies, never to the repo.
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
    const stackFile = `Pulumi.${stack}.yaml`;
    if (!fs.existsSync(path.join(workDir, stackFile))) {
        fs.copyFileSync(path.join(REPO_ROOT, stackFile), path.join(workDir, stackFile));
    }
    const pulumiBin = binDir(toolSpec("pulumi"));
    const env: Record<string, string> = {
        PULUMI_HOME: pulumiHome,
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: SANDBOX_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        // The Harbor stub's CA, for the dynamic providers in the engine's provider host.
        NODE_EXTRA_CA_CERTS: caCert,
        PATH: [pulumiBin, process.env.PATH ?? ""].join(path.delimiter),
    };
    const k8sProvider = toolSpec("pulumi-resource-kubernetes");
    execFileSync(toolPath("pulumi"), ["plugin", "install", "resource", "kubernetes", k8sProvider.version, "--file", toolPath("pulumi-resource-kubernetes")], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    return { pulumiHome, workDir, env, policyPack };
}

/** `index.ts` as an inline program: re-required on every operation so each run evaluates the program afresh. */
function fleetProgram(): () => Promise<Record<string, unknown>> {
    return async () => {
        for (const key of Object.keys(require.cache)) {
            if (
                key.startsWith(REPO_ROOT + path.sep) &&
                !key.includes(`${path.sep}node_modules${path.sep}`) &&
                !key.startsWith(path.join(REPO_ROOT, "sandbox"))
            ) {
                delete require.cache[key];
            }
        }
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return { ...require(path.join(REPO_ROOT, "index.ts")) };
    };
}

/** The stack in the sandbox's backend (created on first use). */
export async function sandboxStack(stackName: string, engine: EngineEnv): Promise<Stack> {
    Object.assign(process.env, { PULUMI_CONFIG_PASSPHRASE: SANDBOX_PASSPHRASE });
    const pulumiCommand = await PulumiCommand.get({ root: path.dirname(binDir(toolSpec("pulumi"))), skipVersionCheck: true });
    return LocalWorkspace.createOrSelectStack(
        { stackName, projectName: PROJECT, program: fleetProgram() },
        { workDir: engine.workDir, pulumiHome: engine.pulumiHome, envVars: engine.env, pulumiCommand, secretsProvider: "passphrase" },
    );
}
