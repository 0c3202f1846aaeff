/**
 * ModelService / ModelNamespace under the Pulumi mocks: every item of issue 6 asserted on the rendered inputs, for
 * a CPU and a GPU model, a MIG model, canary models (nginx and replica-weighted), prod-like and dev-like ones; every
 * rendered object validated against the upstream schemas (kubernetes-models, @kubernetes-models/argo-rollouts)
 * including unknown fields.
 */
import { ANALYSIS_TEMPLATE_NAMES } from "../../components/rollouts/RolloutsController";
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import type { Environment, ModelConfig } from "../../config/schema";
import { hpaBehavior, KEDA_TRANSFER_HPA_OWNERSHIP, requestsPerSecondQuery } from "../../components/serving/autoscaling";
import { drainCanProgress, PdbPolicy } from "../../components/serving/disruption";
import { selectorLabels } from "../../domain/labels";
import { DEFAULT_DENY_POLICY_NAME, ModelNamespace } from "../../components/serving/ModelNamespace";
import { MODEL_SERVICE_TYPE, ModelService, ModelServiceArgs, ModelServiceRollouts, ModelServiceServing } from "../../components/serving/ModelService";
import { gpuScheduling } from "../../components/gpu/workloadGpu";
import { GpuScheduling, MODEL_SERVER_UID } from "../../components/serving/podTemplate";
import { K8sObject, k8sObjects, MockResource, runProgram, unwrap } from "../../support/harness";
import { formatReports, unknownFields, validateK8sObjects } from "../helpers/k8sValidate";

const NS = "models";
const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet";
const digestOf = (model: string) => `sha256:${Buffer.from(model.padEnd(32, "0")).toString("hex").slice(0, 64)}`;
const refOf = (model: string) => `${REGISTRY}/${model}@${digestOf(model)}`;
const LABEL_KEYS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
];
const TEMPLATES = ANALYSIS_TEMPLATE_NAMES;

function modelConfig(name: string, over: Partial<ModelConfig>): ModelConfig {
    return {
        name,
        version: "1.4.2",
        image: { digest: digestOf(name) },
        port: 8080,
        resources: { cpu: "500m", memory: "1Gi" },
        autoscaling: { minReplicas: 2, maxReplicas: 4, targetCpuUtilization: 70 },
        startupBudgetSeconds: 600,
        ...over,
    };
}

// The GPU helper's real output for a whole-GPU pool and a mixed-MIG pool.
const gpuWhole: GpuScheduling = gpuScheduling({ pool: "a10g", count: 1 }, { name: "a10g" });
const gpuMig: GpuScheduling = gpuScheduling(
    { pool: "h100-mig", profile: "1g.10gb", count: 1 },
    { name: "h100-mig", mig: { strategy: "mixed", layout: { "1g.10gb": 7 } } },
);

interface Scenario {
    label: string;
    environment: Environment;
    model: ModelConfig;
    gpu?: GpuScheduling;
    serving?: ModelServiceServing;
    rollouts?: ModelServiceRollouts;
    /** Expected namespaces the NetworkPolicies open the port to. */
    ingressNamespace: string;
    monitoringNamespace: string;
}

