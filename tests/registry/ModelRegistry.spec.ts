import { strict as assert } from "assert";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ModelRegistry, ModelRegistryArgs, RegistrySettings } from "../../components/registry/ModelRegistry";
import { describeRetention, ecrLifecyclePolicy, validateLifecyclePolicy } from "../../components/registry/ecrLifecycle";
import { describeHarborRetention } from "../../components/registry/harbor/describe";
import { PULL_ACTIONS, ecrPullPolicy, partitionOf } from "../../components/registry/pullPolicy";
import { ACCOUNT_ID, MockResource, byType, runProgram, unwrap } from "../../support/harness";

const TOKEN = "model-fleet:registry:ModelRegistry";
const RETENTION = { keepReleases: 30, untaggedDays: 14, protectTags: ["prod-*", "rollback-*"] };
const ROLE_A = `arn:aws:iam::${ACCOUNT_ID}:role/ml-prod-a100-mig-node`;
const ROLE_B = `arn:aws:iam::${ACCOUNT_ID}:role/ml-prod-l4-node`;
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function ecr(overrides: Partial<RegistrySettings> = {}): RegistrySettings {
    return { type: "ecr", repositoryPrefix: "model-fleet", retention: RETENTION, forceDelete: false, ...overrides };
}

async function run(args: Partial<ModelRegistryArgs> & { registry: RegistrySettings }, region = "us-west-2") {
    const { resources, result } = await runProgram(
        () => {
            const reg = new ModelRegistry("registry", { models: ["sentiment", "summarizer"], accountId: ACCOUNT_ID, region, ...args });
            return {
                repositoryUrls: unwrap(reg.repositoryUrls),
                registryHost: unwrap(reg.registryHost),
                pullSecretName: reg.pullSecretName ? unwrap(reg.pullSecretName) : Promise.resolve(undefined),
                retentionRules: reg.retentionRules,
                lifecyclePolicy: reg.lifecyclePolicy,
            };
        },
        { config: { "aws:region": region } },
    );
    return {
        resources,
        outputs: {
            repositoryUrls: await result.repositoryUrls,
            registryHost: await result.registryHost,
            pullSecretName: await result.pullSecretName,
            retentionRules: result.retentionRules,
            lifecyclePolicy: result.lifecyclePolicy,
        },
    };
}

const one = (resources: MockResource[], type: string): MockResource => {
    const found = byType(resources, type);
    assert.equal(found.length, 1, `expected exactly one ${type}`);
    return found[0];
};

