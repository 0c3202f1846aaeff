import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { configReferenceRows } from "../../config/reference";
import { CONFIG_REFERENCE, exampleConfigs, renderConfigReference } from "../../scripts/docs";
import { plan, summary } from "../../scripts/plan";
import { REPO_ROOT as ROOT } from "../../support/stackFile";

describe("docs/config-reference.md: the config reference", () => {
    it("is the file generated from the schema (run `npm run docs` after changing config/schema.ts)", () => {
        const file = path.join(ROOT, CONFIG_REFERENCE);
        assert.ok(fs.existsSync(file), `${CONFIG_REFERENCE} is missing: run npm run docs`);
        assert.equal(fs.readFileSync(file, "utf8"), renderConfigReference(), `${CONFIG_REFERENCE} is stale: run npm run docs`);
    });

    it("documents every key with a description, and every leaf key has an example from the stack files", () => {
        const rows = configReferenceRows(exampleConfigs());
        const keys = rows.map((r) => r.key);
        for (const k of [
            "cluster.name",
            "registry.type",
            "registry.retention.keepReleases",
            "registry.retention.untaggedDays",
            "registry.retention.protectTags",
            "registry.harbor.url",
            "registry.harbor.password",
            "gpuPools[].mig.strategy",
            "gpuPools[].mig.layout",
            "models[].name",
            "models[].version",
            "models[].image.digest",
            "models[].image.build.context",
            "models[].gpu.profile",
            "models[].autoscaling.minReplicas",
            "models[].canary.steps",
            "models[].canary.analysis.maxAccuracyDrop",
            "rollouts.prometheusUrl",
            "rollouts.trafficRouting",
        ]) {
            assert.ok(keys.includes(k), `${k} is documented`);
        }
        const undocumented = rows.filter((r) => r.description === "").map((r) => r.key);
        assert.deepEqual(
            undocumented.filter((k) => !/^(models\[\]\.(resources|autoscaling|canary\.analysis|image\.build)|.*\.build)$/.test(k)),
            [],
        );
        const leavesWithoutExample = rows
            .filter((r) => r.type !== "object" && r.type !== "object[]" && r.type !== "one of" && r.example === undefined)
            .map((r) => r.key);
        // Optional keys the shipped stacks leave at their defaults are the only ones without an example.
        for (const k of leavesWithoutExample) {
            const row = rows.find((r) => r.key === k)!;
            assert.equal(row.required, false, `${k} is required but no stack file shows it`);
        }
    });
});

describe("README.md", () => {
    const readme = () => fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

    it("fits on a screen: under 250 lines", () => {
        assert.ok(readme().split("\n").length < 250, `README.md has ${readme().split("\n").length} lines`);
    });

    it("shows real `npm run plan -- --stack dev` output (run it and paste it again when this fails)", async function () {
        this.timeout(120_000);
        const m = /<!-- plan-output: npm run plan -- --stack dev[^>]*-->\n```text\n([\s\S]*?)\n```/.exec(readme());
        assert.ok(m, "README.md has the plan-output block");
        const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), "readme-plan-"));
        try {
            const result = await plan("dev", { outRoot });
            // As printed from the repository root (the Wrote line names out/dev).
            const real = summary({ ...result, outDir: path.join(process.cwd(), "out", "dev") });
            // The commit and the digests derived from it differ from checkout to checkout; the rest may not.
            const normal = (s: string) =>
                s.replace(/@sha256:[0-9a-f]{64}/g, "@sha256:<digest>").replace(/\bv(\d+\.\d+\.\d+)-[0-9a-f]{7}(-dirty\.[0-9a-f]{8})?\b/g, "v$1-<sha>");
            const realLines = normal(real).split("\n");
            // Every line shown is a line of the real output, in order; `…` stands for lines left out.
            let at = 0;
            for (const line of normal(m[1]).split("\n")) {
                if (line.trim() === "…") continue;
                const found = realLines.indexOf(line, at);
                assert.ok(found >= 0, `README plan output line not in the real output (in this order): ${JSON.stringify(line)}\n--- real output ---\n${real}`);
                at = found + 1;
            }
            // What is left out is only whole resource-type rows.
            const shown = new Set(normal(m[1]).split("\n"));
            const omitted = realLines.filter((l) => !shown.has(l));
            for (const l of omitted)
                assert.match(l, /^  [\w-]+:[\w./-]*:\w+\s+\d+$/, `README leaves out a line that is not a resource-type row: ${JSON.stringify(l)}`);
        } finally {
            fs.rmSync(outRoot, { recursive: true, force: true });
        }
    });
});
