/**
 * The policy config file (`npm run policy -- --policy-config <file.json>`, the same JSON as
 * `pulumi preview --policy-pack-config`), read and validated as a whole with zod before any policy runs: one error
 * lists every bad entry, with the valid enforcement levels.
 *
 * The rules are the Pulumi CLI's (pulumi/pulumi `pkg/resource/analyzer/config.go`, `parsePolicyPackConfig` and
 * `extractEnforcementLevel`): the file is a JSON object (empty content is no config); each entry is an enforcement
 * level or an object whose optional `enforcementLevel` is one, its other keys being the policy's own config; a
 * level must be one of `apitype.EnforcementLevel`'s values, the ones @pulumi/policy 1.21 declares
 * (`EnforcementLevel` in `@pulumi/policy/policy.d.ts`: advisory, mandatory, remediate, disabled); the key `all`
 * sets the level of every policy (`applyConfig`). Stricter than the CLI in one way: an entry naming no policy of
 * the pack is an error here (the CLI ignores it, so a misspelt name silently configures nothing).
 */
import * as fs from "fs";
import * as path from "path";
import type { EnforcementLevel } from "@pulumi/policy";
import { z } from "zod";
import type { PackConfig } from "./evaluate";

/** Every enforcement level @pulumi/policy 1.21 accepts (its `EnforcementLevel` type; checked by the tests). */
export const ENFORCEMENT_LEVELS = ["advisory", "mandatory", "remediate", "disabled"] as const satisfies readonly EnforcementLevel[];

/** The key that sets every policy's level (the Pulumi CLI's `applyConfig`). */
export const ALL_POLICIES = "all";

const levelText = ENFORCEMENT_LEVELS.join(", ");
const level = z.enum(ENFORCEMENT_LEVELS, { error: (i) => `${JSON.stringify(i.input)} is not an enforcement level (valid: ${levelText})` });
/** An entry's object form: an optional level, the rest is the policy's own config. */
const objectEntry = z.looseObject({ enforcementLevel: level.optional() });

/** A policy config file that cannot be used; the message is one line naming the file and what to do. */
export class PolicyConfigError extends Error {
    constructor(
        message: string,
        public readonly file: string,
    ) {
        super(message);
        this.name = "PolicyConfigError";
    }
}

/** Every problem of a parsed policy config, one string each (`<policy>: <problem>`); empty when it is usable. */
export function packConfigIssues(raw: unknown, policyNames: readonly string[]): string[] {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        return [`expected a JSON object (policy name → level, or { "enforcementLevel": level, ...config }), got ${JSON.stringify(raw)}`];
    }
    const known = new Set([...policyNames, ALL_POLICIES]);
    const issues: string[] = [];
    for (const [name, value] of Object.entries(raw)) {
        if (!known.has(name)) {
            issues.push(`${name}: not a policy of the pack (docs/design/policy-pack.md lists them)`);
            continue;
        }
        const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
        if (typeof value !== "string" && !isObject) {
            issues.push(`${name}: expected an enforcement level (${levelText}) or an object, got ${JSON.stringify(value)}`);
            continue;
        }
        const parsed = typeof value === "string" ? level.safeParse(value) : objectEntry.safeParse(value);
        for (const i of parsed.success ? [] : parsed.error.issues) issues.push([name, ...i.path.map(String), i.message].join(": "));
    }
    return issues;
}

/** The policy config from JSON text; throws PolicyConfigError listing every problem. */
export function parsePackConfig(text: string, file: string, policyNames: readonly string[]): PackConfig {
    const shown = path.relative(process.cwd(), path.resolve(file)).startsWith("..") ? path.resolve(file) : path.relative(process.cwd(), path.resolve(file));
    if (text.trim() === "") return {}; // as the CLI: empty content is no config
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch (e: any) {
        throw new PolicyConfigError(`policy config ${shown} is not valid JSON (${e?.message ?? e}); fix the file's syntax`, file);
    }
    const issues = packConfigIssues(raw, policyNames);
    if (issues.length > 0) throw new PolicyConfigError(`policy config ${shown} is invalid: ${issues.join("; ")}; fix these entries`, file);
    return raw as PackConfig;
}

/** Reads and validates a policy config file; throws PolicyConfigError when it is missing or invalid. */
export function readPackConfig(file: string, policyNames: readonly string[]): PackConfig {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e: any) {
        const why = e?.code === "ENOENT" ? "does not exist" : `cannot be read (${e?.code ?? e?.message ?? e})`;
        throw new PolicyConfigError(
            `policy config ${file} ${why}: check the --policy-config path (policy/production.json and policy/development.json ship with the pack)`,
            file,
        );
    }
    return parsePackConfig(text, file, policyNames);
}
