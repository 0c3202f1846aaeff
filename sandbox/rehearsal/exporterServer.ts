/**
 * The rehearsal's metrics exporter process: one port on 127.0.0.1, one path per pod of the model,
 * `GET /pods/<namespace>/<pod>/metrics` (what Prometheus' relabeled targets scrape), serving the ScriptedFleet.
 *
 *   POST /state  {"pods": [PodRef…], "clock": RolloutClock}   the rehearsal's view of the cluster (either key optional)
 *   GET  /state                                             pods, clock and scenario time (debugging)
 *   GET  /healthz                                           200
 *
 * Started by the rehearsal (`node -r ts-node/register/transpile-only exporterServer.ts --port P --config F`), where F
 * is a JSON file {scenario, timeScale, model, seed}.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import { parseArgs } from "node:util";
import { FleetOptions, PodRef, RolloutClock, ScriptedFleet } from "./exporter";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const POD_PATH = /^\/pods\/([^/]+)\/([^/]+)\/metrics$/;

export function exporterHandler(fleet: ScriptedFleet, now: () => number = Date.now): http.RequestListener {
    return (req, res) => {
        const url = new URL(req.url ?? "/", "http://exporter");
        const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
            res.writeHead(status, { "Content-Type": type });
            res.end(body);
        };
        const m = POD_PATH.exec(url.pathname);
        if (req.method === "GET" && m) {
            const r = fleet.scrape(decodeURIComponent(m[1]), decodeURIComponent(m[2]), now());
            send(r.status, r.body, r.status === 200 ? METRICS_CONTENT_TYPE : undefined);
            return;
        }
        if (req.method === "GET" && url.pathname === "/healthz") return send(200, "ok\n");
        if (req.method === "GET" && url.pathname === "/state") {
            const t = now();
            return send(200, JSON.stringify({ pods: fleet.podNames(), clock: fleet.getClock(), scenarioTime: fleet.scenarioTime(t) }), "application/json");
        }
        if (req.method === "POST" && url.pathname === "/state") {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                try {
                    const update = JSON.parse(body) as { pods?: PodRef[]; clock?: RolloutClock };
                    const t = now();
                    if (update.clock) fleet.setClock(update.clock, t);
                    if (update.pods) fleet.setPods(update.pods, t);
                    res.writeHead(204).end();
                } catch (e) {
                    send(400, `${(e as Error).message}\n`);
                }
            });
            return;
        }
        send(404, "not found\n");
    };
}

function main(): void {
    const { values } = parseArgs({ options: { port: { type: "string" }, config: { type: "string" } } });
    const opts = JSON.parse(fs.readFileSync(values.config!, "utf8")) as FleetOptions;
    const fleet = new ScriptedFleet(opts, Date.now());
    const server = http.createServer(exporterHandler(fleet));
    server.listen(Number(values.port), "127.0.0.1", () => console.log(`rehearsal exporter on http://127.0.0.1:${values.port}/pods/<namespace>/<pod>/metrics`));
    const stop = () => server.close(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

if (require.main === module) main();
