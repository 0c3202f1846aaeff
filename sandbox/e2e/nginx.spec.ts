/**
 * The nginx-routed canary in the sandbox (issue #25): the `local-nginx` stack (Pulumi.local-nginx.yaml,
 * `rollouts.trafficRouting: nginx`) deployed by the real engine into the running sandbox beside `local`
 * (`npm run sandbox -- up --stack local-nginx`), and what the real Argo Rollouts controller v1.9.0 does with it, read
 * back from the API server: the canary Ingress it writes next to the stable one (rollout/trafficrouting/nginx/nginx.go,
 * name from utils/ingress GetCanaryIngressName), the Services it pins to each ReplicaSet's pod-template hash
 * (rollout/service.go), the stable ReplicaSet it shrinks with dynamicStableScale (utils/replicaset/canary.go
 * CalculateReplicaCountsForTrafficRoutedCanary), and an abort (as `kubectl argo rollouts abort`:
 * pkg/kubectl-argo-rollouts/cmd/abort/abort.go) that puts the weight back to 0, scales stable back up and the canary
 * down after abortScaleDownDelaySeconds (rollout/replicaset.go addScaleDownDelay). No ingress-nginx runs: Argo only
 * writes Ingress objects. A release rehearsal with real model servers (tests/scenarios/worse-model.yaml: the load generator splits
 * traffic by the weight Argo writes on the canary Ingress) runs on the stack too. Then
 * `down --stack local-nginx` removes it and nothing of it is left, while `local` keeps running.
 *
 * Uses a running sandbox of `local` if there is one (and leaves it running); otherwise brings one up and takes it
 * down afterwards.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { Stack } from "@pulumi/pulumi/automation";
import { readState, sandboxPaths, waitFor } from "../cluster/controlPlane";
import { Kube, KubeObject } from "../cluster/kube";
import { isAlive } from "../cluster/processes";
import { SANDBOX_POOL_LABEL } from "../cluster/nodes";
import { abortRollout, ROLLOUT_API } from "../rehearsal/rollout";
import { NGINX_WEIGHT } from "../rehearsal/observe";
import { isRolloutDeleteAwaitPanic, SANDBOX_DIR } from "../sandbox";
import { prepareEngine, REPO_ROOT, sandboxStack } from "../stack";
import { deployedStacks } from "../stacks";
import { cli } from "./cli";

const FIRST = "local";
const STACK = "local-nginx";
const NS = "models-nginx";
const MODEL = "sentiment";
const REPLICAS = 4;
const FIRST_WEIGHT = 25;
/** utils/ingress/ingress.go GetCanaryIngressName: `<rollout>-<stable ingress>-canary`. */
const CANARY_INGRESS = `${MODEL}-${MODEL}-canary`;
const CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary";
/** pkg/apis/rollouts/v1alpha1/types.go DefaultReplicaSetScaleDownDeadlineAnnotationKey (no prefix). */
const SCALE_DOWN_DEADLINE = "scale-down-deadline";
const HASH = "rollouts-pod-template-hash";
const SCENARIO = path.join(REPO_ROOT, "tests", "scenarios", "worse-model.yaml");
const TIME_SCALE = Number(process.env.REHEARSAL_TIME_SCALE ?? 10);
const paths = sandboxPaths(SANDBOX_DIR);

const sandboxLines = (out: string) =>
    out
        .split("\n")
        .filter((l) => l.startsWith("[sandbox]"))
        .map((l) => `      ${l}`)
        .join("\n");

