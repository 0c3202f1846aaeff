/**
 * The namespace every model runs in, declared once, with a default-deny ingress NetworkPolicy: a model pod
 * accepts only what its ModelService explicitly allows (ingress controller → port, monitoring → metrics).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelValue, MANAGED_BY, PART_OF } from "../../domain/labels";

/** Pod Security Admission level enforced on the namespace. */
export type PodSecurityLevel = "restricted" | "baseline";

export interface ModelNamespaceArgs {
    /** Namespace name; default "models". */
    readonly name?: string;
    /** Pod Security Admission level enforced (model pods meet `restricted`); default "restricted". */
    readonly podSecurity?: PodSecurityLevel;
    /** Extra namespace labels (e.g. `istio-injection: enabled`); default none. */
    readonly labels?: Record<string, string>;
    /** `app.kubernetes.io/version` of the namespace objects (e.g. the fleet's git sha); default: label omitted. */
    readonly version?: string;
}

export const DEFAULT_NAMESPACE = "models";
export const DEFAULT_DENY_POLICY_NAME = "default-deny-ingress";

export class ModelNamespace extends pulumi.ComponentResource {
    /** The namespace's name, known once the Namespace exists (use it to order model objects after it). */
    public readonly namespaceName: pulumi.Output<string>;
    /** Name of the namespace-wide default-deny ingress NetworkPolicy. */
    public readonly defaultDenyPolicyName: pulumi.Output<string>;

    constructor(name: string, args: ModelNamespaceArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("model-fleet:serving:ModelNamespace", name, {}, opts);

        const nsName = args.name ?? DEFAULT_NAMESPACE;
        const podSecurity = args.podSecurity ?? "restricted";
        const commonLabels: Record<string, string> = {
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            ...(args.version !== undefined ? { "app.kubernetes.io/version": labelValue(args.version) } : {}),
        };

        const namespace = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: nsName,
                    labels: {
                        ...(args.labels ?? {}),
                        ...commonLabels,
                        "app.kubernetes.io/name": nsName,
                        "app.kubernetes.io/component": "model-namespace",
                        "pod-security.kubernetes.io/enforce": podSecurity,
                        "pod-security.kubernetes.io/enforce-version": "latest",
                        "pod-security.kubernetes.io/warn": "restricted",
                        "pod-security.kubernetes.io/audit": "restricted",
                    },
                },
            },
            { parent: this },
        );
        this.namespaceName = namespace.metadata.name;

        // No ingress rules and policyTypes [Ingress]: every pod in the namespace refuses all inbound traffic
        // unless another policy allows it. Egress is left open (pods pull nothing at runtime but DNS/metrics
        // push paths vary by cluster); add an egress policy here if the cluster needs one.
        const defaultDeny = new k8s.networking.v1.NetworkPolicy(
            `${name}-default-deny-ingress`,
            {
                metadata: {
                    name: DEFAULT_DENY_POLICY_NAME,
                    namespace: namespace.metadata.name,
                    labels: { ...commonLabels, "app.kubernetes.io/name": DEFAULT_DENY_POLICY_NAME, "app.kubernetes.io/component": "network-policy" },
                },
                spec: {
                    podSelector: {},
                    policyTypes: ["Ingress"],
                },
            },
            { parent: this },
        );
        this.defaultDenyPolicyName = defaultDeny.metadata.name;

        this.registerOutputs({ namespaceName: this.namespaceName, defaultDenyPolicyName: this.defaultDenyPolicyName });
    }
}
