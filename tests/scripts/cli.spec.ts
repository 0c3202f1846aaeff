/**
 * The commands' shared CLI (scripts/cli.ts): every command declares its flags once, answers --help, rejects what it
 * does not declare, and a missing tool is named with what to do instead.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { benchCommand } from "../../bench/run";
import { Command, CONFIG_NAMESPACE, findTool, missingToolMessage, PULUMI_CLI_HINTS, readStackDocument, REPO_ROOT, table, UsageError } from "../../scripts/cli";
import { docsCommand } from "../../scripts/docs";
import { planCommand } from "../../scripts/plan";
import { policyCommand } from "../../scripts/policy";
import { promoteCommand } from "../../scripts/promote";
import { referenceFetchCommand } from "../../scripts/reference";
import { signCommand } from "../../scripts/sign";

const COMMANDS: Array<Command<any>> = [planCommand, policyCommand, promoteCommand, benchCommand, docsCommand, referenceFetchCommand, signCommand];

/** Runs a command as `npm run` does (ts-node, transpile-only) from the repository root. */
function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", script, ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 60000,
        env,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("commands: the shared CLI (scripts/cli.ts)", function () {
    this.timeout(120000);

    it("every npm script that runs a command has one declaration, named after the script", () => {
        const scripts = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
        for (const cmd of COMMANDS) assert.ok(scripts[cmd.spec.name], `package.json has no script ${cmd.spec.name}`);
    });

    for (const cmd of COMMANDS) {
        describe(`npm run ${cmd.spec.name}`, () => {
            it("--help shows the usage and every flag", () => {
                assert.deepEqual(cmd.parse(["--help"]), { help: true });
                assert.deepEqual(cmd.parse(["-h"]), { help: true });
                const help = cmd.help();
                assert.ok(help.startsWith(`usage: npm run ${cmd.spec.name} --`) || help.startsWith("usage:\n"), help);
                for (const flag of [...Object.keys(cmd.spec.options), "help"]) assert.match(help, new RegExp(`--${flag}\\b`), `--${flag} is in the help`);
            });

            it("rejects unknown flags, stray arguments and flags without their value", () => {
                assert.throws(
                    () => cmd.parse(["--bogus"]),
                    (e: Error) => e instanceof UsageError && /^unknown option --bogus$/.test(e.message),
                );
                assert.throws(
                    () => cmd.parse(["stray"]),
                    (e: Error) => e instanceof UsageError && /^unexpected argument stray$/.test(e.message),
                );
                const stringFlag = Object.entries(cmd.spec.options).find(([, o]) => (o as any).type === "string")?.[0];
                if (stringFlag)
                    assert.throws(
                        () => cmd.parse([`--${stringFlag}`]),
                        (e: Error) => e instanceof UsageError && e.message === `--${stringFlag} needs a value`,
                    );
                const boolFlag = Object.entries(cmd.spec.options).find(([, o]) => (o as any).type === "boolean")?.[0];
                if (boolFlag)
                    assert.throws(
                        () => cmd.parse([`--${boolFlag}=yes`]),
                        (e: Error) => e instanceof UsageError && e.message === `--${boolFlag} takes no value`,
                    );
            });
        });
    }

    it("a command run with an unknown flag exits 2 and points to --help; --help exits 0", () => {
        const bad = runCli("scripts/docs.ts", ["--bogus"]);
        assert.equal(bad.status, 2, bad.stderr);
        assert.equal(bad.stderr, "docs: unknown option --bogus\nRun `npm run docs -- --help` for usage.\n");
        const help = runCli("scripts/docs.ts", ["--help"]);
        assert.equal(help.status, 0, help.stderr);
        assert.equal(help.stdout, docsCommand.help() + "\n");
    });

    it("the stack config namespace is the Pulumi project name", () => {
        assert.equal(readStackDocument(path.join(REPO_ROOT, "Pulumi.yaml")).name, CONFIG_NAMESPACE);
    });

    it("table(): columns padded to the widest cell, two spaces apart, no trailing spaces", () => {
        assert.equal(
            table([
                ["a", "bb", "c"],
                ["ccc", "d", ""],
            ]),
            "a    bb  c\nccc  d",
        );
    });

    describe("missing tools", () => {
        let tmp: string;
        before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-tools-"))));
        after(() => fs.rmSync(tmp, { recursive: true, force: true }));

        const exe = (file: string) => {
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, "#!/bin/sh\n");
            fs.chmodSync(file, 0o755);
        };

        it("finds a tool on PATH first, else the newest version in the tool cache", () => {
            const tools = path.join(tmp, "tools");
            const env = { PATH: path.join(tmp, "nothing"), MODEL_FLEET_TOOLS_DIR: tools };
            assert.equal(findTool("pulumi", "pulumi", env), undefined);
            exe(path.join(tools, "pulumi", "v3.9.0", "bin", "pulumi"));
            exe(path.join(tools, "pulumi", "v3.10.0", "bin", "pulumi"));
            fs.mkdirSync(path.join(tools, "pulumi", "v3.11.0", "bin"), { recursive: true }); // an unfinished build: no binary
            assert.deepEqual(findTool("pulumi", "pulumi", env), { path: path.join(tools, "pulumi", "v3.10.0", "bin", "pulumi"), source: "tool cache" });
            exe(path.join(tmp, "bin", "pulumi"));
            assert.deepEqual(findTool("pulumi", "pulumi", { ...env, PATH: path.join(tmp, "bin") }), { path: path.join(tmp, "bin", "pulumi"), source: "PATH" });
            // The default cache is under $HOME.
            assert.equal(findTool("pulumi", "pulumi", { PATH: "", HOME: tmp }), undefined);
        });

        it("names the tool, where it was looked for and what to do", () => {
            const msg = missingToolMessage(
                "npm run promote",
                { name: "pulumi", title: "the Pulumi CLI", purpose: "to read stack dev's `images` output", instead: ["use --digest", ...PULUMI_CLI_HINTS] },
                { HOME: "/home/u" },
            );
            assert.match(
                msg,
                /^npm run promote needs the Pulumi CLI \(`pulumi`\) to read stack dev's `images` output, but `pulumi` is neither on PATH nor in the tool cache \(\/home\/u\/\.cache\/model-fleet\/tools\/pulumi\/<version>\/bin\/pulumi\)\./,
            );
            assert.match(msg, /\n  - use --digest\n  - build the sandbox's Pulumi CLI into the tool cache: `npm run tools -- build pulumi`/);
        });

        it("npm run promote -- --from dev --to prod without the Pulumi CLI says so and points to --digest and the sandbox's CLI", () => {
            const env = { ...process.env, PATH: path.dirname(process.execPath), MODEL_FLEET_TOOLS_DIR: path.join(tmp, "empty-tools") };
            const r = runCli("scripts/promote.ts", ["--model", "sentiment", "--from", "dev", "--to", "prod"], env);
            assert.equal(r.status, 1, r.stderr);
            assert.doesNotMatch(r.stderr, /ENOENT|\n\s+at /, "no bare spawn error, no stack trace");
            assert.match(r.stderr, /^npm run promote needs the Pulumi CLI \(`pulumi`\) to read stack dev's `images` output/);
            assert.match(r.stderr, /--digest sha256:<64 hex> --version <x\.y\.z>/);
            assert.match(r.stderr, /npm run tools -- build pulumi/);
            assert.ok(r.stderr.includes(path.join(tmp, "empty-tools", "pulumi", "<version>", "bin", "pulumi")), r.stderr);
        });

        it("npm run promote with --digest but without the Pulumi CLI prints the diff, then points to --dry-run", () => {
            const env = { ...process.env, PATH: path.dirname(process.execPath), MODEL_FLEET_TOOLS_DIR: path.join(tmp, "empty-tools") };
            const digest = "sha256:" + "ab".repeat(32);
            const r = runCli("scripts/promote.ts", ["--model", "sentiment", "--to", "prod", "--digest", digest, "--version", "2.1.5"], env);
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stdout, new RegExp(digest));
            assert.match(r.stderr, /^npm run promote needs the Pulumi CLI \(`pulumi`\) to run `pulumi config set` on Pulumi\.prod\.yaml/);
            assert.match(r.stderr, /add --dry-run/);
            const dry = runCli("scripts/promote.ts", ["--model", "sentiment", "--to", "prod", "--digest", digest, "--version", "2.1.5", "--dry-run"], env);
            assert.equal(dry.status, 0, dry.stderr);
            assert.match(dry.stdout, /--dry-run: would run\n  pulumi config set/);
        });
    });
});
