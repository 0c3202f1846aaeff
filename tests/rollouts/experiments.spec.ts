/**
 * The canary's experiment phases (`canary.abTest`, `canary.mirror`): the rule that refuses them on a router that
 * cannot carry them, and the rendered steps, checked against the rules argo-rollouts v1.9.0 enforces
 * (pkg/apis/rollouts/validation/validation.go) and the order its reconciler needs (rollout/trafficrouting.go).
 */
import { strict as assert } from "assert";
import type { CanaryConfig } from "../../config/schema";
import { canaryExperimentIssues } from "../../domain/rules/canary";
import { inferencePaths } from "../../domain/serving";
import {
    abTestHeaderMatch,
    backgroundAnalysis,
    canarySteps,
    CanaryStep,
    experimentSteps,
    exposure,
    HEADER_ROUTE,
    managedRoutes,
    MIRROR_ROUTE,
    nginxAbTestAnnotations,
} from "../../components/rollouts/canary";
import { canaryStrategy } from "../../components/rollouts/ModelCanary";
import { ANALYSIS_TEMPLATE_NAMES as T } from "../../components/rollouts/RolloutsController";

const BASE: CanaryConfig = {
    steps: [5, 25, 50],
    pauseSeconds: 300,
    analysis: { successRate: 0.99, maxClientErrorIncrease: 0.05, p99LatencyMs: 250, maxAccuracyDrop: 0.03, minFeedbackSamples: 100, minRequests: 100 },
};
const HEADER: CanaryConfig = { ...BASE, abTest: { header: { name: "x-canary", value: "always" } } };
const COOKIE: CanaryConfig = { ...BASE, abTest: { cookie: "canary" } };
const MIRROR: CanaryConfig = { ...BASE, mirror: { percentage: 20 } };
const TARGET = { model: "sentiment", version: "2.1.4", service: "sentiment-canary" };

/** A step's kind: its one set key (Argo requires exactly one per step, validation.go). */
const kind = (s: CanaryStep) => {
    const keys = Object.keys(s).filter((k) => (s as Record<string, unknown>)[k] !== undefined);
    assert.equal(keys.length, 1, JSON.stringify(s));
    return keys[0];
};
const templatesOf = (s: CanaryStep) => (s.analysis?.templates ?? []).map((t) => t.templateName);

describe("rollouts: canary experiments, the routing rule (domain/rules/canary.ts)", () => {
    it("refuses an A/B test without a router, a mirror without Istio, and an A/B test with both or neither of header and cookie", () => {
        assert.deepEqual(canaryExperimentIssues(HEADER, "nginx"), []);
        assert.deepEqual(canaryExperimentIssues(COOKIE, "istio"), []);
        assert.deepEqual(canaryExperimentIssues(MIRROR, "istio"), []);
        assert.deepEqual(canaryExperimentIssues(BASE, "none"), []);
        assert.match(canaryExperimentIssues(HEADER, "none").map((i) => `${i.path} ${i.reason}`)[0], /^abTest needs rollouts.trafficRouting nginx or istio/);
        for (const routing of ["nginx", "none"]) {
            const issues = canaryExperimentIssues(MIRROR, routing);
            assert.deepEqual(
                issues.map((i) => i.path),
                ["mirror"],
            );
            assert.match(issues[0].reason, new RegExp(`needs rollouts.trafficRouting istio \\(this stack's is ${routing}\\)`));
        }
        const both = { ...BASE, abTest: { header: { name: "x-canary", value: "1" }, cookie: "c" } };
        assert.deepEqual(
            canaryExperimentIssues(both, "istio").map((i) => `${i.path} ${i.reason}`),
            ["abTest needs exactly one of header and cookie"],
        );
        assert.deepEqual(
            canaryExperimentIssues({ ...BASE, abTest: {} }, "nginx").map((i) => i.path),
            ["abTest"],
        );
    });

    it("the step renderer refuses what the rule refuses (a component's last line of defence)", () => {
        assert.throws(() => canarySteps(HEADER, T, TARGET, "none"), /abTest needs rollouts.trafficRouting nginx or istio/);
        assert.throws(() => canarySteps(MIRROR, T, TARGET, "nginx"), /mirror needs rollouts.trafficRouting istio/);
        assert.throws(() => backgroundAnalysis(MIRROR, T, TARGET), /mirror needs rollouts.trafficRouting istio/);
    });
});

