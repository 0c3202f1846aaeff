/**
 * Pulumi dynamic providers for Harbor (REST API v2.0, reference file `harbor-v2.0-swagger.yaml`): project,
 * tag-immutability rule, tag-retention policy and robot account. Serialized by Pulumi's closure serializer: plain
 * functions and constants only (the few exports are small and class-free). Semantics and the Harbor behaviour relied
 * on (goharbor/harbor `src/server/v2.0/handler`): docs/design/registry-across-stacks.md.
 */
import type * as pulumiDynamic from "@pulumi/pulumi/dynamic";

type Dict = Record<string, any>;

/** Connection fields every Harbor resource carries. `password` is a secret input and output. */
interface HarborConnection {
    url: string;
    username: string;
    password: string;
}

interface HarborResponse {
    status: number;
    body: any;
    location?: string;
}

/** Pulumi's marker for values unknown during preview. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const API_PREFIX = "/api/v2.0";
const REQUEST_TIMEOUT_MS = 30000;
const PAGE_SIZE = 100;
const MAX_RETENTION_RULES = 15;
const MAX_LATEST_PUSHED_K = 32766;
const HARBOR_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

function connectionOf(props: Dict): HarborConnection {
    return { url: props.url, username: props.username, password: props.password };
}

function basicAuth(conn: HarborConnection): string {
    return "Basic " + Buffer.from(`${conn.username}:${conn.password}`, "utf8").toString("base64");
}

function harborMessage(body: any): string {
    if (body && Array.isArray(body.errors) && body.errors.length > 0) {
        return body.errors.map((e: any) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    }
    return typeof body === "string" ? body.slice(0, 500) : "";
}

function httpError(method: string, path: string, res: HarborResponse): Error {
    const err: any = new Error(
        `Harbor ${method} ${API_PREFIX}${path} failed with HTTP ${res.status}${harborMessage(res.body) ? `: ${harborMessage(res.body)}` : ""}`,
    );
    err.status = res.status;
    return err;
}

/**
 * One Harbor API call. Statuses in `allow` are returned to the caller; any other non-2xx throws. The error never
 * includes request headers, so credentials cannot leak through it.
 */
