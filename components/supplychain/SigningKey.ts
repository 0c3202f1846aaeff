/**
 * SigningKey (`model-fleet:supplychain:SigningKey`): the AWS KMS key a stack that builds signs its images with.
 *
 * Declared: an asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`: cosign's default ECDSA P-256 signature) with the key
 * policy of keyPolicy.ts (only the build role signs; the account verifies and administers) and an alias. Or, with
 * `existingKeyArn`, nothing is declared and that key is used; its account is checked against the caller's at
 * deployment (config validation already compared it with the stack's region and the build role's account).
 * Either way the public key is read with KMS GetPublicKey (`aws.kms.getPublicKeyOutput`) for admission, and
 * `keyRef` is cosign's `awskms:///<key ARN>`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { accountOfKeyArn, awsKmsKeyRef, signingKeyPolicy } from "./keyPolicy";
import { partitionOf } from "../registry/pullPolicy";

export const SIGNING_KEY_TYPE = "model-fleet:supplychain:SigningKey";

export interface SigningKeyArgs {
    /** The build role, the only principal the declared key lets sign. Required (plain: it goes into the policy). */
    readonly buildRoleArn: string;
    /** Account of the stack (caller identity). Required. */
    readonly accountId: pulumi.Input<string>;
    /** Region of the stack (`aws:region`). Required. */
    readonly region: string;
    /** Use this existing key instead of declaring one. Default: none (a key is declared). */
    readonly existingKeyArn?: string;
    /** Alias name without `alias/`. Default `model-fleet-signing`. */
    readonly aliasName?: string;
    /** Waiting period before a deleted key is destroyed, days. Default 30. */
    readonly deletionWindowInDays?: number;
    /** Tags for the key. Default {}. */
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class SigningKey extends pulumi.ComponentResource {
    /** ARN of the signing key. */
    public readonly keyArn: pulumi.Output<string>;
    /** cosign key reference: `awskms:///<key ARN>`. */
    public readonly keyRef: pulumi.Output<string>;
    /** The key's public key, PEM (what admission verifies with). */
    public readonly publicKeyPem: pulumi.Output<string>;
    /** The alias, when the key is declared here. */
    public readonly aliasName?: pulumi.Output<string>;

    constructor(name: string, args: SigningKeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super(SIGNING_KEY_TYPE, name, {}, opts);
        if (args.existingKeyArn) {
            const arn = args.existingKeyArn;
            this.keyArn = pulumi.output(args.accountId).apply((account) => {
                if (accountOfKeyArn(arn) !== account) {
                    throw new pulumi.RunError(`SigningKey ${name}: ${arn} is in account ${accountOfKeyArn(arn)}, but this stack deploys to account ${account}`);
                }
                return arn;
            });
        } else {
            const policy = pulumi
                .output(args.accountId)
                .apply((accountId) => JSON.stringify(signingKeyPolicy({ accountId, partition: partitionOf(args.region), buildRoleArn: args.buildRoleArn })));
            const key = new aws.kms.Key(
                `${name}-key`,
                {
                    description: "Signs model images (cosign); only the build role may sign",
                    customerMasterKeySpec: "ECC_NIST_P256",
                    keyUsage: "SIGN_VERIFY",
                    // KMS rotates symmetric keys only; a new signing key is a new key (and a re-promotion).
                    enableKeyRotation: false,
                    deletionWindowInDays: args.deletionWindowInDays ?? 30,
                    policy,
                    tags: args.tags ?? {},
                },
                // Signatures made with it outlive the stack: deleting the key would make every signed digest
                // unverifiable, so a destroy or a replacement leaves the key in the account.
                { parent: this, retainOnDelete: true },
            );
            const alias = new aws.kms.Alias(
                `${name}-alias`,
                { name: `alias/${args.aliasName ?? "model-fleet-signing"}`, targetKeyId: key.keyId },
                { parent: this },
            );
            this.keyArn = key.arn;
            this.aliasName = alias.name;
        }
        this.keyRef = this.keyArn.apply(awsKmsKeyRef);
        this.publicKeyPem = aws.kms.getPublicKeyOutput({ keyId: this.keyArn }, { parent: this }).publicKeyPem;
        this.registerOutputs({ keyArn: this.keyArn, keyRef: this.keyRef, publicKeyPem: this.publicKeyPem, aliasName: this.aliasName });
    }
}
