/**
 * The rehearsal's scripted fleet and its exporter (sandbox/rehearsal/exporter.ts, exporterServer.ts): counters are
 * integrals of the scenario's rates, per pod and version, with the model server's exact names and labels
 * (images/model-server/METRICS.md), and the text parses with Prometheus' own parser when promtool is built.
 */
import { strict as assert } from "node:assert";
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { PodRef, ScriptedFleet } from "../../../sandbox/rehearsal/exporter";
import { exporterHandler } from "../../../sandbox/rehearsal/exporterServer";
import { needsPromtool } from "./promtool";
import { parseScenario } from "../../../sandbox/rehearsal/scenario";
import { SERVER_BUCKETS } from "../../../sandbox/rehearsal/metrics";

const scenario = parseScenario(
    {
        canary: [
            { at: 0, successRate: 0.9, clientErrorRate: 0.2, p99LatencyMs: 950, accuracy: 0.8, requestRate: 10, feedbackRate: 4 },
            { at: "60s", noData: true },
            { at: "120s", noData: false },
        ],
        stable: [{ at: 0, successRate: 1, p99LatencyMs: 100, accuracy: 0.95, requestRate: 20, feedbackRate: 2 }],
    },
    "t",
);

const NS = "models";
const pod = (name: string, hash: string): PodRef => ({ namespace: NS, name, hash, version: hash === "c4n4ry" ? "2.2.1" : "2.2.0" });
const T0 = 1_000_000;

type Series = { name: string; labels: Record<string, string>; value: number };

/** A small text-format reader for assertions (promtool checks the syntax separately). */
function parse(text: string): Series[] {
    return text
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => {
            const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
            assert.ok(m, `bad line ${l}`);
            const labels: Record<string, string> = {};
            for (const lm of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
            return { name: m[1], labels, value: Number(m[3]) };
        });
}

const find = (s: Series[], name: string, labels: Record<string, string> = {}) =>
    s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
const total = (s: Series[], name: string, labels: Record<string, string> = {}) => find(s, name, labels).reduce((a, b) => a + b.value, 0);

function scrape(fleet: ScriptedFleet, name: string, at: number): Series[] {
    const r = fleet.scrape(NS, name, at);
    assert.equal(r.status, 200, r.body);
    return parse(r.body);
}

