/**
 * Images: every container of every workload runs an image pinned by digest; a tag alone never passes, and the
 * `latest` tag never passes, not even next to a digest (`repo:latest@sha256:…` tells the reader a lie).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { containersOf, renderedFrom, validateWorkloads } from "./podSpecs";
import { violation } from "./util";

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ImageRef {
    /** Everything before the tag/digest: `[registry[:port]/]path`. */
    repository: string;
    tag?: string;
    digest?: string;
}

/** Splits `[registry[:port]/]path[:tag][@digest]` (distribution/reference layout). */
export function parseImageRef(image: string): ImageRef {
    let rest = image;
    let digest: string | undefined;
    const at = rest.indexOf("@");
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
    }
    let tag: string | undefined;
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
    }
    return { repository: rest, tag, digest };
}

export const IMAGE_REMEDIATION =
    "deploy the image by digest as <repository>@sha256:<digest> (ModelImage's `ref` output, or a digest promoted " +
    "from dev with `npm run promote -- --model <m> --from dev --to prod`; for a Helm chart, set its image tag value " +
    "to `<tag>@sha256:<digest>`); never a tag alone, never `latest`.";

/** Why an image reference is not acceptable, or `undefined` when it is pinned by a sha256 digest and not `latest`. */
export function imageProblem(image: unknown): string | undefined {
    if (typeof image !== "string" || image.trim() === "") {
        return "has no image";
    }
    const ref = parseImageRef(image);
    const shown = JSON.stringify(image);
    if (ref.tag !== undefined && ref.tag.toLowerCase() === "latest") {
        return `image ${shown} uses the "latest" tag, which is never allowed, even next to a digest`;
    }
    if (ref.digest === undefined) {
        return ref.tag === undefined
            ? `image ${shown} has neither tag nor digest, so it resolves to "latest"`
            : `image ${shown} is pinned by tag only; a tag can be moved to another image`;
    }
    if (!DIGEST.test(ref.digest)) {
        return `image ${shown} has a malformed digest (expected "sha256:" and 64 lowercase hex characters)`;
    }
    return undefined;
}

function checkImages(workload: Parameters<Parameters<typeof validateWorkloads>[0]>[0], report: Parameters<Parameters<typeof validateWorkloads>[0]>[2]): void {
    for (const ref of containersOf(workload.podSpec)) {
        const problem = imageProblem(ref.container.image);
        if (problem) {
            report(violation(`${ref.label} ${problem}.`, IMAGE_REMEDIATION));
        }
    }
    // Image volumes (Kubernetes 1.35 `volumes[].image.reference`, a model's weights: docs/design/weights.md) are images too.
    const volumes: unknown = (workload.podSpec as { volumes?: unknown }).volumes;
    for (const v of Array.isArray(volumes) ? volumes : []) {
        if (v?.image === undefined || v.image === null) continue;
        const problem = imageProblem(v.image.reference);
        if (problem) report(violation(`image volume "${v.name}" ${problem}.`, IMAGE_REMEDIATION));
    }
}

export const imageDigestPinned: ResourceValidationPolicy = {
    name: "image-digest-pinned",
    description:
        "Every container image in every workload the program declares (Deployment, StatefulSet, DaemonSet, ReplicaSet, " +
        "Job, CronJob, Pod, Argo Rollout) is pinned by sha256 digest, and so is every image volume's reference (a model's weights); " +
        "a tag-only reference fails and `latest` always fails.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: IMAGE_REMEDIATION,
    validateResource: validateWorkloads((workload, _args, report) => checkImages(workload, report)),
};

const renderedWorkloads = validateWorkloads((workload, _args, report) => checkImages(workload, report), { includeRendered: true });

/**
 * Workloads rendered from a third-party Helm chart or manifest (the Argo Rollouts controller, …): advisory, because
 * the chart version pins their tag and their digest can only be set through the chart's image values once the
 * team has looked it up (or mirrored the image). Raise it to mandatory with the pack config
 * `{"chart-image-digest-pinned": "mandatory"}` when every chart image is pinned.
 */
export const chartImageDigestPinned: ResourceValidationPolicy = {
    name: "chart-image-digest-pinned",
    description: "Container images of workloads rendered from Helm charts or manifests are pinned by sha256 digest through the chart's values.",
    enforcementLevel: "advisory",
    severity: "medium",
    remediationSteps: IMAGE_REMEDIATION,
    validateResource: (args, report) => {
        const chart = renderedFrom(args.urn);
        if (!chart) {
            return args.notApplicable("Declared by the program itself; image-digest-pinned covers it");
        }
        return renderedWorkloads(args, report);
    },
};

export const imagePolicies = [imageDigestPinned, chartImageDigestPinned];
