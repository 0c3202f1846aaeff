/** promtool for the rehearsal tests that use Prometheus' own engine and parser; a named skip when it is not built. */
import type { Context } from "mocha";
import { maybePrometheusBinary } from "../../../sandbox/rehearsal/prometheus";

let reported = false;

/** The promtool binary, or skips the test (once saying why) when neither the tool cache nor PROMETHEUS_BIN has it. */
export function needsPromtool(ctx: Context): string {
    const p = maybePrometheusBinary("promtool");
    if (!p) {
        if (!reported) {
            reported = true;
            console.log("      SKIPPED: promtool not built (`npm run tools -- build prometheus`, or PROMETHEUS_BIN=<prometheus binary>)");
        }
        ctx.skip();
    }
    return p!;
}
