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
    const backend = backendDir(paths);
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
        PULUMI_BACKEND_URL: backendUrl(paths),
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

/** The sandbox's file backend. */
export function backendDir(paths: SandboxPaths): string {
    return path.join(paths.root, "backend");
}

/** `PULUMI_BACKEND_URL` of the sandbox's engine (every process of the engine has it in its environment). */
export function backendUrl(paths: SandboxPaths): string {
    return `file://${backendDir(paths)}`;
}

/**
 * A stack lock of a file ("diy") backend, as pulumi/pulumi pkg/backend/diy/lock.go writes it: the file
 * `<backend>/.pulumi/locks/<fully qualified stack name>/<lock id>.json` (the name of a project-scoped stack is
 * `organization/<project>/<stack>`), holding `{"pid", "username", "hostname", "timestamp"}` of the CLI process that
 * took it. A `pulumi up` killed before it could unlock leaves it behind; every later update of the stack then fails
 * with "the stack is currently locked by 1 lock(s)".
 */
export interface StackLock {
    file: string;
    pid: number;
    username: string;
    hostname: string;
    timestamp: string;
}

export function stackLockDir(backend: string, project: string, stack: string): string {
    return path.join(backend, ".pulumi", "locks", "organization", project, stack);
}

/** The stack's lock files (none when the directory does not exist); an unreadable one is reported with pid 0. */
export function readStackLocks(backend: string, project: string, stack: string): StackLock[] {
    const dir = stackLockDir(backend, project, stack);
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => {
            const file = path.join(dir, f);
            try {
                const l = JSON.parse(fs.readFileSync(file, "utf8"));
                return {
                    file,
                    pid: Number(l.pid) || 0,
                    username: String(l.username ?? ""),
                    hostname: String(l.hostname ?? ""),
                    timestamp: String(l.timestamp ?? ""),
                };
            } catch {
                return { file, pid: 0, username: "", hostname: "", timestamp: "" };
            }
        });
}

/** What the sandbox can see of processes on this machine. */
export interface ProcessProbe {
    hostname: string;
    /** The running command line of a pid, undefined when it does not run. */
    commandLine: (pid: number) => string | undefined;
}

/**
 * Who holds a lock: `gone` (its process no longer runs on this host, or the pid now runs something other than a
 * Pulumi CLI: the lock is stale and may be cleared), `sandbox engine` (the sandbox's own CLI still runs, e.g. after
 * only the Node.js process of `up` was killed: stop it, then clear), `live` (another Pulumi CLI runs under that pid:
 * leave it), `other host` (it cannot be checked from here: leave it).
 */
export function lockHolder(lock: StackLock, probe: ProcessProbe, sandboxPulumi: string): "gone" | "sandbox engine" | "live" | "other host" {
    if (lock.hostname !== probe.hostname) return "other host";
    const cmd = lock.pid > 0 ? probe.commandLine(lock.pid) : undefined;
    if (cmd === undefined) return "gone";
    const argv0 = cmd.split(" ")[0];
    if (argv0 === sandboxPulumi) return "sandbox engine";
    return path.basename(argv0) === "pulumi" ? "live" : "gone";
}

export function describeLock(l: StackLock): string {
    return `pid ${l.pid} of ${l.username}@${l.hostname} since ${l.timestamp}`;
}

/**
 * The useful lines of an Automation API CommandError (whose message is the CLI's whole stdout and stderr): the
 * `error:` lines and the lock diagnostic's lines, or the last lines when there are none.
 */
export function engineErrorSummary(message: string): string {
    const lines = message.split("\n").map((l) => l.replace(/^\s*stderr:\s*/, "").trimEnd());
    const picked = lines.filter((l) => /^\s*error:/.test(l) || /^\s+\S+\.json: created by /.test(l));
    const chosen = picked.length > 0 ? picked : lines.filter((l) => l.trim() !== "").slice(-5);
    return [...new Set(chosen.map((l) => l.trim()))].join("\n");
}
