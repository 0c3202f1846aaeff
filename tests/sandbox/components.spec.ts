/**
 * The sandbox cluster's command lines (sandbox/cluster/components/), pinned in a golden file as kwok pins kwokctl's
 * in test/e2e/kwokctl/dryrun/testdata/binary/create_cluster.txt. After an intended change:
 * `UPDATE_GOLDEN=1 npx mocha tests/sandbox/components.spec.ts`, and review the diff.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    autoscalingApiObjects,
    buildAutoscalingComponents,
    buildClusterComponents,
    buildEtcdComponent,
    ClusterComponentsConfig,
    Component,
    formatComponent,
    PORTS,
    withExtraArgs,
} from "../../sandbox/cluster/components";

const GOLDEN = path.join(__dirname, "testdata", "components.txt");

/** Fixed paths, so that the golden file does not depend on the machine. */
const GOLDEN_CONFIG: ClusterComponentsConfig = {
    root: "/sandbox",
    kubeconfig: "/sandbox/kubeconfig",
    etcdDataDir: "/sandbox/etcd",
    kwokConfig: "/sandbox/kwok-stages.yaml",
    repoRoot: "/repo",
    binaries: {
        etcd: "/tools/etcd/bin/etcd",
        apiserver: "/tools/kubernetes/bin/kube-apiserver",
        controllerManager: "/tools/kubernetes/bin/kube-controller-manager",
        scheduler: "/tools/kubernetes/bin/kube-scheduler",
        kwok: "/tools/kwok/bin/kwok",
        argo: "/tools/argo-rollouts/bin/rollouts-controller",
        node: "/usr/bin/node",
        kyverno: "/tools/kyverno-admission/bin/kyverno",
    },
    pki: {
        caCert: "/sandbox/pki/ca.crt",
        apiserverCert: "/sandbox/pki/apiserver.crt",
        apiserverKey: "/sandbox/pki/apiserver.key",
        saKey: "/sandbox/pki/sa.key",
        saPub: "/sandbox/pki/sa.pub",
        harborCert: "/sandbox/pki/harbor.crt",
        harborKey: "/sandbox/pki/harbor.key",
        proxyClientCert: "/sandbox/pki/admin.crt",
        proxyClientKey: "/sandbox/pki/admin.key",
    },
};

/** metrics-server and KEDA, started after the cluster (controlPlane.ts), with the same fixed paths. */
const autoscaling = () =>
    buildAutoscalingComponents({
        kubeconfig: "/sandbox/kubeconfig",
        binaries: { metricsServer: "/tools/metrics-server/bin/metrics-server", keda: "/tools/keda/bin/keda", kedaAdapter: "/tools/keda/bin/keda-adapter" },
        ports: PORTS,
        kwokPort: PORTS.kwok,
        metricsServerCertDir: "/sandbox/metrics-server",
        kedaCertDir: "/sandbox/keda",
    });

function render(conf: ClusterComponentsConfig, more: Component[] = autoscaling()): string {
    return (
        [...buildClusterComponents(conf), ...more]
            .map(
                (c) =>
                    `# ${c.name}: ready when ${c.health.url} answers ${c.health.accept === "ok" ? "200" : "at all"} (${c.health.tls}), within ${c.timeoutSeconds} s\n${formatComponent(c)}`,
            )
            .join("\n") + "\n"
    );
}

