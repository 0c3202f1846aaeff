/**
 * The hardened pod template of a model server (pure: no resources, no `apply`).
 *
 * The same template is used by the Deployment (no canary) and by the Argo Rollout (canary), so the two workload
 * kinds cannot drift apart.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { GpuScheduling } from "../gpu/workloadGpu";
import { modelLabels, selectorLabels } from "../../domain/labels";
import { PORT_NAME } from "../../domain/serving";

/** uid/gid of the model-server image's non-root user (images/model-server/Dockerfile). */
export const MODEL_SERVER_UID = 10001;
export const CONTAINER_NAME = "model-server";
export { PORT_NAME };
export const HEALTH_PATH = "/health";
export const READY_PATH = "/ready";
export const METRICS_PATH = "/metrics";
/** Seconds the preStop hook sleeps so endpoints (kube-proxy, ingress-nginx) drop the pod before SIGTERM. */
export const DEFAULT_PRESTOP_SLEEP_SECONDS = 10;
/** Seconds the server gets after SIGTERM to finish in-flight requests (uvicorn drains on SIGTERM). */
export const DEFAULT_DRAIN_SECONDS = 30;
/**
 * Env var carrying the pod's `rollouts-pod-template-hash` label (downward API). The server encodes it in every
 * prediction id, so whichever pod receives the feedback counts it for the version that served the prediction
 * (`model_server_feedback_total{served_by}`, the quality gate's input).
 */
export const POD_TEMPLATE_HASH_ENV = "POD_TEMPLATE_HASH";
/** Label Argo Rollouts puts on every pod of a Rollout's ReplicaSet. */
export const ROLLOUTS_POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash";
/**
 * Env var and Secret key of the prediction-id HMAC key: one Secret per model (ModelService declares it), shared by
 * every pod of the model, canary and stable, so any pod verifies any pod's prediction ids (images/model-server/app/ids.py).
 */
export const PREDICTION_ID_KEY_ENV = "PREDICTION_ID_KEY";
export const PREDICTION_ID_KEY_SECRET_KEY = "key";
/**
 * Env var that makes the server require CUDA: set for every model with `gpu:`, so the server refuses to start (exit 1,
 * images/model-server/app/preflight.py) when its onnxruntime has no CUDA provider or it sees no GPU, instead of
 * holding a GPU and inferring on CPU.
 */
export const MODEL_DEVICE_ENV = "MODEL_DEVICE";
/** Name of the image volume that carries a model's weights artifact (`models[].weights`, docs/design/weights.md). */
export const WEIGHTS_VOLUME_NAME = "weights";
/** Where the weights artifact is mounted, read-only: its files (model.onnx, card.json, …) sit at the mount's root. */
export const WEIGHTS_MOUNT_PATH = "/weights";
/** Env var of the ONNX file the server loads (images/model-server/app/main.py; default /models/model.onnx, in the image). */
export const MODEL_PATH_ENV = "MODEL_PATH";
/** The weights artifact's model file, relative to its root. */
export const WEIGHTS_MODEL_FILE = "model.onnx";

/** Size limit of the writable `/tmp` emptyDir (the root filesystem is read-only). */
export const TMP_SIZE_LIMIT = "1Gi";

/**
 * GPU placement of a workload, as `components/gpu/workloadGpu.ts`' `gpuScheduling(...)` returns it: `limits` holds
 * the extended resource (`nvidia.com/gpu` or `nvidia.com/mig-<profile>`) → count, plus the pool's toleration and
 * nodeSelector.
 */
export type { GpuScheduling } from "../gpu/workloadGpu";

export interface PodTemplateInput {
    /** Model name (DNS label). */
    model: string;
    /** Model version (semver). */
    version: string;
    /** Image digest reference `<repository>@sha256:…`. */
    image: pulumi.Input<string>;
    /** Container port: serves the API, `/health`, `/ready` and `/metrics`. */
    port: number;
    /** CPU and memory requests; the memory limit equals the request. */
    resources: { cpu: string; memory: string };
    /** Startup probe budget: failureThreshold × periodSeconds equals it exactly. */
    startupBudgetSeconds: number;
    /** HPA upper bound: host spreading is added when there can be more than one replica. */
    maxReplicas: number;
    /** ServiceAccount the pod runs as. */
    serviceAccountName: pulumi.Input<string>;
    /** GPU limits and placement; absent for a CPU model. */
    gpu?: GpuScheduling;
    /** Add `prometheus.io/*` scrape annotations (false when a ServiceMonitor does the scraping). */
    scrapeAnnotations: boolean;
    /** preStop sleep; default DEFAULT_PRESTOP_SLEEP_SECONDS. */
    preStopSleepSeconds?: number;
    /** Time after SIGTERM for in-flight requests; default DEFAULT_DRAIN_SECONDS. */
    drainSeconds?: number;
    /** Registry pull Secrets (Harbor's robot credentials); default none (ECR pulls with the node role). */
    imagePullSecrets?: pulumi.Input<string>[];
    /** Pass the Argo pod-template-hash label as POD_TEMPLATE_HASH (canary models: the Rollout's pods); default false. */
    podTemplateHashEnv?: boolean;
    /** Name of the model's Secret holding the prediction-id HMAC key (PREDICTION_ID_KEY_SECRET_KEY); default none (the server makes a per-pod key). */
    predictionIdKeySecret?: pulumi.Input<string>;
    /**
     * The weights artifact `<repository>@sha256:…`, mounted read-only at WEIGHTS_MOUNT_PATH with an image volume, and
     * MODEL_PATH pointing into it; default none (the server loads the weights baked into its image).
     */
    weights?: pulumi.Input<string>;
}

