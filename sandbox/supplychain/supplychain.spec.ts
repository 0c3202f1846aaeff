/**
 * Supply chain with the real tools (npm run test:supplychain; needs `npm run tools -- build cosign distribution
 * crane`): a local OCI registry (distribution), a small image made from files with crane, signed and attested by
 * `npm run sign` with a generated key (the cosign argv of scripts/signing.ts, as the CI workflow runs them), then
 * verified — and an unsigned digest, a digest pushed under the signed tag afterwards, a signature moved onto another
 * digest, a wrong annotation and another key's signature all fail verification. docs/supply-chain.md.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../scripts/cli";
import { cosignSignArgs, cosignVerifyArgs, cosignVerifyAttestationArgs, ImageToSign, signatureAnnotations, SIGSTORE_DIR } from "../../scripts/signing";
import { httpStatus, portTaken, ProcessRecord, startProcess, stopProcess } from "../cluster/processes";
import { binDir, toolPath } from "../tools/build";
import { toolSpec } from "../tools/manifest";

/** Fixed loopback port of the suite's registry (clear of the sandbox's ports). */
const PORT = 15000;
const REGISTRY = `127.0.0.1:${PORT}`;
const REPO = `${REGISTRY}/model-fleet/sentiment`;
const TAG = "v2.1.5-abc1234";
const PASSWORD = "supply-chain-suite";

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
        // No public service was asked: no TUF fetch, no deprecated flag, no transparency log.
        assert.doesNotMatch(r.stderr, /TUF|tuf-repo|deprecated|rekor|fulcio/i);

        // The registry has no referrers API, so cosign lists the bundles under the tag sha256-<hex> (an index).
        const referrers = JSON.parse(ok(crane, ["manifest", `${REPO}:${signed.ref.split("@")[1].replace(":", "-")}`]));
        const bundles = referrers.manifests.map((m: { digest: string }) => {
            const manifest = JSON.parse(ok(crane, ["manifest", `${REPO}@${m.digest}`]));
            assert.equal(manifest.subject.digest, signed.ref.split("@")[1], "each bundle refers to the signed digest");
            return {
                type: manifest.annotations["dev.sigstore.bundle.predicateType"],
                bundle: JSON.parse(ok(crane, ["blob", `${REPO}@${manifest.layers[0].digest}`])),
            };
        });
        assert.deepEqual(bundles.map((b: { type: string }) => b.type).sort(), [
            "https://sigstore.dev/cosign/sign/v1",
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
        ]);
        for (const { type, bundle } of bundles) {
            assert.deepEqual(bundle.verificationMaterial.tlogEntries ?? [], [], `${type}: no transparency log entry`);
            assert.ok(bundle.verificationMaterial.publicKey, `${type}: signed by a key (no Fulcio certificate)`);
            assert.equal(bundle.verificationMaterial.certificate, undefined);
        }
    });

    it("scripts/sigstore/ holds what cosign itself writes for a signing config and a trusted root with no services", () => {
        const dir = fs.mkdtempSync(path.join(tmp, "sigstore-"));
        ok(cosign, ["signing-config", "create", "--out", path.join(dir, "signing-config.json")]);
        ok(cosign, ["trusted-root", "create", "--out", path.join(dir, "trusted-root.json")]);
        for (const f of ["signing-config.json", "trusted-root.json"]) {
            assert.deepEqual(JSON.parse(fs.readFileSync(path.join(SIGSTORE_DIR, f), "utf8")), JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")), f);
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

    it("(b) the signature copied onto another digest (its referrers tag moved) fails: the signed subject is the other digest", () => {
        // distribution v3.1.2 has no OCI referrers API, so cosign keeps a digest's referrers under the tag sha256-<hex>.
        const target = pushImage("v2.1.5-copy", { "model.json": '{"copy":true}\n' });
        const from = `${REPO}:${signed.ref.split("@")[1].replace(":", "-")}`;
        ok(crane, ["copy", from, `${REPO}:${target.replace(":", "-")}`]);
        fails(cosignVerifyArgs(imageAt(target), keyA.pub), /provided artifact digest does not match any digest in statement/);
    });

    it("(b) a signature whose annotations do not match the image fails", () => {
        fails(cosignVerifyArgs({ ...signed, version: "2.1.6" }, keyA.pub), /missing or incorrect annotation/);
        fails(cosignVerifyArgs({ ...signed, gitSha: "fff0000" }, keyA.pub), /missing or incorrect annotation/);
    });

    it("(c) a signature made with another key fails verification with ours", () => {
        const other = imageAt(pushImage("v2.1.5-otherkey", { "model.json": '{"key":"b"}\n' }));
        ok(cosign, cosignSignArgs(other, keyB.key));
        ok(cosign, cosignVerifyArgs(other, keyB.pub));
        const wrongKey = /could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1/;
        fails(cosignVerifyArgs(other, keyA.pub), wrongKey);
        // And our signed image does not verify against the other key either.
        fails(cosignVerifyArgs(signed, keyB.pub), wrongKey);
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
});