const SCENARIOS: Scenario[] = [
    {
        label: "CPU model, dev-like (1 replica max, annotations)",
        environment: "development",
        model: modelConfig("iris", { autoscaling: { minReplicas: 1, maxReplicas: 1, targetCpuUtilization: 80 } }),
        ingressNamespace: "ingress-nginx",
        monitoringNamespace: "monitoring",
    },
    {
        label: "CPU model, prod-like (RPS metric, custom namespaces, odd startup budget)",
        environment: "production",
        model: modelConfig("ranker", {
            port: 9000,
            resources: { cpu: "2", memory: "4Gi" },
            autoscaling: { minReplicas: 3, maxReplicas: 12, targetCpuUtilization: 60, targetRequestsPerSecond: 25.5 },
            startupBudgetSeconds: 605,
        }),
        serving: { ingressNamespace: "nginx-system", monitoringNamespace: "observability" },
        ingressNamespace: "nginx-system",
        monitoringNamespace: "observability",
    },
    {
        label: "GPU model, prod-like (ServiceMonitor, long startup)",
        environment: "production",
        model: modelConfig("llm", {
            resources: { cpu: "4", memory: "24Gi" },
            gpu: { pool: "a10g", count: 1 },
            autoscaling: { minReplicas: 2, maxReplicas: 6, targetCpuUtilization: 70, targetRequestsPerSecond: 4 },
            startupBudgetSeconds: 1800,
        }),
        gpu: gpuWhole,
        serving: { prometheusOperator: true, serviceMonitorLabels: { release: "kube-prometheus-stack" } },
        ingressNamespace: "ingress-nginx",
        monitoringNamespace: "monitoring",
    },
    {
        label: "MIG GPU model, dev-like",
        environment: "development",
        model: modelConfig("embed", {
            gpu: { pool: "h100-mig", profile: "1g.10gb", count: 1 },
            autoscaling: { minReplicas: 1, maxReplicas: 3, targetCpuUtilization: 75 },
        }),
        gpu: gpuMig,
        ingressNamespace: "ingress-nginx",
        monitoringNamespace: "monitoring",
    },
    {
        label: "canary CPU model, prod-like (nginx routing)",
        environment: "production",
        model: modelConfig("sentiment", {
            canary: {
                steps: [10, 25, 50],
                pauseSeconds: 120,
                analysis: {
                    successRate: 0.99,
                    maxClientErrorIncrease: 0.05,
                    p99LatencyMs: 300,
                    maxAccuracyDrop: 0.02,
                    minFeedbackSamples: 100,
                    minRequests: 100,
                },
            },
        }),
        rollouts: { trafficRouting: "nginx", host: "sentiment.models.example.com", analysisTemplates: TEMPLATES },
        ingressNamespace: "ingress-nginx",
        monitoringNamespace: "monitoring",
    },
    {
        label: "canary GPU model, dev-like (replica-weighted, ServiceMonitor)",
        environment: "development",
        model: modelConfig("vision", {
            gpu: { pool: "a10g", count: 1 },
            autoscaling: { minReplicas: 1, maxReplicas: 2, targetCpuUtilization: 70 },
            canary: {
                steps: [50],
                pauseSeconds: 60,
                analysis: { successRate: 0.95, maxClientErrorIncrease: 0.05, p99LatencyMs: 800, minFeedbackSamples: 100, minRequests: 100 },
            },
        }),
        gpu: gpuWhole,
        serving: { prometheusOperator: true },
        rollouts: { trafficRouting: "none", host: "vision.models.svc.cluster.local", analysisTemplates: TEMPLATES },
        ingressNamespace: "ingress-nginx",
        monitoringNamespace: "monitoring",
    },
    {
        label: "canary CPU model, prod-like (Istio routing, gateway namespace as ingress)",
        environment: "production",
        model: modelConfig("translate", {
            autoscaling: { minReplicas: 2, maxReplicas: 8, targetCpuUtilization: 70, targetRequestsPerSecond: 50 },
            canary: {
                steps: [5, 20, 50],
                pauseSeconds: 300,
                analysis: { successRate: 0.995, maxClientErrorIncrease: 0.05, p99LatencyMs: 250, minFeedbackSamples: 100, minRequests: 100 },
            },
        }),
        serving: { ingressNamespace: "istio-ingress" },
        rollouts: { trafficRouting: "istio", host: "translate.models.example.com", analysisTemplates: TEMPLATES },
        ingressNamespace: "istio-ingress",
        monitoringNamespace: "monitoring",
    },
];

const PROMETHEUS_URL = "http://prometheus.monitoring.svc:9090";
/** A model with a request-rate target autoscales through KEDA (serving.autoscaler `auto`, ModelService's default). */
const viaKeda = (m: ModelConfig) => m.autoscaling.targetRequestsPerSecond !== undefined;

interface Rendered {
    resources: MockResource[];
    objects: K8sObject[];
    outputs: Record<string, { serviceName: string; workloadKind: string; workloadName: string; hpaName: string }>;
}

function renderAll(scenarios: Scenario[]): Promise<Rendered> {
    return runProgram(async () => {
        const ns = new ModelNamespace("models", { name: NS });
        const outputs: Rendered["outputs"] = {};
        const services = scenarios.map((s) => {
            const args: ModelServiceArgs = {
                namespace: ns.namespaceName,
                model: s.model,
                // An Output, as ModelImage.ref is.
                image: pulumi.output(refOf(s.model.name)),
                environment: s.environment,
                gpu: s.gpu,
                serving: s.serving,
                workload: s.rollouts ? { kind: "Rollout", ...s.rollouts } : undefined,
                prometheusUrl: PROMETHEUS_URL,
            };
            return new ModelService(s.model.name, args);
        });
        for (const svc of services) {
            const name = await unwrap(svc.serviceName);
            outputs[name] = {
                serviceName: name,
                workloadKind: svc.workloadKind,
                workloadName: await unwrap(svc.workloadName),
                hpaName: await unwrap(svc.hpaName),
            };
        }
        return outputs;
    }).then(({ resources, result }) => ({ resources, objects: k8sObjects(resources), outputs: result }));
}

function find(objects: K8sObject[], kind: string, name: string, apiVersion?: string): K8sObject {
    const hits = objects.filter((o) => o.kind === kind && o.metadata?.name === name && (apiVersion === undefined || o.apiVersion === apiVersion));
    assert.equal(hits.length, 1, `expected exactly one ${kind} ${name}, found ${hits.length}`);
    return hits[0];
}