/** The image volume of a weights artifact (k8s.io/api v0.35 core/v1 ImageVolumeSource: `reference`, `pullPolicy`). */
export function weightsVolume(reference: pulumi.Input<string>): k8s.types.input.core.v1.Volume {
    // A digest reference is immutable: IfNotPresent never re-pulls what the node already has (as for the server image).
    return { name: WEIGHTS_VOLUME_NAME, image: { reference, pullPolicy: "IfNotPresent" } };
}

export interface ProbeTiming {
    periodSeconds: number;
    failureThreshold: number;
}

/**
 * Startup probe timing whose failureThreshold × periodSeconds is exactly `budgetSeconds`: the largest period
 * in 10..1 s that divides the budget (10 s for round budgets such as the default 600 s → 60 × 10 s).
 */
export function startupProbeTiming(budgetSeconds: number): ProbeTiming {
    if (!Number.isInteger(budgetSeconds) || budgetSeconds < 1) {
        throw new Error(`startupBudgetSeconds must be a positive integer, got ${budgetSeconds}`);
    }
    for (let period = 10; period >= 1; period--) {
        if (budgetSeconds % period === 0) {
            return { periodSeconds: period, failureThreshold: budgetSeconds / period };
        }
    }
    /* istanbul ignore next: period 1 always divides */
    throw new Error("unreachable");
}

/** terminationGracePeriodSeconds: the preStop sleep plus the drain time (the sleep counts against the grace period). */
export function terminationGracePeriod(preStopSleepSeconds: number, drainSeconds: number): number {
    return preStopSleepSeconds + drainSeconds;
}

/** The server's own graceful-shutdown deadline: the drain time minus a 5 s margin before SIGKILL (at least 1 s). */
export function serverShutdownSeconds(drainSeconds: number): number {
    return Math.max(1, drainSeconds - 5);
}

/** Topology spread: zones always; hosts too when the model can have more than one replica. Soft (ScheduleAnyway). */
export function topologySpread(model: string, maxReplicas: number): k8s.types.input.core.v1.TopologySpreadConstraint[] {
    const labelSelector = { matchLabels: selectorLabels(model) };
    const zone: k8s.types.input.core.v1.TopologySpreadConstraint = {
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector,
    };
    if (maxReplicas <= 1) {
        return [zone];
    }
    return [
        zone,
        {
            maxSkew: 1,
            topologyKey: "kubernetes.io/hostname",
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector,
        },
    ];
}

/** `prometheus.io/*` annotations for annotation-based scraping (the kubernetes-pods job convention). */
export function scrapeAnnotations(port: number): Record<string, string> {
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(port),
        "prometheus.io/path": METRICS_PATH,
    };
}

