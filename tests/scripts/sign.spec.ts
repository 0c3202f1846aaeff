/**
 * The pure side of `npm run sign` (release/signing.ts): digest-only references, the cosign argv of signing,
 * attesting and verifying, the stack-output contract, the provenance predicate. The real cosign runs these same
 * argv in sandbox/supplychain (npm run test:supplychain).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../scripts/cli";
import {
    ANNOTATION_KEYS,
    builderFromEnv,
    buildkitSbomArgs,
    checkCards,
    cosignAttestArgs,
    cosignPublicKeyArgs,
    cosignSignArgs,
    cosignVerifyArgs,
    cosignVerifyAttestationArgs,
    ImageToSign,
    parseDigestRef,
    provenancePredicate,
    signingInputsFromOutputs,
    SigningError,
    signOutcome,
    signPlan,
    statusFromChecks,
    verifyPlan,
} from "../../release/signing";
import { MODEL_CARD_PREDICATE_TYPE, MODEL_CARD_SCHEMA, ModelCard, modelCardJson } from "../../domain/card/modelCard";

const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);
const REPO = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model-fleet/sentiment";
const IMAGE: ImageToSign = { model: "sentiment", version: "2.1.5", ref: `${REPO}@${DIGEST}`, gitSha: "abc1234", tag: "v2.1.5-abc1234" };
/** The image flags of `npm run sign` (one digest, its model, version and git sha, a key file). */
const IMAGE_ARGS = ["--image", IMAGE.ref, "--model", "sentiment", "--version", "2.1.5", "--git-sha", "abc1234", "--key", "cosign.key"];
/** Legacy format (what Kyverno's `type: Cosign` reads), no signing config, no transparency log, no prompt. */
const PRIVATE = ["--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "--yes"];
const KMS = "awskms:///arn:aws:kms:eu-west-1:123456789012:key/0d7f1d1e-1111-2222-3333-444455556666";

/** IMAGE's model card (its digest, model, version, and a full sha starting with its git sha). */
const CARD: ModelCard = {
    schema: MODEL_CARD_SCHEMA,
    model: "sentiment",
    version: "2.1.5",
    gitSha: "abc1234" + "0".repeat(33),
    dataset: { name: "digits", version: "scikit-learn==1.9.1", sha256: "f".repeat(64) },
    training: { spec: "digits/1.1.0", startedAt: "2026-12-07T03:15:26.116+00:00", finishedAt: "2026-12-07T03:15:29.270+00:00" },
    metrics: { accuracy: 0.97, macroF1: 0.97 },
    split: { sha256: "d".repeat(64), instances: 450 },
    parent: "2.1.4",
    image: { digest: DIGEST },
};

function runSign(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/sign.ts", ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 60000,
        env: { ...process.env, PATH: path.dirname(process.execPath), MODEL_FLEET_TOOLS_DIR: path.join(os.tmpdir(), "no-tools-here") },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("signing (release/signing.ts)", () => {
    describe("references", () => {
        it("accepts <repository>@sha256:<64 hex>, with a registry port", () => {
            assert.deepEqual(parseDigestRef(IMAGE.ref), { repository: REPO, digest: DIGEST });
            assert.deepEqual(parseDigestRef(`127.0.0.1:15000/m@${DIGEST}`), { repository: "127.0.0.1:15000/m", digest: DIGEST });
        });

        it("refuses a tag-only reference, a tag next to the digest and a malformed digest", () => {
            assert.throws(
                () => parseDigestRef(`${REPO}:v2.1.5-abc1234`),
                (e: Error) => e instanceof SigningError && /is not pinned by digest.*never a tag/.test(e.message),
            );
            assert.throws(() => parseDigestRef(`${REPO}:v2@${DIGEST}`), /without a tag before the digest/);
            assert.throws(() => parseDigestRef(`${REPO}@sha256:abc`), /sha256:<64 lowercase hex>/);
            assert.throws(() => cosignSignArgs({ ...IMAGE, ref: `${REPO}:latest` }, KMS), /not pinned by digest/);
            assert.throws(() => cosignVerifyArgs({ ...IMAGE, ref: `${REPO}:latest` }, "cosign.pub"), /not pinned by digest/);
        });
    });

    describe("cosign argv", () => {
        it("sign: the key, the legacy format and no public service (no signing config, no transparency log), annotations for model, version and git sha, the digest last", () => {
            assert.deepEqual(cosignSignArgs(IMAGE, KMS), [
                "sign",
                "--key",
                KMS,
                ...PRIVATE,
                "-a",
                "app.kubernetes.io/name=sentiment",
                "-a",
                "app.kubernetes.io/version=2.1.5",
                "-a",
                "org.opencontainers.image.revision=abc1234",
                IMAGE.ref,
            ]);
        });

        it("annotations use the pod's label keys and values (labels.ts), so build metadata is made label-safe the same way", () => {
            const args = cosignSignArgs({ ...IMAGE, version: "2.1.5+build.7" }, "cosign.key");
            assert.ok(args.includes(`${ANNOTATION_KEYS.version}=2.1.5_build.7`), args.join(" "));
        });

        it("attest: the predicate type and file, same key and private flags", () => {
            assert.deepEqual(cosignAttestArgs(IMAGE, "k8s://models/cosign", "spdxjson", "/tmp/p/sentiment.spdx.json"), [
                "attest",
                "--key",
                "k8s://models/cosign",
                ...PRIVATE,
                "--type",
                "spdxjson",
                "--predicate",
                "/tmp/p/sentiment.spdx.json",
                IMAGE.ref,
            ]);
        });

        it("verify: the public key, no tlog lookup, only the legacy format (what admission reads), the same annotations required", () => {
            assert.deepEqual(cosignVerifyArgs(IMAGE, "cosign.pub"), [
                "verify",
                "--key",
                "cosign.pub",
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
                IMAGE.ref,
            ]);
            assert.deepEqual(cosignVerifyAttestationArgs(IMAGE, KMS, "slsaprovenance1"), [
                "verify-attestation",
                "--key",
                KMS,
                "--insecure-ignore-tlog=true",
                "--new-bundle-format=false",
                "--type",
                "slsaprovenance1",
                "--output",
                "json",
                IMAGE.ref,
            ]);
        });

        it("refuses an empty key", () => {
            assert.throws(() => cosignSignArgs(IMAGE, " "), /no signing key/);
        });

        it("reads BuildKit's SBOM of a single-platform image with imagetools", () => {
            assert.deepEqual(buildkitSbomArgs(IMAGE.ref), ["buildx", "imagetools", "inspect", IMAGE.ref, "--format", "{{ json .SBOM.SPDX }}"]);
        });
    });

    describe("plans", () => {
        const other: ImageToSign = { model: "summarize", version: "1.0.0", ref: `${REPO.replace("sentiment", "summarize")}@${DIGEST}`, gitSha: "abc1234" };

        it("sign plan: per image a signature, a provenance and an SBOM attestation; --sbom none drops the SBOM", () => {
            const plan = signPlan([IMAGE, other], KMS, "/tmp/p", { kind: "dir", dir: "/sboms" });
            assert.deepEqual(
                plan.map((s) => `${s.model} ${s.what}`),
                [
                    "sentiment sign",
                    "sentiment attest provenance",
                    "sentiment attest sbom",
                    "summarize sign",
                    "summarize attest provenance",
                    "summarize attest sbom",
                ],
            );
            assert.deepEqual(plan[1].args.slice(-4), ["slsaprovenance1", "--predicate", "/tmp/p/sentiment.provenance.json", IMAGE.ref]);
            assert.deepEqual(plan[2].args.slice(-4), ["spdxjson", "--predicate", "/sboms/sentiment.spdx.json", IMAGE.ref]);
            assert.deepEqual(signPlan([IMAGE], KMS, "/tmp/p", { kind: "buildkit" })[2].args.slice(-2), ["/tmp/p/sentiment.spdx.json", IMAGE.ref]);
            assert.deepEqual(
                signPlan([IMAGE], KMS, "/tmp/p", { kind: "none" }).map((s) => s.what),
                ["sign", "attest provenance"],
            );
        });

        it("skips what already verifies: a re-run signs nothing, a half-done run finishes only what is missing", () => {
            const sbom = { kind: "dir" as const, dir: "/sboms" };
            const all = { signature: true, provenance: true, sbom: true };
            assert.deepEqual(signPlan([IMAGE, other], KMS, "/tmp/p", sbom, { sentiment: all, summarize: all }), []);
            assert.deepEqual(
                signPlan([IMAGE, other], KMS, "/tmp/p", sbom, { sentiment: { signature: true, provenance: true, sbom: false } }).map(
                    (s) => `${s.model} ${s.what}`,
                ),
                ["sentiment attest sbom", "summarize sign", "summarize attest provenance", "summarize attest sbom"],
            );
            // --sbom none: the SBOM check neither exists nor matters.
            assert.deepEqual(signPlan([IMAGE], KMS, "/tmp/p", { kind: "none" }, { sentiment: { signature: true, provenance: true, sbom: false } }), []);
        });

        it("reads the verification results into a status per image, and reports what was signed and what skipped", () => {
            const checks = verifyPlan([IMAGE, other], "k.pub", true);
            const status = statusFromChecks(checks.map((step, i) => ({ step, ok: i !== 2 && i < 4 })));
            assert.deepEqual(status, {
                sentiment: { signature: true, provenance: true, sbom: false },
                summarize: { signature: true, provenance: false, sbom: false },
            });
            assert.deepEqual(signOutcome(status.sentiment, { kind: "dir", dir: "/s" }), { done: ["sbom"], skipped: ["signature", "provenance"] });
            assert.deepEqual(signOutcome(status.sentiment, { kind: "none" }), { done: [], skipped: ["signature", "provenance"] });
            assert.deepEqual(signOutcome(undefined, { kind: "none" }), { done: ["signature", "provenance"], skipped: [] });
            assert.throws(() => statusFromChecks([{ step: signPlan([IMAGE], KMS, "/p", { kind: "none" })[0], ok: true }]), /not a verification step/);
        });

        it("the public key to check with before signing comes from the key reference", () => {
            assert.deepEqual(cosignPublicKeyArgs(KMS), ["public-key", "--key", KMS]);
        });

        it("verify plan mirrors it", () => {
            assert.deepEqual(
                verifyPlan([IMAGE], "k.pub", true).map((s) => s.args[0] + " " + (s.args.includes("--type") ? s.args[s.args.indexOf("--type") + 1] : "")),
                ["verify ", "verify-attestation slsaprovenance1", "verify-attestation spdxjson"],
            );
            assert.equal(verifyPlan([IMAGE], "k.pub", false).length, 2);
        });
    });

    describe("model card attestation (--card <dir>)", () => {
        const other: ImageToSign = { model: "summarize", version: "1.0.0", ref: `${REPO.replace("sentiment", "summarize")}@${DIGEST}`, gitSha: "abc1234" };
        const none = { kind: "none" as const };

        it("attests <dir>/<model>.card.json with the card's own predicate type URI, and verifies that type", () => {
            assert.equal(MODEL_CARD_PREDICATE_TYPE, "https://model-fleet.dev/attestations/model-card/v1");
            const plan = signPlan([IMAGE], KMS, "/tmp/p", none, {}, "/cards");
            assert.deepEqual(
                plan.map((s) => s.what),
                ["sign", "attest provenance", "attest card"],
            );
            assert.deepEqual(plan[2].args, [
                "attest",
                "--key",
                KMS,
                ...PRIVATE,
                "--type",
                MODEL_CARD_PREDICATE_TYPE,
                "--predicate",
                "/cards/sentiment.card.json",
                IMAGE.ref,
            ]);
            const verify = verifyPlan([IMAGE], "k.pub", false, true);
            assert.deepEqual(
                verify.map((s) => s.what),
                ["verify", "verify provenance", "verify card"],
            );
            assert.deepEqual(verify[2].args, cosignVerifyAttestationArgs(IMAGE, "k.pub", MODEL_CARD_PREDICATE_TYPE));
            assert.deepEqual(verify[2].args.slice(5, 7), ["--type", MODEL_CARD_PREDICATE_TYPE]);
            // Without --card, nothing about cards is planned (the workflow's command stays as it was).
            assert.ok(!signPlan([IMAGE], KMS, "/tmp/p", none).some((s) => s.what === "attest card"));
            assert.ok(!verifyPlan([IMAGE], "k.pub", false).some((s) => s.what === "verify card"));
        });

        it("a card that already verifies is not attested again; one that does not is, beside what else is missing", () => {
            const checks = verifyPlan([IMAGE, other], "k.pub", false, true);
            // sentiment: everything verifies; summarize: signature and provenance do, its card does not.
            const status = statusFromChecks(checks.map((step) => ({ step, ok: !(step.model === "summarize" && step.what === "verify card") })));
            assert.deepEqual(status, {
                sentiment: { signature: true, provenance: true, sbom: false, card: true },
                summarize: { signature: true, provenance: true, sbom: false, card: false },
            });
            assert.deepEqual(
                signPlan([IMAGE, other], KMS, "/tmp/p", none, status, "/cards").map((s) => `${s.model} ${s.what}`),
                ["summarize attest card"],
            );
            assert.deepEqual(signOutcome(status.sentiment, none, true), { done: [], skipped: ["signature", "provenance", "card"] });
            assert.deepEqual(signOutcome(status.summarize, none, true), { done: ["card"], skipped: ["signature", "provenance"] });
        });

        it("checks every card before anything is signed: it exists, is valid, and names the image's digest, model, version and commit", () => {
            const files: Record<string, string> = { "/cards/sentiment.card.json": modelCardJson(CARD) };
            assert.deepEqual(
                checkCards([IMAGE], "/cards", (f) => files[f]),
                { sentiment: CARD },
            );

            const otherDigest = "sha256:" + "e".repeat(64);
            const cases: Array<[string, Record<string, string>, RegExp[]]> = [
                ["missing", {}, [/sentiment: \/cards\/sentiment\.card\.json does not exist/]],
                [
                    "another digest",
                    { "/cards/sentiment.card.json": modelCardJson({ ...CARD, image: { digest: otherDigest } }) },
                    [/does not describe \S+@sha256:0123/, /^ {2}- image\.digest \(sha256:e{64}\) is not the image's digest sha256:0123/m],
                ],
                [
                    "another commit and version",
                    { "/cards/sentiment.card.json": modelCardJson({ ...CARD, version: "2.1.6", gitSha: "f".repeat(40) }) },
                    [
                        /^ {2}- version \(2\.1\.6\) is not the image's version 2\.1\.5$/m,
                        /^ {2}- gitSha \(f{40}\) is not the commit the image was built from \(abc1234\)$/m,
                    ],
                ],
                [
                    "invalid",
                    { "/cards/sentiment.card.json": JSON.stringify({ ...CARD, metrics: {}, gitSha: "abc1234" }) },
                    [/is not a valid model card \(2 problems\)/, /- gitSha \(abc1234\) must be the full 40-hex/, /- metrics\.accuracy is required/],
                ],
            ];
            for (const [what, cardFiles, messages] of cases) {
                assert.throws(
                    () => checkCards([IMAGE], "/cards", (f) => cardFiles[f]),
                    (e: Error) => {
                        assert.ok(e instanceof SigningError, what);
                        assert.match(e.message, /^--card \/cards: nothing was signed:\n/, what);
                        for (const m of messages) assert.match(e.message, m, what);
                        return true;
                    },
                );
            }
            // Every image's problem in one error.
            assert.throws(
                () => checkCards([IMAGE, other], "/cards", () => undefined),
                (e: Error) => /sentiment: .*does not exist/.test(e.message) && /summarize: .*does not exist/.test(e.message),
            );
        });
    });

    describe("stack outputs (images, signing)", () => {
        const outputs = {
            environment: "dev",
            images: { sentiment: { version: "2.1.5", tag: "v2.1.5-abc1234", digest: DIGEST, ref: IMAGE.ref, gitSha: "abc1234" } },
            signing: { keyRef: KMS, publicKeyPem: "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n" },
        };

        it("reads every image and the key", () => {
            assert.deepEqual(signingInputsFromOutputs(outputs, "stack dev"), { images: [IMAGE], keyRef: KMS, publicKeyPem: outputs.signing.publicKeyPem });
        });

        it("lists every missing or bad field in one error", () => {
            const bad = { images: { a: { version: "1", digest: "sha256:x", ref: "r" } }, signing: {} };
            assert.throws(
                () => signingInputsFromOutputs(bad, "stack dev"),
                (e: Error) =>
                    e instanceof SigningError &&
                    /images\.a\.digest/.test(e.message) &&
                    /images\.a\.gitSha/.test(e.message) &&
                    /signing\.keyRef/.test(e.message),
            );
        });

        it("refuses a tag-only ref and a ref whose digest is not the image's digest", () => {
            const tagged = { ...outputs, images: { sentiment: { ...outputs.images.sentiment, ref: `${REPO}:v2.1.5-abc1234` } } };
            assert.throws(() => signingInputsFromOutputs(tagged, "stack dev"), /images\.sentiment\.ref: .*not pinned by digest/);
            const other = "sha256:" + "f".repeat(64);
            const mismatch = { ...outputs, images: { sentiment: { ...outputs.images.sentiment, digest: other } } };
            assert.throws(() => signingInputsFromOutputs(mismatch, "stack dev"), /is not the digest sha256:f{64}/);
        });
    });

    describe("weights artifacts (images.<model>.weights)", () => {
        const W_DIGEST = "sha256:" + "fedcba9876543210".repeat(4);
        const W_REF = `${REPO}@${W_DIGEST}`;
        const WITH_WEIGHTS: ImageToSign = { ...IMAGE, weights: { ref: W_REF, tag: "v2.1.5-8d41f0c", gitSha: "8d41f0c" } };
        const WEIGHTS_SUBJECT = { model: "sentiment", version: "2.1.5", ref: W_REF, gitSha: "8d41f0c", tag: "v2.1.5-8d41f0c" };
        const outputs = (weights: unknown) => ({
            images: { sentiment: { version: "2.1.5", tag: "v2.1.5-abc1234", digest: DIGEST, ref: IMAGE.ref, gitSha: "abc1234", weights } },
            signing: { keyRef: KMS },
        });

        it("reads a model's weights from the outputs: the commit is the weights tag's, else the image's", () => {
            const tagged = { digest: W_DIGEST, tag: "v2.1.5-8d41f0c", ref: W_REF, repository: "sentiment" };
            assert.deepEqual(signingInputsFromOutputs(outputs(tagged), "stack dev").images, [WITH_WEIGHTS]);
            const untagged = { digest: W_DIGEST, ref: W_REF, repository: "sentiment" };
            assert.deepEqual(signingInputsFromOutputs(outputs(untagged), "stack dev").images[0].weights, { ref: W_REF, gitSha: "abc1234" });
        });

        it("refuses weights by tag, of another digest, or with a tag that is not a release tag, naming the path", () => {
            assert.throws(
                () => signingInputsFromOutputs(outputs({ digest: W_DIGEST, ref: `${REPO}:weights`, repository: "sentiment" }), "stack dev"),
                /images\.sentiment\.weights\.ref: .*not pinned by digest/,
            );
            assert.throws(
                () => signingInputsFromOutputs(outputs({ digest: DIGEST, ref: W_REF, repository: "sentiment" }), "stack dev"),
                new RegExp(`images\\.sentiment\\.weights: ref ${W_REF.replace(/[.]/g, "\\.")} is not the digest ${DIGEST}`),
            );
            assert.throws(
                () => signingInputsFromOutputs(outputs({ digest: W_DIGEST, tag: "latest", ref: W_REF, repository: "sentiment" }), "stack dev"),
                /images\.sentiment\.weights\.tag: a release tag/,
            );
        });

        it("signs the weights with the same key and the model and version annotations (the git sha: the weights'), attests a provenance, no SBOM", () => {
            const plan = signPlan([WITH_WEIGHTS], KMS, "/tmp/p", { kind: "dir", dir: "/sboms" });
            assert.deepEqual(
                plan.map((x) => x.what),
                ["sign", "attest provenance", "attest sbom", "sign weights", "attest weights provenance"],
            );
            assert.deepEqual(plan[3].args, cosignSignArgs(WEIGHTS_SUBJECT, KMS));
            assert.deepEqual(plan[3].args.slice(-7), [
                "-a",
                `${ANNOTATION_KEYS.model}=sentiment`,
                "-a",
                `${ANNOTATION_KEYS.version}=2.1.5`,
                "-a",
                `${ANNOTATION_KEYS.gitSha}=8d41f0c`,
                W_REF,
            ]);
            assert.deepEqual(plan[4].args.slice(-4), ["slsaprovenance1", "--predicate", "/tmp/p/sentiment.weights.provenance.json", W_REF]);
            const predicate: any = provenancePredicate(WEIGHTS_SUBJECT, { id: "urn:model-fleet:signer:local" }, "dev", "weights");
            assert.equal(predicate.buildDefinition.buildType, "urn:model-fleet:buildtype:weights-artifact:v1");
            assert.deepEqual(predicate.buildDefinition.externalParameters, {
                model: "sentiment",
                version: "2.1.5",
                gitSha: "8d41f0c",
                tag: "v2.1.5-8d41f0c",
                stack: "dev",
                artifact: "weights",
            });
        });

        it("--card: the card goes on the weights artifact, not on the image; verify mirrors it", () => {
            const plan = signPlan([WITH_WEIGHTS], KMS, "/tmp/p", { kind: "none" }, {}, "/cards");
            assert.deepEqual(
                plan.map((x) => x.what),
                ["sign", "attest provenance", "sign weights", "attest weights provenance", "attest weights card"],
            );
            assert.deepEqual(plan[4].args.slice(-4), [MODEL_CARD_PREDICATE_TYPE, "--predicate", "/cards/sentiment.card.json", W_REF]);
            const verify = verifyPlan([WITH_WEIGHTS], "k.pub", false, true);
            assert.deepEqual(
                verify.map((x) => x.what),
                ["verify", "verify provenance", "verify weights", "verify weights provenance", "verify weights card"],
            );
            assert.deepEqual(verify[2].args, cosignVerifyArgs(WEIGHTS_SUBJECT, "k.pub"));
            assert.deepEqual(verify[4].args, cosignVerifyAttestationArgs({ ref: W_REF }, "k.pub", MODEL_CARD_PREDICATE_TYPE));
        });

        it("idempotent: what verifies on the weights is skipped, the rest is signed, and the summary says which", () => {
            const checks = verifyPlan([WITH_WEIGHTS], "k.pub", false, true);
            const status = statusFromChecks(checks.map((step) => ({ step, ok: step.what !== "verify weights card" })));
            assert.deepEqual(status.sentiment, {
                signature: true,
                provenance: true,
                sbom: false,
                weightsSignature: true,
                weightsProvenance: true,
                weightsCard: false,
            });
            assert.deepEqual(
                signPlan([WITH_WEIGHTS], KMS, "/tmp/p", { kind: "none" }, status, "/cards").map((x) => x.what),
                ["attest weights card"],
            );
            assert.deepEqual(signOutcome(status.sentiment, { kind: "none" }, true, true), {
                done: ["weights card"],
                skipped: ["signature", "provenance", "weights signature", "weights provenance"],
            });
        });

        it("checks the weights' card: it names the weights artifact and the server image, and the weights' commit", () => {
            const card: ModelCard = { ...CARD, gitSha: "8d41f0c" + "0".repeat(33), weights: { digest: W_DIGEST } };
            assert.deepEqual(
                checkCards([WITH_WEIGHTS], "/cards", () => modelCardJson(card)),
                { sentiment: card },
            );
            assert.throws(
                () => checkCards([WITH_WEIGHTS], "/cards", () => modelCardJson(CARD)),
                (e: Error) =>
                    e instanceof SigningError &&
                    e.message.includes(`does not describe ${IMAGE.ref} with the weights ${W_REF}`) &&
                    e.message.includes(`weights.digest is required: the model mounts the weights artifact ${W_DIGEST}`) &&
                    e.message.includes("gitSha (abc1234000000000000000000000000000000000) is not the commit the image was built from (8d41f0c)"),
            );
        });
    });

    describe("provenance", () => {
        const actions = {
            GITHUB_ACTIONS: "true",
            GITHUB_SERVER_URL: "https://github.com",
            GITHUB_REPOSITORY: "acme/model-fleet",
            GITHUB_WORKFLOW_REF: "acme/model-fleet/.github/workflows/main.yml@refs/heads/main",
            GITHUB_RUN_ID: "42",
            GITHUB_RUN_ATTEMPT: "2",
            GITHUB_SHA: "abc1234" + "0".repeat(33),
        };

        it("names the workflow as builder and the run as invocation on GitHub Actions; a local signer otherwise", () => {
            assert.deepEqual(builderFromEnv(actions), {
                id: "https://github.com/acme/model-fleet/.github/workflows/main.yml@refs/heads/main",
                invocationId: "https://github.com/acme/model-fleet/actions/runs/42/attempts/2",
                source: { uri: "git+https://github.com/acme/model-fleet", commit: actions.GITHUB_SHA },
            });
            assert.deepEqual(builderFromEnv({}), { id: "urn:model-fleet:signer:local" });
        });

        it("is a SLSA v1 predicate with the model, version and commit (the full commit only when it is this image's)", () => {
            const p = provenancePredicate(IMAGE, builderFromEnv(actions), "dev") as any;
            assert.deepEqual(p.buildDefinition.externalParameters, {
                model: "sentiment",
                version: "2.1.5",
                gitSha: "abc1234",
                tag: "v2.1.5-abc1234",
                stack: "dev",
            });
            assert.deepEqual(p.buildDefinition.resolvedDependencies, [
                { uri: "git+https://github.com/acme/model-fleet", digest: { gitCommit: actions.GITHUB_SHA } },
            ]);
            assert.equal(p.runDetails.builder.id, "https://github.com/acme/model-fleet/.github/workflows/main.yml@refs/heads/main");
            const elsewhere = provenancePredicate({ ...IMAGE, gitSha: "fff0000" }, builderFromEnv(actions)) as any;
            assert.deepEqual(elsewhere.buildDefinition.resolvedDependencies, []);
        });
    });

    describe("npm run sign (no tools needed)", function () {
        this.timeout(120000);
        let tmp: string;
        before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sign-cli-"))));
        after(() => fs.rmSync(tmp, { recursive: true, force: true }));

        it("refuses a tag-only --image before looking for cosign", () => {
            const r = runSign([
                "--image",
                `${REPO}:v2.1.5-abc1234`,
                "--model",
                "sentiment",
                "--version",
                "2.1.5",
                "--git-sha",
                "abc1234",
                "--key",
                "cosign.key",
            ]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, /^sign: .*:v2\.1\.5-abc1234 is not pinned by digest/);
        });

        it("--dry-run prints the same cosign lines as the plan, from an outputs file", () => {
            const file = path.join(tmp, "outputs.json");
            fs.writeFileSync(
                file,
                JSON.stringify({ images: { sentiment: { version: "2.1.5", digest: DIGEST, ref: IMAGE.ref, gitSha: "abc1234" } }, signing: { keyRef: KMS } }),
            );
            const r = runSign(["--outputs", file, "--sbom", "none", "--dry-run"]);
            assert.equal(r.status, 0, r.stderr);
            const [comment, ...lines] = r.stdout.trim().split("\n");
            const kept = /^# the provenance predicates are in (\S+); a real run first verifies each image and skips what already verifies$/.exec(comment)?.[1];
            assert.ok(kept && fs.existsSync(path.join(kept, "sentiment.provenance.json")), comment);
            fs.rmSync(kept, { recursive: true, force: true });
            assert.equal(lines.length, 2);
            assert.equal(lines[0], `cosign ${cosignSignArgs({ ...IMAGE, tag: undefined }, KMS).join(" ")}`);
            assert.match(
                lines[1],
                /^cosign attest --key awskms:\/\/\/arn:aws:kms:\S+ --new-bundle-format=false --use-signing-config=false --tlog-upload=false --yes --type slsaprovenance1 --predicate \S+\/sentiment\.provenance\.json /,
            );
        });

        it("--card: --dry-run prints the card attestation; a card for another digest is refused before cosign is looked for", () => {
            const cards = path.join(tmp, "cards");
            fs.mkdirSync(cards, { recursive: true });
            fs.writeFileSync(path.join(cards, "sentiment.card.json"), modelCardJson(CARD));
            const dry = runSign([...IMAGE_ARGS, "--sbom", "none", "--card", cards, "--dry-run"]);
            assert.equal(dry.status, 0, dry.stderr);
            const kept = /^# the provenance predicates are in (\S+);/.exec(dry.stdout)?.[1];
            if (kept) fs.rmSync(kept, { recursive: true, force: true });
            assert.ok(
                dry.stdout
                    .split("\n")
                    .includes(`cosign ${cosignAttestArgs(IMAGE, "cosign.key", MODEL_CARD_PREDICATE_TYPE, path.join(cards, "sentiment.card.json")).join(" ")}`),
                dry.stdout,
            );
            fs.writeFileSync(path.join(cards, "sentiment.card.json"), modelCardJson({ ...CARD, image: { digest: "sha256:" + "e".repeat(64) } }));
            const r = runSign([...IMAGE_ARGS, "--sbom", "none", "--card", cards]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, /^sign: --card \S+: nothing was signed:\nsentiment: \S+sentiment\.card\.json does not describe /m);
            assert.doesNotMatch(r.stderr, /cosign/i, "refused before looking for cosign");
        });

        it("without cosign, says so and names `npm run tools -- build cosign`", () => {
            const r = runSign([...IMAGE_ARGS, "--sbom", "none"]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, /needs Cosign \(v3\.1\.3\) \(`cosign`\) to sign and verify the images/);
            assert.match(r.stderr, /npm run tools -- build cosign/);
        });

        it("signing needs --sbom (no default that fails later: the build emits no BuildKit SBOM)", () => {
            const r = runSign(IMAGE_ARGS);
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, /--sbom is required when signing: --sbom <dir> .*--sbom buildkit .*--sbom none/);
        });

        it("--sbom buildkit without Docker's Buildx plugin names the plugin to install, before any cosign call", () => {
            const r = runSign([...IMAGE_ARGS, "--sbom", "buildkit"]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(
                r.stderr,
                /--sbom buildkit reads BuildKit's SBOM with `docker buildx imagetools inspect`, and Docker's Buildx plugin is not available/,
            );
            assert.match(r.stderr, /docker-buildx-plugin/);
            assert.doesNotMatch(r.stderr, /cosign/i);
        });

        it("needs exactly one image source", () => {
            const r = runSign(["--sbom", "none"]);
            assert.equal(r.status, 2);
            assert.match(r.stderr, /give exactly one of --stack, --outputs, --image/);
        });
    });
});
