/**
 * How a rehearsal is told to stop: an `AbortSignal` (aborted by sandbox/cmd/rehearse.ts on SIGINT or SIGTERM, its reason
 * the signal's name) and the sandbox going away. Every wait of the rehearsal checks both, once a second; none of
 * them is module state.
 */
import { waitFor } from "../cluster/controlPlane";

/** A check that names why the rehearsal must stop (interrupted, or `replaced()` says the sandbox went away), else undefined. */
export type StopCheck = () => string | undefined;

export function stopCheck(signal: AbortSignal | undefined, replaced: StopCheck = () => undefined): StopCheck {
    return () => (signal?.aborted ? `interrupted by ${String(signal.reason)}` : replaced());
}

/** Throws the stop reason, if there is one. */
export function throwIfStopped(stopped: StopCheck): void {
    const why = stopped();
    if (why) throw new Error(why);
}

/** The sandbox's poll loop, once a second, ended early by `stopped`. */
export function waitUntil<T>(what: string, seconds: number, probe: () => Promise<T | undefined>, stopped: StopCheck = () => undefined): Promise<T> {
    return waitFor(what, seconds, probe, { intervalMs: 1000, fatal: stopped });
}

/** Sleeps `ms`, or less when `signal` aborts first (it resolves then, it does not throw). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
    });
}
