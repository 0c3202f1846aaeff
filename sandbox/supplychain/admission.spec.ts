/**
 * The admission policy's scope, with Kyverno v1.18.2's own code (npm run test:supplychain; needs `npm run tools --
 * build cosign distribution crane kyverno-verify`). With `rollouts.trafficRouting: istio`, Istio's injector adds
 * `istio-init` and `istio-proxy` to every model pod, from the mesh's registry and by tag, unsigned. The program's
 * ClusterPolicy (components/supplychain/admission.ts) verifies the images of the stack's own repositories only, and a
 * separate rule admits other images only when `supplyChain.admission.allowedImages` lists them. kyverno-verify runs
 * Kyverno's two webhook phases on a whole Pod manifest (`--pod`), as the API server sends it after injection:
 *  - a signed model digest with the injected sidecars is admitted;
 *  - an unsigned model digest, or the signed one by tag, is still refused, sidecars or not;
 *  - a container from a registry neither the stack's nor allowed is refused;
 *  - the previous policy (`imageReferences: ["*"]`, every image required) refused the signed model pod because of its
 *    sidecars: the defect this scope fixes.
 * A local distribution registry holds the images (small ones made with crane) and the signature (cosign, with the argv
 * of release/signing.ts that `npm run sign` runs).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { admissionClusterPolicy, SOURCES_RULE_NAME, VERIFY_RULE_NAME } from "../../components/supplychain/admission";
import { DEFAULT_NAMESPACE } from "../../components/serving/ModelNamespace";
import { cosignSignArgs } from "../../release/signing";
import { pushFilesImage, startRegistry } from "./registry";
import { portTaken, ProcessRecord, stopProcess } from "../cluster/processes";
import { toolPath } from "../toolchain/build";

/** Fixed loopback port of this suite's registry (clear of the sandbox's ports and of supplychain.spec.ts's 15000). */
const PORT = 15001;
const REGISTRY = `127.0.0.1:${PORT}`;
const REPO = `${REGISTRY}/model-fleet/sentiment`;
const PASSWORD = "admission-suite";
const NAMESPACE = DEFAULT_NAMESPACE;
/** What Istio's injector adds (istio-init, istio-proxy), by tag from Istio's default hub. */
const ISTIO_PROXY = "docker.io/istio/proxyv2:1.24.2";
/** Istio's sidecar image mirrored into the suite's registry (for the lookup the previous policy makes). */
const MIRRORED_PROXY = `${REGISTRY}/istio/proxyv2:1.24.2`;
/** The explicit allowance a stack with `trafficRouting: istio` configures (`supplyChain.admission.allowedImages`). */
const ALLOWED = ["docker.io/istio/proxyv2:*"];

/** A model pod after Istio's injection: the model container, the istio-proxy sidecar and the istio-init init container. */
function injectedPod(modelImage: string, extra: Array<{ name: string; image: string }> = [], sidecar = ISTIO_PROXY): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "sentiment-7d9f8c6b5-abcde", namespace: NAMESPACE, labels: { app: "sentiment" }, annotations: { "sidecar.istio.io/status": "{}" } },
        spec: {
            initContainers: [{ name: "istio-init", image: sidecar, args: ["istio-iptables", "-p", "15001"] }],
            containers: [
                { name: "model", image: modelImage, ports: [{ name: "http", containerPort: 8080 }] },
                { name: "istio-proxy", image: sidecar, args: ["proxy", "sidecar"], ports: [{ name: "http-envoy-prom", containerPort: 15090 }] },
                ...extra,
            ],
        },
    };
}

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

