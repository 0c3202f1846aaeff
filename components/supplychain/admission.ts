/**
 * The admission policy (pure): a Kyverno `ClusterPolicy` for the pods of the models namespace, with two rules.
 * Field semantics from the pinned Kyverno v1.18.2 CRD and engine (github.com/kyverno/kyverno@v1.18.2:
 * config/crds/kyverno/kyverno.io_clusterpolicies.yaml, which the tool cache holds and the tests validate against;
 * api/kyverno/v1/spec_types.go; pkg/engine/internal/imageverifier.go; pkg/engine/handlers/validation/validate_image.go).
 *
 * 1. `verifyImages` (VERIFY_RULE_NAME), scoped to the stack's own repositories: an image of one of them must be
 *    pinned by digest and carry a cosign signature made with one of the stack's keys.
 *  - `imageReferences`: `<repository>@*` and `<repository>:*` per repository. Kyverno matches them (ext/wildcard)
 *    against the image's normalised reference (`registry/path@digest`, or `registry/path:tag` with `latest` when
 *    neither is given; pkg/utils/image/infos.go), so a tag of the stack's repository is still checked (and refused),
 *    while an image of another registry (an injected `istio-proxy` sidecar, say) is not this rule's: under `["*"]`
 *    with `required` every such sidecar, arriving by tag and unsigned, was refused, and with it every model pod;
 *  - `verifyDigest: true`: an image referenced by tag is refused (checked before any signature);
 *  - `mutateDigest: false`: Kyverno never rewrites a tag into a digest (that would admit tags);
 *  - `required: true`: a matching image must have been verified (no unsigned pass-through);
 *  - attestors: one entry per trusted key, `count: 1` (any one of them suffices); the transparency log and the
 *    certificate log are ignored (`rekor.ignoreTlog`, `ctlog.ignoreSCT`): private KMS/key signing uploads nothing to
 *    the public Rekor (`cosign sign --tlog-upload=false`).
 *  - `imageExtractors` (Pod): Kyverno's standard extractors cover only `initContainers`, `containers` and
 *    `ephemeralContainers` (pkg/utils/api/image.go `BuildStandardExtractors`); it does not extract an image volume's
 *    `spec.volumes[].image.reference` on its own. A rule's `imageExtractors` replace the standard ones for the kind
 *    (`lookupImageExtractor`; pkg/engine/utils/image.go `ExtractMatchingImages`), so all four are listed: the three
 *    standard ones and `/spec/volumes/*\/image` with value `reference` (a volume without `image` is skipped: `extract`
 *    returns on nil). A weights artifact (docs/design/weights.md) is thus verified like the server image.
 * 2. `validate` (SOURCES_RULE_NAME), the separate, explicit rule for other registries: every container, init
 *    container and ephemeral container image must be of the stack's repositories or match one of `allowedImages`
 *    (Kyverno pattern: wildcards, alternatives joined by ` | `; pkg/engine/pattern/pattern.go). Without it, scoping
 *    rule 1 would admit any image of any other registry unchecked.
 *
 * Both rules carry the mode as `failureAction` (the spec-level `validationFailureAction` is deprecated upstream):
 * Enforce refuses, Audit admits and reports. The webhook settings sit under `spec.webhookConfiguration`
 * (`failurePolicy`, `timeoutSeconds`): the spec-level `failurePolicy` and `webhookTimeoutSeconds`
 * are deprecated in v1.18.2 (spec_types.go: "Deprecated, use failurePolicy under the webhookConfiguration instead").
 * No `matchConditions`: with them Kyverno registers the policy on webhooks of its own ("fine-grained"), and there
 * Kyverno v1.18.2 verifies no image — `retrieveAndCategorizePolicies` (pkg/webhooks/resource/handlers.go) puts a
 * verifyImages policy named by the URL in the validating list only, so the mutating phase never verifies and the
 * validating phase refuses every image, signed or not, as "unverified image" (sandbox/e2e/admission.spec.ts shows it
 * with the real admission controller). The rules' `match` keeps the policy to the models namespace; the shared
 * webhooks' own scope (and so the reach of failurePolicy Fail when Kyverno is down) is Kyverno's install setting,
 * its chart values `config.webhooks` (namespaceSelector) and `config.matchConditions` (docs/supply-chain.md).
 */
