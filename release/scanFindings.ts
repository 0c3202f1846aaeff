/**
 * Reads a digest's scan result from the registry that holds it, for the promotion gate (scanGate.ts
 * decides; this file only talks to the registries):
 *  - ECR: `DescribeImageScanFindings` with `@aws-sdk/client-ecr` (all pages; `ScanNotFoundException` = never scanned);
 *  - Harbor: `GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{digest}?with_scan_overview=true`
 *    (swagger `getArtifact`; a repository name with `/` is URL-encoded twice, as the swagger says).
 */
import { DescribeImageScanFindingsCommand, DescribeImageScanFindingsCommandOutput } from "@aws-sdk/client-ecr";
import { ecrScanResult, harborScanResult, ScanResult } from "./scanGate";

/** Where an image reference lives. */
export type ImageLocation =
    | { kind: "ecr"; registryId: string; region: string; repositoryName: string; digest: string }
    | { kind: "registry"; host: string; path: string; digest: string };

const ECR_HOST = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/** `<host>/<path>@sha256:…` → where to ask for its scan result. */
export function locateImage(ref: string): ImageLocation {
    const m = /^([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(ref);
    if (!m) throw new Error(`${JSON.stringify(ref)} is not <registry host>/<repository>@sha256:<64 hex>`);
    const [, host, path, digest] = m;
    const ecr = ECR_HOST.exec(host);
    return ecr ? { kind: "ecr", registryId: ecr[1], region: ecr[2], repositoryName: path, digest } : { kind: "registry", host, path, digest };
}

/** The part of the ECR client the gate uses (an `ECRClient`, or a test double). */
export interface EcrScanClient {
    send(command: DescribeImageScanFindingsCommand): Promise<DescribeImageScanFindingsCommandOutput>;
}

export async function ecrScan(client: EcrScanClient, loc: { registryId: string; repositoryName: string; digest: string }): Promise<ScanResult> {
    const pages: DescribeImageScanFindingsCommandOutput[] = [];
    let nextToken: string | undefined;
    try {
        do {
            const page = await client.send(
                new DescribeImageScanFindingsCommand({
                    registryId: loc.registryId,
                    repositoryName: loc.repositoryName,
                    imageId: { imageDigest: loc.digest },
                    maxResults: 1000,
                    nextToken,
                }),
            );
            pages.push(page);
            nextToken = page.nextToken;
        } while (nextToken && pages.length < 50);
    } catch (e: any) {
        if (e?.name === "ScanNotFoundException") return { scanner: "ECR", state: "none", status: "no scan (ScanNotFoundException)", counts: {}, findings: [] };
        if (e?.name === "ImageNotFoundException")
            return { scanner: "ECR", state: "none", status: `image not found in ${loc.repositoryName}`, counts: {}, findings: [] };
        throw e;
    }
    const enhanced = pages.some((p) => (p.imageScanFindings?.enhancedFindings ?? []).length > 0 || p.imageScanStatus?.status === "ACTIVE");
    return ecrScanResult(pages as any[], enhanced);
}

export interface HarborAccess {
    url: string;
    username: string;
    password: string;
}

/** Harbor's scan overview of `<project>/<repository>@digest` (path = `<project>/<repository…>`). */
export async function harborScan(access: HarborAccess, path: string, digest: string, fetchImpl: typeof fetch = fetch): Promise<ScanResult> {
    const [project, ...rest] = path.split("/");
    const repository = encodeURIComponent(encodeURIComponent(rest.join("/")));
    const url = new URL(`${access.url.replace(/\/+$/, "")}/api/v2.0/projects/${encodeURIComponent(project)}/repositories/${repository}/artifacts/${digest}`);
    url.searchParams.set("with_scan_overview", "true");
    const res = await fetchImpl(url, {
        headers: { Accept: "application/json", Authorization: "Basic " + Buffer.from(`${access.username}:${access.password}`).toString("base64") },
        redirect: "error",
        signal: AbortSignal.timeout(30_000),
    });
    if (res.status === 404) return harborScanResult(undefined);
    const text = await res.text();
    if (!res.ok) throw new Error(`Harbor GET ${url.pathname} failed with HTTP ${res.status}: ${text.slice(0, 300)}`);
    return harborScanResult(JSON.parse(text));
}
