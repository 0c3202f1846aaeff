/**
 * The one reader of stack files (`Pulumi.<stack>.yaml`, or any file of that shape such as
 * `tests/fixtures/stacks/harbor.yaml`) for the commands, the mock harness and the tests, and the repository root
 * they all resolve paths against. The program itself never reads these files: the Pulumi CLI (or the harness)
 * hands it the config.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE } from "../config/schema";

export { CONFIG_NAMESPACE };

/** The repository root (the directory of `Pulumi.yaml` and `package.json`). */
export const REPO_ROOT = path.resolve(__dirname, "..");

/** The Pulumi project name; the stack config namespace is the project name (`Pulumi.yaml` `name`). */
export const PROJECT = CONFIG_NAMESPACE;

/** A parsed stack file. `config` keys are full keys (`model-fleet:models`, `aws:region`). */
export interface StackDocument {
    config: Record<string, any>;
    [key: string]: unknown;
}

/**
 * Path of a stack's file: `dev` (or a fully qualified `org/project/dev`) → `<repo>/Pulumi.dev.yaml`; a `.yaml`
 * file, or an existing path, is taken as it is (relative to the working directory).
 */
export function stackFilePath(stackOrFile: string): string {
    if (/\.ya?ml$/.test(stackOrFile) || (stackOrFile.includes("/") && fs.existsSync(stackOrFile))) {
        return path.resolve(stackOrFile);
    }
    return path.join(REPO_ROOT, `Pulumi.${stackOrFile.split("/").pop()}.yaml`);
}

/** Name of the stack a config file stands for: `Pulumi.dev.yaml` → `dev`, `fixtures/x.yaml` → `x`, `org/p/dev` → `dev`. */
export function stackNameOf(stackOrFile: string): string {
    const base = path.basename(stackOrFile).replace(/\.ya?ml$/, "");
    return base.startsWith("Pulumi.") ? base.slice("Pulumi.".length) : base;
}

/**
 * A stack file that cannot be used: missing (an unknown stack or a wrong path) or not a YAML stack document. The
 * message is one line that names the file and says what to do; the commands print it without a stack trace.
 */
export class StackFileError extends Error {
    constructor(
        message: string,
        /** The file as the user named it (or the stack's `Pulumi.<stack>.yaml`). */
        public readonly file: string,
        /** `missing`: a bad stack name or path (a usage error); `invalid`: the file is there but is no stack file. */
        public readonly reason: "missing" | "invalid",
    ) {
        super(message);
        this.name = "StackFileError";
    }
}

/** A path as the user reads it: relative to the working directory when inside it. */
function shown(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** The stacks that have a `Pulumi.<stack>.yaml` in the repository root. */
export function knownStacks(): string[] {
    return fs
        .readdirSync(REPO_ROOT)
        .flatMap((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1] ?? [])
        .sort();
}

/** The parsed stack file; `config` is `{}` when the file has none. Throws StackFileError when it cannot be used. */
export function readStackDocument(stackOrFile: string): StackDocument {
    const file = stackFilePath(stackOrFile);
    // A stack's own file (`Pulumi.<stack>.yaml` in the repository root), however it was named.
    const isStackName = file === path.join(REPO_ROOT, `Pulumi.${stackNameOf(file)}.yaml`);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e: any) {
        if (e?.code === "ENOENT" && isStackName) {
            const stack = stackNameOf(stackOrFile);
            throw new StackFileError(
                `unknown stack ${stack}: ${shown(file)} does not exist; use one of ${knownStacks().join(", ")}, or create ${path.basename(file)}`,
                file,
                "missing",
            );
        }
        if (e?.code === "ENOENT") throw new StackFileError(`stack file ${shown(file)} does not exist: check the path`, file, "missing");
        throw new StackFileError(`cannot read stack file ${shown(file)} (${e?.code ?? e?.message ?? e}): check the path`, file, "missing");
    }
    let doc: unknown;
    try {
        doc = YAML.parse(text);
    } catch (e: any) {
        const first = String(e?.message ?? e)
            .split("\n")[0]
            .replace(/ at line \d+, column \d+:?$/, "");
        const pos = e?.linePos?.[0];
        const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
        throw new StackFileError(`${shown(file)} is not valid YAML${where}: ${first}; fix the file's syntax`, file, "invalid");
    }
    doc ??= {};
    if (typeof doc !== "object" || Array.isArray(doc)) {
        throw new StackFileError(`${shown(file)} is not a stack file: expected a mapping with a \`config:\` key; fix the file`, file, "invalid");
    }
    const config = (doc as Record<string, any>).config ?? {};
    if (typeof config !== "object" || Array.isArray(config)) {
        throw new StackFileError(`${shown(file)}: \`config:\` must be a mapping of keys to values; fix the file`, file, "invalid");
    }
    return { ...(doc as Record<string, any>), config };
}

/** The `model-fleet:*` entries of a stack document's config, keyed without the namespace. */
export function fleetConfigOf(doc: { config?: Record<string, unknown> } | undefined): Record<string, any> {
    const prefix = `${CONFIG_NAMESPACE}:`;
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(doc?.config ?? {})) {
        if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
    }
    return out;
}

/** A stack's `model-fleet:*` config (keys without the namespace) and its `aws:region`. */
export function readFleetConfig(stackOrFile: string): { stack: string; region?: string; config: Record<string, any> } {
    const doc = readStackDocument(stackOrFile);
    return { stack: stackNameOf(stackOrFile), region: doc.config["aws:region"], config: fleetConfigOf(doc) };
}
