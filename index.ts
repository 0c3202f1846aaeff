/**
 * model-fleet: versioned AI models on EKS GPU pools, or on any cluster reached through a kubeconfig. This file
 * stays thin: it loads the validated stack config, builds the components and exports the stack outputs.
 */
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { EksCluster } from "./components/cluster";
import { KubeconfigCluster } from "./components/kubeconfigCluster";
import { capacityOutput, capacityPlan, capacityWarnings } from "./components/gpu/capacity";
import { GpuClusterAddons } from "./components/gpu/GpuClusterAddons";
import { defaultGpuNamePrefix, GpuNodePool } from "./components/gpu/GpuNodePool";
import { gpuScheduling } from "./components/gpu/workloadGpu";
import { ImagePlanInput, keptReleaseTags } from "./components/image/imagePlan";
import { ModelImage } from "./components/image/ModelImage";
import { GPU_POOL_LABEL } from "./components/gpu/labels";
import { ModelObservability } from "./components/observability/ModelObservability";
import { DEFAULT_THRESHOLDS, resolveThresholds } from "./components/observability/rules";
import { parseReleaseTag } from "./domain/image/tag";
import { withWeightsTags } from "./domain/image/weights";
import { ModelRegistry } from "./components/registry/ModelRegistry";
import { DEFAULT_MEASUREMENT } from "./domain/measurement";
import { RolloutsController } from "./components/rollouts/RolloutsController";
import { AutoscalingAddons } from "./components/serving/AutoscalingAddons";
import { modelAutoscaler } from "./components/serving/autoscaling";
import { scaleCanary, scaleMeasurement } from "./components/rollouts/timeScale";
import { releaseStrategy } from "./domain/rules/release";
import { ModelNamespace } from "./components/serving/ModelNamespace";
import { ModelService, ModelWorkload } from "./components/serving/ModelService";
import { AdmissionPolicy } from "./components/supplychain/AdmissionPolicy";
import { keyArnOfRef, regionOfKeyArn } from "./components/supplychain/keyPolicy";
import { SigningKey } from "./components/supplychain/SigningKey";
import { loadConfig } from "./config/load";
import type { ModelConfig } from "./config/schema";

const config = loadConfig();
// EKS: AWS resources and calls. kubeconfig: only the Kubernetes provider; pools are existing nodes.
const onEks = config.cluster.kind === "eks";

const cluster = onEks
    ? new EksCluster("cluster", {
          clusterName: config.cluster.name,
          region: config.region,
          ...(config.cluster.version !== undefined ? { statedVersion: config.cluster.version } : {}),
      })
    : new KubeconfigCluster("cluster", {
          clusterName: config.cluster.name,
          kubeconfigPath: path.resolve(__dirname, config.cluster.kubeconfig!),
          context: config.cluster.context,
      });
const k8sOpts: pulumi.ComponentResourceOptions = { providers: [cluster.provider] };
const identity = onEks ? aws.getCallerIdentityOutput() : undefined;
let ecrToken: pulumi.Output<aws.ecr.GetAuthorizationTokenResult> | undefined;
// The one namespace of every model workload (and of Harbor's pull Secret): declared first, referenced by output.
const namespace = new ModelNamespace("serving", { name: config.serving.namespace }, k8sOpts);

// The cluster add-ons that expose GPUs (device plugin, MIG manager and its mig-parted config), then the GPU node
// pools: a pool's nodes carry the name of their MIG config, so the config must exist before the nodes do.
const gpuAddons =
    config.gpuPools.length > 0 && config.addons.gpu ? new GpuClusterAddons("gpu", { pools: config.gpuPools, provider: cluster.provider }) : undefined;
