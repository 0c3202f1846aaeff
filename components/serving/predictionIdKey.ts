/**
 * PredictionIdKey: a model's prediction-id HMAC key (images/model-server/app/ids.py), made once, at create, from the
 * operating system's CSPRNG, and kept in the stack's state as a secret (an update never changes it; replacing the
 * resource rotates it, which invalidates outstanding ids).
 *
 * A Pulumi dynamic provider (type `pulumi-nodejs:dynamic/serving:PredictionIdKey`) rather than `@pulumi/random`:
 * dynamic providers run in the SDK's own `pulumi-resource-pulumi-nodejs` launcher, which every stack has (Harbor's
 * resources use it too), while `random` would be one more provider plugin to install, and the sandbox installs only
 * the Kubernetes plugin with automatic plugin downloads off (sandbox/stack.ts). Serialized by Pulumi's closure
 * serializer: plain functions and constants only.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type * as pulumiDynamic from "@pulumi/pulumi/dynamic";

/** Random bytes of a key: 48 (384 bits), base64url-encoded to 64 characters; the server requires at least 32 bytes. */
export const PREDICTION_ID_KEY_BYTES = 48;

export const predictionIdKeyProvider: pulumiDynamic.ResourceProvider = {
    async create(inputs: { bytes: number }) {
        return { id: crypto.randomUUID(), outs: { bytes: inputs.bytes, key: crypto.randomBytes(inputs.bytes).toString("base64url") } };
    },
    async diff(_id: string, olds: { bytes: number }, news: { bytes: number }) {
        const resized = olds.bytes !== news.bytes;
        return { changes: resized, replaces: resized ? ["bytes"] : [], deleteBeforeReplace: false };
    },
};

export class PredictionIdKey extends pulumi.dynamic.Resource {
    /** Number of random bytes. */
    declare public readonly bytes: pulumi.Output<number>;
    /** The key, base64url (a Pulumi secret). */
    declare public readonly key: pulumi.Output<string>;

    constructor(name: string, opts?: pulumi.CustomResourceOptions) {
        super(
            predictionIdKeyProvider,
            name,
            { bytes: PREDICTION_ID_KEY_BYTES, key: undefined },
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "key"] },
            "serving",
            "PredictionIdKey",
        );
    }
}
