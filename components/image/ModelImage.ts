/**
 * ModelImage: the one exact image a model runs, referenced by digest.
 *
 * - `source: { build }` builds the context with `@pulumi/docker-build` (BuildKit), pushes `<repo>:v<semver>-<sha>` (`…-dirty.<8 hex>` for a permitted dirty build)
 *   and exposes `ref = <repo>@sha256:…` from the pushed digest.
 * - `source: { digest }` (a promoted model, prod) declares no build at all: `ref = <repo>@<digest>`. With a
 *   `registryLookup` provider and a recorded release tag, it first asks the registry (`@pulumi/docker`'s
 *   `getRegistryImage`) which digest `<repo>:<tag>` holds, and fails the preview unless it is the promoted one:
 *   a digest that never replicated into this stack's registry, or a tag that names another image, stops the
 *   deployment before any pod tries to pull it.
 *
 * The build-vs-digest decision, the tag, labels and build args come from the pure `planModelImage`; this class only
 * wires them to a resource. Invalid input (bad version or digest, missing sha, dirty tree when a clean one is
 * required) throws synchronously from the constructor, before anything is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as dockerBuild from "@pulumi/docker-build";
import { BUILD_PLATFORMS, ImagePlanError, ModelImageCard, ModelImageSource, OCI_LABELS, planModelImage } from "./imagePlan";

export const MODEL_IMAGE_TYPE = "model-fleet:image:ModelImage";

/** Default OCI `source` label (same default as the stack config's `build.sourceUrl`). */
export const DEFAULT_SOURCE_URL = "https://github.com/example/model-fleet";

/** Registry credentials for the push (ECR: `aws.ecr.getAuthorizationTokenOutput`; Harbor: a robot account). */
export interface ModelImageRegistryAuth {
    /** Registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. Default: the host part of `repositoryUrl`. */
    readonly address?: pulumi.Input<string>;
    /** Registry user name (ECR: `AWS`). No default. */
    readonly username: pulumi.Input<string>;
    /** Registry password or token; stored as a secret. No default. */
    readonly password: pulumi.Input<string>;
}

export interface ModelImageArgs {
    /** Model name, used as the OCI `title` label. Required; plain (validated at construction). */
    readonly modelName: string;
    /** Model version, plain semver without leading `v` (e.g. `2.1.4`). Required; plain (validated at construction). */
    readonly version: string;
    /** Git sha of the source (7–40 hex, normalised to 7). Required when building; no default; plain (tag is computed at construction). */
    readonly gitSha?: string;
    /** `{ build: { context, dockerfile? } }` (dockerfile relative to context, default `<context>/Dockerfile`) or `{ digest }`. Required; plain (it decides whether a build resource exists). */
    readonly source: ModelImageSource;
    /** Repository without tag, e.g. `<acct>.dkr.ecr.<region>.amazonaws.com/model-fleet/<model>`. Required. */
    readonly repositoryUrl: pulumi.Input<string>;
    /** Push credentials. Default: none (BuildKit uses the local Docker credential store). Ignored for a digest source. */
    readonly registry?: ModelImageRegistryAuth;
    /** OCI `source` label. Default `https://github.com/example/model-fleet`. */
    readonly sourceUrl?: pulumi.Input<string>;
    /** Refuse to build from a dirty work tree. Default true; plain (checked at construction). */
    readonly requireCleanTree?: boolean;
    /** Whether the work tree has uncommitted changes (from `git status --porcelain`). Default false; plain. */
    readonly treeDirty?: boolean;
    /** Changed paths (from `git status --porcelain`) quoted in the dirty-tree refusal. Default []; plain. */
    readonly dirtyPaths?: readonly string[];
    /** Fingerprint of the uncommitted changes (required for a dirty build; its tag gets `-dirty.<fingerprint>`). Default none; plain. */
    readonly dirtyFingerprint?: string;
    /** The model asks for a GPU (`gpu:`): build the Dockerfile's GPU variant (`VARIANT=gpu`). Default false (CPU); plain. */
    readonly gpu?: boolean;
    /**
     * Model card fields known before the build (training spec, parent): labelled `io.model-fleet.card.*` beside the
     * model, version and (a full 40-hex `gitSha`) commit; a training spec is also the `TRAINING_SPEC` build arg.
     * Default: none (only model, version, commit). Plain. docs/model-card.md.
     */
    readonly card?: ModelImageCard;
    /**
     * Docker provider with read access to the registry: a promoted digest with a release tag is checked against
     * what the registry holds under that tag before it is deployed. Default: none (no check).
     */
    readonly registryLookup?: docker.Provider;
}

