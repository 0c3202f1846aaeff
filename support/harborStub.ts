/**
 * A local Harbor stand-in for the dynamic provider tests: an HTTP server on 127.0.0.1 (random port) that
 *  - checks every request against Harbor's swagger (reference file `harbor-v2.0-swagger.yaml`, see support/reference.ts;
 *    read on first use, so a suite calls `needsReference(this, HARBOR_SWAGGER)` before it starts the stub): the path must be
 *    a declared path, the method a declared operation on it, query keys declared parameters, integer path parameters
 *    integers, and the JSON body valid against the operation's body schema;
 *  - keeps a small in-memory Harbor (projects, immutable tag rules, retention policies, robots) with the behaviour the
 *    provider relies on (409 on duplicates, Harbor's 400 for a second retention policy, Location headers, robot
 *    name prefixing, secret refresh).
 *
 * Body validation follows the reference README's "Known gaps": the swagger's `definitions` are placed under one JSON
 * schema and referenced as `#/definitions/X`; every schema with `properties` gets `additionalProperties: false`
 * (Harbor's decoder silently drops unknown keys, so a misspelt key would disable a rule without an error), and rule
 * `params` values are free-form (the swagger declares them as objects, Harbor's evaluators take JSON integers).
 * A request that fails any check is answered 400 and recorded in `violations`; tests assert that list is empty.
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import type { AddressInfo } from "net";
import Ajv, { ValidateFunction } from "ajv";
import * as YAML from "yaml";
import { referencePath } from "./reference";

type Dict = Record<string, any>;

export interface StubRequest {
    method: string;
    path: string;
    query: Record<string, string>;
    body: any;
    authorization?: string;
}

interface Operation {
    template: string;
    regex: RegExp;
    literalSegments: number;
    pathParams: string[];
    method: string;
    params: Dict[];
}

/** The reference file the stub is built from. */
export const HARBOR_SWAGGER = "harbor-v2.0-swagger.yaml";

interface HarborApi {
    swagger: Dict;
    /** `/api/v2.0`. */
    base: string;
    ajv: Ajv;
    operations: Operation[];
}

let loadedApi: HarborApi | undefined;
/** Harbor's swagger and what the stub derives from it, built on first use. */
function harborApi(): HarborApi {
    if (loadedApi) return loadedApi;
    const swagger = YAML.parse(fs.readFileSync(referencePath(HARBOR_SWAGGER), "utf8"));
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ $id: "harbor", definitions: strictSchema(swagger.definitions) });
    loadedApi = { swagger, base: swagger.basePath as string, ajv, operations: [] };
    loadedApi.operations = operationsOf(swagger, loadedApi.base);
    return loadedApi;
}

/** Deep copy of a swagger schema with unknown keys forbidden and rule params free-form. */
export function strictSchema(schema: any): any {
    if (Array.isArray(schema)) return schema.map(strictSchema);
    if (schema === null || typeof schema !== "object") return schema;
    const out: Dict = {};
    for (const [k, v] of Object.entries(schema)) {
        if (k === "properties") {
            out.properties = Object.fromEntries(Object.entries(v as Dict).map(([name, s]) => [name, name === "params" ? { type: "object" } : strictSchema(s)]));
        } else if (k === "example") {
            continue;
        } else {
            out[k] = strictSchema(v);
        }
    }
    if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
    return out;
}

const validators = new Map<string, ValidateFunction>();

