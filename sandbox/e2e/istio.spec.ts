/**
 * Istio's experiments in the sandbox (issue #28): the `local-istio` stack (Pulumi.local-istio.yaml, an Istio-routed
 * canary with `canary.mirror` 50 % and `canary.abTest` header `x-canary: always`) deployed by the real engine into a
 * sandbox it starts, and two release rehearsals with real model servers (tests/scenarios/istio/) decided by the real
 * Argo Rollouts controller v1.9.0 from what a real Prometheus scrapes off those servers.
 *
 * The sandbox installs Istio's VirtualService and DestinationRule CRDs (istio.io/api v1.32.0); no Istio runs. Argo
 * reconciles the program's VirtualService (rollout/trafficrouting/istio/istio.go): `setMirrorRoute` puts a `mirror`
 * route ahead of `primary` (`createMirrorRoute`: the primary's destinations, plus `mirror` and `mirrorPercentage`),
 * `setHeaderRoute` an `ab-test` route matching the header, all to the canary (`createHeaderRoute`). The load
 * generator routes by that VirtualService as Envoy would (first matching route, weights, a fire-and-forget copy to
 * the mirror host; sandbox/rehearsal/fleet/routing.ts). A slow canary fails the mirror gate on the copies' latency
 * while users are answered by stable alone; a worse canary passes it, then fails the A/B gate on the accuracy of the
 * requests that carry the header.
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
const SCENARIOS = path.join(REPO_ROOT, "tests", "scenarios", "istio");
const SCENARIO = path.join(SCENARIOS, "slow-canary.yaml");
const MARK = "x-canary: always";

describe("sandbox e2e: Istio's mirrored dark launch and A/B by header (stack local-istio) decided by the real controller on real servers", function () {
    const sandbox = ownSandbox(STACK);
    const kube = () => sandbox.kube();

    it("1. at rest: Argo took the Istio-routed Rollout (Healthy, the mirror and A/B phases before the first weight) and the VirtualService has the program's one primary route, all to stable", async () => {
        const ro = (await kube().read(ROLLOUT_API, "Rollout", MODEL, NS))!;
        assert.equal(ro.status?.phase, "Healthy", JSON.stringify(ro.status?.conditions));
        const c = ro.spec.strategy.canary;
        assert.deepEqual(c.trafficRouting.managedRoutes, [{ name: "ab-test" }, { name: "mirror" }]);
        assert.deepEqual(c.trafficRouting.istio.virtualService, { name: MODEL, routes: ["primary"] });
        assert.deepEqual(
            c.steps.slice(0, 10).map((s: Record<string, unknown>) => Object.keys(s)[0]),
            ["setCanaryScale", "setMirrorRoute", "pause", "analysis", "setMirrorRoute", "setHeaderRoute", "pause", "analysis", "setCanaryScale", "setWeight"],
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
        // (The A/B group's requests take it too: Argo's header route comes only after the mirror phase.)
        const viaMirror = Object.entries(traffic.splits)
            .filter(([k]) => k.startsWith("route mirror 0%, mirror 50% to sentiment-canary"))
            .reduce((a, [, v]: [string, any]) => a + v.requests, 0);
        assert.ok(viaMirror > 200, JSON.stringify(traffic.splits));
        assert.ok(traffic.mirrored.canary.requests > 100 && traffic.mirrored.canary.requests <= Math.ceil(viaMirror / 2), JSON.stringify(traffic.mirrored));
        assert.equal(traffic.splits[`route ab-test 100%, ${MARK}`], undefined, "the header route never came");
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

    it(`3. worse-model.yaml: the mirror gate passes; Argo's header route sends the A/B group's requests (${MARK}) to the worse canary, its gate fails on accuracy, and Argo aborts before any weight`, async function () {
        this.timeout(1_800_000);
        const report = rehearse(
            STACK,
            MODEL,
            path.join(SCENARIOS, "worse-model.yaml"),
            /traffic routing|A\/B group|weight|analysis .*\(step|OUTCOME|final:|^\s*error:|restore|report:/,
        );
        assert.equal(report.match, true, JSON.stringify({ outcome: report.outcome, decidedBy: report.decidedBy, expect: report.expect }));
        assert.deepEqual([report.outcome, report.decidedBy], ["aborted", ["accuracy-drop"]]);
        assert.equal(report.maxCanaryWeight, 0, "no weighted traffic: the A/B phase decided");
        const steps = report.events.filter((e: any) => e.kind === "analysisrun" && e.runKind === "step" && e.phase === "Successful");
        assert.ok(steps.length > 0, "the mirror gate passed first");
        const traffic = report.servers.stats.traffic;
        const group = traffic.splits[`route ab-test 100%, ${MARK}`];
        assert.ok(
            group && group.canary > 50 && group.canary === group.requests,
            `Argo's header route took the group's requests to the canary: ${JSON.stringify(traffic.splits)}`,
        );
        assert.equal(traffic.versions.canary.requests, group.canary, "the canary answered the group and nobody else");
        assert.ok(
            Object.entries(traffic.splits).every(([k, v]: [string, any]) => k.endsWith(MARK) || v.canary === 0),
            "no request without the header reached the canary",
        );
        assert.ok(traffic.mirrored.canary.requests > 100, "the mirror phase copied requests to it first");
        assert.ok(traffic.versions.canary.accuracy < traffic.versions.stable.accuracy - 0.03, JSON.stringify(traffic.versions));
    });
});
