/**
 * The commands' shared CLI (scripts/cli.ts): every command declares its flags once, answers --help, rejects what it
 * does not declare, and a missing tool is named with what to do instead.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { benchArgs, benchCommand } from "../../bench/run";
import { Command, CONFIG_NAMESPACE, findTool, missingToolMessage, PULUMI_CLI_HINTS, readStackDocument, REPO_ROOT, table, UsageError } from "../../scripts/cli";
import { docsCommand } from "../../scripts/docs";
import { knownStacks } from "../../support/stackFile";
import { planCommand } from "../../scripts/plan";
import { policyCommand } from "../../scripts/policy";
import { promoteCommand } from "../../scripts/promote";
import { referenceFetchCommand } from "../../scripts/referenceFetch";
import { signCommand } from "../../scripts/sign";
import { cardCommand } from "../../scripts/card";
import { versionsCommand } from "../../scripts/versions";
import { rollbackCommand } from "../../scripts/rollback";

import { toolsCommand } from "../../sandbox/cmd/tools";
import { rehearseCommand } from "../../sandbox/cmd/rehearse";
import { sandboxCommand } from "../../sandbox/cmd/sandbox";
const COMMANDS: Array<Command<any>> = [
    planCommand,
    policyCommand,
    promoteCommand,
    benchCommand,
    docsCommand,
    referenceFetchCommand,
    signCommand,
    cardCommand,
    versionsCommand,
    rollbackCommand,
    toolsCommand,
    rehearseCommand,
    sandboxCommand,
];

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

    it("every npm script whose file declares a command is listed here, in the README's --help line and in docs/testing.md", () => {
        const scripts = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
        const declaring = Object.entries(scripts)
            .filter(([, run]) => {
                const file = /ts-node --transpile-only (\S+\.ts)/.exec(run)?.[1];
                return file !== undefined && /\bcommand\(\{/.test(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"));
            })
            .map(([name]) => name)
            .sort();
        assert.deepEqual(declaring, COMMANDS.map((c) => c.spec.name).sort());
        const readme = /Every command takes `--help`: `npm run ([^ ]+) -- --help`/.exec(fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8"));
        assert.ok(readme, "the README's --help line");
        assert.deepEqual(readme[1].split("|").sort(), declaring);
        const testing = /Every command \(([^)]+)\) takes `--help`/.exec(fs.readFileSync(path.join(REPO_ROOT, "docs", "testing.md"), "utf8"));
        assert.ok(testing, "docs/testing.md's command list");
        assert.deepEqual([...testing[1].matchAll(/`([^`]+)`/g)].map((m) => m[1]).sort(), declaring);
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
                // A command with verbs (`tools build …`) takes positionals; every other refuses a stray argument.
                if (cmd.spec.positionals) assert.deepEqual((cmd.parse(["build", "x"]) as { positionals: string[] }).positionals, ["build", "x"]);
                else
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

    it("a string flag followed by a negative number takes it as its value, as --flag=-1 does (node:util calls it ambiguous)", () => {
        for (const cmd of COMMANDS) {
            const stringFlag = Object.entries(cmd.spec.options).find(([, o]) => (o as any).type === "string" && !(o as any).multiple)?.[0];
            if (!stringFlag) continue;
            for (const argv of [[`--${stringFlag}`, "-1"], [`--${stringFlag}=-1`]]) {
                const parsed = cmd.parse(argv);
                assert.equal(parsed.help, false);
                assert.equal((parsed as any).values[stringFlag], "-1", `${cmd.spec.name} ${argv.join(" ")}`);
            }
        }
        // A following flag is still no value.
        assert.throws(
            () => planCommand.parse(["--stack", "--out", "x"]),
            (e: Error) => e instanceof UsageError && e.message === "--stack needs a value",
        );
    });

    it("npm run bench --repeat: zero, negative and non-integer counts are a usage error naming the flag, however spelt", () => {
        const args = (argv: string[]) => {
            const parsed = benchCommand.parse(argv);
            assert.equal(parsed.help, false);
            return benchArgs((parsed as any).values);
        };
        for (const [argv, got] of [
            [["--repeat", "-1"], "-1"],
            [["--repeat=-1"], "-1"],
            [["--repeat", "0"], "0"],
            [["--repeat", "1.5"], "1.5"],
            [["--repeat", "x"], "x"],
        ] as const) {
            assert.throws(
                () => args([...argv]),
                (e: Error) => e instanceof UsageError && e.message === `--repeat expects an integer ≥ 1, got ${got}`,
                argv.join(" "),
            );
        }
        assert.equal(args(["--repeat", "3"]).repeat, 3);
        assert.equal(args([]).repeat, 2);
        assert.throws(
            () => args(["--seed", "-3"]),
            (e: Error) => e instanceof UsageError && e.message === "--seed expects an integer ≥ 0, got -3",
        );
    });

    describe("an unknown stack, a missing or malformed stack file: one line naming the file and what to do", () => {
        let tmp: string;
        before(() => {
            tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-stackfile-"));
            fs.writeFileSync(path.join(tmp, "broken.yaml"), "config:\n  model-fleet:models: [\n");
        });
        after(() => fs.rmSync(tmp, { recursive: true, force: true }));

        /** One line on stderr, no stack trace. */
        function oneLine(r: { stderr: string }): string {
            assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, "no stack trace");
            const lines = r.stderr.trimEnd().split("\n");
            assert.equal(lines.length, 1, r.stderr);
            return lines[0];
        }

        it("npm run plan -- --stack staging: exit 2, names Pulumi.staging.yaml and the stacks there are", () => {
            const r = runCli("scripts/plan.ts", ["--stack", "staging", "--out", tmp]);
            assert.equal(r.status, 2, r.stderr);
            assert.equal(
                oneLine(r),
                `plan: unknown stack staging: Pulumi.staging.yaml does not exist; use one of ${knownStacks().join(", ")}, or create Pulumi.staging.yaml`,
            );
        });

        it("npm run plan -- --config <missing file>: exit 2, names the file", () => {
            const missing = path.join(tmp, "nope.yaml");
            const r = runCli("scripts/plan.ts", ["--config", missing, "--out", tmp]);
            assert.equal(r.status, 2, r.stderr);
            assert.equal(oneLine(r), `plan: stack file ${missing} does not exist: check the path`);
        });

        it("npm run plan -- --config <YAML syntax error>: exit 1 (a bad config), names the file, line and column", () => {
            const r = runCli("scripts/plan.ts", ["--config", path.join(tmp, "broken.yaml"), "--out", tmp]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(oneLine(r), new RegExp(`^plan: ${path.join(tmp, "broken.yaml")} is not valid YAML at line 3, column 1: .+; fix the file's syntax$`));
        });

        it("npm run policy -- --stack staging and npm run promote -- --to staging: the same line, exit 2", () => {
            const policy = runCli("scripts/policy.ts", ["--stack", "staging", "--out", tmp]);
            assert.equal(policy.status, 2, policy.stderr);
            assert.match(oneLine(policy), /^policy: unknown stack staging: Pulumi\.staging\.yaml does not exist; use one of /);
            const digest = "sha256:" + "ab".repeat(32);
            const promote = runCli("scripts/promote.ts", [
                "--model",
                "sentiment",
                "--to",
                "staging",
                "--digest",
                digest,
                "--version",
                "2.1.5",
                "--repository",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment",
            ]);
            assert.equal(promote.status, 2, promote.stderr);
            assert.match(oneLine(promote), /^promote: unknown stack staging: Pulumi\.staging\.yaml does not exist; use one of /);
        });
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

        it("npm run promote with --digest prints the diff, then needs the registry's scan result (no AWS here): a clear refusal, no stack trace", () => {
            // No credentials and no instance metadata: the ECR call fails fast, as it would on a laptop without AWS.
            const env = {
                ...process.env,
                PATH: path.dirname(process.execPath),
                MODEL_FLEET_TOOLS_DIR: path.join(tmp, "empty-tools"),
                AWS_ACCESS_KEY_ID: "",
                AWS_SECRET_ACCESS_KEY: "",
                AWS_PROFILE: "",
                AWS_EC2_METADATA_DISABLED: "true",
                AWS_CONFIG_FILE: path.join(tmp, "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, "no-aws-credentials"),
            };
            const digest = "sha256:" + "ab".repeat(32);
            const repo = "123456789012.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment";
            const missing = runCli("scripts/promote.ts", ["--model", "sentiment", "--to", "prod", "--digest", digest, "--version", "2.1.5"], env);
            assert.equal(missing.status, 2, "--repository is required with --digest");
            assert.match(missing.stderr, /--repository <host>\/<path> is required with --digest/);
            for (const extra of [[], ["--dry-run"]]) {
                const r = runCli(
                    "scripts/promote.ts",
                    ["--model", "sentiment", "--to", "prod", "--digest", digest, "--version", "2.1.5", "--repository", repo, ...extra],
                    env,
                );
                assert.equal(r.status, 1, r.stderr);
                assert.match(r.stdout, new RegExp(digest), "the diff comes first");
                assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
                assert.match(
                    r.stderr,
                    new RegExp(`cannot read the scan result of ${repo.replace(/\./g, "\\.")}@${digest} from ECR .*ecr:DescribeImageScanFindings`),
                );
            }
        });
    });
});