describe("ModelRegistry on ECR (prod-like)", () => {
    let resources: MockResource[];
    let outputs: Awaited<ReturnType<typeof run>>["outputs"];
    before(async () => {
        ({ resources, outputs } = await run({ registry: ecr(), pullRoleArns: [pulumi.output(ROLE_B), ROLE_A] }));
    });

    it("registers the component and names every child after it", () => {
        one(resources, TOKEN);
        for (const r of resources.filter((x) => x.type !== TOKEN && !x.type.startsWith("pulumi:providers:"))) assert.match(r.name, /^registry-/);
    });

    it("declares one hardened repository per model: immutable release tags, scan on push, customer KMS, no force delete", () => {
        const repos = byType(resources, "aws:ecr/repository:Repository");
        assert.deepEqual(repos.map((r) => r.inputs.name).sort(), ["model-fleet/sentiment", "model-fleet/summarizer"]);
        const key = one(resources, "aws:kms/key:Key");
        for (const r of repos) {
            assert.equal(r.inputs.imageTagMutability, "IMMUTABLE_WITH_EXCLUSION");
            // Only the BuildKit cache tag may be overwritten.
            // The build cache and cosign's legacy signature/attestation tags, which cosign rewrites for every further
            // signature or attestation (sigstore/cosign#3024); nothing else (release tags stay immutable).
            assert.deepEqual(r.inputs.imageTagMutabilityExclusionFilters, [
                { filter: "buildcache*", filterType: "WILDCARD" },
                { filter: "sha256-*.sig", filterType: "WILDCARD" },
                { filter: "sha256-*.att", filterType: "WILDCARD" },
            ]);
            assert.deepEqual(r.inputs.imageScanningConfiguration, { scanOnPush: true });
            assert.deepEqual(r.inputs.encryptionConfigurations, [{ encryptionType: "KMS", kmsKey: key.state.arn }]);
            assert.equal(r.inputs.forceDelete, false);
        }
        assert.equal(key.inputs.enableKeyRotation, true);
        assert.equal(key.inputs.deletionWindowInDays, 30);
    });

    it("attaches the generated, valid lifecycle policy to every repository", () => {
        const policies = byType(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy");
        assert.deepEqual(policies.map((p) => p.inputs.repository).sort(), ["model-fleet/sentiment", "model-fleet/summarizer"]);
        const expected = ecrLifecyclePolicy(RETENTION);
        for (const p of policies) {
            const policy = JSON.parse(p.inputs.policy);
            assert.deepEqual(policy, expected);
            assert.deepEqual(validateLifecyclePolicy(policy), []);
        }
        assert.deepEqual(
            expected.rules.map((r) => [r.rulePriority, r.selection.tagStatus, r.selection.tagPatternList]),
            [
                [1, "tagged", ["prod-*"]],
                [2, "tagged", ["rollback-*"]],
                [3, "tagged", ["v*"]],
                [4, "untagged", undefined],
            ],
        );
    });

    it("grants pull to the GPU node roles only, with the three pull actions", () => {
        const policies = byType(resources, "aws:ecr/repositoryPolicy:RepositoryPolicy");
        assert.deepEqual(policies.map((p) => p.inputs.repository).sort(), ["model-fleet/sentiment", "model-fleet/summarizer"]);
        for (const p of policies) {
            const doc = JSON.parse(p.inputs.policy);
            assert.deepEqual(doc, {
                Version: "2012-10-17",
                Statement: [{ Sid: "GpuNodeRolesPull", Effect: "Allow", Principal: { AWS: [ROLE_A, ROLE_B] }, Action: [...PULL_ACTIONS] }],
            });
            assert.ok(!p.inputs.policy.includes('"*"'), "no wildcard principal or action");
        }
    });

    it("does not replicate unless asked", () => {
        assert.equal(byType(resources, "aws:ecr/replicationConfiguration:ReplicationConfiguration").length, 0);
    });

    it("outputs repository URLs, the registry host and readable retention rules", () => {
        assert.deepEqual(outputs.repositoryUrls, {
            sentiment: `${ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/model-fleet/sentiment`,
            summarizer: `${ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/model-fleet/summarizer`,
        });
        assert.equal(outputs.registryHost, `${ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com`);
        assert.deepEqual(outputs.retentionRules, describeRetention(ecrLifecyclePolicy(RETENTION)));
        assert.match(outputs.retentionRules.join("\n"), /protect images tagged "prod-\*"/);
        assert.equal(outputs.pullSecretName, undefined);
        assert.equal(byType(resources, "kubernetes:core/v1:Secret").length, 0);
    });
});

describe("ModelRegistry on ECR (dev-like: replication, force delete, role pattern)", () => {
    let resources: MockResource[];
    before(async () => {
        ({ resources } = await run(
            {
                registry: ecr({
                    forceDelete: true,
                    replication: { region: "us-west-2" },
                    retention: { keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*"] },
                }),
                pullRoleNamePattern: "ml-dev-*-node",
            },
            "us-east-1",
        ));
    });

    it("replicates the <prefix>/ repositories to the prod region of the same account", () => {
        const rep = one(resources, "aws:ecr/replicationConfiguration:ReplicationConfiguration");
        assert.deepEqual(rep.inputs.replicationConfiguration, {
            rules: [
                {
                    destinations: [{ region: "us-west-2", registryId: ACCOUNT_ID }],
                    repositoryFilters: [{ filter: "model-fleet/", filterType: "PREFIX_MATCH" }],
                },
            ],
        });
    });

    it("allows force delete and a short key deletion window in dev", () => {
        for (const r of byType(resources, "aws:ecr/repository:Repository")) assert.equal(r.inputs.forceDelete, true);
        assert.equal(one(resources, "aws:kms/key:Key").inputs.deletionWindowInDays, 7);
    });

    it("grants pull to node roles matching the name pattern, in this account only", () => {
        const doc = JSON.parse(byType(resources, "aws:ecr/repositoryPolicy:RepositoryPolicy")[0].inputs.policy);
        assert.deepEqual(doc.Statement, [
            {
                Sid: "GpuNodeRolePatternPull",
                Effect: "Allow",
                Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` },
                Action: [...PULL_ACTIONS],
                Condition: { ArnLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT_ID}:role/ml-dev-*-node` } },
            },
        ]);
    });

    it("replicates to another account's registry when registryId is set", async () => {
        const { resources: rs } = await run({ registry: ecr({ replication: { region: "eu-west-1", registryId: "210987654321" } }), pullRoleArns: [ROLE_A] });
        assert.deepEqual(one(rs, "aws:ecr/replicationConfiguration:ReplicationConfiguration").inputs.replicationConfiguration.rules[0].destinations, [
            { region: "eu-west-1", registryId: "210987654321" },
        ]);
    });
});

