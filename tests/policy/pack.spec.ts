/**
 * The pack as the Pulumi CLI runs it. `pulumi preview --policy-pack policy` starts
 * `@pulumi/pulumi/cmd/run-policy-pack` with the pack directory as its working directory (the CLI's
 * `pulumi-analyzer-policy` shim does exactly that); the pack compiles policy/index.ts with ts-node, constructs the
 * `PolicyPack`, prints its gRPC port and serves the Analyzer service. This spec does the same, then talks to it
 * over gRPC like the engine: GetAnalyzerInfo, ConfigureStack (stack tags), Analyze and AnalyzeStack. It checks
 * that the served pack reports exactly what the offline evaluator (`npm run policy`) reports.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { evaluate, PlannedResource } from "../../support/policy/evaluate";
import { policies } from "../../policy/policies";
import { ROLLOUT, deployment, edit, podSpec, rollout, DEPLOYMENT, REPO } from "../fixtures/policy/workloads";
import { hpa, HPA } from "../fixtures/policy/hpa";
import { repository, REPOSITORY } from "../fixtures/policy/ecr";

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const PACK_DIR = path.join(REPO_ROOT, "policy");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
// The protobuf classes must come from the copies @pulumi/pulumi (and so the pack's server) uses.
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const rpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const structpb = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [pulumiDir] }));
const emptypb = require(require.resolve("google-protobuf/google/protobuf/empty_pb", { paths: [pulumiDir] }));

const LEVELS: Record<number, string> = {
    [pb.EnforcementLevel.ADVISORY]: "advisory",
    [pb.EnforcementLevel.MANDATORY]: "mandatory",
    [pb.EnforcementLevel.DISABLED]: "disabled",
    [pb.EnforcementLevel.REMEDIATE]: "remediate",
};

/** The server sends a violation as `<policy description>\n<message>` (makeReportViolationFun in @pulumi/policy). */
function served(v: { description: string; message: string }): string {
    return `${v.description}\n${v.message}`;
}

