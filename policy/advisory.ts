/**
 * Advisory policies: reported, never blocking.
 * - Every replicated workload is covered by a PodDisruptionBudget (stack policy: a PDB in the same namespace whose
 *   selector matches the pod template's labels).
 * - Replicated workloads spread their pods (`topologySpreadConstraints`).
 * - GPU limits equal GPU requests (Kubernetes rejects a GPU request without an equal limit at admission).
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { REPLICATED_TYPES, containersOf, gpuResourcesOf, kindOf, renderedFrom, selectorMatches, validateWorkloads, workloadOf } from "./podSpecs";
import { obj, violation } from "./util";

export const PDB = "kubernetes:policy/v1:PodDisruptionBudget";

const PDB_REMEDIATION =
    "declare a PodDisruptionBudget in the workload's namespace whose selector matches its pod labels, with " +
    "`maxUnavailable: 1` (or a `minAvailable` that still lets a drain progress at minReplicas).";

export const pdbPerWorkload: StackValidationPolicy = {
    name: "pdb-per-workload",
    description: "Every replicated workload (Deployment, StatefulSet, ReplicaSet, Rollout) is covered by a PodDisruptionBudget.",
    enforcementLevel: "advisory",
    severity: "low",
    remediationSteps: PDB_REMEDIATION,
    validateStack: (args, report) => {
        const pdbs = args.resources
            .filter((r) => r.type === PDB)
            .map((r) => ({ namespace: obj(r.props.metadata).namespace || "default", selector: obj(r.props.spec).selector }));
        let workloads = 0;
        for (const r of args.resources) {
            if (!REPLICATED_TYPES.includes(r.type) || renderedFrom(r.urn)) continue;
            const w = workloadOf(r.type, r.name, r.props);
            if (!w) continue;
            workloads++;
            const covered = pdbs.some((p) => p.namespace === w.namespace && selectorMatches(p.selector, w.podLabels));
            if (!covered) {
                report(violation(`${kindOf(r.type)} ${w.namespace}/${w.name} has no PodDisruptionBudget selecting its pods.`, PDB_REMEDIATION), r.urn);
            }
        }
        if (workloads === 0) {
            return args.notApplicable("The stack declares no replicated workload");
        }
    },
};

const SPREAD_REMEDIATION =
    "add `topologySpreadConstraints` on `topology.kubernetes.io/zone` (and `kubernetes.io/hostname` where there are " +
    "replicas to spread) selecting the workload's pod labels.";

export const podTopologySpread: ResourceValidationPolicy = {
    name: "pod-topology-spread",
    description: "Replicated workloads (Deployment, StatefulSet, ReplicaSet, Rollout) declare topologySpreadConstraints.",
    enforcementLevel: "advisory",
    severity: "low",
    remediationSteps: SPREAD_REMEDIATION,
    validateResource: validateWorkloads(
        (w, _args, report) => {
            const constraints = w.podSpec.topologySpreadConstraints;
            if (!Array.isArray(constraints) || constraints.length === 0) {
                report(violation("the pod template has no topologySpreadConstraints, so one zone or node can hold every replica.", SPREAD_REMEDIATION));
            }
        },
        { types: REPLICATED_TYPES },
    ),
};

const GPU_LIMITS_REMEDIATION = "set the GPU resource in `resources.limits` to the same count as in `resources.requests` (or only in limits).";

export const gpuLimitsEqualRequests: ResourceValidationPolicy = {
    name: "gpu-limits-equal-requests",
    description: "A container's GPU limits (nvidia.com/gpu, nvidia.com/mig-*) equal its GPU requests.",
    enforcementLevel: "advisory",
    severity: "low",
    remediationSteps: GPU_LIMITS_REMEDIATION,
    validateResource: validateWorkloads((w, args, report) => {
        let gpuContainers = 0;
        for (const ref of containersOf(w.podSpec)) {
            const names = gpuResourcesOf(ref.container);
            if (names.length > 0) gpuContainers++;
            const requests = obj(ref.container.resources?.requests);
            const limits = obj(ref.container.resources?.limits);
            for (const name of names) {
                const req = requests[name];
                const lim = limits[name];
                if (lim === undefined || lim === null) {
                    report(violation(`${ref.label} requests ${name}: ${req} but sets no limit for it.`, GPU_LIMITS_REMEDIATION));
                } else if (req !== undefined && req !== null && String(req) !== String(lim)) {
                    report(violation(`${ref.label} requests ${name}: ${req} but limits it to ${lim}.`, GPU_LIMITS_REMEDIATION));
                }
            }
        }
        if (gpuContainers === 0) {
            return args.notApplicable("The pod requests no GPU");
        }
    }),
};

export const advisoryPolicies = [pdbPerWorkload, podTopologySpread, gpuLimitsEqualRequests];
