/** kube-apiserver as a sandbox component (cf. kwok's pkg/kwokctl/components/kube_apiserver.go). */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface KubeApiserverComponentConfig extends CommonComponentConfig {
    /** etcd's client URL. */
    etcdServer: string;
    /** Secure port; default 6443. */
    port?: number;
    /** Directory for the API server's generated files. */
    certDir: string;
    tlsCertFile: string;
    tlsPrivateKeyFile: string;
    clientCaFile: string;
    serviceAccountKeyFile: string;
    serviceAccountSigningKeyFile: string;
    /** Client pair the aggregator presents to extension API servers (APIServices); default none (no aggregated API reachable). */
    proxyClientCertFile?: string;
    proxyClientKeyFile?: string;
}

export function buildKubeApiserverComponent(conf: KubeApiserverComponentConfig): Component {
    const address = conf.address ?? LOOPBACK;
    const port = conf.port ?? 6443;
    return {
        name: "kube-apiserver",
        command: conf.binary,
        args: withExtraArgs(
            [
                `--etcd-servers=${conf.etcdServer}`,
                `--bind-address=${address}`,
                `--advertise-address=${address}`,
                `--secure-port=${port}`,
                `--cert-dir=${conf.certDir}`,
                `--tls-cert-file=${conf.tlsCertFile}`,
                `--tls-private-key-file=${conf.tlsPrivateKeyFile}`,
                `--client-ca-file=${conf.clientCaFile}`,
                "--service-account-issuer=https://kubernetes.default.svc",
                `--service-account-key-file=${conf.serviceAccountKeyFile}`,
                `--service-account-signing-key-file=${conf.serviceAccountSigningKeyFile}`,
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                // PodSecurity is in the default admission chain; named so that nobody turns it off by accident.
                "--enable-admission-plugins=PodSecurity",
                "--allow-privileged=true",
                // Without a proxy-client pair the aggregated call reaches metrics-server or KEDA anonymous and is refused.
                ...(conf.proxyClientCertFile && conf.proxyClientKeyFile
                    ? [`--proxy-client-cert-file=${conf.proxyClientCertFile}`, `--proxy-client-key-file=${conf.proxyClientKeyFile}`]
                    : []),
            ],
            conf.extraArgs,
        ),
        health: { url: `https://${address}:${port}/readyz`, tls: "admin", accept: "ok" },
        timeoutSeconds: 90,
    };
}
