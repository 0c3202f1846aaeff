/**
 * The one CLI module of the repository's commands (`npm run plan|policy|promote|bench|docs|reference:fetch`):
 *
 * - `command({...})`: flags parsed with `node:util` `parseArgs` (strict: an unknown flag, a missing value or a stray
 *   argument is a usage error) and a `--help` generated from the same declaration, on every command;
 * - `runMain(cmd, main)`: the shared error handling and exit codes (0 ok; 2 usage; otherwise the command's error
 *   code, 1 by default). Expected errors print one message, a Pulumi `RunError` (a bad stack config) prints as the
 *   Pulumi CLI prints it, a stack file that is missing (exit 2) or no YAML stack file prints one line naming the
 *   file and what to do, anything else with its stack trace;
 * - `table()`: the plain-text tables the commands print;
 * - `requireTool()`: an external tool (the Pulumi CLI, …) from `PATH` or from the sandbox's tool cache
 *   (`${MODEL_FLEET_TOOLS_DIR:-$HOME/.cache/model-fleet/tools}/<name>/<version>/bin/<binary>`), or an error that
 *   names the tool and says what to do instead;
 * - the repository root and the stack-file reader (re-exported from `./stackFile`).
 */
import { toolsDir } from "../support/toolCache";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";

import { StackFileError } from "../support/stackFile";

export {
    CONFIG_NAMESPACE,
    fleetConfigOf,
    readFleetConfig,
    readStackDocument,
    REPO_ROOT,
    StackFileError,
    stackFilePath,
    stackNameOf,
} from "../support/stackFile";
export type { StackDocument } from "../support/stackFile";

/** A bad invocation: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

/** A tool the command needs is not installed: the message says which and what to do. */
export class ToolMissingError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ToolMissingError";
    }
}

export interface OptionSpec {
    type: "string" | "boolean";
    /** May be given more than once (the value is then a list). */
    multiple?: boolean;
    short?: string;
    /** Placeholder of the value in the help (`--stack <name>`). */
    value?: string;
    /** One line for the help. */
    help: string;
}

type ValueOf<S extends OptionSpec> = S["type"] extends "boolean"
    ? S["multiple"] extends true
        ? boolean[]
        : boolean
    : S["multiple"] extends true
      ? string[]
      : string;

/** Parsed flags: each declared option's value, `undefined` when not given. */
export type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]: ValueOf<O[K]> | undefined };

export interface CommandSpec<O extends Record<string, OptionSpec>> {
    /** The npm script: `plan` → `npm run plan`. */
    name: string;
    /** Invocations, each after `npm run <name> --` (may be empty). */
    usage: string[];
    /** What the command does (printed by --help). */
    description: string;
    options: O;
    /** Exit code of a failed run (default 1). Usage errors always exit 2. */
    errorExitCode?: number;
    /** Error classes that are the command's expected failures: printed as `<name>: <message>`, no stack trace. */
    userErrors?: Array<abstract new (...args: any[]) => Error>;
    /** Positional arguments are accepted (a verb and names: `build [name…]`); without it any is a usage error. */
    positionals?: boolean;
}

export type Parsed<O extends Record<string, OptionSpec>> = { help: true } | { help: false; values: Values<O>; positionals: string[] };

export interface Command<O extends Record<string, OptionSpec>> {
    readonly spec: CommandSpec<O>;
    /** `npm run <name> --`. */
    readonly invocation: string;
    /** The `--help` text. */
    help(): string;
    /** `usage: npm run <name> -- …` (every invocation). */
    usage(): string;
    /** Parses the arguments; throws UsageError on anything not declared. */
    parse(argv: readonly string[]): Parsed<O>;
}

const HELP_OPTION: OptionSpec = { type: "boolean", short: "h", help: "show this help and exit" };

function flagText(name: string, o: OptionSpec): string {
    const value = o.type === "string" ? ` <${o.value ?? "value"}>` : "";
    return `${o.short ? `-${o.short}, ` : ""}--${name}${value}${o.multiple ? " (repeatable)" : ""}`;
}

