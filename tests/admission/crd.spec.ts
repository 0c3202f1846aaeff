/**
 * The admission policy against the pinned policy engine's own definitions (`npm run test:admission`), taken from the
 * Kyverno v1.18.2 module source in the tool cache (`npm run tools -- build kyverno`):
 *  - every stack's rendered ClusterPolicy validates against the `kyverno.io/v1` ClusterPolicy CRD's openAPIV3Schema
 *    (ajv), and holds no field the schema does not declare (the API server would silently prune it: a misspelt
 *    `verifyDigest` would turn the check off without an error);
 *  - the Kyverno chart values the program sets are keys of the pinned chart's values.yaml, and the chart version
 *    and app version are the pinned ones.
 * The sandbox e2e suite then shows the real API server accepting the local stack's policy.
 */
import { strict as assert } from "assert";
import Ajv from "ajv";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { admissionClusterPolicy, KYVERNO_CHART, kyvernoValues } from "../../components/supplychain/admission";
import { toolShare } from "../../sandbox/toolchain/build";
import { k8sObjects, mockP256PublicKeyPem, runStack } from "../../support/harness";

function crdSchema(): any {
    const file = path.join(toolShare("kyverno", "crds"), "kyverno.io_clusterpolicies.yaml");
    const crd = YAML.parse(fs.readFileSync(file, "utf8"));
    return crd.spec.versions.find((v: any) => v.name === "v1").schema.openAPIV3Schema;
}

/** Keys of `value` that `schema` does not declare (structural-schema pruning), as paths. */
export function undeclaredFields(schema: any, value: unknown, at = ""): string[] {
    if (value === null || typeof value !== "object" || !schema) return [];
    if (Array.isArray(value)) return value.flatMap((v, i) => undeclaredFields(schema.items, v, `${at}[${i}]`));
    if (schema["x-kubernetes-preserve-unknown-fields"]) return [];
    const out: string[] = [];
    for (const [k, v] of Object.entries(value)) {
        const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
        if (!sub) {
            if (!schema.properties && schema.additionalProperties === undefined) continue; // free-form object
            out.push(`${at}.${k}`);
            continue;
        }
        out.push(...undeclaredFields(sub, v, `${at}.${k}`));
    }
    return out;
}

/** Key paths of a values object (leaves and maps the chart declares as empty objects stop the descent). */
function valuePaths(v: unknown, prefix = ""): string[] {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return [prefix];
    return Object.entries(v).flatMap(([k, x]) => valuePaths(x, prefix ? `${prefix}.${k}` : k));
}

function hasPath(values: any, p: string): boolean {
    let cur = values;
    for (const part of p.split(".")) {
        if (cur === null || typeof cur !== "object" || !(part in cur)) return false;
        cur = cur[part];
    }
    return true;
}

describe("admission: the ClusterPolicy against Kyverno v1.18.2's CRD schema", () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    let schema: any;
    let validate: ReturnType<Ajv["compile"]>;
    before(() => {
        schema = crdSchema();
        validate = ajv.compile(schema);
    });

    const stacks: Array<[string, string | undefined]> = [
        ["dev", undefined],
        ["prod", undefined],
        ["local", undefined],
        ["supply-chain", path.join(__dirname, "..", "fixtures", "stacks", "supply-chain.yaml")],
    ];
    for (const [stack, configFile] of stacks) {
        it(`stack ${stack}: the rendered ClusterPolicy validates and declares only schema fields`, async () => {
            const policy = k8sObjects((await runStack(stack, configFile ? { configFile } : {})).resources).find((o) => o.kind === "ClusterPolicy");
            assert.ok(policy, "the stack declares the admission policy");
            assert.ok(validate(policy), JSON.stringify(validate.errors, null, 2));
            assert.deepEqual(undeclaredFields(schema, policy), []);
        });
    }

    it("the schema rejects what it should: an unknown failure action, a count below 1, a rule without match", () => {
        const good = admissionClusterPolicy({
            name: "p",
            namespace: "models",
            publicKeys: [mockP256PublicKeyPem("x")],
            repositories: ["123456789012.dkr.ecr.us-east-1.amazonaws.com/model-fleet/sentiment"],
            allowedImages: ["docker.io/istio/proxyv2:*"],
            mode: "Enforce",
            ecrCredentials: true,
        });
        assert.ok(validate(good), JSON.stringify(validate.errors));
        const bad = (edit: (p: any) => void) => {
            const p = JSON.parse(JSON.stringify(good));
            edit(p);
            return validate(p);
        };
        assert.equal(
            bad((p) => (p.spec.rules[0].verifyImages[0].failureAction = "Warn")),
            false,
        );
        assert.equal(
            bad((p) => (p.spec.rules[0].verifyImages[0].attestors[0].count = 0)),
            false,
        );
        assert.equal(
            bad((p) => delete p.spec.rules[0].match),
            false,
        );
        assert.deepEqual(undeclaredFields(schema, { spec: { rules: [{ verifyImages: [{ verifyDigests: true }] }] } }), [
            ".spec.rules[0].verifyImages[0].verifyDigests",
        ]);
    });
});

describe("admission: the Kyverno chart pin and values", () => {
    it("Chart.yaml of the module source is the pinned chart and app version", () => {
        const chart = YAML.parse(fs.readFileSync(path.join(toolShare("kyverno", "chart"), "Chart.yaml"), "utf8"));
        assert.deepEqual([chart.name, chart.version, chart.appVersion], [KYVERNO_CHART.chart, KYVERNO_CHART.version, KYVERNO_CHART.appVersion]);
    });

    it("every value the program sets is a key of the chart's values.yaml", () => {
        const values = YAML.parse(fs.readFileSync(path.join(toolShare("kyverno", "chart"), "values.yaml"), "utf8"));
        const missing = valuePaths(kyvernoValues()).filter((p) => !hasPath(values, p));
        assert.deepEqual(missing, []);
    });
});