function workloadOf(objects: K8sObject[], s: Scenario): K8sObject {
    return s.model.canary ? find(objects, "Rollout", s.model.name, "argoproj.io/v1alpha1") : find(objects, "Deployment", s.model.name, "apps/v1");
}

/** Objects belonging to a model (by `app.kubernetes.io/name`). */
function objectsOf(objects: K8sObject[], model: string): K8sObject[] {
    return objects.filter((o) => o.metadata?.labels?.["app.kubernetes.io/name"] === model);
}

/** Pod Security Standards "restricted" profile, as the admission controller checks a pod spec. */
function restrictedViolations(pod: any): string[] {
    const out: string[] = [];
    const psc = pod.securityContext ?? {};
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push("host namespaces");
    const allowedVolumes = new Set(["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]);
    for (const v of pod.volumes ?? []) {
        const kinds = Object.keys(v).filter((k) => k !== "name");
        if (!kinds.every((k) => allowedVolumes.has(k))) out.push(`volume ${v.name} type ${kinds}`);
    }
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = c.securityContext ?? {};
        if (sc.privileged) out.push(`${c.name} privileged`);
        if (sc.allowPrivilegeEscalation !== false) out.push(`${c.name} allowPrivilegeEscalation != false`);
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`${c.name} does not drop ALL`);
        if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== "NET_BIND_SERVICE")) out.push(`${c.name} adds capabilities`);
        if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${c.name} runAsNonRoot not true`);
        if ((sc.runAsUser ?? psc.runAsUser) === 0) out.push(`${c.name} runAsUser 0`);
        const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${c.name} seccomp ${seccomp}`);
        for (const p of c.ports ?? []) if (p.hostPort) out.push(`${c.name} hostPort`);
    }
    return out;
}

