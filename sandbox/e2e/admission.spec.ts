/**
 * Admission enforced in the sandbox (issue #27): the sandbox cluster with Kyverno v1.18.2's real admission controller
 * (`./cmd/kyverno`, tool kyverno-admission) running out of cluster, its webhooks registered in the sandbox's API
 * server, and the program's ClusterPolicy (components/supplychain/admission.ts) in Enforce with a sandbox key made
 * here with cosign. Images are made with crane in a local `distribution` registry (plain HTTP on loopback, which
 * Kyverno's registry client speaks to loopback hosts: go-containerregistry pkg/name/registry.go) and signed with
 * `npm run sign`. Pods are created through the API server with @kubernetes/client-node: the API server calls the
 * webhooks and Kyverno decides.
 *
 * Under the policy as the program declares it (Kyverno's shared webhooks): (a) a signed digest is admitted, and
 * Kyverno records it verified; (b) an unsigned digest is refused with Kyverno's message; (c) an image by tag is
 * refused; (d) a model pod with Istio's injected sidecars (unsigned, by tag, from an allowed pattern) and the signed
 * model is admitted; (e) the same with an unsigned model container is refused; an image of another registry is
 * refused; another namespace is not the policy's; a Deployment of an unsigned digest is refused itself (autogen).
 * The policy of before, with `webhookConfiguration.matchConditions` (fine-grained webhooks of its own), refused the
 * signed digest too: on a fine-grained webhook Kyverno v1.18.2 never runs verifyImages at mutation
 * (pkg/webhooks/resource/handlers.go `retrieveAndCategorizePolicies`: with URLParams set, a verifyImages policy is
 * added to the validating list only, and the validating phase finds no `kyverno.io/verify-images` entry). (f) With
 * Kyverno stopped, failurePolicy decides: Fail refuses with the API server's "failed calling webhook", Ignore admits
 * unchecked; `sandbox down`'s cleanup (deleting Kyverno's webhook configurations) lets pods through again.
 * Through the real engine too: `pulumi preview` and `pulumi up` of an inline program that declares a Deployment of
 * the unsigned digest fail with Kyverno's message; the signed digest's Deployment is created.
 * Needs `npm run tools -- build sandbox e2e-late` (kyverno-admission, cosign, distribution and crane are in
 * `e2e-late`); titled `[tools: e2e-late]`, so `.ci/run` runs it after the rest of the suite.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { admissionClusterPolicy, SOURCES_RULE_NAME, VERIFY_RULE_NAME } from "../../components/supplychain/admission";
import {
    ClusterState,
    kyvernoWebhookConfigurations,
    readState,
    removeKyvernoWebhooks,
    sandboxPaths,
    SandboxPaths,
    startCluster,
    stopCluster,
    waitPolicyEnforced,
} from "../cluster/controlPlane";
import { Kube, KubeObject } from "../cluster/kube";
import { portTaken, ProcessRecord, stopProcess } from "../cluster/processes";
import { SANDBOX_DIR } from "../sandbox";
import { EngineEnv, prepareEngine, PROJECT, REPO_ROOT } from "../stack";
import { pushFilesImage, startRegistry } from "../supplychain/registry";
import { binDir, toolPath } from "../toolchain/build";
import { toolSpec } from "../toolchain/manifest";

/** The suite's registry: clear of the sandbox's ports and of the supply-chain suites' 15000-15002. */
const REGISTRY_PORT = 15003;
const REGISTRY = `127.0.0.1:${REGISTRY_PORT}`;
const REPO = `${REGISTRY}/model-fleet/sentiment`;
const NAMESPACE = "models";
const POLICY = "model-fleet-verify-images";
const PASSWORD = "admission-e2e";
/** Istio's injected sidecar, by tag from its default hub, allowed by pattern as a stack with trafficRouting istio does. */
const ISTIO_PROXY = "docker.io/istio/proxyv2:1.24.2";
const ALLOWED = ["docker.io/istio/proxyv2:*"];
/** The webhooks Kyverno registers for this policy (pkg/controllers/webhook/utils.go): its own, and the shared ones. */
const FINE_GRAINED = { mutate: `mutate.kyverno.svc-fail-finegrained-${POLICY}`, validate: `validate.kyverno.svc-fail-finegrained-${POLICY}` };
const SHARED = { mutate: "mutate.kyverno.svc-fail", validate: "validate.kyverno.svc-fail" };

