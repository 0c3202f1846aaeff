/**
 * Supply chain with the real tools (npm run test:supplychain; needs `npm run tools -- build pulumi cosign
 * distribution crane kyverno-verify`): a local OCI registry (distribution) behind a proxy that refuses tag overwrites
 * as the stack's immutable ECR repositories do (support/immutableRegistry.ts, with the exclusion filters the program
 * declares), a small image made from files with crane, and the CI workflow's own signing command line (read from
 * .github/workflows/main.yml, run by bash with the step's variables) against a stack whose outputs the real Pulumi CLI
 * reads (a local file backend). It signs and attests once, and a re-run signs nothing; with the exclusion list of
 * before, the registry refuses cosign's second attestation. Then an unsigned digest, a digest pushed under the signed
 * tag afterwards, a signature moved onto another digest, a wrong annotation and another key's signature all fail
 * verification. The admission engine's own verification (Kyverno v1.18.2, kyverno-verify) accepts the signed digest
 * under the stack's ClusterPolicy and refuses the others, and refuses a signature in cosign v3's default (Sigstore
 * bundle) format. A model card (filled from a real training's evaluation) is attested by `npm run sign --card` with
 * its own predicate type, verifies with the stack's key and not with another's, and a card for another digest is
 * refused before anything is signed, as is a second, different card for a carded digest. Lineage: two versions with
 * real trainings' cards are listed by `npm run versions`, a promotion whose card shows a regression is refused (and
 * goes through, recorded, with --allow-regression), `npm run rollback` returns to the older one, and a card attested
 * with another key is refused. docs/supply-chain.md, docs/model-card.md.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { REPO_ROOT } from "../../scripts/cli";
import { BUILD_CACHE_EXCLUSION_FILTER, ECR_TAG_MUTABILITY_EXCLUSION_FILTERS } from "../../domain/image/tag";
import { ImmutableRegistry, spawnImmutableRegistry } from "../../support/immutableRegistry";
import { verifySignature } from "../../scripts/promote";
import { signatureCheck } from "../../release/promotion";
import { DEFAULT_NAMESPACE } from "../../components/serving/ModelNamespace";
import { cosignAttestArgs, cosignSignArgs, cosignVerifyArgs, cosignVerifyAttestationArgs, ImageToSign, signatureAnnotations } from "../../release/signing";
import { cardFromEvaluation } from "../../release/modelCard";
import { MODEL_CARD_PREDICATE_TYPE, ModelCard, modelCardJson } from "../../domain/card/modelCard";
import { startRegistry } from "./registry";
import { portTaken, ProcessRecord, stopProcess } from "../cluster/processes";
import { binDir, toolPath } from "../toolchain/build";
import { toolSpec } from "../toolchain/manifest";
import { admissionClusterPolicy } from "../../components/supplychain/admission";

/**
 * Fixed loopback ports (clear of the sandbox's): the registry clients use (distribution behind the immutable-ECR
 * proxy), distribution itself, and a second proxy with the ECR exclusion list of before (the build cache only).
 */
const PORT = 15000;
const UPSTREAM_PORT = 15001;
const OLD_LIST_PORT = 15002;
const REGISTRY = `127.0.0.1:${PORT}`;
const UPSTREAM = `127.0.0.1:${UPSTREAM_PORT}`;
const REPO = `${REGISTRY}/model-fleet/sentiment`;
/** The same repository, reached without the proxy: a registry whose tags can be moved. */
const MUTABLE_REPO = `${UPSTREAM}/model-fleet/sentiment`;
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

