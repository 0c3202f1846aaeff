/**
 * One EKS managed node group of GPU nodes on an existing cluster, with its node IAM role.
 *
 * Labels and the taint come from labels.ts (shared with the add-ons and the workloads); on MIG pools the
 * `nvidia.com/mig.config` label names the pool's config in the mig-parted ConfigMap that GpuClusterAddons renders
 * from the same layout (migConfig.ts), so the two cannot disagree.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { devicesPerGpu, devicesPerNode } from "../../domain/gpu/catalogue";
import { migOnBottlerocketIssues } from "../../domain/rules/gpu";
import { inputPropertiesError, throwOnIssues } from "../errors";
import { GPU_NODEGROUP_TAINT, GPU_TAINT, MIG_CONFIG_STATE_LABEL, AmiType, MigStrategy, gpuPoolNodeLabels } from "./labels";
import { isMigPool, migConfigName } from "./migConfig";

/** Managed policies every EKS worker node role needs (EKS User Guide, "Amazon EKS node IAM role"). */
export const NODE_ROLE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"] as const;

/** Default name prefix of a stack's GPU node roles and node groups. */
export function defaultGpuNamePrefix(stack: string): string {
    return `model-fleet-${stack}`;
}

/** IAM role name of a pool's nodes: `<prefix>-<pool>-node`, e.g. `model-fleet-prod-h100-node`. */
export function gpuNodeRoleName(prefix: string, pool: string): string {
    return `${prefix}-${pool}-node`;
}

/**
 * IAM role-name glob matching every GPU node role of the stack whose prefix this is (`<prefix>-*-node`); the
 * registry grants pull to it. Note `*` also matches `-`: a stack whose name extends this one's (`dev` vs `dev-x`)
 * in the same account would match too; grant by role ARN where the pools are known.
 */
export function gpuNodeRoleNamePattern(prefix: string): string {
    return `${prefix}-*-node`;
}

