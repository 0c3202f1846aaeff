/**
 * A mirrored dark launch in the sandbox (issue #28): the `local-istio` stack (Pulumi.local-istio.yaml, an
 * Istio-routed canary with `canary.mirror` 50 %) deployed by the real engine into a sandbox it starts, and a release
 * rehearsal with real model servers (tests/scenarios/mirror/slow-canary.yaml) decided by the real Argo Rollouts
 * controller v1.9.0 from what a real Prometheus scrapes off those servers.
 *
 * The sandbox installs Istio's VirtualService and DestinationRule CRDs (istio.io/api v1.32.0); no Istio runs. Argo
 * reconciles the program's VirtualService: `setMirrorRoute` puts a `mirror` route ahead of `primary`
 * (rollout/trafficrouting/istio/istio.go `createMirrorRoute`: the primary's destinations, plus `mirror` and
 * `mirrorPercentage`). The load generator routes by that VirtualService as Envoy would (first matching route, weights,
 * a fire-and-forget copy to the mirror host; sandbox/rehearsal/fleet/routing.ts): users are answered by stable alone,
 * and half of the inference requests are copied to the canary, which is slow. The mirror gate judges the canary's
 * own latency on the copies and Argo aborts before any weight.
 *
 * Starts its own sandbox (none may be running) and takes it down afterwards.
 * REHEARSAL_TIME_SCALE (default 10) compresses analysis intervals and scenario times.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { ROLLOUT_API } from "../rehearsal/rollout";
import { REPO_ROOT } from "../stack";
import { ownSandbox, rehearse } from "./cli";

const STACK = "local-istio";
const NS = "models-istio";
const MODEL = "sentiment";
const SCENARIO = path.join(REPO_ROOT, "tests", "scenarios", "mirror", "slow-canary.yaml");

describe("sandbox e2e: a mirrored dark launch (stack local-istio) decided by the real controller on real servers", function () {
    const sandbox = ownSandbox(STACK);
    const kube = () => sandbox.kube();

    it("1. at rest: Argo took the Istio-routed Rollout (Healthy, the mirror phase before the first weight) and the VirtualService has the program's one primary route, all to stable", async () => {
        const ro = (await kube().read(ROLLOUT_API, "Rollout", MODEL, NS))!;
        assert.equal(ro.status?.phase, "Healthy", JSON.stringify(ro.status?.conditions));
        const c = ro.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.managedRoutes, [{ name: "mirror" }]);
        assert.deepEqual(c.trafficRouting.istio.virtualService, { name: MODEL, routes: ["primary"] });
        assert.deepEqual(
            c.steps.slice(0, 6).map((s: Record<string, unknown>) => Object.keys(s)[0]),
            ["setCanaryScale", "setMirrorRoute", "pause", "analysis", "setMirrorRoute", "setCanaryScale"],
        );
        assert.equal(c.steps[1].setMirrorRoute.percentage, 50);
        const vs = (await kube().read("networking.istio.io/v1beta1", "VirtualService", MODEL, NS))!;
        assert.deepEqual(vs.spec.http, [
            {
                name: "primary",
                route: [
                    { destination: { host: MODEL }, weight: 100 },
                    { destination: { host: `${MODEL}-canary` }, weight: 0 },
                ],
            },
        ]);
    });

    it(`2. ${path.basename(SCENARIO)}: Argo adds the mirror route, copies of half the inference requests reach the slow canary while users get stable's answers, the mirror gate fails on latency, and Argo aborts before any weight`, async function () {
        this.timeout(1_800_000);
        const report = rehearse(STACK, MODEL, SCENARIO, /traffic routing|weight|analysis .*\(step|OUTCOME|final:|^\s*error:|restore|report:/);
        assert.equal(report.match, true, JSON.stringify({ outcome: report.outcome, decidedBy: report.decidedBy, expect: report.expect }));
        assert.equal(report.outcome, "aborted");
        assert.deepEqual(report.decidedBy, ["latency-p99"]);
        assert.equal(report.decidingRun?.kind, "step");
        assert.equal(report.maxCanaryWeight, 0, "no user traffic: the mirror phase decided");
        assert.equal(report.stableRevisionAfter, report.stableRevisionBefore, "stable unchanged");
        const traffic = report.servers.stats.traffic;
        // Argo's mirror route carried requests (the load generator only knows the routes Argo wrote), and its copies
        // reached the canary: about half of the requests the route took once the canary's pod was up.
        const viaMirror = traffic.splits["route mirror 0%, mirror 50% to sentiment-canary"];
        assert.ok(viaMirror && viaMirror.requests > 200, JSON.stringify(traffic.splits));
        assert.ok(
            traffic.mirrored.canary.requests > 100 && traffic.mirrored.canary.requests <= Math.ceil(viaMirror.requests / 2),
            JSON.stringify(traffic.mirrored),
        );
        assert.equal(traffic.mirrored.stable.requests, 0);
        // Users: every answer came from stable, fast; the canary answered only copies.
        assert.equal(traffic.versions.canary.requests, 0, "no user request reached the canary");
        assert.ok(Object.values(traffic.splits).every((s: any) => s.canary === 0));
        assert.ok(traffic.versions.stable.p99Ms < 800, JSON.stringify(traffic.versions.stable));
        // After the abort Argo removed its managed route: the VirtualService is the program's again.
        const vs = (await kube().read("networking.istio.io/v1beta1", "VirtualService", MODEL, NS))!;
        assert.deepEqual(
            vs.spec.http.map((h: { name: string }) => h.name),
            ["primary"],
        );
    });
});