const eksCluster = cluster instanceof EksCluster ? cluster : undefined;
const pools = new Map(
    (eksCluster ? config.gpuPools : []).map((p) => [
        p.name,
        new GpuNodePool(
            `gpu-${p.name}`,
            {
                // IAM role and node-group names are account-wide: the stack name keeps dev's and prod's apart.
                namePrefix: defaultGpuNamePrefix(config.stack),
                clusterName: eksCluster!.name,
                subnetIds: eksCluster!.privateSubnetIds,
                name: p.name,
                instanceType: p.instanceType,
                amiType: p.amiType,
                capacityType: p.capacityType,
                minSize: p.minSize,
                maxSize: p.maxSize,
                desiredSize: p.desiredSize,
                maxUnavailable: p.maxUnavailable,
                diskSizeGiB: p.diskSizeGiB,
                mig: p.mig,
            },
            { dependsOn: gpuAddons ? [gpuAddons] : [] },
        ),
    ]),
);
// What each GPU model asks for: the resource its pool exposes, the taint toleration and the pool's node selector.
const scheduling = new Map(
    config.models.flatMap((m) =>
        m.gpu
            ? [
                  [
                      m.name,
                      gpuScheduling(
                          m.gpu,
                          config.gpuPools.find((p) => p.name === m.gpu!.pool)!,
                      ),
                  ] as const,
              ]
            : [],
    ),
);
const capacity = capacityPlan(config.gpuPools, config.models);
for (const warning of capacityWarnings(capacity)) {
    pulumi.log.warn(warning);
}

// One repository per model; the GPU node roles may pull. An external registry is not managed: images by digest.
const externalPrefix = config.registry.type === "external" ? config.registry.externalPrefix! : undefined;
const registry =
    externalPrefix === undefined
        ? new ModelRegistry("registry", {
              models: [...new Set([...config.models.map((m) => m.name), ...config.registry.repositories])],
              registry: {
                  ...config.registry,
                  type: config.registry.type as "ecr" | "harbor",
                  retention: config.registry.retention!,
                  // Scanning (Inspector on ECR when configured; Harbor refuses pulls at the severity) and, on Harbor, cosign
                  // signatures: only on a stack that does not build (a fresh digest is signed after `pulumi up`).
                  scan: config.supplyChain.scan,
                  requireSignatures: config.registry.harbor?.requireSignatures ?? false,
              },
              // Same-account nodes pull with their IAM role; the repository policy names the GPU node roles (none: no policy).
              pullRoleArns: pools.size > 0 ? [...pools.values()].map((p) => p.nodeRoleArn) : undefined,
              accountId: identity?.accountId,
              region: onEks ? config.region : undefined,
              k8sProvider: config.registry.type === "harbor" ? cluster.provider : undefined,
              // Retention never expires the release a stack runs: built here (v<version>-<sha>) or promoted with its tags.
              // …and every weights artifact's release tag, in the repository that holds it.
              deployedTags: withWeightsTags(
                  Object.fromEntries(
                      config.models.map((m) => [m.name, keptReleaseTags(imageInput(m), "previousTag" in m.image ? m.image.previousTag : undefined)]),
                  ),
                  config.models,
              ),
              pullSecretNamespace: namespace.namespaceName,
          })
        : undefined;
const repositoryUrlByModel: Record<string, pulumi.Input<string>> = registry
    ? registry.repositoryUrlByModel
    : Object.fromEntries(config.models.map((m) => [m.name, `${externalPrefix}/${m.name}`]));
/** The URL of a repository of this stack by name (a model's, or a `registry.repositories` entry). */
const repositoryUrlOf = (name: string): pulumi.Input<string> => repositoryUrlByModel[name] ?? `${externalPrefix}/${name}`;

// Supply chain (docs/design/supply-chain.md). The key this stack's builds are signed with: an AWS KMS key that
// only the build role may sign with, or (kubeconfig) a configured cosign key reference, held as a secret.
const sc = config.supplyChain;
const signingKey =
    sc.signing?.kind === "kms"
        ? new SigningKey("signing", {
              buildRoleArn: sc.signing.buildRoleArn,
              existingKeyArn: sc.signing.keyArn,
              accountId: identity!.accountId,
              region: config.region,
              aliasName: `${config.registry.repositoryPrefix}-${config.stack}-signing`,
              deletionWindowInDays: config.registry.forceDelete ? 7 : 30,
          })
        : undefined;
