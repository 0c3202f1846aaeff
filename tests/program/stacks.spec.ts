/**
 * The whole program, per stack, through the shared harness: both stacks (and the Harbor variant) plan with no
 * errors or warnings, every Kubernetes object is valid against the upstream schemas with no unknown field, and
 * the cross-stack registry design holds (dev replicates into prod's region; prod pulls promoted digests from its
 * own repositories).
 */
import { strict as assert } from "assert";
import * as path from "path";
import { evaluateLifecyclePolicy } from "../../release/ecrEvaluator";
import { byType, k8sObjects, revealSecrets, runStack, SECRET_SIG, StackRun } from "../../support/harness";
import { formatReports, unknownFields, validateK8sObjects } from "../helpers/k8sValidate";

/** Kinds with no upstream schema package here; their fields are asserted by the component specs. */
// ClusterPolicy: validated against the pinned Kyverno CRD schema by npm run test:admission (tests/admission/crd.spec.ts).
const NO_SCHEMA_KINDS = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "networking.istio.io/v1beta1/VirtualService",
    "kyverno.io/v1/ClusterPolicy",
    // Checked by the sandbox e2e suite: the API server validates it with KEDA v2.21.0's CRD.
    "keda.sh/v1alpha1/ScaledObject",
];

const HARBOR = path.join(__dirname, "..", "fixtures", "stacks", "harbor.yaml");
const BLUE_GREEN = path.join(__dirname, "..", "fixtures", "stacks", "blue-green.yaml");
const FIXTURES: Record<string, string> = { harbor: HARBOR, "blue-green": BLUE_GREEN };
const runs: Record<string, StackRun> = {};

async function stack(name: string): Promise<StackRun> {
    runs[name] ??= await runStack(name, FIXTURES[name] ? { configFile: FIXTURES[name] } : {});
    return runs[name];
}

for (const name of ["dev", "prod", "harbor", "blue-green"]) {
    describe(`stack ${name}`, () => {
        it("plans with no warning", async () => {
            const run = await stack(name);
            assert.ok(run.resources.length > 20);
            assert.deepEqual(run.warnings, []);
        });

        it("renders only valid Kubernetes objects (upstream schemas, metadata grammar)", async () => {
            const objs = k8sObjects((await stack(name)).resources);
            assert.ok(objs.length > 10);
            const problems = formatReports(await validateK8sObjects(objs), NO_SCHEMA_KINDS);
            assert.deepEqual(problems, []);
        });

        it("renders no field the Kubernetes and Argo types do not declare", async function () {
            this.timeout(120_000);
            const objs = k8sObjects((await stack(name)).resources);
            const unknown = await unknownFields(objs);
            const lines = [...unknown.entries()].flatMap(([i, fields]) => fields.map((f) => `${objs[i].kind}/${objs[i].metadata.name}: ${f}`));
            assert.deepEqual(lines, []);
        });

        it("declares every Kubernetes object through the cluster's own provider", async () => {
            const run = await stack(name);
            const providers = byType(run.resources, "pulumi:providers:kubernetes");
            assert.equal(providers.length, 1, "one provider, built from the cluster endpoint and CA");
            const kubeconfig = JSON.parse(providers[0].inputs.kubeconfig);
            assert.match(kubeconfig.clusters[0].cluster.server, /^https:\/\/.*eks\.amazonaws\.com$/);
            assert.ok(kubeconfig.clusters[0].cluster["certificate-authority-data"]);
            for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== "pulumi:providers:kubernetes")) {
                assert.ok(r.provider?.includes("pulumi:providers:kubernetes::cluster-k8s"), `${r.type} ${r.name} uses the cluster provider (${r.provider})`);
            }
        });

        it("orphans no resource: everything but the components and the explicit providers has a model-fleet component as its parent", async () => {
            const run = await stack(name);
            const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
            const topLevel = (r: { type: string }) => r.type.startsWith("model-fleet:") || r.type.startsWith("pulumi:providers:");
            const orphans = run.resources.filter((r) => r.parent === undefined && !topLevel(r)).map((r) => `${r.type} ${r.name}`);
            assert.deepEqual(orphans, [], "declared outside any component");
            for (const r of run.resources.filter((x) => x.parent !== undefined)) {
                const parent = byUrn.get(r.parent!);
                assert.ok(parent, `${r.type} ${r.name}: parent ${r.parent} was registered`);
                assert.ok(parent.type.startsWith("model-fleet:"), `${r.type} ${r.name} is parented to ${parent.type}, not a model-fleet component`);
            }
            assert.ok(
                run.resources.some((r) => r.type === "aws:ecr/repository:Repository" || r.type.startsWith("pulumi-nodejs:dynamic/harbor")),
                "the registry is in the run",
            );
        });

        it("exports per model: version, digest image, GPU resource, replica bounds, and each Rollout's canary steps or blue-green preview", async () => {
            const run = await stack(name);
            for (const [model, m] of Object.entries<any>(run.outputs.models)) {
                assert.match(m.image, /@sha256:[0-9a-f]{64}$/, model);
                assert.ok(m.minReplicas <= m.maxReplicas);
                assert.match(m.workload, /^(Deployment|Rollout)\//);
                const canary = (run.outputs.canaries[model]?.steps ?? []).length > 0;
                const blueGreen = run.outputs.blueGreens[model] !== undefined;
                assert.equal(m.workload.startsWith("Rollout/"), canary || blueGreen, model);
                assert.ok(!(canary && blueGreen), `${model}: one strategy`);
                if (blueGreen) assert.equal(run.outputs.blueGreens[model].previewService, `${model}-preview`);
            }
        });
    });
}

