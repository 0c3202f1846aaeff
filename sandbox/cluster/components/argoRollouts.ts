/** The Argo Rollouts controller as a sandbox component. */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

export interface ArgoRolloutsComponentConfig extends CommonComponentConfig {
    kubeconfig: string;
    metricsPort: number;
    healthzPort: number;
}

export function buildArgoRolloutsComponent(conf: ArgoRolloutsComponentConfig): Component {
    const address = conf.address ?? LOOPBACK;
    return {
        name: "argo-rollouts",
        command: conf.binary,
        args: withExtraArgs(
            [
                `--kubeconfig=${conf.kubeconfig}`,
                "--leader-elect=false",
                `--metricsPort=${conf.metricsPort}`,
                `--healthzPort=${conf.healthzPort}`,
                "--loglevel=info",
            ],
            conf.extraArgs,
        ),
        health: { url: `http://${address}:${conf.healthzPort}/healthz`, tls: "none", accept: "ok" },
        timeoutSeconds: 90,
    };
}