describe("ModelRegistry on Harbor", () => {
    const harbor = { url: "https://harbor.example.com", project: "ml", username: "admin", password: pulumi.secret("harbor-admin-pw") };
    let resources: MockResource[];
    let outputs: Awaited<ReturnType<typeof run>>["outputs"];
    before(async () => {
        ({ resources, outputs } = await run({
            registry: {
                type: "harbor",
                repositoryPrefix: "model-fleet",
                retention: { keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*", "rollback-*"] },
                forceDelete: true,
                harbor,
            },
            k8sProvider: new k8s.Provider("k8s", { kubeconfig: "{}" }),
            pullSecretNamespace: "models",
        }));
    });

    const harborType = (kind: string) => `pulumi-nodejs:dynamic/harbor:${kind}`;

    it("declares no AWS resources", () => {
        assert.deepEqual(
            resources.filter((r) => r.type.startsWith("aws:")),
            [],
        );
    });

    it("declares the project, the v* immutability rule, the retention policy and the robot account", () => {
        const project = one(resources, harborType("Project"));
        assert.equal(project.inputs.name, "ml");
        assert.equal(project.inputs.public, false);
        assert.equal(project.inputs.autoScan, true);

        const rule = one(resources, harborType("ImmutableRule"));
        assert.deepEqual(
            { projectId: rule.inputs.projectId, tagPattern: rule.inputs.tagPattern, repositoryPattern: rule.inputs.repositoryPattern },
            { projectId: 42, tagPattern: "v*", repositoryPattern: "**" },
        );

        const ret = one(resources, harborType("RetentionPolicy"));
        assert.deepEqual(
            {
                projectId: ret.inputs.projectId,
                keepReleases: ret.inputs.keepReleases,
                releasePattern: ret.inputs.releasePattern,
                protectPatterns: ret.inputs.protectPatterns,
                untaggedDays: ret.inputs.untaggedDays,
                schedule: ret.inputs.schedule,
            },
            { projectId: 42, keepReleases: 10, releasePattern: "v*", protectPatterns: ["prod-*", "rollback-*"], untaggedDays: 3, schedule: "0 0 0 * * *" },
        );

        const robot = one(resources, harborType("RobotAccount"));
        assert.deepEqual(
            { projectId: robot.inputs.projectId, projectName: robot.inputs.projectName, name: robot.inputs.name, duration: robot.inputs.duration },
            { projectId: 42, projectName: "ml", name: "model-fleet-pull", duration: -1 },
        );
    });

    it("passes the Harbor password only as a secret and never serializes it into provider code", () => {
        for (const r of resources.filter((x) => x.type.startsWith("pulumi-nodejs:dynamic/harbor:"))) {
            assert.equal(r.inputs.url, "https://harbor.example.com");
            assert.equal(r.inputs.username, "admin");
            assert.equal(r.inputs.password?.[SECRET_SIG], "1b47061264138c4ac30d75fd1eb44270", `${r.name}.password must be a secret`);
            assert.equal(typeof r.inputs.__provider, "string");
            assert.match(r.inputs.__provider, /^exports\.handler = /);
            assert.ok(!r.inputs.__provider.includes("harbor-admin-pw"));
            assert.ok(!/require\(/.test(r.inputs.__provider), "the provider needs no module at run time");
        }
    });

    it("builds a dockerconfigjson pull Secret from the robot's credentials and exports only its name", () => {
        const secret = one(resources, "kubernetes:core/v1:Secret");
        assert.equal(secret.inputs.type, "kubernetes.io/dockerconfigjson");
        assert.deepEqual(
            { name: secret.inputs.metadata.name, namespace: secret.inputs.metadata.namespace },
            { name: "model-fleet-harbor-pull", namespace: "models" },
        );
        // The Kubernetes SDK marks the whole of stringData secret.
        assert.equal(secret.inputs.stringData[SECRET_SIG], "1b47061264138c4ac30d75fd1eb44270", "the docker config is a secret");
        const cfg = JSON.parse(secret.inputs.stringData.value[".dockerconfigjson"]);
        assert.deepEqual(cfg, {
            auths: {
                "harbor.example.com": {
                    username: "robot$ml+model-fleet-pull",
                    password: "mock-robot-secret",
                    auth: Buffer.from("robot$ml+model-fleet-pull:mock-robot-secret").toString("base64"),
                },
            },
        });
        assert.equal(outputs.pullSecretName, "model-fleet-harbor-pull");
        assert.ok(!JSON.stringify(outputs).includes("mock-robot-secret"), "the robot secret is not an output");
    });

    it("outputs Harbor repository URLs and readable retention rules", () => {
        assert.deepEqual(outputs.repositoryUrls, {
            sentiment: "harbor.example.com/ml/model-fleet/sentiment",
            summarizer: "harbor.example.com/ml/model-fleet/summarizer",
        });
        assert.equal(outputs.registryHost, "harbor.example.com");
        assert.equal(outputs.lifecyclePolicy, undefined);
        assert.deepEqual(outputs.retentionRules, describeHarborRetention({ keepReleases: 10, untaggedDays: 3, protectTags: ["prod-*", "rollback-*"] }));
        assert.match(outputs.retentionRules.join("\n"), /retain the 10 most recently pushed artifacts tagged "v\*"/);
    });

    it("declares no Secret without a Kubernetes provider", async () => {
        const { resources: rs, outputs: out } = await run({
            registry: { type: "harbor", repositoryPrefix: "model-fleet", retention: RETENTION, forceDelete: false, harbor },
        });
        assert.equal(byType(rs, "kubernetes:core/v1:Secret").length, 0);
        assert.equal(out.pullSecretName, undefined);
        assert.equal(byType(rs, harborType("RobotAccount")).length, 1);
    });
});

describe("ModelRegistry refusals", () => {
    it("refuses harbor without connection settings, duplicate models and unusable retention", async () => {
        await assert.rejects(
            run({ registry: { type: "harbor", repositoryPrefix: "p", retention: RETENTION, forceDelete: false } }),
            /registry.harbor is not set/,
        );
        await assert.rejects(run({ registry: ecr(), models: ["a", "a"], pullRoleArns: [ROLE_A] }), /must be unique/);
        await assert.rejects(
            run({ registry: ecr({ retention: { keepReleases: 0, untaggedDays: 1, protectTags: [] } }), pullRoleArns: [ROLE_A] }),
            /keepReleases must be an integer ≥ 1/,
        );
    });
});

describe("ECR pull policy (pure)", () => {
    it("dedupes and sorts role ARNs", () => {
        assert.deepEqual(ecrPullPolicy({ roleArns: [ROLE_B, ROLE_A, ROLE_B], accountId: ACCOUNT_ID, partition: "aws" }).Statement[0].Principal, {
            AWS: [ROLE_A, ROLE_B],
        });
    });
    it("refuses a policy with no principal, a non-role principal or a match-everything pattern", () => {
        assert.throws(() => ecrPullPolicy({ roleArns: [], accountId: ACCOUNT_ID, partition: "aws" }), /at least one GPU node role/);
        assert.throws(() => ecrPullPolicy({ roleArns: [`arn:aws:iam::${ACCOUNT_ID}:root`], accountId: ACCOUNT_ID, partition: "aws" }), /not an IAM role ARN/);
        assert.throws(() => ecrPullPolicy({ roleArns: ["*"], accountId: ACCOUNT_ID, partition: "aws" }), /not an IAM role ARN/);
        assert.throws(() => ecrPullPolicy({ roleArns: [], roleNamePattern: "*", accountId: ACCOUNT_ID, partition: "aws" }), /not match every role/);
        assert.throws(() => ecrPullPolicy({ roleArns: [ROLE_A], accountId: "123", partition: "aws" }), /12 digits/);
    });
    it("knows the ARN partition of a region", () => {
        assert.equal(partitionOf("us-west-2"), "aws");
        assert.equal(partitionOf("cn-north-1"), "aws-cn");
        assert.equal(partitionOf("us-gov-west-1"), "aws-us-gov");
    });
});
