import { strict as assert } from "assert";
import { clock, estimate, progressLine, ProgressReporter, ProgressState } from "../../sandbox/toolchain/progress";
import { selectTools } from "../../sandbox/toolchain/build";
import { TOOL_SETS, TOOLS } from "../../sandbox/toolchain/manifest";

const plan = [
    { name: "pulumi", version: "v3.274.1", expectedSeconds: 600 },
    { name: "kubernetes", version: "v1.35.4", expectedSeconds: 300 },
    { name: "crane", version: "v0.22.1", expectedSeconds: 100 },
];
const at = (current: number, toolElapsed: number, totalElapsed: number, step = "go build x"): ProgressState => ({
    plan,
    current,
    step,
    toolElapsed,
    totalElapsed,
});

describe("tool build progress", () => {
    it("formats clocks as m:ss and h:mm:ss", () => {
        assert.equal(clock(0), "0:00");
        assert.equal(clock(336), "5:36");
        assert.equal(clock(3725), "1:02:05");
    });

    it("weights each tool by its expected time: overall fraction and time left", () => {
        assert.deepEqual(estimate(at(0, 0, 0)), { fraction: 0, remaining: 1000 });
        const mid = estimate(at(1, 150, 760));
        assert.equal(mid.fraction, (600 + 150) / 1000);
        assert.equal(mid.remaining, 150 + 100);
    });

    it("a tool past its expected time is never 100 % and its time left never goes negative", () => {
        const late = estimate(at(2, 400, 1400));
        assert.ok(late.fraction < 1, String(late.fraction));
        assert.ok(late.remaining > 0);
    });

    it("names the tool, the step, elapsed against expected, the overall progress and time left", () => {
        assert.equal(
            progressLine(at(1, 130, 742, "go build kube-apiserver")),
            "2/3 kubernetes v1.35.4: go build kube-apiserver · 2:10 of ~5:00 · all 73% · ~5 min left (12:22 so far)",
        );
        assert.match(progressLine(at(2, 50, 1000)), /~50 s left/);
    });

    it("a set selects its tools in manifest order; names and sets mix without duplicates", () => {
        assert.deepEqual(
            selectTools(["promql"]).map((t) => t.name),
            TOOLS.filter((t) => (TOOL_SETS.promql as readonly string[]).includes(t.name)).map((t) => t.name),
        );
        assert.deepEqual(
            selectTools(["crane", "supplychain"]).map((t) => t.name),
            TOOLS.map((t) => t.name).filter((n) => (TOOL_SETS.supplychain as readonly string[]).includes(n)),
        );
        assert.equal(selectTools([]).length, TOOLS.length);
        assert.throws(() => selectTools(["nope"]), /unknown tool "nope"/);
    });

    it("every set names known tools, and the sandbox set covers what the control plane and engine start", () => {
        for (const [set, names] of Object.entries(TOOL_SETS))
            for (const n of names)
                assert.ok(
                    TOOLS.some((t) => t.name === n),
                    `${set}: ${n}`,
                );
        for (const n of ["pulumi", "pulumi-resource-kubernetes", "kubernetes", "etcd", "kwok", "argo-rollouts"]) {
            assert.ok((TOOL_SETS.sandbox as readonly string[]).includes(n), n);
        }
    });

    it("without a terminal: a line per step, and a heartbeat only after a silent minute", () => {
        let t = 0;
        const out: string[] = [];
        const r = new ProgressReporter(plan, { tty: false, write: (s) => out.push(s), now: () => t });
        r.cached("etcd", "v3.6.16", "/cache/etcd");
        r.stepStarted("pulumi", "go mod download");
        t = 5_000;
        r.stepStarted("pulumi", "go build pulumi");
        t = 30_000;
        r.tick();
        assert.equal(out.length, 3, "no heartbeat within the minute");
        t = 66_000;
        r.tick();
        r.done("pulumi", 70);
        assert.deepEqual(out, [
            "[tools] etcd v3.6.16: cached in /cache/etcd\n",
            "[tools] 1/3 pulumi v3.274.1: go mod download · 0:00 of ~10:00 · all 0% · ~17 min left (0:00 so far)\n",
            "[tools] 1/3 pulumi v3.274.1: go build pulumi · 0:05 of ~10:00 · all 0% · ~17 min left (0:05 so far)\n",
            "[tools] 1/3 pulumi v3.274.1: go build pulumi · 1:06 of ~10:00 · all 6% · ~16 min left (1:06 so far)\n",
            "[tools] 1/3 pulumi v3.274.1: built in 70 s (expected ~600 s)\n",
        ]);
    });

    it("on a terminal: one line rewritten in place every tick, ended by a newline when a tool is done", () => {
        let t = 0;
        const out: string[] = [];
        const r = new ProgressReporter(plan, { tty: true, write: (s) => out.push(s), now: () => t });
        r.stepStarted("kubernetes", "go build kube-apiserver");
        t = 1000;
        r.tick();
        r.done("kubernetes", 1);
        assert.equal(out.length, 3);
        for (const s of out) assert.ok(s.startsWith("\r\x1b[2K[tools] 2/3 kubernetes"), JSON.stringify(s));
        assert.ok(!out[0].endsWith("\n") && !out[1].endsWith("\n") && out[2].endsWith("\n"));
    });
});
