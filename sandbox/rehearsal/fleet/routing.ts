/**
 * How the cluster would split the rehearsal's traffic (pure): the Service's ready endpoints from the API server's
 * EndpointSlices, round-robin among them, and with nginx routing the share Argo writes on the canary Ingress.
 *
 * - Endpoints: `discovery.k8s.io/v1` EndpointSlices labelled `kubernetes.io/service-name=<service>`; an endpoint
 *   is used when `conditions.ready` is not false (the API's rule: nil means ready; k8s.io/api discovery/v1
 *   types.go `EndpointConditions.Ready`) and it targets a Pod. kube-proxy's IPVS mode round-robins over them
 *   (its iptables mode picks at random); the rehearsal round-robins, so a version's share equals its endpoints' share.
 * - nginx: Argo Rollouts writes `nginx.ingress.kubernetes.io/canary: "true"` and `canary-weight` on the canary
 *   Ingress it creates (argo-rollouts rollout/trafficrouting/nginx/nginx.go); ingress-nginx sends that percentage of
 *   requests to the canary Service (`canary-weight-total`, default 100, is the denominator). ingress-nginx draws at
 *   random per request; the rehearsal spreads the share evenly (error diffusion), so a 25 % weight is exactly every
 *   fourth request.
 */
import type { KubeObject } from "../../cluster/kube";

export interface Endpoint {
    namespace: string;
    pod: string;
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary";
export const CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight";
export const CANARY_WEIGHT_TOTAL_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight-total";

/** The ready Pod endpoints of a Service's EndpointSlices, deduplicated, sorted by pod name (a stable round-robin order). */
export function readyEndpoints(slices: KubeObject[], service: string): Endpoint[] {
    const seen = new Map<string, Endpoint>();
    for (const s of slices) {
        if (s.metadata?.labels?.[SERVICE_NAME_LABEL] !== service) continue;
        for (const e of (s as { endpoints?: any[] }).endpoints ?? []) {
            if (e?.conditions?.ready === false) continue;
            const ref = e?.targetRef;
            if (ref?.kind !== "Pod" || !ref.name) continue;
            const ns = ref.namespace ?? s.metadata?.namespace ?? "";
            seen.set(`${ns}/${ref.name}`, { namespace: ns, pod: ref.name });
        }
    }
    return [...seen.values()].sort((a, b) => a.pod.localeCompare(b.pod));
}

/** The canary share (0..1) the canary Ingress asks ingress-nginx for: 0 without the Ingress or its canary annotation. */
export function canaryShare(ingress: KubeObject | undefined): number {
    const a = ingress?.metadata?.annotations ?? {};
    if (a[CANARY_ANNOTATION] !== "true") return 0;
    const weight = Number(a[CANARY_WEIGHT_ANNOTATION] ?? 0);
    const total = Number(a[CANARY_WEIGHT_TOTAL_ANNOTATION] ?? 100);
    if (!Number.isFinite(weight) || !Number.isFinite(total) || total <= 0) return 0;
    return Math.min(1, Math.max(0, weight / total));
}

/** Round-robin over a list that may change between calls (pods come and go): one cursor per key. */
export class RoundRobin {
    private readonly cursors = new Map<string, number>();

    next<T>(key: string, items: readonly T[]): T | undefined {
        if (items.length === 0) return undefined;
        const i = (this.cursors.get(key) ?? 0) % items.length;
        this.cursors.set(key, i + 1);
        return items[i];
    }
}

/**
 * Spreads a share evenly over a sequence of decisions (error diffusion): `take(0.25)` is true on every fourth call.
 * The share may change between calls (Argo moves the weight); the carried error keeps the long-run share exact.
 */
export class EvenShare {
    private credit = 0;

    take(share: number): boolean {
        const s = Math.min(1, Math.max(0, share));
        this.credit += s;
        if (this.credit >= 1 - 1e-9) {
            this.credit -= 1;
            return true;
        }
        return false;
    }
}

export type RoutingMode = "none" | "nginx";

/** Where the cluster's traffic for the model is: the Services' ready endpoints, and the canary Ingress's share. */
export interface RoutingView {
    mode: RoutingMode;
    /** Ready endpoints of the model's (stable) Service: every pod of the model with replica weighting, stable's with nginx. */
    stable: Endpoint[];
    /** nginx only: ready endpoints of the canary Service. */
    canary: Endpoint[];
    /** nginx only: the canary Ingress's share, 0..1. */
    canaryShare: number;
}

/** Picks the endpoint of one request, as kube-proxy (none) or ingress-nginx in front of the two Services (nginx) would. */
export class Router {
    private readonly rr = new RoundRobin();
    private readonly split = new EvenShare();

    pick(view: RoutingView): Endpoint | undefined {
        if (view.mode === "nginx" && view.canary.length > 0 && this.split.take(view.canaryShare)) return this.rr.next("canary", view.canary);
        return this.rr.next("stable", view.stable);
    }

    /** The endpoint that receives a feedback call: the model's Service, round-robin (in-cluster callers use the Service). */
    feedback(view: RoutingView): Endpoint | undefined {
        return this.rr.next("feedback", view.stable);
    }
}