// What admission trusts: this stack's own key, and the keys promotion recorded next to its promoted digests (read
// with KMS GetPublicKey in the key's region); on a kubeconfig cluster, the configured public key.
const trustedPublicKeys: pulumi.Input<string>[] = onEks
    ? [
          ...(signingKey ? [signingKey.publicKeyPem] : []),
          ...sc.promotedKeyRefs.map((ref) => {
              const arn = keyArnOfRef(ref)!;
              return aws.kms.getPublicKeyOutput({ keyId: arn, region: regionOfKeyArn(arn) }).publicKeyPem;
          }),
      ]
    : sc.publicKeyPem
      ? [sc.publicKeyPem]
      : [];
// Pods of the models namespace run only digests signed by one of those keys: Enforce in production, Audit elsewhere.
const admission =
    sc.admission.enabled && trustedPublicKeys.length > 0
        ? new AdmissionPolicy(
              "admission",
              {
                  namespace: config.serving.namespace,
                  publicKeys: trustedPublicKeys,
                  // Verification covers the stack's own repositories (the weights artifacts' among them); images from
                  // elsewhere only if listed explicitly.
                  repositories: [...new Set(config.models.flatMap((m) => [m.name, ...(m.weights ? [weightsRepository(m)] : [])]))].map(repositoryUrlOf),
                  allowedImages: sc.admission.allowedImages,
                  mode: sc.admission.mode,
                  installKyverno: sc.admission.installKyverno,
                  ecrCredentials: config.registry.type === "ecr",
              },
              k8sOpts,
          )
        : undefined;

// Push credentials, only when this stack builds.
const builds = config.models.some((m) => "build" in m.image);
const pushAuth = builds ? registryCredentials() : undefined;

// Promoted digests are checked against the registry (the tag they were pushed with must hold exactly that digest).
const promotedWithTag = config.models.some((m) => "digest" in m.image && m.image.tag !== undefined);
const registryLookup =
    config.registry.verifyPromotedImages && promotedWithTag && registry
        ? new docker.Provider("registry-lookup", {
              registryAuth: [{ address: registry!.registryHost, ...registryCredentials() }],
          })
        : undefined;

const modelImages = new Map(
    config.models.map((m) => [
        m.name,
        new ModelImage(`image-${m.name}`, {
            ...imageInput(m),
            repositoryUrl: repositoryUrlByModel[m.name],
            registry: pushAuth,
            sourceUrl: config.build.sourceUrl,
            registryLookup,
        }),
    ]),
);

// Deployment or Rollout, decided once per model (a canary or blue-green model is an Argo Rollout): the controller, each
// ModelService and the alerts follow this one value.
const workloadKinds = new Map(config.models.map((m) => [m.name, releaseStrategy(m) ? ("Rollout" as const) : ("Deployment" as const)]));

// Serving: the Argo Rollouts controller when some model is a Rollout, then one ModelService per model.
const rollouts = [...workloadKinds.values()].includes("Rollout")
    ? new RolloutsController(
          "rollouts",
          {
              install: config.addons.argoRollouts,
              measurement: scaleMeasurement(DEFAULT_MEASUREMENT, config.rollouts.timeScale),
              analysisNamespace: namespace.namespaceName,
              prometheusUrl: config.rollouts.prometheusUrl,
              serviceMonitor: config.serving.prometheusOperator,
              serviceMonitorLabels: config.serving.serviceMonitorLabels,
          },
          k8sOpts,
      )
    : undefined;

// Autoscaling: KEDA for the models serving.autoscaler gives it (a ScaledObject makes each one's HPA), metrics-server
// for every HPA's CPU metric; each add-on off when the cluster already runs it.
const autoscalers = new Map(config.models.map((m) => [m.name, modelAutoscaler(config.serving.autoscaler, m.autoscaling.targetRequestsPerSecond)]));
const installKeda = config.addons.keda && [...autoscalers.values()].includes("keda");
const autoscalingAddons =
    config.models.length > 0 && (config.addons.metricsServer || installKeda)
        ? new AutoscalingAddons("autoscaling", { metricsServer: config.addons.metricsServer, keda: installKeda }, k8sOpts)
        : undefined;

