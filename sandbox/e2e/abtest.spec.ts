/**
 * A/B by header in the sandbox (issue #28): the `local-ab` stack (Pulumi.local-ab.yaml, an nginx-routed canary with
 * `canary.abTest` header `x-canary: always`) deployed by the real engine into a sandbox it starts, and a release
 * rehearsal with real model servers (tests/scenarios/ab-test/worse-model.yaml) decided by the real Argo Rollouts
 * controller v1.9.0 from what a real Prometheus scrapes off those servers.
 *
 * The program renders the A/B phase as `setCanaryScale` → pause → gate before the first weight, and the header rule
 * as `trafficRouting.nginx.additionalIngressAnnotations`, which Argo copies onto the canary Ingress it writes
 * (rollout/trafficrouting/nginx/nginx.go). The load generator's A/B group (30 of its 100 users) sends every request
 * with the header; routing follows ingress-nginx's rule on that Ingress (balancer.lua `route_to_alternative_balancer`,
 * sandbox/rehearsal/fleet/routing.ts): only those requests reach the canary, which is the genuinely worse model.
 * The A/B gate fails on accuracy and Argo aborts before any weight.
 *
 * The Istio variant (A/B by `setHeaderRoute` and a mirrored dark launch by `setMirrorRoute`, their `managedRoutes`),
 * rendered by the program's own functions from this stack's canary plus a mirror, is admitted by the API server
 * against Argo's CRD (a server-side dry run: no Istio runs here to decide one).
 *
 * Starts its own sandbox (none may be running) and takes it down afterwards.
 * REHEARSAL_TIME_SCALE (default 10) compresses analysis intervals and scenario times.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { canarySteps } from "../../components/rollouts/canary";
import { canaryStrategy } from "../../components/rollouts/ModelCanary";
import { ANALYSIS_TEMPLATE_NAMES } from "../../components/rollouts/RolloutsController";
import { canarySchema } from "../../config/schema";
import { readFleetConfig } from "../../support/stackFile";
import { FIELD_MANAGER, KubeObject } from "../cluster/kube";
import { ROLLOUT_API } from "../rehearsal/rollout";
import { REPO_ROOT } from "../stack";
import { ownSandbox, rehearse } from "./cli";

const STACK = "local-ab";
const NS = "models-ab";
const MODEL = "sentiment";
const MARK = "x-canary: always";
const SCENARIO = path.join(REPO_ROOT, "tests", "scenarios", "ab-test", "worse-model.yaml");

describe("sandbox e2e: an A/B test by header (stack local-ab) decided by the real controller on real servers", function () {
    const sandbox = ownSandbox(STACK);
    const kube = () => sandbox.kube();

    it("1. at rest: the Rollout carries the header rule for the canary Ingress and an A/B phase (canary pods, pause, gate) before the first weight", async () => {
        const ro = (await kube().read(ROLLOUT_API, "Rollout", MODEL, NS))!;
        assert.equal(ro.status?.phase, "Healthy");
        const c = ro.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.nginx.additionalIngressAnnotations, { "canary-by-header": "x-canary", "canary-by-header-value": "always" });
        assert.deepEqual(c.steps[0], { setCanaryScale: { weight: 50 } });
        assert.ok(c.steps[1].pause && c.steps[2].analysis, JSON.stringify(c.steps.slice(0, 4)));
        assert.deepEqual(c.steps[3], { setCanaryScale: { matchTrafficWeight: true } });
        assert.deepEqual(c.steps[4], { setWeight: 50 });
    });

    it("2. the Istio variant (setHeaderRoute, setMirrorRoute, managedRoutes), rendered by the program from this canary plus a mirror: admitted by the API server against Argo's CRD, nothing pruned", async () => {
        const raw = readFleetConfig(STACK).config.models.find((m: { name: string }) => m.name === MODEL);
        const canary = canarySchema.parse({ ...raw.canary, mirror: { percentage: 10 } });
        const steps = canarySteps(canary, ANALYSIS_TEMPLATE_NAMES, { model: MODEL, version: raw.version, service: `${MODEL}-canary` }, "istio");
        const strategy = canaryStrategy({
            mode: "istio",
            steps,
            canaryService: `${MODEL}-canary`,
            stableService: MODEL,
            stableIngress: MODEL,
            virtualService: MODEL,
            abortScaleDownDelaySeconds: 30,
            experiments: canary,
        });
        const atRest = (await kube().read(ROLLOUT_API, "Rollout", MODEL, NS))!;
        const rollout: KubeObject = {
            apiVersion: ROLLOUT_API,
            kind: "Rollout",
            metadata: { name: `${MODEL}-istio`, namespace: NS },
            spec: { ...atRest.spec, strategy: { canary: JSON.parse(JSON.stringify(strategy)) } },
        };
        const created = await kube().objects.create(k8s.loadYaml<KubeObject>(JSON.stringify(rollout)), undefined, "All", FIELD_MANAGER);
        const c = created.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.managedRoutes, [{ name: "ab-test" }, { name: "mirror" }]);
        // A structural schema prunes what it does not know: the steps come back whole.
        assert.deepEqual(c.steps, JSON.parse(JSON.stringify(steps)));
        const kinds = c.steps.slice(0, 9).map((x: Record<string, unknown>) => Object.keys(x)[0]);
        assert.deepEqual(kinds, [
            "setCanaryScale",
            "setMirrorRoute",
            "pause",
            "analysis",
            "setMirrorRoute",
            "setHeaderRoute",
            "pause",
            "analysis",
            "setCanaryScale",
        ]);
        assert.equal(await kube().read(ROLLOUT_API, "Rollout", `${MODEL}-istio`, NS), undefined, "a dry run stores nothing");
    });

    it(`3. ${path.basename(SCENARIO)}: only the A/B group's requests (${MARK}) reach the worse canary, its gate fails on accuracy, and Argo aborts before any weight`, async function () {
        this.timeout(1_800_000);
        const report = rehearse(STACK, MODEL, SCENARIO, /traffic routing|A\/B group|weight|analysis|OUTCOME|final:|^\s*error:|restore|report:/);
        assert.equal(report.match, true, JSON.stringify({ outcome: report.outcome, decidedBy: report.decidedBy, expect: report.expect }));
        assert.equal(report.outcome, "aborted");
        assert.deepEqual(report.decidedBy, ["accuracy-drop"]);
        assert.equal(report.maxCanaryWeight, 0, "no weighted traffic: the A/B phase decided");
        assert.equal(report.stableRevisionAfter, report.stableRevisionBefore, "stable unchanged");
        const traffic = report.servers.stats.traffic;
        const group = traffic.splits[`ingress 0%, ${MARK}`];
        const others = traffic.splits["ingress 0%"];
        assert.ok(group && group.canary > 50, `the A/B group reached the canary: ${JSON.stringify(traffic.splits)}`);
        assert.ok(others && others.requests > 100, JSON.stringify(traffic.splits));
        assert.equal(others.canary, 0, "no request without the header reached the canary");
        assert.equal(traffic.versions.canary.requests, group.canary, "the canary served the group's requests and nothing else");
        // The group is 30 of 100 users, sending in turn: 30 % of the requests carry the header.
        const share = group.requests / (group.requests + others.requests);
        assert.ok(Math.abs(share - 0.3) < 0.02, `A/B group share ${share}`);
        // What the servers' feedback counters decided, the generator saw too: the canary answers worse on that traffic.
        assert.ok(traffic.versions.canary.accuracy < traffic.versions.stable.accuracy - 0.03, JSON.stringify(traffic.versions));
    });
});
