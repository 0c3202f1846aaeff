import * as assert from "assert";
import { GpuNodePool, NODE_ROLE_POLICIES, gpuNodeRoleName, gpuNodeRoleNamePattern } from "../../components/gpu/GpuNodePool";
import { migConfigName, migPartedConfig } from "../../components/gpu/migConfig";
import { MockResource, byType, runProgram, unwrap } from "../../support/harness";

const mixedLayout = { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 };
const base = {
    clusterName: "fleet",
    subnetIds: ["subnet-private-b", "subnet-private-a"],
    minSize: 1,
    maxSize: 3,
    desiredSize: 1,
};

async function pool(args: Partial<ConstructorParameters<typeof GpuNodePool>[1]> & { name: string; instanceType: string }, stack = "prod") {
    return runProgram(
        async () => {
            const p = new GpuNodePool(args.name, { ...base, ...args });
            return {
                labels: await unwrap(p.labels),
                taints: await unwrap(p.taints),
                nodeRoleArn: await unwrap(p.nodeRoleArn),
                nodeGroupName: await unwrap(p.nodeGroupName),
            };
        },
        { stack },
    );
}

const one = (resources: MockResource[], type: string): MockResource => {
    const found = byType(resources, type);
    assert.strictEqual(found.length, 1, `${type}: ${found.length}`);
    return found[0];
};