describe("rollouts: canary experiments, rendered steps", () => {
    it("no experiment: the steps are the plain weights (nothing before the first setWeight)", () => {
        assert.deepEqual(experimentSteps(BASE, T, TARGET, "istio"), []);
        assert.equal(kind(canarySteps(BASE, T, TARGET, "istio")[0]), "setWeight");
    });

    it("Istio A/B: canary pods without weight → setHeaderRoute → pause → gate, then the weights sized by traffic again", () => {
        const steps = canarySteps(HEADER, T, TARGET, "istio");
        assert.deepEqual(steps.slice(0, 5).map(kind), ["setCanaryScale", "setHeaderRoute", "pause", "analysis", "setCanaryScale"]);
        assert.deepEqual(steps[0].setCanaryScale, { weight: 5 }, "as many pods as the first weight will need");
        assert.deepEqual(steps[1].setHeaderRoute, { name: HEADER_ROUTE, match: [{ headerName: "x-canary", headerValue: { exact: "always" } }] });
        assert.deepEqual(templatesOf(steps[3]), [T.successRate, T.clientErrors, T.latency, T.quality], "pinned users see the canary's answers: quality too");
        assert.deepEqual(steps[4].setCanaryScale, { matchTrafficWeight: true });
        assert.deepEqual(steps.slice(5).map(kind), ["setWeight", "pause", "analysis", "setWeight", "pause", "analysis", "setWeight", "pause", "analysis"]);
        // Argo: a step's route must be in managedRoutes (validation.go ValidateStepRouteFoundInManagedRoute).
        assert.deepEqual(managedRoutes(HEADER, "istio"), [{ name: HEADER_ROUTE }]);
    });

    it("nginx A/B: no setHeaderRoute step (Argo's nginx reconciler ignores it, validation refuses it): the canary Ingress annotations pin requests", () => {
        const steps = canarySteps(HEADER, T, TARGET, "nginx");
        assert.deepEqual(steps.slice(0, 4).map(kind), ["setCanaryScale", "pause", "analysis", "setCanaryScale"]);
        assert.ok(!steps.some((s) => s.setHeaderRoute || s.setMirrorRoute));
        assert.deepEqual(managedRoutes(HEADER, "nginx"), []);
        assert.deepEqual(nginxAbTestAnnotations(HEADER.abTest!), { "canary-by-header": "x-canary", "canary-by-header-value": "always" });
        assert.deepEqual(nginxAbTestAnnotations(COOKIE.abTest!), { "canary-by-cookie": "canary" });
        const strategy = canaryStrategy({
            mode: "nginx",
            steps,
            canaryService: "sentiment-canary",
            stableService: "sentiment",
            stableIngress: "sentiment",
            virtualService: "sentiment",
            abortScaleDownDelaySeconds: 30,
            experiments: HEADER,
        });
        assert.deepEqual(strategy.trafficRouting, {
            nginx: { stableIngress: "sentiment", additionalIngressAnnotations: { "canary-by-header": "x-canary", "canary-by-header-value": "always" } },
        });
    });

    it("a cookie on Istio is the cookie header matching `<name>=always` (ingress-nginx's canary-by-cookie value), one match kind", () => {
        const [m] = abTestHeaderMatch(COOKIE.abTest!);
        assert.equal(m.headerName, "cookie");
        assert.deepEqual(Object.keys(m.headerValue), ["regex"], "validation.go hasMultipleMatchValues: one of exact, prefix, regex");
        const re = new RegExp(m.headerValue.regex!);
        for (const c of ["canary=always", "a=1; canary=always", "a=1;canary=always; b=2"]) assert.ok(re.test(c), c);
        for (const c of ["canary=never", "xcanary=always", "canary=alwaysx", "a=canary=always"]) assert.ok(!re.test(c), c);
    });

    it("mirror (Istio): pods → mirror of the inference paths → pause → gate without quality → mirror removed, before any user weight", () => {
        const steps = canarySteps(MIRROR, T, TARGET, "istio");
        assert.deepEqual(steps.slice(0, 6).map(kind), ["setCanaryScale", "setMirrorRoute", "pause", "analysis", "setMirrorRoute", "setCanaryScale"]);
        const mirror = steps[1].setMirrorRoute!;
        assert.equal(mirror.name, MIRROR_ROUTE);
        assert.equal(mirror.percentage, 20);
        // A mirror route without match is removed, not created (istio.go reconcileVirtualServiceMirrorRoutes).
        assert.deepEqual(
            mirror.match,
            inferencePaths("sentiment").map((p) => ({ path: { exact: p } })),
        );
        assert.deepEqual(steps[4].setMirrorRoute, { name: MIRROR_ROUTE }, "no match: Argo removes the route");
        assert.deepEqual(templatesOf(steps[3]), [T.successRate, T.clientErrors, T.latency], "mirrored answers reach no user: no feedback, no quality gate");
        const firstWeight = steps.findIndex((s) => s.setWeight !== undefined);
        assert.ok(firstWeight > 4, "the mirror is judged and removed before any user-facing weight");
        assert.equal(canarySteps({ ...BASE, mirror: {} }, T, TARGET, "istio")[1].setMirrorRoute!.percentage, 5, "default: the first weight");
        assert.deepEqual(managedRoutes(MIRROR, "istio"), [{ name: MIRROR_ROUTE }]);
    });

    it("mirror then A/B on Istio: one canary scale, the mirror gate, the header gate, then the weights; every route is managed", () => {
        const both: CanaryConfig = { ...MIRROR, ...HEADER, mirror: MIRROR.mirror };
        const steps = canarySteps(both, T, TARGET, "istio");
        assert.deepEqual(steps.slice(0, 9).map(kind), [
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
        const names = new Set(managedRoutes(both, "istio").map((r) => r.name));
        for (const s of steps) {
            const name = s.setHeaderRoute?.name ?? s.setMirrorRoute?.name;
            if (name !== undefined) assert.ok(names.has(name), `${name} in managedRoutes`);
        }
    });

    it("the background analysis starts at the first pause (pods up), wherever the experiments put it", () => {
        for (const [c, routing] of [
            [BASE, "istio"],
            [HEADER, "istio"],
            [HEADER, "nginx"],
            [MIRROR, "istio"],
        ] as const) {
            const steps = canarySteps(c, T, TARGET, routing);
            const start = backgroundAnalysis(c, T, TARGET, routing)!.startingStep!;
            assert.equal(kind(steps[start]), "pause", `${routing} ${JSON.stringify(c.abTest ?? c.mirror ?? {})}`);
            assert.ok(!steps.slice(0, start).some((s) => s.pause), "no earlier pause");
        }
    });

    it("exposure: the first gate is at weight 0 (only pinned or mirrored requests), and each phase's pause and gate count towards full", () => {
        const plain = exposure(canarySteps(BASE, T, TARGET, "istio"));
        const ab = exposure(canarySteps(HEADER, T, TARGET, "istio"));
        assert.equal(plain.firstGateWeight, 5);
        assert.equal(ab.firstGateWeight, 0);
        assert.equal(ab.gates, plain.gates + 1);
        assert.equal(ab.minSecondsToFull, plain.minSecondsToFull + 300);
    });
});
