/**
 * AdmissionPolicy (`model-fleet:supplychain:AdmissionPolicy`): Kyverno (pinned chart, optional) and the
 * ClusterPolicy of admission.ts, which admits pods of the models namespace only when every image of the stack's
 * repositories is pinned by digest and signed by one of the stack's keys, and every other image is explicitly allowed.
 * Enforce refuses, Audit admits and reports (Kyverno PolicyReports).
 *
 * The chart is a `k8s.helm.v4.Chart` for the reason RolloutsController gives (its CRD templates become Pulumi-managed
 * objects that the ClusterPolicy can depend on). Without `install`, the cluster must already run Kyverno (or, as in
 * the sandbox, at least serve its CRDs).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    AdmissionMode,
    admissionClusterPolicy,
    admissionPolicyMetadata,
    CLUSTER_POLICY_KIND,
    DEFAULT_KYVERNO_NAMESPACE,
    KYVERNO_API_VERSION,
    KYVERNO_CHART,
    kyvernoValues,
} from "./admission";
import { fleetLabels } from "../../domain/labels";

export const ADMISSION_POLICY_TYPE = "model-fleet:supplychain:AdmissionPolicy";

export interface AdmissionPolicyArgs {
    /** Namespace whose pods are checked (plain: it is part of the webhook's match condition). Required. */
    readonly namespace: string;
    /** PEM public keys a signature may be made with (any one suffices). Required, at least one. */
    readonly publicKeys: pulumi.Input<string>[];
    /** The stack's repositories (`<host>/<path>`), whose images must be signed and pinned by digest. Required, at least one. */
    readonly repositories: pulumi.Input<string>[];
    /** Image wildcard patterns from other registries that pods may also run, unverified. Default none. */
    readonly allowedImages?: string[];
    /** Enforce or Audit. Required (the config defaults it by environment). */
    readonly mode: AdmissionMode;
    /** Install Kyverno (namespace + chart 3.8.2). Default true. */
    readonly installKyverno?: boolean;
    /** Namespace of Kyverno when installed here. Default "kyverno". */
    readonly kyvernoNamespace?: string;
    /** ECR registries: Kyverno reads signatures with its AWS identity. Default false. */
    readonly ecrCredentials?: boolean;
    /** Name of the ClusterPolicy. Default "model-fleet-verify-images". */
    readonly policyName?: string;
}

export class AdmissionPolicy extends pulumi.ComponentResource {
    /** Name of the ClusterPolicy. */
    public readonly policyName: pulumi.Output<string>;
    /** Enforce or Audit. */
    public readonly mode: AdmissionMode;

    constructor(name: string, args: AdmissionPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
        if (args.publicKeys.length === 0) {
            throw new pulumi.RunError(`AdmissionPolicy ${name}: no trusted public key`);
        }
        if (args.repositories.length === 0) {
            throw new pulumi.RunError(`AdmissionPolicy ${name}: no repository of the stack`);
        }
        super(ADMISSION_POLICY_TYPE, name, {}, opts);
        const policyName = args.policyName ?? "model-fleet-verify-images";
        this.mode = args.mode;

        const install = args.installKyverno ?? true;
        const namespace = install
            ? new k8s.core.v1.Namespace(
                  `${name}-kyverno-namespace`,
                  {
                      metadata: {
                          name: args.kyvernoNamespace ?? DEFAULT_KYVERNO_NAMESPACE,
                          labels: { ...fleetLabels(), "app.kubernetes.io/component": "kyverno" },
                      },
                  },
                  { parent: this },
              )
            : undefined;
        const chart =
            namespace &&
            new k8s.helm.v4.Chart(
                `${name}-kyverno`,
                {
                    chart: KYVERNO_CHART.chart,
                    version: KYVERNO_CHART.version,
                    repositoryOpts: { repo: KYVERNO_CHART.repo },
                    namespace: namespace.metadata.name,
                    values: kyvernoValues(),
                },
                { parent: this },
            );

        // The object is built from the keys and repositories as data; the pure builder validates them (no resource inside apply).
        const policy = pulumi.all([pulumi.all(args.publicKeys), pulumi.all(args.repositories)]).apply(([publicKeys, repositories]) =>
            admissionClusterPolicy({
                name: policyName,
                namespace: args.namespace,
                publicKeys,
                repositories,
                allowedImages: args.allowedImages,
                mode: args.mode,
                ecrCredentials: args.ecrCredentials ?? false,
            }),
        );
        const object = new k8s.apiextensions.CustomResource(
            `${name}-policy`,
            {
                apiVersion: KYVERNO_API_VERSION,
                kind: CLUSTER_POLICY_KIND,
                metadata: admissionPolicyMetadata(policyName, args.namespace),
                spec: policy.apply((p) => p.spec),
            },
            // The ClusterPolicy kind exists once the chart's CRDs do.
            { parent: this, dependsOn: chart ? [chart] : [] },
        );
        this.policyName = object.metadata.name;
        this.registerOutputs({ policyName: this.policyName, mode: this.mode });
    }
}
