/**
 * Supply chain with the real tools (npm run test:supplychain; needs `npm run tools -- build cosign distribution
 * crane kyverno-verify`): a local OCI registry (distribution), a small image made from files with crane, signed and
 * attested by `npm run sign` with a generated key (the cosign argv of release/signing.ts, as the CI workflow runs
 * them), then verified — and an unsigned digest, a digest pushed under the signed tag afterwards, a signature moved
 * onto another digest, a wrong annotation and another key's signature all fail verification. The admission engine's
 * own verification (Kyverno v1.18.2, kyverno-verify) accepts the signed digest under the stack's ClusterPolicy and
 * refuses the others, and refuses a signature in cosign v3's default (Sigstore bundle) format. docs/supply-chain.md.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../scripts/cli";
import { DEFAULT_NAMESPACE } from "../../components/serving/ModelNamespace";
import { cosignSignArgs, cosignVerifyArgs, cosignVerifyAttestationArgs, ImageToSign, signatureAnnotations } from "../../release/signing";
import { httpStatus, portTaken, ProcessRecord, startProcess, stopProcess } from "../cluster/processes";
import { binDir, toolPath } from "../toolchain/build";
import { toolSpec } from "../toolchain/manifest";
import { admissionClusterPolicy } from "../../components/supplychain/admission";

/** Fixed loopback port of the suite's registry (clear of the sandbox's ports). */
const PORT = 15000;
const REGISTRY = `127.0.0.1:${PORT}`;
const REPO = `${REGISTRY}/model-fleet/sentiment`;
const TAG = "v2.1.5-abc1234";
const PASSWORD = "supply-chain-suite";
/** The namespace the admission policy covers (the program's default models namespace). */
const NAMESPACE = DEFAULT_NAMESPACE;

/** `<repo>:sha256-<hex>.<suffix>`: where cosign's legacy format keeps a digest's signatures (.sig) and attestations (.att). */
/** cosign's messages for a signature over another digest, and for a signature by another key (pkg/cosign/verifiers.go, sigstore's ecdsa.go). */
const COPIED_SIGNATURE = /no matching signatures: invalid or missing digest in claim: sha256:[0-9a-f]{64}/;
const WRONG_KEY = /no matching signatures: invalid signature when validating ASN\.1 encoded signature/;

const legacyTag = (digest: string, suffix: "sig" | "att"): string => `${REPO}:${digest.replace(":", "-")}.${suffix}`;

/**
 * The stack's admission policy for one public key: exactly what the program declares (components/supplychain/
 * admission.ts, a Kyverno v1.18.2 `ClusterPolicy` with a `verifyImages` rule of `type: Cosign` and a key attestor
 * without transparency or certificate log), in Enforce mode.
 */
function admissionPolicy(publicKeyPem: string): Record<string, unknown> {
    return admissionClusterPolicy({
        name: "model-images-signed",
        namespace: NAMESPACE,
        publicKeys: [publicKeyPem],
        repositories: [REPO],
        mode: "Enforce",
        ecrCredentials: false,
    });
}

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

