/**
 * The config reference (docs/config-reference.md), generated from the schema (so it cannot drift): one row per key
 * with its type, default, constraint, an example taken from the real stack files, and the schema's description.
 * `npm run docs` (scripts/docs.ts) writes the file; tests/docs/readme.spec.ts fails when it is stale.
 */
import { z } from "zod";
import { configSchema } from "./schema";

type JsonSchema = Record<string, any>;

export interface ReferenceRow {
    key: string;
    type: string;
    required: boolean;
    default?: unknown;
    constraint: string;
    example?: unknown;
    description: string;
}

function typeOf(s: JsonSchema): string {
    if (s.enum) return "enum";
    if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
    if (s.type === "array") return `${typeOf(s.items ?? {})}[]`;
    if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") {
        return `map<string, ${typeOf(s.additionalProperties)}>`;
    }
    return s.type ?? "any";
}

function constraintOf(s: JsonSchema): string {
    const parts: string[] = [];
    if (s.enum) parts.push(s.enum.map((v: unknown) => `\`${v}\``).join(", "));
    if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
    if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
    if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${s.maximum}`);
    if (s.minLength !== undefined) parts.push(`length ≥ ${s.minLength}`);
    if (s.maxLength !== undefined) parts.push(`length ≤ ${s.maxLength}`);
    if (s.minItems !== undefined) parts.push(`≥ ${s.minItems} item(s)`);
    if (s.format) parts.push(s.format);
    if (s.pattern) parts.push(`matches \`${s.pattern}\``);
    if (s.type === "array" && s.items && s.items.type !== "object") {
        const inner = constraintOf(s.items);
        if (inner) parts.push(`each ${inner}`);
    }
    return parts.join("; ");
}

function valueAt(root: unknown, key: string): unknown {
    let cur: any = root;
    for (const part of key.split(".")) {
        if (cur === undefined || cur === null) return undefined;
        const arr = part.endsWith("[]");
        cur = cur[arr ? part.slice(0, -2) : part];
        if (arr) cur = Array.isArray(cur) ? cur.find((x) => x !== undefined) : undefined;
    }
    return cur;
}

function walk(s: JsonSchema, prefix: string, required: boolean, rows: ReferenceRow[], examples: unknown[]): void {
    const isObject = s.type === "object" && s.properties;
    const isObjectArray = s.type === "array" && s.items?.type === "object" && s.items.properties;
    if (isObject || isObjectArray) {
        const obj = isObject ? s : s.items;
        const base = isObjectArray ? `${prefix}[]` : prefix;
        if (prefix) {
            rows.push(row(s, prefix, required, examples, true));
        }
        for (const [k, child] of Object.entries<JsonSchema>(obj.properties)) {
            walk(child, base ? `${base}.${k}` : k, (obj.required ?? []).includes(k), rows, examples);
        }
        return;
    }
    if (s.anyOf && s.anyOf.every((a: JsonSchema) => a.type === "object")) {
        rows.push(row(s, prefix, required, examples, true));
        for (const alt of s.anyOf) walk({ ...alt, description: undefined }, prefix, required, rows, examples);
        return;
    }
    rows.push(row(s, prefix, required, examples, false));
}

function row(s: JsonSchema, key: string, required: boolean, examples: unknown[], container: boolean): ReferenceRow {
    let example: unknown;
    if (!container) {
        for (const e of examples) {
            example = valueAt(e, key);
            if (example !== undefined) break;
        }
    }
    return {
        key,
        type: container ? (s.type === "array" ? "object[]" : s.anyOf ? "one of" : "object") : typeOf(s),
        required,
        default: s.default,
        constraint: container ? "" : constraintOf(s),
        example,
        description: s.description ?? "",
    };
}

/** Rows for every key of the schema; examples are stack-file config objects (keys without the namespace). */
export function configReferenceRows(examples: unknown[]): ReferenceRow[] {
    const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
    const rows: ReferenceRow[] = [];
    walk(schema, "", true, rows, examples);
    // Keys under union alternatives appear once each.
    const seen = new Set<string>();
    return rows.filter((r) => (seen.has(r.key) ? false : (seen.add(r.key), true)));
}

const cell = (v: unknown): string => (v === undefined ? "" : `\`${typeof v === "string" ? v : JSON.stringify(v)}\``.replace(/\|/g, "\\|"));

/** The markdown table of docs/config-reference.md. */
export function configReferenceMarkdown(examples: unknown[]): string {
    const lines = [
        "| key (`model-fleet:` …) | type | required | default | constraint | example | description |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ];
    for (const r of configReferenceRows(examples)) {
        lines.push(
            `| \`${r.key}\` | ${r.type} | ${r.required ? "yes" : "no"} | ${cell(r.default)} | ${r.constraint.replace(/\|/g, "\\|")} | ${cell(r.example)} | ${r.description.replace(/\|/g, "\\|")} |`,
        );
    }
    return lines.join("\n");
}
