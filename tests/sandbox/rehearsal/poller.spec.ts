/**
 * The rehearsal's poll loop (sandbox/rehearsal/poller.ts) on fake sources: what the exporter is told, when the
 * canary's clock starts, which AnalysisRuns count, the scrape targets, and how the loop ends.
 */
import { strict as assert } from "node:assert";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { Recorder } from "../../../sandbox/rehearsal/observe";
import { canaryStart, ExporterState, Poller, PollerOptions, PollSources, podRefs, updateRuns } from "../../../sandbox/rehearsal/poller";
import type { ActiveTarget } from "../../../sandbox/rehearsal/prometheus";
import { stopCheck } from "../../../sandbox/rehearsal/signal";

const T0 = Date.parse("2026-01-01T00:00:10Z");
const iso = (ms: number) => new Date(ms).toISOString();

function pod(name: string, hash: string, ip = "10.0.0.1"): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: "models", labels: { "rollouts-pod-template-hash": hash, "app.kubernetes.io/version": "2.2.0" } },
        status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
    };
}
const rollout = (current: string): KubeObject => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { name: "sentiment", uid: "r-uid" },
    spec: { strategy: { canary: { steps: [{ setWeight: 25 }] } } },
    status: { phase: "Progressing", currentStepIndex: 0, stableRS: "st4ble", currentPodHash: current },
});
const run = (name: string, createdMs: number, owner = "r-uid"): KubeObject => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AnalysisRun",
    metadata: {
        name,
        creationTimestamp: iso(createdMs) as any,
        ownerReferences: [{ apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "sentiment", uid: owner }],
        labels: { "step-index": "2" },
    },
    status: { phase: "Running", metricResults: [] },
});

class FakeSources implements PollSources {
    current = "st4ble";
    pods_ = [pod("s-1", "st4ble"), pod("s-2", "st4ble")];
    rsCreatedMs = T0;
    runs_: KubeObject[] = [];
    targets_: ActiveTarget[] = [];
    posted: ExporterState[] = [];
    reads: string[] = [];
    fail?: string;
    async rollout() {
        if (this.fail) throw new Error(this.fail);
        return rollout(this.current);
    }
    async pods() {
        return this.pods_;
    }
    async replicaSets(hash: string) {
        this.reads.push(`rs ${hash}`);
        return [{ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { creationTimestamp: iso(this.rsCreatedMs) as any } }];
    }
    async analysisRuns(hash: string) {
        this.reads.push(`runs ${hash}`);
        return this.runs_;
    }
    async exporterState(s: ExporterState) {
        this.posted.push(s);
    }
    async targets() {
        this.reads.push("targets");
        return this.targets_;
    }
}

function setup(now: { t: number }, extra: Partial<PollerOptions> = {}) {
    const sources = new FakeSources();
    const recorder = new Recorder({ routing: "none", timeScale: 10, stableHashBefore: "st4ble", pauseSettleSeconds: 10, abortSettleSeconds: 30 });
    const ticks: number[] = [];
    const logs: string[] = [];
    const poller = new Poller({
        recorder,
        sources,
        stableHash: "st4ble",
        rolloutName: "models/sentiment",
        log: (l) => logs.push(l),
        onTick: () => ticks.push(now.t),
        stopped: () => undefined,
        now: () => now.t,
        ...extra,
    });
    return { sources, recorder, poller, ticks, logs };
}

