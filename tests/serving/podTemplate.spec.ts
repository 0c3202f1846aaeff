/** Pure serving logic: labels, the pod template, probe and autoscaling arithmetic, the KEDA ScaledObject. */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { hpaBehavior, hpaMetrics, modelAutoscaler, RPS_SOURCE_COUNTER, scaledObjectSpec, scaleDownWindowSeconds } from "../../components/serving/autoscaling";
import { LABEL_VALUE, labelValue, modelLabels, selectorLabels } from "../../domain/labels";
import {
    buildPodTemplate,
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_PRESTOP_SLEEP_SECONDS,
    MODEL_PATH_ENV,
    POD_TEMPLATE_HASH_ENV,
    PodTemplateInput,
    startupProbeTiming,
    terminationGracePeriod,
    topologySpread,
    serverWorkers,
    WEIGHTS_VOLUME_NAME,
} from "../../components/serving/podTemplate";
import { unwrap } from "../../support/harness";
import { validateK8sObject } from "../helpers/k8sValidate";

const INPUT: PodTemplateInput = {
    model: "iris",
    version: "2.0.1",
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/iris@sha256:" + "c".repeat(64),
    port: 8080,
    resources: { cpu: "250m", memory: "512Mi" },
    startupBudgetSeconds: 600,
    maxReplicas: 3,
    serviceAccountName: "iris",
    scrapeAnnotations: true,
};

describe("serving: labels", () => {
    it("carries the five standard labels, version included", () => {
        assert.deepEqual(modelLabels("iris", "2.0.1"), {
            "app.kubernetes.io/name": "iris",
            "app.kubernetes.io/version": "2.0.1",
            "app.kubernetes.io/component": "model-server",
            "app.kubernetes.io/part-of": "model-fleet",
            "app.kubernetes.io/managed-by": "pulumi",
        });
    });

    it("selects without the version, on a subset of the labels", () => {
        const sel = selectorLabels("iris");
        assert.deepEqual(Object.keys(sel).sort(), ["app.kubernetes.io/name", "app.kubernetes.io/part-of"]);
        for (const [k, v] of Object.entries(sel)) assert.equal(modelLabels("iris", "9.9.9")[k], v);
    });

    it("turns any version into a valid label value", () => {
        assert.equal(labelValue("1.2.3"), "1.2.3");
        assert.equal(labelValue("1.2.3-rc.1"), "1.2.3-rc.1");
        assert.equal(labelValue("1.2.3+build.7"), "1.2.3_build.7");
        assert.equal(labelValue("-x-"), "x");
        for (const v of ["1.0.0+" + "a".repeat(80), "v1/2", "..1..", "1.0.0-", "ü1"]) {
            const out = labelValue(v);
            assert.ok(out.length <= 63 && LABEL_VALUE.test(out), `${v} → ${out}`);
        }
    });
});

describe("serving: probe and shutdown arithmetic", () => {
    it("startup probe: failureThreshold × periodSeconds equals the budget exactly", () => {
        assert.deepEqual(startupProbeTiming(600), { periodSeconds: 10, failureThreshold: 60 });
        assert.deepEqual(startupProbeTiming(605), { periodSeconds: 5, failureThreshold: 121 });
        assert.deepEqual(startupProbeTiming(601), { periodSeconds: 1, failureThreshold: 601 });
        assert.deepEqual(startupProbeTiming(3600), { periodSeconds: 10, failureThreshold: 360 });
        for (let budget = 10; budget <= 3600; budget += 7) {
            const t = startupProbeTiming(budget);
            assert.equal(t.periodSeconds * t.failureThreshold, budget);
            assert.ok(t.periodSeconds >= 1 && t.periodSeconds <= 10);
        }
    });

    it("refuses a budget that is not a positive integer", () => {
        for (const bad of [0, -10, 12.5, NaN]) assert.throws(() => startupProbeTiming(bad), /positive integer/);
    });

    it("the grace period covers the preStop sleep plus the drain", () => {
        assert.equal(terminationGracePeriod(DEFAULT_PRESTOP_SLEEP_SECONDS, DEFAULT_DRAIN_SECONDS), DEFAULT_PRESTOP_SLEEP_SECONDS + DEFAULT_DRAIN_SECONDS);
        const t = buildPodTemplate({ ...INPUT, preStopSleepSeconds: 20, drainSeconds: 90 });
        assert.equal((t.spec as any).terminationGracePeriodSeconds, 110);
        assert.deepEqual((t.spec as any).containers[0].lifecycle, { preStop: { sleep: { seconds: 20 } } });
    });

    it("spreads over zones always and over hosts only when there can be more than one replica", () => {
        assert.deepEqual(
            topologySpread("m", 1).map((c) => c.topologyKey),
            ["topology.kubernetes.io/zone"],
        );
        assert.deepEqual(
            topologySpread("m", 2).map((c) => c.topologyKey),
            ["topology.kubernetes.io/zone", "kubernetes.io/hostname"],
        );
    });
});

