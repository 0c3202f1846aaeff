/**
 * HPA: the bounds are consistent (`minReplicas` ≤ `maxReplicas`), and a production stack never autoscales a
 * model down to a single replica (one pod cannot survive a node drain or a rollout). A KEDA ScaledObject is held to
 * the same rules: its `minReplicaCount`/`maxReplicaCount` become the bounds of the HPA KEDA makes.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { environmentConfigSchema, isProduction } from "./environment";
import { validateTypes, violation } from "./util";

export const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
export const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";

const given = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * An HPA's `spec.minReplicas` (Kubernetes defaults it to 1) and `spec.maxReplicas`; a ScaledObject's
 * `spec.minReplicaCount` and `spec.maxReplicaCount` (KEDA defaults them to 0 and 100: keda.sh docs, ScaledObject spec).
 */
function bounds(props: Record<string, any>): { min: number; max: number | undefined } {
    const spec = props.spec ?? {};
    if (props.kind === "ScaledObject") {
        return { min: given(spec.minReplicaCount) ? Number(spec.minReplicaCount) : 0, max: given(spec.maxReplicaCount) ? Number(spec.maxReplicaCount) : 100 };
    }
    const min = given(spec.minReplicas) ? Number(spec.minReplicas) : 1;
    const max = given(spec.maxReplicas) ? Number(spec.maxReplicas) : undefined;
    return { min, max };
}

const BOUNDS_REMEDIATION = "set `autoscaling.minReplicas` ≤ `autoscaling.maxReplicas` in the model's config.";

export const hpaReplicaBounds: ResourceValidationPolicy = {
    name: "hpa-replica-bounds",
    description:
        "An HPA's minReplicas (default 1) is at most its maxReplicas; a KEDA ScaledObject's minReplicaCount (default 0) at most its maxReplicaCount (default 100).",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: BOUNDS_REMEDIATION,
    validateResource: validateTypes([HPA, SCALED_OBJECT], (props, _args, report) => {
        const { min, max } = bounds(props);
        if (max === undefined || !Number.isFinite(max)) {
            report(violation("spec.maxReplicas is not set.", BOUNDS_REMEDIATION));
        } else if (min > max) {
            report(violation(`minReplicas ${min} is greater than maxReplicas ${max}.`, BOUNDS_REMEDIATION));
        }
    }),
};

export const PRODUCTION_MIN_REPLICAS = 2;

const PRODUCTION_REMEDIATION =
    `set \`autoscaling.minReplicas\` to at least ${PRODUCTION_MIN_REPLICAS} for every model of a production stack ` +
    "(and `maxReplicas` to match), so a node drain or a rollout never takes the model down.";

export const hpaProductionMinReplicas: ResourceValidationPolicy = {
    name: "hpa-production-min-replicas",
    description:
        `On a production stack (stack tag environment=production, or this policy's config environment: production), ` +
        `every HPA keeps minReplicas ≥ ${PRODUCTION_MIN_REPLICAS}, and every KEDA ScaledObject minReplicaCount ≥ ${PRODUCTION_MIN_REPLICAS}.`,
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: PRODUCTION_REMEDIATION,
    configSchema: environmentConfigSchema,
    validateResource: validateTypes([HPA, SCALED_OBJECT], (props, args, report) => {
        if (!isProduction(args)) {
            return args.notApplicable("Not a production stack");
        }
        const { min } = bounds(props);
        if (min < PRODUCTION_MIN_REPLICAS) {
            report(violation(`minReplicas is ${min} on a production stack; it must be at least ${PRODUCTION_MIN_REPLICAS}.`, PRODUCTION_REMEDIATION));
        }
    }),
};

export const hpaPolicies = [hpaReplicaBounds, hpaProductionMinReplicas];
