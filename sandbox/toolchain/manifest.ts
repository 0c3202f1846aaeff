/**
 * The real tools the sandbox, the rehearsal and the observability checks run, each built from its published Go
 * module at a pinned version. Each wrapper module under `sandbox/toolchain/wrappers/<name>/` (go.mod + go.sum,
 * committed) requires the upstream module and carries its `replace` directives as versions, because `go install
 * module@version` refuses modules with replaces. Build facts: docs/sandbox.md#tool-builds.
 */

/** A file the build copies from a downloaded module into the wrapper (sources the module zip has). */
export interface CopyFromModule {
    /** Module path as `go mod download` names it. */
    readonly module: string;
    /** Directory inside that module. */
    readonly dir: string;
    /** File names to copy. */
    readonly files: readonly string[];
}

export interface ToolSpec {
    /** Cache key and `npm run tools -- build <name>`. */
    readonly name: string;
    /** Cache key: the version the tool reports. */
    readonly version: string;
    /** Upstream module and version the wrapper requires (what `go list -m` reports). */
    readonly module: string;
    readonly moduleVersion: string;
    /** Expected wall seconds of a cold build (empty Go caches) on a 2-core machine, as measured (docs/sandbox.md#cold-builds-measured). */
    readonly coldSeconds: number;
    /** Binary name → Go main package (none for a tool that is only upstream data). */
    readonly binaries: Readonly<Record<string, string>>;
    /** `-X` version stamps and other link flags, as the project's release build sets them. */
    readonly ldflags: readonly string[];
    /** Build tags of the release build. */
    readonly tags?: readonly string[];
    /** Sources copied from the module into the wrapper before building (e.g. a main package with generated files). */
    readonly copy?: CopyFromModule;
    /** `go run <file>` steps in the wrapper before the build, with their environment. */
    readonly generate?: ReadonlyArray<{ readonly file: string; readonly env: Readonly<Record<string, string>> }>;
    /** Upstream data files (CRDs, stage definitions) copied from a module into `<home>/share/<to>/`. */
    readonly share?: ReadonlyArray<CopyFromModule & { readonly to: string }>;
    /** Executable scripts shipped inside a module, copied into bin/ unchanged. */
    readonly scripts?: ReadonlyArray<{ readonly module: string; readonly path: string; readonly as: string }>;
    /** After the build: `<binary> <args>` must exit 0 and print a match of `expect`. */
    readonly checks: ReadonlyArray<{
        readonly binary: string;
        /** `{bin}` stands for this tool's bin directory. */
        readonly args: readonly string[];
        readonly expect: RegExp;
        /** Run another (already built) tool's binary instead, e.g. the CLI asking a plugin for its schema. */
        readonly via?: { readonly tool: string; readonly binary: string };
    }>;
}

const KUBE_VERSION = "v1.35.4";
const kubeVersionFlags = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${KUBE_VERSION}`,
    `-X ${pkg}.gitMajor=1`,
    `-X ${pkg}.gitMinor=35`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=2026-01-01T00:00:00Z`,
]);