describe("rehearsal exporter: the scripted fleet", () => {
    it("counts requests per pod as the integral of the rate, in scenario seconds (× time scale)", () => {
        const fleet = new ScriptedFleet({ scenario, timeScale: 10, model: "sentiment" }, T0);
        fleet.setPods([pod("s1", "st4ble"), pod("s2", "st4ble")], T0);
        const s = scrape(fleet, "s1", T0 + 1500); // 1.5 real s = 15 scenario s at 20/s
        assert.ok(Math.abs(total(s, "model_server_requests_total", { handler: "/predict" }) - 300) < 1e-9);
        assert.deepEqual(
            find(s, "model_server_requests_total", { handler: "/predict" }).map((x) => x.labels),
            [{ handler: "/predict", method: "POST", code: "200" }],
            "only incremented series exist (no 422/500 from a stable that never errs)",
        );
        assert.equal(
            find(s, "model_server_request_duration_seconds_count", { handler: "/predict" })[0].value,
            total(s, "model_server_requests_total", { handler: "/predict" }),
        );
    });

    it("tells canary from stable pods by their pod-template hash once the rollout started; codes split as scripted", () => {
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);
        fleet.setPods([pod("s1", "st4ble")], T0);
        fleet.setClock({ t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, T0);
        fleet.setPods([pod("s1", "st4ble"), pod("c1", "c4n4ry")], T0);
        const c = scrape(fleet, "c1", T0 + 10_000); // 10 s at 10/s
        const code = (k: string) => total(c, "model_server_requests_total", { handler: "/predict", code: k });
        assert.ok(Math.abs(code("200") - 70) < 1e-9 && Math.abs(code("422") - 20) < 1e-9 && Math.abs(code("500") - 10) < 1e-9, JSON.stringify(c.slice(0, 4)));
        // p99 950 ms: bucket (0.5, 1]: r = 0.9 → 90% at ≤ 0.5 s, 10% inside.
        const le = (b: string) => find(c, "model_server_request_duration_seconds_bucket", { handler: "/predict", le: b })[0].value;
        assert.ok(Math.abs(le("0.5") - 90) < 1e-9 && Math.abs(le("1.0") - 100) < 1e-9 && le("0.25") === 0);
    });

    it("counters are monotonic across scenario changes and no-data segments; no data → 503", () => {
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);
        fleet.setClock({ t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, T0);
        fleet.setPods([pod("s1", "st4ble"), pod("c1", "c4n4ry")], T0);
        const before = total(scrape(fleet, "c1", T0 + 59_000), "model_server_requests_total", { handler: "/predict" });
        assert.equal(fleet.scrape(NS, "c1", T0 + 61_000).status, 503);
        assert.equal(fleet.scrape(NS, "s1", T0 + 61_000).status, 200, "stable still reports");
        const after = total(scrape(fleet, "c1", T0 + 121_000), "model_server_requests_total", { handler: "/predict" });
        assert.ok(Math.abs(before - 590) < 1e-9 && Math.abs(after - 1210) < 1e-9, `${before} ${after}`);
    });

    it("feedback: feedbackRate per pod of each version, served_by = that version's hash, scored on random pods; accuracy from the counters", () => {
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment", seed: 7 }, T0);
        fleet.setClock({ t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, T0);
        const pods = [pod("s1", "st4ble"), pod("s2", "st4ble"), pod("c1", "c4n4ry")];
        fleet.setPods(pods, T0);
        let all: Series[] = [];
        for (let t = 1000; t <= 50_000; t += 1000) fleet.advance(T0 + t); // many pieces: random shares per piece
        for (const p of pods) all = all.concat(scrape(fleet, p.name, T0 + 50_000));
        const fb = (servedBy: string, outcome?: string) => total(all, "model_server_feedback_total", { served_by: servedBy, ...(outcome ? { outcome } : {}) });
        assert.ok(Math.abs(fb("c4n4ry") - 4 * 50 * 1) < 1e-6, `canary feedback ${fb("c4n4ry")}`);
        assert.ok(Math.abs(fb("st4ble") - 2 * 50 * 2) < 1e-6);
        assert.ok(Math.abs(fb("c4n4ry", "correct") / fb("c4n4ry") - 0.8) < 1e-12);
        assert.ok(Math.abs(fb("st4ble", "correct") / fb("st4ble") - 0.95) < 1e-12);
        for (const p of pods) {
            assert.ok(
                find(all, "model_server_feedback_total", { served_by: "c4n4ry" }).some((x) => x.labels.outcome === "correct"),
                `${p.name}`,
            );
        }
        // Canary feedback lands on stable pods too (any pod scores any prediction).
        const onStable = parse(fleet.scrape(NS, "s1", T0 + 50_000).body);
        assert.ok(total(onStable, "model_server_feedback_total", { served_by: "c4n4ry" }) > 0);
        // The dashboard gauge: the pod's own version's accuracy.
        assert.equal(find(onStable, "model_server_accuracy")[0].value, 0.95);
        assert.equal(find(parse(fleet.scrape(NS, "c1", T0 + 50_000).body), "model_server_accuracy")[0].value, 0.8);
    });

    it("the accuracy gauge is NaN until the pod scored feedback for its own version; a new pod starts from zero", () => {
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);
        fleet.setPods([pod("s1", "st4ble")], T0);
        assert.ok(Number.isNaN(find(scrape(fleet, "s1", T0), "model_server_accuracy")[0].value));
        fleet.setPods([pod("s1", "st4ble"), pod("s3", "st4ble")], T0 + 10_000);
        const s3 = scrape(fleet, "s3", T0 + 10_000);
        assert.deepEqual(find(s3, "model_server_requests_total"), []);
        assert.equal(fleet.scrape(NS, "gone", T0).status, 404);
        fleet.setPods([pod("s3", "st4ble")], T0 + 11_000);
        assert.equal(fleet.scrape(NS, "s1", T0 + 11_000).status, 404, "a deleted pod's series end");
    });

    it("exposes exactly the contract's names and server-emitted labels (METRICS.md); no scrape labels", () => {
        const table = fs.readFileSync(path.join(__dirname, "..", "..", "..", "images", "model-server", "METRICS.md"), "utf8");
        const contract = new Map<string, string[]>();
        for (const m of table.matchAll(/^\| `(model_server_[a-z_]+)` \| [^|]+ \| ([^|]+) \|/gm)) {
            // The labels column: backticked names, value lists ({…}) and notes ((…)) removed.
            const column = m[2].replace(/\{[^}]*\}/g, "").replace(/\([^)]*\)/g, "");
            contract.set(
                m[1],
                [...column.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]),
            );
        }
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);
        fleet.setClock({ t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, T0);
        fleet.setPods([pod("s1", "st4ble"), pod("c1", "c4n4ry")], T0);
        const series = [...scrape(fleet, "s1", T0 + 30_000), ...scrape(fleet, "c1", T0 + 30_000)];
        const base = (n: string) => n.replace(/_(bucket|sum|count)$/, "");
        for (const s of series) {
            const name = contract.has(s.name) ? s.name : base(s.name);
            assert.ok(contract.has(name), `${s.name} is not in METRICS.md`);
            const expected = contract.get(name)!;
            const got = Object.keys(s.labels).filter((l) => l !== "le");
            assert.deepEqual(got.sort(), expected.sort(), `${s.name}${JSON.stringify(s.labels)}`);
        }
        assert.ok(
            series.every((s) => !("pod" in s.labels) && !("namespace" in s.labels) && !("rollouts_pod_template_hash" in s.labels)),
            "scrape labels come from relabeling only",
        );
        const les = find(series, "model_server_request_duration_seconds_bucket", { handler: "/predict" }).map((s) => s.labels.le);
        assert.deepEqual([...new Set(les)], [...SERVER_BUCKETS.map((b) => (Number.isInteger(b) ? `${b}.0` : String(b))), "+Inf"]);
    });

    it("Prometheus' own parser accepts the text (promtool check metrics)", function () {
        const promtool = needsPromtool(this);
        const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);
        fleet.setClock({ t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, T0);
        fleet.setPods([pod("s1", "st4ble"), pod("c1", "c4n4ry")], T0);
        for (const name of ["s1", "c1"]) {
            const body = fleet.scrape(NS, name, T0 + 30_000).body;
            const r: SpawnSyncReturns<string> = spawnSync(promtool, ["check", "metrics"], { input: body, encoding: "utf8" });
            // Exit 0: no errors; lint problems (none expected) would be printed.
            assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${body}`);
            assert.equal(`${r.stdout}${r.stderr}`.trim(), "", `${r.stdout}${r.stderr}`);
        }
    });
});

describe("rehearsal exporter: HTTP", () => {
    let server: http.Server;
    let base = "";
    let now = T0;
    const fleet = new ScriptedFleet({ scenario, timeScale: 1, model: "sentiment" }, T0);

    before((done) => {
        server = http.createServer(exporterHandler(fleet, () => now));
        server.listen(0, "127.0.0.1", () => {
            base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
            done();
        });
    });
    after((done) => {
        server.close(() => done());
    });

    const req = (method: string, p: string, body?: unknown) =>
        new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
            const r = http.request(`${base}${p}`, { method, headers: body ? { "Content-Type": "application/json" } : {} }, (res) => {
                let b = "";
                res.on("data", (c) => (b += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: b }));
            });
            r.on("error", reject);
            r.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
        });

    it("serves one path per pod once told about the pods and the rollout", async () => {
        assert.equal((await req("GET", "/healthz")).status, 200);
        assert.equal((await req("GET", `/pods/${NS}/c1/metrics`)).status, 404);
        assert.equal(
            (await req("POST", "/state", { clock: { t0Ms: T0, canaryHash: "c4n4ry", stableHash: "st4ble" }, pods: [pod("s1", "st4ble"), pod("c1", "c4n4ry")] }))
                .status,
            204,
        );
        now = T0 + 20_000;
        const r = await req("GET", `/pods/${NS}/c1/metrics`);
        assert.equal(r.status, 200);
        assert.match(r.type, /^text\/plain; version=0\.0\.4/);
        assert.match(r.body, /^model_server_requests_total\{handler="\/predict",method="POST",code="422"\} 40\.0$/m);
        const state = JSON.parse((await req("GET", "/state")).body);
        assert.deepEqual(state.pods, ["models/c1", "models/s1"]);
        assert.equal(state.scenarioTime, 20);
        now = T0 + 70_000;
        assert.equal((await req("GET", `/pods/${NS}/c1/metrics`)).status, 503);
        assert.equal((await req("POST", "/state", "{not json")).status, 400);
    });
});
