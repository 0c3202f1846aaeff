/**
 * `npm run rehearse -- --stack local --model <name> --scenario <file> [--time-scale N]`: a release rehearsal in the
 * running sandbox — the real Argo Rollouts controller decides a canary from the scenario's scripted metrics, scraped
 * and queried by a real Prometheus. Exit 0 when the outcome is the scenario's `expect` (or it has none), 1 on a
 * mismatch, 2 on an error. See docs/rehearsal.md. A thin command over sandbox/rehearsal/.
 */
import { command, runMain, UsageError } from "../../scripts/cli";
import { rehearse } from "../rehearsal/run";
import { ScenarioError } from "../rehearsal/scenario";

export const rehearseCommand = command({
    name: "rehearse",
    usage: ["--stack local --model <name> --scenario <file.yaml> [--time-scale N]"],
    description: `
A release rehearsal in the running sandbox: sets the model's new version with the real engine, replays the
scenario's scripted metrics through a real Prometheus and records what the real Argo Rollouts controller decides.
Exit: 0 outcome as expected (or no expect), 1 mismatch, 2 error. The first SIGINT/SIGTERM stops and restores the
sandbox; a second exits at once (130).`,
    options: {
        stack: { type: "string", value: "name", help: "the sandbox's stack (default local)" },
        model: { type: "string", value: "name", help: "a canary model of that stack (required)" },
        scenario: { type: "string", value: "file", help: "scenario file (tests/scenarios/*.yaml; format in docs/rehearsal.md) (required)" },
        "time-scale": { type: "string", value: "N", help: "divide pauses, analysis intervals, rate windows and scenario times by N (default 1)" },
    },
    errorExitCode: 2,
    userErrors: [ScenarioError],
});

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
    return runMain(
        rehearseCommand,
        async (values) => {
            if (!values.model || !values.scenario) throw new UsageError("--model and --scenario are required");
            const timeScale = Number(values["time-scale"] ?? "1");
            if (!Number.isFinite(timeScale) || timeScale <= 0) throw new UsageError(`--time-scale expects a number > 0, got ${values["time-scale"]}`);
            const interrupt = new AbortController();
            stopOnSignals(process, interrupt);
            const r = await rehearse({
                stack: values.stack ?? "local",
                model: values.model,
                scenarioFile: values.scenario,
                timeScale,
                signal: interrupt.signal,
            });
            return r.exitCode;
        },
        argv,
    );
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => process.exit(code));
}
