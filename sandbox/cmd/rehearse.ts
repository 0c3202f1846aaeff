/**
 * `npm run rehearse -- --stack local --model <name> --scenario <file> [--time-scale N]`: a release rehearsal
 * (issue #13) in the running sandbox — the real Argo Rollouts controller decides a canary from the scenario's
 * scripted metrics, scraped and queried by a real Prometheus. Exit 0 when the outcome is the scenario's `expect`
 * (or it has none), 1 on a mismatch, 2 on an error. See docs/rehearsal.md.
 */
import { parseArgs } from "node:util";
import { rehearse } from "../rehearsal/run";
import { ScenarioError } from "../rehearsal/scenario";

const USAGE = `usage: npm run rehearse -- --stack local --model <name> --scenario <file.yaml> [--time-scale N]
  --stack       the sandbox's stack (default local)
  --model       a canary model of that stack
  --scenario    scenario file (tests/scenarios/*.yaml; format in docs/rehearsal.md)
  --time-scale  divide pauses, analysis intervals, rate windows and scenario times by N (default 1)
exit: 0 outcome as expected (or no expect), 1 mismatch, 2 error`;

/**
 * The first SIGINT or SIGTERM aborts `controller` (its reason the signal's name): the rehearsal stops waiting and
 * restores the sandbox. A second one, of either kind, exits at once (130).
 */
export function stopOnSignals(
    proc: Pick<NodeJS.EventEmitter, "on">,
    controller: AbortController,
    exit: (code: number) => void = (code) => process.exit(code),
    warn: (line: string) => void = (line) => console.error(line),
): void {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
        proc.on(sig, () => {
            if (controller.signal.aborted) return exit(130);
            warn(`rehearse: ${sig}: stopping and restoring the sandbox (again to exit at once)`);
            controller.abort(sig);
        });
    }
}

export async function main(argv: string[]): Promise<number> {
    let values: { stack?: string; model?: string; scenario?: string; "time-scale"?: string; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                stack: { type: "string", default: "local" },
                model: { type: "string" },
                scenario: { type: "string" },
                "time-scale": { type: "string", default: "1" },
                help: { type: "boolean", short: "h" },
            },
        }));
    } catch (e) {
        console.error(`rehearse: ${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    if (!values.model || !values.scenario) {
        console.error(`rehearse: --model and --scenario are required\n${USAGE}`);
        return 2;
    }
    const timeScale = Number(values["time-scale"]);
    const interrupt = new AbortController();
    stopOnSignals(process, interrupt);
    try {
        const r = await rehearse({ stack: values.stack!, model: values.model, scenarioFile: values.scenario, timeScale, signal: interrupt.signal });
        return r.exitCode;
    } catch (e) {
        console.error(e instanceof ScenarioError ? e.message : `rehearse: ${(e as Error).message}`);
        return 2;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e) => {
            console.error(`rehearse: ${(e as Error).stack ?? e}`);
            process.exit(2);
        },
    );
}
