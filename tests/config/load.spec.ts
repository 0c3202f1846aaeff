import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, defaultEnvironment, parseConfig, ParseContext } from "../../config/load";
import { PROJECT, readFleetConfig } from "../../support/stackFile";
import { REPO_ROOT, runStack, stackFilePath } from "../../support/harness";

interface BadCase {
    name: string;
    base: string;
    set: Record<string, unknown>;
    expect: string[];
}

const BASES: Record<string, string> = {
    dev: stackFilePath("dev"),
    prod: stackFilePath("prod"),
    local: stackFilePath("local"),
    harbor: path.join(__dirname, "..", "fixtures", "stacks", "harbor.yaml"),
};

/** `models[1].autoscaling.minReplicas` → ["models", 1, "autoscaling", "minReplicas"]. */
function parsePath(p: string): Array<string | number> {
    const parts: Array<string | number> = [];
    for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) parts.push(m[2] !== undefined ? Number(m[2]) : m[1]);
    return parts;
}

function setPath(root: Record<string, any>, p: string, value: unknown): void {
    const parts = parsePath(p);
    let cur: any = root;
    for (const part of parts.slice(0, -1)) cur = cur[part];
    const last = parts[parts.length - 1];
    if (value === null) delete cur[last];
    else cur[last] = value;
}

/** A stack file's `model-fleet:*` values, keyed without the namespace, as the loader sees them. */
function rawConfigOf(file: string): { raw: Record<string, any>; region: string; stack: string } {
    const { config: raw, region, stack } = readFleetConfig(file);
    // Secure values arrive decrypted from the CLI; offline they are placeholders.
    const pw = raw.registry?.harbor?.password;
    if (pw && typeof pw === "object") raw.registry.harbor.password = "[secret]";
    const keyRef = raw.supplyChain?.signing?.keyRef;
    if (keyRef && typeof keyRef === "object") raw.supplyChain.signing.keyRef = "[secret]";
    return { raw, region: region as string, stack };
}

function ctx(stack: string, region: string | undefined): ParseContext {
    return { project: PROJECT, stack, region, env: { GIT_SHA: "a1b2c3d" }, git: () => "" };
}

