/**
 * PodDisruptionBudget policy of a model and a model of the disruption controller's arithmetic (pure), so a test
 * can prove the budget never blocks a node drain.
 *
 * The arithmetic mirrors kube-controller-manager's disruption controller (pkg/controller/disruption,
 * `getExpectedPodCount` and `updatePdbStatus`):
 * - `maxUnavailable` (int or %): expected = the controller's replica count; desiredHealthy =
 *   expected − scaled(maxUnavailable, round up), floored at 0;
 * - `minAvailable` int: desiredHealthy = minAvailable;
 * - `minAvailable` %: desiredHealthy = scaled(minAvailable of expected, round up);
 * - disruptionsAllowed = max(0, currentHealthy − desiredHealthy).
 * An eviction (what `kubectl drain` and node-group updates use) succeeds only while disruptionsAllowed ≥ 1.
 */

export type IntOrPercent = number | `${number}%`;

export type PdbPolicy = { maxUnavailable: IntOrPercent; minAvailable?: undefined } | { minAvailable: IntOrPercent; maxUnavailable?: undefined };

/** The model PDB: one pod at a time, whatever the replica count. */
export const MODEL_PDB_POLICY = { maxUnavailable: 1 } as const satisfies PdbPolicy;

/**
 * `unhealthyPodEvictionPolicy`: pods that are not Ready (still loading weights, crash-looping) may always be
 * evicted, so a broken pod can never wedge a drain (GA in Kubernetes 1.31).
 */
export const UNHEALTHY_POD_EVICTION_POLICY = "AlwaysAllow";

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(value: IntOrPercent, total: number, roundUp: boolean): number {
    if (typeof value === "number") {
        return value;
    }
    const pct = Number(value.slice(0, -1));
    if (!Number.isFinite(pct)) {
        throw new Error(`invalid percentage ${value}`);
    }
    const raw = (pct * total) / 100;
    return roundUp ? Math.ceil(raw) : Math.floor(raw);
}

/** Healthy pods the budget requires with `expectedReplicas` desired. */
export function desiredHealthy(policy: PdbPolicy, expectedReplicas: number): number {
    if (policy.maxUnavailable !== undefined) {
        return Math.max(0, expectedReplicas - scaledValue(policy.maxUnavailable, expectedReplicas, true));
    }
    return scaledValue(policy.minAvailable, expectedReplicas, true);
}

/** status.disruptionsAllowed for `healthyReplicas` Ready pods out of `expectedReplicas`. */
export function disruptionsAllowed(policy: PdbPolicy, expectedReplicas: number, healthyReplicas: number): number {
    return Math.max(0, healthyReplicas - desiredHealthy(policy, expectedReplicas));
}

/**
 * Whether a drain can evict a pod when the model sits at `minReplicas` with every pod Ready — the worst case for
 * a drain (the HPA is at its floor, so no spare replica exists).
 */
export function drainCanProgress(policy: PdbPolicy, minReplicas: number): boolean {
    return disruptionsAllowed(policy, minReplicas, minReplicas) >= 1;
}
