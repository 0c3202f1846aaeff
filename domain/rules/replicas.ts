/** The replica rules of a model's autoscaling: min ≤ max, and two replicas in production. */
import { isInt, RuleIssue } from "./issues";

export type Environment = "development" | "production";

/**
 * Problems of `autoscaling.minReplicas`/`maxReplicas`. One replica cannot survive a node drain: the PDB
 * (maxUnavailable 1) would let the drain evict it (Kubernetes "Specifying a Disruption Budget").
 */
export function replicasIssues(autoscaling: { minReplicas?: unknown; maxReplicas?: unknown } | undefined, environment: Environment): RuleIssue[] {
    const min = autoscaling?.minReplicas;
    const max = autoscaling?.maxReplicas;
    if (!isInt(min) || !isInt(max)) return [];
    const out: RuleIssue[] = [];
    const path = "autoscaling.minReplicas";
    if (min > max) out.push({ path, value: min, reason: `must be ≤ maxReplicas (${max})` });
    if (environment === "production" && min < 2) out.push({ path, value: min, reason: "must be ≥ 2 in production (one replica cannot survive a node drain)" });
    return out;
}