/** A UsageError in the commands' own words for node:util's parse errors. */
function usageErrorFrom(e: any, argv: readonly string[]): UsageError {
    const msg = String(e?.message ?? e);
    switch (e?.code) {
        case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
            const flag = /'([^']+)'/.exec(msg)?.[1] ?? msg;
            return new UsageError(`unknown option ${flag}`);
        }
        case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
            const flag = /'(-[^ ']+)/.exec(msg)?.[1];
            if (flag && /argument missing|ambiguous/.test(msg)) return new UsageError(`${flag} needs a value`);
            if (flag && /does not take an argument/.test(msg)) return new UsageError(`${flag} takes no value`);
            return new UsageError(msg);
        }
        case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL": {
            const arg = /'([^']*)'/.exec(msg)?.[1] ?? argv.find((a) => !a.startsWith("-")) ?? "";
            return new UsageError(`unexpected argument ${arg}`);
        }
        default:
            return new UsageError(msg);
    }
}

/**
 * node:util's parseArgs takes any argument that starts with a dash for an option, so `--repeat -1` is "ambiguous"
 * there while `--repeat=-1` is the value -1. A declared string flag followed by a negative number gets that number
 * as its value (`--flag=-1`), so both spellings reach the command's own validation alike.
 */
function negativeValuesJoined(argv: readonly string[], options: Record<string, OptionSpec>): string[] {
    const out: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i].startsWith("--") && !argv[i].includes("=") ? argv[i].slice(2) : undefined;
        const next = argv[i + 1];
        if (name !== undefined && options[name]?.type === "string" && next !== undefined && /^-(\d|\.\d)/.test(next)) {
            out.push(`${argv[i]}=${next}`);
            i++;
        } else out.push(argv[i]);
    }
    return out;
}

/** Declares a command: its flags, usage and help. */
export function command<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): Command<O> {
    if ("help" in spec.options) throw new Error(`${spec.name}: --help is added to every command, do not declare it`);
    const invocation = `npm run ${spec.name} --`;
    const all: Record<string, OptionSpec> = { ...spec.options, help: HELP_OPTION };
    const usage = (): string => {
        const lines = spec.usage.length > 0 ? spec.usage : [""];
        return lines.length === 1 ? `usage: ${invocation} ${lines[0]}`.trimEnd() : ["usage:", ...lines.map((l) => `  ${invocation} ${l}`.trimEnd())].join("\n");
    };
    return {
        spec,
        invocation,
        usage,
        help() {
            const flags = Object.entries(all).map(([name, o]) => [flagText(name, o), o.help]);
            const width = Math.max(...flags.map(([f]) => f.length));
            return [usage(), "", spec.description.trim(), "", "Options:", ...flags.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`)].join("\n");
        },
        parse(argv) {
            let values: Record<string, unknown>;
            let positionals: string[];
            try {
                const options = Object.fromEntries(
                    Object.entries(all).map(([name, o]) => [
                        name,
                        { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
                    ]),
                );
                ({ values, positionals } = parseArgs({
                    args: negativeValuesJoined(argv, all),
                    options: options as any,
                    strict: true,
                    allowPositionals: spec.positionals ?? false,
                }));
            } catch (e) {
                throw usageErrorFrom(e, argv);
            }
            if (values.help) return { help: true };
            const out: Record<string, unknown> = {};
            for (const name of Object.keys(spec.options)) out[name] = values[name];
            return { help: false, values: out as Values<O>, positionals };
        },
    };
}

function isPulumiRunError(e: unknown): boolean {
    return typeof e === "object" && e !== null && (e as any).__pulumiRunError === true;
}

/**
 * Runs a command's main with the shared handling: `--help` prints the help; a usage error prints it with a pointer
 * to `--help` and exits 2; main's number is the exit code (default 0); a failure exits with the command's error code.
 */
export async function runMain<O extends Record<string, OptionSpec>>(
    cmd: Command<O>,
    main: (values: Values<O>, positionals: string[]) => number | void | Promise<number | void>,
    argv: readonly string[] = process.argv.slice(2),
): Promise<number> {
    const code = await (async (): Promise<number> => {
        try {
            const parsed = cmd.parse(argv);
            if (parsed.help) {
                console.log(cmd.help());
                return 0;
            }
            return (await main(parsed.values, parsed.positionals)) ?? 0;
        } catch (e) {
            return reportError(cmd, e);
        }
    })();
    process.exitCode = code;
    return code;
}

/** Prints an error the shared way and returns the exit code. */
export function reportError(cmd: Command<any>, e: unknown): number {
    const failed = cmd.spec.errorExitCode ?? 1;
    if (e instanceof UsageError) {
        console.error(`${cmd.spec.name}: ${e.message}\nRun \`${cmd.invocation} --help\` for usage.`);
        return 2;
    }
    if (e instanceof StackFileError) {
        // An unknown stack, a wrong --config path (usage errors), or a file that is not a YAML stack file.
        console.error(`${cmd.spec.name}: ${e.message}`);
        return e.reason === "missing" ? 2 : failed;
    }
    if (e instanceof ToolMissingError) {
        console.error(e.message);
        return failed;
    }
    if (isPulumiRunError(e)) {
        // A RunError (a bad stack config): the message only, as the Pulumi CLI prints it.
        console.error((e as Error).message);
        return failed;
    }
    if (e instanceof Error && (cmd.spec.userErrors ?? []).some((cls) => e instanceof cls)) {
        console.error(`${cmd.spec.name}: ${e.message}`);
        return failed;
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return failed;
}

/** Columns padded to their widest cell, two spaces apart, trailing spaces trimmed. */
export function table(rows: string[][]): string {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
    return rows
        .map((r) =>
            r
                .map((cell, c) => (cell ?? "").padEnd(widths[c]))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// External tools

function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

export interface FoundTool {
    path: string;
    /** Where it was found. */
    source: "PATH" | "tool cache";
}

/** `binary` on PATH, else the newest `<tools>/<name>/<version>/bin/<binary>` of the tool cache. */
export function findTool(name: string, binary = name, env: NodeJS.ProcessEnv = process.env): FoundTool | undefined {
    for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
        const file = path.join(dir, binary);
        if (isExecutable(file)) return { path: file, source: "PATH" };
    }
    const root = path.join(toolsDir(env), name);
    const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })) : [];
    for (const version of versions.reverse()) {
        const file = path.join(root, version, "bin", binary);
        if (isExecutable(file)) return { path: file, source: "tool cache" };
    }
    return undefined;
}

