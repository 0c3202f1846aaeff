/**
 * The rehearsal's preflight (sandbox/rehearsal/preflight.ts): the plan read from the stack file, and bringing the
 * Rollout to rest before anything changes — with a fake API server and a fake Pulumi stack.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { abTrafficProblem, bringToRest, checkTimeScale, planStack, rehearsalDigest } from "../../../sandbox/rehearsal/preflight";
import { parseScenario } from "../../../sandbox/rehearsal/scenario";

const LOCAL = fs.readFileSync(path.join(__dirname, "..", "..", "..", "Pulumi.local.yaml"), "utf8");
const opts = { stack: "local", model: "sentiment", timeScale: 10 };

/** The local stack file with `edit` applied to its parsed config. */
function stackText(edit: (config: Record<string, any>) => void): string {
    const doc = YAML.parse(LOCAL);
    edit(doc.config);
    return YAML.stringify(doc);
}

describe("rehearsal preflight: the plan from the stack file", () => {
    it("the local stack's sentiment: namespace, routing, Prometheus on the stack's URL and the exporter beside it, the edits", () => {
        const p = planStack(LOCAL, opts);
        assert.deepEqual(
            { ...p, edits: undefined },
            {
                ns: "models",
                routing: "none",
                promListen: "127.0.0.1:19090",
                promPort: 19090,
                exporterPort: 19091,
                stableVersion: "2.2.0",
                stableTimeScale: 1,
                canaryVersion: "2.2.1",
                canaryDigest: rehearsalDigest("sentiment", "2.2.1"),
                edits: undefined,
            },
        );
        assert.deepEqual(
            p.edits.map((e) => e.key),
            ["model-fleet:models[0].version", "model-fleet:models[0].image.digest", "model-fleet:rollouts.timeScale", "model-fleet:models[0].image.tag"],
        );
    });

    it("refuses, before anything changes, a model that is missing or has no canary, and a Prometheus URL off loopback", () => {
        assert.throws(() => planStack(LOCAL, { ...opts, model: "nope" }), /stack local has no model "nope" \(models: sentiment, embedder\)/);
        assert.throws(() => planStack(LOCAL, { ...opts, model: "embedder" }), /model "embedder" has no canary config and is not blue-green/);
        const remote = stackText((c) => (c["model-fleet:rollouts"].prometheusUrl = "http://prometheus.monitoring:9090"));
        assert.throws(() => planStack(remote, opts), /rollouts.prometheusUrl http:\/\/prometheus.monitoring:9090\/ must be http:\/\/127.0.0.1:<port>/);
        const https = stackText((c) => (c["model-fleet:rollouts"].prometheusUrl = "https://127.0.0.1:19090"));
        assert.throws(() => planStack(https, opts), /must be http:\/\/127.0.0.1:<port>/);
    });

    it("a blue-green model is rehearsed (the new version becomes its preview); a scenario's pauseSeconds is refused for it", () => {
        const bgText = stackText((c) => {
            const m = c["model-fleet:models"][0];
            delete m.canary;
            m.release = { strategy: "blueGreen", blueGreen: { analysis: { successRate: 0.95 } } };
        });
        const p = planStack(bgText, opts);
        assert.deepEqual([p.stableVersion, p.canaryVersion], ["2.2.0", "2.2.1"]);
        assert.throws(() => planStack(bgText, { ...opts, pauseSeconds: 900 }), /sets pauseSeconds, but model "sentiment" is released blue-green/);
        // Each scenario its own ReplicaSet: an aborted preview keeps a scale-down deadline that fast-tracks a re-release.
        const digest = (scenario: string, text = bgText) => planStack(text, { ...opts, scenario }).canaryDigest;
        assert.notEqual(digest("preview-fails"), digest("preview-passes"));
        assert.equal(digest("preview-fails"), digest("preview-fails"));
        assert.equal(digest("a", LOCAL), digest("b", LOCAL), "a canary's version keeps one digest (its ReplicaSet is reused)");
    });

    it("A/B: the model's canary.abTest is in the plan; a real-server scenario must send an A/B group to it, and only to it", () => {
        const AB = fs.readFileSync(path.join(__dirname, "..", "..", "..", "Pulumi.local-ab.yaml"), "utf8");
        const p = planStack(AB, { ...opts, stack: "local-ab" });
        assert.deepEqual(p.abTest, { header: { name: "x-canary", value: "always" } });
        assert.equal(p.routing, "nginx");
        assert.equal(planStack(LOCAL, opts).abTest, undefined);
        const scenario = (traffic: string) =>
            parseScenario(YAML.parse(`servers:\n  stable: {training: digits/1.1.0}\n  canary: {training: digits/1.0.0}\n  traffic: {${traffic}}\n`), "s");
        assert.equal(abTrafficProblem(p, scenario("abShare: 0.3"), "sentiment"), undefined);
        assert.match(
            abTrafficProblem(p, scenario("requestsPerSecond: 6"), "sentiment")!,
            /model "sentiment" has canary.abTest: its A\/B gate judges only the requests that carry its header x-canary; scenario s must say which share of users carries it \(servers.traffic.abShare\)/,
        );
        assert.match(
            abTrafficProblem({}, scenario("abShare: 0.3"), "sentiment")!,
            /sends an A\/B group \(servers.traffic.abShare\), but model "sentiment" has no canary.abTest/,
        );
        assert.equal(
            abTrafficProblem(
                p,
                parseScenario(
                    YAML.parse(
                        "canary: [{at: 0s, successRate: 1, p99LatencyMs: 100, accuracy: 0.9}]\nstable: [{at: 0s, successRate: 1, p99LatencyMs: 100, accuracy: 0.9}]\n",
                    ),
                    "scripted",
                ),
                "sentiment",
            ),
            undefined,
            "scripted metrics need no group",
        );
        assert.throws(() => scenario("abShare: 1"), /abShare: must be in \(0, 1\)/);
    });

    it("defaults: namespace models, routing none; a configured time scale is what the restore puts back", () => {
        const t = stackText((c) => {
            delete c["model-fleet:serving"].namespace;
            delete c["model-fleet:rollouts"].trafficRouting;
            c["model-fleet:rollouts"].timeScale = 5;
        });
        const p = planStack(t, opts);
        assert.deepEqual([p.ns, p.routing, p.stableTimeScale], ["models", "none", 5]);
    });

    it("--time-scale is an integer in 1..600", () => {
        for (const ok of [1, 10, 600]) checkTimeScale(ok);
        for (const bad of [0, 601, 2.5, NaN]) assert.throws(() => checkTimeScale(bad), /must be an integer in 1..600/);
    });
});