/** A pod the restricted Pod Security level admits (the sandbox's API server runs PodSecurity). */
function pod(name: string, containers: Array<{ name: string; image: string }>, initContainers: Array<{ name: string; image: string }> = []): KubeObject {
    const secure = {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: "RuntimeDefault" },
    };
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NAMESPACE, labels: { app: "sentiment" } },
        spec: {
            ...(initContainers.length > 0 ? { initContainers: initContainers.map((c) => ({ ...c, securityContext: secure })) } : {}),
            containers: containers.map((c) => ({ ...c, securityContext: secure })),
        },
    };
}

/** What Istio's injector makes of a model pod: istio-init and istio-proxy beside the model container. */
function injected(name: string, modelImage: string): KubeObject {
    return pod(
        name,
        [
            { name: "model", image: modelImage },
            { name: "istio-proxy", image: ISTIO_PROXY },
        ],
        [{ name: "istio-init", image: ISTIO_PROXY }],
    );
}

/** The API server's answer to a create: the object, or the refusal's status code and message. */
type Created = { admitted: true; object: KubeObject } | { admitted: false; code: number; message: string };

async function create(kube: Kube, obj: KubeObject): Promise<Created> {
    try {
        return { admitted: true, object: await kube.objects.create(obj) };
    } catch (e) {
        const err = e as { code?: number; body?: unknown; message?: string };
        let body: any = err.body;
        if (typeof body === "string") {
            try {
                body = JSON.parse(body);
            } catch {
                /* keep the text */
            }
        }
        return {
            admitted: false,
            code: err.code ?? 0,
            message: typeof body === "object" && body?.message ? String(body.message) : String(body ?? err.message),
        };
    }
}

