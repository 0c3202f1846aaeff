/**
 * The admission policy (pure): a Kyverno `ClusterPolicy` whose `verifyImages` rule admits a pod of the models
 * namespace only when every image of it is pinned by digest and carries a cosign signature made with one of the
 * stack's keys. Field semantics from the pinned Kyverno v1.18.2 CRD (config/crds/kyverno/kyverno.io_clusterpolicies.yaml
 * in github.com/kyverno/kyverno, which the tool cache holds and the tests validate against):
 *  - `verifyDigest: true`: an image referenced by tag is refused (checked before any signature);
 *  - `mutateDigest: false`: Kyverno never rewrites a tag into a digest (that would admit tags);
 *  - `required: true`: an image matching `imageReferences` must be verified (no unsigned pass-through);
 *  - `imageReferences: ["*"]`: every image of the pod, whatever its registry (an image from elsewhere fails);
 *  - attestors: one entry per trusted key, `count: 1` (any one of them suffices); the transparency log and the
 *    certificate log are ignored (`rekor.ignoreTlog`, `ctlog.ignoreSCT`): private KMS/key signing uploads nothing to
 *    the public Rekor (`cosign sign --tlog-upload=false`);
 *  - `failureAction` per rule (the spec-level `validationFailureAction` is deprecated upstream): Enforce refuses,
 *    Audit admits and reports;
 *  - webhook `matchConditions` keep Kyverno's webhook (and its failurePolicy) to the models namespace.
 */
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

export interface AdmissionPolicyInput {
    /** ClusterPolicy name. */
    name: string;
    /** Namespace whose pods the policy covers. */
    namespace: string;
    /** PEM public keys admission trusts (at least one). */
    publicKeys: string[];
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

/** The ClusterPolicy object. Throws on input a policy must never be built from (no key, a malformed key). */
export function admissionClusterPolicy(input: AdmissionPolicyInput): Record<string, any> {
    const keys = [...new Set(input.publicKeys.map((k) => k.trim() + "\n"))];
    if (keys.length === 0) throw new Error("admission policy: no trusted public key (a policy without one would refuse every pod, or trust none)");
    for (const k of keys) {
        if (!PEM.test(k)) throw new Error(`admission policy: not a PEM public key: ${JSON.stringify(k.slice(0, 60))}…`);
    }
    const enforce = input.mode === "Enforce";
    return {
        apiVersion: KYVERNO_API_VERSION,
        kind: CLUSTER_POLICY_KIND,
        metadata: admissionPolicyMetadata(input.name, input.namespace),
        spec: {
            // Image verification happens at admission; background scans would re-verify every pod periodically.
            background: false,
            // Enforce: if Kyverno cannot answer, the pod is not admitted. Audit: never block.
            failurePolicy: enforce ? "Fail" : "Ignore",
            webhookTimeoutSeconds: input.webhookTimeoutSeconds ?? 30,
            webhookConfiguration: {
                matchConditions: [{ name: "models-namespace", expression: `request.namespace == '${input.namespace}'` }],
            },
            rules: [
                {
                    name: VERIFY_RULE_NAME,
                    match: { any: [{ resources: { kinds: ["Pod"], namespaces: [input.namespace] } }] },
                    verifyImages: [
                        {
                            imageReferences: ["*"],
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
            ],
        },
    };
}
