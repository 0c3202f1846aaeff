/**
 * The promotion scan gate (issue #16): the pure decision (components/image/scanGate.ts), the override and signing
 * key it records (planPromotion), and the registry I/O (release/scanFindings.ts) against the Harbor stub (requests
 * checked against Harbor's swagger) and a mocked ECR client (DescribeImageScanFindings pages as the SDK returns them).
 */
import { strict as assert } from "assert";
import * as YAML from "yaml";
import { DescribeImageScanFindingsCommand } from "@aws-sdk/client-ecr";
import { applyConfigSets, modelsFromStackFile, planPromotion, signatureCheck } from "../../release/promotion";
import { decideScanGate, ecrScanResult, findingRows, formatCounts, harborScanResult, overrideRefusal, ScanResult } from "../../release/scanGate";
import { cosignVerifyPromotionArgs } from "../../release/signing";
import { parseConfig } from "../../config/load";
import { fleetConfigOf, PROJECT, readStackDocument } from "../../support/stackFile";
import { ecrScan, harborScan, locateImage } from "../../release/scanFindings";
import { scanResultOf } from "../../scripts/promote";
import { HARBOR_SWAGGER, HarborStub } from "../../support/harborStub";
import { needsReference } from "../../support/reference";

const DIGEST = "sha256:" + "1111222233334444".repeat(4);
const done = (counts: Record<string, number>): ScanResult => ({ scanner: "ECR basic scanning", state: "done", status: "COMPLETE", counts, findings: [] });
const OVERRIDE = { reason: "CVE-2026-1 is in a test-only package", by: "rm@example.com", at: "2026-11-20T10:15:00.000Z" };

