/**
 * The policy config file (support/policy/config.ts), validated as the Pulumi CLI validates `--policy-pack-config`
 * (pulumi/pulumi `pkg/resource/analyzer/config.go`: `parsePolicyPackConfig`, `extractEnforcementLevel`,
 * `applyConfig`'s `all`), plus one stricter rule: an entry must name a policy of the pack.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALL_POLICIES, ENFORCEMENT_LEVELS, packConfigIssues, parsePackConfig, PolicyConfigError, readPackConfig } from "../../../support/policy/config";
import { effectiveLevel } from "../../../support/policy/evaluate";
import { policies } from "../../../policy/policies";
import { REPO_ROOT } from "../../../support/stackFile";

const NAMES = policies.map((p) => p.name);
const LEVELS = "(valid: advisory, mandatory, remediate, disabled)";

describe("policy config (support/policy/config.ts)", () => {
    it("knows exactly the enforcement levels @pulumi/policy declares", () => {
        const dts = fs.readFileSync(path.join(REPO_ROOT, "node_modules", "@pulumi", "policy", "policy.d.ts"), "utf8");
        const union = /export declare type EnforcementLevel = ([^;]+);/.exec(dts)?.[1];
        assert.ok(union, "EnforcementLevel in @pulumi/policy/policy.d.ts");
        assert.deepStrictEqual([...ENFORCEMENT_LEVELS].sort(), [...union.matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort());
    });

    it("accepts levels, objects with an optional level and the policy's own config, `all`, and the shipped files", () => {
        assert.deepStrictEqual(
            packConfigIssues(
                {
                    "pod-probes": "remediate",
                    "hpa-production-min-replicas": { enforcementLevel: "advisory", environment: "production" },
                    "image-digest-pinned": {},
                    [ALL_POLICIES]: "mandatory",
                },
                NAMES,
            ),
            [],
        );
        for (const f of ["policy/production.json", "policy/development.json"]) assert.ok(readPackConfig(path.join(REPO_ROOT, f), NAMES), f);
    });

    it("lists every bad entry: unknown levels (string or enforcementLevel), wrong types, unknown policy names", () => {
        assert.deepStrictEqual(
            packConfigIssues(
                {
                    "pod-probes": "strict",
                    "hpa-production-min-replicas": { enforcementLevel: "warn", environment: "production" },
                    "pod-resources": { enforcementLevel: 1 },
                    "image-digest-pinned": 3,
                    "image-digest-pined": "disabled",
                },
                NAMES,
            ),
            [
                `pod-probes: "strict" is not an enforcement level ${LEVELS}`,
                `hpa-production-min-replicas: enforcementLevel: "warn" is not an enforcement level ${LEVELS}`,
                `pod-resources: enforcementLevel: 1 is not an enforcement level ${LEVELS}`,
                "image-digest-pinned: expected an enforcement level (advisory, mandatory, remediate, disabled) or an object, got 3",
                "image-digest-pined: not a policy of the pack (docs/design/policy-pack.md lists them)",
            ],
        );
        assert.deepStrictEqual(packConfigIssues(["pod-probes"], NAMES), [
            'expected a JSON object (policy name → level, or { "enforcementLevel": level, ...config }), got ["pod-probes"]',
        ]);
    });

    it("throws one line that names the file and what to do: missing, not JSON, invalid; empty content is no config", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "policy-config-"));
        try {
            const missing = path.join(tmp, "missing.json");
            assert.throws(
                () => readPackConfig(missing, NAMES),
                (e: Error) => e instanceof PolicyConfigError && e.message.startsWith(`policy config ${missing} does not exist: check the --policy-config path`),
            );
            assert.throws(
                () => parsePackConfig('{"pod-probes":', path.join(tmp, "broken.json"), NAMES),
                (e: Error) =>
                    e instanceof PolicyConfigError &&
                    new RegExp(`^policy config ${path.join(tmp, "broken.json")} is not valid JSON \\(.+\\); fix the file's syntax$`).test(e.message),
            );
            assert.throws(
                () => parsePackConfig('{"pod-probes":"strict","pod-resources":"warn"}', path.join(tmp, "levels.json"), NAMES),
                (e: Error) =>
                    e instanceof PolicyConfigError &&
                    !e.message.includes("\n") &&
                    e.message ===
                        `policy config ${path.join(tmp, "levels.json")} is invalid: pod-probes: "strict" is not an enforcement level ${LEVELS}; ` +
                            `pod-resources: "warn" is not an enforcement level ${LEVELS}; fix these entries`,
            );
            assert.deepStrictEqual(parsePackConfig("  \n", "empty.json", NAMES), {});
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("`all` sets every policy's level; a policy's own entry wins over it (the CLI's applyConfig order)", () => {
        const probes = policies.find((p) => p.name === "pod-probes")!;
        const topology = policies.find((p) => p.name === "pod-topology-spread")!;
        assert.strictEqual(effectiveLevel(topology, {}), "advisory");
        assert.strictEqual(effectiveLevel(topology, { all: "mandatory" }), "mandatory");
        assert.strictEqual(effectiveLevel(probes, { all: "disabled" }), "disabled");
        assert.strictEqual(effectiveLevel(probes, { all: "disabled", "pod-probes": { enforcementLevel: "advisory" } }), "advisory");
        assert.strictEqual(effectiveLevel(probes, { all: "advisory", "pod-probes": { environment: "x" } }), "advisory", "an entry without a level keeps all's");
    });
});