const services = config.models.map(
    (m) =>
        new ModelService(
            `model-${m.name}`,
            {
                namespace: namespace.namespaceName,
                model: m.canary ? { ...m, canary: scaleCanary(m.canary, config.rollouts.timeScale) } : m,
                image: modelImages.get(m.name)!.ref,
                weights: m.weights ? pulumi.interpolate`${repositoryUrlOf(weightsRepository(m))}@${m.weights.digest}` : undefined,
                gpu: scheduling.get(m.name),
                environment: config.environment,
                serving: config.serving,
                imagePullSecrets: registry?.pullSecretName ? [registry.pullSecretName] : undefined,
                workload: workloadOf(m),
                rolloutsDependsOn: rollouts?.ready,
                autoscaler: autoscalers.get(m.name),
                prometheusUrl: config.rollouts.prometheusUrl,
                timeScale: config.rollouts.timeScale,
                autoscalingDependsOn: autoscalingAddons?.kedaReady,
            },
            // With Enforce, pods created before the policy exists would never have been checked.
            { ...k8sOpts, dependsOn: admission ? [admission] : [] },
        ),
);

// Alerts and the version dashboard: recording rules of every model's SLIs, alerts with thresholds from each model's
// config, and (production by default) a Grafana dashboard ConfigMap built from the same recorded names.
const obs = config.observability;
const observability = new ModelObservability(
    "observability",
    {
        namespace: obs.namespace ?? namespace.namespaceName,
        modelNamespace: config.serving.namespace,
        models: config.models.map((m) => ({
            name: m.name,
            namespace: config.serving.namespace,
            canary: workloadKinds.get(m.name) === "Rollout",
            gpu: m.gpu && { pool: m.gpu.pool, profile: m.gpu.profile },
            thresholds: resolveThresholds(m, { ...DEFAULT_THRESHOLDS, ...obs.defaults }),
        })),
        alerts: obs.alerts,
        dashboards: obs.dashboards,
        prometheusOperator: config.serving.prometheusOperator,
        ruleLabels: obs.ruleLabels,
        dashboardLabels: obs.dashboardLabels,
        folder: obs.folder,
        datasource: obs.datasource,
        runbookBase: /^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(config.build.sourceUrl.replace(/\/$/, ""))
            ? `${config.build.sourceUrl.replace(/\/$/, "")}/blob/main/docs/runbook.md`
            : undefined,
        stack: config.stack,
        poolLabel: GPU_POOL_LABEL,
    },
    { ...k8sOpts, dependsOn: [namespace] },
);

export const environment = config.environment;
/** The rule object (PrometheusRule or rule-file ConfigMap) and the dashboard ConfigMap, when declared. */
export const observabilityObjects = { rules: observability.ruleObjectName, dashboard: observability.dashboardName };
export const clusterName = cluster.name;
export const repositoryUrls = registry ? registry.repositoryUrls : pulumi.output(repositoryUrlByModel);
/** The readable retention rules of every repository (none for an external registry). */
export const retentionRules = registry?.retentionRules ?? [];
/** Harbor: the Kubernetes image pull Secret built from the robot account (never the robot secret itself). */
export const pullSecretName = registry?.pullSecretName;
export const gpuNodeRoleArns = pulumi.output(Object.fromEntries([...pools].map(([name, p]) => [name, p.nodeRoleArn])));
/**
 * What `npm run promote` and `npm run sign` read: the exact image of every model, and its weights artifact when it
 * mounts one (`weights.repository` is the repository's name in this stack, `ref` its `<repository url>@<digest>`).
 */
export const images = pulumi.output(
    Object.fromEntries(
        config.models.map((m) => {
            const img = modelImages.get(m.name)!;
            // gitSha: the commit the image was built from (a build's sha, or the one its release tag names).
            const gitSha = "build" in m.image ? config.gitSha : m.image.tag ? parseReleaseTag(m.image.tag)?.sha : undefined;
            const weights = m.weights
                ? {
                      digest: m.weights.digest,
                      tag: m.weights.tag,
                      ref: pulumi.interpolate`${repositoryUrlOf(weightsRepository(m))}@${m.weights.digest}`,
                      repository: weightsRepository(m),
                  }
                : undefined;
            return [m.name, { version: img.version, tag: img.tag, digest: img.digest, ref: img.ref, gitSha, ...(weights ? { weights } : {}) }];
        }),
    ),
);
/**
 * The key this stack signs with, as `cosign --key` takes it (`awskms:///<key ARN>`, or the configured reference, a
 * secret), and its public key: what `npm run sign` and promotion read. Absent on a stack that neither builds nor
 * configures a key.
 */
