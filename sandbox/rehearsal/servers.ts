/**
 * The rehearsal's two processes: the scripted exporter (exporterServer.ts) serving each pod's /metrics from the
 * scenario, and a real Prometheus scraping it through Kubernetes discovery of the ServiceMonitor's endpoints, on the
 * stack's `rollouts.prometheusUrl` where the host's Argo controller queries. Each is recorded (for the marker) as
 * soon as it runs, so a failure later stops it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { KubeObject } from "../cluster/kube";
import { httpStatus, ProcessRecord, startProcess } from "../cluster/processes";
import { INFERENCE_HANDLER_REGEX } from "../../domain/serving";
import { REPO_ROOT } from "../stack";
import type { FleetOptions } from "./exporter";
import { instantQuery, PrometheusServer, startPrometheus } from "./prometheus";
import { compressedScrape, prometheusConfig } from "./prometheusConfig";
import type { Scenario } from "./scenario";
import { StopCheck, waitUntil } from "./signal";

/** Starts the exporter on 127.0.0.1:`port` with the scenario's timelines; returns its process and URL. */
export async function startExporter(o: {
    scenario: Pick<Scenario, "canary" | "stable">;
    timeScale: number;
    model: string;
    port: number;
    workDir: string;
    logDir: string;
}): Promise<{ record: ProcessRecord; url: string }> {
    const fleet: FleetOptions = { scenario: { canary: o.scenario.canary, stable: o.scenario.stable }, timeScale: o.timeScale, model: o.model, seed: 1 };
    const fleetFile = path.join(o.workDir, "exporter.json");
    fs.writeFileSync(fleetFile, JSON.stringify(fleet));
    const url = `http://127.0.0.1:${o.port}`;
    const record = await startProcess(
        {
            name: "rehearsal-exporter",
            command: process.execPath,
            args: ["-r", "ts-node/register/transpile-only", path.join(__dirname, "exporterServer.ts"), `--port=${o.port}`, `--config=${fleetFile}`],
            cwd: REPO_ROOT,
            ready: async () => (await httpStatus(`${url}/healthz`)) === 200,
            timeoutSeconds: 60,
        },
        o.logDir,
    );
    return { record, url };
}

/** The scrape as the report records it: the job, the compressed interval and timeout, the ServiceMonitor's interval. */
export interface ScrapeSummary extends Record<string, unknown> {
    job: unknown;
    interval: string;
    timeout: string;
    serviceMonitorInterval: unknown;
}

/** The scrape configuration for the ServiceMonitor (the operator's job, compressed by the time scale), and its summary. */
export function scrapeSetup(o: { serviceMonitor: KubeObject; exporterPort: number; kubeconfig: string; timeScale: number }): {
    config: Record<string, unknown>;
    scrape: ScrapeSummary;
} {
    const config = prometheusConfig({
        serviceMonitor: o.serviceMonitor,
        exporterAddress: `127.0.0.1:${o.exporterPort}`,
        kubeconfig: o.kubeconfig,
        timeScale: o.timeScale,
    });
    const endpoint = o.serviceMonitor.spec?.endpoints?.[0];
    const s = compressedScrape(endpoint ?? {}, o.timeScale);
    return {
        config,
        scrape: { job: (config.scrape_configs as any[])[0]?.job_name, interval: s.interval, timeout: s.timeout, serviceMonitorInterval: endpoint?.interval },
    };
}

/** Starts Prometheus with that configuration in `<workDir>/prometheus`. */
export function startRehearsalPrometheus(o: { config: Record<string, unknown>; listen: string; workDir: string; logDir: string }): Promise<PrometheusServer> {
    return startPrometheus({ dir: path.join(o.workDir, "prometheus"), listen: o.listen, config: o.config, logDir: o.logDir });
}

/** The selector of stable's series, with the labels the analysis queries select on. */
export function stableSelector(ns: string, model: string, stableHash: string): string {
    return `namespace="${ns}",app_kubernetes_io_name="${model}",rollouts_pod_template_hash="${stableHash}"`;
}

/** Waits (90 s) until stable's request series are in Prometheus; returns one series' label set. */
export async function waitForStableSeries(promUrl: string, selector: string, stopped: StopCheck): Promise<Record<string, string>> {
    const series = await waitUntil(
        `stable's series {${selector}} in Prometheus`,
        90,
        async () => {
            const r = await instantQuery(promUrl, `model_server_requests_total{${selector},handler=~"${INFERENCE_HANDLER_REGEX}"}`);
            return r.length > 0 ? r : undefined;
        },
        stopped,
    );
    return series[0].metric;
}
