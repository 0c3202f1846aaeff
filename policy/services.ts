/**
 * Services: model endpoints stay inside the VPC. A Service of type LoadBalancer must ask AWS for an internal
 * load balancer: `service.beta.kubernetes.io/aws-load-balancer-scheme: internal` (AWS Load Balancer Controller) or
 * the legacy in-tree `service.beta.kubernetes.io/aws-load-balancer-internal: "true"`. An explicit
 * `internet-facing` scheme fails even next to the legacy annotation (the controller reads the scheme).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { obj, validateTypes, violation } from "./util";

export const SERVICE = "kubernetes:core/v1:Service";
export const SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme";
export const LEGACY_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal";

const LB_REMEDIATION = `annotate the Service with \`${SCHEME_ANNOTATION}: internal\`, or use a ClusterIP Service behind the ` + "internal ingress controller.";

export const serviceInternalLoadBalancer: ResourceValidationPolicy = {
    name: "service-internal-load-balancer",
    description: "No Service of type LoadBalancer without an internal-scheme annotation.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: LB_REMEDIATION,
    validateResource: validateTypes([SERVICE], (svc, args, report) => {
        if (obj(svc.spec).type !== "LoadBalancer") {
            return args.notApplicable("Not a LoadBalancer Service");
        }
        const annotations = obj(obj(svc.metadata).annotations);
        const scheme = annotations[SCHEME_ANNOTATION];
        const legacy = String(annotations[LEGACY_INTERNAL_ANNOTATION] ?? "").toLowerCase();
        if (scheme === "internal") return;
        if (scheme !== undefined) {
            report(
                violation(
                    `LoadBalancer Service has ${SCHEME_ANNOTATION}: ${JSON.stringify(scheme)}; it would be reachable from outside the VPC.`,
                    LB_REMEDIATION,
                ),
            );
            return;
        }
        if (legacy === "true") return;
        report(violation("LoadBalancer Service has no internal-scheme annotation, so AWS provisions an internet-facing load balancer.", LB_REMEDIATION));
    }),
};

export const servicePolicies = [serviceInternalLoadBalancer];
