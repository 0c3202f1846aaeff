import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { plan, summary } from "../../scripts/plan";

describe("npm run plan (offline plan)", () => {
    const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), "model-fleet-plan-"));
    after(() => fs.rmSync(outRoot, { recursive: true, force: true }));

    it("writes every declared resource, every Kubernetes object as YAML, and a readable summary", async () => {
        const result = await plan("prod", { outRoot });
        const resources = JSON.parse(fs.readFileSync(path.join(outRoot, "prod", "resources.json"), "utf8"));
        assert.equal(resources.length, result.resources.length);
        for (const r of resources) {
            assert.ok(r.type && r.name && r.urn && typeof r.inputs === "object", JSON.stringify(r).slice(0, 200));
        }
        const files = fs.readdirSync(path.join(outRoot, "prod", "k8s"));
        const docs = files.map((f) => YAML.parse(fs.readFileSync(path.join(outRoot, "prod", "k8s", f), "utf8")));
        const kinds = new Set(docs.map((d) => d.kind));
        for (const k of [
            "Namespace",
            "Deployment",
            "Rollout",
            "AnalysisTemplate",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ServiceAccount",
            "ConfigMap",
        ]) {
            assert.ok(kinds.has(k), `k8s/ has a ${k}`);
        }
        const text = summary(result);
        assert.match(text, /Resources by type:/);
        assert.match(text, /aws:ecr\/repository:Repository\s+2/);
        assert.match(
            text,
            /sentiment\s+2\.1\.4\s+\S+\/model-fleet\/sentiment@sha256:[0-9a-f]{64}\s+nvidia\.com\/mig-1g\.10gb: 1\s+2–6\s+Rollout\/sentiment\s+5 → 25 → 50/,
        );
        assert.match(text, /summarizer\s+1\.4\.0\s+\S+@sha256:[0-9a-f]{64}\s+nvidia\.com\/gpu: 1\s+2–4\s+Deployment\/summarizer\s+-/);
        assert.match(text, /GPU capacity at maxReplicas:/);
        assert.match(text, /priority 1: protect images tagged "prod-\*"/);
        assert.match(text, /first gate at 5% traffic/);
    });

    it("shows secrets from the stack file as [secret], in resources.json and the YAML alike", async () => {
        await plan(path.join(__dirname, "..", "fixtures", "stacks", "harbor.yaml"), {
            configFile: path.join(__dirname, "..", "fixtures", "stacks", "harbor.yaml"),
            outRoot,
        });
        const dir = path.join(outRoot, "harbor");
        const all = [
            fs.readFileSync(path.join(dir, "resources.json"), "utf8"),
            ...fs.readdirSync(path.join(dir, "k8s")).map((f) => fs.readFileSync(path.join(dir, "k8s", f), "utf8")),
        ].join("\n");
        assert.ok(all.includes("[secret]"));
        assert.ok(!all.includes("4dabf18193072939515e22adb298388d"), "no raw secret wrapper leaks into the plan");
        assert.ok(!all.includes("mock-robot-secret"), "the robot secret is masked");
        const secretYaml = fs.readdirSync(path.join(dir, "k8s")).find((f) => f.startsWith("Secret_"));
        assert.ok(secretYaml);
        const stringData = YAML.parse(fs.readFileSync(path.join(dir, "k8s", secretYaml!), "utf8")).stringData;
        assert.ok(stringData === "[secret]" || stringData[".dockerconfigjson"] === "[secret]", JSON.stringify(stringData));
        assert.ok(!all.includes("auths"), "the docker config with the robot credentials is masked");
    });
});
