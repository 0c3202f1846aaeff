/**
 * ECR: repositories are tag-immutable, scan on push and are encrypted with KMS; every repository the stack
 * declares has a lifecycle policy.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { arr, obj, validateTypes, violation } from "./util";

export const ECR_REPOSITORY = "aws:ecr/repository:Repository";
export const ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy";

/** Release tags the project pushes look like this (`v<semver>-<short sha>`); an exclusion must never match them. */
const SAMPLE_RELEASE_TAGS = ["v1.0.0-a1b2c3d", "v12.3.4-rc.1-0f9e8d7"];

/** ECR `WILDCARD` filter → RegExp (`*` is any run of characters, the rest is literal). */
export function wildcardToRegExp(filter: string): RegExp {
    const body = filter
        .split("*")
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*");
    return new RegExp(`^${body}$`);
}

const IMMUTABLE_REMEDIATION =
    'set `imageTagMutability: "IMMUTABLE"`, or `"IMMUTABLE_WITH_EXCLUSION"` with `imageTagMutabilityExclusionFilters` ' +
    "that cover only the build-cache tag (e.g. `buildcache*`), so a pushed release tag can never be overwritten.";

export const ecrImmutableTags: ResourceValidationPolicy = {
    name: "ecr-immutable-tags",
    description: "ECR repositories are tag-immutable (IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION whose exclusions spare release tags).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: IMMUTABLE_REMEDIATION,
    validateResource: validateTypes([ECR_REPOSITORY], (repo, _args, report) => {
        const mutability = repo.imageTagMutability ?? "MUTABLE";
        if (mutability === "IMMUTABLE") return;
        if (mutability !== "IMMUTABLE_WITH_EXCLUSION") {
            report(violation(`imageTagMutability is ${JSON.stringify(mutability)}; tags can be overwritten.`, IMMUTABLE_REMEDIATION));
            return;
        }
        for (const f of arr(repo.imageTagMutabilityExclusionFilters)) {
            const filter = String(obj(f).filter ?? "");
            if (SAMPLE_RELEASE_TAGS.some((t) => wildcardToRegExp(filter).test(t))) {
                report(
                    violation(
                        `imageTagMutabilityExclusionFilters entry ${JSON.stringify(filter)} makes release tags (v<semver>-<sha>) mutable.`,
                        IMMUTABLE_REMEDIATION,
                    ),
                );
            }
        }
    }),
};

const SCAN_REMEDIATION = "set `imageScanningConfiguration: { scanOnPush: true }` on the repository.";

export const ecrScanOnPush: ResourceValidationPolicy = {
    name: "ecr-scan-on-push",
    description: "ECR repositories scan every image on push.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: SCAN_REMEDIATION,
    validateResource: validateTypes([ECR_REPOSITORY], (repo, _args, report) => {
        if (obj(repo.imageScanningConfiguration).scanOnPush !== true) {
            report(violation("images are not scanned on push.", SCAN_REMEDIATION));
        }
    }),
};

const KMS_REMEDIATION =
    'set `encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: <customer-managed key ARN, rotation on> }]` ' +
    "(encryption is fixed at creation: the repository is replaced).";

export const ecrKmsEncryption: ResourceValidationPolicy = {
    name: "ecr-kms-encryption",
    description: "ECR repositories are encrypted with KMS (not the AES256 default).",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: KMS_REMEDIATION,
    validateResource: validateTypes([ECR_REPOSITORY], (repo, _args, report) => {
        const configs = arr(repo.encryptionConfigurations).map(obj);
        const type = configs.length === 0 ? undefined : configs[0].encryptionType;
        if (type !== "KMS") {
            const shown = type === undefined ? "AES256 (the default)" : JSON.stringify(type);
            report(violation(`encryption is ${shown}, not KMS.`, KMS_REMEDIATION));
        }
    }),
};

const LIFECYCLE_REMEDIATION =
    "declare an `aws.ecr.LifecyclePolicy` for the repository (ModelRegistry generates it from `registry.retention`: " +
    "protect tags first, keep the newest releases, expire old untagged images).";

/** Name of a repository resource as ECR knows it (`name` input), else its Pulumi name. */
function repositoryName(r: PolicyResource): string {
    return typeof r.props.name === "string" && r.props.name !== "" ? r.props.name : r.name;
}

export const ecrLifecyclePolicy: StackValidationPolicy = {
    name: "ecr-lifecycle-policy",
    description: "Every ECR repository in the stack has a lifecycle policy.",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps: LIFECYCLE_REMEDIATION,
    validateStack: (args, report) => {
        const repos = args.resources.filter((r) => r.type === ECR_REPOSITORY);
        if (repos.length === 0) {
            return args.notApplicable("The stack declares no ECR repository");
        }
        const policies = args.resources.filter((r) => r.type === ECR_LIFECYCLE_POLICY);
        const coveredNames = new Set(policies.map((p) => p.props.repository).filter((n) => typeof n === "string"));
        const coveredUrns = new Set(policies.flatMap((p) => arr<PolicyResource>(p.propertyDependencies?.repository)).map((d) => d.urn));
        for (const repo of repos) {
            if (coveredNames.has(repositoryName(repo)) || coveredUrns.has(repo.urn)) continue;
            report(violation(`ECR repository ${JSON.stringify(repositoryName(repo))} has no lifecycle policy.`, LIFECYCLE_REMEDIATION), repo.urn);
        }
    },
};

export const ecrPolicies = [ecrImmutableTags, ecrScanOnPush, ecrKmsEncryption, ecrLifecyclePolicy];