export const TOOLS: readonly ToolSpec[] = [
    {
        name: "pulumi",
        version: "v3.274.1",
        module: "github.com/pulumi/pulumi/pkg/v3",
        moduleVersion: "v3.274.1",
        coldSeconds: 314,
        binaries: { pulumi: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi" },
        // pulumi/pulumi .goreleaser: tags osusergo,grpcnotrace; the version stamp.
        ldflags: ["-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.274.1"],
        tags: ["osusergo", "grpcnotrace"],
        // The dynamic-provider launcher ships in the sdk module (sdk/nodejs/dist), as in the CLI's release archive.
        scripts: [
            { module: "github.com/pulumi/pulumi/sdk/v3@v3.274.1", path: "nodejs/dist/pulumi-resource-pulumi-nodejs", as: "pulumi-resource-pulumi-nodejs" },
        ],
        checks: [
            { binary: "pulumi", args: ["version"], expect: /^v3\.274\.1\b/ },
            { binary: "pulumi", args: ["plugin", "ls", "--json"], expect: /^\[|^null/ },
        ],
    },
    {
        // pulumi-kubernetes has no provider/v4.x tags; this pseudo-version is the commit tagged v4.25.0 (and
        // sdk/v4.25.0), the newest commit the module proxy serves. The npm SDK is pinned to 4.25.0 to match.
        name: "pulumi-resource-kubernetes",
        version: "4.25.0",
        module: "github.com/pulumi/pulumi-kubernetes/provider/v4",
        moduleVersion: "v4.0.0-20260115033456-f47bc2d6f199",
        coldSeconds: 397,
        binaries: { "pulumi-resource-kubernetes": "." },
        ldflags: ["-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.25.0"],
        // It requires pulumi pkg/sdk v3.215.0. Requiring the CLI's v3.274.1 instead, so that the two builds would share
        // their pulumi packages, does not compile: pkg/gen/schema.go builds codegen/schema.ResourceSpec values where
        // v3.274.1 wants pointers (docs/sandbox.md#cold-build-levers).
        copy: {
            module: "github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199",
            dir: "cmd/pulumi-resource-kubernetes",
            files: ["main.go", "generate.go", "schema.json", "terraform-mapping.json"],
        },
        // main.go embeds schema-embed.json and terraform-mapping-embed.json, which `go generate` writes (git-ignored
        // upstream, so absent from the module zip).
        generate: [{ file: "generate.go", env: { VERSION: "4.25.0" } }],
        // The plugin has no version flag: the CLI starts it over gRPC and asks for its schema (GetSchema).
        checks: [
            {
                binary: "pulumi-resource-kubernetes",
                via: { tool: "pulumi", binary: "pulumi" },
                args: ["package", "get-schema", "{bin}/pulumi-resource-kubernetes"],
                expect: /"version":\s*"4\.25\.0"/,
            },
        ],
    },
    {
        name: "kubernetes",
        version: KUBE_VERSION,
        module: "k8s.io/kubernetes",
        moduleVersion: KUBE_VERSION,
        coldSeconds: 205,
        binaries: {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        },
        ldflags: kubeVersionFlags,
        checks: [
            { binary: "kube-apiserver", args: ["--version"], expect: /Kubernetes v1\.35\.4/ },
            { binary: "kube-controller-manager", args: ["--version"], expect: /Kubernetes v1\.35\.4/ },
            { binary: "kube-scheduler", args: ["--version"], expect: /Kubernetes v1\.35\.4/ },
        ],
    },
    {
        name: "etcd",
        version: "v3.6.16",
        module: "go.etcd.io/etcd/server/v3",
        moduleVersion: "v3.6.16",
        coldSeconds: 19,
        binaries: { etcd: "go.etcd.io/etcd/server/v3" },
        ldflags: [],
        checks: [{ binary: "etcd", args: ["--version"], expect: /etcd Version: 3\.6\.16/ }],
    },
    {
        name: "kwok",
        version: "v0.8.0",
        module: "sigs.k8s.io/kwok",
        moduleVersion: "v0.8.0",
        coldSeconds: 60,
        binaries: { kwok: "sigs.k8s.io/kwok/cmd/kwok" },
        // kwok hack/releases.sh
        ldflags: ["-X sigs.k8s.io/kwok/pkg/consts.Version=v0.8.0", `-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION}`],
        // The stages kwokctl installs by default (pkg/kwokctl/runtime/cluster.go getDefaultNodeStages/PodStages).
        share: [
            { module: "sigs.k8s.io/kwok@v0.8.0", dir: "kustomize/stage/node/fast", files: ["node-initialize.yaml"], to: "stages" },
            { module: "sigs.k8s.io/kwok@v0.8.0", dir: "kustomize/stage/node/heartbeat-with-lease", files: ["node-heartbeat-with-lease.yaml"], to: "stages" },
            {
                module: "sigs.k8s.io/kwok@v0.8.0",
                dir: "kustomize/stage/pod/fast",
                files: ["pod-ready.yaml", "pod-complete.yaml", "pod-delete.yaml"],
                to: "stages",
            },
            // The emulated kubelet resource metrics metrics-server scrapes (kwokctl's --enable-metrics-server): the Metric
            // at /metrics/nodes/{nodeName}/metrics/resource, and each pod's CPU and memory usage from its annotations
            // kwok.x-k8s.io/usage-cpu and usage-memory. kwok's --config takes them beside the stages.
            { module: "sigs.k8s.io/kwok@v0.8.0", dir: "kustomize/metrics/resource", files: ["metrics-resource.yaml"], to: "stages" },
            { module: "sigs.k8s.io/kwok@v0.8.0", dir: "kustomize/metrics/usage", files: ["usage-from-annotation.yaml"], to: "stages" },
        ],
        checks: [{ binary: "kwok", args: ["--version"], expect: /v0\.8\.0/ }],
    },
    {
        // The app version of argo-rollouts chart 2.41.0, which the program pins.
        name: "argo-rollouts",
        version: "v1.9.0",
        module: "github.com/argoproj/argo-rollouts",
        moduleVersion: "v1.9.0",
        coldSeconds: 128,
        binaries: { "rollouts-controller": "github.com/argoproj/argo-rollouts/cmd/rollouts-controller" },
        // argo-rollouts Makefile LDFLAGS
        ldflags: [
            "-X github.com/argoproj/argo-rollouts/utils/version.version=v1.9.0",
            "-X github.com/argoproj/argo-rollouts/utils/version.buildDate=2026-01-01T00:00:00Z",
            "-X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean",
        ],
        share: [
            {
                module: "github.com/argoproj/argo-rollouts@v1.9.0",
                dir: "manifests/crds",
                files: ["rollout-crd.yaml", "analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml", "analysis-run-crd.yaml", "experiment-crd.yaml"],
                to: "crds",
            },
        ],
        checks: [{ binary: "rollouts-controller", args: ["--version"], expect: /v1\.9\.0/ }],
    },
    {
        // Data only: the Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule, …) for the sandbox's API server.
        name: "prometheus-operator-crds",
        version: "v0.85.0",
        module: "github.com/prometheus-operator/prometheus-operator",
        moduleVersion: "v0.85.0",
        coldSeconds: 3,
        binaries: {},
        ldflags: [],
        share: [
            {
                module: "github.com/prometheus-operator/prometheus-operator@v0.85.0",
                dir: "example/prometheus-operator-crd",
                files: ["monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"],
                to: "crds",
            },
        ],
        checks: [],
    },
    {
        // Data only: Istio's CRDs from its API module (the sandbox installs VirtualService and DestinationRule), so the
        // Argo Rollouts controller reconciles an istio-routed stack's VirtualService: weights, header and mirror
        // routes. No Istio control plane or Envoy runs.
        name: "istio-crds",
        version: "v1.32.0",
        module: "istio.io/api",
        moduleVersion: "v1.32.0",
        coldSeconds: 1,
        binaries: {},
        ldflags: [],
        share: [{ module: "istio.io/api@v1.32.0", dir: "kubernetes", files: ["customresourcedefinitions.gen.yaml"], to: "crds" }],
        checks: [],
    },
    {
        // Data only: Kyverno's ClusterPolicy CRD (for the sandbox's API server and the schema test) and the kyverno
        // chart's Chart.yaml and values.yaml, from the module source of the app version of the pinned chart 3.8.2.
        name: "kyverno",
        version: "v1.18.2",
        module: "github.com/kyverno/kyverno",
        moduleVersion: "v1.18.2",
        coldSeconds: 3,
        binaries: {},
        ldflags: [],
        share: [
            { module: "github.com/kyverno/kyverno@v1.18.2", dir: "config/crds/kyverno", files: ["kyverno.io_clusterpolicies.yaml"], to: "crds" },
            { module: "github.com/kyverno/kyverno@v1.18.2", dir: "charts/kyverno", files: ["Chart.yaml", "values.yaml"], to: "chart" },
        ],
        checks: [],
    },
    {
        // Prometheus server and promtool (module v0.316.0 = Prometheus 3.16.0, its VERSION file); no replaces upstream.
        name: "prometheus",
        version: "v3.16.0",
        module: "github.com/prometheus/prometheus",
        moduleVersion: "v0.316.0",
        coldSeconds: 121,
        binaries: { prometheus: "github.com/prometheus/prometheus/cmd/prometheus", promtool: "github.com/prometheus/prometheus/cmd/promtool" },
        ldflags: [
            "-X github.com/prometheus/common/version.Version=3.16.0",
            "-X github.com/prometheus/common/version.Revision=v0.316.0",
            "-X github.com/prometheus/common/version.Branch=HEAD",
            "-X github.com/prometheus/common/version.BuildUser=model-fleet",
            "-X github.com/prometheus/common/version.BuildDate=20260101-00:00:00",
        ],
        // .promu.yml's netgo; remove_all_sd drops the bundled service discoveries (AWS, Azure, GCE, …) and
        // enable_kubernetes_sd keeps the one the rehearsal scrapes through (plugins/plugin_kubernetes.go).
        tags: ["netgo", "remove_all_sd", "enable_kubernetes_sd"],
        checks: [
            { binary: "prometheus", args: ["--version"], expect: /^prometheus, version 3\.16\.0 / },
            { binary: "promtool", args: ["--version"], expect: /^promtool, version 3\.16\.0 / },
        ],
    },
    {
        // Argo Rollouts' own metric evaluation (Provider.Run → EvaluateResult) as a small program, for the PromQL suite.
        name: "argo-evaluate",
        version: "v1.9.0",
        module: "github.com/argoproj/argo-rollouts",
        moduleVersion: "v1.9.0",
        coldSeconds: 2,
        binaries: { "argo-evaluate": "." },
        ldflags: [],
        checks: [{ binary: "argo-evaluate", args: ["--version"], expect: /argo-rollouts v1\.9\.0\)$/ }],
    },
    {
        // Kyverno's own image verification (engine.VerifyAndPatchImages, as the admission webhook runs it for a pod)
        // as a small program, for the supply-chain suite: v1.18.2 is the app version of chart 3.8.2, which the
        // admission policy pins. Version stamp: kyverno Makefile LD_FLAGS (pkg/version.BuildVersion).
        name: "kyverno-verify",
        version: "v1.18.2",
        module: "github.com/kyverno/kyverno",
        moduleVersion: "v1.18.2",
        coldSeconds: 184,
        binaries: { "kyverno-verify": "." },
        ldflags: ["-X github.com/kyverno/kyverno/pkg/version.BuildVersion=v1.18.2"],
        checks: [{ binary: "kyverno-verify", args: ["--version"], expect: /^kyverno-verify \(kyverno v1\.18\.2\)$/ }],
    },
    {
        // Kyverno v1.18.2's admission controller (./cmd/kyverno), run out of cluster by the sandbox with its webhooks
        // registered in the sandbox's API server (sandbox/cluster/components/kyverno.ts). Its own wrapper, so that the
        // kyverno-verify stamp stays as it is, with kyverno-verify's go.mod pins (go.sum adds 8 modules), so that the
        // two share the Go build cache: about 460 packages of its 2,945 are not in kyverno-verify. The binary has no
        // version flag (it logs the version at startup); the check is its flag set.
        name: "kyverno-admission",
        version: "v1.18.2",
        module: "github.com/kyverno/kyverno",
        moduleVersion: "v1.18.2",
        // Cold CI 2026-12-07: 329 s from empty caches (niced, beside the e2e suite); kyverno-verify after it takes seconds.
        coldSeconds: 329,
        binaries: { kyverno: "github.com/kyverno/kyverno/cmd/kyverno" },
        ldflags: ["-X github.com/kyverno/kyverno/pkg/version.BuildVersion=v1.18.2"],
        // Every CRD of config/crds/** at the tag (22 files), as the chart's crds subchart installs them: the controller's
        // informers wait for all of them (cmd/kyverno/main.go). Here rather than in the `kyverno` data tool's share, so
        // that the stamp of that tool, which every sandbox needs, stays as it is.
        share: [
            {
                module: "github.com/kyverno/kyverno@v1.18.2",
                dir: "config/crds/kyverno",
                files: [
                    "kyverno.io_cleanuppolicies.yaml",
                    "kyverno.io_clustercleanuppolicies.yaml",
                    "kyverno.io_clusterpolicies.yaml",
                    "kyverno.io_globalcontextentries.yaml",
                    "kyverno.io_policies.yaml",
                    "kyverno.io_policyexceptions.yaml",
                    "kyverno.io_updaterequests.yaml",
                ],
                to: "crds",
            },
            {
                module: "github.com/kyverno/kyverno@v1.18.2",
                dir: "config/crds/policies.kyverno.io",
                files: [
                    "policies.kyverno.io_deletingpolicies.yaml",
                    "policies.kyverno.io_generatingpolicies.yaml",
                    "policies.kyverno.io_imagevalidatingpolicies.yaml",
                    "policies.kyverno.io_mutatingpolicies.yaml",
                    "policies.kyverno.io_namespaceddeletingpolicies.yaml",
                    "policies.kyverno.io_namespacedgeneratingpolicies.yaml",
                    "policies.kyverno.io_namespacedimagevalidatingpolicies.yaml",
                    "policies.kyverno.io_namespacedmutatingpolicies.yaml",
                    "policies.kyverno.io_namespacedvalidatingpolicies.yaml",
                    "policies.kyverno.io_policyexceptions.yaml",
                    "policies.kyverno.io_validatingpolicies.yaml",
                ],
                to: "crds",
            },
            {
                module: "github.com/kyverno/kyverno@v1.18.2",
                dir: "config/crds/reports",
                files: ["reports.kyverno.io_clusterephemeralreports.yaml", "reports.kyverno.io_ephemeralreports.yaml"],
                to: "crds",
            },
            {
                module: "github.com/kyverno/kyverno@v1.18.2",
                dir: "config/crds/policyreport",
                files: ["wgpolicyk8s.io_clusterpolicyreports.yaml", "wgpolicyk8s.io_policyreports.yaml"],
                to: "crds",
            },
        ],
        checks: [{ binary: "kyverno", args: ["--help"], expect: /-serverIP string/ }],
    },
    {
        // Sigstore cosign (signing and verifying the model images, issue #16). v3.1.3 is the newest tag the module proxy
        // serves; its go.mod has no replaces. Release stamps: cosign Makefile LDFLAGS (sigs.k8s.io/release-utils/version);
        // the commit is not in the module zip, so gitCommit carries the tag, and buildDate is the tag time the proxy reports.
        name: "cosign",
        version: "v3.1.3",
        module: "github.com/sigstore/cosign/v3",
        moduleVersion: "v3.1.3",
        coldSeconds: 116,
        binaries: { cosign: "github.com/sigstore/cosign/v3/cmd/cosign" },
        ldflags: [
            "-buildid=",
            "-X sigs.k8s.io/release-utils/version.gitVersion=v3.1.3",
            "-X sigs.k8s.io/release-utils/version.gitCommit=v3.1.3",
            "-X sigs.k8s.io/release-utils/version.gitTreeState=clean",
            "-X sigs.k8s.io/release-utils/version.buildDate=2026-08-05T23:43:27Z",
        ],
        checks: [{ binary: "cosign", args: ["version"], expect: /GitVersion:\s+v3\.1\.3\b/ }],
    },
    {
        // The CNCF OCI registry, a local registry for the supply-chain suite (issue #16). Release stamps: its Dockerfile
        // `version` stage (version without the leading v, revision, mainpkg), CGO off, -trimpath; the commit is not in the
        // module zip, so the revision carries the tag.
        name: "distribution",
        version: "v3.1.2",
        module: "github.com/distribution/distribution/v3",
        moduleVersion: "v3.1.2",
        coldSeconds: 67,
        binaries: { registry: "github.com/distribution/distribution/v3/cmd/registry" },
        ldflags: [
            "-X github.com/distribution/distribution/v3/version.version=3.1.2",
            "-X github.com/distribution/distribution/v3/version.revision=v3.1.2",
            "-X github.com/distribution/distribution/v3/version.mainpkg=github.com/distribution/distribution/v3",
        ],
        checks: [{ binary: "registry", args: ["--version"], expect: /github\.com\/distribution\/distribution\/v3 3\.1\.2\b/ }],
    },
    {
        // go-containerregistry's crane: builds and pushes the small OCI images of the supply-chain suite. Release stamps:
        // its .goreleaser.yml (both Version variables, the tag without the leading v).
        name: "crane",
        version: "v0.22.1",
        module: "github.com/google/go-containerregistry",
        moduleVersion: "v0.22.1",
        coldSeconds: 4,
        binaries: { crane: "github.com/google/go-containerregistry/cmd/crane" },
        ldflags: [
            "-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=0.22.1",
            "-X github.com/google/go-containerregistry/pkg/v1/remote/transport.Version=0.22.1",
        ],
        checks: [{ binary: "crane", args: ["version"], expect: /^0\.22\.1\b/ }],
    },
    {
        // metrics-server serves metrics.k8s.io (CPU and memory) to the HPA controller; in the sandbox it scrapes kwok's
        // emulated kubelet resource metrics. v0.8.0, not v0.9.0 (not an approved release: go-partial.tsv). No replaces.
        // Release stamps: its Makefile VERSION_LDFLAGS (k8s.io/client-go/pkg/version).
        name: "metrics-server",
        version: "v0.8.0",
        module: "sigs.k8s.io/metrics-server",
        moduleVersion: "v0.8.0",
        coldSeconds: 100,
        binaries: { "metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server" },
        ldflags: [
            "-X k8s.io/client-go/pkg/version.gitVersion=v0.8.0",
            "-X k8s.io/client-go/pkg/version.gitCommit=v0.8.0",
            "-X k8s.io/client-go/pkg/version.buildDate=2026-01-01T00:00:00Z",
        ],
        checks: [{ binary: "metrics-server", args: ["--version"], expect: /v0\.8\.0/ }],
    },
    {
        // KEDA: the operator (ScaledObject → HPA, scalers) and its metrics apiserver (external.metrics.k8s.io), one
        // wrapper for both. v2.21.0, not v2.21.1, whose go.mod asks for go 1.27.4 (newer than the approved go1.27.3).
        // The wrapper carries its replace and exclude. Release stamps: its Makefile GO_LDFLAGS (version.Version,
        // version.GitCommit; the commit is not in the module zip, so it carries the tag). Neither binary has a version
        // flag (both log it at startup), so the checks ask for their flags.
        name: "keda",
        version: "v2.21.0",
        module: "github.com/kedacore/keda/v2",
        moduleVersion: "v2.21.0",
        coldSeconds: 457,
        binaries: { keda: "github.com/kedacore/keda/v2/cmd/operator", "keda-adapter": "github.com/kedacore/keda/v2/cmd/adapter" },
        ldflags: ["-X github.com/kedacore/keda/v2/version.Version=2.21.0", "-X github.com/kedacore/keda/v2/version.GitCommit=v2.21.0"],
        // The CRDs the operator watches (config/crd/bases; it runs controllers for all of them).
        share: [
            {
                module: "github.com/kedacore/keda/v2@v2.21.0",
                dir: "config/crd/bases",
                files: [
                    "keda.sh_scaledobjects.yaml",
                    "keda.sh_scaledjobs.yaml",
                    "keda.sh_triggerauthentications.yaml",
                    "keda.sh_clustertriggerauthentications.yaml",
                    "eventing.keda.sh_cloudeventsources.yaml",
                    "eventing.keda.sh_clustercloudeventsources.yaml",
                ],
                to: "crds",
            },
        ],
        checks: [
            { binary: "keda", args: ["--help"], expect: /metrics-service-bind-address/ },
            { binary: "keda-adapter", args: ["--help"], expect: /metrics-service-address/ },
        ],
    },
];

/** What each command needs, so a command builds only its own tools (`npm run tools -- build <set>`). */
export const TOOL_SETS = {
    /**
     * `npm run sandbox -- up` of any stack, and the e2e suite but its two specs below (the rehearsal's Prometheus and
     * metrics-server, which every sandbox runs, included).
     */
    sandbox: [
        "pulumi",
        "pulumi-resource-kubernetes",
        "kubernetes",
        "etcd",
        "kwok",
        "argo-rollouts",
        "prometheus-operator-crds",
        "istio-crds",
        "kyverno",
        "prometheus",
        "metrics-server",
    ],
    /** KEDA, which the sandbox runs for a stack that autoscales through it (sandbox/stacks.ts `autoscalesThroughKeda`). */
    autoscaling: ["keda"],
    /** `npm run test:admission` (the CRD schema), and Kyverno's admission controller, which the sandbox runs for a stack that enforces. */
    admission: ["kyverno", "kyverno-admission"],
    /**
     * The e2e specs that need more than the `sandbox` set (sandbox/e2e/admission.spec.ts, autoscaling.spec.ts; titled
     * `[tools: e2e-late]`): `.ci/run` runs them last, while these build.
     */
    "e2e-late": ["kyverno", "kyverno-admission", "keda", "cosign", "distribution", "crane"],
    /** `npm run test:promql` and `npm run test:promtool`. */
    promql: ["prometheus", "argo-evaluate", "prometheus-operator-crds"],
    /** `npm run test:supplychain`. */
    supplychain: ["cosign", "distribution", "crane", "kyverno-verify", "kyverno"],
} as const satisfies Record<string, readonly string[]>;
export type ToolSet = keyof typeof TOOL_SETS;

export function toolSpec(name: string): ToolSpec {
    const t = TOOLS.find((x) => x.name === name);
    if (!t) {
        throw new Error(`unknown tool "${name}" (known: ${TOOLS.map((x) => x.name).join(", ")})`);
    }
    return t;
}