describe("GpuNodePool", () => {
    it("declares a node group with the GPU taint, pool labels, AL2023 NVIDIA AMI, scaling and update config", async () => {
        const { resources, result } = await pool({ name: "l4", instanceType: "g6.xlarge" });
        const ng = one(resources, "aws:eks/nodeGroup:NodeGroup");
        assert.strictEqual(ng.inputs.clusterName, "fleet");
        assert.deepStrictEqual(ng.inputs.instanceTypes, ["g6.xlarge"]);
        assert.strictEqual(ng.inputs.amiType, "AL2023_x86_64_NVIDIA");
        assert.strictEqual(ng.inputs.capacityType, "ON_DEMAND");
        assert.strictEqual(ng.inputs.diskSize, 200);
        assert.deepStrictEqual(ng.inputs.subnetIds, ["subnet-private-b", "subnet-private-a"]);
        assert.deepStrictEqual(ng.inputs.taints, [{ key: "nvidia.com/gpu", value: "true", effect: "NO_SCHEDULE" }]);
        assert.deepStrictEqual(ng.inputs.scalingConfig, { minSize: 1, maxSize: 3, desiredSize: 1 });
        assert.deepStrictEqual(ng.inputs.updateConfig, { maxUnavailable: 1 });
        assert.deepStrictEqual(ng.inputs.labels, {
            "model-fleet.io/gpu-pool": "l4",
            "model-fleet.io/gpu-model": "L4",
            "model-fleet.io/gpu-ami-family": "al2023",
            "nvidia.com/device-plugin.config": "mig-none",
            "nvidia.com/gpu.deploy.operands": "false",
        });
        assert.deepStrictEqual(result.labels, ng.inputs.labels);
        assert.deepStrictEqual(result.taints, [{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }]);
        assert.match(ng.inputs.nodeGroupName, /^model-fleet-prod-l4-[0-9a-f]{8}$/);
        assert.strictEqual(result.nodeGroupName, ng.inputs.nodeGroupName);
        assert.strictEqual(one(resources, "model-fleet:gpu:GpuNodePool").name, "l4");
    });

    it("gives the node role the stack in its name, EC2 trust and the three worker policies", async () => {
        const { resources, result } = await pool({ name: "h100", instanceType: "p5.48xlarge" }, "staging");
        const role = one(resources, "aws:iam/role:Role");
        assert.strictEqual(role.inputs.name, "model-fleet-staging-h100-node");
        assert.strictEqual(role.inputs.name, gpuNodeRoleName("model-fleet-staging", "h100"));
        assert.deepStrictEqual(JSON.parse(role.inputs.assumeRolePolicy).Statement, [
            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
        ]);
        const attached = byType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            .map((a) => a.inputs.policyArn)
            .sort();
        assert.deepStrictEqual(attached, [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]);
        assert.strictEqual(NODE_ROLE_POLICIES.length, 3);
        for (const a of byType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
            assert.strictEqual(a.inputs.role, "model-fleet-staging-h100-node");
        assert.strictEqual(result.nodeRoleArn, "arn:aws:iam::123456789012:role/model-fleet-staging-h100-node");
        assert.strictEqual(one(resources, "aws:eks/nodeGroup:NodeGroup").inputs.nodeRoleArn, result.nodeRoleArn);
    });

    it("role names match the pattern the registry grants pull to, and two stacks never share a role", () => {
        const pattern = gpuNodeRoleNamePattern("model-fleet-prod");
        assert.strictEqual(pattern, "model-fleet-prod-*-node");
        const re = new RegExp(`^${pattern.replace(/\*/g, ".*")}$`);
        assert.ok(re.test(gpuNodeRoleName("model-fleet-prod", "h100")));
        assert.ok(!re.test(gpuNodeRoleName("model-fleet-dev", "h100")));
        assert.notStrictEqual(gpuNodeRoleName("model-fleet-dev", "h100"), gpuNodeRoleName("model-fleet-prod", "h100"));
    });

    it("names the group by a RandomId whose keepers are everything that forces replacement", async () => {
        const { resources } = await pool({
            name: "mig",
            instanceType: "p5.48xlarge",
            capacityType: "SPOT",
            diskSizeGiB: 500,
            mig: { strategy: "mixed", layout: mixedLayout },
        });
        const id = one(resources, "random:index/randomId:RandomId");
        assert.strictEqual(id.inputs.byteLength, 4);
        assert.deepStrictEqual(id.inputs.keepers, {
            instanceType: "p5.48xlarge",
            amiType: "AL2023_x86_64_NVIDIA",
            capacityType: "SPOT",
            diskSize: "500",
            subnetIds: "subnet-private-a,subnet-private-b",
            nodeRole: "model-fleet-prod-mig-node",
            migConfig: migConfigName({ name: "mig", mig: { strategy: "mixed", layout: mixedLayout } }),
        });
        const ng = one(resources, "aws:eks/nodeGroup:NodeGroup");
        assert.strictEqual(ng.inputs.nodeGroupName, `model-fleet-prod-mig-${id.state.hex}`);
        assert.strictEqual(ng.inputs.capacityType, "SPOT");
        assert.strictEqual(ng.inputs.diskSize, 500);
    });

    it("changes the group name when the MIG layout changes (replacement on fresh nodes)", async () => {
        const a = await pool({ name: "mig", instanceType: "p5.48xlarge", mig: { strategy: "mixed", layout: mixedLayout } });
        const b = await pool({ name: "mig", instanceType: "p5.48xlarge", mig: { strategy: "mixed", layout: { "3g.40gb": 2 } } });
        const name = (r: MockResource[]) => one(r, "aws:eks/nodeGroup:NodeGroup").inputs.nodeGroupName;
        assert.notStrictEqual(name(a.resources), name(b.resources));
    });

    it("labels a MIG pool with the mig-parted config the add-ons render, and tags the ASG for scale-from-zero", async () => {
        const mig = { strategy: "mixed" as const, layout: mixedLayout };
        const { resources, result } = await pool({ name: "mig", instanceType: "p5.48xlarge", mig });
        const config = migConfigName({ name: "mig", mig });
        assert.deepStrictEqual(result.labels, {
            "model-fleet.io/gpu-pool": "mig",
            "model-fleet.io/gpu-model": "H100-80GB",
            "model-fleet.io/gpu-ami-family": "al2023",
            "nvidia.com/device-plugin.config": "mig-mixed",
            "nvidia.com/mig.config": config,
        });
        assert.deepStrictEqual(migPartedConfig([{ name: "mig", mig }])["mig-configs"][config][0]["mig-devices"], mixedLayout);
        const tags = byType(resources, "aws:autoscaling/tag:Tag").map((t) => [
            t.inputs.autoscalingGroupName,
            t.inputs.tag.key,
            t.inputs.tag.value,
            t.inputs.tag.propagateAtLaunch,
        ]);
        const asg = `eks-${one(resources, "aws:eks/nodeGroup:NodeGroup").inputs.nodeGroupName}-mock`;
        assert.deepStrictEqual(tags.sort(), [
            [asg, "k8s.io/cluster-autoscaler/node-template/label/nvidia.com/mig.config.state", "success", false],
            [asg, "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/mig-1g.10gb", "16", false],
            [asg, "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/mig-2g.20gb", "8", false],
            [asg, "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/mig-3g.40gb", "8", false],
        ]);
    });

    it("single strategy: advertises the MIG devices as nvidia.com/gpu to the autoscaler", async () => {
        const { resources, result } = await pool({ name: "small", instanceType: "p4d.24xlarge", mig: { strategy: "single", layout: { "1g.5gb": 7 } } });
        assert.strictEqual(result.labels["nvidia.com/device-plugin.config"], "mig-single");
        const tags = byType(resources, "aws:autoscaling/tag:Tag").map((t) => [t.inputs.tag.key, t.inputs.tag.value]);
        assert.deepStrictEqual(tags.sort(), [
            ["k8s.io/cluster-autoscaler/node-template/label/nvidia.com/mig.config.state", "success"],
            ["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu", "56"],
        ]);
    });

    it("supports Bottlerocket for whole-GPU pools (no autoscaler tags needed)", async () => {
        const { resources, result } = await pool({ name: "br", instanceType: "g6e.2xlarge", amiType: "BOTTLEROCKET_x86_64_NVIDIA", maxUnavailable: 2 });
        const ng = one(resources, "aws:eks/nodeGroup:NodeGroup");
        assert.strictEqual(ng.inputs.amiType, "BOTTLEROCKET_x86_64_NVIDIA");
        assert.deepStrictEqual(ng.inputs.updateConfig, { maxUnavailable: 2 });
        assert.strictEqual(result.labels["model-fleet.io/gpu-ami-family"], "bottlerocket");
        assert.strictEqual(result.labels["model-fleet.io/gpu-model"], "L40S");
        assert.strictEqual(byType(resources, "aws:autoscaling/tag:Tag").length, 0);
    });

    it("rejects MIG on Bottlerocket (mig-manager cannot repartition it)", async () => {
        await assert.rejects(
            pool({ name: "brmig", instanceType: "p5.48xlarge", amiType: "BOTTLEROCKET_x86_64_NVIDIA", mig: { strategy: "mixed", layout: mixedLayout } }),
            /amiType \(BOTTLEROCKET_x86_64_NVIDIA\) cannot run MIG pools: the GPU Operator's mig-manager cannot repartition Bottlerocket hosts/,
        );
    });

    it("rejects names IAM or EKS cannot hold", async () => {
        await assert.rejects(
            pool({ name: "a-very-long-pool-name", instanceType: "g6.xlarge" }, "an-unusually-long-stack-name-x"),
            /exceeds EKS's 63 characters|IAM allows 64/,
        );
    });
});
