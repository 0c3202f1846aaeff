/**
 * Release-rehearsal scenarios (pure): the YAML file of issue #13, validated strictly before anything runs.
 *
 * ```yaml
 * description: p99 regression from the second step on
 * canary:
 *   - {at: 0s, successRate: 0.999, clientErrorRate: 0.01, p99LatencyMs: 120, accuracy: 0.93}
 *   - {at: 300s, p99LatencyMs: 950}        # from 300 s on; unspecified keys keep their value
 * stable:
 *   - {at: 0s, successRate: 0.999, p99LatencyMs: 110, accuracy: 0.94}
 * expect: {outcome: aborted, atStep: 5, decidedBy: latency-p99}   # promoted | aborted | paused; atStep and decidedBy optional
 * pauseSeconds: 900                          # optional: the canary's pauseSeconds for this rehearsal (scenario seconds)
 * ```
 *
 * `expect.run: step | background | prePromotion` optionally names the kind of AnalysisRun that must decide (Argo's
 * `rollout-type`; prePromotion: a blue-green model's analysis of its preview, docs/design/release-strategies.md).
 *
 * Or, with real model servers (issue #25), instead of the two timelines:
 *
 * ```yaml
 * servers:
 *   stable: {training: digits/1.1.0}
 *   canary: {training: digits/1.0.0}                          # a training spec in images/model-server/training/versions
 *   traffic: {requestsPerSecond: 6, feedback: 1}              # abShare: 0.3 for a model with canary.abTest
 * ```
 *
 * Each kwok pod is then backed by a real model server with its version's trained weights, and a load generator
 * sends the held-out set's rows and true labels (fleet/). `latencyPerInFlightSeconds` / `predictDelaySeconds` on a
 * version set the server's test knobs (MODEL_LATENCY_PER_INFLIGHT_SECONDS, MODEL_PREDICT_DELAY_SECONDS).
 *
 * Times are scenario seconds from the rollout's start (the creation of the canary ReplicaSet); `--time-scale N`
 * divides them by N, and multiplies the rates by N (the same requests happen in 1/N of the time, so every
 * count-based threshold sees what it would see at full length). Rates are per pod and per scenario second.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { z } from "zod";
import { METRIC_NAMES } from "../../components/rollouts/analysis";
import { isTrainingSpecId } from "../../domain/card/modelCard";
import { SERVER_BUCKETS } from "./metrics";

export const OUTCOMES = ["promoted", "aborted", "paused"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Everything a version reports at one moment. */
export interface VersionValues {
    /** Share of /predict requests that are not 5xx (what the success-rate gate counts as success), 0..1. */
    successRate: number;
    /** Share of /predict requests answered 4xx (part of the successful share above), 0..1. */
    clientErrorRate: number;
    /** The p99 of /predict latency that Prometheus' histogram_quantile(0.99, …) will return, in ms. */
    p99LatencyMs: number;
    /** Share of labelled feedback for this version's predictions that is correct, 0..1. */
    accuracy: number;
    /** The version's pods report nothing (their metrics endpoint answers 503); counters keep running underneath. */
    noData: boolean;
    /** /predict requests per second per pod. */
    requestRate: number;
    /** Labelled feedback events per second for each pod's predictions (scored on random pods of the model). */
    feedbackRate: number;
}

export interface Segment {
    /** Scenario seconds from the rollout's start. */
    at: number;
    values: VersionValues;
}

export type Version = "canary" | "stable";

/** One version's real servers: the weights' training spec and the server's latency knobs. */
export interface ServerVersion {
    /** `<model>/<version>` of a spec in images/model-server/training/versions. */
    training: string;
    /** MODEL_LATENCY_PER_INFLIGHT_SECONDS: added latency per request in flight (latency under load). */
    latencyPerInFlightSeconds: number;
    /** MODEL_PREDICT_DELAY_SECONDS: a fixed added latency per request. */
    predictDelaySeconds: number;
}

export interface Traffic {
    /** Inference requests per scenario second over the whole model (× the time scale in real time). */
    requestsPerSecond: number;
    /** Share of predicted instances whose true label is sent as feedback, 0..1. */
    feedback: number;
    /** Instances per request. */
    batch: number;
    /**
     * Share of the users in the A/B group, 0..1: their requests carry the model's `canary.abTest` header (or cookie).
     * Required by, and only for, a model with `canary.abTest`.
     */
    abShare?: number;
}

export interface Servers {
    stable: ServerVersion;
    canary: ServerVersion;
    traffic: Traffic;
}

