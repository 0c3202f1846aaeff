/**
 * A registry that refuses tag overwrites as an ECR repository with `imageTagMutability: IMMUTABLE_WITH_EXCLUSION`
 * does: a reverse proxy in front of a real OCI registry (the suite's `distribution`) that refuses a manifest PUT to a
 * tag that already exists, unless the tag matches one of the repository's exclusion filters. Everything else (blobs,
 * digests, tag lists, reads) passes through unchanged.
 *
 * The upstream rule (Amazon ECR User Guide, "Preventing image tags from being overwritten",
 * https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html): with immutable tags, "an
 * ImageTagAlreadyExistsException error is returned if you attempt to push an image with a tag that is already in the
 * repository"; the exclusion filters (`imageTagMutabilityExclusionFilters`, WILDCARD, `*` = zero or more characters)
 * name the tags that stay mutable. Through the registry API (docker, crane, cosign) ECR answers the manifest PUT with
 * HTTP 400 and the OCI error code TAG_INVALID ("tag invalid: The image tag '<tag>' already exists in the '<repo>'
 * repository and cannot be overwritten because the repository is immutable."). The proxy refuses even a re-push of
 * the same digest under the tag (the documented rule names no exception; being stricter cannot hide a rewrite).
 * A push by digest (`…/manifests/sha256:…`) sets no tag and always passes.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import { ecrTagIsMutable } from "../domain/image/tag";

export type ExclusionFilter = { readonly filterType: string; readonly filter: string };

/** `PUT /v2/<name>/manifests/<reference>` → name and reference; undefined for any other request. */
export function manifestPut(method: string | undefined, url: string | undefined): { repository: string; reference: string } | undefined {
    if (method !== "PUT" || url === undefined) return undefined;
    const m = /^\/v2\/(.+)\/manifests\/([^/?#]+)(?:[?#].*)?$/.exec(url);
    return m ? { repository: decodeURIComponent(m[1]), reference: decodeURIComponent(m[2]) } : undefined;
}

/**
 * The refusal message for a manifest PUT, or undefined when ECR would accept it: a digest reference, a tag that does
 * not exist yet, or a tag matching an exclusion filter.
 */
export function tagOverwriteRefusal(repository: string, reference: string, tagExists: boolean, filters: readonly ExclusionFilter[]): string | undefined {
    if (reference.startsWith("sha256:") || !tagExists || ecrTagIsMutable(reference, filters)) return undefined;
    return `The image tag '${reference}' already exists in the '${repository}' repository and cannot be overwritten because the repository is immutable.`;
}

export interface ImmutableRegistryOptions {
    /** Loopback address and port the proxy listens on (clients push here; port 0: any free port). */
    readonly host: string;
    readonly port: number;
    /** The real registry, e.g. `http://127.0.0.1:15001`. */
    readonly upstream: string;
    /** The repository's `imageTagMutabilityExclusionFilters`. */
    readonly exclusionFilters: readonly ExclusionFilter[];
    /** Called on each refused overwrite, before the answer is sent. */
    readonly onRefusal?: (r: Refusal) => void;
}

export interface Refusal {
    readonly repository: string;
    readonly tag: string;
}

export interface ImmutableRegistry {
    /** `host:port` to push to. */
    readonly address: string;
    /** Every refused overwrite, in order. */
    readonly refusals: Refusal[];
    close(): Promise<void>;
}

const MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

function forward(upstream: URL, req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): void {
    // The Host header is kept: distribution writes absolute upload Locations from it, so clients come back here.
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
    });
    out.on("error", (e) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`upstream: ${e.message}`);
    });
    if (body !== undefined) out.end(body);
    else req.pipe(out);
}

function tagExists(upstream: URL, repository: string, tag: string, headers: http.IncomingHttpHeaders): Promise<boolean> {
    return new Promise((resolve, reject) => {
        const r = http.request(
            {
                host: upstream.hostname,
                port: upstream.port,
                method: "HEAD",
                path: `/v2/${repository}/manifests/${encodeURIComponent(tag)}`,
                headers: { accept: MANIFEST_TYPES, ...(headers.authorization ? { authorization: headers.authorization } : {}) },
            },
            (res) => {
                res.resume();
                if (res.statusCode === 200) resolve(true);
                else if (res.statusCode === 404) resolve(false);
                else reject(new Error(`HEAD ${repository}:${tag} answered ${res.statusCode}`));
            },
        );
        r.on("error", reject);
        r.end();
    });
}

