/**
 * Key policy of the image signing key (pure): only the build role may sign; anyone in the account may verify.
 *
 * KMS evaluates the key policy first: an IAM policy can only grant what the key policy delegates to the account
 * principal (`arn:…:root`). The account statement here delegates administration and verification, never `kms:Sign`
 * and never `kms:CreateGrant`, so while this policy stands no IAM policy or grant can let another principal sign
 * (AWS KMS Developer Guide, "Default key policy" and "Allows access to the AWS account and enables IAM policies";
 * the administrator action list is the console's default for key administrators, which holds no cryptographic
 * operation).
 *
 * What it does not guarantee: the policy itself can be changed. Administration includes `kms:PutKeyPolicy`, which
 * the account statement delegates, so the account root and any IAM principal the account grants `kms:PutKeyPolicy`
 * on this key can replace the policy with one that lets anyone sign (a later `pulumi up` would put this one back,
 * after the fact). The key's signers are therefore the build role plus whoever can administer the key: keep
 * `kms:PutKeyPolicy` to a few administrators in IAM and alert on the `PutKeyPolicy` CloudTrail event.
 */

/**
 * Administration of the key, for the account root (and so, through IAM, the account's administrators). Not
 * `kms:Create*`: it holds `kms:CreateGrant`, and a grant can hand `kms:Sign` to any principal.
 */
export const KEY_ADMIN_ACTIONS = [
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
] as const;
/** What the build role does: `cosign sign --key awskms:///<arn>` calls GetPublicKey and Sign (and DescribeKey). */
export const SIGN_ACTIONS = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"] as const;
/** What any principal of the account may do: verify (cosign verify, admission) and read the public key. */
export const VERIFY_ACTIONS = ["kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"] as const;

export interface SigningKeyPolicyInput {
    /** 12-digit account that owns the key. */
    accountId: string;
    /** ARN partition (aws, aws-cn, aws-us-gov). */
    partition: string;
    /** The build role ARN: the only principal allowed to sign. */
    buildRoleArn: string;
}

export interface PolicyStatement {
    Sid: string;
    Effect: "Allow";
    Principal: { AWS: string };
    Action: string[];
    Resource: "*";
}

export function signingKeyPolicy(input: SigningKeyPolicyInput): { Version: "2012-10-17"; Statement: PolicyStatement[] } {
    if (!/^\d{12}$/.test(input.accountId)) throw new Error(`signing key policy: account ${JSON.stringify(input.accountId)} is not a 12-digit account id`);
    const m = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/[\w+=,.@/-]+$/.exec(input.buildRoleArn);
    if (!m) throw new Error(`signing key policy: ${JSON.stringify(input.buildRoleArn)} is not an IAM role ARN`);
    if (m[2] !== input.accountId) throw new Error(`signing key policy: build role ${input.buildRoleArn} is not in account ${input.accountId}`);
    const root = `arn:${input.partition}:iam::${input.accountId}:root`;
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: root }, Action: [...KEY_ADMIN_ACTIONS], Resource: "*" },
            { Sid: "BuildRoleSigns", Effect: "Allow", Principal: { AWS: input.buildRoleArn }, Action: [...SIGN_ACTIONS], Resource: "*" },
            { Sid: "AccountVerifies", Effect: "Allow", Principal: { AWS: root }, Action: [...VERIFY_ACTIONS], Resource: "*" },
        ],
    };
}

/** Actions a statement list grants a principal, expanding `kms:Get*`-style wildcards against `candidates`. */
export function grantedActions(statements: readonly PolicyStatement[], principal: string, candidates: readonly string[]): string[] {
    const matches = (pattern: string, action: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(action);
    return candidates.filter((a) => statements.some((s) => s.Principal.AWS === principal && s.Action.some((p) => matches(p, a))));
}

/** cosign's reference for a KMS key: `awskms:///<key ARN>` (sigstore pkg/signature/kms/aws). */
export function awsKmsKeyRef(keyArn: string): string {
    return `awskms:///${keyArn}`;
}

/** The key ARN inside an `awskms:///<arn>` reference, or undefined. */
export function keyArnOfRef(ref: string): string | undefined {
    const m = /^awskms:\/\/\/(arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+)$/.exec(ref);
    return m ? m[1] : undefined;
}

/** Region of a KMS key ARN. */
export function regionOfKeyArn(arn: string): string {
    return arn.split(":")[3];
}

/** Account of a KMS key ARN. */
export function accountOfKeyArn(arn: string): string {
    return arn.split(":")[4];
}