describe("sandbox e2e: admission enforced by Kyverno v1.18.2's admission controller [tools: e2e-late]", function () {
    this.timeout(600_000);
    const log = (l: string) => console.log(`      [admission] ${l}`);

    let tmp: string;
    let registry: ProcessRecord | undefined;
    let state: ClusterState | undefined;
    let kube: Kube;
    let env: NodeJS.ProcessEnv;
    let crane: string;
    let signedRef: string;
    let unsignedRef: string;
    let signedWeightsRef: string;
    let unsignedWeightsRef: string;
    let policy: Record<string, any>;
    let n = 0;
    const name = (what: string) => `sentiment-${what}-${++n}`;

    const ok = (cmd: string, args: readonly string[], cwd = tmp): string => {
        const r = spawnSync(cmd, [...args], { cwd, env, encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20 });
        assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
        return r.stdout.trim();
    };
    /** A one-layer image made from one file with crane, pushed under `tag`; its digest. */
    const pushImage = (tag: string, content: string): string => pushFilesImage(crane, REPO, tag, { "model.json": content }, tmp, (c, a) => ok(c, a));
    const refused = (r: Created, what: string): string => {
        assert.equal(r.admitted, false, `${what} should be refused, it was admitted`);
        return (r as { message: string }).message;
    };

    before(async function () {
        this.timeout(900_000);
        // A missing tool fails here with `npm run tools -- build <name>` in the message (MissingToolError).
        crane = toolPath("crane");
        toolPath("cosign");
        toolPath("distribution", "registry");
        toolPath("kyverno-admission", "kyverno");
        assert.equal(readState(sandboxPaths(SANDBOX_DIR)), undefined, "a sandbox is recorded in out/sandbox: run `npm run sandbox -- down` first");
        if (await portTaken(REGISTRY_PORT)) throw new Error(`port ${REGISTRY_PORT} is taken: the suite's registry listens on ${REGISTRY}`);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-admission-e2e-"));
        // cosign from the tool cache on PATH for `npm run sign`; HOME is the temp dir (no Docker credentials, no TUF cache).
        env = {
            ...process.env,
            PATH: [binDir(toolSpec("cosign")), process.env.PATH].join(path.delimiter),
            HOME: tmp,
            DOCKER_CONFIG: path.join(tmp, "docker"),
            COSIGN_PASSWORD: PASSWORD,
            npm_config_cache: path.join(os.homedir(), ".npm"),
        };
        registry = await startRegistry(tmp, REGISTRY, env);

        // The sandbox key: a cosign pair made here (cosign.key, cosign.pub in its working directory).
        const keyDir = path.join(tmp, "key");
        fs.mkdirSync(keyDir);
        ok(toolPath("cosign"), ["generate-key-pair"], keyDir);
        signedRef = `${REPO}@${pushImage("v2.1.5-abc1234", '{"model":"sentiment","version":"2.1.5"}\n')}`;
        unsignedRef = `${REPO}@${pushImage("v2.1.6-def5678", '{"model":"sentiment","version":"2.1.6"}\n')}`;
        // `npm run sign` exactly as an operator runs it for one image (scripts/sign.ts): signature and provenance.
        const sign = (ref: string, version: string, gitSha: string) => {
            const signed = spawnSync(
                "npm",
                [
                    ...["run", "--silent", "sign", "--", "--image", ref, "--model", "sentiment", "--version", version, "--git-sha", gitSha],
                    ...["--key", path.join(keyDir, "cosign.key"), "--sbom", "none"],
                ],
                { cwd: REPO_ROOT, env, encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20 },
            );
            assert.equal(signed.status, 0, `npm run sign exited ${signed.status}:\n${signed.stdout}${signed.stderr}`);
        };
        sign(signedRef, "2.1.5", "abc1234");
        // Weights artifacts (models[].weights) in the same repository: one signed as the server image is, one not.
        signedWeightsRef = `${REPO}@${pushImage("v2.1.5-0a1b2c3", '{"weights":"sentiment","version":"2.1.5"}\n')}`;
        unsignedWeightsRef = `${REPO}@${pushImage("v2.1.6-4d5e6f7", '{"weights":"sentiment","version":"2.1.6"}\n')}`;
        sign(signedWeightsRef, "2.1.5", "0a1b2c3");

        // The sandbox with Kyverno (no nodes: admission happens at create, before any scheduling).
        const t0 = Date.now();
        state = await startCluster(sandboxPaths(path.join(tmp, "sandbox")), "admission-e2e", [], REPO_ROOT, log, undefined, { admission: true });
        log(`sandbox with Kyverno up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        kube = new Kube(sandboxPaths(path.join(tmp, "sandbox")).kubeconfig);
        await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
        // The stack's ClusterPolicy as the program builds it: its repository, the sandbox key, Istio allowed, Enforce.
        policy = admissionClusterPolicy({
            name: POLICY,
            namespace: NAMESPACE,
            publicKeys: [fs.readFileSync(path.join(keyDir, "cosign.pub"), "utf8")],
            repositories: [REPO],
            allowedImages: ALLOWED,
            mode: "Enforce",
            ecrCredentials: false,
        });
        await kube.apply(policy as KubeObject);
        const hooks = await waitPolicyEnforced(kube, POLICY);
        log(`ClusterPolicy ${POLICY} Ready; webhooks ${hooks.sort().join(", ")}`);
    });

    after(async function () {
        this.timeout(120_000);
        if (state) await stopCluster(state).catch((e) => log(`stopping the sandbox: ${(e as Error).message}`));
        if (registry) await stopProcess(registry).catch(() => undefined);
        if (tmp && !process.env.KEEP_ADMISSION_E2E) fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** Replaces the ClusterPolicy in the API server and waits until Kyverno enforces it. */
    const reapply = async (p: Record<string, any>, what: string): Promise<void> => {
        await kube.delete({ apiVersion: p.apiVersion, kind: p.kind, metadata: { name: POLICY } });
        await kube.apply(p as KubeObject);
        const hooks = await waitPolicyEnforced(kube, POLICY);
        log(`${what}: ClusterPolicy ${POLICY} Ready; webhooks ${hooks.sort().join(", ")}`);
    };

    it("Kyverno registers the policy on its shared webhooks: failurePolicy Fail (Enforce), its 127.0.0.1 URL; no webhook of its own", async () => {
        const hooks = (await kyvernoWebhookConfigurations(kube)).flatMap((c) => (c.webhooks as any[]) ?? []);
        const hook = hooks.find((w) => w.name === SHARED.mutate);
        assert.ok(hook, `no webhook ${SHARED.mutate} in ${hooks.map((w) => w.name).join(", ")}`);
        assert.equal(hook.failurePolicy, "Fail");
        assert.equal(hook.clientConfig.url, "https://127.0.0.1:16292/mutate/fail");
        assert.ok(!hooks.some((w) => w.name === FINE_GRAINED.mutate), "no fine-grained webhook: the policy sets no matchConditions");
        assert.equal(policy.spec.webhookConfiguration.matchConditions, undefined);
    });

    it("(a) a pod running the signed digest is admitted, and Kyverno records the verified image", async () => {
        const r = await create(kube, pod(name("signed"), [{ name: "model", image: signedRef }]));
        assert.ok(r.admitted, `refused: ${(r as { message: string }).message}`);
        assert.deepEqual(JSON.parse(r.object.metadata?.annotations?.["kyverno.io/verify-images"] ?? "{}"), { [signedRef]: "pass" });
    });

    it("(b) a pod running an unsigned digest is refused with Kyverno's message", async () => {
        const message = refused(await create(kube, pod(name("unsigned"), [{ name: "model", image: unsignedRef }])), "the unsigned digest");
        log(`(b) ${message}`);
        assert.ok(message.startsWith(`admission webhook "${SHARED.mutate}" denied the request:`), message);
        assert.ok(message.includes(VERIFY_RULE_NAME) && message.includes(unsignedRef), message);
        assert.match(message, /no signatures found/);
    });

    it("(c) a pod running the signed image by tag is refused", async () => {
        const byTag = `${REPO}:v2.1.5-abc1234`;
        const message = refused(await create(kube, pod(name("tag"), [{ name: "model", image: byTag }])), "the image by tag");
        log(`(c) ${message}`);
        assert.ok(message.includes(`${VERIFY_RULE_NAME}: missing digest for ${byTag}`), message);
    });

    it("(d) a model pod with Istio's injected sidecars (unsigned, by tag, allowed by pattern) and the signed model is admitted", async () => {
        const r = await create(kube, injected(name("istio-signed"), signedRef));
        assert.ok(r.admitted, `refused: ${(r as { message: string }).message}`);
        assert.deepEqual(JSON.parse(r.object.metadata?.annotations?.["kyverno.io/verify-images"] ?? "{}"), { [signedRef]: "pass" });
    });

    it("(e) a model pod with Istio's injected sidecars and an unsigned model container is refused", async () => {
        const message = refused(await create(kube, injected(name("istio-unsigned"), unsignedRef)), "the injected pod with an unsigned model");
        log(`(e) ${message}`);
        assert.ok(message.includes(VERIFY_RULE_NAME) && message.includes(unsignedRef), message);
    });

    it("an image of a registry neither the stack's nor allowed is refused by the sources rule", async () => {
        const message = refused(
            await create(kube, pod(name("elsewhere"), [{ name: "model", image: "docker.io/library/busybox:1.36" }])),
            "an image from elsewhere",
        );
        assert.ok(message.includes(`${SOURCES_RULE_NAME}: 'validation error: Pods in namespace`), message);
    });

    it("another namespace is not the policy's (its rules match the models namespace): an unsigned digest is admitted there", async () => {
        const p = pod(name("default-ns"), [{ name: "model", image: unsignedRef }]);
        p.metadata!.namespace = "default";
        const r = await create(kube, p);
        assert.ok(r.admitted, `refused: ${(r as { message: string }).message}`);
    });

    it("a Deployment of the unsigned digest is refused itself: Kyverno's autogen rules cover the pod controllers", async () => {
        // Kyverno generates `autogen-<rule>` rules for Deployments and the other pod controllers from a Pod rule
        // (pkg/autogen), so the API server refuses the Deployment's create: what a `pulumi up` creating it gets back.
        // An Argo Rollout is not among those kinds: its pods are refused by the ReplicaSet controller's creates.
        const template = pod("unused", [{ name: "model", image: unsignedRef }]);
        const deployment = {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "sentiment-unsigned", namespace: NAMESPACE },
            spec: {
                replicas: 1,
                selector: { matchLabels: { app: "sentiment-deployment" } },
                template: { metadata: { labels: { app: "sentiment-deployment" } }, spec: template.spec },
            },
        };
        const message = refused(await create(kube, deployment as KubeObject), "the Deployment of the unsigned digest");
        log(`(deployment) ${message}`);
        assert.ok(message.includes(`autogen-${VERIFY_RULE_NAME}`) && message.includes(unsignedRef), message);
    });

    it("weights (models[].weights): the image volume's reference is verified too (the policy's imageExtractors): signed admitted, unsigned refused beside a signed server image", async () => {
        const withWeights = (n: string, weights: string): KubeObject => {
            const p = pod(n, [{ name: "model", image: signedRef }]);
            p.spec.volumes = [{ name: "weights", image: { reference: weights, pullPolicy: "IfNotPresent" } }];
            p.spec.containers[0].volumeMounts = [{ name: "weights", mountPath: "/weights", readOnly: true }];
            return p;
        };
        const ok = await create(kube, withWeights(name("weights-signed"), signedWeightsRef));
        assert.ok(ok.admitted, `refused: ${(ok as { message: string }).message}`);
        assert.equal(
            JSON.parse(ok.object.metadata?.annotations?.["kyverno.io/verify-images"] ?? "{}")[signedWeightsRef],
            "pass",
            "Kyverno verified the volume's reference",
        );
        const message = refused(await create(kube, withWeights(name("weights-unsigned"), unsignedWeightsRef)), "the unsigned weights artifact");
        log(`(weights) ${message}`);
        assert.ok(message.includes(VERIFY_RULE_NAME) && message.includes(unsignedWeightsRef), message);
        const tagRef = `${REPO}:v2.1.5-0a1b2c3`;
        const byTag = refused(await create(kube, withWeights(name("weights-tag"), tagRef)), "the weights artifact by tag");
        assert.ok(byTag.includes(`${VERIFY_RULE_NAME}: missing digest for ${tagRef}`), byTag);
    });

    describe("through the real engine: `pulumi preview` and `pulumi up` (pulumi v3.274.1, the Kubernetes provider 4.25.0)", () => {
        let paths: SandboxPaths;
        let engine: EngineEnv;
        /** A stack whose inline program declares one Deployment of `image` (skipAwait: no nodes run its pods). */
        const deploymentStack = async (stackName: string, image: string): Promise<Stack> => {
            fs.writeFileSync(path.join(engine.workDir, `Pulumi.${stackName}.yaml`), "config: {}\n");
            const kubeconfig = fs.readFileSync(paths.kubeconfig, "utf8");
            const program = async () => {
                const provider = new k8s.Provider("sandbox", { kubeconfig });
                const labels = { app: stackName };
                new k8s.apps.v1.Deployment(
                    stackName,
                    {
                        metadata: { name: stackName, namespace: NAMESPACE, annotations: { "pulumi.com/skipAwait": "true" } },
                        spec: {
                            replicas: 1,
                            selector: { matchLabels: labels },
                            template: { metadata: { labels }, spec: pod("unused", [{ name: "model", image }]).spec as k8s.types.input.core.v1.PodSpec },
                        },
                    },
                    { provider },
                );
            };
            return LocalWorkspace.createOrSelectStack(
                { stackName, projectName: PROJECT, program },
                {
                    workDir: engine.workDir,
                    pulumiHome: engine.pulumiHome,
                    envVars: engine.env,
                    pulumiCommand: await PulumiCommand.get({ root: path.dirname(binDir(toolSpec("pulumi"))), skipVersionCheck: true }),
                    secretsProvider: "passphrase",
                },
            );
        };

        before(function () {
            this.timeout(300_000);
            paths = sandboxPaths(path.join(tmp, "sandbox"));
            const stackFile = path.join(paths.root, "workspace", "Pulumi.engine-signed.yaml");
            fs.mkdirSync(path.dirname(stackFile), { recursive: true });
            fs.writeFileSync(stackFile, "config: {}\n");
            engine = prepareEngine(paths, "engine-signed", state!.caCert);
        });

        it("`pulumi up` fails on the Deployment of the unsigned digest with Kyverno's message, as `pulumi preview` does (the provider's dry run goes through the webhooks)", async function () {
            this.timeout(600_000);
            const stack = await deploymentStack("engine-unsigned", unsignedRef);
            const failure = async (op: Promise<unknown>, what: string): Promise<string> => {
                try {
                    await op;
                } catch (e) {
                    return String((e as Error).message);
                }
                assert.fail(`${what} succeeded: the unsigned digest was admitted`);
            };
            for (const [what, op] of [
                ["pulumi preview", () => stack.preview()],
                ["pulumi up", () => stack.up()],
            ] as const) {
                const message = await failure(op(), what);
                const line = message.split("\n").find((l) => l.includes("denied the request")) ?? message.slice(-2000);
                log(`(${what}) ${line.trim()}`);
                assert.ok(message.includes(`admission webhook "${SHARED.mutate}" denied the request`), `${what}:\n${message.slice(-4000)}`);
                assert.ok(message.includes(`autogen-${VERIFY_RULE_NAME}`) && message.includes(unsignedRef), `${what}:\n${message.slice(-4000)}`);
            }
            assert.equal(await kube.read("apps/v1", "Deployment", "engine-unsigned", NAMESPACE), undefined, "nothing was created");
        });

        it("`pulumi up` creates the Deployment of the signed digest", async function () {
            this.timeout(600_000);
            const stack = await deploymentStack("engine-signed", signedRef);
            const up = await stack.up();
            assert.equal(up.summary.result, "succeeded");
            const d = await kube.read("apps/v1", "Deployment", "engine-signed", NAMESPACE);
            assert.equal(d?.spec?.template?.spec?.containers?.[0]?.image, signedRef);
            await stack.destroy();
        });
    });

    describe("the policy of before, with webhookConfiguration.matchConditions (Kyverno's fine-grained webhooks)", () => {
        before(async function () {
            const scoped = { name: "models-namespace", expression: `request.namespace == '${NAMESPACE}'` };
            await reapply(
                { ...policy, spec: { ...policy.spec, webhookConfiguration: { ...policy.spec.webhookConfiguration, matchConditions: [scoped] } } },
                "with matchConditions",
            );
        });

        it("refuses the signed digest too: Kyverno v1.18.2 runs no image verification on a fine-grained webhook (the defect this fixes)", async () => {
            const hooks = (await kyvernoWebhookConfigurations(kube)).flatMap((c) => (c.webhooks as any[]) ?? []);
            assert.ok(
                hooks.some((w) => w.name === FINE_GRAINED.mutate),
                "the policy's own webhooks",
            );
            const message = refused(await create(kube, pod(name("signed-fine-grained"), [{ name: "model", image: signedRef }])), "the signed digest");
            log(`(before) ${message}`);
            assert.ok(message.startsWith(`admission webhook "${FINE_GRAINED.validate}" denied the request:`), message);
            assert.ok(message.includes(`${VERIFY_RULE_NAME}: unverified image ${signedRef}`), message);
        });
    });

    describe("with Kyverno stopped", () => {
        before(async function () {
            await reapply(policy, "the program's policy again");
        });

        it("(f) failurePolicy decides: Fail refuses every pod, Ignore admits unchecked; down's cleanup lets pods through", async () => {
            const kyverno = state!.processes.find((p) => p.name === "kyverno")!;
            assert.equal(await stopProcess(kyverno), "stopped");
            // Fail (Enforce): even the signed digest is refused, by the API server, which cannot reach the webhook.
            const message = refused(await create(kube, pod(name("down-signed"), [{ name: "model", image: signedRef }])), "any pod while Kyverno is down");
            log(`(f, Fail) ${message}`);
            assert.ok(message.startsWith(`Internal error occurred: failed calling webhook "${SHARED.mutate}":`), message);
            assert.match(message, /connect: connection refused/);

            // Ignore (what Kyverno registers for an Audit policy: spec.GetFailurePolicy): the API server admits the pod
            // unchecked, the unsigned digest included. Set here on the registered webhooks, as Kyverno is not running.
            for (const c of await kyvernoWebhookConfigurations(kube)) {
                for (const w of (c.webhooks as any[]) ?? []) w.failurePolicy = "Ignore";
                await kube.objects.replace(c);
            }
            const ignored = await create(kube, pod(name("down-unsigned"), [{ name: "model", image: unsignedRef }]));
            assert.ok(ignored.admitted, `refused: ${(ignored as { message: string }).message}`);
            assert.equal(ignored.object.metadata?.annotations?.["kyverno.io/verify-images"], undefined, "admitted without any verification");

            // `sandbox down` (and a deploy into a sandbox whose Kyverno died) removes Kyverno's configurations.
            const removed = await removeKyvernoWebhooks(kube);
            log(`removed ${removed.join(", ")}`);
            assert.deepEqual(await kyvernoWebhookConfigurations(kube), []);
            const after = await create(kube, pod(name("after-cleanup"), [{ name: "model", image: unsignedRef }]));
            assert.ok(after.admitted, `refused: ${(after as { message: string }).message}`);
        });
    });
});
