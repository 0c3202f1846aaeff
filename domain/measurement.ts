/**
 * The canary analysis measurement policy and its defaults: a domain fact the config schema (describing the
 * feedback window) and the rollouts components (rendering the AnalysisTemplates) share.
 */

/** How often and how long each gate measures, and how many bad measurements it tolerates. */
export interface MeasurementPolicy {
    /** Time between measurements (Argo duration). */
    interval: string;
    /** Measurements per gate. A gate takes at least (count − 1) × interval. */
    count: number;
    /** Failed measurements tolerated; one more fails the gate (→ abort). */
    failureLimit: number;
    /** Inconclusive (no data) measurements tolerated; one more makes the gate Inconclusive (→ rollout pauses). */
    inconclusiveLimit: number;
    /** Consecutive query errors (Prometheus unreachable) tolerated; one more errors the gate (→ abort). */
    consecutiveErrorLimit: number;
    /** PromQL range of the request rates (success, client errors, latency); must cover ≥ 2 scrapes. */
    rateWindow: string;
    /**
     * PromQL range of the feedback counters (quality gate): labelled feedback is sparse and often late, so it is
     * longer than rateWindow. Both versions need ≥ `minFeedbackSamples` labelled samples within it.
     */
    feedbackWindow: string;
}

/**
 * Defaults: 5 measurements a minute apart. A gate passes with at most one failed and at most one no-data minute
 * (so ≥ 3 good minutes out of 5); a single bad minute (a cold-start latency spike) does not abort, two do.
 */
export const DEFAULT_MEASUREMENT: MeasurementPolicy = {
    interval: "60s",
    count: 5,
    failureLimit: 1,
    inconclusiveLimit: 1,
    consecutiveErrorLimit: 2,
    rateWindow: "2m",
    feedbackWindow: "10m",
};

/**
 * Default seconds from the background analysis' start (the canary's first pause) to its first measurement: one
 * request rate window (`DEFAULT_MEASUREMENT.rateWindow`), so its first measurement already covers a full window of
 * the canary's traffic rather than its first seconds (a fresh pod's warm-up).
 */
export const DEFAULT_BACKGROUND_START_DELAY_SECONDS = 120;
