/**
 * The rehearsal's real-server fleet process (scenarios with `servers:`): the "pod network" of the kwok pods.
 *
 *   POST /state  {"pods": [PodRef…]}           the running pods (from the rehearsal's poller): one real model server each
 *   GET  /pods/<namespace>/<pod>/metrics       that pod's server's /metrics (what Prometheus' relabelled targets
 *                                              scrape, exactly as with the scripted exporter); 503 while it starts
 *   GET  /stats                                the load generator's counts and every server started (the report's)
 *   GET  /healthz                              200
 *
 * It also runs the load generator (traffic.ts) against those servers, routed from the API server's EndpointSlices
 * and, with nginx, the canary Ingress Argo writes, with Istio the VirtualService (routing.ts), refreshed every second.
 *
 * Started by the rehearsal (`node -r ts-node/register/transpile-only fleetServer.ts --port P --config F`) in its own
 * process group; the servers are its children, so stopping the group stops them all.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import { parseArgs } from "node:util";
import { Kube } from "../../cluster/kube";
import type { PodRef } from "../exporter";
import { BackendOptions, PodBackends } from "./backends";
import { readyEndpoints, canaryRules, canaryShare, IstioHttpRoute, RoutingMode, RoutingView } from "./routing";
import { Holdout, LoadGenerator, TrafficOptions } from "./traffic";

export interface FleetConfig {
    backends: BackendOptions;
    traffic: TrafficOptions;
    namespace: string;
    kubeconfig: string;
    routing: RoutingMode;
    /** JSON file of the held-out split: {features, labels}. */
    holdoutFile: string;
}

const POD_PATH = /^\/pods\/([^/]+)\/([^/]+)\/metrics$/;

/** Reads the routing view from the API server: the model's Services' EndpointSlices, and the canary Ingress (nginx). */
export async function readRoutingView(kube: Kube, c: Pick<FleetConfig, "namespace" | "routing"> & { model: string }): Promise<RoutingView> {
    const slices = await kube.list("discovery.k8s.io/v1", "EndpointSlice", c.namespace);
    const view: RoutingView = { mode: c.routing, stable: readyEndpoints(slices, c.model), canary: [], canaryShare: 0 };
    if (c.routing === "nginx") {
        view.canary = readyEndpoints(slices, `${c.model}-canary`);
        // Argo's name for the canary Ingress: <rollout>-<stable ingress>-canary (rollout/trafficrouting/nginx/nginx.go).
        const ingress = await kube.read("networking.k8s.io/v1", "Ingress", `${c.model}-${c.model}-canary`, c.namespace);
        view.canaryShare = canaryShare(ingress);
        view.rules = canaryRules(ingress);
    } else if (c.routing === "istio") {
        view.canary = readyEndpoints(slices, `${c.model}-canary`);
        view.canaryService = `${c.model}-canary`;
        // The program's VirtualService, named after the model, whose routes Argo writes (rollout/trafficrouting/istio).
        const vs = await kube.read("networking.istio.io/v1beta1", "VirtualService", c.model, c.namespace);
        view.http = (vs?.spec?.http ?? []) as IstioHttpRoute[];
    }
    return view;
}

export function fleetHandler(backends: PodBackends, stats: () => unknown): http.RequestListener {
    return (req, res) => {
        const url = new URL(req.url ?? "/", "http://fleet");
        const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
            res.writeHead(status, { "Content-Type": type });
            res.end(body);
        };
        const m = POD_PATH.exec(url.pathname);
        if (req.method === "GET" && m) {
            const b = backends.ready(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
            if (!b) return send(503, "no ready model server for this pod\n");
            fetch(`http://127.0.0.1:${b.port}/metrics`, { signal: AbortSignal.timeout(5000) })
                .then(async (r) => send(r.status, await r.text(), r.headers.get("content-type") ?? undefined))
                .catch((e: Error) => send(503, `${e.message}\n`));
            return;
        }
        if (req.method === "GET" && url.pathname === "/healthz") return send(200, "ok\n");
        if (req.method === "GET" && url.pathname === "/stats") return send(200, JSON.stringify(stats()), "application/json");
        if (req.method === "POST" && url.pathname === "/state") {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                let pods: PodRef[] | undefined;
                try {
                    pods = (JSON.parse(body) as { pods?: PodRef[] }).pods;
                } catch (e) {
                    return send(400, `${(e as Error).message}\n`);
                }
                (pods ? backends.reconcile(pods) : Promise.resolve()).then(
                    () => res.writeHead(204).end(),
                    (e: Error) => send(500, `${e.message}\n`),
                );
            });
            return;
        }
        send(404, "not found\n");
    };
}

/** The input tensor's name, from the first ready server's v2 model metadata (the model declares it). */
async function inputName(backends: PodBackends, model: string): Promise<string | undefined> {
    for (const b of backends.backends.values()) {
        if (b.state !== "ready") continue;
        try {
            const r = await fetch(`http://127.0.0.1:${b.port}/v2/models/${model}`, { signal: AbortSignal.timeout(2000) });
            const meta = (await r.json()) as { inputs?: Array<{ name: string }> };
            if (meta.inputs?.[0]?.name) return meta.inputs[0].name;
        } catch {
            /* next */
        }
    }
    return undefined;
}

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { port: { type: "string" }, config: { type: "string" } } });
    const c = JSON.parse(fs.readFileSync(values.config!, "utf8")) as FleetConfig;
    const holdout = JSON.parse(fs.readFileSync(c.holdoutFile, "utf8")) as Holdout;
    const kube = new Kube(c.kubeconfig);
    const backends = new PodBackends(c.backends);
    const model = c.backends.model;
    let view: RoutingView = { mode: c.routing, stable: [], canary: [], canaryShare: 0 };
    let input: string | undefined;
    let viewError: string | undefined;
    const generator = new LoadGenerator(
        c.traffic,
        holdout,
        () => view,
        (ns, pod) => (input ? backends.ready(ns, pod) : undefined),
        () => input!,
    );
    const refresh = async () => {
        try {
            view = await readRoutingView(kube, { ...c, model });
            viewError = undefined;
        } catch (e) {
            viewError = (e as Error).message;
        }
        input ??= await inputName(backends, model);
    };
    await refresh();
    const refresher = setInterval(() => void refresh(), 1000);
    const server = http.createServer(
        fleetHandler(backends, () => ({
            traffic: generator.stats(),
            servers: backends.history,
            routing: { ...view, ...(viewError ? { error: viewError } : {}) },
        })),
    );
    server.listen(Number(values.port), "127.0.0.1", () =>
        console.log(`rehearsal fleet on http://127.0.0.1:${values.port}: real model servers behind /pods/<ns>/<pod>/metrics`),
    );
    generator.start();
    const stop = () => {
        generator.stop();
        clearInterval(refresher);
        backends.stopAll();
        console.log(`final stats: ${JSON.stringify(generator.stats())}`);
        server.close(() => setTimeout(() => process.exit(0), 500));
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

if (require.main === module) {
    main().catch((e: Error) => {
        console.error(e.stack ?? e.message);
        process.exit(1);
    });
}