describe("serving: ModelService and ModelNamespace", function () {
    let r: Rendered;

    before(async function () {
        r = await renderAll(SCENARIOS);
    });

    describe("the namespace (declared once)", () => {
        it("declares the models namespace once, enforcing the restricted Pod Security Standard", () => {
            const namespaces = r.objects.filter((o) => o.kind === "Namespace");
            assert.equal(namespaces.length, 1);
            assert.equal(namespaces[0].metadata.name, NS);
            assert.equal(namespaces[0].metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
        });

        it("default-denies ingress for every pod of the namespace, once", () => {
            const policies = r.objects.filter((o) => o.kind === "NetworkPolicy" && o.metadata.name === DEFAULT_DENY_POLICY_NAME);
            assert.equal(policies.length, 1);
            const np = policies[0];
            assert.equal(np.metadata.namespace, NS);
            assert.deepEqual(np.spec.podSelector, {});
            assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
            assert.equal(np.spec.ingress, undefined, "a default-deny policy has no ingress rules");
        });

        it("every pod in the namespace passes the restricted profile", () => {
            for (const s of SCENARIOS) {
                assert.deepEqual(restrictedViolations(workloadOf(r.objects, s).spec.template.spec), [], s.model.name);
            }
        });
    });

    describe("every rendered object is valid", () => {
        it("validates against kubernetes-models / @kubernetes-models/argo-rollouts (ServiceMonitor has no schema)", async () => {
            const reports = await validateK8sObjects(r.objects);
            // No package has KEDA's schema: the sandbox e2e suite has the API server validate the ScaledObject with KEDA v2.21.0's CRD.
            assert.deepEqual(
                formatReports(reports, [
                    "monitoring.coreos.com/v1/ServiceMonitor",
                    "networking.istio.io/v1beta1/VirtualService",
                    "keda.sh/v1alpha1/ScaledObject",
                ]),
                [],
            );
            // The check really ran on each kind (a missing schema would hide a problem).
            const validated = new Set(reports.filter((x) => x.status === "valid").map((x) => `${x.object.apiVersion}/${x.object.kind}`));
            for (const k of [
                "v1/Namespace",
                "v1/ServiceAccount",
                "v1/Service",
                "apps/v1/Deployment",
                "argoproj.io/v1alpha1/Rollout",
                "autoscaling/v2/HorizontalPodAutoscaler",
                "policy/v1/PodDisruptionBudget",
                "networking.k8s.io/v1/NetworkPolicy",
                "networking.k8s.io/v1/Ingress",
            ]) {
                assert.ok(validated.has(k), `${k} was validated`);
            }
            assert.equal(
                reports.filter((x) => x.status === "no-schema").length,
                SCENARIOS.filter((s) => s.serving?.prometheusOperator).length +
                    SCENARIOS.filter((s) => s.rollouts?.trafficRouting === "istio").length +
                    SCENARIOS.filter((s) => viaKeda(s.model)).length,
            );
        });

        it("has no field the upstream types do not declare (the schemas alone accept unknown fields)", async () => {
            const unknown = await unknownFields(r.objects);
            const lines = [...unknown.entries()].map(([i, problems]) => `${r.objects[i].kind} ${r.objects[i].metadata.name}: ${problems.join("; ")}`);
            assert.deepEqual(lines, []);
        });
    });

    for (const s of SCENARIOS) {
        const m = s.model;
        const isGpu = m.gpu !== undefined;
        describe(`${m.name}: ${s.label}`, () => {
            const pod = () => workloadOf(r.objects, s).spec.template;
            const container = () => {
                const containers = pod().spec.containers;
                assert.equal(containers.length, 1);
                return containers[0];
            };

            it("outputs the Service, workload and HPA names and the workload kind", () => {
                assert.deepEqual(r.outputs[m.name], {
                    serviceName: m.name,
                    workloadKind: m.canary ? "Rollout" : "Deployment",
                    workloadName: m.name,
                    hpaName: m.name,
                });
                assert.equal(r.resources.filter((x) => x.type === MODEL_SERVICE_TYPE && x.name === m.name).length, 1);
            });

            it("has a ServiceAccount that mounts no token", () => {
                const sa = find(r.objects, "ServiceAccount", m.name);
                assert.equal(sa.metadata.namespace, NS);
                assert.equal(sa.automountServiceAccountToken, false);
                assert.equal(pod().spec.serviceAccountName, m.name);
                assert.equal(pod().spec.automountServiceAccountToken, false);
            });

            it("has a ClusterIP Service on the model port, named http, selecting by name without version", () => {
                const svc = find(r.objects, "Service", m.name);
                assert.equal(svc.spec.type, "ClusterIP");
                assert.deepEqual(svc.spec.ports, [{ name: "http", port: m.port, targetPort: "http", protocol: "TCP" }]);
                assert.deepEqual(svc.spec.selector, selectorLabels(m.name));
                assert.deepEqual(container().ports, [{ name: "http", containerPort: m.port, protocol: "TCP" }]);
            });

            if (m.canary) {
                it("is an Argo Rollout of the same pod template, and no Deployment", () => {
                    assert.equal(r.objects.filter((o) => o.kind === "Deployment" && o.metadata.name === m.name).length, 0);
                    const ro = workloadOf(r.objects, s);
                    assert.deepEqual(ro.spec.selector, { matchLabels: selectorLabels(m.name) });
                    assert.equal(ro.spec.strategy.canary.canaryService, `${m.name}-canary`);
                    assert.ok(ro.spec.progressDeadlineSeconds > m.startupBudgetSeconds, "a revision may use its whole startup budget");
                });

                it("passes its pod-template-hash to the server (POD_TEMPLATE_HASH, downward API) for feedback attribution", () => {
                    const env = container().env.filter((e: any) => e.name === "POD_TEMPLATE_HASH");
                    assert.deepEqual(env, [
                        { name: "POD_TEMPLATE_HASH", valueFrom: { fieldRef: { fieldPath: "metadata.labels['rollouts-pod-template-hash']" } } },
                    ]);
                });
            } else {
                it("is a Deployment the HPA owns (no replicas), surging without dropping capacity", () => {
                    assert.equal(r.objects.filter((o) => o.kind === "Rollout" && o.metadata.name === m.name).length, 0);
                    const d = workloadOf(r.objects, s);
                    assert.equal(d.spec.replicas, undefined, "replicas belong to the HPA");
                    assert.deepEqual(d.spec.selector, { matchLabels: selectorLabels(m.name) });
                    assert.deepEqual(d.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
                    assert.ok(d.spec.progressDeadlineSeconds > m.startupBudgetSeconds, "a revision may use its whole startup budget");
                });

                it("has no POD_TEMPLATE_HASH (a Deployment's pods carry no rollouts-pod-template-hash)", () => {
                    assert.ok(!container().env.some((e: any) => e.name === "POD_TEMPLATE_HASH"));
                });
            }

            it("signs prediction ids with a per-model key: a generated Secret, passed as PREDICTION_ID_KEY to every pod", () => {
                const secret = find(r.objects, "Secret", `${m.name}-prediction-id-key`);
                assert.equal(secret.metadata.namespace, NS);
                assert.equal(secret.type, "Opaque");
                assert.deepEqual(Object.keys(secret.stringData), ["key"]);
                assert.match(secret.stringData.key, /^[A-Za-z0-9_-]{64}$/, "48 random bytes, base64url: above the server's 32-byte minimum");
                const keys = r.resources.filter((x) => x.type === "pulumi-nodejs:dynamic/serving:PredictionIdKey" && x.name === `${m.name}-prediction-id-key`);
                assert.equal(keys.length, 1);
                assert.equal(keys[0].inputs.bytes, 48);
                const env = container().env.filter((e: any) => e.name === "PREDICTION_ID_KEY");
                assert.deepEqual(env, [{ name: "PREDICTION_ID_KEY", valueFrom: { secretKeyRef: { name: `${m.name}-prediction-id-key`, key: "key" } } }]);
                // One key per model: the canary's and the stable's pods come from this one template.
                assert.equal(r.objects.filter((o) => o.kind === "Secret" && o.metadata.name.startsWith(`${m.name}-prediction-id`)).length, 1);
            });

            it(
                isGpu ? "requires CUDA (MODEL_DEVICE=cuda): the server refuses to start without it" : "leaves the device to the server (no MODEL_DEVICE)",
                () => {
                    const env = container().env.filter((e: any) => e.name === "MODEL_DEVICE");
                    assert.deepEqual(env, isGpu ? [{ name: "MODEL_DEVICE", value: "cuda" }] : []);
                },
            );

            if (s.rollouts?.trafficRouting === "nginx") {
                it("routes only the inference paths (/predict and the v2 model endpoints) through the Ingress (/feedback and /metrics stay in-cluster)", () => {
                    const ing = find(r.objects, "Ingress", m.name, "networking.k8s.io/v1");
                    const paths = ing.spec.rules.flatMap((rule: any) => rule.http.paths);
                    assert.deepEqual(
                        paths.map((p: any) => [p.path, p.pathType, p.backend.service.name]),
                        ["/predict", `/v2/models/${m.name}/infer`, `/v2/models/${m.name}/ready`, `/v2/models/${m.name}`].map((p) => [p, "Exact", m.name]),
                    );
                    assert.ok(!paths.some((p: any) => p.path === "/" || p.pathType === "Prefix" || p.pathType === "ImplementationSpecific"));
                });
            }

            it("runs the digest reference from ModelImage", () => {
                assert.equal(container().image, refOf(m.name));
                assert.match(container().image, /^[^@:]+(:\d+)?[^@:]*@sha256:[0-9a-f]{64}$/);
                assert.equal(container().imagePullPolicy, "IfNotPresent");
            });

            it("probes: startup /health for exactly the startup budget, readiness /ready, liveness /health", () => {
                const c = container();
                assert.deepEqual(c.startupProbe.httpGet, { path: "/health", port: "http" });
                assert.equal(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds, m.startupBudgetSeconds);
                assert.ok(c.startupProbe.timeoutSeconds <= c.startupProbe.periodSeconds);
                assert.deepEqual(c.readinessProbe.httpGet, { path: "/ready", port: "http" });
                assert.deepEqual(c.livenessProbe.httpGet, { path: "/health", port: "http" });
                assert.equal(c.livenessProbe.initialDelaySeconds, undefined, "the startup probe gates liveness; no guessed delay");
            });

            it("requests CPU and memory, limits memory to the request, and limits the GPU from the pool helper", () => {
                const res = container().resources;
                assert.deepEqual(res.requests, { cpu: m.resources.cpu, memory: m.resources.memory });
                assert.equal(res.limits.memory, m.resources.memory);
                assert.equal(res.limits.cpu, undefined, "no CPU limit (throttling)");
                if (isGpu) {
                    for (const [k, v] of Object.entries(s.gpu!.limits)) {
                        assert.equal(res.limits[k], v);
                        assert.ok(res.requests[k] === undefined || res.requests[k] === v, "extended resources: request = limit");
                    }
                } else {
                    assert.deepEqual(Object.keys(res.limits), ["memory"]);
                }
            });

            it("is hardened: non-root 10001, read-only root with /tmp emptyDir, no escalation, drop ALL, RuntimeDefault seccomp", () => {
                const psc = pod().spec.securityContext;
                assert.equal(psc.runAsNonRoot, true);
                assert.equal(psc.runAsUser, MODEL_SERVER_UID);
                assert.equal(psc.runAsGroup, MODEL_SERVER_UID);
                assert.equal(psc.fsGroup, MODEL_SERVER_UID);
                assert.deepEqual(psc.seccompProfile, { type: "RuntimeDefault" });
                const sc = container().securityContext;
                assert.equal(sc.runAsNonRoot, true);
                assert.equal(sc.runAsUser, 10001);
                assert.equal(sc.runAsGroup, 10001);
                assert.equal(sc.readOnlyRootFilesystem, true);
                assert.equal(sc.allowPrivilegeEscalation, false);
                assert.equal(sc.privileged, false);
                assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
                assert.deepEqual(sc.seccompProfile, { type: "RuntimeDefault" });
                const tmp = pod().spec.volumes.find((v: any) => v.name === "tmp");
                assert.ok(tmp?.emptyDir, "a /tmp emptyDir");
                assert.deepEqual(container().volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
            });

            it("shuts down gracefully: preStop sleep, then a grace period longer than it", () => {
                const sleep = container().lifecycle.preStop.sleep.seconds;
                assert.ok(sleep >= 5, "endpoints need a few seconds to drop the pod");
                const grace = pod().spec.terminationGracePeriodSeconds;
                assert.ok(grace > sleep + 10, "time left after the sleep to finish in-flight requests");
                // The server's own shutdown deadline (uvicorn timeout_graceful_shutdown) ends before SIGKILL.
                const env = Object.fromEntries(container().env.map((e: any) => [e.name, e.value]));
                assert.ok(Number(env.GRACEFUL_SHUTDOWN_SECONDS) > 0 && sleep + Number(env.GRACEFUL_SHUTDOWN_SECONDS) < grace);
                assert.equal(env.MODEL_NAME, m.name);
                assert.equal(env.PORT, String(m.port));
            });

            it(`spreads across zones${m.autoscaling.maxReplicas > 1 ? " and hosts" : " (no host spread for a single replica)"}${isGpu ? ", on the GPU pool" : ""}`, () => {
                const spread = pod().spec.topologySpreadConstraints;
                const keys = spread.map((c: any) => c.topologyKey);
                assert.deepEqual(
                    keys,
                    m.autoscaling.maxReplicas > 1 ? ["topology.kubernetes.io/zone", "kubernetes.io/hostname"] : ["topology.kubernetes.io/zone"],
                );
                for (const c of spread) {
                    assert.equal(c.maxSkew, 1);
                    assert.equal(c.whenUnsatisfiable, "ScheduleAnyway");
                    assert.deepEqual(c.labelSelector, { matchLabels: selectorLabels(m.name) });
                }
                if (isGpu) {
                    assert.deepEqual(pod().spec.nodeSelector, s.gpu!.nodeSelector);
                    assert.deepEqual(pod().spec.tolerations, s.gpu!.tolerations);
                } else {
                    assert.equal(pod().spec.nodeSelector, undefined);
                    assert.equal(pod().spec.tolerations, undefined);
                }
            });

            const target = () =>
                m.canary ? { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: m.name } : { apiVersion: "apps/v1", kind: "Deployment", name: m.name };
            const cpuTarget = () => ({
                type: "Resource",
                resource: { name: "cpu", target: { type: "Utilization", averageUtilization: m.autoscaling.targetCpuUtilization } },
            });
            /** The HPA's behaviour: the plain HPA's, or the one KEDA gives the HPA it makes. */
            const behavior = () =>
                viaKeda(m)
                    ? find(r.objects, "ScaledObject", m.name).spec.advanced.horizontalPodAutoscalerConfig.behavior
                    : find(r.objects, "HorizontalPodAutoscaler", m.name).spec.behavior;

            if (viaKeda(m)) {
                it("autoscales through a KEDA ScaledObject: same target, bounds and HPA name; CPU and the model's request rate from Prometheus", () => {
                    assert.equal(
                        r.objects.filter((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.labels?.["app.kubernetes.io/name"] === m.name).length,
                        0,
                    );
                    const so = find(r.objects, "ScaledObject", m.name);
                    assert.equal(so.apiVersion, "keda.sh/v1alpha1");
                    assert.equal(so.metadata.namespace, NS);
                    assert.equal(so.metadata.annotations[KEDA_TRANSFER_HPA_OWNERSHIP], "true");
                    assert.deepEqual(so.spec.scaleTargetRef, target());
                    assert.equal(so.spec.minReplicaCount, m.autoscaling.minReplicas);
                    assert.equal(so.spec.maxReplicaCount, m.autoscaling.maxReplicas);
                    assert.equal(so.spec.advanced.horizontalPodAutoscalerConfig.name, m.name, "the HPA keeps the model's name (dashboards, alerts)");
                    assert.deepEqual(
                        so.spec.advanced.horizontalPodAutoscalerConfig.behavior,
                        hpaBehavior({ gpu: isGpu, startupBudgetSeconds: m.startupBudgetSeconds }),
                    );
                    assert.deepEqual(so.spec.triggers, [
                        { type: "cpu", metricType: "Utilization", metadata: { value: String(m.autoscaling.targetCpuUtilization) } },
                        {
                            type: "prometheus",
                            metricType: "AverageValue",
                            metadata: {
                                serverAddress: PROMETHEUS_URL,
                                query: `sum(rate(model_server_requests_total{namespace="${NS}",app_kubernetes_io_name="${m.name}"}[2m]))`,
                                threshold: String(m.autoscaling.targetRequestsPerSecond),
                            },
                        },
                    ]);
                    assert.equal(so.spec.triggers[1].metadata.query, requestsPerSecondQuery(NS, m.name));
                });
            } else {
                it("autoscales (autoscaling/v2) the workload within the configured bounds on CPU", () => {
                    const hpa = find(r.objects, "HorizontalPodAutoscaler", m.name);
                    assert.equal(hpa.apiVersion, "autoscaling/v2");
                    assert.deepEqual(hpa.spec.scaleTargetRef, target());
                    assert.equal(hpa.spec.minReplicas, m.autoscaling.minReplicas);
                    assert.equal(hpa.spec.maxReplicas, m.autoscaling.maxReplicas);
                    assert.deepEqual(hpa.spec.metrics, [cpuTarget()]);
                    assert.equal(r.objects.filter((o) => o.kind === "ScaledObject" && o.metadata.name === m.name).length, 0);
                });
            }

            it(`scales up and down with policies, damping scale-down ${isGpu ? "for ≥ 10 min and ≥ the startup budget (GPU)" : "for 5 min"}`, () => {
                const b = behavior();
                assert.ok(b.scaleUp.policies.length > 0 && b.scaleDown.policies.length > 0);
                const window = b.scaleDown.stabilizationWindowSeconds;
                if (isGpu) {
                    assert.ok(window >= 600 && window >= Math.min(3600, m.startupBudgetSeconds), `GPU scale-down window ${window}`);
                    assert.ok(b.scaleUp.stabilizationWindowSeconds > 0, "a GPU pod is not added for a momentary spike");
                    // At most one GPU pod removed per period.
                    assert.deepEqual(b.scaleDown.policies, [{ type: "Pods", value: 1, periodSeconds: 300 }]);
                } else {
                    assert.equal(window, 300);
                }
                assert.ok(window <= 3600, "API maximum");
            });

            it("has a PodDisruptionBudget of maxUnavailable 1 that lets a drain progress at minReplicas", () => {
                const pdb = find(r.objects, "PodDisruptionBudget", m.name);
                assert.equal(pdb.apiVersion, "policy/v1");
                assert.equal(pdb.spec.maxUnavailable, 1);
                assert.equal(pdb.spec.minAvailable, undefined);
                assert.deepEqual(pdb.spec.selector, { matchLabels: selectorLabels(m.name) });
                assert.equal(pdb.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
                assert.ok(drainCanProgress(pdb.spec as PdbPolicy, m.autoscaling.minReplicas));
            });

            it(`allows ${s.ingressNamespace} → model port and ${s.monitoringNamespace} → metrics port, nothing else`, () => {
                const policies = r.objects.filter((o) => o.kind === "NetworkPolicy" && o.metadata.labels?.["app.kubernetes.io/name"] === m.name);
                assert.deepEqual(policies.map((p) => p.metadata.name).sort(), [`${m.name}-allow-ingress`, `${m.name}-allow-monitoring`]);
                const expectFrom = { [`${m.name}-allow-ingress`]: s.ingressNamespace, [`${m.name}-allow-monitoring`]: s.monitoringNamespace };
                for (const np of policies) {
                    assert.deepEqual(np.spec.podSelector, { matchLabels: selectorLabels(m.name) });
                    assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
                    assert.deepEqual(np.spec.ingress, [
                        {
                            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": expectFrom[np.metadata.name] } } }],
                            ports: [{ protocol: "TCP", port: m.port }],
                        },
                    ]);
                }
            });

            if (s.serving?.prometheusOperator) {
                it("is scraped through a ServiceMonitor (no scrape annotations)", () => {
                    const sm = find(r.objects, "ServiceMonitor", m.name, "monitoring.coreos.com/v1");
                    assert.equal(sm.metadata.namespace, NS);
                    for (const [k, v] of Object.entries(s.serving?.serviceMonitorLabels ?? {})) assert.equal(sm.metadata.labels[k], v);
                    const svc = find(r.objects, "Service", m.name);
                    // The selector matches the model's Service(s) and names a port they have.
                    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
                    assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [NS] });
                    assert.equal(sm.spec.endpoints.length, 1);
                    const ep = sm.spec.endpoints[0];
                    assert.equal(ep.port, svc.spec.ports[0].name);
                    if (m.canary) {
                        // The canary Service is matched too (canary pods are scraped during a canary), on the same port name.
                        const canarySvc = find(r.objects, "Service", `${m.name}-canary`);
                        for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(canarySvc.metadata.labels[k], v);
                        assert.equal(canarySvc.spec.ports[0].name, ep.port);
                    }
                    assert.equal(ep.path, "/metrics");
                    assert.deepEqual(
                        ep.relabelings.map((x: any) => x.targetLabel),
                        ["job", "service"],
                    );
                    assert.ok(sm.spec.podTargetLabels.includes("app.kubernetes.io/name"));
                    assert.ok(sm.spec.podTargetLabels.includes("rollouts-pod-template-hash"));
                    const ann = pod().metadata.annotations ?? {};
                    assert.equal(ann["prometheus.io/scrape"], undefined);
                });
            } else {
                it("is scraped through prometheus.io annotations on the pod template (no ServiceMonitor)", () => {
                    const ann = pod().metadata.annotations;
                    assert.equal(ann["prometheus.io/scrape"], "true");
                    assert.equal(ann["prometheus.io/port"], String(m.port));
                    assert.equal(ann["prometheus.io/path"], "/metrics");
                    assert.equal(r.objects.filter((o) => o.kind === "ServiceMonitor" && o.metadata.name === m.name).length, 0);
                });
            }

            it("labels every object (name, component, part-of, managed-by), and only the workload and its pods with the version", () => {
                const mine = objectsOf(r.objects, m.name);
                const kinds = mine.map((o) => o.kind).sort();
                const expected = [
                    "ServiceAccount",
                    "Service",
                    m.canary ? "Rollout" : "Deployment",
                    viaKeda(m) ? "ScaledObject" : "HorizontalPodAutoscaler",
                    "PodDisruptionBudget",
                    "NetworkPolicy",
                    "NetworkPolicy",
                    "Secret", // the prediction-id key
                ];
                if (s.serving?.prometheusOperator) expected.push("ServiceMonitor");
                if (m.canary) expected.push("Service"); // the canary Service
                if (s.rollouts?.trafficRouting === "nginx") expected.push("Ingress");
                if (s.rollouts?.trafficRouting === "istio") expected.push("VirtualService");
                assert.deepEqual(kinds, expected.sort());
                for (const o of mine) {
                    const workload = o.kind === "Rollout" || o.kind === "Deployment";
                    for (const k of LABEL_KEYS.filter((x) => workload || x !== "app.kubernetes.io/version"))
                        assert.ok(o.metadata.labels[k], `${o.kind} ${o.metadata.name} has ${k}`);
                    // A release must update only the workload: no other object carries the version.
                    assert.equal(o.metadata.labels["app.kubernetes.io/version"], workload ? m.version : undefined, `${o.kind} ${o.metadata.name}`);
                    assert.equal(o.metadata.namespace, NS);
                }
                assert.equal(pod().metadata.labels["app.kubernetes.io/version"], m.version);
                for (const k of LABEL_KEYS) assert.ok(pod().metadata.labels[k]);
            });

            it("never selects on the version (a release would orphan the old pods)", () => {
                const selectors = [
                    find(r.objects, "Service", m.name).spec.selector,
                    workloadOf(r.objects, s).spec.selector.matchLabels,
                    find(r.objects, "PodDisruptionBudget", m.name).spec.selector.matchLabels,
                    ...r.objects
                        .filter((o) => o.kind === "NetworkPolicy" && o.metadata.labels?.["app.kubernetes.io/name"] === m.name)
                        .map((o) => o.spec.podSelector.matchLabels),
                    ...pod().spec.topologySpreadConstraints.map((c: any) => c.labelSelector.matchLabels),
                ];
                for (const sel of selectors) {
                    assert.equal(sel["app.kubernetes.io/version"], undefined);
                    // …and every selector matches the pod template.
                    for (const [k, v] of Object.entries(sel)) assert.equal(pod().metadata.labels[k], v);
                }
            });
        });
    }

    describe("refusals (before anything is declared)", () => {
        const base = SCENARIOS[1];
        const cases: Array<[string, Partial<ModelServiceArgs>, RegExp]> = [
            [
                "production with minReplicas 1",
                { model: modelConfig("bad", { autoscaling: { minReplicas: 1, maxReplicas: 3, targetCpuUtilization: 70 } }), environment: "production" },
                /minReplicas \(1\) must be ≥ 2 in production/,
            ],
            [
                "minReplicas above maxReplicas",
                { model: modelConfig("bad", { autoscaling: { minReplicas: 4, maxReplicas: 3, targetCpuUtilization: 70 } }) },
                /must be ≤ maxReplicas/,
            ],
            [
                "a GPU model without GPU scheduling",
                { model: modelConfig("bad", { gpu: { pool: "a10g", count: 1 } }) },
                /requests a GPU \(pool a10g\) but no GPU scheduling/,
            ],
            ["GPU scheduling for a CPU model", { model: modelConfig("bad", {}), gpu: gpuWhole }, /has no gpu config but GPU scheduling was passed/],
            [
                "a canary model without rollouts wiring",
                {
                    model: modelConfig("bad", {
                        canary: {
                            steps: [50],
                            pauseSeconds: 60,
                            analysis: { successRate: 0.99, maxClientErrorIncrease: 0.05, p99LatencyMs: 100, minFeedbackSamples: 100, minRequests: 100 },
                        },
                    }),
                },
                /has a canary but no rollouts wiring/,
            ],
        ];
        for (const [what, over, message] of cases) {
            it(`refuses ${what}`, async () => {
                const { resources, result } = await runProgram(() => {
                    try {
                        new ModelService("bad", { namespace: NS, image: refOf("bad"), model: base.model, ...over });
                        return undefined;
                    } catch (e) {
                        return e as Error;
                    }
                });
                assert.ok(pulumi.InputPropertiesError.isInstance(result), "an InputPropertiesError (printed without a stack trace)");
                assert.equal(result.stack, result.message, "no stack trace");
                assert.match(result.message, /^ModelService bad: /);
                assert.match(result.message, message);
                assert.deepEqual(resources, [], "nothing registered");
            });
        }
    });
});