export interface Scenario {
    name: string;
    description?: string;
    /** The model's `canary.pauseSeconds` for this rehearsal (scenario seconds); the stack file's otherwise. */
    pauseSeconds?: number;
    /** Scripted metrics: the two timelines (empty with `servers`). */
    canary: Segment[];
    stable: Segment[];
    /** Real model servers and real traffic instead of scripted metrics. */
    servers?: Servers;
    expect?: Expectation;
}

/** What a scenario expects: the outcome, and optionally where (step index) and by which analysis metric(s) it was decided. */
export interface Expectation {
    outcome: Outcome;
    atStep?: number;
    /** The metrics of the deciding AnalysisRun that failed (abort) or were inconclusive (pause), sorted. */
    decidedBy?: string[];
    /** Which kind of AnalysisRun decided: a step gate's or the background analysis (Argo's `rollout-type` label). */
    run?: RunKind;
}

/** A canary's step gate or background analysis, or a blue-green's pre-promotion analysis (Argo's `rollout-type`). */
export const RUN_KINDS = ["step", "background", "prePromotion"] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/** The analysis metrics the program's AnalysisTemplates define (components/rollouts/analysis.ts): what `decidedBy` may name. */
export const ANALYSIS_METRICS: readonly string[] = Object.values(METRIC_NAMES);

export const DEFAULTS = { clientErrorRate: 0, noData: false, requestRate: 10, feedbackRate: 5 } as const;
/** Keys every version must set (in its first entry, or before the first entry that reports data). */
export const REQUIRED = ["successRate", "p99LatencyMs", "accuracy"] as const;
/** histogram_quantile cannot return less than 99% of the first bucket's upper bound (see metrics.ts). */
export const MIN_P99_MS = SERVER_BUCKETS[0] * 1000 * 0.99;

const DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Seconds of `90`, `90s`, `1m30s`, `1500ms`; undefined when it is not a duration (a leading `-` included). */
export function parseDuration(v: number | string): number | undefined {
    if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
    const s = v.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    const neg = s.startsWith("-");
    const body = neg ? s.slice(1) : s;
    if (!DURATION.test(body)) return undefined;
    let total = 0;
    for (const m of body.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT[m[2]];
    return neg ? -total : total;
}

const rate = z.number({ error: "must be a number in [0, 1]" }).min(0, "must be in [0, 1]").max(1, "must be in [0, 1]");
const perSecond = z.number({ error: "must be a number ≥ 0" }).min(0, "must be ≥ 0");

const segmentSchema = z.strictObject({
    at: z.union([z.number(), z.string()], { error: "must be a duration such as 0s, 90s or 4m" }),
    successRate: rate.optional(),
    clientErrorRate: rate.optional(),
    p99LatencyMs: z
        .number({ error: "must be a number of milliseconds" })
        .min(MIN_P99_MS, `must be ≥ ${MIN_P99_MS} ms (99% of the first latency bucket, ${SERVER_BUCKETS[0] * 1000} ms)`)
        .optional(),
    accuracy: rate.optional(),
    noData: z.boolean({ error: "must be true or false" }).optional(),
    requestRate: perSecond.optional(),
    feedbackRate: perSecond.optional(),
});

type RawSegment = z.infer<typeof segmentSchema>;

const timelineSchema = z.array(segmentSchema, { error: "must be a list of {at, …} entries" }).min(1, "must have at least one entry (at: 0s)");

/**
 * Checks across the entries of one timeline: times (durations, not negative, first at 0, increasing), values
 * required once data is reported, 4xx within the non-5xx share. Run on the raw document, independently of the
 * schema, so that one error lists every problem at once.
 */
export function timelineProblems(raw: unknown, version: string): string[] {
    if (!Array.isArray(raw)) return [];
    const out: string[] = [];
    let prev = -Infinity;
    const known: Record<string, unknown> = { ...DEFAULTS };
    raw.forEach((s, i) => {
        if (s === null || typeof s !== "object" || Array.isArray(s)) return;
        const entry = s as Record<string, unknown>;
        const here = `${version}[${i}]`;
        if (entry.at === undefined) {
            // reported by the schema
        } else if (typeof entry.at !== "number" && typeof entry.at !== "string") {
            // reported by the schema
        } else {
            const at = parseDuration(entry.at);
            if (at === undefined) out.push(`${here}.at: "${entry.at}" is not a duration such as 0s, 90s or 4m`);
            else if (at < 0) out.push(`${here}.at: must not be negative`);
            else if (i === 0 && at !== 0) out.push(`${here}.at: the first entry must be at 0s (the rollout's start)`);
            else if (at <= prev) out.push(`${here}.at: must be later than the previous entry (entries are sorted by time)`);
            if (at !== undefined) prev = Math.max(prev, at);
        }
        for (const [k, v] of Object.entries(entry)) if (k !== "at" && v !== undefined) known[k] = v;
        if (known.noData !== true) {
            for (const k of REQUIRED) {
                if (known[k] === undefined) {
                    out.push(`${here}.${k}: is required (here or in an earlier entry) while the version reports data`);
                    known[k] = null; // report once per key
                }
            }
        }
        const c = known.clientErrorRate;
        const ok = known.successRate;
        if (typeof c === "number" && typeof ok === "number" && c >= 0 && c <= 1 && ok >= 0 && ok <= 1 && c > ok) {
            out.push(`${here}.clientErrorRate: ${c} exceeds successRate ${ok} (4xx answers are part of the non-5xx share)`);
        }
    });
    return out;
}

const metricNameError = `must name an analysis metric: ${ANALYSIS_METRICS.join(", ")} (or a list of them)`;
const metricName = z.enum(ANALYSIS_METRICS as [string, ...string[]], { error: metricNameError });

const serverVersionSchema = z.strictObject({
    training: z.string({ error: "must name a training spec <model>/<version>" }).refine(isTrainingSpecId, "must name a training spec <model>/<version>"),
    latencyPerInFlightSeconds: perSecond.optional(),
    predictDelaySeconds: perSecond.optional(),
});

export const TRAFFIC_DEFAULTS: Traffic = { requestsPerSecond: 6, feedback: 1, batch: 1 };

const serversSchema = z.strictObject({
    stable: serverVersionSchema,
    canary: serverVersionSchema,
    traffic: z
        .strictObject({
            requestsPerSecond: z.number({ error: "must be a number > 0" }).gt(0, "must be > 0").max(100, "must be ≤ 100 (per scenario second)").optional(),
            feedback: rate.optional(),
            batch: z.int({ error: "must be an integer 1..128" }).min(1, "must be an integer 1..128").max(128, "must be an integer 1..128").optional(),
            abShare: z.number({ error: "must be a number in (0, 1)" }).gt(0, "must be in (0, 1)").lt(1, "must be in (0, 1)").optional(),
        })
        .optional(),
});

export const scenarioSchema = z.strictObject({
    description: z.string().optional(),
    pauseSeconds: z.int({ error: "must be an integer number of seconds" }).min(0, "must be ≥ 0").max(86400, "must be ≤ 86400").optional(),
    canary: timelineSchema.optional(),
    stable: timelineSchema.optional(),
    servers: serversSchema.optional(),
    expect: z
        .strictObject({
            outcome: z.enum(OUTCOMES, { error: `must be one of ${OUTCOMES.join(", ")}` }),
            atStep: z.int({ error: "must be an integer step index" }).min(0, "must be ≥ 0").optional(),
            decidedBy: z.union([metricName, z.array(metricName).min(1, "must name at least one metric")], { error: metricNameError }).optional(),
            run: z.enum(RUN_KINDS, { error: `must be one of ${RUN_KINDS.join(", ")}` }).optional(),
        })
        .superRefine((e, ctx) => {
            if (e.outcome === "promoted" && e.decidedBy !== undefined)
                ctx.addIssue({ code: "custom", path: ["decidedBy"], message: "a promotion is decided by no single metric: only aborted or paused name one" });
            if (e.outcome === "promoted" && e.run !== undefined)
                ctx.addIssue({ code: "custom", path: ["run"], message: "a promotion is decided by no single run: only aborted or paused name one" });
        })
        .optional(),
});

/** Either both scripted timelines or `servers`, never both (the one check across the top-level keys). */
export function modeProblems(raw: Record<string, unknown>): string[] {
    const timelines = ["canary", "stable"].filter((k) => raw[k] !== undefined);
    if (raw.servers !== undefined)
        return timelines.map((k) => `${k}: not with servers (real servers report their own metrics; scripted timelines are the other mode)`);
    return ["canary", "stable"].filter((k) => raw[k] === undefined).map((k) => `${k}: is required (or give servers: for real model servers)`);
}

function definedOnly(s: RawSegment): Partial<VersionValues> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) if (k !== "at" && v !== undefined) out[k] = v;
    return out as Partial<VersionValues>;
}

