/**
 * support/immutableRegistry.ts: the registry that refuses tag overwrites as an immutable ECR repository does
 * (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html: with immutable tags "an
 * ImageTagAlreadyExistsException error is returned if you attempt to push an image with a tag that is already in the
 * repository"; tags matching `imageTagMutabilityExclusionFilters` stay mutable). The rule, and the proxy in front of a
 * minimal in-memory registry here; the real-tools suite puts it in front of distribution and runs cosign through it.
 */
import { strict as assert } from "assert";
import { createHash } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { BUILD_CACHE_EXCLUSION_FILTER, ECR_TAG_MUTABILITY_EXCLUSION_FILTERS } from "../../domain/image/tag";
import { ImmutableRegistry, manifestPut, startImmutableRegistry, tagOverwriteRefusal } from "../../support/immutableRegistry";

const DIGEST_TAG = `sha256-${"cd".repeat(32)}`;

describe("immutable registry (ECR IMMUTABLE_WITH_EXCLUSION)", () => {
    describe("the rule", () => {
        it("recognises manifest PUTs by tag or digest, with a nested repository name", () => {
            assert.deepEqual(manifestPut("PUT", "/v2/model-fleet/sentiment/manifests/v2.1.5-abc1234"), {
                repository: "model-fleet/sentiment",
                reference: "v2.1.5-abc1234",
            });
            assert.deepEqual(manifestPut("PUT", `/v2/m/manifests/${DIGEST_TAG}.att`), { repository: "m", reference: `${DIGEST_TAG}.att` });
            assert.equal(manifestPut("GET", "/v2/m/manifests/v1"), undefined);
            assert.equal(manifestPut("PUT", "/v2/m/blobs/uploads/123"), undefined);
        });

        it("refuses an existing tag outside the exclusions, with ECR's message; a new tag, a digest or an excluded tag passes", () => {
            const f = ECR_TAG_MUTABILITY_EXCLUSION_FILTERS;
            assert.equal(
                tagOverwriteRefusal("model-fleet/sentiment", "v2.1.5-abc1234", true, f),
                "The image tag 'v2.1.5-abc1234' already exists in the 'model-fleet/sentiment' repository and cannot be overwritten because the repository is immutable.",
            );
            assert.equal(tagOverwriteRefusal("m", "v2.1.5-abc1234", false, f), undefined);
            assert.equal(tagOverwriteRefusal("m", `sha256:${"cd".repeat(32)}`, true, f), undefined);
            assert.equal(tagOverwriteRefusal("m", `${DIGEST_TAG}.att`, true, f), undefined);
            assert.equal(tagOverwriteRefusal("m", `${DIGEST_TAG}.sig`, true, f), undefined);
            assert.equal(tagOverwriteRefusal("m", "buildcache", true, f), undefined);
            // The list before the fix (the build cache only) refuses cosign's second attestation.
            assert.match(String(tagOverwriteRefusal("m", `${DIGEST_TAG}.att`, true, [BUILD_CACHE_EXCLUSION_FILTER])), /cannot be overwritten/);
        });
    });

    describe("the proxy", () => {
        /** A minimal registry: manifests by tag in memory (PUT, HEAD, GET). */
        let upstream: http.Server;
        const manifests = new Map<string, Buffer>();
        let proxy: ImmutableRegistry;
        let oldList: ImmutableRegistry;

        before(async () => {
            upstream = http.createServer((req, res) => {
                const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
                if (!m) {
                    res.writeHead(404).end();
                    return;
                }
                const key = `${m[1]}:${m[2]}`;
                if (req.method === "PUT") {
                    const chunks: Buffer[] = [];
                    req.on("data", (c: Buffer) => chunks.push(c));
                    req.on("end", () => {
                        const body = Buffer.concat(chunks);
                        manifests.set(key, body);
                        res.writeHead(201, { "docker-content-digest": `sha256:${createHash("sha256").update(body).digest("hex")}` }).end();
                    });
                    return;
                }
                const found = manifests.get(key);
                res.writeHead(found ? 200 : 404).end(req.method === "GET" && found ? found : undefined);
            });
            await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
            const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
            proxy = await startImmutableRegistry({ host: "127.0.0.1", port: 0, upstream: url, exclusionFilters: ECR_TAG_MUTABILITY_EXCLUSION_FILTERS });
            oldList = await startImmutableRegistry({ host: "127.0.0.1", port: 0, upstream: url, exclusionFilters: [BUILD_CACHE_EXCLUSION_FILTER] });
        });
        after(async () => {
            await proxy?.close();
            await oldList?.close();
            await new Promise<void>((r) => upstream.close(() => r()));
        });

        const put = (via: ImmutableRegistry, repoTag: string, body: string) =>
            new Promise<{ status: number; body: string }>((resolve, reject) => {
                const [repo, tag] = repoTag.split(":");
                const [host, port] = via.address.split(":");
                const r = http.request({ host, port, method: "PUT", path: `/v2/${repo}/manifests/${tag}` }, (res) => {
                    let text = "";
                    res.on("data", (c) => (text += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
                });
                r.on("error", reject);
                r.end(body);
            });

        it("passes a new tag through, refuses its overwrite with 400 TAG_INVALID, and the stored manifest is unchanged", async () => {
            assert.equal((await put(proxy, "model-fleet/sentiment:v2.1.5-abc1234", "one")).status, 201);
            const second = await put(proxy, "model-fleet/sentiment:v2.1.5-abc1234", "two");
            assert.equal(second.status, 400);
            assert.equal(JSON.parse(second.body).errors[0].code, "TAG_INVALID");
            assert.equal(manifests.get("model-fleet/sentiment:v2.1.5-abc1234")?.toString(), "one");
            assert.deepEqual(proxy.refusals, [{ repository: "model-fleet/sentiment", tag: "v2.1.5-abc1234" }]);
        });

        it("lets cosign rewrite its .att tag with the exclusions the registry declares; the old list refused it", async () => {
            const att = `model-fleet/sentiment:${DIGEST_TAG}.att`;
            assert.equal((await put(proxy, att, "provenance")).status, 201);
            assert.equal((await put(proxy, att, "provenance+sbom")).status, 201);
            assert.equal(manifests.get(att)?.toString(), "provenance+sbom");
            assert.equal((await put(oldList, att, "provenance+sbom+again")).status, 400);
        });
    });
});