export interface ToolRequest {
    /** The tool cache's name for it (`pulumi`), also the binary unless `binary` says otherwise. */
    name: string;
    binary?: string;
    /** How to call it in a sentence: `the Pulumi CLI`. */
    title: string;
    /** What the command needs it for: `to read stack dev's \`images\` output`. */
    purpose: string;
    /** What the user can do about it, most useful first (commands or sentences). */
    instead: string[];
}

/** The message of a missing tool: which one, for what, where it was looked for, and what to do. */
export function missingToolMessage(cmd: Command<any> | string, req: ToolRequest, env: NodeJS.ProcessEnv = process.env): string {
    const who = typeof cmd === "string" ? cmd : `npm run ${cmd.spec.name}`;
    const binary = req.binary ?? req.name;
    return [
        `${who} needs ${req.title} (\`${binary}\`) ${req.purpose}, but \`${binary}\` is neither on PATH nor in the tool cache (${path.join(toolsDir(env), req.name, "<version>", "bin", binary)}).`,
        "What to do:",
        ...req.instead.map((line) => `  - ${line}`),
    ].join("\n");
}

/** The tool's path (PATH first, then the tool cache), or a ToolMissingError naming it and what to do. */
export function requireTool(cmd: Command<any> | string, req: ToolRequest, env: NodeJS.ProcessEnv = process.env): FoundTool {
    const found = findTool(req.name, req.binary ?? req.name, env);
    if (!found) throw new ToolMissingError(missingToolMessage(cmd, req, env));
    return found;
}

/** The instructions for getting the Pulumi CLI (the sandbox's local build, or an install). */
export const PULUMI_CLI_HINTS = [
    "build the sandbox's Pulumi CLI into the tool cache: `npm run tools -- build pulumi` (then rerun; it is picked up from there)",
    "or install the Pulumi CLI (https://www.pulumi.com/docs/install/) and put `pulumi` on PATH",
];
