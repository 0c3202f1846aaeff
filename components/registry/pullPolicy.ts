/**
 * ECR repository policy granting image pull to the GPU node roles only (pure).
 *
 * Pull needs exactly ecr:BatchGetImage, ecr:GetDownloadUrlForLayer and ecr:BatchCheckLayerAvailability on the
 * repository (ECR User Guide, repository policy examples, "allow pull"). Node roles are named either by ARN (IAM
 * resource policies do not accept wildcards in principal ARNs) or by a role-name glob, which is expressed as the
 * account principal narrowed with `ArnLike` on `aws:PrincipalArn`, so only matching roles of this account qualify.
 */

export const PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"] as const;

export interface PullPolicyInput {
    /** IAM role ARNs allowed to pull. */
    roleArns: string[];
    /** IAM role-name glob (`*`, `?`), e.g. `ml-prod-gpu-*`. */
    roleNamePattern?: string;
    /** 12-digit account id that owns the roles. */
    accountId: string;
    /** ARN partition: aws, aws-cn or aws-us-gov. */
    partition: string;
}

/** ARN partition of a region. */
export function partitionOf(region: string): string {
    if (region.startsWith("cn-")) return "aws-cn";
    if (region.startsWith("us-gov-")) return "aws-us-gov";
    return "aws";
}

const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]+$/;

export function ecrPullPolicy(input: PullPolicyInput): { Version: string; Statement: Record<string, unknown>[] } {
    if (!/^\d{12}$/.test(input.accountId)) throw new Error(`account id ${JSON.stringify(input.accountId)} is not 12 digits`);
    const arns = [...new Set(input.roleArns)].sort();
    for (const arn of arns) {
        if (!ROLE_ARN.test(arn)) throw new Error(`pull principal ${JSON.stringify(arn)} is not an IAM role ARN`);
    }
    const statements: Record<string, unknown>[] = [];
    if (arns.length > 0) {
        statements.push({ Sid: "GpuNodeRolesPull", Effect: "Allow", Principal: { AWS: arns }, Action: [...PULL_ACTIONS] });
    }
    if (input.roleNamePattern !== undefined) {
        if (!/^[\w+=,.@*?/-]+$/.test(input.roleNamePattern) || input.roleNamePattern.replace(/[*?]/g, "").length === 0) {
            throw new Error(`role name pattern ${JSON.stringify(input.roleNamePattern)} must name roles, not match every role`);
        }
        statements.push({
            Sid: "GpuNodeRolePatternPull",
            Effect: "Allow",
            Principal: { AWS: `arn:${input.partition}:iam::${input.accountId}:root` },
            Action: [...PULL_ACTIONS],
            Condition: { ArnLike: { "aws:PrincipalArn": `arn:${input.partition}:iam::${input.accountId}:role/${input.roleNamePattern}` } },
        });
    }
    if (statements.length === 0) throw new Error("an ECR pull policy needs at least one GPU node role (ARN or name pattern)");
    return { Version: "2012-10-17", Statement: statements };
}