function call<T>(client: any, method: string, req: unknown): Promise<T> {
    return new Promise((resolve, reject) => client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}

function options(): any {
    const o = new pb.AnalyzerResourceOptions();
    o.setCustomtimeouts(new pb.AnalyzerResourceOptions.CustomTimeouts());
    return o;
}

function analyzeRequest(r: PlannedResource, urn: string): any {
    const req = new pb.AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(urn);
    req.setProperties(structpb.Struct.fromJavaScript(r.inputs));
    req.setOptions(options());
    return req;
}

interface Diagnostic {
    policyName: string;
    message: string;
    enforcementLevel: string;
    urn: string;
}

function diagnostics(res: any): Diagnostic[] {
    return res.getDiagnosticsList().map((d: any) => ({
        policyName: d.getPolicyname(),
        message: d.getMessage(),
        enforcementLevel: LEVELS[d.getEnforcementlevel()],
        urn: d.getUrn(),
    }));
}

describe("policy pack served as the Pulumi CLI runs it (policy/index.ts over gRPC)", function () {
    this.timeout(180000);
    let child: ChildProcess | undefined;
    let client: any;
    let stderr = "";

    before(async () => {
        child = spawn(process.execPath, [path.join(pulumiDir, "cmd", "run-policy-pack"), "127.0.0.1:1", "."], {
            cwd: PACK_DIR,
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stderr!.on("data", (d) => (stderr += d));
        const port = await new Promise<string>((resolve, reject) => {
            let out = "";
            child!.stdout!.on("data", (d) => {
                out += d;
                const m = /^(\d+)\s*\n/.exec(out);
                if (m) resolve(m[1]);
            });
            child!.on("exit", (code) => reject(new Error(`policy pack exited with ${code} before serving:\n${out}\n${stderr}`)));
        });
        client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        if (child && child.exitCode === null) child.kill();
    });

    it("announces the pack and every policy with its enforcement level and description", async () => {
        const info: any = await call(client, "getAnalyzerInfo", new emptypb.Empty());
        assert.strictEqual(info.getName(), "model-fleet");
        assert.strictEqual(info.getVersion(), "0.1.0", "from policy/package.json");
        assert.strictEqual(info.getSupportsconfig(), true);
        const served = info.getPoliciesList().map((p: any) => [p.getName(), LEVELS[p.getEnforcementlevel()], p.getDescription()]);
        assert.deepStrictEqual(
            served,
            policies.map((p) => [p.name, p.enforcementLevel, p.description]),
        );
    });

    it("reports for a resource exactly what the offline evaluator reports", async () => {
        const bad: PlannedResource = {
            type: DEPLOYMENT,
            name: "sentiment",
            inputs: deployment(
                edit(podSpec(), (s) => {
                    s.containers[0].image = `${REPO}:latest`;
                    delete s.containers[0].readinessProbe;
                    s.containers[0].securityContext.privileged = true;
                    delete s.topologySpreadConstraints;
                }),
            ),
        };
        const urn = "urn:pulumi:dev::model-fleet::kubernetes:apps/v1:Deployment::sentiment";
        const got = diagnostics(await call(client, "analyze", analyzeRequest(bad, urn)));
        const offline = await evaluate(
            policies.filter((p) => "validateResource" in p),
            [{ ...bad, urn }],
        );
        // Analyze diagnostics carry no URN: the engine attaches the resource being analysed.
        const expected = offline.violations.map((v) => ({ policyName: v.policyName, message: served(v), enforcementLevel: v.enforcementLevel, urn: "" }));
        assert.deepStrictEqual(got, expected);
        assert.deepStrictEqual(
            got.map((d) => d.policyName),
            ["image-digest-pinned", "pod-probes", "container-not-privileged", "pod-topology-spread"],
        );
    });

    it("matches an Argo Rollout custom resource by its type token", async () => {
        const r: PlannedResource = { type: ROLLOUT, name: "sentiment", inputs: rollout(podSpec(), [{ setWeight: 50 }]) };
        const got = diagnostics(
            await call(client, "analyze", analyzeRequest(r, "urn:pulumi:prod::model-fleet::kubernetes:argoproj.io/v1alpha1:Rollout::sentiment")),
        );
        assert.deepStrictEqual(
            got.map((d) => d.policyName),
            ["rollout-canary-analysis"],
        );
    });

    it("uses the stack tags the CLI sends (ConfigureStack) to detect production", async () => {
        const r: PlannedResource = { type: HPA, name: "sentiment", inputs: hpa(1, 3) };
        const urn = "urn:pulumi:prod::model-fleet::kubernetes:autoscaling/v2:HorizontalPodAutoscaler::sentiment";
        assert.deepStrictEqual(diagnostics(await call(client, "analyze", analyzeRequest(r, urn))), []);

        const configure = new pb.AnalyzerStackConfigureRequest();
        configure.setStack("prod");
        configure.setProject("model-fleet");
        configure.getTagsMap().set("environment", "production");
        await call(client, "configureStack", configure);

        const got = diagnostics(await call(client, "analyze", analyzeRequest(r, urn)));
        const offline = await evaluate(policies, [{ ...r, urn }], { stackTags: { environment: "production" } });
        // Analyze runs resource policies only; the offline evaluation also runs the stack ones (production-admission-policy).
        const resourceLevel = offline.violations.filter((v) => v.urn !== undefined && v.urn !== "");
        assert.deepStrictEqual(
            got.map((d) => d.message),
            resourceLevel.map(served),
        );
        assert.deepStrictEqual(
            got.map((d) => d.policyName),
            ["hpa-production-min-replicas"],
        );
    });

    it("runs stack policies on AnalyzeStack and names the resource in violation", async () => {
        const repoUrn = "urn:pulumi:prod::model-fleet::aws:ecr/repository:Repository::summarizer";
        const req = new pb.AnalyzeStackRequest();
        const res = new pb.AnalyzerResource();
        res.setType(REPOSITORY);
        res.setName("summarizer");
        res.setUrn(repoUrn);
        res.setProperties(structpb.Struct.fromJavaScript(repository("model-fleet/summarizer")));
        res.setOptions(options());
        req.setResourcesList([res]);
        // The previous case told the server the stack is production, so the stack-wide admission policy also reports.
        const got = diagnostics(await call(client, "analyzeStack", req)).filter((d) => d.policyName === "ecr-lifecycle-policy");
        const offline = await evaluate(policies, [{ type: REPOSITORY, name: "summarizer", urn: repoUrn, inputs: repository("model-fleet/summarizer") }]);
        assert.deepStrictEqual(
            got,
            offline.violations
                .filter((v) => v.policyName === "ecr-lifecycle-policy")
                .map((v) => ({ policyName: v.policyName, message: served(v), enforcementLevel: v.enforcementLevel, urn: repoUrn })),
        );
        assert.strictEqual(got.length, 1);
    });

    it("keeps checking a preview's resource whose image and namespace are not known yet", async () => {
        // A dev preview: the image digest comes from a build that has not run, and the namespace from a resource
        // being created. @pulumi/policy throws when a policy reads an unknown value and reports that policy as
        // "can't run during preview" (advisory); every policy that does not read them must still run and pass.
        const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
        const preview: PlannedResource = {
            type: DEPLOYMENT,
            name: "sentiment",
            inputs: edit(deployment(edit(podSpec(), (s) => (s.containers[0].image = UNKNOWN_STRING))), (d) => (d.metadata.namespace = UNKNOWN_STRING)),
        };
        const got = diagnostics(
            await call(client, "analyze", analyzeRequest(preview, "urn:pulumi:dev::model-fleet::kubernetes:apps/v1:Deployment::sentiment")),
        );
        assert.deepStrictEqual(
            got.map((d) => [d.policyName, d.enforcementLevel]),
            [["image-digest-pinned", "advisory"]],
        );
        assert.match(
            got[0].message,
            /^can't run policy 'image-digest-pinned' from policy pack 'model-fleet@v0\.1\.0' during preview: string value at \.spec\.template\.spec\.containers\.0\.image can't be known during preview/,
        );
    });

    it("applies policy config the CLI sends (Configure, from --policy-pack-config) like the offline evaluator", async () => {
        const pc = (level: number, props: Record<string, unknown> = {}) => {
            const c = new pb.PolicyConfig();
            c.setEnforcementlevel(level);
            c.setProperties(structpb.Struct.fromJavaScript(props));
            return c;
        };
        const configure = new pb.ConfigureAnalyzerRequest();
        configure.getPolicyconfigMap().set("pod-probes", pc(pb.EnforcementLevel.DISABLED));
        configure.getPolicyconfigMap().set("image-digest-pinned", pc(pb.EnforcementLevel.ADVISORY));
        await call(client, "configure", configure);

        const bad: PlannedResource = {
            type: DEPLOYMENT,
            name: "sentiment",
            inputs: deployment(
                edit(podSpec(), (s) => {
                    s.containers[0].image = `${REPO}:v1`;
                    delete s.containers[0].readinessProbe;
                }),
            ),
        };
        const got = diagnostics(await call(client, "analyze", analyzeRequest(bad, "urn:pulumi:dev::model-fleet::kubernetes:apps/v1:Deployment::sentiment")));
        const offline = await evaluate(
            policies.filter((p) => "validateResource" in p),
            [bad],
            { config: { "pod-probes": "disabled", "image-digest-pinned": "advisory" } },
        );
        assert.deepStrictEqual(
            got.map((d) => [d.policyName, d.enforcementLevel, d.message]),
            offline.violations.map((v) => [v.policyName, v.enforcementLevel, served(v)]),
        );
        assert.deepStrictEqual(
            got.map((d) => [d.policyName, d.enforcementLevel]),
            [["image-digest-pinned", "advisory"]],
        );
    });
});
