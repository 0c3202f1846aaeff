import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PREDICTION_ID_KEY_BYTES, predictionIdKeyProvider } from "../../components/serving/predictionIdKey";

describe("serving: PredictionIdKey (the dynamic provider of a model's prediction-id HMAC key)", () => {
    it("creates a fresh random key of 48 bytes, base64url (64 characters), at least the server's 32-byte minimum", async () => {
        const a = await predictionIdKeyProvider.create({ bytes: PREDICTION_ID_KEY_BYTES });
        const b = await predictionIdKeyProvider.create({ bytes: PREDICTION_ID_KEY_BYTES });
        assert.match(a.outs.key, /^[A-Za-z0-9_-]{64}$/);
        assert.equal(Buffer.from(a.outs.key, "base64url").length, 48);
        assert.ok(PREDICTION_ID_KEY_BYTES >= 32, "images/model-server/app/ids.py MIN_KEY_BYTES");
        assert.notEqual(a.outs.key, b.outs.key);
        assert.notEqual(a.id, b.id);
    });
    it("keeps the key across updates (no diff), and replaces it only when its size changes", async () => {
        const same = await predictionIdKeyProvider.diff!("id", { bytes: 48, key: "k" }, { bytes: 48 });
        assert.equal(same.changes, false);
        const resized = await predictionIdKeyProvider.diff!("id", { bytes: 48, key: "k" }, { bytes: 64 });
        assert.equal(resized.changes, true);
        assert.deepEqual(resized.replaces, ["bytes"]);
    });
    it("serializes for the dynamic-provider launcher (the closure serializer accepts it)", async () => {
        const text = await pulumi.runtime.serializeFunction(() => predictionIdKeyProvider, { isFactoryFunction: true });
        assert.match(text.text, /randomBytes/);
    });
});
