/**
 * Lists the images of one model repository, with their tags and push times, from the registry that holds it (the
 * clients are injected, as in ./scanFindings.ts, so the tests replay recorded-shape answers; the API references
 * are in tests/fixtures/registry/README.md):
 *  - ECR: `DescribeRepositories` (the repository's URI, and a clear error when it does not exist), then
 *    `DescribeImages` page by page (`nextToken`): `imageDigest`, `imageTags`, `imagePushedAt`;
 *  - Harbor: `GET /api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts?with_tag=true`
 *    (swagger operation `listArtifacts`; `page`/`page_size`, until a short page), each artifact's `digest`,
 *    `tags[].name` and `push_time`; a repository name with `/` is URL-encoded twice, as the swagger says;
 *  - a plain OCI registry (distribution): `GET /v2/<name>/tags/list` (paginated by the `Link` header, distribution
 *    spec "Listing Tags"), `HEAD /v2/<name>/manifests/<tag>` for each tag's digest (`Docker-Content-Digest`), then per
 *    digest the manifest and its config blob. The distribution API has no push time: the image config's `created`
 *    stands for it (for an index, its first manifest's), and the listing says so.
 * cosign's `sha256-<hex>.sig`/`.att` tags and the `buildcache` tag are not versions: they are listed (retention
 * counts every image) and left out by ./versions.ts.
 */
import { DescribeImagesCommand, DescribeImagesCommandOutput, DescribeRepositoriesCommand, DescribeRepositoriesCommandOutput } from "@aws-sdk/client-ecr";
import { isDigest } from "../domain/image/tag";

export class RegistryError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RegistryError";
    }
}

/** Where a model's repository is and how to read it. */
export type RepositoryLocation =
    | { kind: "ecr"; region: string; repositoryName: string; registryId?: string }
    | { kind: "harbor"; url: string; project: string; repository: string; username: string }
    /** `host[:port]/path` of a registry that speaks the distribution API (no auth). */
    | { kind: "oci"; repository: string };

export type PushTimeSource = "ECR imagePushedAt" | "Harbor push_time" | "image config created";

export interface ListedImage {
    digest: string;
    tags: string[];
    pushedAt?: string;
    pushedAtSource?: PushTimeSource;
}

export interface RepositoryListing {
    /** `host/path` of the repository, as image references name it. */
    repository: string;
    images: ListedImage[];
    /** What the reader could not say (a missing push time, an index without a manifest, …). */
    notes: string[];
}

/** The part of the ECR client the listing uses (an `ECRClient`, or a test double). */
export interface EcrImagesClient {
    send(command: DescribeRepositoriesCommand): Promise<DescribeRepositoriesCommandOutput>;
    send(command: DescribeImagesCommand): Promise<DescribeImagesCommandOutput>;
}

const MAX_PAGES = 100;

function isoOf(value: unknown): string | undefined {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
    return undefined;
}

export async function ecrImages(client: EcrImagesClient, loc: { region: string; repositoryName: string; registryId?: string }): Promise<RepositoryListing> {
    const what = `ECR repository ${loc.repositoryName} (${loc.region})`;
    let uri: string | undefined;
    try {
        const repos = await client.send(
            new DescribeRepositoriesCommand({ repositoryNames: [loc.repositoryName], ...(loc.registryId ? { registryId: loc.registryId } : {}) }),
        );
        uri = repos.repositories?.[0]?.repositoryUri;
    } catch (e: any) {
        if (e?.name === "RepositoryNotFoundException") throw new RegistryError(`${what} does not exist: is the stack deployed, and is this its region?`);
        throw readable(e, what, "ecr:DescribeRepositories and ecr:DescribeImages");
    }
    if (!uri) throw new RegistryError(`${what}: DescribeRepositories returned no repository URI`);
    const images: ListedImage[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
        let page: DescribeImagesCommandOutput;
        try {
            page = await client.send(
                new DescribeImagesCommand({
                    repositoryName: loc.repositoryName,
                    ...(loc.registryId ? { registryId: loc.registryId } : {}),
                    maxResults: 1000,
                    nextToken,
                }),
            );
        } catch (e) {
            throw readable(e, what, "ecr:DescribeImages");
        }
        for (const d of page.imageDetails ?? []) {
            if (!d.imageDigest) continue;
            const pushedAt = isoOf(d.imagePushedAt);
            images.push({ digest: d.imageDigest, tags: [...(d.imageTags ?? [])], ...(pushedAt ? { pushedAt, pushedAtSource: "ECR imagePushedAt" } : {}) });
        }
        nextToken = page.nextToken;
    } while (nextToken && ++pages < MAX_PAGES);
    return { repository: uri, images, notes: nextToken ? [`stopped after ${MAX_PAGES} pages of DescribeImages`] : [] };
}

