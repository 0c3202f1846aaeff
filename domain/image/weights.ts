/**
 * Model weights apart from the server image (issue #28): an OCI artifact mounted read-only into the pod with a
 * Kubernetes image volume (`volumes[].image`, KEP 4639). Pure: no Pulumi, no I/O.
 *
 * Image volumes are beta and on by default (feature gate `ImageVolume`) since Kubernetes v1.35
 * (https://kubernetes.io/docs/tasks/configure-pod-container/image-volumes/, "FEATURE STATE: Kubernetes v1.35 [beta]
 * (enabled by default)"; https://github.com/kubernetes/enhancements/issues/4639). Before 1.35 the gate is off by
 * default, and an API server with the gate off drops the field: the pod would start without its weights.
 */
import * as semver from "semver";

/** The lowest Kubernetes minor version whose image volumes are on by default. */
export const IMAGE_VOLUME_MIN_KUBERNETES = "1.35";

/** A Kubernetes minor version as the config states it: `1.<minor>`. */
export const KUBERNETES_MINOR = /^1\.(0|[1-9]\d?)$/;

/** Whether a cluster of Kubernetes minor version `version` (`1.<minor>`) has image volumes on by default. */
export function imageVolumesOnByDefault(version: string): boolean {
    if (!KUBERNETES_MINOR.test(version)) throw new Error(`not a Kubernetes minor version 1.<minor>: ${JSON.stringify(version)}`);
    return semver.gte(`${version}.0`, `${IMAGE_VOLUME_MIN_KUBERNETES}.0`);
}

/** What retention needs of a model's weights: its name and `weights.{repository?, tag?}`. */
export interface WeightsTagSource {
    readonly name: string;
    readonly weights?: { readonly repository?: string; readonly tag?: string; readonly previousTag?: string };
}

/**
 * The release tags retention keeps per repository, with every weights artifact's tag and `previousTag` (the weights
 * the running ones replaced: what `npm run rollback` restores, as `image.previousTag` is kept for images by
 * components/image/imagePlan.ts `keptReleaseTags`) added to the repository that holds it (`weights.repository`,
 * default the model's own). Used by the program and by `npm run versions`, so both protect the same tags.
 */
export function withWeightsTags(deployedTags: Readonly<Record<string, readonly string[]>>, models: readonly WeightsTagSource[]): Record<string, string[]> {
    const out: Record<string, string[]> = Object.fromEntries(Object.entries(deployedTags).map(([k, v]) => [k, [...v]]));
    for (const m of models) {
        const tags = [m.weights?.tag, m.weights?.previousTag].filter((t): t is string => typeof t === "string");
        if (tags.length === 0) continue;
        const repo = m.weights?.repository ?? m.name;
        out[repo] = [...new Set([...(out[repo] ?? []), ...tags])];
    }
    return out;
}

/**
 * The stated `cluster.version` against the version the EKS API reports for the existing cluster (`DescribeCluster`
 * `version`, `1.<minor>`): a problem to raise when they differ, since the stack's checks (image volumes from
 * ${IMAGE_VOLUME_MIN_KUBERNETES}) were made on the stated one. Undefined when they agree.
 */
export function clusterVersionMismatch(cluster: string, stated: string, live: string): string | undefined {
    if (stated === live) return undefined;
    return (
        `cluster.version says ${stated}, but EKS cluster ${cluster} runs Kubernetes ${live}: the stack's checks (image volumes for ` +
        `models[].weights need ${IMAGE_VOLUME_MIN_KUBERNETES}) were made on the stated version. Set cluster.version to ${live}, or upgrade the cluster first`
    );
}
