/**
 * Fake nodes for the sandbox (pure): one kwok-managed Node per node of each `gpuPools` entry, carrying what the
 * real node would report once the NVIDIA device plugin, GPU feature discovery and mig-manager ran on it:
 *   - allocatable `nvidia.com/gpu: N` (whole GPUs), or `nvidia.com/mig-<profile>: GPUs × count` (MIG `mixed`),
 *     or `nvidia.com/gpu: GPUs × count` (MIG `single`, the device plugin's single strategy);
 *   - labels `nvidia.com/gpu.present|product|count|memory`, `nvidia.com/mig.capable`, `nvidia.com/mig.strategy`
 *     (GFD), `nvidia.com/mig.config` + `nvidia.com/mig.config.state=success` (mig-manager), plus the pool's
 *     `nodeSelector` labels an administrator put on the existing nodes;
 *   - the GPU taint every GPU node of the fleet carries.
 * kwok (annotation `kwok.x-k8s.io/node: fake`) then runs their lifecycle: Ready, leases, pod phases.
 */
import { GPU_TAINT } from "../../components/gpu/labels";
import { devicesPerNode, instanceGpu, GpuModel } from "../../domain/gpu/catalogue";
import { MIG_CONFIG_LABEL, migConfigName } from "../../components/gpu/migConfig";
import { MIG_CONFIG_STATE_LABEL } from "../../components/gpu/labels";

export const KWOK_ANNOTATION = { key: "kwok.x-k8s.io/node", value: "fake" } as const;
/** Label on every sandbox node: which pool it stands in for (`system` for the CPU nodes). */
export const SANDBOX_POOL_LABEL = "sandbox.model-fleet.io/pool";

/** vCPUs and memory (GiB) of the instance types the GPU catalogue knows (AWS's published figures). */
export const INSTANCE_SIZES: Readonly<Record<string, { cpu: number; memoryGiB: number }>> = {
    "g5.xlarge": { cpu: 4, memoryGiB: 16 },
    "g5.2xlarge": { cpu: 8, memoryGiB: 32 },
    "g5.12xlarge": { cpu: 48, memoryGiB: 192 },
    "g5.48xlarge": { cpu: 192, memoryGiB: 768 },
    "g6.xlarge": { cpu: 4, memoryGiB: 16 },
    "g6.2xlarge": { cpu: 8, memoryGiB: 32 },
    "g6.12xlarge": { cpu: 48, memoryGiB: 192 },
    "g6.48xlarge": { cpu: 192, memoryGiB: 768 },
    "g6e.xlarge": { cpu: 4, memoryGiB: 32 },
    "g6e.12xlarge": { cpu: 48, memoryGiB: 384 },
    "g6e.48xlarge": { cpu: 192, memoryGiB: 1536 },
    "p4d.24xlarge": { cpu: 96, memoryGiB: 1152 },
    "p4de.24xlarge": { cpu: 96, memoryGiB: 1152 },
    "p5.48xlarge": { cpu: 192, memoryGiB: 2048 },
    "p5e.48xlarge": { cpu: 192, memoryGiB: 2048 },
    "p5en.48xlarge": { cpu: 192, memoryGiB: 2048 },
};

/** GFD's `nvidia.com/gpu.product` value per GPU model. */
const GFD_PRODUCT: Readonly<Record<GpuModel, string>> = {
    "A100-40GB": "NVIDIA-A100-SXM4-40GB",
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "H100-80GB": "NVIDIA-H100-80GB-HBM3",
    "H200-141GB": "NVIDIA-H200",
    A10G: "NVIDIA-A10G",
    L4: "NVIDIA-L4",
    L40S: "NVIDIA-L40S",
};

export interface SandboxPool {
    name: string;
    instanceType: string;
    nodeSelector?: Record<string, string>;
    nodes?: number;
    mig?: { strategy: "none" | "single" | "mixed"; layout: Record<string, number> };
}

export interface NodeObject {
    apiVersion: "v1";
    kind: "Node";
    metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
    spec: { taints?: Array<{ key: string; value: string; effect: string }> };
    status: { allocatable: Record<string, string>; capacity: Record<string, string>; nodeInfo: Record<string, string> };
}

