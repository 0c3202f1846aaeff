/**
 * The real-server rehearsal's pure parts (sandbox/rehearsal/fleet/): the cluster's traffic split (EndpointSlices,
 * round-robin, the canary Ingress's weight), the per-pod servers' plan and environment, the load generator's v2
 * requests and its accounting against a local HTTP double of the v2 API, the Python environment's key, and the
 * scenario's `servers:` form.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { reconcilePlan, serverEnv, type Backend } from "../../../sandbox/rehearsal/fleet/backends";
import { dockerfilePythonMinor, envDir, trainingSpecFile } from "../../../sandbox/rehearsal/fleet/prepare";
import {
    canaryRules,
    canaryShare,
    EvenShare,
    IstioHttpRoute,
    istioRouteFor,
    pinnedToCanary,
    readyEndpoints,
    RoundRobin,
    routeCanaryShare,
    Router,
    RoutingView,
    stringMatches,
} from "../../../sandbox/rehearsal/fleet/routing";
import { abGroupLine, heldOutAccuracy, versionEnv } from "../../../sandbox/rehearsal/fleet/start";
import {
    inferBody,
    LoadGenerator,
    markHeaders,
    markLabel,
    parseInferResponse,
    quantile,
    splitKey,
    userMarks,
    USERS,
} from "../../../sandbox/rehearsal/fleet/traffic";
import { parseScenario, ScenarioError, TRAFFIC_DEFAULTS } from "../../../sandbox/rehearsal/scenario";

function slice(service: string, endpoints: Array<{ pod: string; ready?: boolean; kind?: string }>): KubeObject {
    return {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `${service}-abcde`, namespace: "models", labels: { "kubernetes.io/service-name": service } },
        endpoints: endpoints.map((e) => ({
            addresses: ["10.0.0.1"],
            ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
            targetRef: { kind: e.kind ?? "Pod", name: e.pod, namespace: "models" },
        })),
    } as KubeObject;
}

describe("rehearsal fleet: the cluster's traffic split", () => {
    it("a Service's ready Pod endpoints from its EndpointSlices (ready nil counts as ready, as the API defines)", () => {
        const slices = [
            slice("sentiment", [{ pod: "sentiment-b" }, { pod: "sentiment-a", ready: true }, { pod: "sentiment-c", ready: false }]),
            slice("sentiment", [{ pod: "sentiment-a" }, { pod: "node-x", kind: "Node" }]),
            slice("sentiment-canary", [{ pod: "sentiment-z" }]),
        ];
        assert.deepEqual(
            readyEndpoints(slices, "sentiment").map((e) => e.pod),
            ["sentiment-a", "sentiment-b"],
        );
        assert.deepEqual(
            readyEndpoints(slices, "sentiment-canary").map((e) => e.pod),
            ["sentiment-z"],
        );
        assert.deepEqual(readyEndpoints(slices, "other"), []);
    });

    it("the canary Ingress's share: canary-weight over canary-weight-total (default 100), 0 without the canary annotation", () => {
        const ing = (a: Record<string, string>) => ({ metadata: { annotations: a } }) as KubeObject;
        assert.equal(canaryShare(undefined), 0);
        assert.equal(canaryShare(ing({ "nginx.ingress.kubernetes.io/canary-weight": "25" })), 0);
        assert.equal(canaryShare(ing({ "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "25" })), 0.25);
        assert.equal(
            canaryShare(
                ing({
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": "5",
                    "nginx.ingress.kubernetes.io/canary-weight-total": "1000",
                }),
            ),
            0.005,
        );
        assert.equal(canaryShare(ing({ "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "x" })), 0);
    });

    it("round-robin keeps its place when the list changes, and each key has its own cursor", () => {
        const rr = new RoundRobin();
        assert.deepEqual(
            [rr.next("a", [1, 2, 3]), rr.next("a", [1, 2, 3]), rr.next("b", [7]), rr.next("a", [1, 2, 3]), rr.next("a", [1, 2, 3])],
            [1, 2, 7, 3, 1],
        );
        assert.equal(rr.next("a", [9, 8]), 8, "cursor 4 mod 2");
        assert.equal(rr.next("a", []), undefined);
    });

    it("an even share: 25 % is exactly every fourth decision, and a changed share keeps the long-run total", () => {
        const s = new EvenShare();
        const picks = Array.from({ length: 8 }, () => s.take(0.25));
        assert.deepEqual(picks, [false, false, false, true, false, false, false, true]);
        const t = new EvenShare();
        let n = 0;
        for (let i = 0; i < 100; i++) n += t.take(i < 50 ? 0.1 : 0.5) ? 1 : 0;
        assert.equal(n, 30);
        assert.equal(Array.from({ length: 10 }, () => t.take(0)).filter(Boolean).length, 0);
    });

    it("replica weighting: every ready pod of the Service in turn; nginx: the Ingress's share to the canary Service", () => {
        const ep = (pod: string) => ({ namespace: "models", pod });
        const none: RoutingView = { mode: "none", stable: [ep("s1"), ep("s2"), ep("c1")], canary: [], canaryShare: 0 };
        const r = new Router();
        assert.deepEqual(
            Array.from({ length: 6 }, () => r.pick(none)!.pod),
            ["s1", "s2", "c1", "s1", "s2", "c1"],
        );
        const nginx: RoutingView = { mode: "nginx", stable: [ep("s1"), ep("s2")], canary: [ep("c1")], canaryShare: 0.25 };
        const r2 = new Router();
        const picks = Array.from({ length: 400 }, () => r2.pick(nginx)!.pod);
        assert.equal(picks.filter((p) => p === "c1").length, 100);
        assert.equal(picks.filter((p) => p === "s1").length, 150);
        // The weight is the Ingress's, not the replicas': with the canary Service empty, everything goes to stable.
        const r3 = new Router();
        assert.ok(Array.from({ length: 8 }, () => r3.pick({ ...nginx, canary: [] })!.pod).every((p) => p.startsWith("s")));
        // Feedback goes to the model's Service, round-robin, whatever the split.
        assert.deepEqual([r2.feedback(nginx)!.pod, r2.feedback(nginx)!.pod, r2.feedback(nginx)!.pod], ["s1", "s2", "s1"]);
    });

    it("A/B: the canary Ingress's header and cookie rules, read only with its canary annotation (Argo copies additionalIngressAnnotations)", () => {
        const ingress = (annotations: Record<string, string>) => ({ metadata: { annotations } }) as KubeObject;
        const A = "nginx.ingress.kubernetes.io/";
        assert.deepEqual(canaryRules(ingress({ [`${A}canary`]: "true", [`${A}canary-by-header`]: "X-Canary", [`${A}canary-by-header-value`]: "always" })), {
            header: "x-canary",
            headerValue: "always",
        });
        assert.deepEqual(canaryRules(ingress({ [`${A}canary`]: "true", [`${A}canary-by-cookie`]: "ab" })), { cookie: "ab" });
        assert.deepEqual(canaryRules(ingress({ [`${A}canary-by-header`]: "x-canary" })), {}, "not a canary Ingress");
        assert.deepEqual(canaryRules(ingress({ [`${A}canary`]: "true", [`${A}canary-by-header-value`]: "always" })), {}, "a value without a header is nothing");
        assert.deepEqual(canaryRules(undefined), {});
    });

    it("A/B: ingress-nginx's order (balancer.lua route_to_alternative_balancer): header (its value, else always/never), then cookie, then the weight", () => {
        const byValue = { header: "x-canary", headerValue: "b" };
        assert.equal(pinnedToCanary(byValue, { headers: { "x-canary": "b" } }), true);
        assert.equal(pinnedToCanary(byValue, { headers: { "x-canary": "always" } }), undefined, "with a value, any other value falls through");
        assert.equal(pinnedToCanary(byValue, { headers: { "x-canary": "never" } }), undefined, "…never included");
        const bare = { header: "x-canary" };
        assert.equal(pinnedToCanary(bare, { headers: { "x-canary": "always" } }), true);
        assert.equal(pinnedToCanary(bare, { headers: { "x-canary": "never" } }), false);
        assert.equal(pinnedToCanary(bare, { headers: { "x-canary": "yes" } }), undefined);
        const both = { header: "x-canary", cookie: "ab" };
        assert.equal(
            pinnedToCanary(both, { headers: { "x-canary": "other" }, cookies: { ab: "always" } }),
            true,
            "a header that falls through reaches the cookie",
        );
        assert.equal(pinnedToCanary(both, { headers: { "x-canary": "never" }, cookies: { ab: "always" } }), false, "the header decides first");
        assert.equal(pinnedToCanary({ cookie: "ab" }, { cookies: { ab: "never" } }), false);
        assert.equal(pinnedToCanary({}, { headers: { "x-canary": "always" } }), undefined, "no rule on the Ingress: the header means nothing");
        assert.equal(pinnedToCanary(bare, undefined), undefined);
    });

    it("A/B: the router sends pinned requests to the canary Service without drawing on the weight; the others split by the weight", () => {
        const ep = (pod: string) => ({ namespace: "models", pod });
        const view: RoutingView = {
            mode: "nginx",
            stable: [ep("s1"), ep("s2")],
            canary: [ep("c1")],
            canaryShare: 0,
            rules: { header: "x-canary", headerValue: "always" },
        };
        const r = new Router();
        const marked = { headers: { "x-canary": "always" } };
        assert.ok(Array.from({ length: 10 }, () => r.pick(view, marked)!.pod).every((p) => p === "c1"));
        assert.ok(
            Array.from({ length: 10 }, () => r.pick(view)!.pod).every((p) => p.startsWith("s")),
            "weight 0: nobody else",
        );
        // At 50 %, pinned requests do not consume the weight's share: the unmarked still split exactly half and half.
        const r2 = new Router();
        const picks = Array.from({ length: 40 }, (_, i) => r2.pick({ ...view, canaryShare: 0.5 }, i % 2 ? marked : undefined)!.pod);
        assert.equal(picks.filter((p, i) => i % 2 === 0 && p === "c1").length, 10);
        assert.ok(picks.every((p, i) => i % 2 === 0 || p === "c1"));
        // No canary endpoint: stable serves the pinned requests too (the canary Service selects nothing yet).
        assert.equal(new Router().pick({ ...view, canary: [] }, marked)!.pod, "s1");
        // Without a router (replica weighting), a header means nothing.
        assert.equal(new Router().pick({ mode: "none", stable: [ep("s1")], canary: [], canaryShare: 0, rules: view.rules }, marked)!.pod, "s1");
    });
});

describe("rehearsal fleet: Istio's routing of the VirtualService Argo writes", () => {
    const ep = (pod: string) => ({ namespace: "models", pod });
    const INFER = "/v2/models/sentiment/infer";
    const primary = (canaryWeight: number): IstioHttpRoute => ({
        name: "primary",
        route: [
            { destination: { host: "sentiment" }, weight: 100 - canaryWeight },
            { destination: { host: "sentiment-canary" }, weight: canaryWeight },
        ],
    });
    // What argo-rollouts v1.9.0 istio.go createMirrorRoute writes ahead of primary: its destinations, the match, the copy.
    const mirror: IstioHttpRoute = {
        name: "mirror",
        match: [{ uri: { exact: INFER } }, { uri: { exact: "/predict" } }],
        route: primary(0).route,
        mirror: { host: "sentiment-canary" },
        mirrorPercentage: { value: 50 },
    };
    // createHeaderRoute: the header match, all to the canary.
    const header: IstioHttpRoute = {
        name: "ab-test",
        match: [{ headers: { "x-canary": { exact: "always" } } }],
        route: [{ destination: { host: "sentiment-canary.models.svc.cluster.local" } }],
    };
    const req = (path: string, headers?: Record<string, string>) => ({ path, method: "POST", ...(headers ? { headers } : {}) });

    it("string matches: exact, prefix, and a regex that must match the whole value; an absent condition matches", () => {
        assert.ok(stringMatches({ exact: "/a" }, "/a") && !stringMatches({ exact: "/a" }, "/ab"));
        assert.ok(stringMatches({ prefix: "/v2/" }, "/v2/models") && !stringMatches({ prefix: "/v2/" }, "/v1"));
        assert.ok(stringMatches({ regex: "^(.*?;\\s*)?ab=always(;.*)?$" }, "x=1; ab=always"));
        assert.ok(!stringMatches({ regex: "ab" }, "xaby"), "RE2 full match, as Envoy's safe_regex");
        assert.ok(stringMatches(undefined, undefined) && !stringMatches({ exact: "x" }, undefined));
    });

    it("the first route whose match blocks match (any block, every condition); a route without match takes the rest", () => {
        const http = [header, mirror, primary(0)];
        assert.equal(istioRouteFor(http, req(INFER, { "x-canary": "always" }))?.name, "ab-test");
        assert.equal(istioRouteFor(http, req(INFER))?.name, "mirror");
        assert.equal(istioRouteFor(http, req("/feedback"))?.name, "primary", "the mirror's match is the inference paths only");
        assert.equal(istioRouteFor([mirror], req("/feedback")), undefined, "no route: Envoy answers 404");
        assert.equal(
            istioRouteFor([{ name: "c", match: [{ headers: { cookie: { regex: ".*ab=always.*" } } }] }], {
                path: "/",
                method: "GET",
                cookies: { ab: "always" },
            })?.name,
            "c",
        );
        assert.equal(
            routeCanaryShare(primary(25), (h) => h === "sentiment-canary"),
            0.25,
        );
        assert.equal(
            routeCanaryShare(header, (h) => h.startsWith("sentiment-canary")),
            1,
            "one destination without weight takes all",
        );
        assert.equal(
            routeCanaryShare(undefined, () => true),
            0,
        );
    });

    it("the router: weights per route, a copy of the mirror's share to the canary's pods, the header route to the canary", () => {
        const view: RoutingView = {
            mode: "istio",
            stable: [ep("s1"), ep("s2")],
            canary: [ep("c1")],
            canaryShare: 0,
            canaryService: "sentiment-canary",
            http: [header, mirror, primary(0)],
        };
        const r = new Router();
        const routed = Array.from({ length: 10 }, () => r.route(view, req(INFER)));
        assert.ok(
            routed.every((x) => x.route === "mirror" && x.endpoint?.pod.startsWith("s")),
            "users get stable's answers",
        );
        assert.equal(routed.filter((x) => x.mirror?.pod === "c1").length, 5, "half of them copied to the canary");
        assert.equal(r.route(view, req("/feedback")).mirror, undefined, "not an inference path: no copy");
        assert.equal(r.route(view, req(INFER, { "x-canary": "always" })).endpoint?.pod, "c1");
        // A weight on primary: exactly that share to the canary's pods.
        const r2 = new Router();
        const w = { ...view, http: [primary(25)] };
        assert.equal(Array.from({ length: 40 }, () => r2.route(w, req(INFER)).endpoint!.pod).filter((p) => p === "c1").length, 10);
        // The canary picked but no canary pod ready: no endpoint (Envoy: 503 no healthy upstream).
        assert.equal(new Router().route({ ...view, canary: [], http: [primary(100)] }, req(INFER)).endpoint, undefined);
        // No copy without a canary pod, and none when the mirror route is gone.
        assert.equal(new Router().route({ ...view, canary: [], http: [mirror] }, req(INFER)).mirror, undefined);
    });

    it("names the split by the route the request took, with its canary weight and mirror", () => {
        const view: RoutingView = { mode: "istio", stable: [], canary: [], canaryShare: 0, canaryService: "sentiment-canary", http: [mirror, primary(10)] };
        assert.equal(
            splitKey(view, () => false, undefined, "mirror"),
            "route mirror 0%, mirror 50% to sentiment-canary",
        );
        assert.equal(
            splitKey(view, () => false, undefined, "primary"),
            "route primary 10%",
        );
        assert.equal(
            splitKey(view, () => false, undefined, undefined),
            "no route",
        );
    });
});

describe("rehearsal fleet: one real server per pod", () => {
    const pod = (name: string, hash = "abc123") => ({ namespace: "models", name, hash });

    it("starts servers for new pods and stops those of pods that are gone", () => {
        const plan = reconcilePlan(["models/a", "models/b"], [pod("b"), pod("c")]);
        assert.deepEqual(
            plan.start.map((p) => p.name),
            ["c"],
        );
        assert.deepEqual(plan.stop, ["models/a"]);
        assert.deepEqual(reconcilePlan([], []), { start: [], stop: [] });
    });

    it("a server's environment is the pod template's (model, version, the pod's hash, the shared id key) plus the version's knobs", () => {
        const env = serverEnv(
            { model: "sentiment", predictionIdKey: "k".repeat(64) },
            { version: "2.2.1", modelPath: "/w/model.onnx", env: { MODEL_PREDICT_DELAY_SECONDS: "1.2" } },
            pod("sentiment-x", "7c9f8d6b5"),
            41234,
            "/run/x",
        );
        assert.equal(env.MODEL_NAME, "sentiment");
        assert.equal(env.MODEL_VERSION, "2.2.1");
        assert.equal(env.POD_TEMPLATE_HASH, "7c9f8d6b5");
        assert.equal(env.MODEL_PATH, "/w/model.onnx");
        assert.equal(env.PORT, "41234");
        assert.equal(env.HOST, "127.0.0.1", "loopback only");
        assert.equal(env.PREDICTION_ID_KEY, "k".repeat(64));
        assert.equal(env.MODEL_SERVER_RUN_DIR, "/run/x");
        assert.equal(env.MODEL_PREDICT_DELAY_SECONDS, "1.2");
        assert.equal(env.WEB_CONCURRENCY, "1");
    });

    it("the version knobs map to the server's environment variables; held-out accuracy comes from the evaluation", () => {
        assert.deepEqual(versionEnv({ training: "digits/1.1.0", latencyPerInFlightSeconds: 0, predictDelaySeconds: 0 }), {});
        assert.deepEqual(versionEnv({ training: "digits/1.1.0", latencyPerInFlightSeconds: 0.005, predictDelaySeconds: 1.2 }), {
            MODEL_LATENCY_PER_INFLIGHT_SECONDS: "0.005",
            MODEL_PREDICT_DELAY_SECONDS: "1.2",
        });
        assert.equal(heldOutAccuracy({ metrics: { accuracy: 0.96 } }), 0.96);
        assert.equal(heldOutAccuracy({}), undefined);
    });
});

describe("rehearsal fleet: the load generator", () => {
    const holdout = {
        features: [
            [0, 1],
            [2, 3],
            [4, 5],
        ],
        labels: [1, 0, 1],
    };

    it("builds v2 infer bodies (FP32, shape [n, F], flat rows) and reads label and prediction_id outputs", () => {
        assert.deepEqual(JSON.parse(inferBody(holdout, [2, 0], "pixels")), {
            inputs: [{ name: "pixels", shape: [2, 2], datatype: "FP32", data: [4, 5, 0, 1] }],
            outputs: [{ name: "label" }, { name: "prediction_id" }],
        });
        assert.deepEqual(
            parseInferResponse({
                outputs: [
                    { name: "label", datatype: "INT64", shape: [2], data: [1, 0] },
                    { name: "prediction_id", datatype: "BYTES", shape: [2], data: ["a", "b"] },
                ],
            }),
            { labels: [1, 0], ids: ["a", "b"] },
        );
        assert.throws(() => parseInferResponse({ outputs: [] }), /no label\/prediction_id/);
        assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
        assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
        assert.equal(quantile([], 0.5), undefined);
    });

    it("sends each due request to the routed pod's server, counts answers per version and posts true labels as feedback", async function () {
        this.timeout(20000);
        // A local double of two servers' v2 API: the stable one always answers label 1, the canary label 0.
        const seen: Array<{ port: number; path: string; body: any }> = [];
        const servers = await Promise.all(
            [1, 0].map(
                (label) =>
                    new Promise<http.Server>((resolve) => {
                        const s = http.createServer((req, res) => {
                            let b = "";
                            req.on("data", (c) => (b += c));
                            req.on("end", () => {
                                const body = JSON.parse(b);
                                seen.push({ port: (s.address() as any).port, path: req.url!, body });
                                if (req.url === "/feedback") return void res.writeHead(200).end("{}");
                                const n = body.inputs[0].shape[0];
                                res.writeHead(200, { "Content-Type": "application/json" }).end(
                                    JSON.stringify({
                                        outputs: [
                                            { name: "label", data: Array(n).fill(label) },
                                            { name: "prediction_id", data: Array.from({ length: n }, (_, i) => `id-${label}-${i}`) },
                                        ],
                                    }),
                                );
                            });
                        });
                        s.listen(0, "127.0.0.1", () => resolve(s));
                    }),
            ),
        );
        const [stablePort, canaryPort] = servers.map((s) => (s.address() as any).port);
        const backend = (version: "stable" | "canary", port: number) => ({ version, port, state: "ready" }) as unknown as Backend;
        const backends: Record<string, Backend> = { s1: backend("stable", stablePort), c1: backend("canary", canaryPort) };
        const view: RoutingView = {
            mode: "none",
            stable: [
                { namespace: "models", pod: "s1" },
                { namespace: "models", pod: "c1" },
                { namespace: "models", pod: "gone" },
            ],
            canary: [],
            canaryShare: 0,
        };
        const gen = new LoadGenerator(
            { model: "digits", requestsPerSecond: 1000, feedbackShare: 0.5, batch: 1, maxInFlight: 100 },
            holdout,
            () => view,
            (_ns, pod) => backends[pod],
            () => "pixels",
            () => clock,
        );
        let clock = 0;
        try {
            gen.start();
            clock = 12;
            gen.tick(); // 12 requests due: round-robin over the two endpoints whose server is ready (not the third's)
            const deadline = Date.now() + 10000;
            while (Date.now() < deadline && seen.filter((s) => s.path === "/feedback").length < 6) await new Promise((r) => setTimeout(r, 20));
            await new Promise((r) => setTimeout(r, 100));
            const st = gen.stats();
            assert.equal(st.sent, 12);
            assert.equal(st.unrouted, 0, "an endpoint whose server is not ready gets nothing, as kube-proxy skips a pod that is not Ready");
            assert.equal(st.versions.stable.requests, 6);
            assert.equal(st.versions.canary.requests, 6);
            assert.deepEqual(st.versions.stable.codes, { "200": 6 });
            assert.deepEqual(st.splits, { "endpoints 1/2": { requests: 12, canary: 6 } }, "the split in force: 1 canary endpoint of the 2 servable");
            // Rows cycle 0,1,2,0,…; true labels 1,0,1: stable (always 1) is right on rows 0 and 2.
            const stableRows = seen.filter((s) => s.port === stablePort && s.path !== "/feedback").map((s) => s.body.inputs[0].data[0] / 2);
            assert.equal(st.versions.stable.correct, stableRows.filter((r) => holdout.labels[r] === 1).length);
            // Half of the 12 predictions get their true label back, through the Service's servable endpoints in turn.
            assert.equal(st.feedback.sent, 6);
            assert.deepEqual(st.feedback.codes, { "200": 6 });
            const fb = seen.filter((s) => s.path === "/feedback");
            assert.ok(fb.every((f) => typeof f.body.id === "string" && [0, 1].includes(f.body.label)));
            assert.ok(seen.every((s) => s.path === "/feedback" || s.path === "/v2/models/digits/infer"));
        } finally {
            gen.stop();
            for (const s of servers) s.close();
        }
    });

    it("names the split in force: the Ingress's weight with nginx, canary endpoints over ready endpoints without", () => {
        const ep = (pod: string) => ({ namespace: "models", pod });
        assert.equal(
            splitKey({ mode: "nginx", stable: [ep("s")], canary: [ep("c")], canaryShare: 0.25 }, () => false),
            "ingress 25%",
        );
        assert.equal(
            splitKey({ mode: "nginx", stable: [], canary: [], canaryShare: 0.005 }, () => false),
            "ingress 0.5%",
        );
        assert.equal(
            splitKey({ mode: "none", stable: [ep("s1"), ep("c1"), ep("s2")], canary: [], canaryShare: 0 }, (_n, p) => p.startsWith("c")),
            "endpoints 1/3",
        );
    });

    it("A/B group: the first share of the users carry the model's header (or cookie) on every request, for good; the split names the mark", () => {
        const ab = { share: 0.3, header: { name: "X-Canary", value: "always" } };
        const group = Array.from({ length: USERS }, (_, u) => userMarks(ab, u)).filter((m) => m !== undefined);
        assert.equal(group.length, 30);
        assert.deepEqual(userMarks(ab, 0), { headers: { "x-canary": "always" } });
        assert.equal(userMarks(ab, 30), undefined);
        assert.equal(userMarks(undefined, 0), undefined);
        assert.deepEqual(userMarks({ share: 0.5, cookie: "ab" }, 1), { cookies: { ab: "always" } });
        assert.equal(markLabel(userMarks(ab, 0)), "x-canary: always");
        assert.equal(markLabel({ cookies: { ab: "always" } }), "cookie ab=always");
        assert.equal(markLabel(undefined), undefined);
        assert.deepEqual(markHeaders(userMarks(ab, 0)), { "x-canary": "always" });
        assert.deepEqual(markHeaders({ cookies: { ab: "always" } }), { Cookie: "ab=always" });
        assert.deepEqual(markHeaders(undefined), {});
        const ep = (pod: string) => ({ namespace: "models", pod });
        assert.equal(
            splitKey({ mode: "nginx", stable: [ep("s")], canary: [ep("c")], canaryShare: 0 }, () => false, userMarks(ab, 0)),
            "ingress 0%, x-canary: always",
        );
        assert.match(abGroupLine({ abTest: ab }), /an A\/B group of 30 of 100 users whose every request carries x-canary: always/);
        assert.equal(abGroupLine({}), "");
    });

    it("refuses an empty held-out set", () => {
        assert.throws(
            () =>
                new LoadGenerator(
                    { model: "m", requestsPerSecond: 1, feedbackShare: 1, batch: 1, maxInFlight: 1 },
                    { features: [], labels: [] },
                    () => ({}) as RoutingView,
                    () => undefined,
                    () => "x",
                ),
            /empty/,
        );
    });
});

describe("rehearsal fleet: environment and scenario", () => {
    it("the Python minor of the Dockerfile's one base image; a venv directory per lock digest", () => {
        assert.equal(dockerfilePythonMinor("FROM python:3.11.14-slim AS a\nFROM python:3.11.14-slim AS b\n"), "3.11");
        assert.throws(() => dockerfilePythonMinor("FROM python:3.11.1\nFROM python:3.12.0\n"), /one python:X.Y.Z base/);
        const a = envDir("/c", "3.11", ["x", "y"]);
        assert.match(a, /^\/c\/model-server-py3\.11-[0-9a-f]{12}$/);
        assert.equal(envDir("/c", "3.11", ["x", "y"]), a);
        assert.notEqual(envDir("/c", "3.11", ["x", "y2"]), a);
        assert.notEqual(envDir("/c", "3.11", ["xy"]), envDir("/c", "3.11", ["x", "y"]), "lock boundaries count");
    });

    it("a training id names a spec file in the repository; otherwise the error lists those there are", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specs-"));
        fs.mkdirSync(path.join(dir, "digits"));
        fs.writeFileSync(path.join(dir, "digits", "1.1.0.json"), "{}");
        assert.equal(trainingSpecFile("digits/1.1.0", dir), path.join(dir, "digits", "1.1.0.json"));
        assert.throws(() => trainingSpecFile("digits/9.9.9", dir), /no training spec "digits\/9\.9\.9".*has: digits\/1\.1\.0/);
        assert.throws(() => trainingSpecFile("../x/1.0.0", dir), /no training spec/);
    });

    it("a servers: scenario gets its defaults; timelines and servers together, or neither, are one clear error", () => {
        const s = parseScenario({ servers: { stable: { training: "digits/1.1.0" }, canary: { training: "digits/1.0.0", predictDelaySeconds: 1 } } }, "x");
        assert.deepEqual(s.servers, {
            stable: { training: "digits/1.1.0", latencyPerInFlightSeconds: 0, predictDelaySeconds: 0 },
            canary: { training: "digits/1.0.0", latencyPerInFlightSeconds: 0, predictDelaySeconds: 1 },
            traffic: TRAFFIC_DEFAULTS,
        });
        assert.deepEqual(s.canary, []);
        const problems = (doc: unknown) => {
            try {
                parseScenario(doc, "x");
            } catch (e) {
                return (e as ScenarioError).problems;
            }
            return [];
        };
        assert.deepEqual(problems({}), [
            "canary: is required (or give servers: for real model servers)",
            "stable: is required (or give servers: for real model servers)",
        ]);
        const both = problems({
            canary: [{ at: 0, successRate: 1, p99LatencyMs: 100, accuracy: 0.9 }],
            servers: { stable: { training: "digits/1.1.0" }, canary: { training: "bad" }, traffic: { requestsPerSecond: 0, feedback: 2, batch: 0, rps: 1 } },
        });
        assert.deepEqual(both, [
            "canary: not with servers (real servers report their own metrics; scripted timelines are the other mode)",
            "servers.canary.training: must name a training spec <model>/<version>",
            "servers.traffic.batch: must be an integer 1..128",
            "servers.traffic.feedback: must be in [0, 1]",
            "servers.traffic.requestsPerSecond: must be > 0",
            "servers.traffic.rps: unknown key",
        ]);
    });
});
