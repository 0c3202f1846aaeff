/**
 * Release rehearsals compress time (`rollouts.timeScale`, sandbox only): canary pauses, analysis intervals and the
 * PromQL windows (request rates, feedback) and the background analysis' start delay are divided by the same factor. Steps, weights, thresholds, count and
 * limits never change.
 */
import type { CanaryConfig } from "../../config/schema";
import { durationSeconds, MeasurementPolicy } from "./analysis";
import { backgroundSettings } from "./canary";

/** Seconds divided by the factor, at least `min`. */
export function scaleSeconds(seconds: number, factor: number, min = 1): number {
    if (!Number.isFinite(factor) || factor < 1) throw new Error(`time scale ${factor} must be ≥ 1`);
    return Math.max(min, Math.round(seconds / factor));
}

export function scaleMeasurement(p: MeasurementPolicy, factor: number): MeasurementPolicy {
    if (factor === 1) return p;
    const interval = scaleSeconds(durationSeconds(p.interval), factor);
    // A window must still cover at least two scrapes at the compressed scrape interval.
    const window = (w: string) => `${Math.max(scaleSeconds(durationSeconds(w), factor), 2 * interval)}s`;
    return { ...p, interval: `${interval}s`, rateWindow: window(p.rateWindow), feedbackWindow: window(p.feedbackWindow) };
}

export function scaleCanary(c: CanaryConfig, factor: number): CanaryConfig {
    if (factor === 1) return c;
    const delay = backgroundSettings(c).startDelaySeconds;
    return {
        ...c,
        pauseSeconds: c.pauseSeconds === 0 ? 0 : scaleSeconds(c.pauseSeconds, factor),
        // The background analysis' start delay is a pause like the steps' (its default included).
        backgroundAnalysis: { ...c.backgroundAnalysis, startDelaySeconds: delay === 0 ? 0 : scaleSeconds(delay, factor) },
    };
}
