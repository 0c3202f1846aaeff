/**
 * The existing EKS cluster the fleet runs on: its private subnets and a Kubernetes provider built from its
 * endpoint and CA (never the ambient kubeconfig, so `pulumi up` cannot hit whichever cluster a laptop points at).
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { clusterVersionMismatch } from "../domain/image/weights";

export interface EksClusterArgs {
    /** Name of the existing EKS cluster. No default. */
    readonly clusterName: pulumi.Input<string>;
    /** AWS region of the cluster. No default. */
    readonly region: pulumi.Input<string>;
    /** Subnet tag that marks private subnets. Default: the EKS convention `kubernetes.io/role/internal-elb=1`. */
    readonly privateSubnetTag?: pulumi.Input<{ key: string; value: string }>;
    /** The Kubernetes minor version the config states (`cluster.version`), checked against the cluster's. Default: not checked. */
    readonly statedVersion?: string;
}

export class EksCluster extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;
    public readonly endpoint: pulumi.Output<string>;
    public readonly vpcId: pulumi.Output<string>;
    /** The cluster's Kubernetes minor version (EKS `version`); fails the deployment when it is not the stated one. */
    public readonly version: pulumi.Output<string>;
    /** Private subnets of the cluster's VPC, where GPU nodes go. */
    public readonly privateSubnetIds: pulumi.Output<string[]>;
    /** Kubernetes provider for everything the fleet declares in the cluster. */
    public readonly provider: k8s.Provider;

    constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:cluster:EksCluster", name, {}, opts);
        const cluster = aws.eks.getClusterOutput({ name: args.clusterName }, { parent: this });
        const tag = pulumi.output(args.privateSubnetTag ?? { key: "kubernetes.io/role/internal-elb", value: "1" });
        const subnets = aws.ec2.getSubnetsOutput(
            {
                filters: [
                    { name: "vpc-id", values: [cluster.vpcConfig.vpcId] },
                    { name: pulumi.interpolate`tag:${tag.key}`, values: [tag.value] },
                ],
            },
            { parent: this },
        );
        this.name = cluster.name;
        this.endpoint = cluster.endpoint;
        this.vpcId = cluster.vpcConfig.vpcId;
        const stated = args.statedVersion;
        this.version = pulumi.all([cluster.name, cluster.version]).apply(([clusterName, live]) => {
            const problem = stated === undefined ? undefined : clusterVersionMismatch(clusterName, stated, live);
            if (problem) throw new Error(problem);
            return live;
        });
        this.privateSubnetIds = subnets.ids;
        const kubeconfig = pulumi.jsonStringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: cluster.name, cluster: { server: cluster.endpoint, "certificate-authority-data": cluster.certificateAuthorities[0].data } }],
            contexts: [{ name: cluster.name, context: { cluster: cluster.name, user: cluster.name } }],
            "current-context": cluster.name,
            users: [
                {
                    name: cluster.name,
                    user: {
                        exec: {
                            apiVersion: "client.authentication.k8s.io/v1beta1",
                            command: "aws",
                            args: ["eks", "get-token", "--cluster-name", cluster.name, "--region", args.region, "--output", "json"],
                            interactiveMode: "Never",
                        },
                    },
                },
            ],
        });
        this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig, enableServerSideApply: true, deleteUnreachable: false }, { parent: this });
        this.registerOutputs({ name: this.name, endpoint: this.endpoint, version: this.version, vpcId: this.vpcId, privateSubnetIds: this.privateSubnetIds });
    }
}