/** Starts the proxy; resolves once it listens. */
export function startImmutableRegistry(opts: ImmutableRegistryOptions): Promise<ImmutableRegistry> {
    const upstream = new URL(opts.upstream);
    const refusals: Refusal[] = [];
    const server = http.createServer((req, res) => {
        const put = manifestPut(req.method, req.url);
        if (!put || put.reference.startsWith("sha256:")) {
            forward(upstream, req, res);
            return;
        }
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            tagExists(upstream, put.repository, put.reference, req.headers)
                .then((exists) => {
                    const refusal = tagOverwriteRefusal(put.repository, put.reference, exists, opts.exclusionFilters);
                    if (refusal === undefined) {
                        forward(upstream, req, res, Buffer.concat(chunks));
                        return;
                    }
                    refusals.push({ repository: put.repository, tag: put.reference });
                    opts.onRefusal?.({ repository: put.repository, tag: put.reference });
                    res.writeHead(400, { "content-type": "application/json" });
                    res.end(JSON.stringify({ errors: [{ code: "TAG_INVALID", message: refusal, detail: "ImageTagAlreadyExistsException" }] }));
                })
                .catch((e: Error) => {
                    res.writeHead(502, { "content-type": "text/plain" });
                    res.end(`immutable registry proxy: ${e.message}`);
                });
        });
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, opts.host, () => {
            const bound = server.address();
            resolve({
                address: `${opts.host}:${typeof bound === "object" && bound ? bound.port : opts.port}`,
                refusals,
                close: () =>
                    new Promise<void>((done) => {
                        server.closeAllConnections();
                        server.close(() => done());
                    }),
            });
        });
    });
}

/**
 * The proxy in a process of its own, for callers that block their own event loop (a suite that runs its tools with
 * `spawnSync` would otherwise stall the proxy it pushes through): the child appends each refusal to `refusalsFile`,
 * which `refusals` reads.
 */
export async function spawnImmutableRegistry(opts: ImmutableRegistryOptions & { readonly refusalsFile: string }): Promise<ImmutableRegistry> {
    fs.writeFileSync(opts.refusalsFile, "");
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, JSON.stringify(opts)], {
        stdio: ["ignore", "inherit", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) =>
        child.once("exit", (code) => reject(new Error(`immutable registry proxy exited ${code}: ${stderr.trim()}`))),
    );
    const listening = (async () => {
        for (let i = 0; i < 300; i++) {
            const up = await new Promise<boolean>((resolve) => {
                const s = net.connect(opts.port, opts.host, () => (s.destroy(), resolve(true)));
                s.on("error", () => resolve(false));
            });
            if (up) return;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`immutable registry proxy did not listen on ${opts.host}:${opts.port} within 30 s`);
    })();
    try {
        await Promise.race([listening, exited]);
    } catch (e) {
        child.kill("SIGKILL");
        throw e;
    }
    exited.catch(() => undefined);
    return {
        address: `${opts.host}:${opts.port}`,
        get refusals(): Refusal[] {
            return fs
                .readFileSync(opts.refusalsFile, "utf8")
                .split("\n")
                .filter((l) => l !== "")
                .map((l) => JSON.parse(l) as Refusal);
        },
        close: () =>
            new Promise<void>((done) => {
                if (child.exitCode !== null) return done();
                child.once("exit", () => done());
                child.kill("SIGTERM");
            }),
    };
}

if (require.main === module) {
    const opts = JSON.parse(process.argv[2]) as ImmutableRegistryOptions & { refusalsFile: string };
    // Each refusal as one JSON line, written before the client gets its answer, for the parent to read.
    void startImmutableRegistry({ ...opts, onRefusal: (r) => fs.appendFileSync(opts.refusalsFile, JSON.stringify(r) + "\n") }).then((registry) => {
        const stop = () => void registry.close().then(() => process.exit(0));
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
    });
}