describe("supply chain: admission scoped to the stack's repositories (Kyverno v1.18.2, injected Istio sidecars)", function () {
    this.timeout(300000);

    let tmp: string;
    let registry: ProcessRecord | undefined;
    let cosign: string;
    let crane: string;
    let kyverno: string;
    let env: NodeJS.ProcessEnv;
    let policy: string;
    let signedRef: string;
    let unsignedRef: string;

    const run = (cmd: string, args: readonly string[]): Run => {
        const r = spawnSync(cmd, [...args], { cwd: tmp, env, encoding: "utf8", timeout: 240000, maxBuffer: 64 << 20 });
        if (r.error) throw r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (cmd: string, args: readonly string[]): string => {
        const r = run(cmd, args);
        assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
        return r.stdout.trim();
    };
    /** A one-layer image made from one file with crane, pushed under `tag`; its digest. */
    const pushImage = (tag: string, content: string): string => pushFilesImage(crane, REPO, tag, { "model.json": content }, tmp, (c, a) => ok(c, a));
    const writeJson = (name: string, value: unknown): string => {
        const file = path.join(tmp, name);
        fs.writeFileSync(file, name.endsWith(".yaml") ? YAML.stringify(value) : JSON.stringify(value, null, 2));
        return file;
    };
    /** Kyverno's mutating (verify) then validating phase on the Pod manifest, under the ClusterPolicy file. */
    const verifyPod = (pod: Record<string, unknown>, policyFile: string, name = "pod.yaml"): Run =>
        run(kyverno, ["--policy", policyFile, "--pod", writeJson(name, pod), "--namespace", NAMESPACE]);
    const ruleLines = (out: string, rule: string): string[] => out.split("\n").filter((l) => l.startsWith(`rule ${rule}: `));

    before(async function () {
        // A missing tool fails here with `npm run tools -- build <name>` in the message (MissingToolError).
        cosign = toolPath("cosign");
        crane = toolPath("crane");
        kyverno = toolPath("kyverno-verify");
        toolPath("distribution", "registry");
        if (await portTaken(PORT)) throw new Error(`port ${PORT} is taken: the suite's registry listens on ${REGISTRY} (another run of this suite?)`);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-admission-"));
        env = { ...process.env, HOME: tmp, DOCKER_CONFIG: path.join(tmp, "docker"), COSIGN_PASSWORD: PASSWORD };
        registry = await startRegistry(tmp, REGISTRY, env);
        const keyDir = path.join(tmp, "key");
        fs.mkdirSync(keyDir);
        // generate-key-pair writes cosign.key and cosign.pub into its working directory.
        const gen = spawnSync(cosign, ["generate-key-pair"], { cwd: keyDir, env, encoding: "utf8" });
        assert.equal(gen.status, 0, gen.stderr);

        signedRef = `${REPO}@${pushImage("v2.1.5-abc1234", '{"model":"sentiment","version":"2.1.5"}\n')}`;
        unsignedRef = `${REPO}@${pushImage("v2.1.6-def5678", '{"model":"sentiment","version":"2.1.6"}\n')}`;
        // An unsigned sidecar image by tag in the suite's registry (a mirror of Istio's proxyv2), for the previous policy.
        ok(crane, ["copy", `${REPO}:v2.1.6-def5678`, MIRRORED_PROXY]);
        // The signature npm run sign makes (release/signing.ts), on the first digest only.
        const image = { model: "sentiment", version: "2.1.5", gitSha: "abc1234", tag: "v2.1.5-abc1234", ref: signedRef };
        ok(cosign, cosignSignArgs(image, path.join(keyDir, "cosign.key")));

        // The program's ClusterPolicy for this stack: its one repository, Istio's sidecar image allowed, Enforce.
        policy = writeJson(
            "policy.json",
            admissionClusterPolicy({
                name: "model-fleet-verify-images",
                namespace: NAMESPACE,
                publicKeys: [fs.readFileSync(path.join(keyDir, "cosign.pub"), "utf8")],
                repositories: [REPO],
                allowedImages: ALLOWED,
                mode: "Enforce",
                ecrCredentials: false,
            }),
        );
    });

    after(async () => {
        if (registry) await stopProcess(registry);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("admits a pod whose model digest is signed, with the unsigned istio-proxy and istio-init Istio injected by tag", () => {
        const r = verifyPod(injectedPod(signedRef), policy);
        assert.equal(r.status, 0, `kyverno-verify should admit the pod:\n${r.stdout}${r.stderr}`);
        const verify = ruleLines(r.stdout, VERIFY_RULE_NAME);
        assert.ok(verify.length >= 2, `both phases of ${VERIFY_RULE_NAME} ran:\n${r.stdout}`);
        for (const l of verify) assert.match(l, /: pass: /);
        assert.match(ruleLines(r.stdout, SOURCES_RULE_NAME).join("\n"), /: pass: /);
        assert.match(r.stdout, /^admitted: pod sentiment-7d9f8c6b5-abcde$/m);
    });

    it("still refuses an unsigned model digest, sidecars or not", () => {
        const r = verifyPod(injectedPod(unsignedRef), policy);
        assert.equal(r.status, 1, `kyverno-verify should refuse the pod:\n${r.stdout}${r.stderr}`);
        assert.match(ruleLines(r.stdout, VERIFY_RULE_NAME).join("\n"), /: fail: .*no signatures found/);
        assert.match(r.stdout, /^refused: pod /m);
        const alone = verifyPod({ ...injectedPod(unsignedRef), spec: { containers: [{ name: "model", image: unsignedRef }] } }, policy, "alone.yaml");
        assert.equal(alone.status, 1, alone.stdout);
    });

    it("still refuses the signed model by tag (the stack's repository is matched by tag too, and verifyDigest refuses it)", () => {
        const r = verifyPod(injectedPod(`${REPO}:v2.1.5-abc1234`), policy);
        assert.equal(r.status, 1, `kyverno-verify should refuse the pod:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /missing digest for 127\.0\.0\.1:15001\/model-fleet\/sentiment:v2\.1\.5-abc1234/);
    });

    it("refuses a container from a registry that is neither the stack's nor allowed (the separate, explicit rule)", () => {
        const r = verifyPod(injectedPod(signedRef, [{ name: "debug", image: "docker.io/library/busybox:1.36" }]), policy);
        assert.equal(r.status, 1, `kyverno-verify should refuse the pod:\n${r.stdout}${r.stderr}`);
        assert.match(ruleLines(r.stdout, SOURCES_RULE_NAME).join("\n"), /: fail: /);
        for (const l of ruleLines(r.stdout, VERIFY_RULE_NAME)) assert.match(l, /: pass: /, "the model image itself is verified");
    });

    it('the previous policy (every image required, imageReferences ["*"]) refused the signed model pod for its sidecars', () => {
        const previous = JSON.parse(fs.readFileSync(policy, "utf8"));
        previous.spec.rules = previous.spec.rules.filter((x: { name: string }) => x.name === VERIFY_RULE_NAME);
        previous.spec.rules[0].verifyImages[0].imageReferences = ["*"];
        // The sidecar image from a mirror in the suite's registry, by tag and unsigned as Istio injects it: under ["*"]
        // Kyverno looks its signature up, and that lookup stays on this machine.
        const r = verifyPod(injectedPod(signedRef, [], MIRRORED_PROXY), writeJson("previous.json", previous));
        assert.equal(r.status, 1, `the previous policy refused the pod:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /127\.0\.0\.1:15001\/istio\/proxyv2:1\.24\.2/);
        assert.match(r.stdout, /^refused: pod /m);
        // The same pod under the program's policy, with the mirror as the allowed sidecar source, is admitted.
        const scoped = admissionClusterPolicy({
            name: "model-fleet-verify-images",
            namespace: NAMESPACE,
            publicKeys: [fs.readFileSync(path.join(tmp, "key", "cosign.pub"), "utf8")],
            repositories: [REPO],
            allowedImages: [`${REGISTRY}/istio/proxyv2:*`],
            mode: "Enforce",
            ecrCredentials: false,
        });
        const now = verifyPod(injectedPod(signedRef, [], MIRRORED_PROXY), writeJson("scoped.json", scoped), "mirrored.yaml");
        assert.equal(now.status, 0, `the scoped policy admits the pod:\n${now.stdout}${now.stderr}`);
    });
});
