/**
 * Harbor resources backed by the dynamic providers in ./provider. Types are `pulumi-nodejs:dynamic/harbor:<Kind>`.
 * The admin password is always sent as a secret and `password` (and the robot's `secret`) are listed in
 * additionalSecretOutputs, so neither is ever stored or shown in plain text.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    harborImmutableRuleProvider,
    harborProjectProvider,
    harborRetentionPolicyProvider,
    harborRobotAccountProvider,
    immutableRuleInputs,
    retentionPolicyInputs,
} from "./provider";

/** Where and as whom to call the Harbor API. */
export interface HarborConnectionArgs {
    /** Harbor base URL (https). Required. */
    readonly url: pulumi.Input<string>;
    /** Harbor user (admin or project admin). Required. */
    readonly username: pulumi.Input<string>;
    /** That user's password; wrapped in pulumi.secret. Required. */
    readonly password: pulumi.Input<string>;
}

function connection(args: HarborConnectionArgs): Record<string, pulumi.Input<string>> {
    return { url: args.url, username: args.username, password: pulumi.secret(args.password) };
}

function secretOpts(opts: pulumi.CustomResourceOptions | undefined, extra: string[] = []): pulumi.CustomResourceOptions {
    return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password", ...extra] };
}

export interface HarborProjectArgs extends HarborConnectionArgs {
    /** Project name. Required; changing it replaces the project. */
    readonly name: pulumi.Input<string>;
    /** Anonymous pull. Default false. */
    readonly public?: pulumi.Input<boolean>;
    /** Scan artifacts on push. Default true. */
    readonly autoScan?: pulumi.Input<boolean>;
}

export class HarborProject extends pulumi.dynamic.Resource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly projectId: pulumi.Output<number>;
    declare public readonly public: pulumi.Output<boolean>;
    declare public readonly autoScan: pulumi.Output<boolean>;

    constructor(name: string, args: HarborProjectArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            harborProjectProvider,
            name,
            { ...connection(args), name: args.name, public: args.public ?? false, autoScan: args.autoScan ?? true, projectId: undefined },
            secretOpts(opts),
            "harbor",
            "Project",
        );
    }
}

export interface HarborImmutableRuleArgs extends HarborConnectionArgs {
    /** Id of the project the rule belongs to. Required. */
    readonly projectId: pulumi.Input<number>;
    /** Tags that become immutable (doublestar). Default "v*". */
    readonly tagPattern?: pulumi.Input<string>;
    /** Repositories the rule covers (doublestar). Default "**". */
    readonly repositoryPattern?: pulumi.Input<string>;
}

export class HarborImmutableRule extends pulumi.dynamic.Resource {
    declare public readonly ruleId: pulumi.Output<number>;
    declare public readonly tagPattern: pulumi.Output<string>;

    constructor(name: string, args: HarborImmutableRuleArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            harborImmutableRuleProvider,
            name,
            { ...connection(args), ...immutableRuleInputs(args), ruleId: undefined },
            secretOpts(opts),
            "harbor",
            "ImmutableRule",
        );
    }
}

export interface HarborRetentionPolicyArgs extends HarborConnectionArgs {
    /** Id of the project the policy is bound to. Required. */
    readonly projectId: pulumi.Input<number>;
    /** Newest release artifacts to retain (latestPushedK). Required. */
    readonly keepReleases: pulumi.Input<number>;
    /** Release tags (doublestar). Default "v*". */
    readonly releasePattern?: pulumi.Input<string>;
    /** Tag patterns always retained. Default []. */
    readonly protectPatterns?: pulumi.Input<pulumi.Input<string>[]>;
    /** Artifacts (untagged included) pushed within this many days are retained; older untagged ones are removed. Required. */
    readonly untaggedDays: pulumi.Input<number>;
    /** Harbor 6-field cron (seconds first). Default "0 0 0 * * *" (daily at midnight). */
    readonly schedule?: pulumi.Input<string>;
}

export class HarborRetentionPolicy extends pulumi.dynamic.Resource {
    declare public readonly retentionId: pulumi.Output<number>;
    declare public readonly keepReleases: pulumi.Output<number>;
    declare public readonly protectPatterns: pulumi.Output<string[]>;
    declare public readonly schedule: pulumi.Output<string>;

    constructor(name: string, args: HarborRetentionPolicyArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            harborRetentionPolicyProvider,
            name,
            {
                ...connection(args),
                ...retentionPolicyInputs(args),
                retentionId: undefined,
            },
            secretOpts(opts),
            "harbor",
            "RetentionPolicy",
        );
    }
}

export interface HarborRobotAccountArgs extends HarborConnectionArgs {
    /** Id of the project the robot may pull from. Required. */
    readonly projectId: pulumi.Input<number>;
    /** Name of that project (the permission namespace). Required. */
    readonly projectName: pulumi.Input<string>;
    /** Robot name without Harbor's `robot$<project>+` prefix. Required. */
    readonly name: pulumi.Input<string>;
    /** Description. Default "Pulls model images (managed by Pulumi)". */
    readonly description?: pulumi.Input<string>;
    /** Lifetime in days, -1 for never. Default -1. */
    readonly duration?: pulumi.Input<number>;
}

/** A project robot with `repository:pull` only. `secret` is a Pulumi secret. */
export class HarborRobotAccount extends pulumi.dynamic.Resource {
    declare public readonly robotId: pulumi.Output<number>;
    /** Login name, `robot$<project>+<name>`. */
    declare public readonly fullName: pulumi.Output<string>;
    declare public readonly secret: pulumi.Output<string>;

    constructor(name: string, args: HarborRobotAccountArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            harborRobotAccountProvider,
            name,
            {
                ...connection(args),
                projectId: args.projectId,
                projectName: args.projectName,
                name: args.name,
                description: args.description ?? "Pulls model images (managed by Pulumi)",
                duration: args.duration ?? -1,
                robotId: undefined,
                fullName: undefined,
                secret: undefined,
            },
            secretOpts(opts, ["secret"]),
            "harbor",
            "RobotAccount",
        );
    }
}
