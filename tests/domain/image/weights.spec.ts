import { strict as assert } from "assert";
import { clusterVersionMismatch, IMAGE_VOLUME_MIN_KUBERNETES, imageVolumesOnByDefault, withWeightsTags } from "../../../domain/image/weights";
import { runStack } from "../../../support/harness";

describe("domain/image/weights: image volumes and the cluster version", function () {
    this.timeout(120000);

    it("image volumes are on by default from 1.35 (KEP 4639 beta), compared as versions, not strings", () => {
        assert.equal(IMAGE_VOLUME_MIN_KUBERNETES, "1.35");
        assert.equal(imageVolumesOnByDefault("1.35"), true);
        assert.equal(imageVolumesOnByDefault("1.99"), true);
        assert.equal(imageVolumesOnByDefault("1.34"), false);
        assert.equal(imageVolumesOnByDefault("1.4"), false);
        assert.throws(() => imageVolumesOnByDefault("v1.35"), /not a Kubernetes minor version/);
    });

    it("clusterVersionMismatch: nothing when the stated version is the cluster's, else what to do", () => {
        assert.equal(clusterVersionMismatch("ml-prod", "1.35", "1.35"), undefined);
        assert.match(
            clusterVersionMismatch("ml-prod", "1.35", "1.34") ?? "",
            /^cluster\.version says 1\.35, but EKS cluster ml-prod runs Kubernetes 1\.34: .*Set cluster\.version to 1\.34, or upgrade the cluster first$/,
        );
    });

    it("withWeightsTags: retention keeps each weights tag in the repository that holds it", () => {
        assert.deepEqual(withWeightsTags({ sentiment: ["v2.1.4-5e2c9a1"] }, [{ name: "sentiment", weights: { tag: "v2.1.4-8d41f0c" } }, { name: "x" }]), {
            sentiment: ["v2.1.4-5e2c9a1", "v2.1.4-8d41f0c"],
        });
    });

    it("withWeightsTags: the replaced weights (weights.previousTag, the rollback's weights) stay kept too, once per repository", () => {
        assert.deepEqual(
            withWeightsTags({ sentiment: ["v2.2.0-a1b2c3d", "v2.1.4-5e2c9a1"], shared: [] }, [
                { name: "sentiment", weights: { tag: "v2.2.0-0f1e2d3", previousTag: "v2.1.4-8d41f0c" } },
                { name: "digits", weights: { repository: "shared", tag: "v1.0.0-1111111", previousTag: "v1.0.0-1111111" } },
            ]),
            { sentiment: ["v2.2.0-a1b2c3d", "v2.1.4-5e2c9a1", "v2.2.0-0f1e2d3", "v2.1.4-8d41f0c"], shared: ["v1.0.0-1111111"] },
        );
    });

    it("the `images` output carries each model's weights artifact (digest, tag, ref by digest, repository), what promote and sign read", async () => {
        const run = await runStack("prod", { configFile: "tests/fixtures/stacks/weights.yaml" });
        const sentiment = run.outputs.images.sentiment;
        const digest = "sha256:7d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e";
        assert.deepEqual(sentiment.weights, {
            digest,
            tag: "v2.1.4-8d41f0c",
            ref: `${run.outputs.repositoryUrls.sentiment}@${digest}`,
            repository: "sentiment",
        });
        for (const [model, img] of Object.entries<any>(run.outputs.images)) {
            if (model !== "sentiment") assert.equal(img.weights, undefined, `${model} mounts no weights: no weights in its output`);
        }
    });

    it("the program fails a stack whose stated cluster.version is not the EKS cluster's (the mock cluster runs 1.35)", async () => {
        await runStack("prod", { configFile: "tests/fixtures/stacks/weights.yaml" });
        await assert.rejects(
            runStack("prod", {
                configFile: "tests/fixtures/stacks/weights.yaml",
                editConfig: (c) => {
                    c["model-fleet:cluster"] = { ...c["model-fleet:cluster"], version: "1.36" };
                },
            }),
            /cluster\.version says 1\.36, but EKS cluster ml-prod runs Kubernetes 1\.35/,
        );
    });
});
