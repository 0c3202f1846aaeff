/**
 * kube-controller-manager and kube-scheduler as sandbox components (cf. kwok's pkg/kwokctl/components
 * kube_controller_manager.go and kube_scheduler.go): the admin kubeconfig, loopback serving, no leader election.
 */
import { CommonComponentConfig, Component, ComponentName, LOOPBACK, withExtraArgs } from "./component";

export interface KubeControllerComponentConfig extends CommonComponentConfig {
    kubeconfig: string;
    /** Secure port of its health endpoint. */
    port: number;
}

function kubeController(name: ComponentName, conf: KubeControllerComponentConfig, own: string[]): Component {
    const address = conf.address ?? LOOPBACK;
    const kc = conf.kubeconfig;
    return {
        name,
        command: conf.binary,
        args: withExtraArgs(
            [
                `--kubeconfig=${kc}`,
                `--authentication-kubeconfig=${kc}`,
                `--authorization-kubeconfig=${kc}`,
                `--bind-address=${address}`,
                `--secure-port=${conf.port}`,
                "--leader-elect=false",
                ...own,
            ],
            conf.extraArgs,
        ),
        health: { url: `https://${address}:${conf.port}/healthz`, tls: "insecure", accept: "ok" },
        timeoutSeconds: 60,
    };
}

export interface KubeControllerManagerComponentConfig extends KubeControllerComponentConfig {
    serviceAccountPrivateKeyFile: string;
    rootCaFile: string;
}

export function buildKubeControllerManagerComponent(conf: KubeControllerManagerComponentConfig): Component {
    return kubeController("kube-controller-manager", conf, [
        `--service-account-private-key-file=${conf.serviceAccountPrivateKeyFile}`,
        `--root-ca-file=${conf.rootCaFile}`,
        "--use-service-account-credentials=false",
    ]);
}

export function buildKubeSchedulerComponent(conf: KubeControllerComponentConfig): Component {
    return kubeController("kube-scheduler", conf, []);
}