async function harborRequest(
    conn: HarborConnection,
    method: string,
    path: string,
    opts: { body?: unknown; query?: Record<string, string>; allow?: number[] } = {},
): Promise<HarborResponse> {
    const url = new URL(conn.url.replace(/\/+$/, "") + API_PREFIX + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: "application/json", Authorization: basicAuth(conn) };
    let payload: string | undefined;
    if (opts.body !== undefined) {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(opts.body);
    }
    let response: Response;
    try {
        response = await fetch(url, { method, headers, body: payload, redirect: "error", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (e: any) {
        throw new Error(`Harbor ${method} ${API_PREFIX}${path} failed: ${e?.name === "TimeoutError" ? "timed out" : (e?.message ?? e)}`);
    }
    const text = await response.text();
    let body: any = undefined;
    if (text.length > 0) {
        try {
            body = JSON.parse(text);
        } catch {
            body = text;
        }
    }
    const res: HarborResponse = { status: response.status, body, location: response.headers.get("location") ?? undefined };
    if ((res.status < 200 || res.status >= 300) && !(opts.allow ?? []).includes(res.status)) {
        throw httpError(method, path, res);
    }
    return res;
}

/** The numeric id at the end of a Location header (`/api/v2.0/retentions/7` → 7). */
function idFromLocation(location: string | undefined): number | undefined {
    const m = /\/(\d+)\/?$/.exec(location ?? "");
    return m ? Number(m[1]) : undefined;
}

function stable(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
    if (value !== null && typeof value === "object") {
        return `{${Object.keys(value as Dict)
            .sort()
            .filter((k) => (value as Dict)[k] !== undefined)
            .map((k) => `${JSON.stringify(k)}:${stable((value as Dict)[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(value);
}

function containsUnknown(value: unknown): boolean {
    if (value === UNKNOWN) return true;
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (value !== null && typeof value === "object") return Object.values(value as Dict).some(containsUnknown);
    return false;
}

/**
 * Diff over the declared fields only. `news` are check()ed inputs (defaults filled), `olds` the stored outputs.
 * A field whose new value is unknown (preview) counts as changed.
 */
function diffFields(olds: Dict, news: Dict, fields: string[], replaceFields: string[]): pulumiDynamic.DiffResult {
    const changed = fields.filter((k) => news[k] !== undefined && (containsUnknown(news[k]) || stable(olds[k]) !== stable(news[k])));
    const replaces = changed.filter((k) => replaceFields.includes(k));
    return { changes: changed.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
}

function checkConnection(news: Dict, failures: pulumiDynamic.CheckFailure[]): void {
    if (news.url !== UNKNOWN) {
        let ok: boolean;
        try {
            ok = typeof news.url === "string" && new URL(news.url).protocol === "https:";
        } catch {
            ok = false;
        }
        if (!ok) failures.push({ property: "url", reason: "must be an https:// URL of the Harbor instance" });
    }
    if (typeof news.username !== "string" || news.username.length === 0) failures.push({ property: "username", reason: "must be set" });
    if (typeof news.password !== "string" || news.password.length === 0) failures.push({ property: "password", reason: "must be set (as a Pulumi secret)" });
}

function isInt(v: unknown, min: number, max: number): boolean {
    return v === UNKNOWN || (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max);
}

// ---------------------------------------------------------------------------------------------------------------
// Project
// ---------------------------------------------------------------------------------------------------------------

const PROJECT_FIELDS = ["url", "username", "password", "name", "public", "autoScan", "preventVul", "severity", "requireCosign"];
/** Harbor's project `severity` values (swagger `ProjectMetadata.severity`). */
const HARBOR_PROJECT_SEVERITIES = ["none", "low", "medium", "high", "critical"];

function projectSpec(inputs: Dict): Dict {
    return {
        ...connectionOf(inputs),
        name: inputs.name,
        public: inputs.public ?? false,
        autoScan: inputs.autoScan ?? true,
        preventVul: inputs.preventVul ?? false,
        severity: inputs.severity ?? "high",
        requireCosign: inputs.requireCosign ?? false,
    };
}

/**
 * The project metadata model-fleet manages (swagger `ProjectMetadata`: every value a string): anonymous pull,
 * scan on push (Trivy), refusing pulls of artifacts with findings at or above `severity` (`prevent_vul`), and
 * refusing pulls of artifacts without a cosign signature (`enable_content_trust_cosign`).
 */
function projectMetadata(spec: Dict): Dict {
    return {
        public: String(spec.public),
        auto_scan: String(spec.autoScan),
        prevent_vul: String(spec.preventVul),
        severity: String(spec.severity),
        enable_content_trust_cosign: String(spec.requireCosign),
    };
}

function projectOuts(spec: Dict, live: Dict): Dict {
    const m = live.metadata;
    return {
        ...connectionOf(spec),
        name: live.name ?? spec.name,
        public: m ? m.public === "true" : spec.public,
        autoScan: m ? m.auto_scan === "true" : spec.autoScan,
        preventVul: m ? m.prevent_vul === "true" : spec.preventVul,
        severity: m ? (m.severity ?? "") : spec.severity,
        requireCosign: m ? m.enable_content_trust_cosign === "true" : spec.requireCosign,
        projectId: live.project_id,
    };
}

async function getProjectByName(conn: HarborConnection, name: string): Promise<Dict | undefined> {
    // X-Is-Resource-Name is not sent: a project name never parses as an integer (it must contain a letter), and an
    // explicit query keeps the request inside the declared parameters of GET /projects.
    const res = await harborRequest(conn, "GET", "/projects", { query: { name, page_size: String(PAGE_SIZE) } });
    return (Array.isArray(res.body) ? res.body : []).find((p: Dict) => p.name === name);
}

async function getProjectById(conn: HarborConnection, id: number | string): Promise<Dict | undefined> {
    const res = await harborRequest(conn, "GET", `/projects/${encodeURIComponent(String(id))}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body;
}

async function projectCreate(inputs: Dict): Promise<pulumiDynamic.CreateResult> {
    const spec = projectSpec(inputs);
    const conn = connectionOf(spec);
    const res = await harborRequest(conn, "POST", "/projects", {
        body: { project_name: spec.name, metadata: projectMetadata(spec) },
        allow: [409],
    });
    let live = await getProjectByName(conn, spec.name);
    if (!live) throw new Error(`Harbor project ${spec.name} not found after create`);
    if (res.status === 409) {
        // Adopt: converge the metadata we manage.
        const current = projectOuts(spec, live);
        if (["public", "autoScan", "preventVul", "severity", "requireCosign"].some((k) => current[k] !== spec[k])) {
            await harborRequest(conn, "PUT", `/projects/${live.project_id}`, { body: { metadata: projectMetadata(spec) } });
            live = (await getProjectById(conn, live.project_id)) ?? live;
        }
    }
    return { id: String(live.project_id), outs: projectOuts(spec, live) };
}

async function projectRead(id: string, props: Dict): Promise<pulumiDynamic.ReadResult> {
    const conn = connectionOf(props);
    const live = await getProjectById(conn, id);
    if (!live) return {};
    return { id, props: projectOuts(props, live) };
}

async function projectUpdate(id: string, _olds: Dict, news: Dict): Promise<pulumiDynamic.UpdateResult> {
    const spec = projectSpec(news);
    const conn = connectionOf(spec);
    await harborRequest(conn, "PUT", `/projects/${encodeURIComponent(id)}`, { body: { metadata: projectMetadata(spec) } });
    const live = await getProjectById(conn, id);
    if (!live) throw new Error(`Harbor project ${id} disappeared during update`);
    return { outs: projectOuts(spec, live) };
}

async function projectDelete(id: string, props: Dict): Promise<void> {
    // 412: the project still holds repositories; Harbor refuses and so do we (the error says why).
    await harborRequest(connectionOf(props), "DELETE", `/projects/${encodeURIComponent(id)}`, { allow: [404] });
}

async function projectCheck(_olds: Dict, news: Dict): Promise<pulumiDynamic.CheckResult> {
    const failures: pulumiDynamic.CheckFailure[] = [];
    checkConnection(news, failures);
    if (news.name !== UNKNOWN && (typeof news.name !== "string" || !HARBOR_NAME.test(news.name) || news.name.length > 255)) {
        failures.push({ property: "name", reason: "must be a Harbor project name (lower-case alphanumerics separated by . _ -)" });
    }
    if (news.severity !== undefined && news.severity !== UNKNOWN && !HARBOR_PROJECT_SEVERITIES.includes(news.severity)) {
        failures.push({ property: "severity", reason: `must be one of Harbor's severities: ${HARBOR_PROJECT_SEVERITIES.join(", ")}` });
    }
    return { inputs: { ...news, ...projectSpec(news) }, failures };
}

const harborProjectProvider: pulumiDynamic.ResourceProvider = {
    check: async (olds, news) => projectCheck(olds, news),
    diff: async (_id, olds, news) => diffFields(olds, projectSpec(news), PROJECT_FIELDS, ["url", "name"]),
    create: async (inputs) => projectCreate(inputs),
    read: async (id, props) => projectRead(id, props ?? {}),
    update: async (id, olds, news) => projectUpdate(id, olds, news),
    delete: async (id, props) => projectDelete(id, props),
};

// ---------------------------------------------------------------------------------------------------------------
// Tag immutability rule
// ---------------------------------------------------------------------------------------------------------------

/**
 * Defaults of the immutability rule and the retention policy (module-local: dynamic provider code is serialized
 * with what it references). The release pattern is the release tags' glob (domain/image/tag.ts RELEASE_TAG_PATTERN).
 */
export const HARBOR_DEFAULTS = { releasePattern: "v*", repositoryPattern: "**", schedule: "0 0 0 * * *" } as const;

const IMMUTABLE_FIELDS = ["url", "username", "password", "projectId", "tagPattern", "repositoryPattern"];

/** The immutability rule's own inputs with the defaults applied (the resource and the provider both use it). */
export function immutableRuleInputs(inputs: Dict): Dict {
    return {
        projectId: inputs.projectId,
        tagPattern: inputs.tagPattern ?? HARBOR_DEFAULTS.releasePattern,
        repositoryPattern: inputs.repositoryPattern ?? HARBOR_DEFAULTS.repositoryPattern,
    };
}

function immutableSpec(inputs: Dict): Dict {
    return { ...connectionOf(inputs), ...immutableRuleInputs(inputs) };
}

function immutableBody(spec: Dict, id?: number): Dict {
    return {
        ...(id !== undefined ? { id } : {}),
        disabled: false,
        action: "immutable",
        template: "immutable_template",
        tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: spec.tagPattern }],
        scope_selectors: { repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: spec.repositoryPattern }] },
    };
}

function immutablePatterns(rule: Dict): { tagPattern?: string; repositoryPattern?: string } {
    return {
        tagPattern: rule.tag_selectors?.[0]?.pattern,
        repositoryPattern: rule.scope_selectors?.repository?.[0]?.pattern,
    };
}

async function listImmutableRules(conn: HarborConnection, projectId: number): Promise<Dict[]> {
    const res = await harborRequest(conn, "GET", `/projects/${projectId}/immutabletagrules`, { query: { page_size: String(PAGE_SIZE) } });
    return Array.isArray(res.body) ? res.body : [];
}

function immutableOuts(spec: Dict, rule: Dict): Dict {
    const p = immutablePatterns(rule);
    return {
        ...connectionOf(spec),
        projectId: spec.projectId,
        tagPattern: p.tagPattern,
        repositoryPattern: p.repositoryPattern,
        ruleId: rule.id,
        disabled: rule.disabled === true,
    };
}

async function immutableCreate(inputs: Dict): Promise<pulumiDynamic.CreateResult> {
    const spec = immutableSpec(inputs);
    const conn = connectionOf(spec);
    const res = await harborRequest(conn, "POST", `/projects/${spec.projectId}/immutabletagrules`, { body: immutableBody(spec), allow: [409] });
    const rules = await listImmutableRules(conn, spec.projectId);
    const createdId = res.status === 201 ? idFromLocation(res.location) : undefined;
    let rule = rules.find((r) =>
        createdId !== undefined
            ? r.id === createdId
            : immutablePatterns(r).tagPattern === spec.tagPattern && immutablePatterns(r).repositoryPattern === spec.repositoryPattern,
    );
    if (!rule) throw new Error(`Harbor immutable rule ${spec.tagPattern} not found in project ${spec.projectId} after create`);
    if (rule.disabled === true) {
        // Adopted a disabled rule: enable it.
        await harborRequest(conn, "PUT", `/projects/${spec.projectId}/immutabletagrules/${rule.id}`, { body: immutableBody(spec, rule.id) });
        rule = { ...rule, disabled: false };
    }
    return { id: String(rule.id), outs: immutableOuts(spec, rule) };
}

async function immutableRead(id: string, props: Dict): Promise<pulumiDynamic.ReadResult> {
    const conn = connectionOf(props);
    if ((await getProjectById(conn, props.projectId)) === undefined) return {};
    const rule = (await listImmutableRules(conn, props.projectId)).find((r) => String(r.id) === id);
    if (!rule) return {};
    return { id, props: immutableOuts(props, rule) };
}

async function immutableUpdate(id: string, _olds: Dict, news: Dict): Promise<pulumiDynamic.UpdateResult> {
    const spec = immutableSpec(news);
    await harborRequest(connectionOf(spec), "PUT", `/projects/${spec.projectId}/immutabletagrules/${Number(id)}`, { body: immutableBody(spec, Number(id)) });
    return {
        outs: {
            ...connectionOf(spec),
            projectId: spec.projectId,
            tagPattern: spec.tagPattern,
            repositoryPattern: spec.repositoryPattern,
            ruleId: Number(id),
            disabled: false,
        },
    };
}

async function immutableDelete(id: string, props: Dict): Promise<void> {
    await harborRequest(connectionOf(props), "DELETE", `/projects/${props.projectId}/immutabletagrules/${Number(id)}`, { allow: [404] });
}

function checkPattern(news: Dict, key: string, failures: pulumiDynamic.CheckFailure[]): void {
    const v = news[key];
    if (v !== undefined && v !== UNKNOWN && (typeof v !== "string" || v.length === 0)) failures.push({ property: key, reason: "must be a non-empty pattern" });
}

const harborImmutableRuleProvider: pulumiDynamic.ResourceProvider = {
    check: async (_olds, news) => {
        const failures: pulumiDynamic.CheckFailure[] = [];
        checkConnection(news, failures);
        if (!isInt(news.projectId, 1, Number.MAX_SAFE_INTEGER)) failures.push({ property: "projectId", reason: "must be a Harbor project id" });
        checkPattern(news, "tagPattern", failures);
        checkPattern(news, "repositoryPattern", failures);
        return { inputs: { ...news, ...immutableSpec(news) }, failures };
    },
    diff: async (_id, olds, news) => diffFields(olds, immutableSpec(news), IMMUTABLE_FIELDS, ["url", "projectId"]),
    create: async (inputs) => immutableCreate(inputs),
    read: async (id, props) => immutableRead(id, props ?? {}),
    update: async (id, olds, news) => immutableUpdate(id, olds, news),
    delete: async (id, props) => immutableDelete(id, props),
};

// ---------------------------------------------------------------------------------------------------------------
// Tag retention policy
// ---------------------------------------------------------------------------------------------------------------

const RETENTION_FIELDS = ["url", "username", "password", "projectId", "keepReleases", "releasePattern", "protectPatterns", "untaggedDays", "schedule"];

/** The retention policy's own inputs with the defaults applied (the resource and the provider both use it). */
export function retentionPolicyInputs(inputs: Dict): Dict {
    return {
        projectId: inputs.projectId,
        keepReleases: inputs.keepReleases,
        releasePattern: inputs.releasePattern ?? HARBOR_DEFAULTS.releasePattern,
        protectPatterns: inputs.protectPatterns ?? [],
        untaggedDays: inputs.untaggedDays,
        schedule: inputs.schedule ?? HARBOR_DEFAULTS.schedule,
    };
}

function retentionSpec(inputs: Dict): Dict {
    return { ...connectionOf(inputs), ...retentionPolicyInputs(inputs) };
}

function tagSelector(decoration: "matches" | "excludes", pattern: string, untagged: boolean): Dict {
    return { kind: "doublestar", decoration, pattern, extras: JSON.stringify({ untagged }) };
}

const ALL_REPOSITORIES = { repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }] };

/**
 * The RetentionPolicy body. Harbor retention keeps what any rule retains (algorithm "or") and deletes the rest of
 * each repository in scope, so the three ECR rules become three kinds of retain rules:
 *  - `always` for each protected pattern (tagged artifacts only);
 *  - `latestPushedK` = keepReleases over release tags (tagged artifacts only, so untagged ones never take a slot);
 *  - `nDaysSinceLastPush` = untaggedDays over every artifact, untagged included: untagged artifacts older than that
 *    are no longer retained by anything and are cleaned up.
 * Exported so that `npm run versions` evaluates the very body this provider writes (release/retentionVerdict.ts).
 */
export function retentionBody(spec: Dict, id?: number): Dict {
    const rule = (template: string, params: Dict, selector: Dict) => ({
        disabled: false,
        action: "retain",
        template,
        params,
        tag_selectors: [selector],
        scope_selectors: ALL_REPOSITORIES,
    });
    return {
        ...(id !== undefined ? { id } : {}),
        algorithm: "or",
        rules: [
            ...(spec.protectPatterns as string[]).map((p) => rule("always", {}, tagSelector("matches", p, false))),
            rule("latestPushedK", { latestPushedK: spec.keepReleases }, tagSelector("matches", spec.releasePattern, false)),
            rule("nDaysSinceLastPush", { nDaysSinceLastPush: spec.untaggedDays }, tagSelector("matches", "**", true)),
        ],
        trigger: { kind: "Schedule", settings: { cron: spec.schedule }, references: {} },
        scope: { level: "project", ref: spec.projectId },
    };
}

/** Reads our settings back out of a live policy (for refresh and drift detection). */
function retentionOuts(spec: Dict, live: Dict, id: number): Dict {
    const rules: Dict[] = Array.isArray(live.rules) ? live.rules.filter((r: Dict) => r.disabled !== true) : [];
    const pattern = (r: Dict) => r.tag_selectors?.[0]?.pattern;
    const latest = rules.find((r) => r.template === "latestPushedK");
    const days = rules.find((r) => r.template === "nDaysSinceLastPush");
    return {
        ...connectionOf(spec),
        projectId: live.scope?.ref ?? spec.projectId,
        keepReleases: latest ? Number(latest.params?.latestPushedK) : undefined,
        releasePattern: latest ? pattern(latest) : undefined,
        protectPatterns: rules.filter((r) => r.template === "always").map(pattern),
        untaggedDays: days ? Number(days.params?.nDaysSinceLastPush) : undefined,
        schedule: live.trigger?.settings?.cron,
        retentionId: id,
    };
}

async function projectRetentionId(conn: HarborConnection, projectId: number): Promise<number | undefined> {
    const project = await getProjectById(conn, projectId);
    if (!project) throw new Error(`Harbor project ${projectId} not found`);
    const rid = project.metadata?.retention_id;
    return rid ? Number(rid) : undefined;
}

async function getRetention(conn: HarborConnection, id: number): Promise<Dict | undefined> {
    const res = await harborRequest(conn, "GET", `/retentions/${id}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body;
}

async function retentionCreate(inputs: Dict): Promise<pulumiDynamic.CreateResult> {
    const spec = retentionSpec(inputs);
    const conn = connectionOf(spec);
    // A project holds at most one policy; POST answers 400 when one is bound, so look first and adopt it.
    let id = await projectRetentionId(conn, spec.projectId);
    if (id === undefined) {
        const res = await harborRequest(conn, "POST", "/retentions", { body: retentionBody(spec), allow: [400, 409] });
        if (res.status === 201) {
            id = idFromLocation(res.location) ?? (await projectRetentionId(conn, spec.projectId));
        } else {
            id = await projectRetentionId(conn, spec.projectId);
            if (id === undefined) throw httpError("POST", "/retentions", res);
        }
        if (id === undefined) throw new Error(`Harbor retention policy for project ${spec.projectId} not found after create`);
        if (res.status === 201) {
            const live = await getRetention(conn, id);
            return { id: String(id), outs: retentionOuts(spec, live ?? retentionBody(spec, id), id) };
        }
    }
    await harborRequest(conn, "PUT", `/retentions/${id}`, { body: retentionBody(spec, id) });
    const live = await getRetention(conn, id);
    return { id: String(id), outs: retentionOuts(spec, live ?? retentionBody(spec, id), id) };
}

async function retentionRead(id: string, props: Dict): Promise<pulumiDynamic.ReadResult> {
    const live = await getRetention(connectionOf(props), Number(id));
    if (!live) return {};
    return { id, props: retentionOuts(props, live, Number(id)) };
}

async function retentionUpdate(id: string, _olds: Dict, news: Dict): Promise<pulumiDynamic.UpdateResult> {
    const spec = retentionSpec(news);
    const conn = connectionOf(spec);
    await harborRequest(conn, "PUT", `/retentions/${Number(id)}`, { body: retentionBody(spec, Number(id)) });
    const live = await getRetention(conn, Number(id));
    return { outs: retentionOuts(spec, live ?? retentionBody(spec, Number(id)), Number(id)) };
}

async function retentionDelete(id: string, props: Dict): Promise<void> {
    const conn = connectionOf(props);
    const res = await harborRequest(conn, "DELETE", `/retentions/${Number(id)}`, { allow: [400, 404] });
    // Harbor wraps "policy not found" on DELETE in a 400; it is only success if the policy is really gone.
    if (res.status === 400 && (await getRetention(conn, Number(id))) !== undefined) {
        throw httpError("DELETE", `/retentions/${Number(id)}`, res);
    }
}

const harborRetentionPolicyProvider: pulumiDynamic.ResourceProvider = {
    check: async (_olds, news) => {
        const failures: pulumiDynamic.CheckFailure[] = [];
        checkConnection(news, failures);
        const spec = retentionSpec(news);
        if (!isInt(spec.projectId, 1, Number.MAX_SAFE_INTEGER)) failures.push({ property: "projectId", reason: "must be a Harbor project id" });
        if (!isInt(spec.keepReleases, 1, MAX_LATEST_PUSHED_K))
            failures.push({ property: "keepReleases", reason: `must be an integer from 1 to ${MAX_LATEST_PUSHED_K} (Harbor latestPushedK limit)` });
        if (!isInt(spec.untaggedDays, 1, 36500)) failures.push({ property: "untaggedDays", reason: "must be an integer ≥ 1" });
        checkPattern(spec, "releasePattern", failures);
        if (spec.protectPatterns !== UNKNOWN) {
            const list = spec.protectPatterns;
            if (!Array.isArray(list) || list.some((p: unknown) => p !== UNKNOWN && (typeof p !== "string" || p.length === 0))) {
                failures.push({ property: "protectPatterns", reason: "must be a list of non-empty patterns" });
            } else if (new Set(list).size !== list.length) {
                failures.push({ property: "protectPatterns", reason: "must not repeat a pattern (Harbor rejects identical rules)" });
            } else if (list.length + 2 > MAX_RETENTION_RULES) {
                failures.push({
                    property: "protectPatterns",
                    reason: `at most ${MAX_RETENTION_RULES - 2} patterns (Harbor allows ${MAX_RETENTION_RULES} rules per policy)`,
                });
            }
        }
        if (spec.schedule !== UNKNOWN && (typeof spec.schedule !== "string" || spec.schedule.trim().split(/\s+/).length !== 6)) {
            failures.push({ property: "schedule", reason: "must be a 6-field cron expression (seconds first), e.g. '0 0 0 * * *'" });
        }
        return { inputs: { ...news, ...spec }, failures };
    },
    diff: async (_id, olds, news) => diffFields(olds, retentionSpec(news), RETENTION_FIELDS, ["url", "projectId"]),
    create: async (inputs) => retentionCreate(inputs),
    read: async (id, props) => retentionRead(id, props ?? {}),
    update: async (id, olds, news) => retentionUpdate(id, olds, news),
    delete: async (id, props) => retentionDelete(id, props),
};

// ---------------------------------------------------------------------------------------------------------------
// Robot account (pull only)
// ---------------------------------------------------------------------------------------------------------------

const ROBOT_FIELDS = ["url", "username", "password", "projectId", "projectName", "name", "description", "duration"];

function robotSpec(inputs: Dict): Dict {
    return {
        ...connectionOf(inputs),
        projectId: inputs.projectId,
        projectName: inputs.projectName,
        name: inputs.name,
        description: inputs.description ?? "Pulls model images (managed by Pulumi)",
        duration: inputs.duration ?? -1,
    };
}

function robotPermissions(spec: Dict): Dict[] {
    return [{ kind: "project", namespace: spec.projectName, access: [{ resource: "repository", action: "pull" }] }];
}

function robotOuts(spec: Dict, live: Dict, secret: string): Dict {
    return {
        ...connectionOf(spec),
        projectId: spec.projectId,
        projectName: spec.projectName,
        name: spec.name,
        description: live.description ?? spec.description,
        duration: live.duration ?? spec.duration,
        robotId: live.id,
        fullName: live.name,
        secret,
    };
}

async function findRobot(conn: HarborConnection, spec: Dict): Promise<Dict | undefined> {
    const res = await harborRequest(conn, "GET", "/robots", { query: { q: `Level=project,ProjectID=${spec.projectId}`, page_size: String(PAGE_SIZE) } });
    const robots: Dict[] = Array.isArray(res.body) ? res.body : [];
    // Harbor shows project robots as `<prefix><project>+<name>` (prefix `robot$` by default, configurable).
    return robots.find((r) => typeof r.name === "string" && r.name.endsWith(`${spec.projectName}+${spec.name}`));
}

function robotUpdateBody(spec: Dict, live: Dict): Dict {
    return {
        id: live.id,
        name: live.name,
        description: spec.description,
        level: "project",
        duration: spec.duration,
        disable: false,
        permissions: robotPermissions(spec),
    };
}

async function robotCreate(inputs: Dict): Promise<pulumiDynamic.CreateResult> {
    const spec = robotSpec(inputs);
    const conn = connectionOf(spec);
    const res = await harborRequest(conn, "POST", "/robots", {
        body: {
            name: spec.name,
            description: spec.description,
            level: "project",
            duration: spec.duration,
            disable: false,
            permissions: robotPermissions(spec),
        },
        allow: [409],
    });
    if (res.status === 201) {
        return { id: String(res.body.id), outs: robotOuts(spec, { ...res.body, description: spec.description, duration: spec.duration }, res.body.secret) };
    }
    // Adopt: converge permissions, then rotate the secret (Harbor never returns an existing one).
    const live = await findRobot(conn, spec);
    if (!live) throw httpError("POST", "/robots", res);
    await harborRequest(conn, "PUT", `/robots/${live.id}`, { body: robotUpdateBody(spec, live) });
    const sec = await harborRequest(conn, "PATCH", `/robots/${live.id}`, { body: {} });
    return { id: String(live.id), outs: robotOuts(spec, { ...live, description: spec.description, duration: spec.duration }, sec.body?.secret) };
}

async function robotRead(id: string, props: Dict): Promise<pulumiDynamic.ReadResult> {
    const res = await harborRequest(connectionOf(props), "GET", `/robots/${Number(id)}`, { allow: [404] });
    if (res.status === 404) return {};
    return { id, props: robotOuts(props, res.body, props.secret) };
}

async function robotUpdate(id: string, olds: Dict, news: Dict): Promise<pulumiDynamic.UpdateResult> {
    const spec = robotSpec(news);
    const conn = connectionOf(spec);
    const live = { id: Number(id), name: olds.fullName };
    await harborRequest(conn, "PUT", `/robots/${Number(id)}`, { body: robotUpdateBody(spec, live) });
    return { outs: robotOuts(spec, { ...live, description: spec.description, duration: spec.duration }, olds.secret) };
}

async function robotDelete(id: string, props: Dict): Promise<void> {
    await harborRequest(connectionOf(props), "DELETE", `/robots/${Number(id)}`, { allow: [404] });
}

const harborRobotAccountProvider: pulumiDynamic.ResourceProvider = {
    check: async (_olds, news) => {
        const failures: pulumiDynamic.CheckFailure[] = [];
        checkConnection(news, failures);
        const spec = robotSpec(news);
        if (!isInt(spec.projectId, 1, Number.MAX_SAFE_INTEGER)) failures.push({ property: "projectId", reason: "must be a Harbor project id" });
        if (spec.projectName !== UNKNOWN && (typeof spec.projectName !== "string" || !HARBOR_NAME.test(spec.projectName))) {
            failures.push({ property: "projectName", reason: "must be a Harbor project name" });
        }
        // Harbor's validateName: lower case, no '+'.
        if (spec.name !== UNKNOWN && (typeof spec.name !== "string" || !HARBOR_NAME.test(spec.name))) {
            failures.push({ property: "name", reason: "must be lower-case alphanumerics separated by . _ - (Harbor robot name rule)" });
        }
        if (!isInt(spec.duration, -1, 2147483646) || spec.duration === 0)
            failures.push({ property: "duration", reason: "must be -1 (never expires) or a positive number of days" });
        return { inputs: { ...news, ...spec }, failures };
    },
    diff: async (_id, olds, news) => diffFields(olds, robotSpec(news), ROBOT_FIELDS, ["url", "projectId", "projectName", "name"]),
    create: async (inputs) => robotCreate(inputs),
    read: async (id, props) => robotRead(id, props ?? {}),
    update: async (id, olds, news) => robotUpdate(id, olds, news),
    delete: async (id, props) => robotDelete(id, props),
};

export { harborImmutableRuleProvider, harborProjectProvider, harborRetentionPolicyProvider, harborRobotAccountProvider };