import { isPlainImagePattern } from "../../domain/admission";
import { fleetLabels } from "../../domain/labels";

export type AdmissionMode = "Enforce" | "Audit";

/**
 * The pinned chart: kyverno/kyverno `charts/kyverno` 3.8.2 (app v1.18.2), repo https://kyverno.github.io/kyverno/.
 * v1.19 marks `kyverno.io/v1` ClusterPolicy deprecated in favour of ImageValidatingPolicy (docs/design/supply-chain.md).
 */
export const KYVERNO_CHART = { chart: "kyverno", version: "3.8.2", appVersion: "v1.18.2", repo: "https://kyverno.github.io/kyverno/" } as const;

export const DEFAULT_KYVERNO_NAMESPACE = "kyverno";

/**
 * Chart values. Every key exists in the pinned chart's values.yaml (charts/kyverno/values.yaml of the module source,
 * which the tool cache holds; sandbox/e2e/admission.spec.ts checks it).
 */
export function kyvernoValues(): Record<string, unknown> {
    return {
        // The CRDs (ClusterPolicy among them) are chart templates of its `crds` subchart, gated by this flag.
        crds: { install: true },
        // Three admission controllers (Kyverno's HA recommendation) with a PDB: with failurePolicy Fail, a lone
        // controller being drained would stop every pod of the models namespace from being admitted.
        admissionController: { replicas: 3, podDisruptionBudget: { enabled: true, minAvailable: 1 } },
    };
}

export const KYVERNO_API_VERSION = "kyverno.io/v1";
export const CLUSTER_POLICY_KIND = "ClusterPolicy";
/** Rule name; the policy pack and the e2e check look for it. */
export const VERIFY_RULE_NAME = "signed-by-stack-key-and-pinned-by-digest";
/** Name of the rule that admits images only from the stack's repositories and the explicitly allowed ones. */
export const SOURCES_RULE_NAME = "images-from-stack-repositories-or-allowed";

/**
 * The verify rule's image extractors for Pods (kyverno api/kyverno/v1 rule_types.go `ImageExtractorConfig`): the
 * standard container extractors, plus the image volumes' references, which Kyverno v1.18.2 does not extract by itself.
 */
export function podImageExtractors(): Record<string, Array<{ path: string; value?: string; key?: string; name: string }>> {
    return {
        Pod: [
            ...["initContainers", "containers", "ephemeralContainers"].map((tag) => ({ path: `/spec/${tag}/*/image`, key: "name", name: tag })),
            { path: "/spec/volumes/*/image", value: "reference", name: "imageVolumes" },
        ],
    };
}

export interface AdmissionPolicyInput {
    /** ClusterPolicy name. */
    name: string;
    /** Namespace whose pods the policy covers. */
    namespace: string;
    /** PEM public keys admission trusts (at least one). */
    publicKeys: string[];
    /** The stack's own repositories, `<registry host>/<path>` without tag or digest (at least one): the images verified. */
    repositories: string[];
    /** Kyverno wildcard patterns of images from elsewhere that pods may also run, unverified (e.g. a mesh's sidecar). Default none. */
    allowedImages?: string[];
    mode: AdmissionMode;
    /** ECR: let Kyverno read signatures with its AWS identity (IRSA / node role). */
    ecrCredentials: boolean;
    /** Seconds Kyverno may spend per admission request (signature lookups go to the registry). */
    webhookTimeoutSeconds?: number;
}

const PEM = /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PUBLIC KEY-----\n?$/;

/** The ClusterPolicy's metadata (plain: known at preview, even while the keys are not). */
export function admissionPolicyMetadata(
    name: string,
    namespace: string,
): { name: string; labels: Record<string, string>; annotations: Record<string, string> } {
    return {
        name,
        labels: { ...fleetLabels(), "app.kubernetes.io/component": "admission" },
        annotations: {
            "policies.kyverno.io/title": "Model images signed by the stack's key and pinned by digest",
            "policies.kyverno.io/category": "Supply chain",
            "policies.kyverno.io/subject": "Pod",
            "policies.kyverno.io/description": `Pods in namespace ${namespace} run only images referenced by digest and signed (cosign) by one of this stack's keys.`,
        },
    };
}