function readable(e: any, what: string, permission: string): RegistryError {
    return new RegistryError(
        `cannot read ${what} (${e?.name ?? "error"}: ${e?.message ?? e}): run where AWS credentials for that account can call ${permission}`,
    );
}

type Fetch = typeof fetch;

async function request(fetchImpl: Fetch, url: URL, init: RequestInit, what: string): Promise<Response> {
    try {
        return await fetchImpl(url, { redirect: "follow", signal: AbortSignal.timeout(30_000), ...init });
    } catch (e: any) {
        const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e);
        throw new RegistryError(`cannot reach ${what} at ${url.origin} (${cause}): is the registry up, and is this its address?`);
    }
}

export interface HarborCredentials {
    password: string;
}

/** Every artifact of a Harbor repository (`<project>/<repository>`), with its tags and push time. */
export async function harborImages(
    loc: { url: string; project: string; repository: string; username: string },
    creds: HarborCredentials,
    fetchImpl: Fetch = fetch,
): Promise<RepositoryListing> {
    const base = loc.url.replace(/\/+$/, "");
    const repo = encodeURIComponent(encodeURIComponent(loc.repository));
    const what = `Harbor repository ${loc.project}/${loc.repository}`;
    const images: ListedImage[] = [];
    const pageSize = 100;
    for (let page = 1; page <= MAX_PAGES; page++) {
        const url = new URL(`${base}/api/v2.0/projects/${encodeURIComponent(loc.project)}/repositories/${repo}/artifacts`);
        url.searchParams.set("with_tag", "true");
        url.searchParams.set("page", String(page));
        url.searchParams.set("page_size", String(pageSize));
        const res = await request(
            fetchImpl,
            url,
            {
                headers: { Accept: "application/json", Authorization: "Basic " + Buffer.from(`${loc.username}:${creds.password}`).toString("base64") },
                redirect: "error",
            },
            what,
        );
        const text = await res.text();
        if (res.status === 404) throw new RegistryError(`${what} does not exist on ${new URL(base).host} (HTTP 404)`);
        if (res.status === 401 || res.status === 403)
            throw new RegistryError(`${what}: HTTP ${res.status}: the user ${loc.username} cannot list it (HARBOR_PASSWORD, or the stack's secret)`);
        if (!res.ok) throw new RegistryError(`${what}: GET ${url.pathname} failed with HTTP ${res.status}: ${text.slice(0, 300)}`);
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            throw new RegistryError(`${what}: GET ${url.pathname} did not answer JSON`);
        }
        if (!Array.isArray(body)) throw new RegistryError(`${what}: GET ${url.pathname} did not answer a list of artifacts`);
        for (const a of body as any[]) {
            if (typeof a?.digest !== "string") continue;
            const pushedAt = isoOf(a.push_time);
            const tags = Array.isArray(a.tags) ? a.tags.map((t: any) => t?.name).filter((n: unknown): n is string => typeof n === "string") : [];
            images.push({ digest: a.digest, tags, ...(pushedAt ? { pushedAt, pushedAtSource: "Harbor push_time" } : {}) });
        }
        if (body.length < pageSize) break;
    }
    return { repository: `${new URL(base).host}/${loc.project}/${loc.repository}`, images, notes: [] };
}

/**
 * The scheme of a registry host: plain HTTP for loopback and `.local` hosts, HTTPS otherwise (the rule of
 * go-containerregistry `pkg/name/registry.go` `Registry.Scheme`, which crane and cosign use).
 */
export function ociScheme(host: string): "http" | "https" {
    const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return name === "localhost" || name === "::1" || name.startsWith("127.") || name.endsWith(".local") ? "http" : "https";
}

export const MANIFEST_ACCEPT = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** `</v2/x/tags/list?n=100&last=b>; rel="next"` → the next page's URL. */
function nextLink(link: string | null, base: string): URL | undefined {
    const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
    return m ? new URL(m[1], base) : undefined;
}

/** Tags that need no manifest lookup: they are cosign's or the build cache's, never a version. */
export function isCosignTag(tag: string): boolean {
    return /^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/.test(tag);
}

