/**
 * A cluster the program did not create, reached through a kubeconfig file (on-premises, kind, k3s, the sandbox):
 * only a Kubernetes provider, and no AWS resource or call.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface KubeconfigClusterArgs {
    /** Display name of the cluster. No default. */
    readonly clusterName: string;
    /** Absolute path of the kubeconfig file (the provider reads it). No default: never the ambient KUBECONFIG. */
    readonly kubeconfigPath: string;
    /** Context in that file. Default: its current-context. */
    readonly context?: string;
}

export class KubeconfigCluster extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;
    /** Kubernetes provider for everything the fleet declares in the cluster. */
    public readonly provider: k8s.Provider;

    constructor(name: string, args: KubeconfigClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:cluster:KubeconfigCluster", name, {}, opts);
        this.name = pulumi.output(args.clusterName);
        // The path, not the file's content: a re-issued client certificate is not a provider change.
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            { kubeconfig: args.kubeconfigPath, context: args.context, enableServerSideApply: true, deleteUnreachable: false },
            { parent: this },
        );
        this.registerOutputs({ name: this.name });
    }
}
