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
 * - istio: Argo writes the VirtualService's routes (rollout/trafficrouting/istio/istio.go): the weights of the
 *   `primary` route, and ahead of it the header route (`setHeaderRoute`) and the mirror route (`setMirrorRoute`: the
 *   primary's destinations plus `mirror` and `mirrorPercentage`). Envoy takes the first HTTP route one of whose `match`
 *   blocks matches (a route without `match` matches every request), picks a destination by weight, and with a `mirror`
 *   sends a copy of that share of the requests to the mirror host and drops its answer
 *   (https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute). `istioRouteFor` is the
 *   first step; the router does the weights and the copy. A destination's host is a Service name (or its FQDN).
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

/** An Istio string match (exact, prefix, or an RE2 regex that must match the whole value). */
export interface StringMatch {
    exact?: string;
    prefix?: string;
    regex?: string;
}

/** One HTTP route of a VirtualService, as far as routing a request reads it. */
export interface IstioHttpRoute {
    name?: string;
    match?: Array<{ uri?: StringMatch; method?: StringMatch; headers?: Record<string, StringMatch> }>;
    route?: Array<{ destination?: { host?: string }; weight?: number }>;
    mirror?: { host?: string };
    mirrorPercentage?: { value?: number };
}

/** What a request is, for the routers: its path, method and marks. */
export interface RoutedRequest extends RequestMarks {
    path: string;
    method: string;
}

export function stringMatches(m: StringMatch | undefined, value: string | undefined): boolean {
    if (m === undefined) return true;
    if (value === undefined) return false;
    if (m.exact !== undefined) return value === m.exact;
    if (m.prefix !== undefined) return value.startsWith(m.prefix);
    if (m.regex !== undefined) return new RegExp(`^(?:${m.regex})$`).test(value);
    return true;
}

/** The first HTTP route the request matches (every condition of one of its match blocks; no match: every request). */
export function istioRouteFor(http: readonly IstioHttpRoute[], req: RoutedRequest): IstioHttpRoute | undefined {
    const cookieHeader = Object.entries(req.cookies ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join("; ");
    const headers: Record<string, string> = { ...(cookieHeader ? { cookie: cookieHeader } : {}), ...req.headers };
    return http.find(
        (r) =>
            !r.match?.length ||
            r.match.some(
                (m) =>
                    stringMatches(m.uri, req.path) &&
                    stringMatches(m.method, req.method) &&
                    Object.entries(m.headers ?? {}).every(([name, hm]) => stringMatches(hm, headers[name.toLowerCase()])),
            ),
    );
}

/** The canary's share of a route's destinations, by weight (0 without a canary destination). */
export function routeCanaryShare(route: IstioHttpRoute | undefined, isCanaryHost: (host: string) => boolean): number {
    const dests = route?.route ?? [];
    const total = dests.reduce((a, d) => a + Number(d.weight ?? (dests.length === 1 ? 100 : 0)), 0);
    if (total <= 0) return 0;
    const canary = dests.filter((d) => isCanaryHost(d.destination?.host ?? "")).reduce((a, d) => a + Number(d.weight ?? (dests.length === 1 ? 100 : 0)), 0);
    return canary / total;
}

/** The Service a destination host names: `sentiment-canary`, `sentiment-canary.models.svc.cluster.local` → sentiment-canary. */
export const serviceOfHost = (host: string) => host.split(".")[0];

export type RoutingMode = "none" | "nginx" | "istio";

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
    /** istio only: the VirtualService's HTTP routes, and the canary Service's name. */
    http?: IstioHttpRoute[];
    canaryService?: string;
}

/** Where one request goes: the endpoint that answers it, and the one that gets a copy (Istio's mirror), if any. */
export interface Routed {
    endpoint?: Endpoint;
    mirror?: Endpoint;
    /** istio: the route it took (its name), or none when no route matched (Envoy answers 404). */
    route?: string;
}

/** Picks the endpoint of one request as kube-proxy (none), ingress-nginx in front of the two Services (nginx) or Envoy under the VirtualService (istio) would. */
export class Router {
    private readonly rr = new RoundRobin();
    private readonly split = new EvenShare();
    /** istio: a weight split and a mirror share per route. */
    private readonly splits: Record<string, EvenShare> = {};
    private readonly mirrors: Record<string, EvenShare> = {};

    pick(view: RoutingView, marks?: RequestMarks): Endpoint | undefined {
        return this.route(view, { path: "/", method: "POST", ...marks }).endpoint;
    }

    /** The endpoint of one request, and with Istio the copy its route mirrors. */
    route(view: RoutingView, req: RoutedRequest): Routed {
        if (view.mode === "istio") return this.istio(view, req);
        return { endpoint: this.proxied(view, req) };
    }

    private istio(view: RoutingView, req: RoutedRequest): Routed {
        const route = istioRouteFor(view.http ?? [], req);
        if (!route) return {};
        const isCanary = (host: string) => serviceOfHost(host) === view.canaryService;
        const key = route.name ?? "";
        const toCanary = (this.splits[key] ??= new EvenShare()).take(routeCanaryShare(route, isCanary));
        // Envoy answers 503 (no healthy upstream) when the picked destination has no ready endpoint.
        const endpoint = toCanary ? this.rr.next("canary", view.canary) : this.rr.next("stable", view.stable);
        let mirror: Endpoint | undefined;
        const share = Number(route.mirror?.host ? (route.mirrorPercentage?.value ?? 100) : 0) / 100;
        if (share > 0 && (this.mirrors[key] ??= new EvenShare()).take(share)) {
            mirror = isCanary(route.mirror!.host!) ? this.rr.next("mirror", view.canary) : this.rr.next("mirror", view.stable);
        }
        return { endpoint, ...(mirror ? { mirror } : {}), route: key };
    }

    private proxied(view: RoutingView, marks: RequestMarks): Endpoint | undefined {
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
