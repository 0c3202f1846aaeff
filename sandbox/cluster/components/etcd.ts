/** etcd as a sandbox component (cf. kwok's pkg/kwokctl/components/etcd.go `BuildEtcdComponent`). */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface EtcdComponentConfig extends CommonComponentConfig {
    /** Data directory. */
    dataDir: string;
    /** Client port; default 2379. */
    port?: number;
    /** Peer port; default 2380. */
    peerPort?: number;
}

export function buildEtcdComponent(conf: EtcdComponentConfig): Component {
    const address = conf.address ?? LOOPBACK;
    const client = `http://${address}:${conf.port ?? 2379}`;
    const peer = `http://${address}:${conf.peerPort ?? 2380}`;
    return {
        name: "etcd",
        command: conf.binary,
        args: withExtraArgs(
            [
                "--name=sandbox",
                `--data-dir=${conf.dataDir}`,
                `--listen-client-urls=${client}`,
                `--advertise-client-urls=${client}`,
                `--listen-peer-urls=${peer}`,
                `--initial-advertise-peer-urls=${peer}`,
                `--initial-cluster=sandbox=${peer}`,
                "--unsafe-no-fsync",
            ],
            conf.extraArgs,
        ),
        health: { url: `${client}/health`, tls: "none", accept: "ok" },
        timeoutSeconds: 30,
    };
}
