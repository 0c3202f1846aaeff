/**
 * Validates rendered Kubernetes objects against upstream schemas.
 *
 * - Built-in kinds (core `v1`, `apps/v1`, `autoscaling/v2`, `policy/v1`, `networking.k8s.io/v1`, `rbac…`, …):
 *   `kubernetes-models` 4.x (CommonJS), module `kubernetes-models/<apiVersion>/<Kind>`.
 * - Argo Rollouts kinds (`argoproj.io/v1alpha1`: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun,
 *   Experiment): `@kubernetes-models/argo-rollouts` 2.x, which is ESM-only, loaded with a real dynamic `import()`.
 * - Anything else (ServiceMonitor, VirtualService, …): status "no-schema"; the caller decides (assert fields by
 *   hand, or allow-list the kind).
 *
 * On top of the schema, the metadata rules the API server enforces but the JSON schemas do not (name grammar,
 * label/annotation key and value grammar) are checked for every object, schema or not.
 *
 * Caveat: the kubernetes-models validators do NOT reject unknown fields (the OpenAPI schemas allow additional
 * properties), so a misspelt optional field passes. `unknownFields()` closes that gap by type-checking the objects
 * against the same packages' TypeScript declarations, whose excess-property check flags every key the type does
 * not declare; program code gets the same check at compile time from `@pulumi/kubernetes`' typed inputs.
 */
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";

export const NO_SCHEMA = "no schema";

export type ValidationStatus = "valid" | "invalid" | "no-schema";

export interface ValidationResult {
    status: ValidationStatus;
    /** Human-readable problems (`<path> <message>`); for "no-schema", a single `no schema for …` line. */
    errors: string[];
    /** Module the schema came from, when there is one. */
    schema?: string;
}

export interface K8sLike {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: any;
    [key: string]: unknown;
}

/** API groups served by @kubernetes-models/argo-rollouts. */
const ARGO_GROUP_VERSION = "argoproj.io/v1alpha1";
const ARGO_KINDS = new Set(["Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment"]);
/** Kinds whose name must be a DNS-1035 label (Services become DNS names and env vars). */
const DNS1035_NAME_KINDS = new Set(["v1/Service"]);
/** Kinds whose name must be a DNS-1123 label. */
const DNS1123_LABEL_NAME_KINDS = new Set(["v1/Namespace"]);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** `apps/v1 Deployment models/iris`, for messages. */
export function describeObject(obj: K8sLike): string {
    const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
    return `${String(obj.apiVersion)} ${String(obj.kind)} ${ns}${obj.metadata?.name ?? "<unnamed>"}`;
}