export const signing = signingKey
    ? { keyRef: signingKey.keyRef, publicKeyPem: signingKey.publicKeyPem }
    : sc.signing?.kind === "cosign"
      ? { keyRef: sc.signing.keyRef, publicKeyPem: sc.publicKeyPem }
      : undefined;
/** The admission policy (Kyverno ClusterPolicy) and its mode, when declared. */
export const admissionPolicy = admission ? { name: admission.policyName, mode: admission.mode } : undefined;
/** Per model: what runs, where, and how it is released (a Rollout's steps are in `canaries`). */
export const models = pulumi.output(
    Object.fromEntries(
        config.models.map((m, i) => {
            const svc = services[i];
            const gpu = scheduling.get(m.name);
            return [
                m.name,
                {
                    version: m.version,
                    image: modelImages.get(m.name)!.ref,
                    gpu: gpu
                        ? Object.entries(gpu.limits)
                              .map(([k, v]) => `${k}: ${v}`)
                              .join(", ")
                        : undefined,
                    minReplicas: m.autoscaling.minReplicas,
                    maxReplicas: m.autoscaling.maxReplicas,
                    workload: pulumi.interpolate`${svc.workloadKind}/${svc.workloadName}`,
                },
            ];
        }),
    ),
);
/** Per canary model: the Rollout, its rendered steps and the worst-case exposure before the first gate. */
export const canaries = pulumi.output(
    Object.fromEntries(
        config.models.flatMap((m, i) => {
            const c = services[i].canary;
            return c ? [[m.name, { rolloutName: c.rolloutName, steps: c.steps, exposure: c.exposure }]] : [];
        }),
    ),
);
/** Per blue-green model: the Rollout and its preview Service (where the new version is analysed before the switch). */
export const blueGreens = pulumi.output(
    Object.fromEntries(
        config.models.flatMap((m, i) => {
            const b = services[i].blueGreen;
            return b ? [[m.name, { rolloutName: b.rolloutName, previewService: b.previewService }]] : [];
        }),
    ),
);
/** GPU capacity at every model's maxReplicas, per pool. */
export const gpuCapacity = capacityOutput(capacity);

/** A model's workload: a Rollout with its wiring from the controller and the rollouts config, or a Deployment. */
function workloadOf(m: ModelConfig): ModelWorkload {
    if (workloadKinds.get(m.name) !== "Rollout" || !rollouts) return { kind: "Deployment" };
    return {
        kind: "Rollout",
        trafficRouting: config.rollouts.trafficRouting,
        analysisTemplates: rollouts.analysisTemplateNames,
        analysisMinSeconds: rollouts.analysisMinSeconds,
        host: config.rollouts.ingressHost ? `${m.name}.${config.rollouts.ingressHost}` : `${m.name}.${config.serving.namespace}.svc.cluster.local`,
    };
}

/** Registry credentials: Harbor's configured user, or a short-lived ECR token for this account (fetched once). */
function registryCredentials(): { username: pulumi.Input<string>; password: pulumi.Input<string> } {
    if (config.registry.harbor) {
        return { username: config.registry.harbor.username, password: config.registry.harbor.password };
    }
    ecrToken ??= aws.ecr.getAuthorizationTokenOutput({ registryId: identity!.accountId });
    return { username: ecrToken.userName, password: pulumi.secret(ecrToken.password) };
}

/** The repository (by name) of a model's weights artifact: `weights.repository`, default the model's own. */
function weightsRepository(m: ModelConfig): string {
    return m.weights?.repository ?? m.name;
}

/** What a model's image is planned from (imagePlan.ts): the same input for ModelImage and for the tags retention keeps. */
function imageInput(m: ModelConfig): ImagePlanInput {
    return {
        modelName: m.name,
        version: m.version,
        gitSha: config.gitSha,
        source: m.image,
        requireCleanTree: config.build.requireCleanTree,
        treeDirty: config.treeDirty,
        dirtyPaths: config.dirtyPaths,
        dirtyFingerprint: config.dirtyFingerprint,
        gpu: m.gpu !== undefined,
        ...(m.card ? { card: m.card } : {}),
    };
}
