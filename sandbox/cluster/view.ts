/** The sandbox's pod view (pure): each model pod with its node, pool, GPU resource, phase and readiness. */
import type { KubeObject } from "./kube";
import { SANDBOX_POOL_LABEL } from "./nodes";

export interface PodRow {
    pod: string;
    model: string;
    node: string;
    pool: string;
    gpu: string;
    phase: string;
    ready: boolean;
}

const GPU_RESOURCE = /^nvidia\.com\//;

/** GPU resources a pod's containers ask for, as `resource: n` (empty string when none). */
export function podGpu(pod: KubeObject): string {
    const totals = new Map<string, number>();
    for (const c of pod.spec?.containers ?? []) {
        for (const [k, v] of Object.entries<string>(c.resources?.limits ?? {})) {
            if (GPU_RESOURCE.test(k)) totals.set(k, (totals.get(k) ?? 0) + Number(v));
        }
    }
    return [...totals].map(([k, v]) => `${k}: ${v}`).join(", ");
}

export function podRows(pods: KubeObject[], nodes: KubeObject[]): PodRow[] {
    const poolOf = new Map(nodes.map((n) => [n.metadata?.name ?? "", n.metadata?.labels?.[SANDBOX_POOL_LABEL] ?? "?"]));
    return pods
        .map((p) => ({
            pod: p.metadata?.name ?? "",
            model: p.metadata?.labels?.["app.kubernetes.io/name"] ?? "",
            node: p.spec?.nodeName ?? "(unscheduled)",
            pool: poolOf.get(p.spec?.nodeName ?? "") ?? "-",
            gpu: podGpu(p) || "-",
            phase: p.status?.phase ?? "Unknown",
            ready: (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
        }))
        .sort((a, b) => a.model.localeCompare(b.model) || a.pod.localeCompare(b.pod));
}

export function formatRows(rows: PodRow[]): string {
    const head = ["POD", "MODEL", "NODE", "POOL", "GPU", "PHASE", "READY"];
    const cells = rows.map((r) => [r.pod, r.model, r.node, r.pool, r.gpu, r.phase, r.ready ? "yes" : "no"]);
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    return [head, ...cells]
        .map((c) =>
            c
                .map((x, i) => x.padEnd(widths[i]))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}
