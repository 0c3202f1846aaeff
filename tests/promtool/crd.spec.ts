/**
 * The rendered PrometheusRule against the Prometheus Operator's own CRD schema (v0.85.0, the CRDs the sandbox
 * installs, from the tool cache: `npm run tools -- build prometheus-operator-crds`). This is the openAPIV3Schema the
 * API server validates a PrometheusRule with, checked by ajv; it is not the API server itself (the sandbox run is).
 */
import { strict as assert } from "assert";
import Ajv from "ajv";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { k8sObjects, runStack } from "../../support/harness";
import { toolsDir } from "../promql/toolPaths";

const OPERATOR_VERSION = "v0.85.0";

function prometheusRuleSchema(): object {
    const file = path.join(toolsDir(), "prometheus-operator-crds", OPERATOR_VERSION, "share", "crds", "monitoring.coreos.com_prometheusrules.yaml");
    if (!fs.existsSync(file)) throw new Error(`${file} is missing. Build it with: \`npm run tools -- build prometheus-operator-crds\``);
    const crd = YAML.parse(fs.readFileSync(file, "utf8"));
    const version = crd.spec.versions.find((v: any) => v.name === "v1");
    return version.schema.openAPIV3Schema;
}

describe("observability: PrometheusRule against the Prometheus Operator CRD schema", () => {
    // The CRD's patterns are Go (RE2) regexps: a leading `(?i)` inline flag becomes JavaScript's `i` flag.
    const goRegExp = (pattern: string, flags: string) => {
        const m = /^(\^?)\(\?i\)(.*)$/.exec(pattern);
        return m ? new RegExp(m[1] + m[2], flags + "i") : new RegExp(pattern, flags);
    };
    const ajv = new Ajv({ strict: false, allErrors: true, code: { regExp: goRegExp as any } });
    let validate: ReturnType<Ajv["compile"]>;
    before(() => {
        validate = ajv.compile(prometheusRuleSchema());
    });

    for (const stack of ["dev", "prod", "local"]) {
        it(`stack ${stack}: the PrometheusRule validates`, async () => {
            const rule = k8sObjects((await runStack(stack)).resources).find((o) => o.kind === "PrometheusRule");
            assert.ok(rule);
            const ok = validate(rule);
            assert.ok(ok, JSON.stringify(validate.errors, null, 2));
        });
    }

    it("the schema rejects what it should (a rule with neither record nor alert is still caught by promtool; a non-string expr here)", () => {
        assert.equal(
            validate({
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: {},
                spec: { groups: [{ name: "g", rules: [{ record: "r", expr: { bad: 1 } }] }] },
            }),
            false,
        );
        assert.equal(
            validate({ apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: {}, spec: { groups: [{ rules: [] }] } }),
            false,
            "a group needs a name",
        );
    });
});