function bodyValidator(schema: Dict): ValidateFunction {
    const key = JSON.stringify(schema);
    let v = validators.get(key);
    if (!v) {
        // Body schemas are `$ref`s into the definitions (or inline schemas that may contain such refs).
        v = harborApi().ajv.compile(JSON.parse(JSON.stringify(strictSchema(schema)).replace(/"#\/definitions\//g, '"harbor#/definitions/')));
        validators.set(key, v);
    }
    return v;
}

function resolveParam(swagger: Dict, p: Dict): Dict {
    if (typeof p.$ref === "string") {
        const name = p.$ref.replace("#/parameters/", "");
        const resolved = swagger.parameters[name];
        if (!resolved) throw new Error(`unresolved parameter ${p.$ref}`);
        return resolved;
    }
    return p;
}

/** Every operation of the swagger, with a regex matching its full request path (`<base><template>`). */
function operationsOf(swagger: Dict, base: string): Operation[] {
    const operations: Operation[] = [];
    for (const [template, item] of Object.entries(swagger.paths as Dict)) {
        const pathParams: string[] = [];
        const regex = new RegExp(
            "^" +
                base +
                template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_m, name) => {
                    pathParams.push(name);
                    return "([^/]+)";
                }) +
                "$",
        );
        const literalSegments = template.split("/").filter((s) => s && !s.startsWith("{")).length;
        for (const [method, op] of Object.entries(item as Dict)) {
            if (method === "parameters") continue;
            const params = [...((item as Dict).parameters ?? []), ...((op as Dict).parameters ?? [])].map((p) => resolveParam(swagger, p));
            operations.push({ template, regex, literalSegments, pathParams, method: method.toUpperCase(), params });
        }
    }
    return operations;
}

/** The swagger operation for a request, or a reason why there is none. */
export function matchOperation(method: string, path: string): { op?: Operation; params?: Record<string, string>; error?: string } {
    const candidates = harborApi()
        .operations.filter((o) => o.regex.test(path))
        .sort((a, b) => b.literalSegments - a.literalSegments);
    if (candidates.length === 0) return { error: `no swagger path matches ${path}` };
    const op = candidates.find((o) => o.method === method);
    if (!op) return { error: `${method} is not an operation of ${candidates[0].template}` };
    const m = op.regex.exec(path)!;
    const params = Object.fromEntries(op.pathParams.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    return { op, params };
}

/** Checks one request against the swagger; returns the problems (empty when valid). */
export function validateRequest(method: string, path: string, query: Record<string, string>, body: any): string[] {
    const { op, params, error } = matchOperation(method, path);
    if (!op) return [error!];
    const problems: string[] = [];
    for (const p of op.params.filter((x) => x.in === "path")) {
        if (p.type === "integer" && !/^-?\d+$/.test(params![p.name])) problems.push(`path parameter ${p.name}=${params![p.name]} must be an integer`);
    }
    const queryNames = new Set(op.params.filter((x) => x.in === "query").map((x) => x.name));
    for (const k of Object.keys(query)) {
        if (!queryNames.has(k)) problems.push(`query parameter ${k} is not declared for ${method} ${op.template}`);
    }
    const bodyParam = op.params.find((x) => x.in === "body");
    if (bodyParam) {
        if (body === undefined) {
            if (bodyParam.required) problems.push(`${method} ${op.template} requires a JSON body`);
        } else {
            const validate = bodyValidator(bodyParam.schema);
            if (!validate(body)) {
                problems.push(
                    `${method} ${op.template} body does not match ${bodyParam.schema.$ref ?? "schema"}: ` +
                        (validate.errors ?? [])
                            .map(
                                (e) =>
                                    `${e.instancePath || "/"} ${e.message}${e.params && (e.params as Dict).additionalProperty ? ` (${(e.params as Dict).additionalProperty})` : ""}`,
                            )
                            .join("; "),
                );
            }
        }
    } else if (body !== undefined) {
        problems.push(`${method} ${op.template} takes no body`);
    }
    return problems;
}

function errors(code: string, message: string): Dict {
    return { errors: [{ code, message }] };
}

export class HarborStub {
    public readonly requests: StubRequest[] = [];
    public readonly violations: string[] = [];
    public readonly projects = new Map<number, Dict>();
    public readonly immutableRules = new Map<number, Dict>();
    public readonly retentions = new Map<number, Dict>();
    public readonly robots = new Map<number, Dict>();
    /**
     * Artifacts by `<project>/<repository>@<digest>`, as `GET …/artifacts/{reference}` answers them; `scan_overview`
     * is only returned with `with_scan_overview=true`, as Harbor does (swagger `getArtifact`). `GET …/artifacts`
     * (swagger `listArtifacts`) lists a repository's, with their tags, a page at a time.
     */
    public readonly artifacts = new Map<string, Dict>();
    /** Projects that still hold repositories (DELETE answers 412). */
    public readonly nonEmptyProjects = new Set<number>();
    /** Canned answers for the next matching request(s); `effect` runs first (e.g. another client's concurrent write). */
    public failNext: Array<{ method: string; path: string; status: number; body?: any; effect?: () => void }> = [];
    private nextId = 1;
    private server?: http.Server;
    public url = "";

    constructor(
        public readonly username = "admin",
        public readonly password = "S3cret-Harbor-Pass",
    ) {}

    /**
     * Listens on 127.0.0.1: a random port over HTTP by default; the sandbox passes a fixed port and a TLS key pair
     * (HTTPS, as a real Harbor serves).
     */
    async start(opts: { port?: number; tls?: { key: string; cert: string } } = {}): Promise<void> {
        const handler: http.RequestListener = (req, res) => {
            let raw = "";
            req.setEncoding("utf8");
            req.on("data", (c) => (raw += c));
            req.on("end", () => {
                const { status, body, headers } = this.handle(req, raw);
                res.writeHead(status, { "Content-Type": "application/json", ...(headers ?? {}) });
                res.end(body === undefined ? "" : JSON.stringify(body));
            });
        };
        this.server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
        // Keep-alive sockets would hold the server open after the tests.
        this.server.keepAliveTimeout = 1;
        await new Promise<void>((resolve, reject) => {
            this.server!.once("error", reject);
            this.server!.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
        });
        this.url = `${opts.tls ? "https" : "http"}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    async stop(): Promise<void> {
        if (!this.server) return;
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server!.close(() => resolve()));
        this.server = undefined;
    }

    /** Requests other than GETs, as "METHOD path" (for asserting what a call changed). */
    writes(since = 0): string[] {
        return this.requests
            .slice(since)
            .filter((r) => r.method !== "GET")
            .map((r) => `${r.method} ${r.path}`);
    }

    seedProject(name: string, metadata: Dict = { public: "false", auto_scan: "true" }): Dict {
        const id = this.nextId++;
        const p = { project_id: id, name, metadata: { ...metadata }, creation_time: new Date().toISOString() };
        this.projects.set(id, p);
        return p;
    }

    private id(): number {
        return this.nextId++;
    }

    private handle(req: http.IncomingMessage, raw: string): { status: number; body?: any; headers?: Record<string, string> } {
        const url = new URL(req.url ?? "/", this.url);
        const method = (req.method ?? "GET").toUpperCase();
        const path = url.pathname;
        const query = Object.fromEntries(url.searchParams.entries());
        let body: any = undefined;
        if (raw.length > 0) {
            try {
                body = JSON.parse(raw);
            } catch {
                this.violations.push(`${method} ${path}: body is not JSON`);
                return { status: 400, body: errors("BAD_REQUEST", "invalid JSON") };
            }
        }
        this.requests.push({ method, path, query, body, authorization: req.headers.authorization });
        const problems = validateRequest(method, path, query, body);
        if (problems.length > 0) {
            this.violations.push(...problems);
            return { status: 400, body: errors("BAD_REQUEST", problems.join("; ")) };
        }
        const expected = "Basic " + Buffer.from(`${this.username}:${this.password}`).toString("base64");
        if (req.headers.authorization !== expected) return { status: 401, body: errors("UNAUTHORIZED", "unauthorized") };
        const i = this.failNext.findIndex((f) => f.method === method && f.path === path);
        if (i >= 0) {
            const [forced] = this.failNext.splice(i, 1);
            forced.effect?.();
            return { status: forced.status, body: forced.body };
        }
        return this.route(method, path.slice(harborApi().base.length), query, body);
    }

    private projectByRef(ref: string): Dict | undefined {
        if (/^\d+$/.test(ref)) return this.projects.get(Number(ref));
        return [...this.projects.values()].find((p) => p.name === ref);
    }

    private route(method: string, path: string, query: Dict, body: any): { status: number; body?: any; headers?: Record<string, string> } {
        let m: RegExpExecArray | null;
        const notFound = { status: 404, body: errors("NOT_FOUND", `${path} not found`) };

        if (path === "/projects" && method === "GET") {
            return { status: 200, body: [...this.projects.values()].filter((p) => !query.name || p.name.includes(query.name)) };
        }
        if (path === "/projects" && method === "POST") {
            if ([...this.projects.values()].some((p) => p.name === body.project_name)) {
                return { status: 409, body: errors("CONFLICT", `The project named ${body.project_name} already exists`) };
            }
            const p = this.seedProject(body.project_name, body.metadata ?? { public: "false" });
            return { status: 201, headers: { Location: `${harborApi().base}/projects/${p.project_id}` } };
        }
        if ((m = /^\/projects\/([^/]+)$/.exec(path))) {
            const p = this.projectByRef(decodeURIComponent(m[1]));
            if (!p) return notFound;
            if (method === "GET") return { status: 200, body: p };
            if (method === "PUT") {
                p.metadata = { ...p.metadata, ...(body.metadata ?? {}) };
                return { status: 200 };
            }
            if (method === "DELETE") {
                if (this.nonEmptyProjects.has(p.project_id)) return { status: 412, body: errors("PRECONDITION", "the project contains repositories") };
                this.projects.delete(p.project_id);
                return { status: 200 };
            }
        }
        if ((m = /^\/projects\/([^/]+)\/immutabletagrules$/.exec(path))) {
            const p = this.projectByRef(decodeURIComponent(m[1]));
            if (!p) return notFound;
            const rules = [...this.immutableRules.values()].filter((r) => r.project_id === p.project_id);
            if (method === "GET") return { status: 200, body: rules.map(({ project_id, ...r }) => r) };
            if (method === "POST") {
                const pattern = body.tag_selectors?.[0]?.pattern;
                if (rules.some((r) => r.tag_selectors?.[0]?.pattern === pattern)) return { status: 409, body: errors("CONFLICT", "rule exists") };
                const id = this.id();
                this.immutableRules.set(id, { ...body, id, project_id: p.project_id, priority: 0 });
                return { status: 201, headers: { Location: `${harborApi().base}${path}/${id}` } };
            }
        }
        if ((m = /^\/projects\/([^/]+)\/immutabletagrules\/(\d+)$/.exec(path))) {
            const p = this.projectByRef(decodeURIComponent(m[1]));
            const rule = this.immutableRules.get(Number(m[2]));
            if (!p || !rule || rule.project_id !== p.project_id) return notFound;
            if (method === "PUT") {
                if (body.id !== Number(m[2]))
                    return { status: 400, body: errors("BAD_REQUEST", "the immutable_rule_id doesn't match the id in the payload body") };
                this.immutableRules.set(rule.id, { ...body, project_id: p.project_id });
                return { status: 200 };
            }
            if (method === "DELETE") {
                this.immutableRules.delete(rule.id);
                return { status: 200 };
            }
        }
        if ((m = /^\/projects\/([^/]+)\/repositories\/([^/]+)\/artifacts$/.exec(path)) && method === "GET") {
            // listArtifacts: the repository's artifacts, newest push first, a page at a time (page from 1, page_size default 10).
            const prefix = `${decodeURIComponent(m[1])}/${decodeURIComponent(decodeURIComponent(m[2]))}@`;
            const all = [...this.artifacts.entries()]
                .filter(([k]) => k.startsWith(prefix))
                .map(([, a]) => a)
                .sort((a, b) => String(b.push_time).localeCompare(String(a.push_time)));
            const page = Number(query.page ?? 1);
            const size = Number(query.page_size ?? 10);
            const rows = all.slice((page - 1) * size, page * size).map(({ scan_overview, tags, ...rest }) => ({
                ...rest,
                ...(query.with_tag === "false" ? {} : { tags: tags ?? null }),
            }));
            return { status: 200, body: rows, headers: { "X-Total-Count": String(all.length) } };
        }
        if ((m = /^\/projects\/([^/]+)\/repositories\/([^/]+)\/artifacts\/([^/]+)$/.exec(path)) && method === "GET") {
            // The repository segment arrives URL-encoded twice (`a%252Fb`), as the swagger asks of clients.
            const key = `${decodeURIComponent(m[1])}/${decodeURIComponent(decodeURIComponent(m[2]))}@${decodeURIComponent(m[3])}`;
            const artifact = this.artifacts.get(key);
            if (!artifact) return notFound;
            const { scan_overview, ...rest } = artifact;
            return { status: 200, body: query.with_scan_overview === "true" && scan_overview ? { ...rest, scan_overview } : rest };
        }
        if (path === "/retentions" && method === "POST") {
            const p = this.projects.get(body.scope?.ref);
            if (!p) return { status: 400, body: errors("BAD_REQUEST", `invalid Project id ${body.scope?.ref}`) };
            if (p.metadata.retention_id)
                return { status: 400, body: errors("BAD_REQUEST", `project ${p.project_id} already has retention policy ${p.metadata.retention_id}`) };
            if ((body.rules ?? []).length > 15) return { status: 400, body: errors("BAD_REQUEST", "only 15 rules are allowed at most") };
            const id = this.id();
            this.retentions.set(id, { ...body, id });
            p.metadata.retention_id = String(id);
            return { status: 201, headers: { Location: `${harborApi().base}/retentions/${id}` } };
        }
        if ((m = /^\/retentions\/(\d+)$/.exec(path))) {
            const id = Number(m[1]);
            const policy = this.retentions.get(id);
            if (method === "GET") return policy ? { status: 200, body: policy } : notFound;
            if (method === "PUT") {
                if (!policy) return notFound;
                this.retentions.set(id, { ...body, id });
                return { status: 200 };
            }
            if (method === "DELETE") {
                // Harbor wraps the not-found error of DeleteRetention in a 400.
                if (!policy) return { status: 400, body: errors("BAD_REQUEST", `retention ${id} not found`) };
                this.retentions.delete(id);
                const p = this.projects.get(policy.scope?.ref);
                if (p) delete p.metadata.retention_id;
                return { status: 200 };
            }
        }
        if (path === "/robots" && method === "GET") {
            const q = Object.fromEntries(
                (query.q ?? "")
                    .split(",")
                    .filter(Boolean)
                    .map((kv: string) => kv.split("=")),
            );
            return {
                status: 200,
                body: [...this.robots.values()].filter((r) => q.Level === "project" && String(r.project_id) === q.ProjectID).map(this.publicRobot),
            };
        }
        if (path === "/robots" && method === "POST") {
            if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(body.name))
                return { status: 400, body: errors("BAD_REQUEST", "robot name is not in lower case or contains illegal characters") };
            const ns = body.permissions?.[0]?.namespace;
            const p = this.projectByRef(ns);
            if (!p) return { status: 404, body: errors("NOT_FOUND", `project ${ns} not found`) };
            const fullName = `robot$${p.name}+${body.name}`;
            if ([...this.robots.values()].some((r) => r.name === fullName))
                return { status: 409, body: errors("CONFLICT", `robot ${fullName} already exists`) };
            const id = this.id();
            const secret = `Sec${id}${Math.random().toString(36).slice(2)}X`;
            this.robots.set(id, {
                id,
                name: fullName,
                description: body.description,
                level: body.level,
                duration: body.duration,
                disable: body.disable,
                permissions: body.permissions,
                project_id: p.project_id,
                secret,
            });
            return {
                status: 201,
                headers: { Location: `${harborApi().base}/robots/${id}` },
                body: { id, name: fullName, secret, creation_time: new Date().toISOString(), expires_at: -1 },
            };
        }
        if ((m = /^\/robots\/(\d+)$/.exec(path))) {
            const r = this.robots.get(Number(m[1]));
            if (!r) return notFound;
            if (method === "GET") return { status: 200, body: this.publicRobot(r) };
            if (method === "PUT") {
                if (body.name !== r.name || body.level !== r.level)
                    return { status: 400, body: errors("BAD_REQUEST", "cannot update the level or name of robot") };
                Object.assign(r, { description: body.description, duration: body.duration, disable: body.disable, permissions: body.permissions });
                return { status: 200 };
            }
            if (method === "PATCH") {
                r.secret = `Rot${r.id}${Math.random().toString(36).slice(2)}X`;
                return { status: 200, body: { secret: r.secret } };
            }
            if (method === "DELETE") {
                this.robots.delete(r.id);
                return { status: 200 };
            }
        }
        return { status: 501, body: errors("NOT_IMPLEMENTED", `stub does not implement ${method} ${path}`) };
    }

    private publicRobot = (r: Dict): Dict => {
        const { secret, project_id, ...rest } = r;
        return { ...rest, editable: true };
    };
}
