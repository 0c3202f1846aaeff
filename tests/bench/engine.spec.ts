import { strict as assert } from "assert";
import * as fs from "fs";
import YAML from "yaml";
import { engineStackFile, linearFit } from "../../bench/engine/stacks";
import { fleetConfigOf, stackFilePath } from "../../support/stackFile";
import { parseConfig } from "../../config/load";

describe("engine benchmark (bench/engine/stacks.ts)", () => {
    const local = fs.readFileSync(stackFilePath("local"), "utf8");

    it("repeats the local stack's models to N with unique names, keeping every other setting", () => {
        const doc = YAML.parse(engineStackFile(local, 5));
        const models = doc.config["model-fleet:models"];
        const original = YAML.parse(local).config["model-fleet:models"];
        assert.deepEqual(
            models.map((m: { name: string }) => m.name),
            ["sentiment-0", "embedder-1", "sentiment-2", "embedder-3", "sentiment-4"],
        );
        assert.deepEqual({ ...models[2], name: "sentiment" }, original[0]);
        assert.deepEqual(doc.config["model-fleet:rollouts"], YAML.parse(local).config["model-fleet:rollouts"]);
        assert.equal(doc.config["model-fleet:registry"].type, "external", "a Harbor project's retention refuses more than 13 models");
    });

    it("multiplies each GPU pool's nodes so that the generated stack still passes validation (capacity included)", () => {
        for (const n of [10, 30, 100]) {
            const doc = YAML.parse(engineStackFile(local, n));
            assert.deepEqual(
                doc.config["model-fleet:gpuPools"].map((p: { nodes: number }) => p.nodes),
                YAML.parse(local).config["model-fleet:gpuPools"].map((p: { nodes: number }) => p.nodes * Math.ceil(n / 2)),
            );
            // The engine decrypts secrets; here any string stands in for them.
            const decrypted = JSON.parse(JSON.stringify(fleetConfigOf(doc)), (_k, v) => (v && typeof v === "object" && "secure" in v ? "secret" : v));
            const loaded = parseConfig(decrypted, { project: "model-fleet", stack: `bench-${n}`, env: {}, git: () => "8aa5dba" });
            assert.equal(loaded.models.length, n);
        }
    });

    it("fits a line: slope, intercept and R²", () => {
        const f = linearFit([
            { resources: 100, ms: 1200 },
            { resources: 300, ms: 3200 },
            { resources: 1000, ms: 10200 },
        ]);
        assert.ok(Math.abs(f.msPerResource - 10) < 1e-9);
        assert.ok(Math.abs(f.fixedMs - 200) < 1e-9);
        assert.ok(Math.abs(f.r2 - 1) < 1e-12);
        assert.ok(
            linearFit([
                { resources: 1, ms: 1 },
                { resources: 2, ms: 5 },
                { resources: 3, ms: 2 },
            ]).r2 < 0.5,
        );
        assert.throws(() => linearFit([{ resources: 1, ms: 1 }]), /two sizes/);
    });
});