describe("sandbox components", () => {
    it("registers metrics.k8s.io and external.metrics.k8s.io with the aggregator, each through an ExternalName Service to 127.0.0.1 on its component's port", () => {
        const objs = autoscalingApiObjects(PORTS, { keda: true });
        const apis = objs.filter((o) => o.kind === "APIService");
        assert.deepEqual(
            apis.map((a) => [a.metadata.name, (a.spec as any).group, (a.spec as any).service, (a.spec as any).insecureSkipTLSVerify]),
            [
                ["v1beta1.metrics.k8s.io", "metrics.k8s.io", { namespace: "kube-system", name: "metrics-server", port: PORTS.metricsServer }, true],
                [
                    "v1beta1.external.metrics.k8s.io",
                    "external.metrics.k8s.io",
                    { namespace: "keda", name: "keda-metrics-apiserver", port: PORTS.kedaAdapter },
                    true,
                ],
            ],
        );
        for (const a of apis) {
            const ref = (a.spec as any).service;
            const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === ref.name && o.metadata.namespace === ref.namespace);
            assert.deepEqual(svc?.spec, { type: "ExternalName", externalName: "127.0.0.1" });
        }
        // KEDA's processes read their namespace from the environment (there is no service-account file outside a pod).
        for (const c of autoscaling().filter((x) => x.name.startsWith("keda"))) {
            assert.equal(c.env?.KEDA_CLUSTER_OBJECT_NAMESPACE, "keda");
            assert.equal(c.env?.KUBECONFIG, "/sandbox/kubeconfig");
        }
    });

    it("without KEDA (a stack that does not autoscale through it): metrics-server alone, and no external.metrics.k8s.io APIService left without its server", () => {
        const objs = autoscalingApiObjects(PORTS, { keda: false });
        assert.deepEqual(
            objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
            ["Service/kube-system/metrics-server", "APIService//v1beta1.metrics.k8s.io"],
        );
        const {
            keda: _k,
            kedaAdapter: _a,
            ...metricsServerOnly
        } = {
            metricsServer: "/tools/metrics-server/bin/metrics-server",
            keda: "/tools/keda/bin/keda",
            kedaAdapter: "/tools/keda/bin/keda-adapter",
        };
        const components = buildAutoscalingComponents({
            kubeconfig: "/sandbox/kubeconfig",
            binaries: metricsServerOnly,
            ports: PORTS,
            kwokPort: PORTS.kwok,
            metricsServerCertDir: "/sandbox/metrics-server",
            kedaCertDir: "/sandbox/keda",
        });
        assert.deepEqual(
            components.map((c) => c.name),
            ["metrics-server"],
        );
        assert.deepEqual(components[0], autoscaling()[0], "metrics-server's command line does not depend on KEDA");
    });

    it("the eleven command lines match the golden file (the eight of the cluster, Kyverno last, then metrics-server and KEDA's two)", () => {
        const got = render(GOLDEN_CONFIG);
        if (process.env.UPDATE_GOLDEN) fs.writeFileSync(GOLDEN, got);
        assert.equal(got, fs.readFileSync(GOLDEN, "utf8"));
    });

    it("start in dependency order: etcd, API server, controllers, kwok, Argo Rollouts, the Harbor stub, Kyverno", () => {
        assert.deepEqual(
            buildClusterComponents(GOLDEN_CONFIG).map((c) => c.name),
            ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "argo-rollouts", "harbor-stub", "kyverno"],
        );
    });

    it("Kyverno runs only when its binary is given (a sandbox that enforces admission), every listener on loopback", () => {
        const { kyverno: _kyverno, ...withoutKyverno } = GOLDEN_CONFIG.binaries;
        assert.deepEqual(
            buildClusterComponents({ ...GOLDEN_CONFIG, binaries: withoutKyverno }).map((c) => c.name),
            ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "argo-rollouts", "harbor-stub"],
        );
        const k = buildClusterComponents(GOLDEN_CONFIG).find((c) => c.name === "kyverno")!;
        // Out of cluster (cmd/kyverno/main.go): serverIP makes the webhook URLs and the certificate's IP SAN; both
        // Secret names are required; the metrics servers default to 0.0.0.0:8000 and :8080.
        for (const flag of [
            "--serverIP=127.0.0.1:16292",
            "--webhookServerHost=127.0.0.1",
            "--webhookServerPort=16292",
            "--metricsHost=127.0.0.1",
            "--controllerRuntimeMetricsAddress=0",
            "--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca",
            "--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair",
        ]) {
            assert.ok(k.args.includes(flag), `${flag} missing: ${k.args.join(" ")}`);
        }
        assert.deepEqual(k.env, {
            KYVERNO_NAMESPACE: "kyverno",
            KYVERNO_SERVICEACCOUNT_NAME: "kyverno-admission-controller",
            KYVERNO_DEPLOYMENT: "kyverno-sandbox",
            KYVERNO_POD_NAME: "kyverno-sandbox",
            INIT_CONFIG: "kyverno",
            METRICS_CONFIG: "kyverno-metrics",
        });
    });

    it("a flag can be overridden per component, in place, and new flags are appended", () => {
        const comps = buildClusterComponents({ ...GOLDEN_CONFIG, extraArgs: { "kube-apiserver": ["--authorization-mode=Node,RBAC", "--v=4"] } });
        const api = comps.find((c) => c.name === "kube-apiserver")!;
        assert.equal(api.args.filter((a) => a.startsWith("--authorization-mode=")).join(), "--authorization-mode=Node,RBAC");
        assert.equal(api.args.indexOf("--authorization-mode=Node,RBAC"), 12, "replaced where it stood");
        assert.equal(api.args.at(-1), "--v=4");
        assert.deepEqual(
            comps.filter((c) => c.name !== "kube-apiserver"),
            buildClusterComponents(GOLDEN_CONFIG).filter((c) => c.name !== "kube-apiserver"),
            "the other components are untouched",
        );
    });

    it("withExtraArgs replaces every occurrence of a flag once, and keeps positional arguments", () => {
        assert.deepEqual(withExtraArgs(["-r", "mod", "--a=1", "--b=2", "--a=3"], ["--a=9", "extra"]), ["-r", "mod", "--a=9", "--b=2", "extra"]);
        assert.deepEqual(withExtraArgs(["--a=1"]), ["--a=1"]);
    });

    it("builders default their ports like kwok's (etcd 2379/2380); paths that do not exist are fine (nothing is read or written)", () => {
        const etcd = buildEtcdComponent({ binary: "etcd", dataDir: "/d" });
        assert.ok(etcd.args.includes("--listen-client-urls=http://127.0.0.1:2379"));
        assert.ok(etcd.args.includes("--initial-cluster=sandbox=http://127.0.0.1:2380"));
    });
});
