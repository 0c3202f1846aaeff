/** The kwok controller as a sandbox component (cf. kwok's pkg/kwokctl/components/kwok_controller.go). */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface KwokComponentConfig extends CommonComponentConfig {
    kubeconfig: string;
    /** The stages file (written by the caller, not here). */
    config: string;
    /** Port of its server (healthz, kubelet API). */
    port: number;
}

export function buildKwokComponent(conf: KwokComponentConfig): Component {
    const address = conf.address ?? LOOPBACK;
    return {
        name: "kwok",
        command: conf.binary,
        args: withExtraArgs(
            [
                `--kubeconfig=${conf.kubeconfig}`,
                `--config=${conf.config}`,
                "--manage-all-nodes=false",
                // Node leases, as kwokctl sets them: without them the with-lease heartbeat stage leaves nodes NotReady
                // after ~55 s, the node lifecycle controller marks every pod unready, and canaries stall.
                "--node-lease-duration-seconds=40",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.244.0.0/16",
                `--node-ip=${address}`,
                `--server-address=${address}:${conf.port}`,
            ],
            conf.extraArgs,
        ),
        health: { url: `http://${address}:${conf.port}/healthz`, tls: "none", accept: "ok" },
        timeoutSeconds: 60,
    };
}