function isDns1123Subdomain(s: string): boolean {
    return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** Label/annotation key grammar: `[prefix/]name`, prefix a DNS subdomain, name a qualified name ≤ 63. */
export function keyProblem(key: string): string | undefined {
    const parts = key.split("/");
    if (parts.length > 2) return "has more than one '/'";
    const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
    if (prefix !== undefined && !isDns1123Subdomain(prefix)) return `prefix '${prefix}' is not a DNS-1123 subdomain`;
    if (name.length === 0 || name.length > 63) return "name part must be 1..63 characters";
    if (!QUALIFIED_NAME.test(name)) return `name part '${name}' must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric`;
    return undefined;
}

/** Metadata rules the API server enforces that the OpenAPI schemas do not express. */
export function metadataProblems(obj: K8sLike): string[] {
    const out: string[] = [];
    const gvk = `${String(obj.apiVersion)}/${String(obj.kind)}`;
    const md = obj.metadata;
    if (typeof obj.apiVersion !== "string" || obj.apiVersion === "") out.push("/apiVersion must be a non-empty string");
    if (typeof obj.kind !== "string" || obj.kind === "") out.push("/kind must be a non-empty string");
    if (md === undefined || md === null || typeof md !== "object") {
        out.push("/metadata is required");
        return out;
    }
    const name = md.name;
    if (typeof name !== "string" || name === "") {
        if (typeof md.generateName !== "string") out.push("/metadata/name is required");
    } else if (DNS1035_NAME_KINDS.has(gvk)) {
        if (name.length > 63 || !DNS1035_LABEL.test(name)) out.push(`/metadata/name '${name}' must be a DNS-1035 label (≤ 63, [a-z]([-a-z0-9]*[a-z0-9])?)`);
    } else if (DNS1123_LABEL_NAME_KINDS.has(gvk)) {
        if (name.length > 63 || !DNS1123_LABEL.test(name)) out.push(`/metadata/name '${name}' must be a DNS-1123 label (≤ 63)`);
    } else if (!isDns1123Subdomain(name)) {
        out.push(`/metadata/name '${name}' must be a DNS-1123 subdomain`);
    }
    if (md.namespace !== undefined && (typeof md.namespace !== "string" || md.namespace.length > 63 || !DNS1123_LABEL.test(md.namespace))) {
        out.push(`/metadata/namespace '${String(md.namespace)}' must be a DNS-1123 label`);
    }
    for (const [field, values] of [
        ["labels", md.labels],
        ["annotations", md.annotations],
    ] as const) {
        if (values === undefined) continue;
        if (values === null || typeof values !== "object" || Array.isArray(values)) {
            out.push(`/metadata/${field} must be a map of strings`);
            continue;
        }
        for (const [k, v] of Object.entries(values)) {
            const kp = keyProblem(k);
            if (kp) out.push(`/metadata/${field} key '${k}' ${kp}`);
            if (typeof v !== "string") {
                out.push(`/metadata/${field}/${k} must be a string, got ${JSON.stringify(v)}`);
            } else if (field === "labels" && (v.length > 63 || !LABEL_VALUE.test(v))) {
                out.push(`/metadata/labels/${k} value '${v}' is not a valid label value (≤ 63, alphanumeric, '-', '_', '.')`);
            }
        }
    }
    return out;
}

type ModelClass = { new (data: unknown): { validate(): void }; apiVersion?: string; kind?: string };

const classCache = new Map<string, ModelClass | null>();

/** The argo-rollouts package directory, found from this file's module search paths (independent of cwd). */
function argoRolloutsDir(): string | undefined {
    for (const dir of require.resolve.paths("@kubernetes-models/argo-rollouts") ?? []) {
        const candidate = path.join(dir, "@kubernetes-models", "argo-rollouts");
        if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    }
    return undefined;
}

// A real `import()`: TypeScript compiles `await import(x)` to `require(x)` under module=commonjs, and the ESM-only
// package exports no `require` condition.
const dynamicImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<any>;

function isIdentifier(s: string): boolean {
    return /^[A-Za-z][A-Za-z0-9]*$/.test(s);
}

/** The model class for apiVersion/kind, or undefined when no installed package has a schema for it. */
export async function modelClassFor(apiVersion: string, kind: string): Promise<{ cls: ModelClass; module: string } | undefined> {
    const key = `${apiVersion}/${kind}`;
    if (!isIdentifier(kind) || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
    if (apiVersion === ARGO_GROUP_VERSION) {
        const module = `@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/${kind}`;
        if (!classCache.has(key)) {
            const dir = argoRolloutsDir();
            const file = dir && path.join(dir, "argoproj.io", "v1alpha1", `${kind}.js`);
            let cls: ModelClass | null = null;
            if (ARGO_KINDS.has(kind) && file && fs.existsSync(file)) {
                const mod = await dynamicImport(pathToFileURL(file).href);
                cls = (mod[kind] as ModelClass) ?? null;
            }
            classCache.set(key, cls);
        }
        const cls = classCache.get(key);
        return cls ? { cls, module } : undefined;
    }
    const module = `kubernetes-models/${apiVersion}/${kind}`;
    if (!classCache.has(key)) {
        let cls: ModelClass | null = null;
        try {
            const mod = require(module);
            const candidate = mod[kind] as ModelClass | undefined;
            // Only top-level kinds (sub-schemas such as DeploymentSpec have no apiVersion/kind).
            if (candidate && candidate.apiVersion === apiVersion && candidate.kind === kind) cls = candidate;
        } catch (e: any) {
            if (e?.code !== "MODULE_NOT_FOUND" && e?.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
        }
        classCache.set(key, cls);
    }
    const cls = classCache.get(key);
    return cls ? { cls, module } : undefined;
}

function schemaErrors(e: any): string[] {
    if (Array.isArray(e?.errors) && e.errors.length > 0) {
        return e.errors.map((err: any) => {
            const extra =
                err.keyword === "additionalProperties"
                    ? ` (${err.params?.additionalProperty})`
                    : err.keyword === "enum"
                      ? ` (${JSON.stringify(err.params?.allowedValues)})`
                      : "";
            return `${err.instancePath || "/"} ${err.message ?? err.keyword}${extra}`;
        });
    }
    return [String(e?.message ?? e)];
}

/** Full result for one object. */
export async function validateK8sObjectDetailed(obj: K8sLike): Promise<ValidationResult> {
    const meta = metadataProblems(obj);
    const apiVersion = String(obj.apiVersion);
    const kind = String(obj.kind);
    const found = typeof obj.apiVersion === "string" && typeof obj.kind === "string" ? await modelClassFor(apiVersion, kind) : undefined;
    if (!found) {
        return { status: meta.length > 0 ? "invalid" : "no-schema", errors: [...meta, `${NO_SCHEMA} for ${apiVersion} ${kind}`] };
    }
    const errors = [...meta];
    try {
        // Round-trip through JSON: what the API server receives (drops undefined, Outputs must already be resolved).
        new found.cls(JSON.parse(JSON.stringify(obj))).validate();
    } catch (e) {
        errors.push(...schemaErrors(e));
    }
    return { status: errors.length === 0 ? "valid" : "invalid", errors, schema: found.module };
}

/**
 * Problems with one object: [] when valid. For a kind without a schema the only entry is `no schema for
 * <apiVersion> <kind>` (see `isNoSchema`), plus any metadata problems.
 */
export async function validateK8sObject(obj: K8sLike): Promise<string[]> {
    return (await validateK8sObjectDetailed(obj)).errors;
}

/** True when the only problem reported is the absence of a schema. */
export function isNoSchema(errors: string[]): boolean {
    return errors.length === 1 && errors[0].startsWith(NO_SCHEMA);
}

export interface ObjectReport extends ValidationResult {
    object: K8sLike;
    id: string;
}

/** Validates many objects; `describeObject` ids for messages. */
export async function validateK8sObjects(objs: K8sLike[]): Promise<ObjectReport[]> {
    const out: ObjectReport[] = [];
    for (const object of objs) {
        out.push({ object, id: describeObject(object), ...(await validateK8sObjectDetailed(object)) });
    }
    return out;
}

/** One line per invalid object (and per no-schema object unless `allowNoSchema` lists its `apiVersion/kind`). */
export function formatReports(reports: ObjectReport[], allowNoSchema: string[] = []): string[] {
    const lines: string[] = [];
    for (const r of reports) {
        if (r.status === "valid") continue;
        if (r.status === "no-schema" && allowNoSchema.includes(`${String(r.object.apiVersion)}/${String(r.object.kind)}`)) continue;
        lines.push(`${r.id}: ${r.errors.join("; ")}`);
    }
    return lines;
}

/** Where a type for a kind's excess-property check comes from. */
function typeImportFor(apiVersion: string, kind: string): { module: string; name: string } | undefined {
    if (!isIdentifier(kind)) return undefined;
    if (apiVersion === ARGO_GROUP_VERSION) {
        return ARGO_KINDS.has(kind) ? { module: `@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/${kind}`, name: `I${kind}` } : undefined;
    }
    return { module: `kubernetes-models/${apiVersion}/${kind}`, name: `I${kind}` };
}

/**
 * Keys the upstream types do not declare (misspelt or invented fields, which the API server drops silently or,
 * with strict field validation, rejects). Each object is written as a literal typed with the `I<Kind>` interface
 * of kubernetes-models / @kubernetes-models/argo-rollouts and compiled with the TypeScript compiler; every object
 * literal is then compared key by key with its contextual type (so every unknown key is found, not only the first
 * one TypeScript's excess-property error would name). Free-form maps (labels, `nodeSelector`, …) have index
 * signatures and accept any key. Returns, per input index, `<path>: unknown field '<key>' (not in <type>)` lines;
 * kinds without a schema are skipped (see `validateK8sObject`).
 */
export async function unknownFields(objs: K8sLike[]): Promise<Map<number, string[]>> {
    const ts: typeof import("typescript") = require("typescript");
    const fileName = path.join(__dirname, "__k8s_unknown_fields__.ts");
    const imports: string[] = [];
    const decls: string[] = [];
    const declIndex = new Map<string, number>();
    const importedAs = new Map<string, string>();
    for (const [i, obj] of objs.entries()) {
        if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") continue;
        const t = typeImportFor(obj.apiVersion, obj.kind);
        // Same coverage as the schema validation: only kinds an installed package models.
        if (!t || !(await modelClassFor(obj.apiVersion, obj.kind))) continue;
        let alias = importedAs.get(t.module);
        if (!alias) {
            alias = `T${importedAs.size}`;
            importedAs.set(t.module, alias);
            imports.push(`import type { ${t.name} as ${alias} } from ${JSON.stringify(t.module)};`);
        }
        const varName = `o${i}`;
        declIndex.set(varName, i);
        decls.push(`export const ${varName}: ${alias} = ${JSON.stringify(JSON.parse(JSON.stringify(obj)))};`);
    }
    const result = new Map<number, string[]>();
    if (decls.length === 0) return result;
    const source = `${imports.join("\n")}\n${decls.join("\n")}\n`;
    const options: import("typescript").CompilerOptions = {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.CommonJS,
        moduleResolution: ts.ModuleResolutionKind.Node10,
        types: [],
        lib: ["lib.es2022.d.ts"],
    };
    const host = ts.createCompilerHost(options, true);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
        path.resolve(name) === fileName
            ? ts.createSourceFile(name, source, languageVersion, true)
            : getSourceFile(name, languageVersion, onError, shouldCreate);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => path.resolve(name) === fileName || fileExists(name);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (path.resolve(name) === fileName ? source : readFile(name));
    const program = ts.createProgram([fileName], options, host);
    const sf = program.getSourceFile(fileName)!;
    // An import that does not resolve would make every type `any` and silently disable the check.
    for (const d of program.getSemanticDiagnostics(sf)) {
        if (d.code === 2307 || d.code === 2305 || d.code === 2614 || d.code === 2724) {
            throw new Error(`unknownFields: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
        }
    }
    const checker = program.getTypeChecker();

    const objectTypesOf = (type: import("typescript").Type): import("typescript").Type[] | undefined => {
        const members = type.isUnion() ? type.types : [type];
        if (members.some((t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) return undefined;
        const objects = members.filter((t) => t.flags & ts.TypeFlags.Object || t.flags & ts.TypeFlags.Intersection);
        return objects.length > 0 ? objects : undefined;
    };
    const walk = (node: import("typescript").Node, index: number, p: string[]): void => {
        if (ts.isObjectLiteralExpression(node)) {
            const ctype = checker.getContextualType(node);
            const types = ctype && objectTypesOf(ctype);
            for (const prop of node.properties) {
                if (!ts.isPropertyAssignment(prop)) continue;
                const key = ts.isStringLiteral(prop.name) || ts.isIdentifier(prop.name) ? prop.name.text : prop.name.getText(sf);
                if (types) {
                    const known = types.some((t) => checker.getPropertyOfType(t, key) !== undefined || checker.getIndexInfosOfType(t).length > 0);
                    if (!known) {
                        const list = result.get(index) ?? [];
                        list.push(`/${p.join("/")}: unknown field '${key}' (not in ${types.map((t) => checker.typeToString(t)).join(" | ")})`);
                        result.set(index, list);
                        continue; // nothing below an unknown key has a type
                    }
                }
                walk(prop.initializer, index, [...p, key]);
            }
            return;
        }
        if (ts.isArrayLiteralExpression(node)) {
            node.elements.forEach((el, i) => walk(el, index, [...p, String(i)]));
            return;
        }
    };
    for (const stmt of sf.statements) {
        if (!ts.isVariableStatement(stmt)) continue;
        for (const decl of stmt.declarationList.declarations) {
            if (ts.isIdentifier(decl.name) && decl.initializer && declIndex.has(decl.name.text)) {
                walk(decl.initializer, declIndex.get(decl.name.text)!, []);
            }
        }
    }
    return result;
}
