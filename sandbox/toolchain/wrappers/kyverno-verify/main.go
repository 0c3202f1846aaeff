// kyverno-verify runs Kyverno v1.18.2's own admission checks of image signatures for one image under a
// ClusterPolicy, and says whether Kyverno would admit a pod running that image.
//
// Kyverno checks an image in two webhook calls, and so does this program, in the same order:
//   - mutating: engine.VerifyAndPatchImages (pkg/webhooks/resource/imageverification/handler.go) verifies the
//     signatures of each verifyImages rule (for `type: Cosign`: pkg/image/verifiers/cpol/cosign VerifySignature with
//     the options pkg/engine/internal/imageverifier.go builds from the attestor) and records the verified images in
//     the pod's `kyverno.io/verify-images` annotation;
//   - validating: engine.Validate (pkg/webhooks/resource/validation) enforces `verifyDigest` (no tag) and `required`
//     (the image must be in that annotation) (pkg/engine/handlers/validation/validate_image.go).
//
// The engine, the policy context and the annotation patch are set up as Kyverno's CLI does for `kyverno apply`
// (cmd/cli/kubectl-kyverno/processor/policy_processor.go: ApplyPoliciesOnResource, makePolicyContext): a CREATE of
// a Pod in --namespace, either one whose one container runs --image, or the Pod manifest --pod (as it reaches the
// webhooks: with any injected sidecars and init containers; its namespace is set to --namespace). The registry client
// is the admission controller's (cmd/internal/registry.go: registryclient.New; --allowInsecureRegistry →
// WithAllowInsecureRegistry).
//
// Usage: kyverno-verify --policy <ClusterPolicy .json|.yaml> (--image <ref> | --pod <Pod .json|.yaml>) [--namespace models] [--allow-insecure-registry]
// Prints one line per rule response ("rule <name>: <status>: <message>", for each phase) and "verified: <image>" or
// "refused: <image>" (with --pod: "admitted: pod <name>" or "refused: pod <name>"); exit 0 only if a verifyImages
// rule applied and every response passed, 1 otherwise, 2 on bad input.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	kyvernov1 "github.com/kyverno/kyverno/api/kyverno/v1"
	"github.com/kyverno/kyverno/pkg/config"
	"github.com/kyverno/kyverno/pkg/engine"
	"github.com/kyverno/kyverno/pkg/engine/adapters"
	engineapi "github.com/kyverno/kyverno/pkg/engine/api"
	"github.com/kyverno/kyverno/pkg/engine/factories"
	"github.com/kyverno/kyverno/pkg/engine/jmespath"
	"github.com/kyverno/kyverno/pkg/engine/mutate/patch"
	imageverifycache "github.com/kyverno/kyverno/pkg/image/verification/cache"
	"github.com/kyverno/kyverno/pkg/registryclient"
	jsonutils "github.com/kyverno/kyverno/pkg/utils/json"
	"github.com/kyverno/kyverno/pkg/version"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func main() {
	os.Exit(run())
}

