/**
 * The rehearsal's report (pure, but for writing it): `out/rehearsal/<stack>/<model>/<scenario>.json`, whether the
 * outcome is what the scenario expects, and the lines the command prints about both.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../stack";
import type { RecordedOutcome, TimelineEvent } from "./observe";
import type { Expectation, Outcome } from "./scenario";

export const OUT_DIR = path.join(REPO_ROOT, "out", "rehearsal");

export interface RehearsalReport {
    stack: string;
    model: string;
    scenario: string;
    scenarioFile: string;
    description?: string;
    timeScale: number;
    startedAt: string;
    expect?: Expectation;
    outcome: Outcome | "error";
    match: boolean;
    stepAtEnd: number | null;
    /** The analysis metrics that decided the outcome (RecordedOutcome.decidedBy); empty when none did. */
    decidedBy: string[];
    /** The AnalysisRun they come from and its kind (step gate or background analysis); absent when no run decided. */
    decidingRun?: RecordedOutcome["decidingRun"];
    maxCanaryWeight: number;
    canaryWeightAtEnd: number;
    stableRevisionBefore: string;
    stableRevisionAfter: string;
    /** The stable hash after the restore (differs from stableRevisionBefore only when the program changed meanwhile). */
    stableRevisionRestored?: string;
    versions: { stable: string; canary: string; canaryDigest: string };
    /** Seconds from the rollout's start to the outcome, and of the whole command. */
    seconds: { toOutcome: number | null; total: number; pulumiUp: number; restore: number };
    rendered: { steps: string[]; templates: Record<string, unknown>[]; scrape: Record<string, unknown> };
    seriesLabels: Record<string, string>;
    /** Real-server scenarios: each version's trained weights, the servers started, and what the load generator saw. */
    servers?: ServersReport;
    error?: string;
    events: TimelineEvent[];
}

export interface ServersReport {
    versions: Record<"stable" | "canary", { training: string; modelSha256: string; heldOutAccuracy?: number; env: Record<string, string> }>;
    /** The fleet's /stats at the end: traffic per version, feedback, every server started (and how it ended). */
    stats?: Record<string, unknown>;
}

export interface RehearsalResult {
    exitCode: 0 | 1 | 2;
    report?: RehearsalReport;
    reportFile?: string;
    error?: string;
}

/** The report before anything ran: outcome `error` until an outcome is recorded. `events` is the recorder's (live) list. */
export function newReport(
    o: Pick<RehearsalReport, "stack" | "model" | "scenario" | "scenarioFile" | "description" | "timeScale" | "versions"> & {
        startedMs: number;
        expect?: Expectation;
        stableHash: string;
        events: TimelineEvent[];
    },
): RehearsalReport {
    return {
        stack: o.stack,
        model: o.model,
        scenario: o.scenario,
        scenarioFile: o.scenarioFile,
        description: o.description,
        timeScale: o.timeScale,
        startedAt: new Date(o.startedMs).toISOString(),
        expect: o.expect,
        outcome: "error",
        match: false,
        stepAtEnd: null,
        decidedBy: [],
        maxCanaryWeight: 0,
        canaryWeightAtEnd: 0,
        stableRevisionBefore: o.stableHash,
        stableRevisionAfter: o.stableHash,
        versions: o.versions,
        seconds: { toOutcome: null, total: 0, pulumiUp: 0, restore: 0 },
        rendered: { steps: [], templates: [], scrape: {} },
        seriesLabels: {},
        events: o.events,
    };
}

/**
 * Whether an outcome is the expected one: the same outcome, at the expected step (if given), decided by exactly the
 * expected metrics (if given). A latency scenario that aborts because another metric failed does not match.
 */
export function matchExpectation(exp: Expectation | undefined, got: Pick<RecordedOutcome, "outcome" | "step" | "decidedBy" | "decidingRun">): boolean {
    if (!exp) return true;
    if (exp.run !== undefined && exp.run !== got.decidingRun?.kind) return false;
    if (exp.outcome !== got.outcome) return false;
    if (exp.atStep !== undefined && exp.atStep !== got.step) return false;
    if (exp.decidedBy !== undefined && [...exp.decidedBy].sort().join(",") !== [...got.decidedBy].sort().join(",")) return false;
    return true;
}

/** `aborted at step 5, decided by latency-p99` */
export function expectationText(exp: Expectation): string {
    return `${exp.outcome}${exp.atStep !== undefined ? ` at step ${exp.atStep}` : ""}${exp.decidedBy ? `, decided by ${exp.decidedBy.join(" and ")}` : ""}${exp.run ? ` (${exp.run} run)` : ""}`;
}

/** The `final:` line: outcome, step, deciding metrics, weights, stable hash, and the expectation with MATCH or MISMATCH. */
export function finalLine(r: RehearsalReport, out: RecordedOutcome): string {
    const exp = r.expect;
    return (
        `  final: ${out.outcome} at step ${out.step ?? "-"}${out.decidedBy.length ? ` decided by ${out.decidedBy.join(" and ")}` : ""}${out.decidingRun ? ` (${out.decidingRun.kind} run ${out.decidingRun.name})` : ""}; canary weight max ${r.maxCanaryWeight}%, at end ${r.canaryWeightAtEnd}%; stable ${r.stableRevisionBefore} → ${out.stableRevisionAfter}` +
        (exp ? `; expected ${expectationText(exp)}: ${r.match ? "MATCH" : "MISMATCH"}` : "")
    );
}

/** Records the outcome in the report and returns whether it matches the expectation. */
export function recordOutcome(
    r: RehearsalReport,
    out: RecordedOutcome,
    w: { maxCanaryWeight: number; canaryWeightAtEnd: number; toOutcome: number | null },
): boolean {
    r.outcome = out.outcome;
    r.stepAtEnd = out.step;
    r.decidedBy = out.decidedBy;
    if (out.decidingRun) r.decidingRun = out.decidingRun;
    r.maxCanaryWeight = w.maxCanaryWeight;
    r.canaryWeightAtEnd = w.canaryWeightAtEnd;
    r.stableRevisionAfter = out.stableRevisionAfter;
    r.seconds.toOutcome = w.toOutcome;
    r.match = matchExpectation(r.expect, out);
    return r.match;
}

export function writeReport(file: string, r: RehearsalReport): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
}