/**
 * `created` values that say "no time": Go's zero time, which crane and ko write (go-containerregistry `empty.Image`),
 * and the Unix epoch of reproducible builds (`SOURCE_DATE_EPOCH=0`). Neither is when the image was pushed.
 */
export const PLACEHOLDER_TIMES: ReadonlySet<string> = new Set(["0001-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z"]);

/** Every tagged image of a repository served by the distribution API (`host[:port]/path`). */
export async function ociImages(repository: string, fetchImpl: Fetch = fetch, skipTag: (tag: string) => boolean = () => false): Promise<RepositoryListing> {
    const slash = repository.indexOf("/");
    if (slash < 0) throw new RegistryError(`${repository} is not <host>[:port]/<path>`);
    const host = repository.slice(0, slash);
    const name = repository.slice(slash + 1);
    const origin = `${ociScheme(host)}://${host}`;
    const what = `registry ${host} (repository ${name})`;
    const json = async (url: URL, accept = "application/json"): Promise<{ res: Response; body: any }> => {
        const res = await request(fetchImpl, url, { headers: { Accept: accept } }, what);
        if (res.status === 401) throw new RegistryError(`${what} asks for credentials (HTTP 401): only anonymous read access is supported`);
        const text = await res.text();
        if (res.status === 404) return { res, body: undefined };
        if (!res.ok) throw new RegistryError(`${what}: GET ${url.pathname} failed with HTTP ${res.status}: ${text.slice(0, 200)}`);
        try {
            return { res, body: JSON.parse(text) };
        } catch {
            throw new RegistryError(`${what}: GET ${url.pathname} did not answer JSON`);
        }
    };

    const tags: string[] = [];
    let url: URL | undefined = new URL(`${origin}/v2/${name}/tags/list?n=1000`);
    for (let page = 0; url && page < MAX_PAGES; page++) {
        const { res, body } = await json(url);
        if (body === undefined) throw new RegistryError(`${what}: the repository does not exist (HTTP 404 on /v2/${name}/tags/list)`);
        tags.push(...((Array.isArray(body.tags) ? body.tags : []) as string[]));
        url = nextLink(res.headers.get("link"), origin);
    }

    const byDigest = new Map<string, string[]>();
    for (const tag of tags.filter((t) => !skipTag(t))) {
        const res = await request(fetchImpl, new URL(`${origin}/v2/${name}/manifests/${tag}`), { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } }, what);
        if (res.status === 404) continue; // deleted between the listing and now
        if (!res.ok) throw new RegistryError(`${what}: HEAD /v2/${name}/manifests/${tag} failed with HTTP ${res.status}`);
        const digest = res.headers.get("docker-content-digest") ?? "";
        if (!isDigest(digest)) throw new RegistryError(`${what}: HEAD /v2/${name}/manifests/${tag} gave no sha256 Docker-Content-Digest`);
        byDigest.set(digest, [...(byDigest.get(digest) ?? []), tag]);
    }

    const notes: string[] = [];
    const images: ListedImage[] = [];
    for (const [digest, digestTags] of byDigest) {
        let manifest = (await json(new URL(`${origin}/v2/${name}/manifests/${digest}`), MANIFEST_ACCEPT)).body;
        if (Array.isArray(manifest?.manifests)) {
            const first = manifest.manifests.find((m: any) => typeof m?.digest === "string" && !m?.annotations?.["vnd.docker.reference.type"]);
            manifest = first ? (await json(new URL(`${origin}/v2/${name}/manifests/${first.digest}`), MANIFEST_ACCEPT)).body : undefined;
        }
        const configDigest = manifest?.config?.digest;
        const config = typeof configDigest === "string" ? (await json(new URL(`${origin}/v2/${name}/blobs/${configDigest}`))).body : undefined;
        const created = isoOf(config?.created);
        const pushedAt = created && !PLACEHOLDER_TIMES.has(created) ? created : undefined;
        if (!pushedAt)
            notes.push(
                `${digest}: its image config has no \`created\` time${created ? ` (only the placeholder ${created})` : ""}, so its push time is unknown`,
            );
        images.push({ digest, tags: digestTags, ...(pushedAt ? { pushedAt, pushedAtSource: "image config created" } : {}) });
    }
    notes.unshift("the distribution API records no push time: each image's config `created` stands for it");
    return { repository, images, notes };
}
