import { strict as assert } from "assert";
import { gpuScheduling } from "../../components/gpu/workloadGpu";
import { gpuResources, KWOK_ANNOTATION, poolNodes, SANDBOX_POOL_LABEL, sandboxNodes } from "../../sandbox/cluster/nodes";
import { formatRows, podGpu, podRows } from "../../sandbox/cluster/view";

const mig = {
    name: "a100-mig",
    instanceType: "p4de.24xlarge",
    nodeSelector: { "model-fleet.io/gpu-pool": "a100-mig" },
    nodes: 1,
    mig: { strategy: "mixed" as const, layout: { "3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2 } },
};
const l4 = { name: "l4", instanceType: "g6.xlarge", nodeSelector: { "model-fleet.io/gpu-pool": "l4" }, nodes: 3 };

describe("sandbox fake nodes", () => {
    it("advertise what the device plugin would: whole GPUs, or MIG devices per profile across all GPUs", () => {
        assert.deepEqual(gpuResources(l4), { "nvidia.com/gpu": 1 });
        assert.deepEqual(gpuResources(mig), { "nvidia.com/mig-3g.40gb": 8, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-1g.10gb": 16 });
        assert.deepEqual(gpuResources({ ...mig, mig: { strategy: "single", layout: { "1g.10gb": 7 } } }), { "nvidia.com/gpu": 56 });
    });

    it("one kwok node per pool node, labelled, tainted and sized like the instance type", () => {
        const nodes = poolNodes(l4);
        assert.deepEqual(
            nodes.map((n) => n.metadata.name),
            ["l4-0", "l4-1", "l4-2"],
        );
        const n = nodes[0];
        assert.equal(n.metadata.annotations[KWOK_ANNOTATION.key], KWOK_ANNOTATION.value);
        assert.equal(n.metadata.labels["model-fleet.io/gpu-pool"], "l4");
        assert.equal(n.metadata.labels["nvidia.com/gpu.product"], "NVIDIA-L4");
        assert.equal(n.metadata.labels[SANDBOX_POOL_LABEL], "l4");
        assert.deepEqual(n.spec.taints, [{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }]);
        assert.equal(n.status.allocatable.cpu, "4");
        assert.equal(n.status.allocatable.memory, "16Gi");
    });

    it("MIG nodes carry mig-manager's config labels, so the program's own selectors match them", () => {
        const [n] = poolNodes(mig);
        const sched = gpuScheduling({ pool: "a100-mig", profile: "1g.10gb", count: 1 }, mig);
        for (const [k, v] of Object.entries(sched.nodeSelector)) {
            assert.equal(n.metadata.labels[k], v, `node label ${k}`);
        }
        for (const t of sched.tolerations) {
            assert.ok(n.spec.taints!.some((x) => x.key === t.key && x.value === t.value && x.effect === t.effect));
        }
        for (const [r, q] of Object.entries(sched.limits)) {
            assert.ok(Number(n.status.allocatable[r]) >= Number(q), `${r} allocatable`);
        }
    });

    it("adds untainted system nodes and refuses an instance type it has no figures for", () => {
        const all = sandboxNodes([l4, mig]);
        assert.equal(all.filter((x) => x.metadata.labels[SANDBOX_POOL_LABEL] === "system").length, 2);
        assert.ok(all.filter((x) => x.metadata.labels[SANDBOX_POOL_LABEL] === "system").every((x) => x.spec.taints === undefined));
        assert.throws(() => poolNodes({ name: "x", instanceType: "g6.4xlarge", nodes: 1 }), /no CPU\/memory figures for g6\.4xlarge/);
    });
});

describe("sandbox pod view", () => {
    const pod = (name: string, node: string, limits: Record<string, string>, ready: boolean) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { "app.kubernetes.io/name": name.split("-")[0] } },
        spec: { nodeName: node, containers: [{ name: "server", resources: { limits: { cpu: "1", ...limits } } }] },
        status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
    });
    it("shows each pod's node, pool, GPU resource and readiness", () => {
        const nodes = sandboxNodes([l4, mig]) as any[];
        const rows = podRows(
            [pod("embedder-x", "a100-mig-0", { "nvidia.com/mig-1g.10gb": "1" }, true), pod("sentiment-y", "l4-1", { "nvidia.com/gpu": "1" }, false)],
            nodes,
        );
        assert.deepEqual(
            rows.map((r) => [r.model, r.pool, r.gpu, r.ready]),
            [
                ["embedder", "a100-mig", "nvidia.com/mig-1g.10gb: 1", true],
                ["sentiment", "l4", "nvidia.com/gpu: 1", false],
            ],
        );
        assert.match(formatRows(rows), /^POD\s+MODEL\s+NODE\s+POOL\s+GPU\s+PHASE\s+READY\n/);
        assert.equal(podGpu(pod("cpu-z", "system-0", {}, true)), "");
    });
});
