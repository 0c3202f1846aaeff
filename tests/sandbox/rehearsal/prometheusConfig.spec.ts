/**
 * The rehearsal's Prometheus configuration (sandbox/rehearsal/prometheusConfig.ts): the scrape job is the one the
 * real prometheus-operator v0.85.0 generates from the model's ServiceMonitor (golden files made by the operator's
 * own code), and — with promtool, when built — Prometheus' relabeling engine turns Kubernetes endpoint targets into
 * exactly the series labels the analysis queries select on.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import type { KubeObject } from "../../../sandbox/cluster/kube";
import { needsPromtool } from "./promtool";
import {
    compressedScrape,
    exporterRedirect,
    operatorRelabelings,
    prometheusConfig,
    promDuration,
    promSeconds,
    sanitizeLabelName,
    unsupportedFields,
} from "../../../sandbox/rehearsal/prometheusConfig";
import { k8sObjects, runStack } from "../../../support/harness";

interface GoldenCase {
    name: string;
    serviceMonitor: KubeObject;
    scrapeConfigs: Array<Record<string, any>>;
}

const golden: GoldenCase[] = YAML.parse(fs.readFileSync(path.join(__dirname, "fixtures", "prometheus-operator-v0.85.0.yaml"), "utf8"));
/** The config reloader substitutes the shard number; the rehearsal runs one shard. */
const shard0 = (rules: unknown) => JSON.parse(JSON.stringify(rules).replace(/\$\(SHARD\)/g, "0"));

