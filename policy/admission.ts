/**
 * Admission: a production stack admits only signed, digest-pinned images (issue #16). A production stack must declare
 * a Kyverno ClusterPolicy whose `verifyImages` rule covers the Pods of every namespace its workloads run in, with
 * every entry enforcing (`failureAction: Enforce`), requiring a verification (`required`) and a digest
 * (`verifyDigest`), and every container image of the stack's workloads inside an enforcing entry's `imageReferences`
 * (the program scopes verification to the stack's own repositories; an image outside them would run unverified).
 * Field meanings: Kyverno v1.18 `kyverno.io/v1` ClusterPolicy CRD (`spec.rules[].verifyImages[]`; a per-entry
 * `failureAction` overrides the deprecated spec-level `validationFailureAction`, whose default is Audit). Kyverno
 * matches `imageReferences` with its wildcard (`*` any run of characters, `?` one) against the image's normalised
 * reference, `registry/path@digest` (pkg/engine/utils/image.go, pkg/utils/image/infos.go).
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { environmentConfigSchema, isProduction } from "./environment";
import { containersOf, renderedFrom, WORKLOAD_TYPES, workloadOf } from "./podSpecs";
import { arr, obj, violation } from "./util";

export const CLUSTER_POLICY = "kubernetes:kyverno.io/v1:ClusterPolicy";

const REMEDIATION =
    "keep `supplyChain.admission.enabled` on and `supplyChain.admission.mode` at Enforce (the production default): the " +
    "program then declares the Kyverno ClusterPolicy that admits only images pinned by digest and signed by the stack's key.";

interface VerifyRule {
    policy: string;
    urn: string;
    /** Namespaces the rule's Pod match names; empty: every namespace. */
    namespaces: string[];
    /** Entries that do not enforce, are not required or accept tags, as readable problems. */
    weaknesses: string[];
    /** The `imageReferences` of the rule's entries. */
    references: string[];
}

/** Kyverno's wildcard match (ext/wildcard): `*` any run of characters, `?` exactly one. */
export function wildcardMatch(pattern: string, value: string): boolean {
    const re = pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".");
    return new RegExp(`^${re}$`, "s").test(value);
}

/** An image as Kyverno matches it: `repo:tag@digest` → `repo@digest` (pkg/utils/image/infos.go `String`). */
function normalisedImage(image: string): string {
    const at = image.indexOf("@");
    if (at < 0) return image;
    const repo = image.slice(0, at);
    const slash = repo.lastIndexOf("/");
    const colon = repo.lastIndexOf(":");
    return `${colon > slash ? repo.slice(0, colon) : repo}${image.slice(at)}`;
}

function verifyRules(resources: ReadonlyArray<{ type: string; urn: string; props: Record<string, any> }>): VerifyRule[] {
    const out: VerifyRule[] = [];
    for (const r of resources.filter((x) => x.type === CLUSTER_POLICY)) {
        const name = String(obj(r.props.metadata).name ?? r.urn);
        const spec = obj(r.props.spec);
        const specAction = typeof spec.validationFailureAction === "string" ? spec.validationFailureAction : "Audit";
        for (const rule of arr(spec.rules).map(obj)) {
            const entries = arr(rule.verifyImages).map(obj);
            if (entries.length === 0) continue;
            const pods = arr(obj(rule.match).any)
                .concat(arr(obj(rule.match).all))
                .map((m) => obj(obj(m).resources))
                .filter((res) => arr(res.kinds).some((k) => k === "Pod" || k === "v1/Pod"));
            if (pods.length === 0) continue;
            const weaknesses: string[] = [];
            entries.forEach((e, i) => {
                const action = typeof e.failureAction === "string" ? e.failureAction : specAction;
                if (action.toLowerCase() !== "enforce") weaknesses.push(`verifyImages[${i}] of rule ${rule.name} only audits (failureAction ${action})`);
                if (e.required === false) weaknesses.push(`verifyImages[${i}] of rule ${rule.name} does not require a verification (required: false)`);
                if (e.verifyDigest === false) weaknesses.push(`verifyImages[${i}] of rule ${rule.name} admits tags (verifyDigest: false)`);
            });
            out.push({
                policy: name,
                urn: r.urn,
                namespaces: pods.some((res) => arr(res.namespaces).length === 0) ? [] : pods.flatMap((res) => arr(res.namespaces).map(String)),
                weaknesses,
                references: entries.flatMap((e) => arr(e.imageReferences).map(String)),
            });
        }
    }
    return out;
}

export const productionAdmissionPolicy: StackValidationPolicy = {
    name: "production-admission-policy",
    description:
        "On a production stack, a Kyverno ClusterPolicy verifies the images of the Pods of every namespace the stack's " +
        "workloads run in, and enforces: signed by the stack's key and pinned by digest, or not admitted.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps: REMEDIATION,
    configSchema: environmentConfigSchema,
    validateStack: (args, report) => {
        if (!isProduction(args)) {
            return args.notApplicable("Not a production stack");
        }
        const rules = verifyRules(args.resources);
        if (rules.length === 0) {
            report(
                violation(
                    "the production stack declares no admission policy: no Kyverno ClusterPolicy verifies the images of Pods (verifyImages).",
                    REMEDIATION,
                ),
            );
            return;
        }
        for (const rule of rules) {
            for (const w of rule.weaknesses) report(violation(`the admission policy ${rule.policy} does not enforce: ${w}.`, REMEDIATION), rule.urn);
        }
        const covers = (ns: string) => rules.some((r) => r.weaknesses.length === 0 && (r.namespaces.length === 0 || r.namespaces.includes(ns)));
        const uncovered = new Set<string>();
        for (const r of args.resources) {
            if (!WORKLOAD_TYPES.includes(r.type) || renderedFrom(r.urn)) continue;
            const w = workloadOf(r.type, r.name, r.props);
            if (w && !covers(w.namespace) && rules.every((x) => x.weaknesses.length === 0)) uncovered.add(w.namespace);
        }
        for (const ns of [...uncovered].sort()) {
            report(violation(`no enforcing admission policy covers the Pods of namespace ${ns}, where the stack's workloads run.`, REMEDIATION));
        }
        // Every image of a covered workload must be one the enforcing rules verify.
        if (rules.some((x) => x.weaknesses.length > 0)) return;
        for (const r of args.resources) {
            if (!WORKLOAD_TYPES.includes(r.type) || renderedFrom(r.urn)) continue;
            const w = workloadOf(r.type, r.name, r.props);
            if (!w || !covers(w.namespace)) continue;
            const refs = rules.filter((x) => x.namespaces.length === 0 || x.namespaces.includes(w.namespace)).flatMap((x) => x.references);
            for (const c of containersOf(w.podSpec)) {
                const image = c.container.image;
                if (typeof image !== "string" || refs.some((p) => wildcardMatch(p, normalisedImage(image)))) continue;
                report(
                    violation(
                        `image ${image} of ${w.kind} ${w.namespace}/${w.name} is outside the imageReferences of every enforcing admission rule: it would run unverified.`,
                        REMEDIATION,
                    ),
                );
            }
        }
    },
};

export const admissionPolicies = [productionAdmissionPolicy];
