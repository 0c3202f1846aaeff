/**
 * Starts the real-server fleet of a `servers:` scenario: trains each version's weights (prepare.ts), writes the
 * fleet's configuration and starts fleetServer.ts on the port the scripted exporter would use, so Prometheus'
 * relabelled targets (`/pods/<ns>/<pod>/metrics`) reach the real servers unchanged.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { httpStatus, ProcessRecord, startProcess } from "../../cluster/processes";
import { REPO_ROOT } from "../../stack";
import type { ServersReport } from "../report";
import type { Servers, ServerVersion } from "../scenario";
import type { ServerSpec } from "./backends";
import type { FleetConfig } from "./fleetServer";
import { modelServerPython, SERVER_DIR, train } from "./prepare";
import type { RoutingMode } from "./routing";
import { markLabel, TrafficOptions, userMarks, USERS } from "./traffic";

/** The most requests the generator keeps in flight (beyond, a due request is counted as saturated). */
export const MAX_IN_FLIGHT = 64;

/** The server's environment knobs of a scenario version (pure). */
export function versionEnv(v: ServerVersion): Record<string, string> {
    const env: Record<string, string> = {};
    if (v.latencyPerInFlightSeconds > 0) env.MODEL_LATENCY_PER_INFLIGHT_SECONDS = String(v.latencyPerInFlightSeconds);
    if (v.predictDelaySeconds > 0) env.MODEL_PREDICT_DELAY_SECONDS = String(v.predictDelaySeconds);
    return env;
}

/** Held-out accuracy from a training evaluation (`metrics.accuracy`), when it has one. */
export function heldOutAccuracy(evaluation: Record<string, unknown>): number | undefined {
    const a = (evaluation.metrics as Record<string, unknown> | undefined)?.accuracy;
    return typeof a === "number" ? a : undefined;
}

export interface FleetStart {
    servers: Servers;
    model: string;
    namespace: string;
    kubeconfig: string;
    routing: RoutingMode;
    /** The model's `canary.abTest`: the A/B group's requests carry it (`servers.traffic.abShare` of the users). */
    abTest?: { header?: { name: string; value: string }; cookie?: string };
    stableHash: string;
    versions: { stable: string; canary: string };
    timeScale: number;
    port: number;
    workDir: string;
    logDir: string;
    log: (l: string) => void;
    running: (p: ProcessRecord) => void;
}

export async function startFleet(o: FleetStart): Promise<{ record: ProcessRecord; url: string; report: ServersReport }> {
    const python = modelServerPython(o.log);
    const trained = {
        stable: train(python, o.servers.stable.training, path.join(o.workDir, "weights", "stable")),
        canary: train(python, o.servers.canary.training, path.join(o.workDir, "weights", "canary")),
    };
    const report: ServersReport = { versions: {} as ServersReport["versions"] };
    const specs = {} as Record<"stable" | "canary", ServerSpec>;
    for (const v of ["stable", "canary"] as const) {
        const t = trained[v];
        const env = versionEnv(o.servers[v]);
        specs[v] = { version: o.versions[v], modelPath: t.modelPath, env };
        report.versions[v] = { training: t.id, modelSha256: t.sha256, heldOutAccuracy: heldOutAccuracy(t.evaluation), env };
        o.log(
            `  ${v}: ${o.versions[v]} serves ${t.id} (model.onnx sha256 ${t.sha256.slice(0, 12)}…, held-out accuracy ${report.versions[v].heldOutAccuracy ?? "?"})${Object.keys(env).length ? ` with ${JSON.stringify(env)}` : ""}`,
        );
    }
    const t = o.servers.traffic;
    const config: FleetConfig = {
        backends: {
            python,
            serverDir: SERVER_DIR,
            model: o.model,
            stableHash: o.stableHash,
            stable: specs.stable,
            canary: specs.canary,
            predictionIdKey: randomBytes(48).toString("base64url"),
            workDir: o.workDir,
        },
        traffic: {
            model: o.model,
            requestsPerSecond: t.requestsPerSecond * o.timeScale,
            feedbackShare: t.feedback,
            batch: t.batch,
            maxInFlight: MAX_IN_FLIGHT,
            ...(o.abTest && t.abShare !== undefined ? { abTest: { ...o.abTest, share: t.abShare } } : {}),
        },
        namespace: o.namespace,
        kubeconfig: o.kubeconfig,
        routing: o.routing,
        holdoutFile: trained.stable.holdoutFile,
    };
    const file = path.join(o.workDir, "fleet.json");
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    const url = `http://127.0.0.1:${o.port}`;
    const record = await startProcess(
        {
            name: "rehearsal-fleet",
            command: process.execPath,
            args: ["-r", "ts-node/register/transpile-only", path.join(__dirname, "fleetServer.ts"), `--port=${o.port}`, `--config=${file}`],
            cwd: REPO_ROOT,
            ready: async () => (await httpStatus(`${url}/healthz`)) === 200,
            timeoutSeconds: 60,
        },
        o.logDir,
        o.running,
    );
    o.log(
        `  fleet on ${url}: a real model server per pod (${path.relative(REPO_ROOT, python)}), ${config.traffic.requestsPerSecond} requests/s (${t.requestsPerSecond} × time scale ${o.timeScale}), batch ${t.batch}, feedback on ${t.feedback * 100}% of predictions with the true labels, routed by ${ROUTED_BY[o.routing]}${abGroupLine(config.traffic)}`,
    );
    return { record, url, report };
}

const ROUTED_BY: Record<RoutingMode, string> = {
    none: "round-robin over the Service's ready endpoints",
    nginx: "the canary Ingress's weight",
    istio: "the VirtualService's routes (weights, header and mirror routes)",
};

/** The log's words for the A/B group (pure): empty without one. */
export function abGroupLine(t: Pick<TrafficOptions, "abTest">): string {
    const ab = t.abTest;
    if (!ab) return "";
    const users = Math.round(ab.share * USERS);
    return `; an A/B group of ${users} of ${USERS} users whose every request carries ${markLabel(userMarks(ab, 0))} (the router's header or cookie rule pins them to the canary: the canary Ingress's with nginx, Argo's header route with Istio)`;
}

/** The fleet's /stats (undefined when it does not answer). */
export async function fleetStats(url: string): Promise<Record<string, unknown> | undefined> {
    try {
        const r = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(5000) });
        return (await r.json()) as Record<string, unknown>;
    } catch {
        return undefined;
    }
}