function rollout(status: Record<string, unknown>, version = "2.2.0"): KubeObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Rollout",
        metadata: { name: "sentiment", namespace: "models" },
        spec: { template: { metadata: { labels: { "app.kubernetes.io/version": version } } } },
        status,
    };
}
const atRest = { phase: "Healthy", stableRS: "st4ble", currentPodHash: "st4ble" };

/** A fake API server answering each read with the next Rollout of `seq` (the last one repeats), and a fake stack. */
function fakes(seq: KubeObject[], changes: Record<string, number> = { same: 40 }) {
    const calls: string[] = [];
    let i = 0;
    const kube = {
        read: async () => {
            calls.push("read");
            return seq[Math.min(i++, seq.length - 1)];
        },
    };
    const stack = {
        preview: async () => {
            calls.push("preview");
            return { changeSummary: changes } as any;
        },
        up: async () => {
            calls.push("up");
            return { summary: { result: "succeeded", resourceChanges: { update: 1 } } } as any;
        },
    };
    const kc = { makeApiClient: () => assert.fail("no patch expected") } as any;
    return { kube, stack, kc, calls };
}

describe("rehearsal preflight: the Rollout at rest", () => {
    const lines: string[] = [];
    const base = { ns: "models", model: "sentiment", version: "2.2.0", log: (l: string) => lines.push(l), settleSeconds: 5 };

    it("a deployed stack like the program's and a Rollout at rest: one preview, nothing deployed", async () => {
        const f = fakes([rollout(atRest)]);
        const r = await bringToRest({ ...base, ...f });
        assert.equal(r.status.stableRS, "st4ble");
        assert.deepEqual(f.calls, ["read", "preview"]);
    });

    it("a deployed stack behind the program: pulumi up first, then it settles on the stable hash", async () => {
        const f = fakes([rollout(atRest)], { same: 38, update: 2 });
        lines.length = 0;
        const r = await bringToRest({ ...base, ...f });
        assert.equal(r.status.stableRS, "st4ble");
        assert.deepEqual(f.calls, ["read", "preview", "up", "read", "read"]);
        assert.match(lines[0], /the deployed stack is behind the program or its config \(2 to update\): pulumi up first/);
    });

    it("a Rollout that runs another version than the config, or does not come to rest: refused, nothing changed", async () => {
        const other = fakes([rollout({ phase: "Progressing", stableRS: "st4ble", currentPodHash: "n3w" }, "2.3.0")]);
        await assert.rejects(bringToRest({ ...base, ...other }), /runs version 2.3.0, the stack config says 2.2.0: nothing was changed/);
        assert.deepEqual(other.calls, ["read", "preview"], "no pulumi up");
        const missing = fakes([undefined as unknown as KubeObject]);
        await assert.rejects(bringToRest({ ...base, ...missing }), /no Rollout models\/sentiment in the sandbox/);
    });

    it("an interrupt ends the settling wait with its reason", async () => {
        const f = fakes([rollout({ phase: "Degraded", abort: true, stableRS: "st4ble", currentPodHash: "st4ble" })]);
        await assert.rejects(bringToRest({ ...base, ...f, stopped: () => "interrupted by SIGINT" }), /interrupted by SIGINT/);
    });
});