describe("promotion scan gate: the decision", () => {
    it("passes findings below the threshold and refuses those at or above it", () => {
        assert.deepEqual(decideScanGate(done({ MEDIUM: 4, LOW: 2 }), "HIGH"), {
            allowed: true,
            overridden: false,
            summary: "ECR basic scanning: no finding at or above HIGH (found: MEDIUM 4, LOW 2)",
            blocking: "",
        });
        const refused = decideScanGate(done({ HIGH: 3, CRITICAL: 1, LOW: 9 }), "HIGH");
        assert.equal(refused.allowed, false);
        assert.equal(refused.blocking, "CRITICAL 1, HIGH 3");
        assert.equal(decideScanGate(done({ HIGH: 3 }), "CRITICAL").allowed, true);
        assert.equal(decideScanGate(done({ Critical: 1 }), "high").allowed, false, "Harbor's names on Harbor's threshold");
        assert.equal(decideScanGate(done({}), "LOW").summary, "ECR basic scanning: no finding at or above LOW (no findings)");
    });

    it("untriaged findings never reach a threshold (listed, not blocking)", () => {
        assert.equal(decideScanGate(done({ UNTRIAGED: 5, UNDEFINED: 1, Unknown: 2 }), "INFORMATIONAL").allowed, true);
    });

    it("refuses a digest without a finished scan: pending, failed or never scanned", () => {
        for (const state of ["pending", "failed", "none"] as const) {
            const d = decideScanGate({ scanner: "Harbor", state, status: "x", counts: {}, findings: [] }, "HIGH");
            assert.equal(d.allowed, false, state);
        }
        assert.match(
            decideScanGate({ scanner: "ECR", state: "pending", status: "IN_PROGRESS", counts: {}, findings: [] }, "HIGH").summary,
            /has no scan result yet \(status IN_PROGRESS\)/,
        );
    });

    it("an override lets it through, and says so", () => {
        const d = decideScanGate(done({ CRITICAL: 1 }), "HIGH", OVERRIDE);
        assert.deepEqual([d.allowed, d.overridden, d.blocking], [true, true, "CRITICAL 1"]);
        assert.match(d.summary, /promoted anyway: --allow-vulnerable "CVE-2026-1 is in a test-only package" \(rm@example.com, 2026-11-20T10:15:00.000Z\)/);
        assert.throws(() => decideScanGate(done({}), "SEVERE"), /not a severity level/);
    });

    it("an override cannot reach Harbor, whose prevent_vul refuses the pull anyway: refused there, with what to do instead", () => {
        const overridden = decideScanGate(done({ CRITICAL: 1 }), "high", OVERRIDE);
        const why = overrideRefusal("harbor", overridden, "high");
        assert.match(
            String(why),
            /^--allow-vulnerable cannot work on Harbor: its project refuses to pull an artifact with findings at or above high \(prevent_vul/,
        );
        assert.match(String(why), /raise supplyChain\.scan\.severity/);
        assert.equal(overrideRefusal("ecr", overridden, "HIGH"), undefined, "ECR has no pull-time check: the override works there");
        assert.equal(overrideRefusal("harbor", decideScanGate(done({ LOW: 2 }), "high"), "high"), undefined, "no override needed");
    });

    it("orders counts and finding rows most severe first", () => {
        assert.equal(formatCounts({ LOW: 1, CRITICAL: 2, HIGH: 0, UNTRIAGED: 1 }), "CRITICAL 2, LOW 1, UNTRIAGED 1");
        const rows = findingRows({
            ...done({}),
            findings: [
                { id: "CVE-B", severity: "LOW" },
                { id: "CVE-A", severity: "CRITICAL", package: "openssl", version: "3.0.1", fixedIn: "3.0.2" },
            ],
        });
        assert.deepEqual(rows, [
            ["CRITICAL", "CVE-A", "openssl 3.0.1", "3.0.2", ""],
            ["LOW", "CVE-B", "", "", ""],
        ]);
    });
});

describe("promotion scan gate: what promotion records", () => {
    const prodDoc = readStackDocument("prod");
    const models = modelsFromStackFile(prodDoc, "prod");
    const source = { kind: "explicit" as const, digest: DIGEST, version: "2.2.0", tag: "v2.2.0-a1b2c3d" };
    const KEY = "awskms:///arn:aws:kms:us-east-1:123456789012:key/0e7c4b2a-9d31-4f6e-8a25-3c1b7d9e4f60";
    const validate = (doc: unknown) =>
        parseConfig(fleetConfigOf(YAML.parse(YAML.stringify(doc))), { project: PROJECT, stack: "prod", region: "us-west-2", env: {}, git: () => "" });

    it("records the override (who, when, why, which digest) and the signing key next to the digest; the config validates", () => {
        const plan = planPromotion({
            model: "sentiment",
            target: { stack: "prod", models },
            source,
            signingKey: KEY,
            vulnerabilityOverride: { ...OVERRIDE, findings: "CRITICAL 1" },
        });
        const image = validate(applyConfigSets(prodDoc, plan.sets)).models[0].image as any;
        assert.equal(image.signingKey, KEY);
        assert.deepEqual(image.vulnerabilityOverride, { digest: DIGEST, ...OVERRIDE, findings: "CRITICAL 1" });
        assert.match(plan.diff, /\+ image\.vulnerabilityOverride: CVE-2026-1 is in a test-only package \(rm@example.com, .*; CRITICAL 1\)/);
        assert.match(plan.diff, /\+ image\.signingKey: awskms:\/\/\/arn:aws:kms:us-east-1:123456789012:key\/0e7c4b2a/);
        // The next promotion, clean, drops the override of the old digest.
        const after = applyConfigSets(prodDoc, plan.sets);
        const next = planPromotion({
            model: "sentiment",
            target: { stack: "prod", models: modelsFromStackFile(after, "prod") },
            source: { ...source, digest: "sha256:" + "9".repeat(64), tag: "v2.2.0-b1b2c3d" },
            signingKey: KEY,
        });
        assert.ok(next.sets.some((s) => s.path === "models[0].image.vulnerabilityOverride" && s.value === undefined));
        assert.equal((validate(applyConfigSets(after, next.sets)).models[0].image as any).vulnerabilityOverride, undefined);
    });

    it("a new digest without a known key records none (the target's config then asks for one)", () => {
        const plan = planPromotion({ model: "sentiment", target: { stack: "prod", models }, source });
        assert.ok(plan.sets.some((s) => s.path === "models[0].image.signingKey" && s.value === undefined));
        assert.throws(() => validate(applyConfigSets(prodDoc, plan.sets)), /models\[0\]\.image\.signingKey is required/);
    });
});

describe("promotion scan gate: ECR DescribeImageScanFindings (mocked client)", () => {
    const loc = locateImage(`123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/sentiment@${DIGEST}`);

    it("locates ECR and other registries from the image reference", () => {
        assert.deepEqual(loc, { kind: "ecr", registryId: "123456789012", region: "us-east-1", repositoryName: "model-fleet/sentiment", digest: DIGEST });
        assert.deepEqual(locateImage(`harbor.example.com/models/model-fleet/sentiment@${DIGEST}`), {
            kind: "registry",
            host: "harbor.example.com",
            path: "models/model-fleet/sentiment",
            digest: DIGEST,
        });
        assert.throws(() => locateImage("repo:tag"), /is not <registry host>/);
    });

    it("reads every page of an enhanced (Inspector) scan and asks for exactly that digest", async () => {
        const calls: any[] = [];
        const pages = [
            {
                imageScanStatus: { status: "ACTIVE", description: "Continuous scan is selected for image." },
                imageScanFindings: {
                    findingSeverityCounts: { CRITICAL: 1, HIGH: 1, MEDIUM: 1 },
                    enhancedFindings: [
                        {
                            severity: "CRITICAL",
                            packageVulnerabilityDetails: {
                                vulnerabilityId: "CVE-2026-0001",
                                sourceUrl: "https://nvd.example/CVE-2026-0001",
                                vulnerablePackages: [{ name: "openssl", version: "3.0.1", fixedInVersion: "3.0.2" }],
                            },
                        },
                        {
                            severity: "HIGH",
                            packageVulnerabilityDetails: { vulnerabilityId: "CVE-2026-0002", vulnerablePackages: [{ name: "zlib", version: "1.2" }] },
                        },
                    ],
                },
                nextToken: "page-2",
            },
            {
                imageScanStatus: { status: "ACTIVE" },
                imageScanFindings: { enhancedFindings: [{ severity: "MEDIUM", packageVulnerabilityDetails: { vulnerabilityId: "CVE-2026-0003" } }] },
            },
        ];
        const client = { send: async (cmd: DescribeImageScanFindingsCommand) => (calls.push(cmd.input), pages[calls.length - 1] as any) };
        const result = await ecrScan(client, loc as any);
        assert.deepEqual(
            calls.map((c) => [c.registryId, c.repositoryName, c.imageId.imageDigest, c.nextToken]),
            [
                ["123456789012", "model-fleet/sentiment", DIGEST, undefined],
                ["123456789012", "model-fleet/sentiment", DIGEST, "page-2"],
            ],
        );
        assert.equal(result.scanner, "ECR enhanced scanning (Amazon Inspector)");
        assert.equal(result.state, "done");
        assert.deepEqual(result.counts, { CRITICAL: 1, HIGH: 1, MEDIUM: 1 });
        assert.deepEqual(
            result.findings.map((f) => f.id),
            ["CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0003"],
        );
        assert.equal(decideScanGate(result, "HIGH").blocking, "CRITICAL 1, HIGH 1");
    });

    it("basic scanning in progress is no result yet; no scan at all is 'never scanned'", async () => {
        const inProgress = await ecrScan({ send: async () => ({ imageScanStatus: { status: "IN_PROGRESS" } }) as any }, loc as any);
        assert.equal(inProgress.state, "pending");
        const missing = await ecrScan(
            {
                send: async () => {
                    throw Object.assign(new Error("no scan"), { name: "ScanNotFoundException" });
                },
            },
            loc as any,
        );
        assert.equal(missing.state, "none");
        await assert.rejects(
            ecrScan(
                {
                    send: async () => {
                        throw Object.assign(new Error("denied"), { name: "AccessDeniedException" });
                    },
                },
                loc as any,
            ),
            /denied/,
        );
    });

    it("basic findings: name, severity and package attributes", () => {
        const r = ecrScanResult(
            [
                {
                    imageScanStatus: { status: "COMPLETE" },
                    imageScanFindings: {
                        findings: [
                            {
                                name: "CVE-1",
                                severity: "HIGH",
                                uri: "u",
                                attributes: [
                                    { key: "package_name", value: "curl" },
                                    { key: "package_version", value: "8" },
                                ],
                            },
                        ],
                    },
                },
            ],
            false,
        );
        assert.deepEqual(r.findings, [{ id: "CVE-1", severity: "HIGH", package: "curl", version: "8", uri: "u" }]);
        assert.deepEqual(r.counts, { HIGH: 1 });
    });
});

describe("promotion scan gate: Harbor's scan overview (stub)", function () {
    const stub = new HarborStub();
    const REF_PATH = "models/model-fleet/sentiment";
    before(async function () {
        needsReference(this, HARBOR_SWAGGER);
        await stub.start();
    });
    after(async () => stub.stop());
    afterEach(() => assert.deepEqual(stub.violations, [], "every request must match the Harbor swagger"));
    const access = () => ({ url: stub.url, username: stub.username, password: stub.password });

    it("reads the artifact with with_scan_overview=true and its summary counts", async () => {
        stub.artifacts.set(`models/model-fleet/sentiment@${DIGEST}`, {
            digest: DIGEST,
            scan_overview: {
                "application/vnd.security.vulnerability.report; version=1.1": {
                    scan_status: "Success",
                    severity: "Critical",
                    summary: { total: 3, fixable: 1, summary: { Critical: 1, Low: 2 } },
                },
            },
        });
        const result = await harborScan(access(), REF_PATH, DIGEST);
        const req = stub.requests[stub.requests.length - 1];
        assert.equal(req.path, "/api/v2.0/projects/models/repositories/model-fleet%252Fsentiment/artifacts/" + DIGEST);
        assert.deepEqual(req.query, { with_scan_overview: "true" });
        assert.deepEqual([result.state, result.counts], ["done", { Critical: 1, Low: 2 }]);
        assert.equal(decideScanGate(result, "high").allowed, false);
        assert.deepEqual(findingRows(result), [
            ["Critical", "1", "(counts only)", "", ""],
            ["Low", "2", "(counts only)", "", ""],
        ]);
    });

    it("a scan still running, an unscanned artifact and a missing one are refused", async () => {
        stub.artifacts.set(`models/model-fleet/sentiment@sha256:${"2".repeat(64)}`, { digest: "x", scan_overview: { m: { scan_status: "Running" } } });
        stub.artifacts.set(`models/model-fleet/sentiment@sha256:${"3".repeat(64)}`, { digest: "y" });
        assert.equal((await harborScan(access(), REF_PATH, `sha256:${"2".repeat(64)}`)).state, "pending");
        assert.equal((await harborScan(access(), REF_PATH, `sha256:${"3".repeat(64)}`)).state, "none");
        assert.equal((await harborScan(access(), REF_PATH, `sha256:${"4".repeat(64)}`)).status, "artifact not found");
        assert.equal(harborScanResult({ scan_overview: { m: { scan_status: "Error" } } }).state, "failed");
    });

    it("promote finds the Harbor of the stack whose config names the image's host, with that stack's password", async () => {
        const host = new URL(stub.url).host;
        const doc = { config: { "model-fleet:registry": { type: "harbor", harbor: { url: `https://${host}`, username: stub.username } } } };
        const asked: string[] = [];
        // The stub speaks HTTP: point the https URL of the stack file at it.
        const realFetch = globalThis.fetch;
        globalThis.fetch = ((url: any, init: any) => realFetch(String(url).replace("https://", "http://"), init)) as typeof fetch;
        try {
            const result = await scanResultOf(`${host}/${REF_PATH}@${DIGEST}`, [{ name: "local", doc }], {
                ecr: () => assert.fail("not ECR"),
                harborPassword: (stack) => (asked.push(stack), stub.password),
            });
            assert.deepEqual([result.state, asked], ["done", ["local"]]);
        } finally {
            globalThis.fetch = realFetch;
        }
        await assert.rejects(
            scanResultOf(`other.example.com/x/y@${DIGEST}`, [{ name: "local", doc }], { ecr: () => assert.fail(), harborPassword: () => "" }),
            /neither an ECR registry, the Harbor of stack local, nor its external registry/,
        );
    });

    it("an image in the target's external registry (registry.type external) counts as never scanned: refused unless --allow-vulnerable records why", async () => {
        const doc = { config: { "model-fleet:registry": { type: "external", externalPrefix: "registry.example.com/team/" } } };
        const result = await scanResultOf(`registry.example.com/team/sentiment@${DIGEST}`, [{ name: "prod", doc }], {
            ecr: () => assert.fail("not ECR"),
            harborPassword: () => assert.fail("not Harbor"),
        });
        assert.equal(result.state, "none");
        assert.match(result.scanner, /external registry of stack prod \(registry\.example\.com\/team: no scan API/);
        assert.equal(decideScanGate(result, "HIGH").allowed, false);
        assert.equal(decideScanGate(result, "HIGH", { reason: "scanned by our Trivy job", by: "me", at: "2026-12-07T00:00:00Z" }).allowed, true);
        await assert.rejects(
            scanResultOf(`registry.example.com/other/sentiment@${DIGEST}`, [{ name: "prod", doc }], { ecr: () => assert.fail(), harborPassword: () => "" }),
            /nor its external registry/,
        );
    });
});

describe("promotion: the signature check before promoting", () => {
    const REF = `123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/sentiment@${DIGEST}`;
    const KMS = "awskms:///arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93";
    const base = { model: "sentiment", version: "2.1.5", ref: REF, admissionEnabled: true, origin: "stack dev" };

    it("verifies with the source stack's public key, else its key reference (cosign resolves a KMS URI)", () => {
        assert.deepEqual(signatureCheck({ ...base, gitSha: "abc1234", publicKeyPem: "PEM", signingKey: KMS }), {
            kind: "verify",
            image: { model: "sentiment", version: "2.1.5", ref: REF, gitSha: "abc1234" },
            key: { pem: "PEM" },
        });
        assert.deepEqual(signatureCheck({ ...base, signingKey: KMS }), {
            kind: "verify",
            image: { model: "sentiment", version: "2.1.5", ref: REF },
            key: { ref: KMS },
        });
    });

    it("refuses without a key to check with (admission would refuse only after approval), unless the target has no admission policy", () => {
        const refused = signatureCheck(base);
        assert.equal(refused.kind, "refuse");
        assert.match(
            (refused as { why: string }).why,
            /cannot check that .* is signed: no signing key is known \(stack dev exports no `signing` output; give --signing-key <ref>/,
        );
        assert.equal(signatureCheck({ ...base, admissionEnabled: false }).kind, "skip");
    });

    it("the cosign verify argv: the key, the legacy format without tlog, model and version annotations, the git sha when known", () => {
        const args = cosignVerifyPromotionArgs({ model: "sentiment", version: "2.1.5", ref: REF, gitSha: "abc1234" }, KMS);
        assert.deepEqual(args, [
            "verify",
            "--key",
            KMS,
            "--insecure-ignore-tlog=true",
            "--new-bundle-format=false",
            "-a",
            "app.kubernetes.io/name=sentiment",
            "-a",
            "app.kubernetes.io/version=2.1.5",
            "-a",
            "org.opencontainers.image.revision=abc1234",
            "--output",
            "json",
            REF,
        ]);
        assert.ok(!cosignVerifyPromotionArgs({ model: "sentiment", version: "2.1.5", ref: REF }, KMS).some((a) => a.startsWith("org.opencontainers")));
        assert.throws(() => cosignVerifyPromotionArgs({ model: "sentiment", version: "2.1.5", ref: REF.replace(/@.*/, ":v2") }, KMS), /not pinned by digest/);
    });
});