describe("sandbox e2e: the nginx-routed canary (stack local-nginx beside local)", function () {
    this.timeout(900_000);
    let startedHere = false;
    let kube: Kube;
    let kc: k8s.KubeConfig;
    let stack: Stack;
    let firstPods: string[] = [];
    const timings: Array<[string, number]> = [];
    const t = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
        const t0 = Date.now();
        try {
            return await f();
        } finally {
            timings.push([what, (Date.now() - t0) / 1000]);
        }
    };

    const rollout = async () => (await kube.read(ROLLOUT_API, "Rollout", MODEL, NS))!;
    const replicaSets = async () => kube.list("apps/v1", "ReplicaSet", NS, `app.kubernetes.io/name=${MODEL}`);
    const rsOf = (rss: KubeObject[], hash: string) => rss.find((r) => r.metadata?.labels?.[HASH] === hash);
    const selectorHash = async (service: string) => (await kube.read("v1", "Service", service, NS))?.spec?.selector?.[HASH];

    before(function () {
        this.timeout(1_800_000);
        const state = readState(paths);
        if (state && state.processes.some((p) => isAlive(p.pid))) {
            assert.equal(state.stack, FIRST, `the running sandbox was started with ${state.stack}, not ${FIRST}`);
            assert.ok(!deployedStacks(state).includes(STACK), `${STACK} is deployed already: \`npm run sandbox -- down --stack ${STACK}\` first`);
            console.log(`    using the running sandbox (started ${state.startedAt}); it is left running`);
        } else {
            assert.equal(state, undefined, `a stopped sandbox is recorded in ${paths.root}: run \`npm run sandbox -- down\` first`);
            const up = cli("sandbox.ts", ["up", "--stack", FIRST]);
            console.log(sandboxLines(up.out));
            assert.equal(up.status, 0, up.out.slice(-4000));
            timings.push([`sandbox up --stack ${FIRST}`, up.seconds]);
            startedHere = true;
        }
        kube = new Kube(paths.kubeconfig);
        kc = new k8s.KubeConfig();
        kc.loadFromFile(paths.kubeconfig);
    });

    after(function () {
        this.timeout(600_000);
        console.log("    timings:");
        for (const [what, s] of timings) console.log(`      ${what.padEnd(52)} ${s.toFixed(1).padStart(6)} s`);
        const state = readState(paths);
        if (state && deployedStacks(state).includes(STACK)) {
            const down = cli("sandbox.ts", ["down", "--stack", STACK]);
            if (down.status !== 0) console.error(down.out.slice(-4000));
        }
        if (startedHere) {
            const down = cli("sandbox.ts", ["down"]);
            assert.equal(down.status, 0, down.out.slice(-4000));
        }
    });

    it("1. `sandbox up --stack local-nginx` deploys it into the running sandbox, beside local, on nodes of its own pool", async function () {
        // local's pods, once Argo and the controller manager have made them all (sentiment 2, embedder 2).
        firstPods = await waitFor("local's 4 model pods Ready", 180, async () => {
            const ps = (await kube.list("v1", "Pod", "models")).filter((p) =>
                p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
            );
            return ps.length >= 4 ? ps.map((p) => p.metadata!.name!).sort() : undefined;
        });
        const up = cli("sandbox.ts", ["up", "--stack", STACK]);
        console.log(sandboxLines(up.out));
        assert.equal(up.status, 0, up.out.slice(-6000));
        timings.push([`sandbox up --stack ${STACK} (beside ${FIRST})`, up.seconds]);
        assert.match(up.out, /5 kwok nodes of stack local-nginx's pools Ready/);
        assert.match(up.out, /pulumi up: succeeded/);
        assert.deepEqual(deployedStacks(readState(paths)!), [FIRST, STACK]);
        const status = cli("sandbox.ts", ["status"]);
        assert.equal(status.status, 0, status.out);
        assert.match(status.out, /stack local, local-nginx, started/);
        assert.match(status.out, /stack local-nginx \(namespace models-nginx\):/);
        const again = cli("sandbox.ts", ["up", "--stack", STACK]);
        assert.equal(again.status, 1);
        assert.match(again.out, /already running .* with stack local-nginx deployed/);

        const pods = await t("4 Ready pods", () =>
            waitFor(`${REPLICAS} Ready pods of ${MODEL} in ${NS}`, 180, async () => {
                const ps = await kube.list("v1", "Pod", NS, `app.kubernetes.io/name=${MODEL}`);
                const ready = ps.filter((p) => p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"));
                return ready.length >= REPLICAS ? ready : undefined;
            }),
        );
        const nodes = new Map((await kube.list("v1", "Node")).map((n) => [n.metadata!.name!, n]));
        for (const p of pods)
            assert.equal(nodes.get(p.spec.nodeName)?.metadata?.labels?.[SANDBOX_POOL_LABEL], "l4-nginx", `${p.metadata?.name} outside its pool`);
        assert.deepEqual((await kube.list("v1", "Pod", "models")).map((p) => p.metadata!.name!).sort(), firstPods, "local's pods are untouched");
        const state = readState(paths)!;
        stack = await sandboxStack(STACK, prepareEngine(paths, STACK, state.caCert));
    });

    it("2. the stable Ingress (class nginx) and the Rollout's stableService, canaryService, nginx stableIngress, dynamicStableScale; at rest both Services select the stable hash", async function () {
        const ingress = await kube.read("networking.k8s.io/v1", "Ingress", MODEL, NS);
        assert.ok(ingress, "the stable Ingress is stored");
        assert.equal(ingress!.spec.ingressClassName, "nginx");
        assert.equal(ingress!.spec.rules[0].http.paths[0].backend.service.name, MODEL);
        const r = await t("Rollout Healthy", () =>
            waitFor("the Rollout to be Healthy", 120, async () => {
                const x = await rollout();
                return x.status?.phase === "Healthy" && x.status?.stableRS ? x : undefined;
            }),
        );
        const canary = r.spec.strategy.canary;
        assert.deepEqual(
            [canary.stableService, canary.canaryService, canary.trafficRouting, canary.dynamicStableScale],
            [MODEL, `${MODEL}-canary`, { nginx: { stableIngress: MODEL } }, true],
        );
        assert.equal(await selectorHash(MODEL), r.status.stableRS, "stable Service pinned to the stable ReplicaSet");
        assert.equal(await selectorHash(`${MODEL}-canary`), r.status.stableRS, "at rest the canary Service selects stable too");
        // Argo creates the canary Ingress with the stable one already (weight 0), owned by the Rollout.
        const canaryIngress = await kube.read("networking.k8s.io/v1", "Ingress", CANARY_INGRESS, NS);
        assert.ok(canaryIngress, `Argo made the canary Ingress ${CANARY_INGRESS}`);
        assert.equal(canaryIngress!.metadata!.annotations![CANARY_ANNOTATION], "true");
        assert.equal(canaryIngress!.metadata!.annotations![NGINX_WEIGHT], "0", "at rest no traffic goes to the canary");
        assert.deepEqual(
            canaryIngress!.metadata!.ownerReferences!.map((o) => [o.kind, o.name, o.controller]),
            [["Rollout", MODEL, true]],
        );
    });

    it(`3. a release rehearsal with real servers on the nginx stack (${path.basename(SCENARIO)}) ends as it expects: traffic split by the canary Ingress's weight`, async function () {
        this.timeout(1_200_000);
        const r = cli("rehearse.ts", ["--stack", STACK, "--model", MODEL, "--scenario", SCENARIO, "--time-scale", String(TIME_SCALE)]);
        timings.push([`rehearse ${path.basename(SCENARIO)} (time scale ${TIME_SCALE})`, r.seconds]);
        console.log(
            r.out
                .split("\n")
                .filter((l) => /traffic routing|weight|OUTCOME|final:|^\s*error:|restore/.test(l))
                .map((l) => `      ${l.trim()}`)
                .join("\n"),
        );
        assert.equal(r.status, 0, `rehearse exited ${r.status}:\n${r.out.slice(-6000)}`);
        assert.match(r.out, /traffic routing nginx/);
        const report = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "out", "rehearsal", STACK, MODEL, "worse-model.json"), "utf8"));
        assert.equal(report.match, true);
        assert.equal(report.outcome, "aborted");
        assert.deepEqual(report.decidedBy, report.expect.decidedBy);
        assert.equal(report.canaryWeightAtEnd, 0, "traffic back to stable");
        assert.equal(report.stableRevisionAfter, report.stableRevisionBefore, "stable unchanged");
        const weights = report.events.filter((e: any) => e.kind === "weight");
        assert.ok(weights.length > 0 && weights.every((e: any) => e.source === "ingress"), "the recorder read every weight from the canary Ingress");
        assert.ok(
            weights.some((e: any) => e.weight === FIRST_WEIGHT),
            `the canary Ingress carried the first step's weight (${weights.map((e: any) => e.weight).join(", ")})`,
        );
        // The load generator split real requests by that weight: at 25 %, a quarter of them reached the canary's
        // servers (a little less while the canary's server started: those requests went nowhere, counted apart).
        const traffic = report.servers.stats.traffic;
        assert.equal(report.servers.stats.routing.mode, "nginx");
        const first = traffic.splits[`ingress ${FIRST_WEIGHT}%`];
        assert.ok(first && first.requests > 100, JSON.stringify(traffic.splits));
        assert.ok(Math.abs(first.canary / first.requests - FIRST_WEIGHT / 100) < 0.05, `canary share at ${FIRST_WEIGHT} %: ${JSON.stringify(first)}`);
        assert.equal(traffic.splits["ingress 0%"]?.canary ?? 0, 0, "no canary traffic at weight 0");
        // What the servers' feedback counters decided, the generator saw too: the canary answers worse.
        assert.ok(traffic.versions.canary.accuracy < traffic.versions.stable.accuracy - 0.03, JSON.stringify(traffic.versions));
    });

    let stableHash = "";
    let canaryHash = "";
    it(`4. a new version: Argo writes the canary Ingress (canary, weight ${FIRST_WEIGHT}), pins each Service to its ReplicaSet, and shrinks stable (dynamicStableScale)`, async function () {
        const before = await t("Rollout at rest before the release", () =>
            waitFor("the Rollout at rest", 180, async () => {
                const x = await rollout();
                return x.status?.phase === "Healthy" && x.status.stableRS === x.status.currentPodHash && !x.status.abort ? x : undefined;
            }),
        );
        stableHash = before.status.stableRS;
        await stack.setConfig("model-fleet:models[0].version", { value: "2.3.0" }, true);
        await stack.setConfig("model-fleet:models[0].image.tag", { value: "v2.3.0-1a2b3c4" }, true);
        const res = await t("pulumi up (new version)", () => stack.up({ color: "never" }));
        assert.equal(res.summary.result, "succeeded");
        const canaryIngress = await t("canary Ingress at the first weight", () =>
            waitFor(`the canary Ingress ${CANARY_INGRESS} at weight ${FIRST_WEIGHT}`, 120, async () => {
                const i = await kube.read("networking.k8s.io/v1", "Ingress", CANARY_INGRESS, NS);
                return i?.metadata?.annotations?.[NGINX_WEIGHT] === String(FIRST_WEIGHT) ? i : undefined;
            }),
        );
        assert.equal(canaryIngress.metadata!.annotations![CANARY_ANNOTATION], "true");
        assert.equal(canaryIngress.spec.ingressClassName, "nginx");
        assert.equal(canaryIngress.spec.rules[0].http.paths[0].backend.service.name, `${MODEL}-canary`, "the canary Ingress routes to the canary Service");
        assert.equal(canaryIngress.spec.rules[0].host, `${MODEL}.sandbox.local`);
        const r = await rollout();
        canaryHash = r.status.currentPodHash;
        assert.notEqual(canaryHash, stableHash);
        assert.equal(r.status.stableRS, stableHash);
        assert.equal(await selectorHash(MODEL), stableHash, "stable Service pinned to the stable hash");
        assert.equal(await selectorHash(`${MODEL}-canary`), canaryHash, "canary Service pinned to the canary hash");
        // dynamicStableScale: canary ceil(4 × 25 %) = 1, stable ceil(4 × 75 %) = 3 once the weight is set.
        await t("stable scaled to 3, canary to 1", () =>
            waitFor("stable ReplicaSet at 3 and canary at 1", 120, async () => {
                const rss = await replicaSets();
                return rsOf(rss, stableHash)?.spec?.replicas === 3 && rsOf(rss, canaryHash)?.spec?.replicas === 1 ? true : undefined;
            }),
        );
    });

    it("5. an abort (status.abort, as kubectl argo rollouts abort) sets the weight to 0, scales stable back to 4 and the canary to 0 after the abort delay", async function () {
        assert.ok(canaryHash, "step 4 started a canary");
        const t0 = Date.now();
        await abortRollout(kc, NS, MODEL);
        await t("canary weight back to 0", () =>
            waitFor("the canary weight back to 0", 60, async () => {
                const i = await kube.read("networking.k8s.io/v1", "Ingress", CANARY_INGRESS, NS);
                return i?.metadata?.annotations?.[NGINX_WEIGHT] === "0" ? true : undefined;
            }),
        );
        const weightZero = (Date.now() - t0) / 1000;
        let deadline: string | undefined;
        const seen = await t("stable back to 4, canary scaled to 0", () =>
            waitFor("stable at 4 and the canary at 0", 180, async () => {
                const rss = await replicaSets();
                const c = rsOf(rss, canaryHash);
                deadline ??= c?.metadata?.annotations?.[SCALE_DOWN_DEADLINE];
                return rsOf(rss, stableHash)?.spec?.replicas === REPLICAS && c?.spec?.replicas === 0 ? (Date.now() - t0) / 1000 : undefined;
            }),
        );
        console.log(`      weight 0 after ${weightZero.toFixed(1)} s, canary scaled to 0 after ${seen.toFixed(1)} s (abortScaleDownDelaySeconds 30)`);
        const r = await rollout();
        assert.equal(r.status.abort, true);
        assert.equal(r.status.stableRS, stableHash, "stable is still the old ReplicaSet");
        assert.equal(await selectorHash(MODEL), stableHash);
        assert.ok(deadline, `Argo put no ${SCALE_DOWN_DEADLINE} annotation on the aborted canary ReplicaSet (the abortScaleDownDelaySeconds path)`);
        console.log(`      the canary ReplicaSet's ${SCALE_DOWN_DEADLINE}: ${deadline}`);
        assert.ok(
            seen - weightZero >= 20,
            `the canary was scaled down ${(seen - weightZero).toFixed(1)} s after the weight went to 0, not after the 30 s delay`,
        );
    });

    it("6. `sandbox down --stack local-nginx` destroys it and removes its nodes; local keeps running, untouched", async function () {
        fs.copyFileSync(path.join(REPO_ROOT, `Pulumi.${STACK}.yaml`), path.join(paths.root, "workspace", `Pulumi.${STACK}.yaml`));
        const declared: KubeObject[] = [];
        for (const r of (await stack.exportStack()).deployment.resources ?? []) {
            if (r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes") declared.push(r.outputs);
        }
        assert.ok(declared.length > 10, `the stack's objects (${declared.length})`);
        const down = cli("sandbox.ts", ["down", "--stack", STACK]);
        timings.push([`sandbox down --stack ${STACK}`, down.seconds]);
        console.log(sandboxLines(down.out));
        assert.equal(down.status, 0, down.out.slice(-4000));
        if (/panic/.test(down.out)) assert.ok(isRolloutDeleteAwaitPanic(down.out), "only the known provider panic is retried");
        assert.match(down.out, /pulumi destroy: succeeded \(stack local-nginx\)/);
        assert.match(down.out, /removed stack local-nginx and its 5 nodes \(l4-nginx-0, .*l4-nginx-4\); the sandbox keeps running \(stack local\)/);
        await waitFor("every object of local-nginx to be gone", 120, async () => {
            for (const o of declared) if (await kube.read(o.apiVersion!, o.kind!, o.metadata!.name!, o.metadata?.namespace)) return undefined;
            return true;
        });
        // What Argo created (not in the state): gone with the namespace.
        assert.equal(await kube.read("v1", "Namespace", NS), undefined);
        assert.deepEqual(
            (await kube.list("v1", "Node")).filter((n) => n.metadata?.labels?.[SANDBOX_POOL_LABEL] === "l4-nginx"),
            [],
            "the nodes added for local-nginx are gone",
        );
        assert.deepEqual(deployedStacks(readState(paths)!), [FIRST]);
        assert.deepEqual((await kube.list("v1", "Pod", "models")).map((p) => p.metadata!.name!).sort(), firstPods, "local's pods are untouched");
        const refused = cli("sandbox.ts", ["down", "--stack", FIRST]);
        assert.equal(refused.status, 1);
        assert.match(refused.out, /started the sandbox/);
    });
});
