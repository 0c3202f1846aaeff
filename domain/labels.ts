/**
 * Standard Kubernetes labels for a model's objects (pure).
 *
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/
 */

export const PART_OF = "model-fleet";
export const COMPONENT = "model-server";
export const MANAGED_BY = "pulumi";

/**
 * For objects Argo Rollouts reconciles (the canary model's Services and Ingress): the Kubernetes provider's await
 * (provider/pkg/await/service.go) would wait for endpoints that only the Rollout's pods provide, and the Rollout
 * is declared after them, so the first `pulumi up` (and every update after an abort) would time out.
 */
export const SKIP_AWAIT = { "pulumi.com/skipAwait": "true" } as const;

/** The labels every object model-fleet declares carries, model or not. */
export function fleetLabels(): { "app.kubernetes.io/part-of": string; "app.kubernetes.io/managed-by": string } {
    return { "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY };
}

/** Kubernetes label value grammar: empty, or ≤ 63 chars of [A-Za-z0-9_.-] starting and ending alphanumeric. */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Makes a string a valid label value. Semantic versions are already valid except for build metadata
 * (`1.2.3+build.7`): `+` becomes `_` (the Helm convention), anything else outside the grammar becomes `-`,
 * the result is cut to 63 characters and trimmed to start and end alphanumeric.
 */
export function labelValue(value: string): string {
    const replaced = value
        .replace(/\+/g, "_")
        .replace(/[^-A-Za-z0-9_.]/g, "-")
        .slice(0, 63);
    return replaced.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
}

/**
 * The labels of a model's objects that do not change with a release: every object but the workload carries these,
 * so a new version updates only the Deployment/Rollout and its pods.
 */
export function objectLabels(model: string): Record<string, string> {
    const { "app.kubernetes.io/version": _version, ...rest } = modelLabels(model, "0.0.0");
    return rest;
}

/** The labels of a model's workload and its pods (version included). */
export function modelLabels(model: string, version: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": model,
        "app.kubernetes.io/version": labelValue(version),
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    };
}

/**
 * Pod selector of a model: name and part-of only. Never the version: selectors of Deployments/Rollouts are
 * immutable, and a version in the selector would orphan the old pods (and the Service would drop them) on
 * every release.
 */
export function selectorLabels(model: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": model,
        "app.kubernetes.io/part-of": PART_OF,
    };
}