describe("stacks: registry across dev and prod", () => {
    it("repository names never collide: each stack owns <prefix>/<model> in its own region", async () => {
        const dev = await stack("dev");
        const prod = await stack("prod");
        const urls = (run: StackRun) => Object.values<string>(run.outputs.repositoryUrls);
        for (const u of urls(dev)) assert.match(u, /\.dkr\.ecr\.us-east-1\.amazonaws\.com\/model-fleet\//);
        for (const u of urls(prod)) assert.match(u, /\.dkr\.ecr\.us-west-2\.amazonaws\.com\/model-fleet\//);
        const all = [...urls(dev), ...urls(prod)];
        assert.equal(new Set(all).size, all.length);
    });

    it("dev replicates its repositories into prod's region, where prod declares the same repositories", async () => {
        const dev = await stack("dev");
        const prod = await stack("prod");
        const [repl] = byType(dev.resources, "aws:ecr/replicationConfiguration:ReplicationConfiguration");
        assert.ok(repl, "dev declares the replication");
        const rule = repl.inputs.replicationConfiguration.rules[0];
        assert.equal(rule.destinations[0].region, "us-west-2");
        assert.deepEqual(rule.repositoryFilters, [{ filter: "model-fleet/", filterType: "PREFIX_MATCH" }]);
        assert.equal(byType(prod.resources, "aws:ecr/replicationConfiguration:ReplicationConfiguration").length, 0);
        const prodRegion = "us-west-2";
        const prodNames = byType(prod.resources, "aws:ecr/repository:Repository").map((r) => r.inputs.name);
        const devNames = byType(dev.resources, "aws:ecr/repository:Repository").map((r) => r.inputs.name);
        for (const n of devNames.filter((d) => prodNames.includes(d))) {
            assert.ok(n.startsWith(rule.repositoryFilters[0].filter), `${n} is replicated to ${prodRegion}`);
        }
        // Every prod model pulls its promoted digest from prod's own (replicated-into) repository.
        for (const [model, img] of Object.entries<any>(prod.outputs.images)) {
            assert.equal(img.ref, `${prod.outputs.repositoryUrls[model]}@${img.digest}`);
        }
    });

    it("prod's repositories are hardened and kept; dev's may be force-deleted", async () => {
        for (const [name, forceDelete] of [
            ["dev", true],
            ["prod", false],
        ] as const) {
            for (const repo of byType((await stack(name)).resources, "aws:ecr/repository:Repository")) {
                assert.equal(repo.inputs.forceDelete, forceDelete, `${name} ${repo.inputs.name}`);
                assert.equal(repo.inputs.imageTagMutability, "IMMUTABLE_WITH_EXCLUSION");
                assert.deepEqual(repo.inputs.imageTagMutabilityExclusionFilters, [
                    { filter: "buildcache*", filterType: "WILDCARD" },
                    { filter: "sha256-*.sig", filterType: "WILDCARD" },
                    { filter: "sha256-*.att", filterType: "WILDCARD" },
                ]);
                assert.equal(repo.inputs.imageScanningConfiguration.scanOnPush, true);
                assert.equal(repo.inputs.encryptionConfigurations[0].encryptionType, "KMS");
            }
        }
    });

    it("retention never expires the release a stack deploys, however many newer releases replicate in", async () => {
        for (const name of ["dev", "prod"]) {
            const run = await stack(name);
            const policies = byType(run.resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy");
            for (const [model, img] of Object.entries<any>(run.outputs.images)) {
                assert.match(img.tag, /^v\d+\.\d+\.\d+-[0-9a-f]{7}$/, `${name}/${model} records its release tag`);
                const lp = policies.find((p) => p.name === `registry-${model}-lifecycle`);
                assert.ok(lp, `${name}/${model} has a lifecycle policy`);
                const policy = JSON.parse(lp!.inputs.policy);
                assert.deepEqual(policy.rules[0].selection.tagPatternList, [img.tag], "the deployed tag is protected first");
                // The deployed image, then 200 newer releases (e.g. replicated from dev), then untagged leftovers.
                const day = 86_400_000;
                const t0 = Date.UTC(2026, 0, 1);
                const images = [
                    { digest: img.digest, tags: [img.tag], pushedAt: new Date(t0) },
                    ...Array.from({ length: 200 }, (_, i) => ({
                        digest: `sha256:${String(i).padStart(64, "0")}`,
                        tags: [`v9.0.${i}-abcdef${i % 10}`],
                        pushedAt: new Date(t0 + (i + 1) * 3_600_000),
                    })),
                    { digest: "sha256:" + "f".repeat(64), tags: [], pushedAt: new Date(t0) },
                ];
                const result = evaluateLifecyclePolicy(policy, images, new Date(t0 + 400 * day));
                assert.ok(!result.expired.has(img.digest), `${name}/${model}: the deployed image survives`);
                assert.equal(result.expired.size, 200 - policy.rules.find((r: any) => r.selection.tagPatternList?.[0] === "v*").selection.countNumber + 1);
            }
        }
    });

    it("the replaced release (image.previousTag) stays protected too: the canary's abort target", async () => {
        const run = await runStack("prod", { editConfig: (c) => (c["model-fleet:models"][0].image.previousTag = "v2.1.3-0ddba11") });
        const lp = byType(run.resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").find((p) => p.name === "registry-sentiment-lifecycle")!;
        const rules = JSON.parse(lp.inputs.policy).rules;
        assert.deepEqual(
            rules.slice(0, 2).map((r: any) => r.selection.tagPatternList),
            [["v2.1.4-5e2c9a1"], ["v2.1.3-0ddba11"]],
        );
    });

    it("declares the repositories listed in registry.repositories before their model runs here", async () => {
        const run = await runStack("prod", { editConfig: (c) => (c["model-fleet:registry"].repositories = ["reranker"]) });
        const names = byType(run.resources, "aws:ecr/repository:Repository").map((r) => r.inputs.name);
        assert.deepEqual(names.sort(), ["model-fleet/reranker", "model-fleet/sentiment", "model-fleet/summarizer"]);
        assert.ok(run.outputs.repositoryUrls.reranker.endsWith("/model-fleet/reranker"));
    });

    it("prod checks every promoted digest against the registry before deploying it", async () => {
        const prod = await stack("prod");
        const [lookup] = byType(prod.resources, "pulumi:providers:docker");
        assert.equal(lookup.inputs.registryAuth[SECRET_SIG], "1b47061264138c4ac30d75fd1eb44270", "the registry credentials are a secret");
        const auth = JSON.parse(revealSecrets(lookup.inputs.registryAuth))[0];
        assert.equal(auth.address, "123456789012.dkr.ecr.us-west-2.amazonaws.com");
        assert.equal(auth.username, "AWS");
        assert.equal(byType((await stack("dev")).resources, "pulumi:providers:docker").length, 0, "dev builds; nothing to check");
    });

    it("a promoted digest that the registry does not hold under its tag fails the plan, naming both digests", async () => {
        const other = "sha256:" + "e".repeat(64);
        await assert.rejects(
            runStack("prod", {
                registryImages: {
                    "model-fleet/sentiment:v2.1.4-5e2c9a1": other,
                    "model-fleet/summarizer:v1.4.0-77d0b3e": "sha256:9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3",
                },
            }),
            (e: Error) => {
                assert.match(e.message, /model-fleet\/sentiment:v2\.1\.4-5e2c9a1 is sha256:e{64} in the registry, not the promoted sha256:3f1b2c4d/);
                return true;
            },
        );
        // A tag the registry does not have at all: the lookup itself fails.
        await assert.rejects(runStack("prod", { registryImages: {} }), /manifest unknown: .*model-fleet\/sentiment:v2\.1\.4-5e2c9a1/);
    });

    it("each repository grants pull to the stack's GPU node roles and nobody else", async () => {
        for (const name of ["dev", "prod"]) {
            const run = await stack(name);
            const roleArns = Object.values<string>(run.outputs.gpuNodeRoleArns).sort();
            const policies = byType(run.resources, "aws:ecr/repositoryPolicy:RepositoryPolicy");
            assert.equal(policies.length, byType(run.resources, "aws:ecr/repository:Repository").length);
            for (const p of policies) {
                const doc = JSON.parse(p.inputs.policy);
                const principals = doc.Statement.flatMap((s: any) => [].concat(s.Principal.AWS)).sort();
                assert.deepEqual(principals, roleArns, `${name}: ${p.name}`);
                for (const s of doc.Statement) {
                    assert.equal(s.Effect, "Allow");
                    assert.ok(
                        s.Action.every((a: string) => ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"].includes(a)),
                        s.Action,
                    );
                }
            }
        }
    });

    it("the Harbor variant declares the project, immutability rule, retention policy, robot and pull Secret", async () => {
        const run = await stack("harbor");
        const kinds = run.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/harbor:")).map((r) => r.type.split(":").pop());
        assert.deepEqual(kinds.sort(), ["ImmutableRule", "Project", "RetentionPolicy", "RobotAccount"]);
        assert.equal(typeof run.outputs.pullSecretName, "string");
        // Each ModelService also declares a Secret (its prediction-id key): pick the pull Secret by its output name.
        const secret = byType(run.resources, "kubernetes:core/v1:Secret").find((s) => s.inputs.metadata.name === run.outputs.pullSecretName)!;
        assert.ok(secret, "the pull Secret is declared");
        assert.equal(secret.inputs.type, "kubernetes.io/dockerconfigjson");
        assert.equal(secret.inputs.metadata.name, run.outputs.pullSecretName);
        const nsIndex = run.resources.findIndex(
            (r) => r.type === "kubernetes:core/v1:Namespace" && r.inputs.metadata.name === secret.inputs.metadata.namespace,
        );
        assert.ok(nsIndex >= 0 && nsIndex < run.resources.indexOf(secret), "the Secret waits for its namespace (it takes the namespace's output)");
        for (const w of k8sObjects(run.resources).filter((o) => o.kind === "Deployment" || o.kind === "Rollout")) {
            assert.deepEqual(
                w.spec.template.spec.imagePullSecrets,
                [{ name: run.outputs.pullSecretName }],
                `${w.kind}/${w.metadata.name} pulls with the robot`,
            );
        }
        const [retention] = run.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/harbor:RetentionPolicy");
        assert.deepEqual(
            retention.inputs.protectPatterns,
            [run.outputs.images.sentiment.tag, "prod-*"],
            "the deployed release is retained by name (deployed first, as ECR)",
        );
        const outputs = JSON.stringify(run.outputs);
        assert.ok(!outputs.includes("mock-robot-secret"), "the robot secret is never exported");
        assert.ok(!outputs.includes("[secret]"), "the Harbor password is never exported");
    });
});

describe("stacks: scraping for the canary analysis", () => {
    for (const name of ["dev", "prod"]) {
        it(`${name}: every model and the Argo controller are scraped by the Prometheus the analysis queries`, async () => {
            const run = await stack(name);
            const objs = k8sObjects(run.resources);
            const monitors = objs.filter((o) => o.kind === "ServiceMonitor");
            const models = Object.keys(run.outputs.models);
            assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), [...models].sort());
            for (const m of monitors) assert.equal(m.metadata.labels.release, "kube-prometheus-stack");
            const chart = byType(run.resources, "kubernetes:helm.sh/v4:Chart").find((c) => c.inputs.chart === "argo-rollouts")!;
            assert.deepEqual(chart.inputs.values.controller.metrics.serviceMonitor, { enabled: true, additionalLabels: { release: "kube-prometheus-stack" } });
        });
    }
});

describe("stacks: edge shapes", () => {
    it("a stack with no GPU pools (CPU models only) plans: no node roles, so no repository policy", async () => {
        const run = await runStack("dev", {
            editConfig: (c) => {
                c["model-fleet:gpuPools"] = [];
                c["model-fleet:models"] = [c["model-fleet:models"][1]];
            },
        });
        assert.equal(byType(run.resources, "aws:eks/nodeGroup:NodeGroup").length, 0);
        assert.equal(byType(run.resources, "aws:ecr/repository:Repository").length, 1);
        assert.equal(byType(run.resources, "aws:ecr/repositoryPolicy:RepositoryPolicy").length, 0);
        assert.equal(byType(run.resources, "model-fleet:gpu:GpuClusterAddons").length, 0);
    });
});

describe("stacks: GPU capacity", () => {
    it("prod's MIG pool is sized for its models at maxReplicas and exported", async () => {
        const prod = await stack("prod");
        const mig = prod.outputs.gpuCapacity["a100-mig"];
        assert.deepEqual(mig.instancesByProfile, { "1g.10gb": 6 });
        assert.equal(mig.gpusNeeded, 3, "6 × 1g.10gb at 2 per GPU");
        assert.equal(mig.nodesNeeded, 1);
        assert.equal(mig.fits, true);
        assert.equal(prod.outputs.gpuCapacity.l4.gpuRequests, 4);
    });

    it("warns when a pool's maxSize cannot hold its models at maxReplicas", async () => {
        const run = await runStack("prod", { editConfig: (c) => (c["model-fleet:gpuPools"][1].maxSize = 3) });
        assert.equal(run.warnings.length, 1);
        assert.match(run.warnings[0], /^gpuPools l4: /);
        assert.match(run.warnings[0], /maxSize 3 cannot hold the models at maxReplicas: they need 4 × g6.2xlarge/);
    });
});