describe("supply chain: sign and verify with cosign, distribution and crane", function () {
    this.timeout(300000);

    let tmp: string;
    let registry: ProcessRecord | undefined;
    let cosign: string;
    let crane: string;
    let kyverno: string;
    /** The admission policy (ClusterPolicy JSON) trusting key A, and one trusting key B. */
    let policyA: string;
    let policyB: string;
    let env: NodeJS.ProcessEnv;
    let signed: ImageToSign;
    let keyA: { key: string; pub: string };
    let keyB: { key: string; pub: string };
    let outputsFile: string;
    let sbomDir: string;
    let sbom: Record<string, unknown>;

    const run = (cmd: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Run => {
        const r = spawnSync(cmd, [...args], { cwd: tmp, env: { ...env, ...extraEnv }, encoding: "utf8", timeout: 240000, maxBuffer: 64 << 20 });
        if (r.error) throw r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (cmd: string, args: readonly string[]): string => {
        const r = run(cmd, args);
        assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
        return r.stdout.trim();
    };
    /** `npm run sign -- <args>`, exactly as an operator or the workflow runs it. */
    const npmSign = (args: string[]): Run => {
        const r = spawnSync("npm", ["run", "--silent", "sign", "--", ...args], { cwd: REPO_ROOT, env, encoding: "utf8", timeout: 240000, maxBuffer: 64 << 20 });
        if (r.error) throw r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };

    /** An image made from files (one layer, OCI media types), wrapped in an index as docker-build pushes it; the index digest. */
    const pushImage = (tag: string, files: Record<string, string>): string => {
        const dir = fs.mkdtempSync(path.join(tmp, "layer-"));
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
        const tar = `${dir}.tar`;
        ok("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "-C", dir, "."]);
        const image = `${REPO}:${tag}-image`;
        ok(crane, ["append", "--oci-empty-base", "-f", tar, "-t", image]);
        ok(crane, ["mutate", image, "--set-platform", "linux/amd64", "--label", "org.opencontainers.image.revision=abc1234", "-t", image]);
        ok(crane, ["index", "append", "--manifest", image, "-t", `${REPO}:${tag}`]);
        return ok(crane, ["digest", `${REPO}:${tag}`]);
    };

    const imageAt = (digest: string, over: Partial<ImageToSign> = {}): ImageToSign => ({
        model: "sentiment",
        version: "2.1.5",
        gitSha: "abc1234",
        tag: TAG,
        ref: `${REPO}@${digest}`,
        ...over,
    });

    /** Kyverno v1.18.2's verification of a pod in NAMESPACE running `ref`, under a ClusterPolicy file. */
    const kyvernoVerify = (ref: string, policy: string): Run => run(kyverno, ["--policy", policy, "--image", ref, "--namespace", NAMESPACE]);
    const admitted = (ref: string, policy: string): void => {
        const r = kyvernoVerify(ref, policy);
        assert.equal(r.status, 0, `kyverno-verify should admit ${ref}:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /^rule signed-by-stack-key-and-pinned-by-digest: pass: /m);
        assert.match(r.stdout, /^verified: /m);
    };
    const refused = (ref: string, policy: string, message: RegExp): void => {
        const r = kyvernoVerify(ref, policy);
        assert.equal(r.status, 1, `kyverno-verify should refuse ${ref}:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /^rule signed-by-stack-key-and-pinned-by-digest: fail: /m);
        assert.match(r.stdout, message);
        assert.match(r.stdout, /^refused: /m);
    };

    /** Expects cosign to refuse: a non-zero exit and the message. */
    const fails = (args: string[], message: RegExp): Run => {
        const r = run(cosign, args);
        assert.notEqual(r.status, 0, `cosign ${args.join(" ")} should fail, it printed:\n${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message);
        return r;
    };

    before(async function () {
        // A missing tool fails here with `npm run tools -- build <name>` in the message (MissingToolError).
        cosign = toolPath("cosign");
        crane = toolPath("crane");
        kyverno = toolPath("kyverno-verify");
        const registryBin = toolPath("distribution", "registry");
        if (await portTaken(PORT)) throw new Error(`port ${PORT} is taken: the suite's registry listens on ${REGISTRY} (another run of this suite?)`);

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-supplychain-"));
        // cosign on PATH first, so `npm run sign` uses the tool cache's build; no Docker credentials, no TUF cache.
        env = {
            ...process.env,
            PATH: [binDir(toolSpec("cosign")), process.env.PATH].join(path.delimiter),
            HOME: tmp,
            DOCKER_CONFIG: path.join(tmp, "docker"),
            COSIGN_PASSWORD: PASSWORD,
            npm_config_cache: path.join(os.homedir(), ".npm"),
        };
        const config = path.join(tmp, "registry.yml");
        fs.writeFileSync(
            config,
            [
                "version: 0.1",
                "log:",
                "  level: warn",
                "storage:",
                "  filesystem:",
                `    rootdirectory: ${path.join(tmp, "registry")}`,
                "  delete:",
                "    enabled: true",
                "http:",
                `  addr: ${REGISTRY}`,
                "",
            ].join("\n"),
        );
        registry = await startProcess(
            {
                name: "registry",
                command: registryBin,
                args: ["serve", config],
                env,
                ready: async () => (await httpStatus(`http://${REGISTRY}/v2/`)) === 200,
                timeoutSeconds: 30,
            },
            path.join(tmp, "logs"),
        );

        // Two key pairs: A signs, B is "another key".
        for (const name of ["a", "b"]) {
            fs.mkdirSync(path.join(tmp, name));
            const r = spawnSync(cosign, ["generate-key-pair"], { cwd: path.join(tmp, name), env, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        }
        keyA = { key: path.join(tmp, "a", "cosign.key"), pub: path.join(tmp, "a", "cosign.pub") };
        keyB = { key: path.join(tmp, "b", "cosign.key"), pub: path.join(tmp, "b", "cosign.pub") };
        policyA = path.join(tmp, "policy-a.json");
        policyB = path.join(tmp, "policy-b.json");
        fs.writeFileSync(policyA, JSON.stringify(admissionPolicy(fs.readFileSync(keyA.pub, "utf8")), null, 2));
        fs.writeFileSync(policyB, JSON.stringify(admissionPolicy(fs.readFileSync(keyB.pub, "utf8")), null, 2));

        const files = { "model.json": JSON.stringify({ model: "sentiment", version: "2.1.5" }) + "\n", "serve.py": "print('ok')\n" };
        signed = imageAt(pushImage(TAG, files));

        // The SBOM the suite attests (BuildKit writes this one in CI): the image's files with their SHA-256.
        sbomDir = path.join(tmp, "sbom");
        fs.mkdirSync(sbomDir);
        sbom = {
            spdxVersion: "SPDX-2.3",
            dataLicense: "CC0-1.0",
            SPDXID: "SPDXRef-DOCUMENT",
            name: `sentiment-${TAG}`,
            documentNamespace: `https://model-fleet.invalid/spdx/sentiment/${TAG}`,
            creationInfo: { created: "2026-01-01T00:00:00Z", creators: ["Tool: model-fleet-supplychain-suite"] },
            files: Object.entries(files).map(([name, content], i) => ({
                fileName: `./${name}`,
                SPDXID: `SPDXRef-File-${i}`,
                checksums: [{ algorithm: "SHA256", checksumValue: createHash("sha256").update(content).digest("hex") }],
            })),
        };
        fs.writeFileSync(path.join(sbomDir, "sentiment.spdx.json"), JSON.stringify(sbom, null, 2));

        // The stack outputs contract (index.ts `images` and `signing`), as `pulumi stack output --json` prints it.
        outputsFile = path.join(tmp, "outputs.json");
        const digest = signed.ref.split("@")[1];
        fs.writeFileSync(
            outputsFile,
            JSON.stringify({
                images: { sentiment: { version: "2.1.5", tag: TAG, digest, ref: signed.ref, gitSha: "abc1234" } },
                signing: { keyRef: keyA.key, publicKeyPem: fs.readFileSync(keyA.pub, "utf8") },
            }),
        );
    });

    after(async () => {
        if (registry) await stopProcess(registry);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("npm run sign -- --outputs <stack outputs> signs the digest and attests provenance and SBOM, with the generated key", () => {
        const r = npmSign(["--outputs", outputsFile, "--sbom", sbomDir]);
        assert.equal(r.status, 0, `npm run sign failed:\n${r.stdout}\n${r.stderr}`);
        // The lines it ran are the pure argv (the workflow runs the same command).
        assert.ok(r.stderr.includes(`$ cosign ${cosignSignArgs(signed, keyA.key).join(" ")}`), r.stderr);
        assert.match(r.stdout, /sentiment\s+2\.1\.5\s+\S+@sha256:[0-9a-f]{64}\s+signature, provenance, sbom/);
        // No public service was asked (no TUF fetch, no transparency log entry); cosign warns about exactly the two
        // deprecated flags of the legacy format (docs/supply-chain.md).
        assert.doesNotMatch(r.stderr, /TUF|tuf-repo|rekor|fulcio|tlog entry|transparency log entry/i);
        const warnings = [...new Set(r.stderr.split("\n").filter((l) => /deprecated/i.test(l)))].sort();
        assert.deepEqual(warnings, [
            "Flag --new-bundle-format has been deprecated, this will be the only supported format in future versions",
            "Flag --tlog-upload has been deprecated, prefer using a --signing-config file with no transparency log services",
        ]);

        // Legacy format: the signature under <repo>:sha256-<hex>.sig, the attestations under ….att, no Sigstore bundle
        // (its referrers index would be the tag sha256-<hex>, distribution having no referrers API).
        const digest = signed.ref.split("@")[1];
        const tags = ok(crane, ["ls", REPO]).split("\n");
        assert.ok(!tags.includes(digest.replace(":", "-")), `no Sigstore bundle referrers tag: ${tags.join(" ")}`);
        const sig = JSON.parse(ok(crane, ["manifest", legacyTag(digest, "sig")]));
        assert.equal(sig.layers.length, 1, "one signature");
        const [layer] = sig.layers;
        assert.equal(layer.mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
        // The signature is the layer's only annotation: no Rekor bundle (dev.sigstore.cosign/bundle), no certificate.
        assert.deepEqual(Object.keys(layer.annotations), ["dev.cosignproject.cosign/signature"]);
        const payload = JSON.parse(ok(crane, ["blob", `${REPO}@${layer.digest}`]));
        assert.equal(payload.critical.image["docker-manifest-digest"], digest, "the signed payload names the digest");
        assert.deepEqual(payload.optional, signatureAnnotations(signed));
        const att = JSON.parse(ok(crane, ["manifest", legacyTag(digest, "att")]));
        assert.deepEqual(att.layers.map((l: { annotations: Record<string, string> }) => l.annotations.predicateType).sort(), [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
        ]);
        for (const l of att.layers) {
            assert.equal(l.mediaType, "application/vnd.dsse.envelope.v1+json");
            assert.deepEqual(Object.keys(l.annotations).sort(), ["dev.cosignproject.cosign/signature", "predicateType"], "no Rekor bundle, no certificate");
        }
    });

    it("npm run sign -- --verify checks the signature and both attestations with the stack's public key", () => {
        const r = npmSign(["--outputs", outputsFile, "--sbom", sbomDir, "--verify"]);
        assert.equal(r.status, 0, `npm run sign -- --verify failed:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /sentiment\s+verify\s+ok\n.*sentiment\s+verify provenance\s+ok\n.*sentiment\s+verify sbom\s+ok/s);
    });

    it("the verified signature carries the model, version and git sha; the attestations carry the SBOM and the provenance", () => {
        const payloads = JSON.parse(ok(cosign, cosignVerifyArgs(signed, keyA.pub)));
        assert.equal(payloads.length, 1);
        assert.equal(payloads[0].critical.image["docker-manifest-digest"], signed.ref.split("@")[1]);
        assert.deepEqual(payloads[0].optional, signatureAnnotations(signed));

        const statement = (type: "spdxjson" | "slsaprovenance1") => {
            const lines = ok(cosign, cosignVerifyAttestationArgs(signed, keyA.pub, type))
                .split("\n")
                .filter(Boolean);
            assert.equal(lines.length, 1, `one ${type} attestation`);
            return JSON.parse(Buffer.from(JSON.parse(lines[0]).payload, "base64").toString("utf8"));
        };
        const sbomStatement = statement("spdxjson");
        assert.equal(sbomStatement.predicateType, "https://spdx.dev/Document");
        assert.deepEqual(sbomStatement.predicate, sbom);
        assert.deepEqual(sbomStatement.subject[0].digest, { sha256: signed.ref.split("@sha256:")[1] });
        const provenance = statement("slsaprovenance1");
        assert.equal(provenance.predicateType, "https://slsa.dev/provenance/v1");
        assert.deepEqual(provenance.predicate.buildDefinition.externalParameters, { model: "sentiment", version: "2.1.5", gitSha: "abc1234", tag: TAG });
    });

    it("(a) an unsigned digest fails verification", () => {
        const unsigned = imageAt(pushImage("v9.9.9-unsigned", { "model.json": "{}\n" }));
        fails(cosignVerifyArgs(unsigned, keyA.pub), /no signatures found/);
        fails(cosignVerifyAttestationArgs(unsigned, keyA.pub, "spdxjson"), /no matching attestations|none of the attestations matched/);
    });

    it("(b) a different image pushed under the signed tag afterwards fails verification; the signed digest still verifies", () => {
        const replaced = pushImage(TAG, {
            "model.json": JSON.stringify({ model: "sentiment", version: "2.1.5", weights: "tampered" }) + "\n",
            "serve.py": "print('ok')\n",
        });
        assert.notEqual(`${REPO}@${replaced}`, signed.ref);
        assert.equal(ok(crane, ["digest", `${REPO}:${TAG}`]), replaced, "the tag now names the other image");
        fails(cosignVerifyArgs(imageAt(replaced), keyA.pub), /no signatures found/);
        ok(cosign, cosignVerifyArgs(signed, keyA.pub));
    });

    it("(b) the signature copied onto another digest (its .sig tag) fails: the signed payload names the other digest", () => {
        const target = pushImage("v2.1.5-copy", { "model.json": '{"copy":true}\n' });
        ok(crane, ["copy", legacyTag(signed.ref.split("@")[1], "sig"), legacyTag(target, "sig")]);
        fails(cosignVerifyArgs(imageAt(target), keyA.pub), COPIED_SIGNATURE);
    });

    it("(b) a signature whose annotations do not match the image fails", () => {
        fails(cosignVerifyArgs({ ...signed, version: "2.1.6" }, keyA.pub), /missing or incorrect annotation/);
        fails(cosignVerifyArgs({ ...signed, gitSha: "fff0000" }, keyA.pub), /missing or incorrect annotation/);
    });

    it("(c) a signature made with another key fails verification with ours", () => {
        const other = imageAt(pushImage("v2.1.5-otherkey", { "model.json": '{"key":"b"}\n' }));
        ok(cosign, cosignSignArgs(other, keyB.key));
        ok(cosign, cosignVerifyArgs(other, keyB.pub));
        fails(cosignVerifyArgs(other, keyA.pub), WRONG_KEY);
        // And our signed image does not verify against the other key either.
        fails(cosignVerifyArgs(signed, keyB.pub), WRONG_KEY);
    });

    it("npm run sign refuses a tag-only reference, and nothing is signed", () => {
        const before = run(crane, ["ls", REPO]).stdout;
        const r = npmSign([
            "--image",
            `${REPO}:${TAG}`,
            "--model",
            "sentiment",
            "--version",
            "2.1.5",
            "--git-sha",
            "abc1234",
            "--key",
            keyA.key,
            "--sbom",
            "none",
        ]);
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.match(
            r.stderr,
            /^sign: 127\.0\.0\.1:15000\/model-fleet\/sentiment:v2\.1\.5-abc1234 is not pinned by digest: sign and verify <repository>@sha256:<64 hex>, never a tag/m,
        );
        assert.equal(run(crane, ["ls", REPO]).stdout, before, "no new tags (no signature was pushed)");
    });

    describe("admission: Kyverno v1.18.2's own verification (kyverno-verify) under the stack's ClusterPolicy", () => {
        it("admits the digest npm run sign signed", () => {
            admitted(signed.ref, policyA);
        });

        it("refuses an unsigned digest", () => {
            const unsigned = pushImage("v9.9.8-unsigned", { "model.json": '{"unsigned":true}\n' });
            refused(`${REPO}@${unsigned}`, policyA, /no signatures found/);
        });

        it("refuses a tampered digest: the signed image's signature copied onto another digest", () => {
            const target = pushImage("v2.1.5-tampered", { "model.json": '{"weights":"tampered"}\n' });
            ok(crane, ["copy", legacyTag(signed.ref.split("@")[1], "sig"), legacyTag(target, "sig")]);
            refused(`${REPO}@${target}`, policyA, /invalid or missing digest in claim/);
        });

        it("refuses a digest signed with another key (which that key's policy admits)", () => {
            const other = imageAt(pushImage("v2.1.5-keyb", { "model.json": '{"key":"b2"}\n' }));
            ok(cosign, cosignSignArgs(other, keyB.key));
            refused(other.ref, policyA, /invalid signature when validating ASN\.1 encoded signature/);
            admitted(other.ref, policyB);
        });

        it("refuses the signed image by tag (verifyDigest), though the tag names a signed digest", () => {
            const tag = "v2.1.5-bytag";
            ok(crane, ["tag", signed.ref, tag]);
            refused(`${REPO}:${tag}`, policyA, /missing digest/);
        });

        it("refuses a signature in cosign v3's default format (a Sigstore bundle), which cosign itself accepts", () => {
            // What npm run sign wrote before it switched to the legacy format: cosign v3's defaults, privately (a
            // signing config and a trusted root with no services, as cosign creates them).
            const bundled = imageAt(pushImage("v2.1.5-bundle", { "model.json": '{"format":"bundle"}\n' }));
            const dir = fs.mkdtempSync(path.join(tmp, "sigstore-"));
            ok(cosign, ["signing-config", "create", "--out", path.join(dir, "signing-config.json")]);
            ok(cosign, ["trusted-root", "create", "--out", path.join(dir, "trusted-root.json")]);
            const annotations = Object.entries(signatureAnnotations(bundled)).flatMap(([k, v]) => ["-a", `${k}=${v}`]);
            ok(cosign, [
                "sign",
                "--key",
                keyA.key,
                "--signing-config",
                path.join(dir, "signing-config.json"),
                "--trusted-root",
                path.join(dir, "trusted-root.json"),
                "--yes",
                ...annotations,
                bundled.ref,
            ]);
            const digest = bundled.ref.split("@")[1];
            const tags = ok(crane, ["ls", REPO]).split("\n");
            assert.ok(tags.includes(digest.replace(":", "-")) && !tags.includes(`${digest.replace(":", "-")}.sig`), "a bundle (referrers index), no .sig");
            // A valid signature: cosign verifies the bundle when allowed to read that format …
            ok(cosign, ["verify", "--key", keyA.pub, "--insecure-ignore-tlog=true", ...annotations, bundled.ref]);
            // … but admission reads only the legacy format, and so does npm run sign --verify.
            refused(bundled.ref, policyA, /no signatures found/);
            fails(cosignVerifyArgs(bundled, keyA.pub), /no signatures found/);
        });
    });
});