describe("serving: buildPodTemplate", () => {
    it("keeps the image Input as given (a ModelImage.ref Output) and validates as a pod template", async () => {
        const ref = INPUT.image as string;
        const t = buildPodTemplate({ ...INPUT, image: pulumi.output(ref) });
        const resolved = await unwrap(t);
        assert.equal((resolved.spec as any).containers[0].image, ref);
        const errors = await validateK8sObject({ apiVersion: "v1", kind: "PodTemplate", metadata: { name: "iris" }, template: resolved });
        assert.deepEqual(errors, []);
    });

    it("CPU model: no nodeSelector, no tolerations, memory limit = request, no CPU limit", () => {
        const spec = buildPodTemplate(INPUT).spec as any;
        assert.equal(spec.nodeSelector, undefined);
        assert.equal(spec.tolerations, undefined);
        assert.deepEqual(spec.containers[0].resources, { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "512Mi" } });
    });

    it("GPU model: the helper's limits, tolerations and nodeSelector, nothing else", () => {
        const gpu = {
            limits: { "nvidia.com/mig-3g.40gb": "1" },
            tolerations: [{ key: "nvidia.com/gpu", operator: "Equal" as const, value: "true", effect: "NoSchedule" as const }],
            nodeSelector: { "model-fleet.io/gpu-pool": "p5" },
        };
        const spec = buildPodTemplate({ ...INPUT, gpu }).spec as any;
        assert.deepEqual(spec.containers[0].resources.limits, { memory: "512Mi", "nvidia.com/mig-3g.40gb": "1" });
        assert.equal(spec.containers[0].resources.requests["nvidia.com/mig-3g.40gb"], undefined, "extended resource request defaults to the limit");
        assert.deepEqual(spec.tolerations, gpu.tolerations);
        assert.deepEqual(spec.nodeSelector, gpu.nodeSelector);
    });

    it("passes the Argo pod-template-hash label as POD_TEMPLATE_HASH only when asked (canary models)", async () => {
        const envOf = (t: ReturnType<typeof buildPodTemplate>) => ((t.spec as any).containers[0].env as any[]).filter((e) => e.name === POD_TEMPLATE_HASH_ENV);
        assert.deepEqual(envOf(buildPodTemplate(INPUT)), []);
        assert.deepEqual(envOf(buildPodTemplate({ ...INPUT, podTemplateHashEnv: false })), []);
        const t = buildPodTemplate({ ...INPUT, podTemplateHashEnv: true });
        assert.deepEqual(envOf(t), [{ name: "POD_TEMPLATE_HASH", valueFrom: { fieldRef: { fieldPath: "metadata.labels['rollouts-pod-template-hash']" } } }]);
        const errors = await validateK8sObject({ apiVersion: "v1", kind: "PodTemplate", metadata: { name: "iris" }, template: await unwrap(t) });
        assert.deepEqual(errors, []);
    });

    it("weights: an image volume of the artifact by digest, mounted read-only at /weights, MODEL_PATH into it; none without weights", async () => {
        const weights = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/iris@sha256:" + "d".repeat(64);
        const plain = buildPodTemplate(INPUT).spec as any;
        assert.deepEqual(
            plain.volumes.map((v: any) => v.name),
            ["tmp"],
        );
        assert.equal(
            plain.containers[0].env.find((e: any) => e.name === MODEL_PATH_ENV),
            undefined,
            "without weights the server loads its own",
        );
        const t = buildPodTemplate({ ...INPUT, weights: pulumi.output(weights) });
        const resolved = (await unwrap(t)) as any;
        // k8s.io/api v0.35.4 core/v1 types.go: VolumeSource.Image *ImageVolumeSource {reference, pullPolicy}.
        assert.deepEqual(resolved.spec.volumes[1], { name: WEIGHTS_VOLUME_NAME, image: { reference: weights, pullPolicy: "IfNotPresent" } });
        assert.deepEqual(resolved.spec.containers[0].volumeMounts[1], { name: "weights", mountPath: "/weights", readOnly: true });
        assert.deepEqual(
            resolved.spec.containers[0].env.filter((e: any) => e.name === MODEL_PATH_ENV),
            [{ name: "MODEL_PATH", value: "/weights/model.onnx" }],
        );
        assert.equal(resolved.spec.containers[0].image, INPUT.image, "the server image keeps its own digest");
        const errors = await validateK8sObject({ apiVersion: "v1", kind: "PodTemplate", metadata: { name: "iris" }, template: resolved });
        assert.deepEqual(errors, []);
    });

    it("a weights-only change changes only the weights volume's reference (same server image: a new ReplicaSet, same image)", async () => {
        const ref = (hex: string) => "123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/iris@sha256:" + hex.repeat(64);
        const a = (await unwrap(buildPodTemplate({ ...INPUT, weights: ref("1") }))) as any;
        const b = (await unwrap(buildPodTemplate({ ...INPUT, weights: ref("2") }))) as any;
        assert.notDeepEqual(a, b);
        b.spec.volumes[1].image.reference = ref("1");
        assert.deepEqual(a, b, "nothing else differs");
    });

    it("annotates for scraping only when asked", () => {
        assert.equal((buildPodTemplate(INPUT).metadata as any).annotations["prometheus.io/scrape"], "true");
        assert.equal((buildPodTemplate({ ...INPUT, scrapeAnnotations: false }).metadata as any).annotations["prometheus.io/scrape"], undefined);
    });
});