/** What the device plugin advertises on one node of the pool. */
export function gpuResources(pool: SandboxPool): Record<string, number> {
    const hw = instanceGpu(pool.instanceType);
    if (!hw) {
        throw new Error(`pool ${pool.name}: ${pool.instanceType} is not a GPU instance type the catalogue knows`);
    }
    return devicesPerNode(pool.instanceType, pool.mig)!;
}

/** The node annotation metrics-server v0.8.0 takes as the node's resource-metrics path (kwok kustomize/kwokctl/resource/node.yaml). */
export const RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path";

function baseNode(name: string, cpu: number, memoryGiB: number, labels: Record<string, string>, instanceType: string): NodeObject {
    const resources = { cpu: String(cpu), memory: `${memoryGiB}Gi`, pods: "110", "ephemeral-storage": "200Gi" };
    return {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
            name,
            labels: {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": instanceType,
                type: "kwok",
                ...labels,
            },
            annotations: {
                [KWOK_ANNOTATION.key]: KWOK_ANNOTATION.value,
                "node.alpha.kubernetes.io/ttl": "0",
                // Where metrics-server scrapes this node (kwok's Metric path; metrics-server pkg/scraper/client/resource/client.go).
                [RESOURCE_METRICS_PATH_ANNOTATION]: `/metrics/nodes/${name}/metrics/resource`,
            },
        },
        spec: {},
        status: {
            allocatable: { ...resources },
            capacity: { ...resources },
            nodeInfo: { architecture: "amd64", operatingSystem: "linux", kubeletVersion: "fake", kubeProxyVersion: "fake" },
        },
    };
}

/** The fake nodes of one GPU pool. */
export function poolNodes(pool: SandboxPool): NodeObject[] {
    const size = INSTANCE_SIZES[pool.instanceType];
    const hw = instanceGpu(pool.instanceType);
    if (!size || !hw) {
        throw new Error(`pool ${pool.name}: the sandbox has no CPU/memory figures for ${pool.instanceType} (known: ${Object.keys(INSTANCE_SIZES).join(", ")})`);
    }
    const strategy = pool.mig?.strategy ?? "none";
    const gfd: Record<string, string> = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": GFD_PRODUCT[hw.gpu],
        "nvidia.com/gpu.count": String(hw.count),
        "nvidia.com/gpu.memory": String(hw.memoryGiB * 1024),
        "nvidia.com/mig.capable": String(hw.migCapable),
    };
    if (strategy !== "none") {
        gfd["nvidia.com/mig.strategy"] = strategy;
        gfd[MIG_CONFIG_LABEL] = migConfigName({ name: pool.name, mig: pool.mig! });
        gfd[MIG_CONFIG_STATE_LABEL] = "success";
    }
    const count = pool.nodes ?? 1;
    return Array.from({ length: count }, (_, i) => {
        const node = baseNode(
            `${pool.name}-${i}`,
            size.cpu,
            size.memoryGiB,
            { ...gfd, ...(pool.nodeSelector ?? {}), [SANDBOX_POOL_LABEL]: pool.name },
            pool.instanceType,
        );
        for (const [resource, n] of Object.entries(gpuResources(pool))) {
            node.status.allocatable[resource] = String(n);
            node.status.capacity[resource] = String(n);
        }
        node.spec.taints = [{ key: GPU_TAINT.key, value: GPU_TAINT.value, effect: GPU_TAINT.effect }];
        return node;
    });
}

/** Untainted CPU nodes for what is not a GPU workload (CPU-only models). */
export function systemNodes(count = 2): NodeObject[] {
    return Array.from({ length: count }, (_, i) => baseNode(`system-${i}`, 8, 32, { [SANDBOX_POOL_LABEL]: "system" }, "m6i.2xlarge"));
}

/** Every fake node of a stack: its GPU pools and the system nodes. */
export function sandboxNodes(pools: readonly SandboxPool[]): NodeObject[] {
    return [...systemNodes(), ...pools.flatMap(poolNodes)];
}
