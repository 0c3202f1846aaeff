/**
 * Release rehearsals in the sandbox (issue #13): every shipped scenario (tests/scenarios/*.yaml) through
 * `npm run rehearse` against the `local` stack — the real Argo Rollouts controller decides each canary from metrics
 * a real Prometheus scrapes — and must end as the scenario expects (exit 0). Uses a running sandbox if there is one
 * (and leaves it running); otherwise brings one up with the sandbox CLI and takes it down afterwards.
 *
 * REHEARSAL_TIME_SCALE (default 10) compresses pauses, analysis intervals and scenario times.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { readState, sandboxPaths } from "../cluster/controlPlane";
import { isAlive } from "../cluster/processes";
import { SANDBOX_DIR } from "../sandbox";
import { loadScenario } from "../rehearsal/scenario";
import { REPO_ROOT } from "../stack";
import { cli } from "./cli";

const STACK = "local";
const MODEL = "sentiment";
const TIME_SCALE = Number(process.env.REHEARSAL_TIME_SCALE ?? 10);
const SCENARIOS = path.join(REPO_ROOT, "tests", "scenarios");
const paths = sandboxPaths(SANDBOX_DIR);

describe("sandbox e2e: release rehearsals (every tests/scenarios/*.yaml)", function () {
    let startedHere = false;
    const timings: Array<{ scenario: string; seconds: number; outcome: string; toOutcome: number | null; decidedBy: string[] }> = [];

    before(function () {
        this.timeout(1_800_000);
        const state = readState(paths);
        if (state && state.processes.some((p) => isAlive(p.pid))) {
            assert.equal(state.stack, STACK, `the running sandbox deploys ${state.stack}, not ${STACK}`);
            console.log(`    using the running sandbox (started ${state.startedAt}); it is left running`);
            return;
        }
        assert.equal(state, undefined, `a stopped sandbox is recorded in ${paths.root}: run \`npm run sandbox -- down\` first`);
        const up = cli("sandbox.ts", ["up", "--stack", STACK]);
        console.log(
            up.out
                .split("\n")
                .filter((l) => l.startsWith("[sandbox]"))
                .join("\n"),
        );
        assert.equal(up.status, 0, up.out.slice(-4000));
        startedHere = true;
    });

    after(function () {
        this.timeout(600_000);
        if (timings.length > 0) {
            console.log("    rehearsal wall times (time scale " + TIME_SCALE + "):");
            for (const t of timings)
                console.log(
                    `      ${t.scenario.padEnd(18)} ${t.outcome.padEnd(9)} ${t.seconds.toFixed(0).padStart(5)} s total, outcome ${t.toOutcome ?? "-"} s after the rollout's start${t.decidedBy.length ? `, decided by ${t.decidedBy.join(" and ")}` : ""}`,
                );
        }
        if (startedHere) {
            const down = cli("sandbox.ts", ["down"]);
            assert.equal(down.status, 0, down.out.slice(-4000));
        }
    });

    for (const file of fs
        .readdirSync(SCENARIOS)
        .filter((f) => f.endsWith(".yaml"))
        .sort()) {
        it(`${file}: ends as it expects`, function () {
            this.timeout(1_800_000);
            const r = cli("rehearse.ts", ["--stack", STACK, "--model", MODEL, "--scenario", path.join(SCENARIOS, file), "--time-scale", String(TIME_SCALE)]);
            console.log(
                r.out
                    .split("\n")
                    .filter((l) => /OUTCOME|final:|^\s*error:|restore|report:/.test(l))
                    .map((l) => `      ${l.trim()}`)
                    .join("\n"),
            );
            const reportFile = path.join(REPO_ROOT, "out", "rehearsal", STACK, MODEL, file.replace(/\.yaml$/, ".json"));
            const report = fs.existsSync(reportFile) ? JSON.parse(fs.readFileSync(reportFile, "utf8")) : undefined;
            timings.push({
                scenario: file.replace(/\.yaml$/, ""),
                seconds: r.seconds,
                outcome: report?.outcome ?? "?",
                toOutcome: report?.seconds?.toOutcome ?? null,
                decidedBy: report?.decidedBy ?? [],
            });
            assert.equal(r.status, 0, `rehearse exited ${r.status}:\n${r.out.slice(-6000)}`);
            assert.ok(report, `no report ${reportFile}`);
            assert.equal(report.match, true);
            // Issue #22: an abort is decided by the metric the scenario names, not by any other.
            if (report.expect?.decidedBy) assert.deepEqual(report.decidedBy, report.expect.decidedBy);
            if (report.outcome === "aborted") assert.ok(report.expect?.decidedBy, `${file} names the metric that decides its abort`);
            assert.ok(report.events.length > 0);
            if (report.outcome === "aborted") assert.equal(report.canaryWeightAtEnd, 0, "traffic back to stable");
            if (report.outcome === "promoted") assert.notEqual(report.stableRevisionAfter, report.stableRevisionBefore, "stable is the new revision");
            else assert.equal(report.stableRevisionAfter, report.stableRevisionBefore, "stable unchanged");
            // Issue #25: scenarios with real servers ran real traffic through both versions' servers.
            const scenario = loadScenario(path.join(SCENARIOS, file));
            if (scenario.servers) {
                const s = report.servers;
                assert.ok(s?.stats, "the fleet's stats are in the report");
                const v = s.stats.traffic.versions;
                assert.ok(v.stable.requests > 0 && v.canary.requests > 0, JSON.stringify(v));
                for (const k of ["stable", "canary"]) assert.equal(Object.keys(v[k].codes).filter((c) => c !== "200").length, 0, `${k}: only 200s`);
                assert.ok(s.stats.servers.length >= 3, "a server per pod, the canary's included");
                // A rebuild of the same spec is the same bytes; a different spec is not.
                const same = scenario.servers.stable.training === scenario.servers.canary.training;
                assert.equal(s.versions.stable.modelSha256 === s.versions.canary.modelSha256, same);
                if (!same) assert.ok(v.canary.accuracy < v.stable.accuracy - 0.03, `the worse version answers worse live: ${JSON.stringify(v)}`);
            }
        });
    }
});
