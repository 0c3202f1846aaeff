/**
 * The real Prometheus server (and promtool) of the tool cache: where the binaries are, starting the server on
 * loopback with the rehearsal's configuration, and the two HTTP API calls the rehearsal needs.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as YAML from "yaml";
import { toolPath } from "../toolchain/build";
import { httpStatus, ProcessRecord, startProcess } from "../cluster/processes";

/**
 * Path of `prometheus` or `promtool`: the tool cache's (`npm run tools -- build prometheus`) once the manifest
 * has the tool, else `$PROMETHEUS_BIN` (the prometheus binary; promtool beside it). Throws naming both.
 */
export function prometheusBinary(binary: "prometheus" | "promtool" = "prometheus"): string {
    let cacheError: string;
    try {
        return toolPath("prometheus", binary);
    } catch (e) {
        cacheError = (e as Error).message;
    }
    const env = process.env.PROMETHEUS_BIN;
    if (env) {
        const p = binary === "prometheus" ? env : path.join(path.dirname(env), binary);
        if (fs.existsSync(p)) return p;
        throw new Error(`${binary} not found at ${p} (from PROMETHEUS_BIN=${env})`);
    }
    throw new Error(`${binary} is not available: ${cacheError}; or set PROMETHEUS_BIN to a prometheus binary`);
}

/** The binary, or undefined when there is none (tests that need it skip). */
export function maybePrometheusBinary(binary: "prometheus" | "promtool"): string | undefined {
    try {
        return prometheusBinary(binary);
    } catch {
        return undefined;
    }
}

export interface PrometheusServer {
    record: ProcessRecord;
    url: string;
    configFile: string;
    dataDir: string;
}

/** Starts Prometheus on `listen` (host:port) with the given configuration; ready once /-/ready answers 200. */
export async function startPrometheus(opts: { dir: string; listen: string; config: Record<string, unknown>; logDir: string }): Promise<PrometheusServer> {
    fs.mkdirSync(opts.dir, { recursive: true });
    const configFile = path.join(opts.dir, "prometheus.yml");
    const dataDir = path.join(opts.dir, "data");
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.writeFileSync(configFile, YAML.stringify(opts.config));
    const url = `http://${opts.listen}`;
    const record = await startProcess(
        {
            name: "rehearsal-prometheus",
            command: prometheusBinary("prometheus"),
            args: [
                `--config.file=${configFile}`,
                `--storage.tsdb.path=${dataDir}`,
                `--web.listen-address=${opts.listen}`,
                "--storage.tsdb.retention.time=1d",
                "--log.level=info",
            ],
            ready: async () => (await httpStatus(`${url}/-/ready`)) === 200,
            timeoutSeconds: 60,
        },
        opts.logDir,
    );
    return { record, url, configFile, dataDir };
}

function getJson(url: string): Promise<any> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => {
                try {
                    const j = JSON.parse(body);
                    if (j.status !== "success") reject(new Error(`${url}: ${j.errorType ?? res.statusCode}: ${j.error ?? body.slice(0, 200)}`));
                    else resolve(j.data);
                } catch (e) {
                    reject(new Error(`${url}: HTTP ${res.statusCode}: ${body.slice(0, 200)} (${(e as Error).message})`));
                }
            });
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
    });
}

export interface PromSample {
    metric: Record<string, string>;
    value: number;
}

/** Instant query: the vector's samples (a scalar comes back as one sample without labels). */
export async function instantQuery(baseUrl: string, query: string): Promise<PromSample[]> {
    const data = await getJson(`${baseUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    if (data.resultType === "scalar") return [{ metric: {}, value: Number(data.result[1]) }];
    return (data.result ?? []).map((r: { metric: Record<string, string>; value: [number, string] }) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

export interface ActiveTarget {
    labels: Record<string, string>;
    scrapeUrl: string;
    health: string;
    lastError: string;
}

export async function activeTargets(baseUrl: string): Promise<ActiveTarget[]> {
    const data = await getJson(`${baseUrl}/api/v1/targets?state=active`);
    return data.activeTargets ?? [];
}