describe("serving: autoscaling", () => {
    it("the plain HPA scales on CPU utilisation only (no adapter serves a request rate)", () => {
        assert.deepEqual(hpaMetrics({ targetCpuUtilization: 65 }), [
            { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 65 } } },
        ]);
    });

    it("GPU scale-down waits at least 10 minutes and at least the startup budget, capped at the API maximum", () => {
        assert.equal(scaleDownWindowSeconds(false, 1800), 300);
        assert.equal(scaleDownWindowSeconds(true, 60), 600);
        assert.equal(scaleDownWindowSeconds(true, 1800), 1800);
        assert.equal(scaleDownWindowSeconds(true, 3600), 3600);
        assert.equal(scaleDownWindowSeconds(true, 5000), 3600);
    });

    it("has scale-up and scale-down policies for both kinds of model", () => {
        for (const gpu of [false, true]) {
            const b = hpaBehavior({ gpu, startupBudgetSeconds: 600 }) as any;
            assert.ok(b.scaleUp.policies.length >= 1);
            assert.ok(b.scaleDown.policies.length >= 1);
            assert.equal(b.scaleDown.stabilizationWindowSeconds, scaleDownWindowSeconds(gpu, 600));
        }
        const gpuB = hpaBehavior({ gpu: true, startupBudgetSeconds: 600 }) as any;
        assert.deepEqual(gpuB.scaleDown.policies, [{ type: "Pods", value: 1, periodSeconds: 300 }]);
    });

    it("KEDA for a model with a request-rate target under auto; the mode decides otherwise", () => {
        assert.equal(modelAutoscaler("auto", undefined), "hpa");
        assert.equal(modelAutoscaler("auto", 40), "keda");
        assert.equal(modelAutoscaler("keda", undefined), "keda");
        assert.equal(modelAutoscaler("hpa", undefined), "hpa");
    });

    const soBase = {
        minReplicas: 2,
        maxReplicas: 6,
        targetCpuUtilization: 70,
        gpu: true,
        startupBudgetSeconds: 900,
        scaleTargetRef: { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "sentiment" },
        hpaName: "sentiment",
        namespace: "models",
        model: "sentiment",
        prometheusUrl: "http://127.0.0.1:19090",
    };

    it("renders a ScaledObject with the HPA's target, bounds, name and behaviour; cpu and prometheus triggers", () => {
        const so = scaledObjectSpec({ ...soBase, targetRequestsPerSecond: 2.5 });
        assert.deepEqual(so.scaleTargetRef, soBase.scaleTargetRef);
        assert.equal(so.minReplicaCount, 2);
        assert.equal(so.maxReplicaCount, 6);
        assert.deepEqual(so.advanced.horizontalPodAutoscalerConfig, { name: "sentiment", behavior: hpaBehavior({ gpu: true, startupBudgetSeconds: 900 }) });
        assert.deepEqual(so.triggers, [
            { type: "cpu", metricType: "Utilization", metadata: { value: "70" } },
            {
                type: "prometheus",
                metricType: "AverageValue",
                metadata: {
                    serverAddress: "http://127.0.0.1:19090",
                    query: 'sum(rate(model_server_requests_total{namespace="models",app_kubernetes_io_name="sentiment"}[2m]))',
                    threshold: "2.5",
                },
            },
        ]);
        assert.ok((so.triggers[1]?.metadata.query ?? "").includes(RPS_SOURCE_COUNTER));
    });

    it("a ScaledObject without a request-rate target scales on CPU alone; with one it needs a Prometheus URL", () => {
        assert.deepEqual(
            scaledObjectSpec(soBase).triggers.map((t) => t.type),
            ["cpu"],
        );
        assert.throws(
            () => scaledObjectSpec({ ...soBase, prometheusUrl: undefined, targetRequestsPerSecond: 3 }),
            /model sentiment: targetRequestsPerSecond needs a Prometheus URL/,
        );
    });

    it("a rehearsal time scale divides the behaviour's windows and periods and the rate window, never the pod counts", () => {
        const b = hpaBehavior({ gpu: true, startupBudgetSeconds: 120 }, 10) as any;
        assert.equal(b.scaleUp.stabilizationWindowSeconds, 6);
        assert.deepEqual(b.scaleUp.policies, [{ type: "Pods", value: 2, periodSeconds: 12 }]);
        assert.equal(b.scaleDown.stabilizationWindowSeconds, 60);
        assert.deepEqual(b.scaleDown.policies, [{ type: "Pods", value: 1, periodSeconds: 30 }]);
        const cpu = hpaBehavior({ gpu: false, startupBudgetSeconds: 120 }, 10) as any;
        assert.equal(cpu.scaleUp.stabilizationWindowSeconds, 0, "a window of 0 stays 0");
        assert.deepEqual(hpaBehavior({ gpu: true, startupBudgetSeconds: 120 }, 1), hpaBehavior({ gpu: true, startupBudgetSeconds: 120 }));
        const so = scaledObjectSpec({ ...soBase, targetRequestsPerSecond: 1, timeScale: 10 });
        assert.match(so.triggers[1].metadata.query, /\[12s\]\)\)$/);
        assert.deepEqual(so.advanced.horizontalPodAutoscalerConfig.behavior, hpaBehavior(soBase, 10));
    });
});

describe("server workers from the CPU request", () => {
    it("runs one worker per requested core, rounded up, at least one", () => {
        assert.deepEqual(["250m", "1000m", "1", "2", "2500m", "8"].map(serverWorkers), [1, 1, 1, 2, 3, 8]);
        assert.throws(() => serverWorkers("2Gi"), /not cores or millicores/);
    });
});
