/**
 * The recorded-shape registry answers of tests/fixtures/registry/ (README there cites the upstream API references),
 * served to the listing adapters: a fake ECR client (the SDK's `Date`s from the wire format's epoch seconds) and fake
 * `fetch` functions for Harbor and the distribution registry that record every request.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { DescribeImagesCommand, DescribeRepositoriesCommand } from "@aws-sdk/client-ecr";
import type { EcrImagesClient } from "../../release/registryImages";

const DIR = path.join(__dirname, "..", "fixtures", "registry");
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), "utf8"));

export const DIGESTS = {
    v220: "sha256:" + "a1".repeat(32),
    v214: "sha256:3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
    v213: "sha256:" + "c3".repeat(32),
    v212: "sha256:" + "d4".repeat(32),
    sig: "sha256:" + "5e".repeat(32),
    att: "sha256:" + "7a".repeat(32),
    buildcache: "sha256:" + "e5".repeat(32),
    untagged: "sha256:" + "f6".repeat(32),
} as const;

export function fakeEcr(): EcrImagesClient & { calls: any[] } {
    const fx = read("ecr.json");
    const calls: any[] = [];
    const client = {
        calls,
        send: async (cmd: any) => {
            calls.push(cmd);
            if (cmd instanceof DescribeRepositoriesCommand) return fx.describeRepositories;
            if (cmd instanceof DescribeImagesCommand) {
                const page = cmd.input.nextToken === undefined ? fx.describeImages[0] : fx.describeImages[1];
                if (cmd.input.nextToken !== undefined && cmd.input.nextToken !== fx.describeImages[0].nextToken) throw new Error("unexpected nextToken");
                return { ...page, imageDetails: page.imageDetails.map((d: any) => ({ ...d, imagePushedAt: new Date(d.imagePushedAt * 1000) })) };
            }
            throw new Error(`unexpected command ${cmd?.constructor?.name}`);
        },
    };
    return client as unknown as EcrImagesClient & { calls: any[] };
}

export interface Recorded {
    method: string;
    url: string;
    headers: Record<string, string>;
}

/** Harbor answering `listArtifacts` with the fixture (one page). */
export function fakeHarborFetch(requests: Recorded[] = []): typeof fetch {
    const body = read("harbor-artifacts.json");
    return (async (input: any, init: any = {}) => {
        const url = new URL(String(input));
        requests.push({ method: init.method ?? "GET", url: url.pathname + url.search, headers: init.headers ?? {} });
        return new Response(JSON.stringify(url.searchParams.get("page") === "1" ? body : []), { status: 200, headers: { "Content-Type": "application/json" } });
    }) as typeof fetch;
}

/** The distribution registry of the fixture; anything not recorded answers 404. */
export function fakeDistributionFetch(requests: Recorded[] = []): { repository: string; fetch: typeof fetch } {
    const fx = read("distribution.json");
    const f = (async (input: any, init: any = {}) => {
        const url = new URL(String(input));
        const method = init.method ?? "GET";
        requests.push({ method, url: url.pathname + url.search, headers: init.headers ?? {} });
        const r = fx.routes[`${method} ${url.pathname}${url.search}`];
        if (!r) return new Response(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN" }] }), { status: 404 });
        return new Response(method === "HEAD" ? null : JSON.stringify(r.body), { status: r.status, headers: r.headers });
    }) as typeof fetch;
    return { repository: fx.repository, fetch: f };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    return port;
}
