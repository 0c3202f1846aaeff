import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { configReferenceRows } from "../config/reference";
import { END, exampleConfigs, renderReadme, START } from "../scripts/docs";

const README = path.join(__dirname, "..", "README.md");

describe("README: config reference", () => {
    it("is the table generated from the schema (run `npm run docs` after changing config/schema.ts)", () => {
        const readme = fs.readFileSync(README, "utf8");
        assert.ok(readme.includes(START) && readme.includes(END), "README has the generated-section markers");
        assert.equal(readme, renderReadme(readme), "README.md config reference is stale: run npm run docs");
    });

    it("documents every key with a description, and every leaf key has an example from the stack files", () => {
        const rows = configReferenceRows(exampleConfigs());
        const keys = rows.map((r) => r.key);
        for (const k of ["cluster.name", "registry.type", "registry.retention.keepReleases", "registry.retention.untaggedDays", "registry.retention.protectTags",
            "registry.harbor.url", "registry.harbor.password", "gpuPools[].mig.strategy", "gpuPools[].mig.layout", "models[].name", "models[].version",
            "models[].image.digest", "models[].image.build.context", "models[].gpu.profile", "models[].autoscaling.minReplicas",
            "models[].canary.steps", "models[].canary.analysis.maxAccuracyDrop", "rollouts.prometheusUrl", "rollouts.trafficRouting"]) {
            assert.ok(keys.includes(k), `${k} is documented`);
        }
        const undocumented = rows.filter((r) => r.description === "").map((r) => r.key);
        assert.deepEqual(undocumented.filter((k) => !/^(models\[\]\.(resources|autoscaling|canary\.analysis|image\.build)|.*\.build)$/.test(k)), []);
        const leavesWithoutExample = rows.filter((r) => r.type !== "object" && r.type !== "object[]" && r.type !== "one of" && r.example === undefined).map((r) => r.key);
        // Optional keys the shipped stacks leave at their defaults are the only ones without an example.
        for (const k of leavesWithoutExample) {
            const row = rows.find((r) => r.key === k)!;
            assert.equal(row.required, false, `${k} is required but no stack file shows it`);
        }
    });
});
