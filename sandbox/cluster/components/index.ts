/**
 * The sandbox cluster's components, wired in one place (as kwok's pkg/kwokctl/runtime/binary/cluster_setup.go
 * `Install` adds etcd, the API server, the controller manager, the scheduler and the kwok controller in turn), in
 * start order. Pure: every path and port comes in through the config; files (PKI, kubeconfig, kwok's stages) are
 * written by the caller before.
 */
import * as path from "node:path";
import { buildArgoRolloutsComponent } from "./argoRollouts";
import { autoscalingApiObjects, buildAutoscalingComponents } from "./autoscaling";
import { Component, ComponentName, LOOPBACK } from "./component";
import { buildEtcdComponent } from "./etcd";
import { buildHarborStubComponent } from "./harborStub";
import { buildKubeApiserverComponent } from "./kubeApiserver";
import { buildKubeControllerManagerComponent, buildKubeSchedulerComponent } from "./kubeControllers";
import { buildKwokComponent } from "./kwok";
import { buildKyvernoComponent } from "./kyverno";

export * from "./component";
export { autoscalingApiObjects, buildAutoscalingComponents };
export {
    buildArgoRolloutsComponent,
    buildEtcdComponent,
    buildHarborStubComponent,
    buildKubeApiserverComponent,
    buildKubeControllerManagerComponent,
    buildKubeSchedulerComponent,
    buildKwokComponent,
    buildKyvernoComponent,
};
export * from "./kyverno";

/** Fixed loopback ports: a second sandbox on the same machine is refused, not silently shifted. */
export const PORTS = {
    etcdClient: 12379,
    etcdPeer: 12380,
    apiserver: 16443,
    controllerManager: 16257,
    scheduler: 16259,
    kwok: 16260,
    argoMetrics: 16290,
    argoHealthz: 16291,
    harbor: 18443,
    /** Kyverno's admission controller (only when the sandbox enforces admission): its HTTPS webhook server and its metrics. */
    kyvernoWebhook: 16292,
    kyvernoMetrics: 16293,
    // metrics-server and KEDA (./autoscaling.ts)
    metricsServer: 16310,
    kedaMetrics: 16311,
    kedaHealth: 16312,
    kedaGrpc: 16313,
    kedaAdapter: 16314,
    kedaAdapterMetrics: 16315,
} as const;

export const HARBOR_CREDENTIALS = { username: "admin", password: "sandbox-harbor-pass" } as const;

/** The binaries of the cluster's components. */
export interface ComponentBinaries {
    etcd: string;
    apiserver: string;
    controllerManager: string;
    scheduler: string;
    kwok: string;
    argo: string;
    /** Node.js, for the Harbor stub. */
    node: string;
    /** Kyverno's admission controller (`kyverno-admission`); when absent, Kyverno does not run. */
    kyverno?: string;
}

/** The PKI files the components read (sandbox/cluster/pki.ts `Pki`). */
export interface ComponentPki {
    caCert: string;
    apiserverCert: string;
    apiserverKey: string;
    saKey: string;
    saPub: string;
    harborCert: string;
    harborKey: string;
    /** The aggregator's client identity towards extension API servers (metrics-server, KEDA): the admin pair, as kwokctl uses; default none. */
    proxyClientCert?: string;
    proxyClientKey?: string;
}

export interface ClusterComponentsConfig {
    /** The sandbox directory (out/sandbox). */
    root: string;
    kubeconfig: string;
    etcdDataDir: string;
    /** kwok's stages file. */
    kwokConfig: string;
    repoRoot: string;
    binaries: ComponentBinaries;
    pki: ComponentPki;
    /** Ports; default PORTS. */
    ports?: typeof PORTS;
    /** Flags per component that replace the builder's flag of the same name, or are appended; default none. */
    extraArgs?: Partial<Record<ComponentName, readonly string[]>>;
}

/** Every component of the sandbox cluster, in start order (Kyverno's admission controller last, when its binary is given). */
export function buildClusterComponents(conf: ClusterComponentsConfig): Component[] {
    const ports = conf.ports ?? PORTS;
    const extra = conf.extraArgs ?? {};
    const kc = conf.kubeconfig;
    return [
        buildEtcdComponent({ binary: conf.binaries.etcd, dataDir: conf.etcdDataDir, port: ports.etcdClient, peerPort: ports.etcdPeer, extraArgs: extra.etcd }),
        buildKubeApiserverComponent({
            binary: conf.binaries.apiserver,
            etcdServer: `http://${LOOPBACK}:${ports.etcdClient}`,
            port: ports.apiserver,
            certDir: path.join(conf.root, "apiserver"),
            tlsCertFile: conf.pki.apiserverCert,
            tlsPrivateKeyFile: conf.pki.apiserverKey,
            clientCaFile: conf.pki.caCert,
            serviceAccountKeyFile: conf.pki.saPub,
            serviceAccountSigningKeyFile: conf.pki.saKey,
            proxyClientCertFile: conf.pki.proxyClientCert,
            proxyClientKeyFile: conf.pki.proxyClientKey,
            extraArgs: extra["kube-apiserver"],
        }),
        buildKubeControllerManagerComponent({
            binary: conf.binaries.controllerManager,
            kubeconfig: kc,
            port: ports.controllerManager,
            serviceAccountPrivateKeyFile: conf.pki.saKey,
            rootCaFile: conf.pki.caCert,
            extraArgs: extra["kube-controller-manager"],
        }),
        buildKubeSchedulerComponent({ binary: conf.binaries.scheduler, kubeconfig: kc, port: ports.scheduler, extraArgs: extra["kube-scheduler"] }),
        buildKwokComponent({ binary: conf.binaries.kwok, kubeconfig: kc, config: conf.kwokConfig, port: ports.kwok, extraArgs: extra.kwok }),
        buildArgoRolloutsComponent({
            binary: conf.binaries.argo,
            kubeconfig: kc,
            metricsPort: ports.argoMetrics,
            healthzPort: ports.argoHealthz,
            extraArgs: extra["argo-rollouts"],
        }),
        buildHarborStubComponent({
            binary: conf.binaries.node,
            repoRoot: conf.repoRoot,
            port: ports.harbor,
            cert: conf.pki.harborCert,
            key: conf.pki.harborKey,
            username: HARBOR_CREDENTIALS.username,
            password: HARBOR_CREDENTIALS.password,
            extraArgs: extra["harbor-stub"],
        }),
        ...(conf.binaries.kyverno
            ? [
                  buildKyvernoComponent({
                      binary: conf.binaries.kyverno,
                      kubeconfig: kc,
                      webhookPort: ports.kyvernoWebhook,
                      metricsPort: ports.kyvernoMetrics,
                      extraArgs: extra.kyverno,
                  }),
              ]
            : []),
    ];
}
