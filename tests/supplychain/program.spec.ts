/**
 * Supply chain (issue #16), program side: the signing key's policy, the admission policy object, and what each stack
 * declares and exports (signing key, public keys admission trusts, Kyverno pin, scanning, Harbor metadata).
 */
import { strict as assert } from "assert";
import * as path from "path";
import { admissionClusterPolicy, KYVERNO_CHART, kyvernoValues, SOURCES_RULE_NAME, VERIFY_RULE_NAME } from "../../components/supplychain/admission";
import { awsKmsKeyRef, grantedActions, keyArnOfRef, signingKeyPolicy } from "../../components/supplychain/keyPolicy";
import { harborSeverity, severityRank, thresholdNames } from "../../domain/severity";
import { ACCOUNT_ID, k8sObjects, mockP256PublicKeyPem, runStack, StackRun } from "../../support/harness";

const BUILD_ROLE = "arn:aws:iam::123456789012:role/model-fleet-dev-build";
const KMS_ACTIONS = [
    "kms:Sign",
    "kms:Verify",
    "kms:GetPublicKey",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CreateGrant",
];
const PEM_A = mockP256PublicKeyPem("a");
const PEM_B = mockP256PublicKeyPem("b");
const REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/sentiment";

describe("supply chain: the signing key policy", () => {
    const policy = signingKeyPolicy({ accountId: "123456789012", partition: "aws", buildRoleArn: BUILD_ROLE });
    const root = "arn:aws:iam::123456789012:root";

    it("lets only the build role sign", () => {
        const signers = [...new Set(policy.Statement.filter((s) => grantedActions([s], s.Principal.AWS, ["kms:Sign"]).length > 0).map((s) => s.Principal.AWS))];
        assert.deepEqual(signers, [BUILD_ROLE]);
        assert.deepEqual(grantedActions(policy.Statement, BUILD_ROLE, KMS_ACTIONS), ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]);
    });

    it("lets the account verify and administer, and never sign, encrypt or grant (no IAM policy alone can let anyone else sign; an administrator can still rewrite the policy)", () => {
        const granted = grantedActions(policy.Statement, root, KMS_ACTIONS);
        // The limit of the guarantee, kept visible: administration includes replacing the policy itself.
        assert.ok(granted.includes("kms:PutKeyPolicy"));
        for (const a of ["kms:Verify", "kms:GetPublicKey", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]) assert.ok(granted.includes(a), a);
        for (const a of ["kms:Sign", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"])
            assert.ok(!granted.includes(a), a);
    });

    it("refuses a build role of another account", () => {
        assert.throws(
            () => signingKeyPolicy({ accountId: "123456789012", partition: "aws", buildRoleArn: "arn:aws:iam::999999999999:role/x" }),
            /not in account 123456789012/,
        );
    });

    it("names the key as cosign does: awskms:///<arn>, and back", () => {
        const arn = "arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93";
        assert.equal(awsKmsKeyRef(arn), `awskms:///${arn}`);
        assert.equal(keyArnOfRef(awsKmsKeyRef(arn)), arn);
        assert.equal(keyArnOfRef("awskms:///alias/x"), undefined);
    });
});

describe("supply chain: severity names", () => {
    it("orders Harbor's and Inspector's names on one scale; untriaged ones have no rank", () => {
        assert.deepEqual(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"].map(severityRank), [0, 1, 2, 3, 4]);
        assert.deepEqual(["none", "low", "medium", "high", "critical", "Negligible"].map(severityRank), [0, 1, 2, 3, 4, 0]);
        assert.deepEqual(["UNTRIAGED", "UNDEFINED", "Unknown"].map(severityRank), [undefined, undefined, undefined]);
        assert.deepEqual(thresholdNames("harbor"), ["none", "low", "medium", "high", "critical"]);
        assert.equal(harborSeverity("critical"), "critical");
        assert.throws(() => harborSeverity("severe"), /not a Harbor severity/);
    });
});

describe("supply chain: the admission ClusterPolicy", () => {
    const build = (mode: "Enforce" | "Audit", keys = [PEM_A], allowedImages?: string[]) =>
        admissionClusterPolicy({ name: "p", namespace: "models", publicKeys: keys, repositories: [REPO], allowedImages, mode, ecrCredentials: true });

    it("verifies every image of the stack's repositories in a models-namespace pod: pinned by digest, signed by one of the keys, never mutated", () => {
        const p = build("Enforce", [PEM_A, PEM_B, PEM_A]);
        assert.equal(p.apiVersion, "kyverno.io/v1");
        assert.equal(p.kind, "ClusterPolicy");
        const [rule] = p.spec.rules;
        assert.equal(rule.name, VERIFY_RULE_NAME);
        assert.deepEqual(rule.match, { any: [{ resources: { kinds: ["Pod"], namespaces: ["models"] } }] });
        const [v] = rule.verifyImages;
        // Any digest and any tag of the stack's repository (a tag is matched, then refused by verifyDigest); nothing else.
        assert.deepEqual(
            [v.imageReferences, v.verifyDigest, v.mutateDigest, v.required, v.failureAction, v.type],
            [[`${REPO}@*`, `${REPO}:*`], true, false, true, "Enforce", "Cosign"],
        );
        assert.deepEqual(v.imageRegistryCredentials, { providers: ["amazon"] });
        assert.equal(v.attestors.length, 1);
        assert.equal(v.attestors[0].count, 1, "any one trusted key suffices");
        assert.deepEqual(
            v.attestors[0].entries.map((e: any) => e.keys.publicKeys),
            [PEM_A, PEM_B],
            "one entry per distinct key",
        );
        for (const e of v.attestors[0].entries) assert.deepEqual([e.keys.rekor, e.keys.ctlog], [{ ignoreTlog: true }, { ignoreSCT: true }]);
        assert.equal(p.spec.background, false);
        // Webhook settings under webhookConfiguration: spec.failurePolicy and spec.webhookTimeoutSeconds are deprecated
        // in Kyverno v1.18.2 (api/kyverno/v1/spec_types.go).
        // No matchConditions: they move the policy onto fine-grained webhooks, where Kyverno v1.18.2 verifies no image and
        // refuses signed ones too (pkg/webhooks/resource/handlers.go retrieveAndCategorizePolicies; sandbox/e2e/admission.spec.ts).
        // The rules' match keeps it to the models namespace.
        assert.deepEqual(p.spec.webhookConfiguration, { failurePolicy: "Fail", timeoutSeconds: 30 });
        for (const rule of p.spec.rules) assert.deepEqual(rule.match.any[0].resources.namespaces, ["models"]);
        assert.deepEqual(Object.keys(p.spec).sort(), ["background", "rules", "webhookConfiguration"]);
    });

    it("a separate, explicit rule: every container image comes from the stack's repositories or the allowed list", () => {
        const p = build("Enforce", [PEM_A], ["docker.io/istio/proxyv2:*"]);
        const sources = p.spec.rules[1];
        assert.equal(sources.name, SOURCES_RULE_NAME);
        assert.deepEqual(sources.match, p.spec.rules[0].match);
        assert.equal(sources.validate.failureAction, "Enforce");
        const image = `${REPO}@* | ${REPO}:* | docker.io/istio/proxyv2:*`;
        assert.deepEqual(sources.validate.pattern, {
            spec: {
                "=(ephemeralContainers)": [{ image }],
                "=(initContainers)": [{ image }],
                containers: [{ image }],
                "=(volumes)": [{ "=(image)": { reference: `${REPO}@* | ${REPO}:*` } }],
            },
        });
        // The allowed images are not verified: only the stack's repositories are.
        assert.deepEqual(p.spec.rules[0].verifyImages[0].imageReferences, [`${REPO}@*`, `${REPO}:*`]);
    });

    it("verifies image volumes (weights) too: Kyverno v1.18.2 extracts only containers by itself, so the rule lists all four extractors", () => {
        // kyverno@v1.18.2 pkg/utils/api/image.go: BuildStandardExtractors covers initContainers, containers and
        // ephemeralContainers; lookupImageExtractor returns a rule's own extractors for the kind instead of them.
        const p = build("Enforce", [PEM_A]);
        assert.deepEqual(p.spec.rules[0].imageExtractors, {
            Pod: [
                { path: "/spec/initContainers/*/image", key: "name", name: "initContainers" },
                { path: "/spec/containers/*/image", key: "name", name: "containers" },
                { path: "/spec/ephemeralContainers/*/image", key: "name", name: "ephemeralContainers" },
                { path: "/spec/volumes/*/image", value: "reference", name: "imageVolumes" },
            ],
        });
    });

    it("audits instead in Audit mode (and never blocks when Kyverno is down)", () => {
        const p = build("Audit");
        assert.equal(p.spec.rules[0].verifyImages[0].failureAction, "Audit");
        assert.equal(p.spec.rules[1].validate.failureAction, "Audit");
        assert.equal(p.spec.webhookConfiguration.failurePolicy, "Ignore");
    });

    it("refuses to build a policy without a key, a key that is not PEM, without a repository, or with an allowed pattern Kyverno would read as operators", () => {
        assert.throws(() => build("Enforce", []), /no trusted public key/);
        assert.throws(() => build("Enforce", ["ssh-ed25519 AAAA"]), /not a PEM public key/);
        const input = { name: "p", namespace: "models", publicKeys: [PEM_A], mode: "Enforce" as const, ecrCredentials: false };
        assert.throws(() => admissionClusterPolicy({ ...input, repositories: [] }), /no repository/);
        assert.throws(() => admissionClusterPolicy({ ...input, repositories: [`${REPO}@sha256:${"a".repeat(64)}`] }), /not a repository/);
        assert.throws(() => admissionClusterPolicy({ ...input, repositories: ["*"] }), /not a repository/);
        for (const bad of ["a/b:* | *", "!docker.io/x", "a&b", ""]) assert.throws(() => build("Enforce", [PEM_A], [bad]), /not a plain image wildcard pattern/);
    });

    it("pins the Kyverno chart with the CRDs on and an HA admission controller", () => {
        assert.deepEqual(KYVERNO_CHART, { chart: "kyverno", version: "3.8.2", appVersion: "v1.18.2", repo: "https://kyverno.github.io/kyverno/" });
        assert.deepEqual(kyvernoValues(), {
            crds: { install: true },
            admissionController: { replicas: 3, podDisruptionBudget: { enabled: true, minAvailable: 1 } },
        });
    });
});

describe("supply chain: what the stacks declare and export", () => {
    const runs: Record<string, StackRun> = {};
    const run = async (name: string): Promise<StackRun> =>
        (runs[name] ??= await runStack(
            name,
            ["harbor", "supply-chain"].includes(name) ? { configFile: path.join(__dirname, "..", "fixtures", "stacks", `${name}.yaml`) } : {},
        ));
    const policyOf = (r: StackRun) => k8sObjects(r.resources).find((o) => o.kind === "ClusterPolicy") as any;
    const keysOf = (p: any): string[] => p.spec.rules[0].verifyImages[0].attestors[0].entries.map((e: any) => e.keys.publicKeys);

    it("dev declares its signing key (ECC_NIST_P256, SIGN_VERIFY, build role signs) and audits with its public key", async () => {
        const r = await run("dev");
        const key = r.resources.find((x) => x.type === "aws:kms/key:Key" && x.name === "signing-key")!;
        assert.ok(key, "the signing key");
        assert.deepEqual([key.inputs.customerMasterKeySpec, key.inputs.keyUsage, key.inputs.enableKeyRotation], ["ECC_NIST_P256", "SIGN_VERIFY", false]);
        assert.deepEqual(JSON.parse(key.inputs.policy), signingKeyPolicy({ accountId: ACCOUNT_ID, partition: "aws", buildRoleArn: BUILD_ROLE }));
        const alias = r.resources.find((x) => x.type === "aws:kms/alias:Alias")!;
        assert.equal(alias.inputs.name, "alias/model-fleet-dev-signing");
        const keyArn = key.state.arn;
        assert.deepEqual(r.outputs.signing, { keyRef: `awskms:///${keyArn}`, publicKeyPem: mockP256PublicKeyPem(keyArn) });
        const policy = policyOf(r);
        assert.equal(policy.spec.rules[0].verifyImages[0].failureAction, "Audit", "development audits");
        assert.deepEqual(keysOf(policy), [mockP256PublicKeyPem(keyArn)]);
        assert.deepEqual(r.outputs.admissionPolicy, { name: "model-fleet-verify-images", mode: "Audit" });
        const chart = r.resources.find((x) => x.type === "kubernetes:helm.sh/v4:Chart" && x.name === "admission-kyverno")!;
        assert.deepEqual(
            [chart.inputs.chart, chart.inputs.version, chart.inputs.repositoryOpts?.repo],
            ["kyverno", "3.8.2", "https://kyverno.github.io/kyverno/"],
        );
    });

    it("dev's images output carries the git sha each image was built from", async () => {
        const r = await run("dev");
        for (const [model, img] of Object.entries<any>(r.outputs.images)) {
            assert.equal(img.gitSha, "a1b2c3d", model);
            assert.ok(img.tag.endsWith(`-${img.gitSha}`));
            assert.deepEqual(Object.keys(img).sort(), ["digest", "gitSha", "ref", "tag", "version"]);
        }
    });

    it("dev switches its registry to Amazon Inspector for the model repositories; scan on push stays on", async () => {
        const r = await run("dev");
        const scanning = r.resources.filter((x) => x.type === "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration");
        assert.equal(scanning.length, 1);
        assert.deepEqual(scanning[0].inputs, {
            scanType: "ENHANCED",
            rules: [{ scanFrequency: "CONTINUOUS_SCAN", repositoryFilters: [{ filter: "model-fleet/*", filterType: "WILDCARD" }] }],
        });
        for (const repo of r.resources.filter((x) => x.type === "aws:ecr/repository:Repository"))
            assert.deepEqual(repo.inputs.imageScanningConfiguration, { scanOnPush: true });
    });

    it("prod declares no key: it enforces with the public key of the key promotion recorded (read in that key's region)", async () => {
        const r = await run("prod");
        assert.equal(r.resources.filter((x) => x.type === "aws:kms/key:Key" && x.name === "signing-key").length, 0);
        assert.equal(r.outputs.signing, undefined);
        assert.equal(r.resources.filter((x) => x.type === "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration").length, 0, "basic scanning");
        const policy = policyOf(r);
        assert.equal(policy.spec.rules[0].verifyImages[0].failureAction, "Enforce");
        assert.equal(policy.spec.webhookConfiguration.failurePolicy, "Fail");
        assert.deepEqual(keysOf(policy), [mockP256PublicKeyPem("arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93")]);
        assert.equal(r.outputs.images.sentiment.gitSha, "5e2c9a1", "the sha its release tag names");
    });

    for (const stack of ["dev", "prod", "local"]) {
        it(`${stack}: verification covers exactly the stack's model repositories, and so every image its models run`, async () => {
            const r = await run(stack);
            const refs: string[] = policyOf(r).spec.rules[0].verifyImages[0].imageReferences;
            const repos = Object.values(r.outputs.images as Record<string, { ref: string }>).map((i) => i.ref.split("@")[0]);
            assert.deepEqual(
                refs,
                [...new Set(repos)].flatMap((x) => [`${x}@*`, `${x}:*`]),
            );
            // Kyverno's wildcard (ext/wildcard: `*` any run of characters) against each image as the pod names it.
            const matches = (pattern: string, image: string) =>
                new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(image);
            for (const img of Object.values(r.outputs.images as Record<string, { ref: string }>))
                assert.ok(
                    refs.some((p) => matches(p, img.ref)),
                    img.ref,
                );
            assert.ok(!refs.some((p) => matches(p, "docker.io/istio/proxyv2:1.24.0")));
        });
    }

    it("an existing key (supply-chain fixture) declares no key, and Enforce can be chosen outside production; Kyverno not installed", async () => {
        const r = await run("supply-chain");
        assert.equal(r.resources.filter((x) => x.type.startsWith("aws:kms/")).length, 1, "only the registry's encryption key");
        const existing = "arn:aws:kms:us-east-1:123456789012:key/0e7c4b2a-9d31-4f6e-8a25-3c1b7d9e4f60";
        assert.equal(r.outputs.signing.keyRef, `awskms:///${existing}`);
        const policy = policyOf(r);
        assert.equal(policy.spec.rules[0].verifyImages[0].failureAction, "Enforce");
        assert.deepEqual(keysOf(policy), [
            mockP256PublicKeyPem(existing),
            mockP256PublicKeyPem("arn:aws:kms:us-east-1:123456789012:key/5d1e8f0a-3b7c-4c2e-9a61-0f4b2d8c7e93"),
        ]);
        assert.equal(r.resources.filter((x) => x.type === "kubernetes:helm.sh/v4:Chart" && x.name === "admission-kyverno").length, 0);
    });

    it("Harbor, a stack that builds: auto_scan on, vulnerable pulls refused at the threshold, cosign signatures not required (the fresh digest is signed after pulumi up)", async () => {
        const r = await run("harbor");
        const project = r.resources.find((x) => x.type === "pulumi-nodejs:dynamic/harbor:Project")!;
        assert.deepEqual(
            [project.inputs.autoScan, project.inputs.preventVul, project.inputs.severity, project.inputs.requireCosign],
            [true, true, "high", false],
        );
    });

    it("Harbor, a stack that only deploys promoted digests (local): cosign signatures required", async () => {
        const r = await run("local");
        const project = r.resources.find((x) => x.type === "pulumi-nodejs:dynamic/harbor:Project")!;
        assert.equal(project.inputs.requireCosign, true);
    });

    it("local (kubeconfig): the configured key reference stays secret, the configured public key is trusted, Audit, no chart", async () => {
        const r = await run("local");
        const policy = policyOf(r);
        assert.equal(policy.spec.rules[0].verifyImages[0].failureAction, "Audit");
        assert.match(keysOf(policy)[0], /^-----BEGIN PUBLIC KEY-----\n/);
        assert.equal(r.resources.filter((x) => x.type === "kubernetes:helm.sh/v4:Chart" && x.name === "admission-kyverno").length, 0);
        assert.equal(r.outputs.signing.publicKeyPem, keysOf(policy)[0]);
    });
});
