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
 * - nginx A/B (`canary.abTest`): Argo copies `canary-by-header` (+ `canary-by-header-value`) or `canary-by-cookie` onto
 *   the canary Ingress (`additionalIngressAnnotations`). ingress-nginx decides a request by them before the weight
 *   (rootfs/etc/nginx/lua/balancer.lua `route_to_alternative_balancer`): with a header value, a request whose header
 *   equals it goes to the canary and any other value falls through; without one, `always` → canary, `never` →
 *   stable; then the cookie, `always`/`never` alike; then the weight. `pinnedToCanary` is that decision.
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
export const CANARY_BY_HEADER_ANNOTATION = "nginx.ingress.kubernetes.io/canary-by-header";
export const CANARY_BY_HEADER_VALUE_ANNOTATION = "nginx.ingress.kubernetes.io/canary-by-header-value";
export const CANARY_BY_COOKIE_ANNOTATION = "nginx.ingress.kubernetes.io/canary-by-cookie";

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

/** The canary Ingress' header and cookie rules (ingress-nginx's traffic shaping policy): none without its canary annotation. */
export interface CanaryRules {
    /** `canary-by-header`, lower case (nginx reads `$http_<name>`, case-insensitive). */
    header?: string;
    /** `canary-by-header-value`: the one value that pins to the canary. */
    headerValue?: string;
    /** `canary-by-cookie`. */
    cookie?: string;
}

export function canaryRules(ingress: KubeObject | undefined): CanaryRules {
    const a = ingress?.metadata?.annotations ?? {};
    if (a[CANARY_ANNOTATION] !== "true") return {};
    const rules: CanaryRules = {};
    if (a[CANARY_BY_HEADER_ANNOTATION]) rules.header = a[CANARY_BY_HEADER_ANNOTATION].toLowerCase();
    if (rules.header && a[CANARY_BY_HEADER_VALUE_ANNOTATION]) rules.headerValue = a[CANARY_BY_HEADER_VALUE_ANNOTATION];
    if (a[CANARY_BY_COOKIE_ANNOTATION]) rules.cookie = a[CANARY_BY_COOKIE_ANNOTATION];
    return rules;
}

/** What a request carries that the rules read: headers by lower-case name, cookies by name. */
export interface RequestMarks {
    headers?: Record<string, string>;
    cookies?: Record<string, string>;
}

/**
 * ingress-nginx's header and cookie rules for one request (balancer.lua `route_to_alternative_balancer`): true →
 * the canary, false → stable, undefined → the weight decides.
 */
export function pinnedToCanary(rules: CanaryRules, marks: RequestMarks | undefined): boolean | undefined {
    const header = rules.header ? marks?.headers?.[rules.header] : undefined;
    if (header !== undefined) {
        if (rules.headerValue) {
            if (header === rules.headerValue) return true;
        } else if (header === "always") return true;
        else if (header === "never") return false;
    }
    const cookie = rules.cookie ? marks?.cookies?.[rules.cookie] : undefined;
    if (cookie === "always") return true;
    if (cookie === "never") return false;
    return undefined;
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
    /** nginx only: the canary Ingress's header and cookie rules (A/B). */
    rules?: CanaryRules;
}

/** Picks the endpoint of one request, as kube-proxy (none) or ingress-nginx in front of the two Services (nginx) would. */
export class Router {
    private readonly rr = new RoundRobin();
    private readonly split = new EvenShare();

    pick(view: RoutingView, marks?: RequestMarks): Endpoint | undefined {
        if (view.mode === "nginx" && view.canary.length > 0) {
            // A pinned request does not draw from the weight (nginx returns before math.random).
            const pinned = pinnedToCanary(view.rules ?? {}, marks);
            if (pinned ?? this.split.take(view.canaryShare)) return this.rr.next("canary", view.canary);
        }
        return this.rr.next("stable", view.stable);
    }

    /** The endpoint that receives a feedback call: the model's Service, round-robin (in-cluster callers use the Service). */
    feedback(view: RoutingView): Endpoint | undefined {
        return this.rr.next("feedback", view.stable);
    }
}
