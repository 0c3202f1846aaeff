/**
 * Pods: probes, resource requests/limits and the hardened security context, on every workload's pod template.
 * One violation per offending container, naming it.
 */
import type { ResourceValidation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { BATCH_TYPES, Container, POD, WORKLOAD_TYPES, containersOf, kindOf, renderedFrom, validateWorkloads, workloadOf } from "./podSpecs";
import { obj, violation } from "./util";

const SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount";

const PROBE_REMEDIATION =
    "give every container a `readinessProbe` (ready only once the model is loaded, e.g. GET /ready) and a " +
    "`startupProbe` and/or `livenessProbe` (e.g. GET /health, with a startup budget long enough to load the weights).";

export const podProbes: ResourceValidationPolicy = {
    name: "pod-probes",
    description:
        "Every container of a long-running workload has a readiness probe, and a liveness or startup probe " +
        "(Jobs, CronJobs and run-to-completion Pods are exempt: their pods finish).",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: PROBE_REMEDIATION,
    validateResource: validateWorkloads((w, args, report) => {
        if (BATCH_TYPES.includes(w.type) || (w.type === POD && (w.podSpec.restartPolicy ?? "Always") !== "Always")) {
            return args.notApplicable(`${w.kind} pods run to completion`);
        }
        for (const ref of containersOf(w.podSpec, ["container"])) {
            const c = ref.container;
            if (c.readinessProbe === undefined || c.readinessProbe === null) {
                report(violation(`${ref.label} has no readinessProbe.`, PROBE_REMEDIATION));
            }
            if ((c.livenessProbe ?? undefined) === undefined && (c.startupProbe ?? undefined) === undefined) {
                report(violation(`${ref.label} has neither a livenessProbe nor a startupProbe.`, PROBE_REMEDIATION));
            }
        }
    }),
};

const RESOURCES_REMEDIATION =
    "set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory` (equal to the request) " +
    "on every container and init container, so the scheduler places the pod and the kernel cannot OOM its neighbours.";

export const podResources: ResourceValidationPolicy = {
    name: "pod-resources",
    description: "Every container and init container requests CPU and memory and has a memory limit.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: RESOURCES_REMEDIATION,
    validateResource: validateWorkloads((w, _args, report) => {
        for (const ref of containersOf(w.podSpec, ["container", "init container"])) {
            const requests = obj(ref.container.resources?.requests);
            const limits = obj(ref.container.resources?.limits);
            const missing: string[] = [];
            if (requests.cpu === undefined || requests.cpu === null || requests.cpu === "") missing.push("resources.requests.cpu");
            if (requests.memory === undefined || requests.memory === null || requests.memory === "") missing.push("resources.requests.memory");
            if (limits.memory === undefined || limits.memory === null || limits.memory === "") missing.push("resources.limits.memory");
            if (missing.length > 0) {
                report(violation(`${ref.label} is missing ${missing.join(", ")}.`, RESOURCES_REMEDIATION));
            }
        }
    }),
};

const NON_ROOT_REMEDIATION =
    "set `securityContext.runAsNonRoot: true` with a non-zero `runAsUser`/`runAsGroup` on the pod (or on every " +
    "container), and build the image with a non-root `USER`.";

export const podRunAsNonRoot: ResourceValidationPolicy = {
    name: "pod-run-as-non-root",
    description: "Every container runs as non-root: runAsNonRoot is true (container or pod level) and no UID 0.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: NON_ROOT_REMEDIATION,
    validateResource: validateWorkloads((w, _args, report) => {
        const pod = obj(w.podSpec.securityContext);
        for (const ref of containersOf(w.podSpec)) {
            const sc = obj(ref.container.securityContext);
            const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
            const uid = sc.runAsUser ?? pod.runAsUser;
            if (nonRoot !== true) {
                const why =
                    sc.runAsNonRoot === false
                        ? "sets securityContext.runAsNonRoot: false"
                        : "does not set runAsNonRoot: true (container or pod securityContext)";
                report(violation(`${ref.label} ${why}.`, NON_ROOT_REMEDIATION));
            }
            if (uid === 0 || uid === "0") {
                report(violation(`${ref.label} runs as UID 0 (runAsUser: 0).`, NON_ROOT_REMEDIATION));
            }
        }
    }),
};

/** A check of every container of a workload: `problem` says what is wrong with one container, or nothing. */
function everyContainer(problem: (c: Container) => string | undefined, remediation: string): ResourceValidation {
    return validateWorkloads((w, _args, report) => {
        for (const ref of containersOf(w.podSpec)) {
            const p = problem(ref.container);
            if (p) report(violation(`${ref.label} ${p}`, remediation));
        }
    });
}

const ESCALATION_REMEDIATION = "set `securityContext.allowPrivilegeEscalation: false` on every container.";

export const containerNoPrivilegeEscalation: ResourceValidationPolicy = {
    name: "container-no-privilege-escalation",
    description: "Every container sets allowPrivilegeEscalation: false.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: ESCALATION_REMEDIATION,
    validateResource: everyContainer(
        (c) => (c.securityContext?.allowPrivilegeEscalation !== false ? "does not set securityContext.allowPrivilegeEscalation: false." : undefined),
        ESCALATION_REMEDIATION,
    ),
};

const READ_ONLY_REMEDIATION =
    "set `securityContext.readOnlyRootFilesystem: true` on every container and mount an `emptyDir` wherever the " + "process must write (e.g. /tmp).";

export const containerReadOnlyRootFilesystem: ResourceValidationPolicy = {
    name: "container-read-only-root-filesystem",
    description: "Every container has a read-only root filesystem.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: READ_ONLY_REMEDIATION,
    validateResource: everyContainer(
        (c) => (c.securityContext?.readOnlyRootFilesystem !== true ? "does not set securityContext.readOnlyRootFilesystem: true." : undefined),
        READ_ONLY_REMEDIATION,
    ),
};

const DROP_ALL_REMEDIATION = 'set `securityContext.capabilities.drop: ["ALL"]` on every container (add back only what it needs).';

export const containerDropAllCapabilities: ResourceValidationPolicy = {
    name: "container-drop-all-capabilities",
    description: "Every container drops ALL Linux capabilities.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: DROP_ALL_REMEDIATION,
    validateResource: everyContainer((c) => {
        const drop = c.securityContext?.capabilities?.drop;
        return !Array.isArray(drop) || !drop.includes("ALL") ? "does not drop ALL capabilities (securityContext.capabilities.drop)." : undefined;
    }, DROP_ALL_REMEDIATION),
};

const PRIVILEGED_REMEDIATION = "remove `securityContext.privileged: true`; a model server never needs the host's devices or kernel.";

export const containerNotPrivileged: ResourceValidationPolicy = {
    name: "container-not-privileged",
    description: "No container runs privileged.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps: PRIVILEGED_REMEDIATION,
    validateResource: everyContainer(
        (c) => (c.securityContext?.privileged === true ? "runs privileged (securityContext.privileged: true)." : undefined),
        PRIVILEGED_REMEDIATION,
    ),
};

const AUTOMOUNT_REMEDIATION =
    "set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount, declared in the same stack); " +
    "a model server does not call the Kubernetes API.";

/**
 * A stack policy, because the effective setting is the pod's `automountServiceAccountToken`, or, when the pod
 * leaves it unset, its ServiceAccount's. A ServiceAccount the stack does not declare (e.g. `default`) counts as
 * automounting.
 */
export const podNoServiceAccountToken: StackValidationPolicy = {
    name: "pod-no-service-account-token",
    description:
        "No pod automounts a service-account token: the pod spec sets automountServiceAccountToken: false, or leaves " +
        "it unset and its ServiceAccount (declared in the stack) sets it to false.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: AUTOMOUNT_REMEDIATION,
    validateStack: (args, report) => {
        const accounts = new Map<string, unknown>();
        for (const r of args.resources.filter((x) => x.type === SERVICE_ACCOUNT)) {
            const meta = obj(r.props.metadata);
            const key = `${meta.namespace || "default"}/${meta.name || r.name}`;
            accounts.set(key, r.props.automountServiceAccountToken);
        }
        let workloads = 0;
        for (const r of args.resources) {
            if (!WORKLOAD_TYPES.includes(r.type) || renderedFrom(r.urn)) continue;
            const w = workloadOf(r.type, r.name, r.props);
            if (!w) continue;
            workloads++;
            const podValue = w.podSpec.automountServiceAccountToken;
            if (podValue === false) continue;
            const saName = w.podSpec.serviceAccountName || w.podSpec.serviceAccount || "default";
            const where = `${kindOf(r.type)} ${w.namespace}/${w.name}`;
            if (podValue === true) {
                report(violation(`${where} sets automountServiceAccountToken: true.`, AUTOMOUNT_REMEDIATION), r.urn);
                continue;
            }
            const key = `${w.namespace}/${saName}`;
            if (!accounts.has(key)) {
                report(
                    violation(
                        `${where} leaves automountServiceAccountToken unset and its ServiceAccount "${saName}" is not declared in the stack, so the token is mounted.`,
                        AUTOMOUNT_REMEDIATION,
                    ),
                    r.urn,
                );
            } else if (accounts.get(key) !== false) {
                report(
                    violation(
                        `${where} leaves automountServiceAccountToken unset and its ServiceAccount "${saName}" does not set it to false, so the token is mounted.`,
                        AUTOMOUNT_REMEDIATION,
                    ),
                    r.urn,
                );
            }
        }
        if (workloads === 0) {
            return args.notApplicable("The stack declares no workload");
        }
    },
};

export const podPolicies = [
    podProbes,
    podResources,
    podRunAsNonRoot,
    containerNoPrivilegeEscalation,
    containerReadOnlyRootFilesystem,
    containerDropAllCapabilities,
    containerNotPrivileged,
    podNoServiceAccountToken,
];