/** The hardened pod template. */
export function buildPodTemplate(input: PodTemplateInput): k8s.types.input.core.v1.PodTemplateSpec {
    const preStop = input.preStopSleepSeconds ?? DEFAULT_PRESTOP_SLEEP_SECONDS;
    const drain = input.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
    const startup = startupProbeTiming(input.startupBudgetSeconds);
    const gpu = input.gpu;

    const annotations: Record<string, string> = {
        "kubectl.kubernetes.io/default-container": CONTAINER_NAME,
        ...(input.scrapeAnnotations ? scrapeAnnotations(input.port) : {}),
    };

    const container: k8s.types.input.core.v1.Container = {
        name: CONTAINER_NAME,
        image: input.image,
        // A digest reference is immutable: never re-pull what the node already has.
        imagePullPolicy: "IfNotPresent",
        ports: [{ name: PORT_NAME, containerPort: input.port, protocol: "TCP" }],
        // The server's environment contract (/work/notes/metrics.md). MODEL_VERSION and GIT_SHA are baked into the
        // image at build time: the image, not the config, is the authority on what it runs.
        env: [
            { name: "MODEL_NAME", value: input.model },
            { name: "PORT", value: String(input.port) },
            // uvicorn's own shutdown deadline, inside the grace period so SIGKILL never cuts a drain short.
            { name: "GRACEFUL_SHUTDOWN_SECONDS", value: String(serverShutdownSeconds(drain)) },
            // Python writes caches under $HOME; the root filesystem is read-only.
            { name: "HOME", value: "/tmp" },
            // One server worker per requested core (the measured optimum; the pod sees its whole node's cores).
            { name: "WEB_CONCURRENCY", value: String(serverWorkers(input.resources.cpu)) },
            { name: "PYTHONDONTWRITEBYTECODE", value: "1" },
            ...(input.podTemplateHashEnv
                ? [{ name: POD_TEMPLATE_HASH_ENV, valueFrom: { fieldRef: { fieldPath: `metadata.labels['${ROLLOUTS_POD_TEMPLATE_HASH_LABEL}']` } } }]
                : []),
            ...(input.predictionIdKeySecret !== undefined
                ? [{ name: PREDICTION_ID_KEY_ENV, valueFrom: { secretKeyRef: { name: input.predictionIdKeySecret, key: PREDICTION_ID_KEY_SECRET_KEY } } }]
                : []),
            ...(gpu ? [{ name: MODEL_DEVICE_ENV, value: "cuda" }] : []),
            ...(input.weights !== undefined ? [{ name: MODEL_PATH_ENV, value: `${WEIGHTS_MOUNT_PATH}/${WEIGHTS_MODEL_FILE}` }] : []),
        ],
        resources: {
            requests: { cpu: input.resources.cpu, memory: input.resources.memory },
            // Memory limit = request (no overcommit: an OOM kill beats a noisy neighbour). No CPU limit (throttling
            // hurts latency). GPUs are extended resources: set as limits only, the request defaults to the limit.
            limits: { memory: input.resources.memory, ...(gpu?.limits ?? {}) },
        },
        startupProbe: {
            httpGet: { path: HEALTH_PATH, port: PORT_NAME },
            periodSeconds: startup.periodSeconds,
            failureThreshold: startup.failureThreshold,
            timeoutSeconds: Math.min(5, startup.periodSeconds),
        },
        readinessProbe: {
            httpGet: { path: READY_PATH, port: PORT_NAME },
            periodSeconds: 5,
            timeoutSeconds: 3,
            failureThreshold: 3,
            successThreshold: 1,
        },
        livenessProbe: {
            httpGet: { path: HEALTH_PATH, port: PORT_NAME },
            periodSeconds: 15,
            timeoutSeconds: 5,
            failureThreshold: 4,
        },
        lifecycle: {
            // The kubelet's own sleep handler (K8s ≥ 1.30; needs no `sleep` binary in the image).
            preStop: { sleep: { seconds: preStop } },
        },
        securityContext: {
            runAsNonRoot: true,
            runAsUser: MODEL_SERVER_UID,
            runAsGroup: MODEL_SERVER_UID,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: ["ALL"] },
            seccompProfile: { type: "RuntimeDefault" },
        },
        volumeMounts: [
            { name: "tmp", mountPath: "/tmp" },
            // Image volumes are always read-only (and noexec); readOnly states it in the template too.
            ...(input.weights !== undefined ? [{ name: WEIGHTS_VOLUME_NAME, mountPath: WEIGHTS_MOUNT_PATH, readOnly: true }] : []),
        ],
        terminationMessagePolicy: "FallbackToLogsOnError",
    };

    const spec: k8s.types.input.core.v1.PodSpec = {
        serviceAccountName: input.serviceAccountName,
        automountServiceAccountToken: false,
        ...(input.imagePullSecrets && input.imagePullSecrets.length > 0 ? { imagePullSecrets: input.imagePullSecrets.map((name) => ({ name })) } : {}),
        enableServiceLinks: false,
        terminationGracePeriodSeconds: terminationGracePeriod(preStop, drain),
        securityContext: {
            runAsNonRoot: true,
            runAsUser: MODEL_SERVER_UID,
            runAsGroup: MODEL_SERVER_UID,
            fsGroup: MODEL_SERVER_UID,
            seccompProfile: { type: "RuntimeDefault" },
        },
        containers: [container],
        volumes: [{ name: "tmp", emptyDir: { sizeLimit: TMP_SIZE_LIMIT } }, ...(input.weights !== undefined ? [weightsVolume(input.weights)] : [])],
        topologySpreadConstraints: topologySpread(input.model, input.maxReplicas),
        ...(gpu ? { nodeSelector: gpu.nodeSelector, tolerations: gpu.tolerations } : {}),
    };

    return {
        metadata: {
            labels: modelLabels(input.model, input.version),
            annotations,
        },
        spec,
    };
}

/**
 * Server worker processes for a CPU request: one per requested core, rounded up, at least one (bench/RESULTS-server.md:
 * beyond one worker per core, throughput fell and p99 rose). `500m` → 1, `2` → 2, `2500m` → 3.
 */
export function serverWorkers(cpu: string): number {
    const m = /^([0-9.]+)(m?)$/.exec(cpu);
    if (!m) throw new Error(`CPU request "${cpu}" is not cores or millicores`);
    const cores = Number(m[1]) / (m[2] === "m" ? 1000 : 1);
    return Math.max(1, Math.ceil(cores - 1e-9));
}