function configErrorOf(fn: () => unknown): ConfigError {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${(e as Error)?.stack ?? e}`);
        return e;
    }
    assert.fail("expected the config to be rejected");
}

describe("config: the stack files", () => {
    for (const stack of ["dev", "prod"]) {
        it(`${stack} validates`, () => {
            const { raw, region } = rawConfigOf(BASES[stack]);
            const cfg = parseConfig(raw, ctx(stack, region));
            assert.equal(cfg.environment, stack === "prod" ? "production" : "development");
            assert.equal(cfg.registry.forceDelete, stack !== "prod");
        });
    }

    it("the harbor fixture validates and keeps the password secret", async () => {
        const { raw: localRaw } = rawConfigOf(BASES.local);
        const local = parseConfig(localRaw, ctx("local", undefined));
        assert.equal(local.cluster.kind, "kubeconfig");
        assert.equal(local.region, "", "a kubeconfig stack needs no aws:region");
        assert.deepEqual(
            local.gpuPools.map((p) => [p.name, p.nodes, p.minSize, p.maxSize, p.mig?.strategy ?? "none"]),
            [
                ["l4", 3, 3, 3, "none"],
                ["a100-mig", 2, 2, 2, "mixed"],
            ],
        );
        assert.ok(local.models.some((m) => m.canary) && local.models.some((m) => m.gpu?.profile));
        const { raw, region } = rawConfigOf(BASES.harbor);
        const cfg = parseConfig(raw, ctx("harbor", region));
        assert.equal(cfg.registry.type, "harbor");
        assert.ok(cfg.registry.harbor);
        assert.equal(await (cfg.registry.harbor!.password as any).isSecret, true);
    });

    it("Harbor cosign content trust: off by default where the stack builds, on where it only deploys promoted digests", () => {
        // The harbor fixture builds: Harbor would refuse to pull its fresh, not yet signed digest.
        const building = parseConfig(rawConfigOf(BASES.harbor).raw, ctx("harbor", "eu-central-1"));
        assert.equal(building.registry.harbor!.requireSignatures, false);
        const { raw } = rawConfigOf(BASES.harbor);
        raw.registry.harbor.requireSignatures = false;
        assert.equal(parseConfig(raw, ctx("harbor", "eu-central-1")).registry.harbor!.requireSignatures, false);
        // local deploys digests only (signed before promotion): Harbor may refuse unsigned ones.
        const local = parseConfig(rawConfigOf(BASES.local).raw, ctx("local", undefined));
        assert.ok(local.models.every((m) => "digest" in m.image));
        assert.equal(local.registry.harbor!.requireSignatures, true);
    });

    it("dev is small and builds; prod promotes digests onto a MIG pool with a canary", () => {
        const dev = parseConfig(rawConfigOf(BASES.dev).raw, ctx("dev", "us-east-1"));
        assert.ok(dev.models.length >= 1 && dev.models.length <= 2);
        assert.ok(dev.models.every((m) => "build" in m.image));
        assert.ok(dev.gpuPools.every((p) => /^g[56]\./.test(p.instanceType) && !p.mig));
        assert.equal(dev.registry.type, "ecr");
        const prod = parseConfig(rawConfigOf(BASES.prod).raw, ctx("prod", "us-west-2"));
        const mig = prod.gpuPools.filter((p) => /^p(4d|4de|5)\./.test(p.instanceType) && p.mig?.strategy === "mixed");
        assert.ok(mig.length >= 1);
        const digests = prod.models.filter((m) => "digest" in m.image);
        assert.ok(digests.length >= 2);
        assert.ok(digests.some((m) => m.gpu?.profile && mig.some((p) => p.name === m.gpu!.pool)));
        assert.ok(prod.models.some((m) => m.canary));
    });

    it("defaults: environment from the stack name, port 8080, CPU target 70, clean tree required", () => {
        assert.equal(defaultEnvironment("prod"), "production");
        assert.equal(defaultEnvironment("production-eu"), "production");
        assert.equal(defaultEnvironment("dev"), "development");
        const { raw } = rawConfigOf(BASES.dev);
        delete raw.environment;
        delete raw.models[1].port;
        delete raw.build;
        delete raw.serving;
        const cfg = parseConfig(raw, ctx("dev", "us-east-1"));
        assert.equal(cfg.environment, "development");
        assert.equal(cfg.models[1].port, 8080);
        assert.equal(cfg.models[1].autoscaling.targetCpuUtilization, 70);
        assert.equal(cfg.build.requireCleanTree, true, "every stack refuses dirty builds unless it opts out (dev does)");
        assert.equal(cfg.build.sourceUrl, "https://github.com/example/model-fleet");
        assert.deepEqual(cfg.serving, {
            namespace: "models",
            ingressNamespace: "ingress-nginx",
            monitoringNamespace: "monitoring",
            prometheusOperator: false,
            autoscaler: "auto",
            serviceMonitorLabels: {},
        });
        assert.deepEqual(cfg.addons, { gpu: true, argoRollouts: true, metricsServer: true, keda: true }, "each add-on installed unless the cluster runs it");
        assert.equal(parseConfig(rawConfigOf(BASES.dev).raw, ctx("dev", "us-east-1")).build.requireCleanTree, false);
        assert.equal(cfg.gpuPools[0].amiType, "AL2023_x86_64_NVIDIA");
        assert.equal(cfg.registry.repositoryPrefix, "model-fleet");
        const canary = parseConfig(rawConfigOf(BASES.prod).raw, ctx("prod", "us-west-2")).models.find((m) => m.canary)!.canary!;
        assert.equal(canary.analysis.maxClientErrorIncrease, 0.05, "4xx compared with stable by default");
        assert.equal(canary.analysis.minFeedbackSamples, 100);
    });

    it("resolves the git sha once, for stacks that build", () => {
        const { raw } = rawConfigOf(BASES.dev);
        const cfg = parseConfig(raw, { ...ctx("dev", "us-east-1"), env: { GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567" } });
        assert.equal(cfg.gitSha, "0123456");
        const noGit = () =>
            parseConfig(raw, {
                ...ctx("dev", "us-east-1"),
                env: {},
                git: () => {
                    throw new Error("not a git repository");
                },
            });
        assert.match(configErrorOf(noGit).message, /GIT_SHA is unset/);
    });

    it("checks only the build contexts for uncommitted changes", () => {
        const { raw } = rawConfigOf(BASES.dev);
        raw.build = { requireCleanTree: true };
        const calls: string[] = [];
        const cfg = parseConfig(raw, {
            ...ctx("dev", "us-east-1"),
            git: (args) => {
                calls.push(args.join(" "));
                return " M images/model-server/app/main.py\n?? images/model-server/scratch.txt\n";
            },
        });
        assert.deepEqual(calls, ["status --porcelain -- images/model-server"], "one context, shared by both models");
        assert.equal(cfg.treeDirty, true);
        assert.deepEqual(cfg.dirtyPaths, ["images/model-server/app/main.py", "images/model-server/scratch.txt"]);
        assert.equal(cfg.dirtyFingerprint, undefined, "refused later by ModelImage; nothing to fingerprint");
    });

    it("fingerprints a permitted dirty build by its changes (diff and untracked blobs in the contexts)", () => {
        const { raw } = rawConfigOf(BASES.dev); // dev: requireCleanTree false
        const gitWith = (diff: string, blob: string) => (args: readonly string[]) => {
            switch (args[0]) {
                case "status":
                    return " M images/model-server/app/main.py\n?? images/model-server/new.txt\n";
                case "ls-files":
                    return "images/model-server/new.txt\n";
                case "hash-object":
                    assert.deepEqual(args, ["hash-object", "--", "images/model-server/new.txt"]);
                    return `${blob}\n`;
                case "diff":
                    assert.deepEqual(args, ["diff", "HEAD", "--binary", "--", "images/model-server"]);
                    return diff;
                default:
                    throw new Error(`unexpected git ${args.join(" ")}`);
            }
        };
        const fp = (diff: string, blob: string) => parseConfig(raw, { ...ctx("dev", "us-east-1"), git: gitWith(diff, blob) }).dirtyFingerprint;
        const a = fp("diff --git a/x b/x\n+1\n", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert.match(a!, /^[0-9a-f]{8}$/);
        assert.equal(fp("diff --git a/x b/x\n+1\n", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"), a, "same changes, same tag");
        assert.notEqual(fp("diff --git a/x b/x\n+2\n", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"), a, "another edit, another tag");
        assert.notEqual(fp("diff --git a/x b/x\n+1\n", "0000000000000000000000000000000000000001"), a, "another untracked file content, another tag");
        const clean = parseConfig(raw, { ...ctx("dev", "us-east-1"), git: () => "" });
        assert.equal(clean.treeDirty, false);
        assert.equal(clean.dirtyFingerprint, undefined);
    });
});

describe("config: bad input is rejected with every offending key path", () => {
    const cases = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "bad-configs.yaml"), "utf8")) as BadCase[];
    for (const c of cases) {
        it(c.name, () => {
            const { raw, region, stack } = rawConfigOf(BASES[c.base]);
            for (const [p, v] of Object.entries(c.set)) setPath(raw, p, v);
            const err = configErrorOf(() => parseConfig(raw, ctx(c.base === "prod" ? "prod" : stack, region)));
            for (const line of c.expect) {
                assert.ok(err.message.includes(line), `expected ${JSON.stringify(line)} in:\n${err.message}`);
            }
            assert.equal(err.stack, err.message, "the error carries no stack trace");
        });
    }

    it("the program raises it before declaring any resource", async () => {
        await assert.rejects(
            runStack("prod", {
                editConfig: (config) => {
                    config["model-fleet:models"][1].autoscaling.minReplicas = 5;
                    config["model-fleet:cluster"].name = "";
                },
            }),
            (e: Error) => {
                assert.ok((e as any).__pulumiRunError, "a RunError prints without a stack trace");
                assert.match(e.message, /models\[1\]\.autoscaling\.minReplicas \(5\) must be ≤ maxReplicas \(4\)/);
                assert.match(e.message, /cluster\.name \(\) must be a non-empty cluster name/);
                return true;
            },
        );
        // Nothing was registered by that run: the next run starts from zero and sees only its own resources.
        const ok = await runStack("dev");
        assert.ok(ok.resources.length > 0);
    });

    it("npm run plan exits non-zero with the config error and no stack trace", function () {
        this.timeout(120_000);
        const file = path.join(REPO_ROOT, "out", "bad-config-test.yaml");
        const doc = YAML.parse(fs.readFileSync(BASES.prod, "utf8"));
        doc.config["model-fleet:models"][0].version = "two";
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, YAML.stringify(doc));
        let status = 0;
        let stderr = "";
        try {
            execFileSync(
                process.execPath,
                [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(REPO_ROOT, "scripts", "plan.ts"), "--config", file],
                {
                    cwd: REPO_ROOT,
                    stdio: ["ignore", "pipe", "pipe"],
                    encoding: "utf8",
                },
            );
        } catch (e: any) {
            status = e.status;
            stderr = String(e.stderr);
        }
        assert.equal(status, 1);
        assert.match(stderr, /models\[0\]\.version \(two\) must be a semantic version/);
        assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
    });
});