export interface GpuNodePoolArgs {
    /** Name of the existing EKS cluster. Required. */
    readonly clusterName: pulumi.Input<string>;
    /** Subnets for the nodes: the cluster's private subnets. Required. */
    readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** Pool name (DNS label, ≤ 20 characters); plain because it names the IAM role. Required. */
    readonly name: string;
    /** Prefix of the node role and node group names; must identify the stack. Default `model-fleet-<stack>`. */
    readonly namePrefix?: string;
    /** EC2 instance type (catalogue.ts knows its GPUs). Required. */
    readonly instanceType: pulumi.Input<string>;
    /** EKS NVIDIA AMI family. Default `AL2023_x86_64_NVIDIA`. */
    readonly amiType?: pulumi.Input<AmiType>;
    /** On-demand or spot capacity. Default `ON_DEMAND`. */
    readonly capacityType?: pulumi.Input<"ON_DEMAND" | "SPOT">;
    /** Minimum node count. Required. */
    readonly minSize: pulumi.Input<number>;
    /** Maximum node count. Required. */
    readonly maxSize: pulumi.Input<number>;
    /** Initial node count; afterwards the cluster-autoscaler owns it (ignored on update). Required. */
    readonly desiredSize: pulumi.Input<number>;
    /** Nodes replaced at once during a node group update. Default 1. */
    readonly maxUnavailable?: pulumi.Input<number>;
    /** Root volume size in GiB. Default 200. */
    readonly diskSizeGiB?: pulumi.Input<number>;
    /** MIG strategy and per-GPU layout; plain because it decides which autoscaler tags exist. Default none (whole GPUs). */
    readonly mig?: { strategy: MigStrategy; layout: Record<string, number> };
    /** ARN partition of the AWS managed policies. Default `aws`. */
    readonly partition?: pulumi.Input<string>;
    /** Extra AWS tags for the role and node group. Default none. */
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class GpuNodePool extends pulumi.ComponentResource {
    /** ARN of the nodes' IAM role (the registry grants it pull). */
    public readonly nodeRoleArn: pulumi.Output<string>;
    /** Name of the nodes' IAM role. */
    public readonly nodeRoleName: pulumi.Output<string>;
    /** EKS node group name (changes when the group is replaced). */
    public readonly nodeGroupName: pulumi.Output<string>;
    /** Kubernetes labels on the pool's nodes. */
    public readonly labels: pulumi.Output<Record<string, string>>;
    /** Kubernetes taints on the pool's nodes (Kubernetes spelling). */
    public readonly taints: pulumi.Output<Array<{ key: string; value: string; effect: "NoSchedule" }>>;
    /** mig-parted config the nodes are labelled with (MIG pools), else undefined. */
    public readonly migConfigName: string | undefined;

    constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:gpu:GpuNodePool", name, {}, opts);
        const prefix = args.namePrefix ?? defaultGpuNamePrefix(pulumi.getStack());
        const roleName = gpuNodeRoleName(prefix, args.name);
        if (roleName.length > 64) {
            throw new pulumi.ResourceError(
                `GPU node role name ${roleName} is ${roleName.length} characters; IAM allows 64 (shorten the stack or pool name)`,
                this,
            );
        }
        if (`${prefix}-${args.name}-12345678`.length > 63) {
            throw new pulumi.ResourceError(`node group name ${prefix}-${args.name}-<8 hex> exceeds EKS's 63 characters (shorten the stack or pool name)`, this);
        }
        const amiType = pulumi.output(args.amiType ?? "AL2023_x86_64_NVIDIA");
        const capacityType = pulumi.output(args.capacityType ?? "ON_DEMAND");
        const diskSize = pulumi.output(args.diskSizeGiB ?? 200);
        const partition = pulumi.output(args.partition ?? "aws");
        const tags = pulumi.output(args.tags ?? {});
        const mig = args.mig;
        const configName = mig && isMigPool({ name: args.name, mig }) ? migConfigName({ name: args.name, mig }) : undefined;
        this.migConfigName = configName;
        // A plain AMI type is checked now, before any child exists; an Output is checked when it resolves (below).
        if (typeof args.amiType === "string") throwOnIssues(`GpuNodePool ${name}`, migOnBottlerocketIssues({ amiType: args.amiType, mig }));

        const role = new aws.iam.Role(
            `${name}-node-role`,
            {
                name: roleName,
                description: pulumi.interpolate`Nodes of GPU pool ${args.name} (model-fleet)`,
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                tags,
            },
            { parent: this },
        );
        const attachments = NODE_ROLE_POLICIES.map(
            (policy) =>
                new aws.iam.RolePolicyAttachment(
                    `${name}-${policy}`,
                    { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/${policy}` },
                    { parent: this },
                ),
        );

        // Labels depend on the instance type (GPU model) and AMI family; computed without creating anything.
        const labels = pulumi.all([args.instanceType, amiType]).apply(([instanceType, ami]) => {
            const issues = migOnBottlerocketIssues({ amiType: ami, mig });
            if (issues.length > 0) throw inputPropertiesError(`GpuNodePool ${name}`, issues);
            return gpuPoolNodeLabels({ name: args.name, instanceType, amiType: ami, mig });
        });

        // Everything that forces EKS to replace the node group is a keeper: a new value gives a new name suffix, so
        // the replacement is created (under the new name) before the old group is deleted; EKS drains the old nodes.
        // The MIG config name (it carries the layout hash) is a keeper on purpose: a new layout comes up on fresh
        // nodes that mig-manager partitions before any pod can select them (workloads wait for mig.config.state=success),
        // instead of repartitioning GPUs in use.
        const suffix = new random.RandomId(
            `${name}-suffix`,
            {
                byteLength: 4,
                keepers: {
                    instanceType: args.instanceType,
                    amiType,
                    capacityType,
                    diskSize: diskSize.apply(String),
                    subnetIds: pulumi.output(args.subnetIds).apply((ids) => [...ids].sort().join(",")),
                    nodeRole: roleName,
                    migConfig: configName ?? "",
                },
            },
            { parent: this },
        );

        const nodeGroup = new aws.eks.NodeGroup(
            `${name}-nodes`,
            {
                clusterName: args.clusterName,
                nodeGroupName: pulumi.interpolate`${prefix}-${args.name}-${suffix.hex}`,
                nodeRoleArn: role.arn,
                subnetIds: args.subnetIds,
                instanceTypes: [args.instanceType],
                amiType,
                capacityType,
                diskSize,
                scalingConfig: { minSize: args.minSize, maxSize: args.maxSize, desiredSize: args.desiredSize },
                updateConfig: { maxUnavailable: args.maxUnavailable ?? 1 },
                labels,
                taints: [{ ...GPU_NODEGROUP_TAINT }],
                tags,
            },
            {
                parent: this,
                // The role needs its policies before nodes can join; nothing in the data orders that.
                dependsOn: attachments,
                // Create-before-delete (Pulumi's default, stated for the reviewer): the keepers above rename the group on
                // every replacement, so old and new groups can coexist while pods move.
                deleteBeforeReplace: false,
                // The cluster-autoscaler scales the group between min and max by changing its desired size; without this
                // every `pulumi up` would reset the group to the configured desiredSize and fight the autoscaler.
                ignoreChanges: ["scalingConfig.desiredSize"],
            },
        );

        // Scale-from-zero: the cluster-autoscaler builds a node template from the ASG's tags. It derives whole-GPU
        // counts from the instance type, but not MIG devices nor the state label mig-manager sets at runtime, which
        // MIG workloads select; without these tags it would never scale a MIG pool up from 0 nodes.
        if (configName && mig) {
            const asgName = nodeGroup.resources.apply((r) => r[0].autoscalingGroups[0].name);
            const templateTags: Array<[string, pulumi.Input<string>]> = [
                [`k8s.io/cluster-autoscaler/node-template/label/${MIG_CONFIG_STATE_LABEL}`, "success"],
            ];
            for (const resource of Object.keys(devicesPerGpu(mig))) {
                const count = pulumi.output(args.instanceType).apply((t) => String(devicesPerNode(t, mig)?.[resource] ?? 0));
                templateTags.push([`k8s.io/cluster-autoscaler/node-template/resources/${resource}`, count]);
            }
            for (const [key, value] of templateTags) {
                const short = key.slice(key.lastIndexOf("/") + 1).replace(/[^a-z0-9.-]/gi, "-");
                new aws.autoscaling.Tag(
                    `${name}-ca-${key.includes("/label/") ? "label" : "res"}-${short}`,
                    { autoscalingGroupName: asgName, tag: { key, value, propagateAtLaunch: false } },
                    { parent: this },
                );
            }
        }

        this.nodeRoleArn = role.arn;
        this.nodeRoleName = role.name;
        this.nodeGroupName = nodeGroup.nodeGroupName;
        this.labels = labels;
        this.taints = pulumi.output([{ key: GPU_TAINT.key, value: GPU_TAINT.value, effect: GPU_TAINT.effect }]);
        this.registerOutputs({
            nodeRoleArn: this.nodeRoleArn,
            nodeRoleName: this.nodeRoleName,
            nodeGroupName: this.nodeGroupName,
            labels: this.labels,
            taints: this.taints,
        });
    }
}