export class ScenarioError extends Error {
    constructor(
        readonly file: string,
        readonly problems: string[],
    ) {
        super(`scenario ${file} is invalid:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    }
}

/** `canary[1].p99LatencyMs` from a zod issue path. */
export function keyPath(p: ReadonlyArray<PropertyKey>): string {
    return p.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), "") || "(top level)";
}

function issueLines(error: z.ZodError): string[] {
    return error.issues.flatMap((issue) => {
        if (issue.code === "unrecognized_keys") {
            return issue.keys.map((k) => `${keyPath([...issue.path, k])}: unknown key`);
        }
        if (issue.code === "invalid_type" && issue.input === undefined) {
            return [`${keyPath(issue.path)}: is required`];
        }
        return [`${keyPath(issue.path)}: ${issue.message}`];
    });
}

/** Sorted by key path (numeric indexes in order), duplicates dropped. */
function sortProblems(problems: string[]): string[] {
    const key = (p: string) => p.split(":")[0].replace(/\[(\d+)\]/g, (_, n) => `[${String(n).padStart(6, "0")}]`);
    return [...new Set(problems)].sort((a, b) => key(a).localeCompare(key(b)));
}

function resolve(raw: RawSegment[]): Segment[] {
    const acc: Record<string, unknown> = { ...DEFAULTS };
    return raw.map((s) => {
        Object.assign(acc, definedOnly(s));
        // A no-data entry before any value was set: the values are never reported, so NaN is harmless.
        const values = { ...acc } as unknown as VersionValues;
        for (const k of REQUIRED) if (values[k] === undefined) values[k] = NaN;
        return { at: parseDuration(s.at)!, values };
    });
}

/** Validates a parsed document; throws ScenarioError listing every problem by key path. */
export function parseScenario(doc: unknown, name: string, file = name): Scenario {
    const r = scenarioSchema.safeParse(doc ?? {});
    const raw = (doc !== null && typeof doc === "object" ? doc : {}) as Record<string, unknown>;
    const problems = [
        ...(r.success ? [] : issueLines(r.error)),
        ...modeProblems(raw),
        ...timelineProblems(raw.canary, "canary"),
        ...timelineProblems(raw.stable, "stable"),
    ];
    if (!r.success || problems.length > 0) throw new ScenarioError(file, sortProblems(problems));
    const e = r.data.expect;
    const expect: Expectation | undefined = e && {
        outcome: e.outcome,
        ...(e.atStep !== undefined ? { atStep: e.atStep } : {}),
        ...(e.decidedBy !== undefined ? { decidedBy: [...new Set([e.decidedBy].flat())].sort() } : {}),
        ...(e.run !== undefined ? { run: e.run } : {}),
    };
    const sv = r.data.servers;
    const version = (v: z.infer<typeof serverVersionSchema>): ServerVersion => ({
        training: v.training,
        latencyPerInFlightSeconds: v.latencyPerInFlightSeconds ?? 0,
        predictDelaySeconds: v.predictDelaySeconds ?? 0,
    });
    const servers: Servers | undefined = sv && {
        stable: version(sv.stable),
        canary: version(sv.canary),
        traffic: { ...TRAFFIC_DEFAULTS, ...Object.fromEntries(Object.entries(sv.traffic ?? {}).filter(([, v]) => v !== undefined)) },
    };
    return {
        name,
        description: r.data.description,
        ...(r.data.pauseSeconds !== undefined ? { pauseSeconds: r.data.pauseSeconds } : {}),
        canary: resolve(r.data.canary ?? []),
        stable: resolve(r.data.stable ?? []),
        ...(servers ? { servers } : {}),
        expect,
    };
}

/** Reads and validates a scenario file; its name is the file name without extension. */
export function loadScenario(file: string): Scenario {
    const text = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
        throw new ScenarioError(
            file,
            doc.errors.map((e) => `YAML: ${e.message.split("\n")[0]}`),
        );
    }
    return parseScenario(doc.toJS(), path.basename(file).replace(/\.ya?ml$/, ""), file);
}

/** The values in force at scenario time `t` (before 0: the first entry's). */
export function valuesAt(timeline: Segment[], t: number): VersionValues {
    let v = timeline[0].values;
    for (const s of timeline) {
        if (s.at <= t) v = s.values;
        else break;
    }
    return v;
}

/** Scenario times in (from, to) where either timeline changes, sorted. */
export function breakpoints(s: Pick<Scenario, "canary" | "stable">, from: number, to: number): number[] {
    const ts = new Set<number>();
    for (const seg of [...s.canary, ...s.stable]) if (seg.at > from && seg.at < to) ts.add(seg.at);
    return [...ts].sort((a, b) => a - b);
}
