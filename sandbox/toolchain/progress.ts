/**
 * Progress of a tool build, as a person follows it: which tool, what step, how long it has run, how long it is
 * expected to take (the manifest's measured cold build), and the whole build's progress and time left. Pure: the
 * builder feeds it the clock, and the reporter decides how often to print (one line per step and a heartbeat in CI,
 * a line rewritten in place on a terminal).
 */

export interface PlannedBuild {
    readonly name: string;
    readonly version: string;
    /** Expected wall seconds of a cold build (manifest `coldSeconds`). */
    readonly expectedSeconds: number;
}

export interface ProgressState {
    /** The builds to do, in order (cached tools are not in it). */
    readonly plan: readonly PlannedBuild[];
    /** Index into `plan` of the tool building now. */
    readonly current: number;
    /** What it is doing ("go build kube-apiserver"). */
    readonly step: string;
    /** Seconds since this tool's build started. */
    readonly toolElapsed: number;
    /** Seconds since the whole build started. */
    readonly totalElapsed: number;
}

/** `m:ss`, or `h:mm:ss` past an hour. */
export function clock(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * Fraction of the expected work done (0–1) and seconds expected to remain. A tool running past its expected time
 * counts as almost done (never 100 % before it is), and the time left then grows with it instead of going negative.
 */
export function estimate(state: ProgressState): { fraction: number; remaining: number } {
    const expected = state.plan.map((b) => Math.max(1, b.expectedSeconds));
    const total = expected.reduce((a, b) => a + b, 0);
    const before = expected.slice(0, state.current).reduce((a, b) => a + b, 0);
    const mine = expected[state.current] ?? 0;
    const doneOfMine = Math.min(state.toolElapsed, mine * 0.99);
    const after = expected.slice(state.current + 1).reduce((a, b) => a + b, 0);
    const leftOfMine = state.toolElapsed < mine ? mine - state.toolElapsed : Math.max(5, mine * 0.1);
    return { fraction: total === 0 ? 1 : (before + doneOfMine) / total, remaining: leftOfMine + after };
}

/** `3/12 kubernetes v1.35.4: go build kube-apiserver · 2:10 of ~5:36 · all 41% · ~19 min left (4:02 so far)` */
export function progressLine(state: ProgressState): string {
    const b = state.plan[state.current];
    const { fraction, remaining } = estimate(state);
    const left = remaining >= 90 ? `~${Math.round(remaining / 60)} min left` : `~${Math.max(1, Math.round(remaining))} s left`;
    return (
        `${state.current + 1}/${state.plan.length} ${b.name} ${b.version}: ${state.step} · ${clock(state.toolElapsed)} of ~${clock(b.expectedSeconds)}` +
        ` · all ${Math.floor(fraction * 100)}% · ${left} (${clock(state.totalElapsed)} so far)`
    );
}

export interface ReporterOptions {
    /** Rewrite one line in place (a terminal) instead of printing a line per step. */
    readonly tty: boolean;
    /** Without a terminal: print a line at least this often while a step runs (default 60 s). */
    readonly heartbeatSeconds?: number;
    readonly write: (text: string) => void;
    readonly now?: () => number;
}

/** Prints a build's progress: `step`, `cached` and `done` as the builder reports them, `tick` once a second. */
export class ProgressReporter {
    private readonly now: () => number;
    private readonly started: number;
    private current = -1;
    private toolStarted: number;
    private step = "";
    private lastPrinted: number;

    constructor(
        private readonly plan: readonly PlannedBuild[],
        private readonly opts: ReporterOptions,
    ) {
        this.now = opts.now ?? Date.now;
        this.started = this.toolStarted = this.lastPrinted = this.now();
    }

    private line(): string {
        const now = this.now();
        return progressLine({
            plan: this.plan,
            current: this.current,
            step: this.step,
            toolElapsed: (now - this.toolStarted) / 1000,
            totalElapsed: (now - this.started) / 1000,
        });
    }

    private print(text: string, final: boolean): void {
        this.lastPrinted = this.now();
        this.opts.write(this.opts.tty ? `\r\x1b[2K[tools] ${text}${final ? "\n" : ""}` : `[tools] ${text}\n`);
    }

    cached(name: string, version: string, where: string): void {
        this.opts.write(`${this.opts.tty ? "\r\x1b[2K" : ""}[tools] ${name} ${version}: cached in ${where}\n`);
    }

    stepStarted(name: string, what: string): void {
        const index = this.plan.findIndex((b) => b.name === name);
        if (index !== this.current) {
            this.current = index;
            this.toolStarted = this.now();
        }
        this.step = what;
        this.print(this.line(), false);
    }

    done(name: string, seconds: number): void {
        const index = this.plan.findIndex((b) => b.name === name);
        const b = this.plan[index];
        this.print(`${index + 1}/${this.plan.length} ${b.name} ${b.version}: built in ${seconds} s (expected ~${b.expectedSeconds} s)`, true);
    }

    /** Once a second: a terminal's line moves on; elsewhere a heartbeat when nothing was printed for a while. */
    tick(): void {
        if (this.current < 0) return;
        if (this.opts.tty || this.now() - this.lastPrinted >= (this.opts.heartbeatSeconds ?? 60) * 1000) this.print(this.line(), false);
    }
}
