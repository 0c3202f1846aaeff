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

/** The parsed stack file; `config` is `{}` when the file has none. */
export function readStackDocument(stackOrFile: string): StackDocument {
    const file = stackFilePath(stackOrFile);
    const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as Record<string, any>;
    return { ...doc, config: doc.config ?? {} };
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