/** The workflow step that signs (its `run` line and `env`), read from the CI workflow so the suite cannot drift from it. */
function workflowSignStep(): { job: string; run: string; env: Record<string, unknown> } {
    const file = path.join(REPO_ROOT, ".github", "workflows", "main.yml");
    const wf = YAML.parse(fs.readFileSync(file, "utf8"));
    const found = Object.entries<any>(wf.jobs).flatMap(([job, j]) =>
        (j.steps ?? [])
            .filter((s: any) => /^npm run sign\b/.test(String(s.run ?? "").trim()))
            .map((s: any) => ({ job, run: String(s.run).trim(), env: s.env ?? {} })),
    );
    assert.equal(found.length, 1, `${file}: exactly one step runs npm run sign`);
    return found[0];
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
    /** distribution behind ECR's immutability with the program's exclusion filters, and with the list of before. */
    let immutable: ImmutableRegistry | undefined;
    let oldList: ImmutableRegistry | undefined;
    let pulumi: string;
    let pulumiEnv: NodeJS.ProcessEnv;
    let stack: string;
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
    /** What the workflow's card step reads: a stack config that builds `sentiment`, and a real training's record. */
    let cardConfig: string;
    let trainingDir: string;
    /** The full commit a card names, for an image built at `short`. */
    const fullSha = (short: string): string => short + "0".repeat(40 - short.length);

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

    /**
     * An image made from files (one layer, OCI media types), wrapped in an index as docker-build pushes it; the index
     * digest. Pushed through the immutable registry (new tags only), or to `repo` (MUTABLE_REPO to move a tag).
     */
    const pushImage = (tag: string, files: Record<string, string>, repo = REPO): string => {
        const dir = fs.mkdtempSync(path.join(tmp, "layer-"));
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
        const tar = `${dir}.tar`;
        ok("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "-C", dir, "."]);
        // crane mutate rewrites its image tag: the intermediate tags are new per call (an immutable registry refuses a rewrite).
        const base = `${repo}:${tag}-layer`;
        const image = `${repo}:${tag}-image`;
        ok(crane, ["append", "--oci-empty-base", "-f", tar, "-t", base]);
        ok(crane, ["mutate", base, "--set-platform", "linux/amd64", "--label", "org.opencontainers.image.revision=abc1234", "-t", image]);
        ok(crane, ["index", "append", "--manifest", image, "-t", `${repo}:${tag}`]);
        return ok(crane, ["digest", `${repo}:${tag}`]);
    };

    /**
     * A Pulumi stack whose outputs are `outputs`, in a local file backend, read by the real Pulumi CLI as `npm run sign
     * -- --stack` reads the dev stack's in CI (the Stack resource's outputs, imported as a deployment). Its name.
     */
    const stackWithOutputs = (name: string, outputs: Record<string, unknown>): string => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")).name as string;
        const dir = path.join(tmp, "pulumi-project");
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${project}\nruntime: nodejs\n`);
        const p = (args: string[]): string => {
            const r = spawnSync(pulumi, args, { cwd: dir, env: { ...env, ...pulumiEnv }, encoding: "utf8", timeout: 120000 });
            assert.equal(r.status, 0, `pulumi ${args.join(" ")}:\n${r.stdout}${r.stderr}`);
            return r.stdout;
        };
        const fq = `organization/${project}/${name}`;
        p(["stack", "init", fq, "--non-interactive"]);
        const deployment = JSON.parse(p(["stack", "export", "--stack", fq]));
        deployment.deployment.resources = [
            { urn: `urn:pulumi:${name}::${project}::pulumi:pulumi:Stack::${project}-${name}`, custom: false, type: "pulumi:pulumi:Stack", outputs },
        ];
        const file = path.join(dir, `${name}.json`);
        fs.writeFileSync(file, JSON.stringify(deployment));
        p(["stack", "import", "--stack", fq, "--file", file]);
        return fq;
    };

    /** The stack outputs contract (index.ts `images` and `signing`) of one image signed with key A. */
    const outputsFor = (img: ImageToSign): Record<string, unknown> => ({
        images: {
            [img.model]: { version: img.version, ...(img.tag ? { tag: img.tag } : {}), digest: img.ref.split("@")[1], ref: img.ref, gitSha: img.gitSha },
        },
        signing: { keyRef: keyA.key, publicKeyPem: fs.readFileSync(keyA.pub, "utf8") },
    });

    /**
     * The workflow's signing step, exactly: its `run` line, by bash (-e, as GitHub runs it), from the repository root,
     * with each variable of its `env` set to this suite's value (the stack, the SBOM directory; no Pulumi Cloud token:
     * the file backend), plus GitHub Actions' run variables (a new run id per call: a re-run's provenance differs).
     */
    let runNumber = 0;
    const workflowSign = (stackName: string, img: ImageToSign): Run => {
        const step = workflowSignStep();
        // The workflow's card step before it: `npm run card` reads the stack's outputs with the Pulumi CLI and fills the
        // card from a training record (the build cache's export in CI; a real training's record here: no Docker).
        const cardDir = fs.mkdtempSync(path.join(tmp, "workflow-cards-"));
        const card = spawnSync(
            "npm",
            [
                "run",
                "--silent",
                "card",
                "--",
                "--stack",
                stackName,
                "--config",
                cardConfig,
                "--training",
                trainingDir,
                "--git-sha",
                fullSha(img.gitSha),
                "--out",
                cardDir,
            ],
            { cwd: REPO_ROOT, env: { ...env, ...pulumiEnv }, encoding: "utf8", timeout: 240000 },
        );
        assert.equal(card.status, 0, `npm run card:\n${card.stdout}${card.stderr}`);
        const values: Record<string, string | undefined> = { STACK: stackName, SBOM_DIR: sbomDir, CARD_DIR: cardDir, PULUMI_ACCESS_TOKEN: undefined };
        for (const k of Object.keys(step.env)) assert.ok(k in values, `the workflow's signing step sets ${k}; the suite does not know its value`);
        runNumber += 1;
        const github = {
            GITHUB_ACTIONS: "true",
            GITHUB_SERVER_URL: "https://github.com",
            GITHUB_REPOSITORY: "example/model-fleet",
            GITHUB_WORKFLOW_REF: "example/model-fleet/.github/workflows/main.yml@refs/heads/main",
            GITHUB_RUN_ID: String(1000 + runNumber),
            GITHUB_RUN_ATTEMPT: "1",
        };
        const stepEnv: NodeJS.ProcessEnv = { ...env, ...pulumiEnv, ...github };
        for (const [k, v] of Object.entries(values)) {
            if (v === undefined) delete stepEnv[k];
            else stepEnv[k] = v;
        }
        const r = spawnSync("bash", ["-e", "-c", step.run], { cwd: REPO_ROOT, env: stepEnv, encoding: "utf8", timeout: 240000, maxBuffer: 64 << 20 });
        if (r.error) throw r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };

    /** Every tag of the repository with the digest it names (to see that a run wrote nothing). */
    const tagDigests = (repo = REPO): Record<string, string> =>
        Object.fromEntries(
            ok(crane, ["ls", repo])
                .split("\n")
                .filter(Boolean)
                .map((t) => [t, ok(crane, ["digest", `${repo}:${t}`])]),
        );

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

    /** `npm run <script> -- <args>` with the suite's tools and the Pulumi file backend. */
    const npmRun = (script: string, args: string[]): Run => {
        const r = spawnSync("npm", ["run", "--silent", script, "--", ...args], {
            cwd: REPO_ROOT,
            env: { ...env, ...pulumiEnv },
            encoding: "utf8",
            timeout: 240000,
            maxBuffer: 64 << 20,
        });
        if (r.error) throw r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    /** The first model a stack file pins. */
    const pinnedModel = (stackFile: string): any => YAML.parse(fs.readFileSync(stackFile, "utf8")).config["model-fleet:models"][0];
    before(async function () {
        // A missing tool fails here with `npm run tools -- build <name>` in the message (MissingToolError).
        cosign = toolPath("cosign");
        crane = toolPath("crane");
        kyverno = toolPath("kyverno-verify");
        pulumi = toolPath("pulumi");
        toolPath("distribution", "registry");
        for (const port of [PORT, UPSTREAM_PORT, OLD_LIST_PORT]) {
            if (await portTaken(port)) throw new Error(`port ${port} is taken: the suite's registry listens on 127.0.0.1:${port} (another run of this suite?)`);
        }

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-supplychain-"));
        // cosign and pulumi on PATH first, so `npm run sign` uses the tool cache's builds (HOME is the temp dir, where
        // the tool cache is not); no Docker credentials, no TUF cache.
        env = {
            ...process.env,
            PATH: [binDir(toolSpec("cosign")), binDir(toolSpec("pulumi")), process.env.PATH].join(path.delimiter),
            HOME: tmp,
            DOCKER_CONFIG: path.join(tmp, "docker"),
            COSIGN_PASSWORD: PASSWORD,
            npm_config_cache: path.join(os.homedir(), ".npm"),
        };
        registry = await startRegistry(tmp, UPSTREAM, env, { deletes: true });
        // What clients push to: ECR's tag immutability with the exclusion filters the program declares
        // (components/registry/ModelRegistry.ts), and, for the regression test, with the list of before.
        const upstream = `http://${UPSTREAM}`;
        // In processes of their own: the suite runs its tools with spawnSync, which blocks this process's event loop.
        immutable = await spawnImmutableRegistry({
            host: "127.0.0.1",
            port: PORT,
            upstream,
            exclusionFilters: ECR_TAG_MUTABILITY_EXCLUSION_FILTERS,
            refusalsFile: path.join(tmp, "refusals.jsonl"),
        });
        oldList = await spawnImmutableRegistry({
            host: "127.0.0.1",
            port: OLD_LIST_PORT,
            upstream,
            exclusionFilters: [BUILD_CACHE_EXCLUSION_FILTER],
            refusalsFile: path.join(tmp, "refusals-old-list.jsonl"),
        });
        pulumiEnv = {
            PULUMI_BACKEND_URL: `file://${path.join(tmp, "pulumi-backend")}`,
            PULUMI_HOME: path.join(tmp, "pulumi-home"),
            PULUMI_CONFIG_PASSPHRASE: "",
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
        fs.mkdirSync(path.join(tmp, "pulumi-backend"));

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

        // The SBOM the suite attests (in CI Syft writes <SBOM_DIR>/<model>.spdx.json from the pushed digest): the
        // image's files with their SHA-256.
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

        cardConfig = path.join(tmp, "Pulumi.supplychain-build.yaml");
        fs.writeFileSync(
            cardConfig,
            YAML.stringify({
                config: {
                    "model-fleet:models": [
                        { name: "sentiment", version: "2.1.5", image: { build: { context: "images/model-server" } }, card: { parent: null } },
                    ],
                },
            }),
        );
        trainingDir = path.join(tmp, "training");
        fs.mkdirSync(path.join(trainingDir, "sentiment"), { recursive: true });
        for (const f of ["evaluation.json", "training-run.json"])
            fs.copyFileSync(path.join(REPO_ROOT, "tests", "fixtures", "card", f), path.join(trainingDir, "sentiment", f));

        // The stack outputs contract (index.ts `images` and `signing`): a stack the Pulumi CLI reads, and the same as
        // `pulumi stack output --json` prints it.
        stack = stackWithOutputs("supplychain-dev", outputsFor(signed));
        outputsFile = path.join(tmp, "outputs.json");
        fs.writeFileSync(outputsFile, JSON.stringify(outputsFor(signed)));
    });

    after(async () => {
        await immutable?.close();
        await oldList?.close();
        if (registry) await stopProcess(registry);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("the workflow's signing command, run as the workflow runs it, signs the stack's digest and attests provenance, SBOM and model card (from npm run card) through a registry that refuses tag overwrites as ECR does", () => {
        const r = workflowSign(stack, signed);
        assert.equal(r.status, 0, `the workflow's command failed:\n${r.stdout}\n${r.stderr}`);
        assert.deepEqual(immutable?.refusals, [], "nothing was refused: cosign's .att rewrite is excluded from immutability");
        // It read the stack with the Pulumi CLI, checked first (nothing verified yet), then ran the pure argv.
        // cosign v3.1.3 prints "error during command execution: no signatures found" for an unsigned digest.
        assert.match(r.stderr, /^sign: sentiment: verify: not yet \((?:error during command execution|Error): no signatures found[^)]*\)$/m);
        assert.ok(r.stderr.includes(`$ cosign ${cosignSignArgs(signed, keyA.key).join(" ")}`), r.stderr);
        assert.match(r.stdout, /sentiment\s+2\.1\.5\s+\S+@sha256:[0-9a-f]{64}\s+signature, provenance, sbom, card\s+-/);
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
            MODEL_CARD_PREDICATE_TYPE,
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
        ]);
        for (const l of att.layers) {
            assert.equal(l.mediaType, "application/vnd.dsse.envelope.v1+json");
            assert.deepEqual(Object.keys(l.annotations).sort(), ["dev.cosignproject.cosign/signature", "predicateType"], "no Rekor bundle, no certificate");
        }
    });

    it("a re-run of the workflow's command (a new run: new provenance) signs nothing: every check verifies, and no tag changes", () => {
        const before = tagDigests();
        const r = workflowSign(stack, signed);
        assert.equal(r.status, 0, `the re-run failed:\n${r.stdout}\n${r.stderr}`);
        for (const check of ["verify", "verify provenance", "verify sbom", "verify card"]) {
            assert.match(r.stderr, new RegExp(`^sign: sentiment: ${check}: verifies already, not signed again$`, "m"));
        }
        assert.doesNotMatch(r.stderr, /^\$ cosign /m, "no cosign sign or attest ran");
        assert.match(r.stdout, /sentiment\s+2\.1\.5\s+\S+@sha256:[0-9a-f]{64}\s+-\s+signature, provenance, sbom, card/);
        assert.match(r.stdout, /Nothing to sign: every image's signature and attestations already verify\./);
        assert.deepEqual(tagDigests(), before, "the registry is unchanged");
        assert.deepEqual(immutable?.refusals, []);
    });

    it("a run that stopped after the signature finishes only the three attestations (cosign rewrites .att, which the exclusions allow)", () => {
        const half = imageAt(pushImage("v2.1.5-half", { "model.json": '{"half":true}\n' }));
        ok(cosign, cosignSignArgs(half, keyA.key));
        const sigBefore = ok(crane, ["digest", legacyTag(half.ref.split("@")[1], "sig")]);
        const r = workflowSign(stackWithOutputs("supplychain-half", outputsFor(half)), half);
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /sentiment\s+2\.1\.5\s+\S+@sha256:[0-9a-f]{64}\s+provenance, sbom, card\s+signature/);
        assert.equal(ok(crane, ["digest", legacyTag(half.ref.split("@")[1], "sig")]), sigBefore, "the signature was not written again");
        ok(cosign, cosignVerifyAttestationArgs(half, keyA.pub, "spdxjson"));
        assert.deepEqual(immutable?.refusals, []);
    });

    it("with the ECR exclusion list of before (the build cache only), the registry refuses cosign's second attestation: the blocker this fixes", () => {
        const img = pushImage("v2.1.5-oldlist", { "model.json": '{"oldList":true}\n' });
        const viaOldList = imageAt(img, { ref: `127.0.0.1:${OLD_LIST_PORT}/model-fleet/sentiment@${img}` });
        const r = workflowSign(stackWithOutputs("supplychain-oldlist", outputsFor(viaOldList)), viaOldList);
        assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /TAG_INVALID|tag invalid/i);
        assert.match(r.stderr, /cosign attest sbom of sentiment failed/);
        assert.deepEqual(oldList?.refusals, [{ repository: "model-fleet/sentiment", tag: `${img.replace(":", "-")}.att` }]);
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
        assert.deepEqual(provenance.predicate.buildDefinition.externalParameters, { model: "sentiment", version: "2.1.5", gitSha: "abc1234", tag: TAG, stack });
        // Signed by the first run (the re-run signed nothing): its workflow and run id.
        assert.equal(provenance.predicate.runDetails.builder.id, "https://github.com/example/model-fleet/.github/workflows/main.yml@refs/heads/main");
        assert.equal(provenance.predicate.runDetails.metadata.invocationId, "https://github.com/example/model-fleet/actions/runs/1001/attempts/1");
    });

    it("(a) an unsigned digest fails verification", () => {
        const unsigned = imageAt(pushImage("v9.9.9-unsigned", { "model.json": "{}\n" }));
        fails(cosignVerifyArgs(unsigned, keyA.pub), /no signatures found/);
        fails(cosignVerifyAttestationArgs(unsigned, keyA.pub, "spdxjson"), /no matching attestations|none of the attestations matched/);
    });

    it("(b) a different image pushed under the signed tag afterwards fails verification; the signed digest still verifies", () => {
        // Pushed past the immutable proxy: on a registry whose tags can move (Harbor without its v* rule, or by an admin).
        const replaced = pushImage(
            TAG,
            {
                "model.json": JSON.stringify({ model: "sentiment", version: "2.1.5", weights: "tampered" }) + "\n",
                "serve.py": "print('ok')\n",
            },
            MUTABLE_REPO,
        );
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

    it("npm run promote's signature check passes the signed digest with the source stack's key, and refuses an unsigned one or another key's", () => {
        const check = (img: ImageToSign, pem: string) =>
            signatureCheck({
                model: img.model,
                version: img.version,
                ref: img.ref,
                gitSha: img.gitSha,
                publicKeyPem: pem,
                admissionEnabled: true,
                origin: "stack dev",
            });
        verifySignature(check(signed, fs.readFileSync(keyA.pub, "utf8")), "prod");
        const unsigned = imageAt(pushImage("v9.9.7-unsigned", { "model.json": '{"promote":"unsigned"}\n' }));
        assert.throws(
            () => verifySignature(check(unsigned, fs.readFileSync(keyA.pub, "utf8")), "prod"),
            /refusing to promote \S+ into stack prod: it is not signed by the key admission will trust \(Error: no signatures found/,
        );
        assert.throws(() => verifySignature(check(signed, fs.readFileSync(keyB.pub, "utf8")), "prod"), /not signed by the key admission will trust/);
    });

    describe("model card: npm run sign --card attests it with its own predicate type", () => {
        const GIT_SHA = "abc1234" + "5".repeat(33);
        let version: ImageToSign;
        let cardDir: string;
        let card: ModelCard;
        /** The card of the image at `digest`, filled from a real training run's evaluation.json and training-run.json. */
        const cardOf = (digest: string): ModelCard => {
            const fixture = (f: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "tests", "fixtures", "card", f), "utf8"));
            return cardFromEvaluation({
                evaluation: fixture("evaluation.json"),
                trainingRun: fixture("training-run.json"),
                build: { model: "sentiment", version: "2.2.0", gitSha: GIT_SHA, digest, parent: "2.1.5" },
            });
        };
        const signArgs = (img: ImageToSign, dir: string) => [
            "--image",
            img.ref,
            "--model",
            "sentiment",
            "--version",
            "2.2.0",
            "--git-sha",
            "abc1234",
            "--key",
            keyA.key,
            "--sbom",
            "none",
            "--card",
            dir,
        ];
        /** The in-toto statement of the image's one card attestation that verifies with `pub`. */
        const cardStatement = (img: ImageToSign, pub: string) => {
            const lines = ok(cosign, cosignVerifyAttestationArgs(img, pub, MODEL_CARD_PREDICATE_TYPE))
                .split("\n")
                .filter(Boolean);
            assert.equal(lines.length, 1, "one card attestation");
            return JSON.parse(Buffer.from(JSON.parse(lines[0]).payload, "base64").toString("utf8"));
        };

        before(() => {
            // A new version built with crane, its card written as a training pipeline's CI step would.
            version = imageAt(pushImage("v2.2.0-abc1234", { "model.json": '{"model":"sentiment","version":"2.2.0"}\n' }), {
                version: "2.2.0",
                tag: "v2.2.0-abc1234",
            });
            card = cardOf(version.ref.split("@")[1]);
            cardDir = fs.mkdtempSync(path.join(tmp, "cards-"));
            fs.writeFileSync(path.join(cardDir, "sentiment.card.json"), modelCardJson(card));
        });

        it("signs the version and attests its card; cosign verify-attestation --type <uri> with the stack's key returns exactly the card; a re-run attests nothing", () => {
            const r = npmSign(signArgs(version, cardDir));
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stderr, /^sign: sentiment: verify card: not yet \(/m);
            assert.match(r.stdout, /sentiment\s+2\.2\.0\s+\S+@sha256:[0-9a-f]{64}\s+signature, provenance, card\s+-/);
            const statement = cardStatement(version, keyA.pub);
            assert.equal(statement.predicateType, MODEL_CARD_PREDICATE_TYPE);
            assert.deepEqual(statement.predicate, card);
            assert.deepEqual(statement.subject[0].digest, { sha256: version.ref.split("@sha256:")[1] });
            const att = JSON.parse(ok(crane, ["manifest", legacyTag(version.ref.split("@")[1], "att")]));
            assert.deepEqual(att.layers.map((l: { annotations: Record<string, string> }) => l.annotations.predicateType).sort(), [
                "https://model-fleet.dev/attestations/model-card/v1",
                "https://slsa.dev/provenance/v1",
            ]);
            const before = tagDigests();
            const again = npmSign(signArgs(version, cardDir));
            assert.equal(again.status, 0, `${again.stdout}\n${again.stderr}`);
            assert.match(again.stderr, /^sign: sentiment: verify card: verifies already, not signed again$/m);
            assert.match(again.stdout, /Nothing to sign/);
            assert.deepEqual(tagDigests(), before, "the registry is unchanged");
            assert.deepEqual(immutable?.refusals, []);
        });

        it("a card attested with another key is refused by the stack's key (and verifies only with that other key)", () => {
            const other = imageAt(pushImage("v2.2.0-cardkeyb", { "model.json": '{"card":"b"}\n' }), { version: "2.2.0" });
            const dir = fs.mkdtempSync(path.join(tmp, "cards-b-"));
            fs.writeFileSync(path.join(dir, "sentiment.card.json"), modelCardJson(cardOf(other.ref.split("@")[1])));
            ok(cosign, cosignAttestArgs(other, keyB.key, MODEL_CARD_PREDICATE_TYPE, path.join(dir, "sentiment.card.json")));
            assert.equal(cardStatement(other, keyB.pub).predicateType, MODEL_CARD_PREDICATE_TYPE);
            fails(
                cosignVerifyAttestationArgs(other, keyA.pub, MODEL_CARD_PREDICATE_TYPE),
                /invalid signature when validating ASN\.1 encoded signature|no matching attestations/,
            );
        });

        it("a digest that already carries a card is not given a second, different one: sign --card refuses and names the keys; --verify --card fails", () => {
            // `version` was signed and its card attested by the first test. Another card for the same digest (a metric changed).
            const changed = { ...card, metrics: { ...card.metrics, accuracy: 0.5 } };
            const dir = fs.mkdtempSync(path.join(tmp, "cards-changed-"));
            fs.writeFileSync(path.join(dir, "sentiment.card.json"), modelCardJson(changed));
            const before = tagDigests();
            const r = npmSign(signArgs(version, dir));
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stderr, /one card per digest/);
            assert.match(
                r.stderr,
                /sentiment: \S+@sha256:[0-9a-f]{64} already carries a card attestation that differs from the given card in metrics\.accuracy$/m,
            );
            assert.doesNotMatch(r.stderr, /^\$ cosign attest /m, "nothing was attested");
            assert.deepEqual(tagDigests(), before, "the registry is unchanged");
            // --verify takes the public key.
            const verifyArgs = (d: string) => [...signArgs(version, d).map((a) => (a === keyA.key ? keyA.pub : a)), "--verify"];
            const verify = npmSign(verifyArgs(dir));
            assert.equal(verify.status, 1, `${verify.stdout}\n${verify.stderr}`);
            assert.match(verify.stdout, /sentiment\s+card matches --card\s+FAILED/);
            assert.match(verify.stderr, /the attested card is not \S+\/sentiment\.card\.json: differs in metrics\.accuracy/);
            const good = npmSign(verifyArgs(cardDir));
            assert.equal(good.status, 0, `${good.stdout}\n${good.stderr}`);
            assert.match(good.stdout, /sentiment\s+card matches --card\s+ok/);
        });

        it("a card whose digest is not the image's is refused before anything is signed: nothing is pushed", () => {
            const unsigned = imageAt(pushImage("v2.2.0-cardwrong", { "model.json": '{"card":"wrong"}\n' }), { version: "2.2.0" });
            const before = tagDigests();
            // cardDir holds the card of `version`, not of this digest.
            const r = npmSign(signArgs(unsigned, cardDir));
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stderr, /^sign: --card \S+: nothing was signed:\nsentiment: \S+sentiment\.card\.json does not describe \S+@sha256:[0-9a-f]{64}:$/m);
            assert.match(r.stderr, /^ {2}- image\.digest \(sha256:[0-9a-f]{64}\) is not the image's digest sha256:[0-9a-f]{64}$/m);
            assert.doesNotMatch(r.stderr, /^\$ cosign /m, "no cosign command ran");
            assert.deepEqual(tagDigests(), before, "no signature or attestation was pushed");
            fails(cosignVerifyArgs(unsigned, keyA.pub), /no signatures found/);
        });
    });

    describe("lineage: two versions with their cards, npm run versions, the card gate and npm run rollback", () => {
        /** Its own repository (model `sentiment`), so the listing holds only this flow's images. */
        const PREFIX = `${REGISTRY}/model-fleet-lineage`;
        const LREPO = `${PREFIX}/sentiment`;
        const NO_SCANNER = "the suite's registry has no scanner (registry.type external)";
        /** Each version: release tag, short and full git sha, the training whose real evaluation its card carries. */
        const VERSIONS = {
            "2.1.0": { sha: "aaa1111", fixture: "", parent: null },
            "2.2.0": { sha: "bbb2222", fixture: "digits-1.0.0", parent: "2.1.0" },
        } as const;
        const digests: Record<string, string> = {};
        const cards: Record<string, ModelCard> = {};
        let stackFile: string;
        let dir: string;
        const pinned = () => pinnedModel(stackFile);
        const promoteArgs = (version: "2.2.0" | "2.3.0", digest: string, sha: string) => [
            "--model",
            "sentiment",
            "--to",
            stackFile,
            "--digest",
            digest,
            "--version",
            version,
            "--tag",
            `v${version}-${sha}`,
            "--repository",
            LREPO,
            "--signing-key",
            keyA.pub,
            "--allow-vulnerable",
            NO_SCANNER,
        ];

        before(() => {
            dir = fs.mkdtempSync(path.join(tmp, "lineage-"));
            // Two versions built with crane; each signed and its card (a real training's evaluation) attested by npm run sign --card.
            for (const [version, v] of Object.entries(VERSIONS)) {
                const tag = `v${version}-${v.sha}`;
                digests[version] = pushImage(tag, { "model.json": JSON.stringify({ model: "sentiment", version }) + "\n" }, LREPO);
                const fixture = (f: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "tests", "fixtures", "card", v.fixture, f), "utf8"));
                cards[version] = cardFromEvaluation({
                    evaluation: fixture("evaluation.json"),
                    trainingRun: fixture("training-run.json"),
                    build: { model: "sentiment", version, gitSha: fullSha(v.sha), digest: digests[version], parent: v.parent },
                });
                const cardDir = fs.mkdtempSync(path.join(dir, `cards-${version}-`));
                fs.writeFileSync(path.join(cardDir, "sentiment.card.json"), modelCardJson(cards[version]));
                const r = npmSign([
                    "--image",
                    `${LREPO}@${digests[version]}`,
                    "--model",
                    "sentiment",
                    "--version",
                    version,
                    "--git-sha",
                    v.sha,
                    "--key",
                    keyA.key,
                    "--sbom",
                    "none",
                    "--card",
                    cardDir,
                ]);
                assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            }
            // The target stack: runs 2.1.0 from a registry the program does not manage; the canary's quality gate allows a 0.05 drop.
            stackWithOutputs("lineage", {});
            stackFile = path.join(dir, "Pulumi.lineage.yaml");
            fs.writeFileSync(
                stackFile,
                YAML.stringify({
                    config: {
                        "model-fleet:registry": { type: "external", externalPrefix: PREFIX },
                        "model-fleet:models": [
                            {
                                name: "sentiment",
                                version: "2.1.0",
                                image: { digest: digests["2.1.0"], tag: "v2.1.0-aaa1111", signingKey: keyA.pub },
                                canary: { steps: [25, 50, 100], pauseSeconds: 60, analysis: { successRate: 0.99, p99LatencyMs: 500, maxAccuracyDrop: 0.05 } },
                            },
                        ],
                    },
                }),
            );
        });

        it("npm run versions lists both, each with its verified card and signature, and the stack that runs 2.1.0", () => {
            const r = npmRun("versions", ["--model", "sentiment", "--stack", stackFile, "--key", keyA.pub, "--json"]);
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            const report = JSON.parse(r.stdout);
            assert.equal(report.repository, LREPO);
            const row = (v: string) => report.versions.find((e: any) => e.digest === digests[v]);
            for (const v of ["2.1.0", "2.2.0"]) {
                assert.equal(row(v)?.version, v, `${v} is listed: ${r.stdout}`);
                assert.equal(row(v).versionFrom, "tag+card");
                assert.equal(row(v).signature.status, "verified");
                assert.equal(row(v).card.status, "verified");
                assert.equal(row(v).card.accuracy, cards[v].metrics.accuracy);
                assert.equal(row(v).card.parent, cards[v].parent);
                assert.equal(row(v).retention.status, "unmanaged");
            }
            assert.deepEqual(row("2.1.0").runningIn, [{ stack: "lineage", via: "config", artifact: "image" }]);
            assert.deepEqual(row("2.2.0").runningIn, []);
            const order = report.versions.map((e: any) => e.version).filter((v: string) => v in VERSIONS);
            assert.deepEqual(order, ["2.2.0", "2.1.0"], "newest first (no push time in the distribution API: highest version)");
        });

        it("npm run promote refuses 2.2.0, whose card shows a regression (0.81 against the running 0.97, more than maxAccuracyDrop 0.05); nothing changes", () => {
            const before = fs.readFileSync(stackFile, "utf8");
            const r = npmRun("promote", promoteArgs("2.2.0", digests["2.2.0"], "bbb2222"));
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /^\* metrics\.accuracy\s+0\.9711\d*\s+0\.8111\d*$/m);
            assert.match(r.stderr, /held-out accuracy 0\.811111 vs the running version's 0\.971111: 0\.16 worse, more than allowed \(maxAccuracyDrop 0\.05\)/);
            assert.match(r.stderr, /--allow-regression "<reason>"/);
            assert.equal(fs.readFileSync(stackFile, "utf8"), before, "the stack file is unchanged");
        });

        it("with --allow-regression the promotion goes through, with who, when and why recorded next to the digest (the real Pulumi CLI edits the stack file)", () => {
            const r = npmRun("promote", [...promoteArgs("2.2.0", digests["2.2.0"], "bbb2222"), "--allow-regression", "rehearsing the rollback"]);
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            const m = pinned();
            assert.equal(m.version, "2.2.0");
            assert.equal(m.image.digest, digests["2.2.0"]);
            assert.equal(m.image.previousTag, "v2.1.0-aaa1111");
            assert.equal(m.image.regressionOverride.digest, digests["2.2.0"]);
            assert.equal(m.image.regressionOverride.reason, "rehearsing the rollback");
            assert.match(m.image.regressionOverride.refused, /0\.16 worse/);
        });

        it("npm run rollback goes back to 2.1.0 (the release 2.2.0 replaced) through the signature and card checks, and rebuilds nothing", () => {
            const tagsBefore = tagDigests(LREPO);
            const r = npmRun("rollback", ["--model", "sentiment", "--stack", stackFile, "--allow-vulnerable", NO_SCANNER, "--skip-preview"]);
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /rollback sentiment in stack lineage: 2\.2\.0 \(v2\.2\.0-bbb2222\) → 2\.1\.0 \(v2\.1\.0-aaa1111\)/);
            assert.match(r.stdout, /^signed by \S+\/a\/cosign\.pub, with the model and version annotations$/m);
            assert.match(r.stdout, /^\* metrics\.accuracy\s+0\.8111\d*\s+0\.9711\d*$/m);
            assert.match(r.stdout, /--skip-preview: preview with: pulumi preview --stack lineage --config-file \S+Pulumi\.lineage\.yaml --diff/);
            const m = pinned();
            assert.equal(m.version, "2.1.0");
            assert.equal(m.image.digest, digests["2.1.0"]);
            assert.equal(m.image.regressionOverride, undefined, "the override belonged to 2.2.0's digest");
            assert.deepEqual(tagDigests(LREPO), tagsBefore, "nothing was built or pushed");
        });

        it("npm run rollback refuses a version the registry does not hold, naming those it holds", () => {
            const before = fs.readFileSync(stackFile, "utf8");
            const r = npmRun("rollback", ["--model", "sentiment", "--stack", stackFile, "--to", "1.9.0", "--skip-preview"]);
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stderr, /1\.9\.0/);
            assert.match(r.stderr, /2\.2\.0/);
            assert.equal(fs.readFileSync(stackFile, "utf8"), before);
        });

        it("npm run promote refuses a version whose card is signed by another key, though its image signature verifies", () => {
            const digest = pushImage("v2.3.0-ccc3333", { "model.json": '{"model":"sentiment","version":"2.3.0"}\n' }, LREPO);
            const sign = npmSign([
                "--image",
                `${LREPO}@${digest}`,
                "--model",
                "sentiment",
                "--version",
                "2.3.0",
                "--git-sha",
                "ccc3333",
                "--key",
                keyA.key,
                "--sbom",
                "none",
            ]);
            assert.equal(sign.status, 0, `${sign.stdout}\n${sign.stderr}`);
            const card = { ...cards["2.1.0"], version: "2.3.0", gitSha: fullSha("ccc3333"), parent: "2.1.0", image: { digest } };
            const file = path.join(dir, "sentiment.card.json");
            fs.writeFileSync(file, modelCardJson(card));
            ok(cosign, cosignAttestArgs(imageAt(digest, { ref: `${LREPO}@${digest}` }), keyB.key, MODEL_CARD_PREDICATE_TYPE, file));
            const before = fs.readFileSync(stackFile, "utf8");
            const r = npmRun("promote", promoteArgs("2.3.0", digest, "ccc3333"));
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /^signed by \S+\/a\/cosign\.pub, with the model and version annotations$/m);
            assert.match(
                r.stdout,
                /card gate: candidate 2\.3\.0 \(sha256:[0-9a-f]{64}\): no card attestation verifies with the key \(.*found: https:\/\/slsa\.dev\/provenance\/v1\); promotion needs its verified card/,
            );
            assert.equal(fs.readFileSync(stackFile, "utf8"), before);
        });
    });

    describe("weights artifacts (docs/design/weights.md): npm run sign signs them, npm run promote refuses unsigned weights and pins signed ones, rollback restores them", () => {
        /** Its own repository: the server images and their weights artifacts side by side (weights in the model's own repository). */
        const PREFIX = `${REGISTRY}/model-fleet-weights`;
        const WREPO = `${PREFIX}/sentiment`;
        const NO_SCANNER = "the suite's registry has no scanner (registry.type external)";
        /** Per version: the server image's and the weights' release tags (the weights' own commit). */
        const RELEASES = {
            "2.1.0": { image: "aaa1111", weights: "ccc3333", parent: null },
            "2.2.0": { image: "bbb2222", weights: "ddd4444", parent: "2.1.0" },
        } as const;
        const images: Record<string, string> = {};
        const weights: Record<string, string> = {};
        let unsignedWeights: string;
        let stackFile: string;
        let dir: string;
        const pinned = () => pinnedModel(stackFile);
        /** A weights artifact as the training pipeline pushes it: model.onnx, card.json and evaluation.json at its root. */
        const pushWeights = (tag: string, marker: string): string =>
            pushImage(tag, { "model.onnx": `onnx-bytes-${marker}\n`, "card.json": "{}\n", "evaluation.json": JSON.stringify({ marker }) + "\n" }, WREPO);
        /** The `images` output of a stack that runs `version` with its weights (index.ts), and the key it signs with. */
        const outputsOf = (version: "2.1.0" | "2.2.0") => {
            const r = RELEASES[version];
            return {
                images: {
                    sentiment: {
                        version,
                        tag: `v${version}-${r.image}`,
                        digest: images[version],
                        ref: `${WREPO}@${images[version]}`,
                        gitSha: r.image,
                        weights: { digest: weights[version], tag: `v${version}-${r.weights}`, ref: `${WREPO}@${weights[version]}`, repository: "sentiment" },
                    },
                },
                signing: { keyRef: keyA.key, publicKeyPem: fs.readFileSync(keyA.pub, "utf8") },
            };
        };
        const promoteArgs = (weightsDigest: string, weightsTag: string) => [
            "--model",
            "sentiment",
            "--to",
            stackFile,
            "--digest",
            images["2.2.0"],
            "--version",
            "2.2.0",
            "--tag",
            "v2.2.0-bbb2222",
            "--repository",
            WREPO,
            "--signing-key",
            keyA.pub,
            "--weights-digest",
            weightsDigest,
            "--weights-tag",
            weightsTag,
            "--allow-vulnerable",
            NO_SCANNER,
        ];

        before(() => {
            dir = fs.mkdtempSync(path.join(tmp, "weights-"));
            for (const [version, r] of Object.entries(RELEASES)) {
                images[version] = pushImage(`v${version}-${r.image}`, { "serve.py": `print('server ${version}')\n` }, WREPO);
                weights[version] = pushWeights(`v${version}-${r.weights}`, version);
            }
            unsignedWeights = pushWeights("v2.2.0-eee5555", "unsigned");
            // The target: runs 2.1.0's image and weights, from a registry the program does not manage.
            stackWithOutputs("weights", {});
            stackFile = path.join(dir, "Pulumi.weights.yaml");
            fs.writeFileSync(
                stackFile,
                YAML.stringify({
                    config: {
                        "model-fleet:cluster": { version: "1.35" },
                        "model-fleet:registry": { type: "external", externalPrefix: PREFIX },
                        "model-fleet:models": [
                            {
                                name: "sentiment",
                                version: "2.1.0",
                                image: { digest: images["2.1.0"], tag: "v2.1.0-aaa1111", signingKey: keyA.pub },
                                weights: { digest: weights["2.1.0"], tag: "v2.1.0-ccc3333" },
                            },
                        ],
                    },
                }),
            );
        });

        it("npm run sign (from the outputs) signs each image and its weights with the same key and annotations, attests the weights' provenance and card, and --verify checks them; a re-run signs nothing", () => {
            for (const version of ["2.1.0", "2.2.0"] as const) {
                const r = RELEASES[version];
                const outputs = path.join(dir, `outputs-${version}.json`);
                fs.writeFileSync(outputs, JSON.stringify(outputsOf(version)));
                const cardDir = fs.mkdtempSync(path.join(dir, `cards-${version}-`));
                const fixture = (f: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "tests", "fixtures", "card", f), "utf8"));
                const card = cardFromEvaluation({
                    evaluation: fixture("evaluation.json"),
                    trainingRun: fixture("training-run.json"),
                    build: {
                        model: "sentiment",
                        version,
                        gitSha: fullSha(r.weights),
                        digest: images[version],
                        weightsDigest: weights[version],
                        parent: r.parent,
                    },
                });
                fs.writeFileSync(path.join(cardDir, "sentiment.card.json"), modelCardJson(card));
                const signed = npmSign(["--outputs", outputs, "--sbom", "none", "--card", cardDir]);
                assert.equal(signed.status, 0, `${signed.stdout}\n${signed.stderr}`);
                assert.match(signed.stdout, /signature, provenance, weights signature, weights provenance, weights card\s+-/);
                // The weights' signature carries the model, the version and the weights' own commit.
                const wref = `${WREPO}@${weights[version]}`;
                const verified = JSON.parse(ok(cosign, cosignVerifyArgs({ model: "sentiment", version, ref: wref, gitSha: r.weights }, keyA.pub)));
                assert.deepEqual(verified[0].optional, signatureAnnotations({ model: "sentiment", version, ref: wref, gitSha: r.weights }));
                // The card is the weights' (its subject the weights artifact), not on the server image.
                const att = ok(cosign, cosignVerifyAttestationArgs({ ref: wref }, keyA.pub, MODEL_CARD_PREDICATE_TYPE));
                const statement = JSON.parse(Buffer.from(JSON.parse(att.split("\n")[0]).payload, "base64").toString("utf8"));
                assert.deepEqual(statement.subject[0].digest, { sha256: weights[version].slice(7) });
                assert.deepEqual(statement.predicate.weights, { digest: weights[version] });
                fails(
                    cosignVerifyAttestationArgs({ ref: `${WREPO}@${images[version]}` }, keyA.pub, MODEL_CARD_PREDICATE_TYPE),
                    /none of the attestations matched|no matching attestations/,
                );
                const verify = npmSign(["--outputs", outputs, "--verify", "--sbom", "none", "--card", cardDir]);
                assert.equal(verify.status, 0, `${verify.stdout}\n${verify.stderr}`);
                assert.match(verify.stdout, /sentiment\s+verify weights card\s+ok/);
                const tags = tagDigests(WREPO);
                const again = npmSign(["--outputs", outputs, "--sbom", "none", "--card", cardDir]);
                assert.equal(again.status, 0, `${again.stdout}\n${again.stderr}`);
                assert.match(again.stdout, /Nothing to sign/);
                assert.deepEqual(tagDigests(WREPO), tags, "a re-run writes nothing");
            }
        });

        it("npm run promote refuses unsigned weights before changing anything", () => {
            const before = fs.readFileSync(stackFile, "utf8");
            const r = npmRun("promote", promoteArgs(unsignedWeights, "v2.2.0-eee5555"));
            assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
            assert.match(
                r.stderr,
                new RegExp(
                    `refusing to promote ${WREPO.replace(/\./g, "\\.")}@${unsignedWeights} \\(weights\\) into stack \\S+: it is not signed by the key admission will trust`,
                ),
            );
            assert.equal(fs.readFileSync(stackFile, "utf8"), before, "the stack file is unchanged");
        });

        it("npm run promote pins the signed weights with the image: digest, tag, and the replaced weights' tag as weights.previousTag", () => {
            const r = npmRun("promote", promoteArgs(weights["2.2.0"], "v2.2.0-ddd4444"));
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /^\+ weights\.digest: sha256:[0-9a-f]{64}$/m);
            assert.match(r.stdout, /^ {2}weights\.previousTag: v2\.1\.0-ccc3333 \(kept as the rollback target's weights\)$/m);
            assert.match(r.stdout, /Scan of the weights \S+: not scanned: a weights artifact holds model files/);
            assert.match(r.stdout, /card gate: passed/);
            const m = pinned();
            assert.deepEqual([m.version, m.image.digest, m.image.previousTag], ["2.2.0", images["2.2.0"], "v2.1.0-aaa1111"]);
            assert.deepEqual(m.weights, { digest: weights["2.2.0"], tag: "v2.2.0-ddd4444", previousTag: "v2.1.0-ccc3333" });
        });

        it("npm run versions marks the weights the stack mounts; npm run rollback restores 2.1.0's image with its weights (weights.previousTag)", () => {
            const v = npmRun("versions", ["--model", "sentiment", "--stack", stackFile, "--key", keyA.pub, "--json"]);
            assert.equal(v.status, 0, `${v.stdout}\n${v.stderr}`);
            const listed = JSON.parse(v.stdout).versions as any[];
            assert.deepEqual(listed.find((e) => e.digest === weights["2.2.0"]).runningIn, [{ stack: "weights", via: "config", artifact: "weights" }]);
            assert.deepEqual(listed.find((e) => e.digest === images["2.2.0"]).runningIn, [{ stack: "weights", via: "config", artifact: "image" }]);
            const tagsBefore = tagDigests(WREPO);
            const r = npmRun("rollback", ["--model", "sentiment", "--stack", stackFile, "--allow-vulnerable", NO_SCANNER, "--skip-preview"]);
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /with the weights v2\.1\.0-ccc3333 \(sha256:[0-9a-f]{64}\), chosen as the recorded weights\.previousTag v2\.1\.0-ccc3333/);
            const m = pinned();
            assert.deepEqual([m.version, m.image.digest], ["2.1.0", images["2.1.0"]]);
            assert.deepEqual(m.weights, { digest: weights["2.1.0"], tag: "v2.1.0-ccc3333", previousTag: "v2.2.0-ddd4444" });
            assert.deepEqual(tagDigests(WREPO), tagsBefore, "nothing was built or pushed");
        });
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
