/**
 * How a rehearsal is interrupted (sandbox/rehearsal/signal.ts, sandbox/cmd/rehearse.ts): an AbortSignal instead of a
 * module-level flag; the first SIGINT/SIGTERM aborts it, a second one exits at once.
 */
import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { stopOnSignals } from "../../../sandbox/cmd/rehearse";
import { pause, stopCheck, throwIfStopped, waitUntil } from "../../../sandbox/rehearsal/signal";

describe("rehearsal interrupts", () => {
    it("the stop check names the signal first, then the sandbox going away", () => {
        const c = new AbortController();
        const sandbox: { gone?: string } = {};
        const stopped = stopCheck(c.signal, () => sandbox.gone);
        assert.equal(stopped(), undefined);
        throwIfStopped(stopped);
        sandbox.gone = "the sandbox was replaced";
        assert.equal(stopped(), "the sandbox was replaced");
        c.abort("SIGTERM");
        assert.equal(stopped(), "interrupted by SIGTERM");
        assert.throws(() => throwIfStopped(stopped), /^Error: interrupted by SIGTERM$/);
        assert.equal(stopCheck(undefined)(), undefined);
    });

    it("two checks of two rehearsals do not share state (no module flag)", () => {
        const a = new AbortController();
        const b = new AbortController();
        a.abort("SIGINT");
        assert.equal(stopCheck(a.signal)(), "interrupted by SIGINT");
        assert.equal(stopCheck(b.signal)(), undefined);
    });

    it("a wait ends with the interrupt's reason; a pause ends early on abort", async () => {
        const c = new AbortController();
        setTimeout(() => c.abort("SIGINT"), 20);
        await assert.rejects(
            waitUntil("an outcome", 30, async () => undefined, stopCheck(c.signal)),
            /^Error: interrupted by SIGINT$/,
        );
        const d = new AbortController();
        const t = Date.now();
        setTimeout(() => d.abort("SIGINT"), 20);
        await pause(10_000, d.signal);
        assert.ok(Date.now() - t < 2000);
        await pause(10_000, d.signal); // already aborted: at once
        assert.ok(Date.now() - t < 2000);
    });

    it("the first SIGINT or SIGTERM aborts the rehearsal's signal; a second one, of either kind, exits 130", () => {
        const proc = new EventEmitter();
        const c = new AbortController();
        const exits: number[] = [];
        const warnings: string[] = [];
        stopOnSignals(
            proc,
            c,
            (code) => exits.push(code),
            (l) => warnings.push(l),
        );
        proc.emit("SIGTERM");
        assert.equal(c.signal.aborted, true);
        assert.equal(c.signal.reason, "SIGTERM");
        assert.deepEqual(exits, []);
        assert.deepEqual(warnings, ["rehearse: SIGTERM: stopping and restoring the sandbox (again to exit at once)"]);
        proc.emit("SIGINT");
        assert.deepEqual(exits, [130]);
        assert.equal(c.signal.reason, "SIGTERM", "the first reason stays");
    });
});