export class ModelImage extends pulumi.ComponentResource {
    /** `<repository>@sha256:<64 hex>`: the only form workloads may use. */
    public readonly ref: pulumi.Output<string>;
    /** `sha256:<64 hex>`. */
    public readonly digest: pulumi.Output<string>;
    /** `v<semver>-<sha>` for a build; for a promoted digest, the release tag its config records (else undefined). */
    public readonly tag: pulumi.Output<string | undefined>;
    /** The model version this image carries. */
    public readonly version: pulumi.Output<string>;
    /** The repository the image lives in. */
    public readonly repositoryUrl: pulumi.Output<string>;
    /** True when this stack builds the image, false for a promoted digest. */
    public readonly built: boolean;
    /** The docker-build Image, when this stack builds. */
    public readonly image?: dockerBuild.Image;

    constructor(name: string, args: ModelImageArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before registering anything: a refusal must not leave a half-declared component behind.
        let plan;
        try {
            plan = planModelImage({
                modelName: args.modelName,
                version: args.version,
                gitSha: args.gitSha,
                source: args.source,
                requireCleanTree: args.requireCleanTree ?? true,
                treeDirty: args.treeDirty ?? false,
                dirtyPaths: args.dirtyPaths ?? [],
                dirtyFingerprint: args.dirtyFingerprint,
                gpu: args.gpu ?? false,
                card: args.card ?? {},
            });
        } catch (e) {
            if (e instanceof ImagePlanError) {
                throw new pulumi.RunError(`ModelImage ${name}: ${e.message}`);
            }
            throw e;
        }
        super(MODEL_IMAGE_TYPE, name, {}, opts);

        const repositoryUrl = pulumi.output(args.repositoryUrl);
        this.repositoryUrl = repositoryUrl;
        this.version = pulumi.output(plan.version);

        if (plan.kind === "promoted") {
            this.built = false;
            this.digest = pulumi.output(plan.digest);
            this.tag = pulumi.output<string | undefined>(plan.tag);
            if (args.registryLookup && plan.tag !== undefined) {
                const promoted = plan.digest;
                const tagged = pulumi.interpolate`${repositoryUrl}:${plan.tag}`;
                const remote = docker.getRegistryImageOutput({ name: tagged }, { parent: this, provider: args.registryLookup });
                this.ref = pulumi.all([repositoryUrl, tagged, remote.sha256Digest]).apply(([repo, ref, found]) => {
                    if (found !== promoted) {
                        throw new pulumi.RunError(
                            `ModelImage ${name}: ${ref} is ${found} in the registry, not the promoted ${promoted}: ` +
                                `the image has not replicated here yet, or the config's tag names another image (re-run npm run promote)`,
                        );
                    }
                    return `${repo}@${promoted}`;
                });
            } else {
                this.ref = pulumi.interpolate`${repositoryUrl}@${plan.digest}`;
            }
        } else {
            const cacheRef = pulumi.interpolate`${repositoryUrl}:${plan.cacheTag}`;
            const registries: dockerBuild.types.input.RegistryArgs[] = args.registry
                ? [
                      {
                          address: args.registry.address ?? repositoryUrl.apply((url) => url.split("/")[0]),
                          username: args.registry.username,
                          password: pulumi.secret(args.registry.password),
                      },
                  ]
                : [];
            const image = new dockerBuild.Image(
                `${name}-image`,
                {
                    context: { location: plan.contextLocation },
                    dockerfile: { location: plan.dockerfileLocation },
                    platforms: [...BUILD_PLATFORMS],
                    push: true,
                    tags: [pulumi.interpolate`${repositoryUrl}:${plan.tag}`],
                    buildArgs: { ...plan.buildArgs },
                    labels: { ...plan.labels, [OCI_LABELS.source]: args.sourceUrl ?? DEFAULT_SOURCE_URL },
                    cacheFrom: [{ registry: { ref: cacheRef } }],
                    cacheTo: [
                        {
                            registry: {
                                ref: cacheRef,
                                mode: dockerBuild.CacheMode.Max,
                                // ECR only accepts cache manifests as OCI image manifests.
                                imageManifest: true,
                                ociMediaTypes: true,
                            },
                        },
                    ],
                    registries,
                },
                // Release tags are immutable history: removing the resource must not delete them from the registry
                // (the registry's retention rules decide when an image goes).
                { parent: this, retainOnDelete: true },
            );
            this.image = image;
            this.built = true;
            this.digest = image.digest;
            this.tag = pulumi.output<string | undefined>(plan.tag);
            this.ref = pulumi.interpolate`${repositoryUrl}@${image.digest}`;
        }

        this.registerOutputs({
            ref: this.ref,
            digest: this.digest,
            tag: this.tag,
            version: this.version,
            repositoryUrl: this.repositoryUrl,
        });
    }
}