describe("rehearsal poller", () => {
    it("tells the exporter the running pods; starts the canary's clock once, at the new ReplicaSet's creation", async () => {
        const now = { t: T0 - 5000 };
        const { sources, recorder, poller, ticks } = setup(now);
        await poller.tick();
        assert.deepEqual(sources.posted[0], { pods: podRefs(sources.pods_) });
        assert.equal(sources.posted[0].pods.length, 2);
        assert.equal(recorder.t0Ms, undefined);
        assert.ok(!sources.reads.some((r) => r.startsWith("runs")), "no canary, no AnalysisRuns read");

        poller.markUpdate(T0 - 500);
        sources.current = "c4n4ry";
        sources.pods_ = [...sources.pods_, pod("c-1", "c4n4ry")];
        now.t = T0 + 1500;
        await poller.tick();
        assert.deepEqual(sources.posted[1].clock, { t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" });
        assert.equal(recorder.t0Ms, T0);
        assert.equal(recorder.canaryHash, "c4n4ry");
        now.t += 1000;
        await poller.tick();
        assert.equal(sources.posted[2].clock, undefined, "the clock is sent once");
        assert.equal(sources.reads.filter((r) => r.startsWith("rs")).length, 1);
        assert.equal(ticks.length, 3);
    });

    it("time 0: the ReplicaSet's creation when this update made it, else half a second before it was seen", () => {
        const rs = (ms: number): KubeObject => ({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { creationTimestamp: iso(ms) as any } });
        assert.equal(canaryStart(rs(T0), T0 - 500, T0 + 2000), T0, "second precision: up to a second before pulumi up started");
        assert.equal(canaryStart(rs(T0 - 60_000), T0, T0 + 2000), T0 + 1500, "a ReplicaSet of an earlier rehearsal of the same version");
        assert.equal(canaryStart(undefined, T0, T0 + 2000), T0 + 1500);
    });

    it("counts only this update's AnalysisRuns of this Rollout (a version rehearsed before reuses its hash)", () => {
        const runs = [run("old", T0 - 60_000), run("mine", T0 + 3000), run("other-owner", T0 + 3000, "x"), run("rounded", T0 - 1500)];
        assert.deepEqual(
            updateRuns(runs, "r-uid", T0).map((r) => r.metadata?.name),
            ["mine", "rounded"],
        );
    });

    it("records Prometheus' targets when they change, at most every two seconds; a failing targets API is no targets", async () => {
        const now = { t: T0 };
        const { sources, recorder, poller } = setup(now);
        recorder.start(T0, "c4n4ry");
        const target = (pod: string, health: string): ActiveTarget => ({
            labels: { pod, rollouts_pod_template_hash: "st4ble" },
            health,
            scrapeUrl: `http://127.0.0.1:19091/pods/models/${pod}/metrics`,
            lastError: "",
        });
        sources.targets_ = [target("s-2", "up"), target("s-1", "up")];
        for (const dt of [0, 1000, 2500, 5000]) {
            now.t = T0 + 10_000 + dt;
            if (dt === 5000) sources.targets_ = [target("s-1", "down"), target("s-2", "up")];
            await poller.tick();
        }
        const recorded = recorder.events.filter((e) => e.kind === "targets");
        assert.equal(sources.reads.filter((r) => r === "targets").length, 3, "at 0, 2.5 and 5 s");
        assert.equal(recorded.length, 2, "the same targets again are not an event");
        assert.deepEqual(
            recorded.map((e) => (e.kind === "targets" ? e.targets.map((t) => `${t.pod} ${t.health}`) : [])),
            [
                ["s-1 up", "s-2 up"],
                ["s-1 down", "s-2 up"],
            ],
        );
        sources.targets = async () => Promise.reject(new Error("connection refused"));
        now.t += 3000;
        await poller.tick();
        const last = recorder.events[recorder.events.length - 1];
        assert.ok(last.kind === "targets" && last.targets.length === 0);
    });

    it("the loop logs a read error once until a tick succeeds, ends on stop() or an interrupt", async () => {
        const { sources, poller: fast, logs } = setup({ t: T0 }, { intervalMs: 5, now: Date.now });
        sources.fail = "connect ECONNREFUSED";
        fast.start();
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(fast.lastError?.message, "connect ECONNREFUSED");
        assert.deepEqual(logs, ["  (poll: connect ECONNREFUSED)"]);
        sources.fail = undefined;
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(fast.lastError, undefined);
        await fast.stop();
        const n = sources.posted.length;
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(sources.posted.length, n, "no tick after stop()");

        const interrupt = new AbortController();
        const i = setup({ t: T0 }, { intervalMs: 5, now: Date.now, stopped: stopCheck(interrupt.signal) });
        i.poller.start();
        await new Promise((r) => setTimeout(r, 30));
        assert.ok(i.sources.posted.length > 1, "it polls");
        interrupt.abort("SIGINT");
        await new Promise((r) => setTimeout(r, 20));
        const m = i.sources.posted.length;
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(i.sources.posted.length, m, "the interrupt ended the loop (no stop() yet)");
        await i.poller.stop();

        const slow = setup({ t: T0 }, { intervalMs: 60_000, now: Date.now }).poller.start();
        await new Promise((r) => setTimeout(r, 10));
        const t = Date.now();
        await slow.stop();
        assert.ok(Date.now() - t < 1000, "stop() does not wait out the interval");
    });

    it("a Rollout that disappears is an error of the tick", async () => {
        const { sources, poller } = setup({ t: T0 });
        sources.rollout = async () => undefined as unknown as KubeObject;
        await assert.rejects(poller.tick(), /Rollout models\/sentiment disappeared/);
    });
});