/** A repository as `<registry host>/<path>`: what a wildcard reference is built from. */
const REPOSITORY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;

/** The verifyImages references of the stack's repositories: any digest and any tag of each (a tag is then refused). */
export function repositoryReferences(repositories: readonly string[]): string[] {
    return [...new Set(repositories)].flatMap((r) => [`${r}@*`, `${r}:*`]);
}

/** The ClusterPolicy object. Throws on input a policy must never be built from (no key, a malformed key, no repository). */
export function admissionClusterPolicy(input: AdmissionPolicyInput): Record<string, any> {
    const keys = [...new Set(input.publicKeys.map((k) => k.trim() + "\n"))];
    if (keys.length === 0) throw new Error("admission policy: no trusted public key (a policy without one would refuse every pod, or trust none)");
    for (const k of keys) {
        if (!PEM.test(k)) throw new Error(`admission policy: not a PEM public key: ${JSON.stringify(k.slice(0, 60))}…`);
    }
    if (input.repositories.length === 0) throw new Error("admission policy: no repository of the stack (the images to verify)");
    for (const r of input.repositories) {
        if (!REPOSITORY.test(r)) throw new Error(`admission policy: not a repository <host>/<path> without tag or digest: ${JSON.stringify(r)}`);
    }
    const allowed = [...new Set(input.allowedImages ?? [])];
    for (const a of allowed) {
        if (!isPlainImagePattern(a)) throw new Error(`admission policy: not a plain image wildcard pattern: ${JSON.stringify(a)}`);
    }
    const references = repositoryReferences(input.repositories);
    const sources = [...references, ...allowed].join(" | ");
    const enforce = input.mode === "Enforce";
    return {
        apiVersion: KYVERNO_API_VERSION,
        kind: CLUSTER_POLICY_KIND,
        metadata: admissionPolicyMetadata(input.name, input.namespace),
        spec: {
            // Image verification happens at admission; background scans would re-verify every pod periodically.
            background: false,
            webhookConfiguration: {
                // Enforce: if Kyverno cannot answer, the pod is not admitted. Audit: never block.
                failurePolicy: enforce ? "Fail" : "Ignore",
                // Signature lookups go to the registry; 30 s is the most the API allows a webhook.
                timeoutSeconds: input.webhookTimeoutSeconds ?? 30,
            },
            rules: [
                {
                    name: VERIFY_RULE_NAME,
                    match: { any: [{ resources: { kinds: ["Pod"], namespaces: [input.namespace] } }] },
                    imageExtractors: podImageExtractors(),
                    verifyImages: [
                        {
                            imageReferences: references,
                            failureAction: input.mode,
                            type: "Cosign",
                            verifyDigest: true,
                            mutateDigest: false,
                            required: true,
                            ...(input.ecrCredentials ? { imageRegistryCredentials: { providers: ["amazon"] } } : {}),
                            attestors: [
                                {
                                    count: 1,
                                    entries: keys.map((publicKeys) => ({
                                        keys: { publicKeys, signatureAlgorithm: "sha256", rekor: { ignoreTlog: true }, ctlog: { ignoreSCT: true } },
                                    })),
                                },
                            ],
                        },
                    ],
                },
                {
                    name: SOURCES_RULE_NAME,
                    match: { any: [{ resources: { kinds: ["Pod"], namespaces: [input.namespace] } }] },
                    validate: {
                        failureAction: input.mode,
                        message: `Pods in namespace ${input.namespace} run images of this stack's repositories (verified by rule ${VERIFY_RULE_NAME}) or images explicitly allowed (supplyChain.admission.allowedImages) only.`,
                        pattern: {
                            spec: {
                                "=(ephemeralContainers)": [{ image: sources }],
                                "=(initContainers)": [{ image: sources }],
                                containers: [{ image: sources }],
                                // An image volume (weights) comes from the stack's repositories only, never an allowed image.
                                "=(volumes)": [{ "=(image)": { reference: references.join(" | ") } }],
                            },
                        },
                    },
                },
            ],
        },
    };
}