func run() int {
	policyPath := flag.String("policy", "", "ClusterPolicy manifest (JSON or YAML)")
	image := flag.String("image", "", "image reference of the pod's container")
	podPath := flag.String("pod", "", "Pod manifest (JSON or YAML), instead of --image")
	namespace := flag.String("namespace", "models", "namespace of the pod")
	insecure := flag.Bool("allow-insecure-registry", false, "Kyverno's --allowInsecureRegistry (plain-HTTP registries)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("kyverno-verify (kyverno %s)\n", version.Version())
		return 0
	}
	if *policyPath == "" || (*image == "") == (*podPath == "") || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: kyverno-verify --policy <file> (--image <ref> | --pod <file>) [--namespace models] [--allow-insecure-registry]")
		return 2
	}
	raw, err := os.ReadFile(*policyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var policy kyvernov1.ClusterPolicy
	if err := yaml.UnmarshalStrict(raw, &policy); err != nil {
		fmt.Fprintf(os.Stderr, "%s: not a ClusterPolicy: %v\n", *policyPath, err)
		return 2
	}
	if policy.Kind != "ClusterPolicy" || policy.APIVersion != "kyverno.io/v1" {
		fmt.Fprintf(os.Stderr, "%s: want apiVersion kyverno.io/v1, kind ClusterPolicy; got %s %s\n", *policyPath, policy.APIVersion, policy.Kind)
		return 2
	}

	var rclientOpts []registryclient.Option
	if *insecure {
		rclientOpts = append(rclientOpts, registryclient.WithAllowInsecureRegistry())
	}
	rclient, err := registryclient.New(rclientOpts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := config.NewDefaultConfiguration(false)
	jp := jmespath.New(cfg)
	isCluster := false
	eng := engine.NewEngine(
		cfg,
		jp,
		nil, // no API server: the policy has no context entries that would read one
		factories.DefaultRegistryClientFactory(adapters.RegistryClient(rclient), nil),
		imageverifycache.DisabledImageVerifyCache(),
		factories.DefaultContextLoaderFactory(nil),
		nil, // no PolicyExceptions
		&isCluster,
	)

	pod := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "kyverno-verify", "namespace": *namespace},
		"spec": map[string]any{
			"containers": []any{map[string]any{"name": "model", "image": *image}},
		},
	}}
	subject := *image
	if *podPath != "" {
		rawPod, err := os.ReadFile(*podPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		podJSON, err := yaml.YAMLToJSON(rawPod)
		if err == nil {
			pod = unstructured.Unstructured{}
			err = pod.UnmarshalJSON(podJSON)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: not a Pod manifest: %v\n", *podPath, err)
			return 2
		}
		if pod.GetAPIVersion() != "v1" || pod.GetKind() != "Pod" {
			fmt.Fprintf(os.Stderr, "%s: want apiVersion v1, kind Pod; got %s %s\n", *podPath, pod.GetAPIVersion(), pod.GetKind())
			return 2
		}
		pod.SetNamespace(*namespace)
		subject = "pod " + pod.GetName()
	}
	pc, err := engine.NewPolicyContext(jp, pod, kyvernov1.Create, nil, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pc = pc.
		WithPolicy(&policy).
		WithNamespaceLabels(map[string]string{"kubernetes.io/metadata.name": *namespace}).
		WithResourceKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "")

	// Mutating webhook: verify the signatures; the verified images go into the pod's annotation.
	verifyResp, ivm := eng.VerifyAndPatchImages(context.Background(), pc)
	responses := verifyResp.PolicyResponse.Rules
	admitted := len(responses) > 0
	if len(responses) == 0 {
		fmt.Printf("no verifyImages rule of %s applied to a pod in namespace %s\n", policy.Name, *namespace)
	}
	patched := verifyResp.PatchedResource
	if !ivm.IsEmpty() {
		if patched, err = annotate(patched, ivm); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	// Validating webhook: digest and required checks against the annotated pod.
	if pc, err = engine.NewPolicyContext(jp, patched, kyvernov1.Create, nil, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pc = pc.
		WithPolicy(&policy).
		WithNamespaceLabels(map[string]string{"kubernetes.io/metadata.name": *namespace}).
		WithResourceKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "")
	validateResp := eng.Validate(context.Background(), pc)
	responses = append(responses, validateResp.PolicyResponse.Rules...)

	for _, r := range responses {
		fmt.Printf("rule %s: %s: %s\n", r.Name(), r.Status(), r.Message())
		if r.Status() != engineapi.RuleStatusPass {
			admitted = false
		}
	}
	if admitted {
		if *podPath != "" {
			fmt.Printf("admitted: %s\n", subject)
		} else {
			fmt.Printf("verified: %s\n", subject)
		}
		return 0
	}
	fmt.Printf("refused: %s\n", subject)
	return 1
}

// annotate applies the verified-images annotation patch as the CLI does between the verify and validate phases.
func annotate(resource unstructured.Unstructured, ivm engineapi.ImageVerificationMetadata) (unstructured.Unstructured, error) {
	patches, err := ivm.Patches(len(resource.GetAnnotations()) != 0, logr.Discard())
	if err != nil {
		return resource, err
	}
	decoded, err := jsonpatch.DecodePatch(jsonutils.JoinPatches(patch.ConvertPatches(patches...)...))
	if err != nil {
		return resource, err
	}
	raw, err := resource.MarshalJSON()
	if err != nil {
		return resource, err
	}
	raw, err = decoded.ApplyWithOptions(raw, &jsonpatch.ApplyOptions{SupportNegativeIndices: true, AllowMissingPathOnRemove: true, EnsurePathExistsOnAdd: true})
	if err != nil {
		return resource, err
	}
	var out unstructured.Unstructured
	return out, out.UnmarshalJSON(raw)
}