describe("rehearsal Prometheus config: the operator's scrape job", () => {
    it("the golden's first case is the ServiceMonitor the program renders for the local stack (else regenerate the golden)", async function () {
        this.timeout(120_000);
        const run = await runStack("local");
        const sm = k8sObjects(run.resources).find((o) => o.kind === "ServiceMonitor" && o.metadata.name === "sentiment");
        assert.ok(sm, "the local stack declares a ServiceMonitor for sentiment");
        assert.deepEqual(
            sm.spec,
            golden[0].serviceMonitor.spec,
            "tests/sandbox/rehearsal/fixtures/prometheus-operator-v0.85.0.yaml is stale: regenerate it (see its header)",
        );
    });

    for (const c of golden) {
        it(`relabel_configs equal the operator's, rule for rule: ${c.name}`, () => {
            c.scrapeConfigs.forEach((job, i) => {
                assert.deepEqual(operatorRelabelings(c.serviceMonitor, i), shard0(job.relabel_configs), `endpoint ${i}`);
            });
        });

        it(`job name, discovery, path, scheme, honor_labels, intervals and metric relabelings match: ${c.name}`, () => {
            const cfg = prometheusConfig({ serviceMonitor: c.serviceMonitor, exporterAddress: "127.0.0.1:19091", kubeconfig: "/k", timeScale: 1 });
            const jobs = cfg.scrape_configs as Array<Record<string, any>>;
            assert.equal(jobs.length, c.scrapeConfigs.length);
            jobs.forEach((job, i) => {
                const want = c.scrapeConfigs[i];
                for (const k of ["job_name", "honor_labels", "metrics_path", "scheme", "metric_relabel_configs"])
                    assert.deepEqual(job[k], want[k], `${i} ${k}`);
                assert.equal(job.scrape_interval, want.scrape_interval ?? "30s");
                assert.equal(job.scrape_timeout, want.scrape_timeout ?? "10s");
                assert.deepEqual(
                    job.kubernetes_sd_configs.map((s: any) => ({ role: s.role, namespaces: s.namespaces })),
                    want.kubernetes_sd_configs,
                );
                assert.equal(job.kubernetes_sd_configs[0].kubeconfig_file, "/k");
                // The operator's rules first, then only the rehearsal's redirect to the exporter.
                assert.deepEqual(job.relabel_configs, [...shard0(want.relabel_configs), ...exporterRedirect("127.0.0.1:19091")]);
            });
        });
    }

    it("names what it does not reproduce instead of guessing", () => {
        const sm = {
            ...golden[0].serviceMonitor,
            spec: { ...golden[0].serviceMonitor.spec, attachMetadata: { node: true }, endpoints: [{ port: "http", tlsConfig: {} }] },
        };
        assert.deepEqual(unsupportedFields(sm), ["spec.attachMetadata", "spec.endpoints[0].tlsConfig"]);
        assert.throws(
            () => prometheusConfig({ serviceMonitor: sm, exporterAddress: "x:1", kubeconfig: "/k", timeScale: 1 }),
            /does not reproduce spec\.attachMetadata, spec\.endpoints\[0\]\.tlsConfig/,
        );
    });

    it("sanitizes label names as the operator does", () => {
        assert.equal(sanitizeLabelName("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert.equal(sanitizeLabelName("rollouts-pod-template-hash"), "rollouts_pod_template_hash");
    });

    it("compresses the ServiceMonitor's scrape interval by the time scale (≥ 1 s, timeout ≤ interval)", () => {
        assert.deepEqual(compressedScrape({ interval: "30s", scrapeTimeout: "10s" }, 1), { interval: "30s", timeout: "10s" });
        assert.deepEqual(compressedScrape({ interval: "30s", scrapeTimeout: "10s" }, 10), { interval: "3s", timeout: "1s" });
        assert.deepEqual(compressedScrape({ interval: "30s", scrapeTimeout: "10s" }, 20), { interval: "1500ms", timeout: "500ms" });
        assert.deepEqual(compressedScrape({ interval: "30s", scrapeTimeout: "10s" }, 600), { interval: "1s", timeout: "500ms" });
        assert.deepEqual(compressedScrape({}, 1), { interval: "30s", timeout: "10s" });
        assert.equal(promSeconds("1m30s"), 90);
        assert.equal(promSeconds("1500ms"), 1.5);
        assert.equal(promDuration(1.5), "1500ms");
    });
});

/** What Kubernetes endpoints discovery (role endpoints) gives a target: the meta labels the operator's rules read. */
function endpointTarget(o: {
    service: string;
    serviceLabels: Record<string, string>;
    pod: string;
    ip: string;
    podLabels: Record<string, string>;
    port?: string;
    phase?: string;
}) {
    const labels: Record<string, string> = {
        __meta_kubernetes_namespace: "models",
        __meta_kubernetes_endpoints_name: o.service,
        __meta_kubernetes_endpoint_port_name: o.port ?? "http",
        __meta_kubernetes_endpoint_port_protocol: "TCP",
        __meta_kubernetes_endpoint_ready: "true",
        __meta_kubernetes_endpoint_address_target_kind: "Pod",
        __meta_kubernetes_endpoint_address_target_name: o.pod,
        __meta_kubernetes_endpoint_node_name: "l4-0",
        __meta_kubernetes_service_name: o.service,
        __meta_kubernetes_pod_name: o.pod,
        __meta_kubernetes_pod_ip: o.ip,
        __meta_kubernetes_pod_container_name: "model-server",
        __meta_kubernetes_pod_container_port_name: "http",
        __meta_kubernetes_pod_container_port_number: "8080",
        __meta_kubernetes_pod_phase: o.phase ?? "Running",
        __meta_kubernetes_pod_ready: "true",
        __meta_kubernetes_pod_node_name: "l4-0",
    };
    for (const [k, v] of Object.entries(o.serviceLabels)) {
        labels[`__meta_kubernetes_service_label_${sanitizeLabelName(k)}`] = v;
        labels[`__meta_kubernetes_service_labelpresent_${sanitizeLabelName(k)}`] = "true";
    }
    for (const [k, v] of Object.entries(o.podLabels)) {
        labels[`__meta_kubernetes_pod_label_${sanitizeLabelName(k)}`] = v;
        labels[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(k)}`] = "true";
    }
    return { targets: [`${o.ip}:8080`], labels };
}

describe("rehearsal Prometheus config: Prometheus' relabeling engine (promtool)", () => {
    it("stable and canary pods get the labels the queries select on; both Services' targets of a pod are identical", function () {
        const promtool = needsPromtool(this);
        this.timeout(30_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehearsal-sd-"));
        const sm = golden[0].serviceMonitor;
        const cfg = prometheusConfig({ serviceMonitor: sm, exporterAddress: "127.0.0.1:19091", kubeconfig: path.join(dir, "kubeconfig"), timeScale: 10 });
        const job = (cfg.scrape_configs as Array<Record<string, any>>)[0];
        // The same relabeling, fed by a file of the targets Kubernetes discovery would produce.
        delete job.kubernetes_sd_configs;
        job.file_sd_configs = [{ files: [path.join(dir, "targets.json")] }];
        const svc = { "app.kubernetes.io/name": "sentiment", "app.kubernetes.io/part-of": "model-fleet", "app.kubernetes.io/version": "2.2.0" };
        const podLabels = (hash: string, version: string) => ({
            "app.kubernetes.io/name": "sentiment",
            "app.kubernetes.io/part-of": "model-fleet",
            "app.kubernetes.io/version": version,
            "rollouts-pod-template-hash": hash,
        });
        const targets = [
            endpointTarget({ service: "sentiment", serviceLabels: svc, pod: "sentiment-st4ble-a", ip: "10.244.0.5", podLabels: podLabels("st4ble", "2.2.0") }),
            endpointTarget({ service: "sentiment", serviceLabels: svc, pod: "sentiment-c4n4ry-b", ip: "10.244.0.9", podLabels: podLabels("c4n4ry", "2.2.1") }),
            endpointTarget({
                service: "sentiment-canary",
                serviceLabels: svc,
                pod: "sentiment-c4n4ry-b",
                ip: "10.244.0.9",
                podLabels: podLabels("c4n4ry", "2.2.1"),
            }),
            // Dropped: another model's Service, a port that is not `http`, a finished pod.
            endpointTarget({
                service: "embedder",
                serviceLabels: { ...svc, "app.kubernetes.io/name": "embedder" },
                pod: "embedder-x",
                ip: "10.244.0.7",
                podLabels: podLabels("e", "1.0.0"),
            }),
            endpointTarget({
                service: "sentiment",
                serviceLabels: svc,
                pod: "sentiment-st4ble-a",
                ip: "10.244.0.5",
                podLabels: podLabels("st4ble", "2.2.0"),
                port: "admin",
            }),
            endpointTarget({
                service: "sentiment",
                serviceLabels: svc,
                pod: "sentiment-old",
                ip: "10.244.0.3",
                podLabels: podLabels("0ld", "2.1.0"),
                phase: "Succeeded",
            }),
        ];
        fs.writeFileSync(path.join(dir, "targets.json"), JSON.stringify(targets));
        fs.writeFileSync(path.join(dir, "prometheus.yml"), YAML.stringify(cfg));
        const check = spawnSync(promtool, ["check", "config", "--syntax-only", "prometheus.yml"], { cwd: dir, encoding: "utf8" });
        assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
        const r = spawnSync(promtool, ["check", "service-discovery", "--timeout=2s", "prometheus.yml", job.job_name], { cwd: dir, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const kept = (JSON.parse(r.stdout) as Array<{ labels?: Record<string, string> }>)
            .filter((t) => t.labels && Object.keys(t.labels).length > 0)
            .map((t) => t.labels!);
        const visible = (l: Record<string, string>) =>
            Object.fromEntries(Object.entries(l).filter(([k]) => !k.startsWith("__") || k === "__address__" || k === "__metrics_path__"));
        const expected = (pod: string, ip: string, hash: string, version: string) => ({
            __address__: "127.0.0.1:19091",
            __metrics_path__: `/pods/models/${pod}/metrics`,
            app_kubernetes_io_name: "sentiment",
            app_kubernetes_io_version: version,
            container: "model-server",
            endpoint: "http",
            instance: `${ip}:8080`,
            job: "sentiment",
            namespace: "models",
            pod,
            rollouts_pod_template_hash: hash,
            service: "sentiment",
        });
        // promtool prints the discovered targets in no fixed order: compare them sorted.
        const byPod = (a: Record<string, string>, b: Record<string, string>) => a.pod.localeCompare(b.pod);
        assert.deepEqual(
            kept.map(visible).sort(byPod),
            [
                expected("sentiment-st4ble-a", "10.244.0.5", "st4ble", "2.2.0"),
                expected("sentiment-c4n4ry-b", "10.244.0.9", "c4n4ry", "2.2.1"),
                expected("sentiment-c4n4ry-b", "10.244.0.9", "c4n4ry", "2.2.1"),
            ].sort(byPod),
        );
        assert.equal(kept[0].__scrape_interval__, "3s");
        assert.equal(kept[0].__scrape_timeout__, "1s");
    });
});
