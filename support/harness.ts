/**
 * The one mock harness: tests, `npm run plan`, `npm run policy` and the benchmark all run the program through it.
 *
 * It sets Pulumi's mock runtime, loads a stack's config the way the Pulumi CLI would hand it to the program,
 * imports `index.ts` fresh, waits for every registration and returns what was declared. Invokes the program is not
 * expected to make fail loudly, so a new data-source call cannot slip into the program unmocked.
 */
import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { fleetConfigOf, PROJECT, readStackDocument, REPO_ROOT, stackFilePath, stackNameOf } from "./stackFile";

export { PROJECT, REPO_ROOT, stackFilePath, stackNameOf };
export const ACCOUNT_ID = "123456789012";
export const SECRET_PLACEHOLDER = "[secret]";

export interface MockResource {
    type: string;
    name: string;
    urn: string;
    id: string;
    inputs: Record<string, any>;
    state: Record<string, any>;
    provider?: string;
    /** The `urn` (this harness's form) of the resource's parent; undefined for a top-level resource. */
    parent?: string;
}

export interface StackFile {
    /** Config as the CLI passes it: full key (`model-fleet:models`) → string (objects JSON-encoded). */
    config: Record<string, string>;
    /** Keys whose value is (or contains) a `secure:` value. */
    secretKeys: string[];
}

function maskSecrets(value: unknown): { value: unknown; secret: boolean } {
    if (Array.isArray(value)) {
        let secret = false;
        const out = value.map((v) => {
            const r = maskSecrets(v);
            secret = secret || r.secret;
            return r.value;
        });
        return { value: out, secret };
    }
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (Object.keys(obj).length === 1 && typeof obj.secure === "string") {
            return { value: SECRET_PLACEHOLDER, secret: true };
        }
        let secret = false;
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(obj)) {
            const r = maskSecrets(v);
            secret = secret || r.secret;
            out[k] = r.value;
        }
        return { value: out, secret };
    }
    return { value, secret: false };
}

/**
 * Converts a stack file's `config:` map into what the CLI hands the program. Secure values become
 * `[secret]` (there is no passphrase offline) and their keys are marked secret.
 */
export function configFromObject(raw: Record<string, unknown>): StackFile {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, rawValue] of Object.entries(raw ?? {})) {
        const fullKey = key.includes(":") ? key : `${PROJECT}:${key}`;
        const { value, secret } = maskSecrets(rawValue);
        config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
        if (secret) {
            secretKeys.push(fullKey);
        }
    }
    return { config, secretKeys };
}

/** Deterministic fake digest so plans are stable across runs. */
export function fakeDigest(...parts: unknown[]): string {
    return "sha256:" + crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/**
 * Performance (measured by `npm run bench`): the Pulumi runtime wraps every promise it creates in
 * `debuggablePromise`, which records `new Error().stack` for its promise-leak report (~25 per resource, one per
 * output property), and ts-node's source-map-support maps every frame of every one of those stacks. Under the
 * mocks that was about two thirds of a plan's time. The harness records those stacks empty (the leak detection
 * itself is unchanged) unless PULUMI_DEBUG_PROMISE_LEAKS is set, when Pulumi prints them.
 */
function withoutPromiseStacks(): void {
    const debuggable = require("@pulumi/pulumi/runtime/debuggable");
    const original = debuggable.debuggablePromise;
    if (debuggable.debugPromiseLeaks || typeof original !== "function" || original.withoutStacks) return;
    const patched = function (this: unknown, ...args: unknown[]) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
            return original.apply(this, args);
        } finally {
            Error.stackTraceLimit = limit;
        }
    };
    patched.withoutStacks = true;
    debuggable.debuggablePromise = patched;
}
withoutPromiseStacks();

/**
 * Performance: `runStack` imports the program fresh on every run (its modules read the config when loaded), and
 * ts-node would transpile every program file again each time. Its output is cached here per file and source text,
 * so an edited file is still transpiled anew.
 */
function cacheTranspiledModules(): void {
    const service = (process as any)[Symbol.for("ts-node.register.instance")];
    if (!service || typeof service.compile !== "function" || service.compile.cached) return;
    const original = service.compile.bind(service);
    const cache = new Map<string, { code: string; output: string }>();
    const compile = (code: string, fileName: string, lineOffset?: number): string => {
        const hit = cache.get(fileName);
        if (hit && hit.code === code && !lineOffset) return hit.output;
        const output: string = original(code, fileName, lineOffset);
        if (!lineOffset) cache.set(fileName, { code, output });
        return output;
    };
    compile.cached = true;
    service.compile = compile;
}
cacheTranspiledModules();

/** An invoke error as the runtime expects it: it reports gRPC's `details`, not `message`. */
class InvokeError extends Error {
    public readonly details: string;
    constructor(message: string) {
        super(message);
        this.details = message;
    }
}

/** The marker the Pulumi runtime wraps secret values in when it serialises inputs. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function mapSecrets(value: unknown, onSecret: (inner: unknown) => unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => mapSecrets(v, onSecret));
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (obj[SECRET_SIG] === SECRET_VALUE) return onSecret(mapSecrets(obj.value, onSecret));
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, mapSecrets(v, onSecret)]));
    }
    return value;
}

/** Inputs with secret values unwrapped, as the provider sees them. */
export function revealSecrets<T>(value: T): T {
    return mapSecrets(value, (inner) => inner) as T;
}

/** Inputs with every secret value replaced by `[secret]`, as a plan shows them. */
export function maskSecretValues<T>(value: T): T {
    return mapSecrets(value, () => SECRET_PLACEHOLDER) as T;
}

/** The mocks: realistic state for the resources and invokes this program uses. */
export class FleetMocks implements pulumi.runtime.Mocks {
    public readonly resources: MockResource[] = [];

    /**
     * @param region the stack's `aws:region`
     * @param registryImages what the registry holds: `<repository path>:<tag>` (e.g. `model-fleet/sentiment:v2.1.4-5e2c9a1`)
     *   → digest, answered by `getRegistryImage`
     */
    constructor(
        private readonly region: string,
        private readonly registryImages: Record<string, string> = {},
    ) {}

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        const inputs = args.inputs ?? {};
        const id = `${args.name}-id`;
        const state: Record<string, any> = { ...inputs };
        switch (args.type) {
            case "aws:ecr/repository:Repository":
                state.repositoryUrl = `${ACCOUNT_ID}.dkr.ecr.${this.region}.amazonaws.com/${inputs.name}`;
                state.arn = `arn:aws:ecr:${this.region}:${ACCOUNT_ID}:repository/${inputs.name}`;
                state.registryId = ACCOUNT_ID;
                break;
            case "aws:kms/key:Key":
                state.arn = `arn:aws:kms:${this.region}:${ACCOUNT_ID}:key/${args.name}`;
                state.keyId = args.name;
                break;
            case "aws:iam/role:Role":
                state.arn = `arn:aws:iam::${ACCOUNT_ID}:role/${inputs.name ?? args.name}`;
                break;
            case "aws:eks/nodeGroup:NodeGroup":
                state.arn = `arn:aws:eks:${this.region}:${ACCOUNT_ID}:nodegroup/${inputs.clusterName}/${inputs.nodeGroupName ?? args.name}`;
                // EKS reports the Auto Scaling group behind a managed node group (its name embeds the group's id).
                state.resources = [{ autoscalingGroups: [{ name: `eks-${inputs.nodeGroupName ?? args.name}-mock` }], remoteAccessSecurityGroupId: "" }];
                break;
            case "random:index/randomId:RandomId": {
                const bytes = Number(inputs.byteLength ?? 4);
                const hex = crypto
                    .createHash("sha256")
                    .update(JSON.stringify([args.name, inputs.keepers ?? {}]))
                    .digest("hex");
                state.hex = hex.slice(0, bytes * 2);
                state.b64Url = Buffer.from(state.hex, "hex").toString("base64url");
                break;
            }
            // The prediction-id key (components/serving/predictionIdKey.ts): a stable stand-in, base64url of `bytes` bytes.
            case "pulumi-nodejs:dynamic/serving:PredictionIdKey":
                state.key = crypto
                    .createHash("sha512")
                    .update(args.name)
                    .digest()
                    .subarray(0, Number(inputs.bytes ?? 48))
                    .toString("base64url");
                break;
            case "docker-build:index:Image":
                state.digest = fakeDigest(args.name, inputs.buildArgs ?? {}, inputs.context ?? {}, inputs.tags ?? []);
                state.ref = `${(inputs.tags ?? [""])[0].split(":")[0]}@${state.digest}`;
                break;
            // Harbor dynamic resources (components/registry/harbor): the ids Harbor would assign.
            case "pulumi-nodejs:dynamic/harbor:Project":
                state.projectId = 42;
                break;
            case "pulumi-nodejs:dynamic/harbor:RobotAccount":
                state.robotId = 7;
                state.fullName = `robot$${inputs.projectName}+${inputs.name}`;
                state.secret = "mock-robot-secret";
                break;
            default:
                break;
        }
        if (args.type.startsWith("kubernetes:") && inputs.metadata && !args.type.includes("helm.sh")) {
            // Kubernetes names default to the Pulumi name plus a random suffix; the program always sets explicit names.
            state.metadata = { ...inputs.metadata, name: inputs.metadata.name ?? `${args.name}-mock` };
        }
        this.resources.push({
            type: args.type,
            name: args.name,
            urn: `urn:pulumi:${pulumi.getStack()}::${PROJECT}::${args.type}::${args.name}`,
            id,
            inputs,
            state,
            provider: args.provider,
        });
        return { id, state };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        const inputs = args.inputs ?? {};
        switch (args.token) {
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return { accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/ci`, userId: "AIDAMOCK", id: ACCOUNT_ID };
            case "aws:index/getRegion:getRegion":
                return { name: this.region, region: this.region, id: this.region, endpoint: `ec2.${this.region}.amazonaws.com`, description: this.region };
            case "aws:eks/getCluster:getCluster":
                return {
                    name: inputs.name,
                    id: inputs.name,
                    arn: `arn:aws:eks:${this.region}:${ACCOUNT_ID}:cluster/${inputs.name}`,
                    endpoint: `https://${inputs.name}.gr7.${this.region}.eks.amazonaws.com`,
                    certificateAuthorities: [{ data: Buffer.from("mock-ca").toString("base64") }],
                    // The shipped EKS stacks state 1.35 (cluster.version, checked against this by EksCluster).
                    version: "1.35",
                    vpcConfig: { vpcId: "vpc-0mock", subnetIds: ["subnet-public-a", "subnet-private-a", "subnet-private-b"] },
                    roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/eks-cluster`,
                    status: "ACTIVE",
                };
            case "aws:ec2/getSubnets:getSubnets":
                return { id: this.region, ids: ["subnet-private-a", "subnet-private-b", "subnet-private-c"], filters: inputs.filters };
            case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
                return {
                    id: this.region,
                    authorizationToken: Buffer.from("AWS:mock-token").toString("base64"),
                    userName: "AWS",
                    password: "mock-token",
                    proxyEndpoint: `https://${ACCOUNT_ID}.dkr.ecr.${this.region}.amazonaws.com`,
                    expiresAt: "2099-01-01T00:00:00Z",
                };
            case "aws:kms/getPublicKey:getPublicKey": {
                // KMS GetPublicKey of an ECC_NIST_P256 key: a P-256 public key derived from the key id (deterministic).
                const keyId = String(inputs.keyId);
                const region = String(inputs.region ?? keyId.split(":")[3] ?? this.region);
                const publicKeyPem = mockP256PublicKeyPem(keyId);
                return {
                    id: keyId,
                    keyId,
                    arn: keyId,
                    region,
                    customerMasterKeySpec: "ECC_NIST_P256",
                    keySpec: "ECC_NIST_P256",
                    keyUsage: "SIGN_VERIFY",
                    publicKey: publicKeyPem
                        .split("\n")
                        .filter((l) => l && !l.startsWith("-----"))
                        .join(""),
                    publicKeyPem,
                    signingAlgorithms: ["ECDSA_SHA_256"],
                    encryptionAlgorithms: [],
                };
            }
            case "docker:index/getRegistryImage:getRegistryImage": {
                const name = String(inputs.name);
                const key = Object.keys(this.registryImages).find((k) => name.endsWith(`/${k}`));
                if (!key) {
                    throw new InvokeError(`docker registry: manifest unknown: ${name}`);
                }
                return { id: name, name, sha256Digest: this.registryImages[key] };
            }
            default:
                throw new InvokeError(`unexpected invoke ${args.token} (${JSON.stringify(inputs)}): mock it in support/harness.ts`);
        }
    }
}

/** A P-256 public key (SPKI PEM) whose private scalar is sha256(seed): what the KMS mock answers for a key. */
export function mockP256PublicKeyPem(seed: string): string {
    const ecdh = crypto.createECDH("prime256v1");
    ecdh.setPrivateKey(crypto.createHash("sha256").update(seed).digest());
    const spki = Buffer.concat([Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"), ecdh.getPublicKey()]);
    return crypto.createPublicKey({ key: spki, format: "der", type: "spki" }).export({ type: "spki", format: "pem" }).toString();
}

/** Resolves an Input/Output (deeply) to its value, as the engine would after `pulumi up`. */
export async function unwrap<T>(value: pulumi.Input<T> | T): Promise<T> {
    const out = pulumi.output(value) as pulumi.Output<any>;
    return (await (out as any).promise()) as T;
}

function clearProgramModules(): void {
    for (const id of Object.keys(require.cache)) {
        if (id.startsWith(REPO_ROOT) && !id.includes(`${path.sep}node_modules${path.sep}`) && !id.startsWith(__filename.replace(/\.ts$/, ""))) {
            delete require.cache[id];
        }
    }
}

async function settle(): Promise<void> {
    // Wait until the runtime's RPC queue (registrations, invokes, outputs) has drained.
    const settings = require("@pulumi/pulumi/runtime/settings");
    await settings.waitForRPCs();
}

export interface RunOptions {
    /** Stack name (default: "test"). */
    stack?: string;
    /** Config keys (short or full) → values; objects are JSON-encoded as the CLI does. */
    config?: Record<string, unknown>;
    /** Keys to treat as secret. */
    secretKeys?: string[];
    /** `aws:region` default when config has none. */
    region?: string;
    /** Preview (dry run) instead of update (default false: outputs resolve as after `pulumi up`). */
    preview?: boolean;
    /** Registry contents for `getRegistryImage`: `<repository path>:<tag>` → digest. Default: empty. */
    registryImages?: Record<string, string>;
}

/**
 * Pulumi's mocks do not pass a resource's parent to `newResource`: wrap the mock monitor's `registerResource` and
 * record, for each registration, its parent (the request's parent URN, mapped to this harness's `urn`).
 */
function recordParents(mocks: FleetMocks): void {
    const monitor = pulumi.runtime.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    const byMonitorUrn = new Map<string, MockResource>();
    monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) =>
        register(req, (err: unknown, resp: any) => {
            if (!err && resp) {
                const self = [...mocks.resources].reverse().find((r) => r.type === req.getType() && r.name === req.getName());
                if (self) {
                    byMonitorUrn.set(resp.getUrn(), self);
                    const parent = req.getParent() ? byMonitorUrn.get(req.getParent()) : undefined;
                    if (parent) self.parent = parent.urn;
                }
            }
            callback(err, resp);
        });
}

let running: Promise<unknown> = Promise.resolve();

/** Runs `program` under the mocks. Runs are serialised: the Pulumi runtime is process-global. */
export function runProgram<T>(program: () => T, opts: RunOptions = {}): Promise<{ resources: MockResource[]; result: Awaited<T> }> {
    const next = running.then(() => runProgramNow(program, opts));
    running = next.catch(() => undefined);
    return next;
}

async function runProgramNow<T>(program: () => T, opts: RunOptions): Promise<{ resources: MockResource[]; result: Awaited<T> }> {
    const { config, secretKeys } = configFromObject(opts.config ?? {});
    const region = config["aws:region"] ?? opts.region ?? "us-east-1";
    config["aws:region"] = region;
    const mocks = new FleetMocks(region, opts.registryImages);
    pulumi.runtime.setAllConfig(config, [...secretKeys, ...(opts.secretKeys ?? [])]);
    await pulumi.runtime.setMocks(mocks, PROJECT, opts.stack ?? "test", opts.preview ?? false);
    recordParents(mocks);
    // An error thrown inside an `apply` that feeds a resource input fails that registration. The real engine
    // fails the update; under the mocks it would only surface as an unhandled rejection, and the resource would
    // silently be missing. Collect them and fail the run instead.
    const failures: unknown[] = [];
    const onRejection = (reason: unknown) => failures.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
        const result = await program();
        await settle();
        await new Promise((resolve) => setImmediate(resolve));
        if (failures.length > 0) {
            const messages = [...new Set(failures.map((f) => (f instanceof Error ? f.message : String(f))))];
            const error = new Error(`the program failed while declaring resources:\n${messages.map((m) => `  - ${m}`).join("\n")}`);
            (error as any).failures = failures;
            throw error;
        }
        return { resources: mocks.resources, result: result as Awaited<T> };
    } finally {
        process.off("unhandledRejection", onRejection);
    }
}

export interface StackRun {
    stack: string;
    resources: MockResource[];
    /** The stack outputs (index.ts exports), resolved. */
    outputs: Record<string, any>;
    /** Warnings the program logged with pulumi.log.warn. */
    warnings: string[];
}

export interface StackOptions {
    /** A config file instead of Pulumi.<stack>.yaml. */
    configFile?: string;
    /** Edits the parsed stack file's `config:` map before the run (for bad-config fixtures). */
    editConfig?: (config: Record<string, any>) => void;
    /** Environment for the program (GIT_SHA etc.); restored afterwards. */
    env?: Record<string, string | undefined>;
    /**
     * Registry contents. Default: every promoted model's `<prefix>/<model>:<tag>` holds its configured digest, as
     * after dev's build replicated into this stack's registry.
     */
    registryImages?: Record<string, string>;
}

/** The registry contents a stack's promoted models imply: `<prefix>/<model>:<tag>` → digest. */
export function promotedRegistryImages(config: Record<string, any>): Record<string, string> {
    const fleet = fleetConfigOf({ config });
    const prefix = fleet.registry?.repositoryPrefix ?? "model-fleet";
    const out: Record<string, string> = {};
    for (const m of fleet.models ?? []) {
        if (m?.image?.digest && m.image.tag) out[`${prefix}/${m.name}:${m.image.tag}`] = m.image.digest;
    }
    return out;
}

/** Runs the real program (index.ts) for a stack and returns what it declared and exported. */
export async function runStack(stack: string, opts: StackOptions = {}): Promise<StackRun> {
    const rawConfig: Record<string, any> = readStackDocument(opts.configFile ?? stack).config;
    opts.editConfig?.(rawConfig);
    const { config, secretKeys } = configFromObject(rawConfig);
    const env = opts.env ?? { GIT_SHA: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" };
    const warnings: string[] = [];
    const { resources, result } = await runProgram(
        async () => {
            const saved: Record<string, string | undefined> = {};
            for (const [k, v] of Object.entries(env)) {
                saved[k] = process.env[k];
                if (v === undefined) delete process.env[k];
                else process.env[k] = v;
            }
            const origWarn = pulumi.log.warn;
            (pulumi.log as any).warn = (msg: string) => {
                warnings.push(msg);
                return Promise.resolve();
            };
            try {
                clearProgramModules();
                const program = require(path.join(REPO_ROOT, "index.ts"));
                const outputs: Record<string, any> = {};
                for (const [k, v] of Object.entries(program)) {
                    outputs[k] = await unwrap(v as any);
                }
                return outputs;
            } finally {
                (pulumi.log as any).warn = origWarn;
                for (const [k, v] of Object.entries(saved)) {
                    if (v === undefined) delete process.env[k];
                    else process.env[k] = v;
                }
            }
        },
        {
            stack: stackNameOf(opts.configFile ?? stack),
            config: Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v])),
            secretKeys,
            registryImages: opts.registryImages ?? promotedRegistryImages(rawConfig),
        },
    );
    return { stack: stackNameOf(opts.configFile ?? stack), resources, outputs: result, warnings };
}

export function byType(resources: MockResource[], type: string): MockResource[] {
    return resources.filter((r) => r.type === type);
}

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: Record<string, any>;
    [key: string]: any;
}

/**
 * Every Kubernetes object the program declares, as it would be sent to the API server. Helm releases/charts are
 * not expanded (their templates are the chart's); everything else is.
 */
export function k8sObjects(resources: MockResource[], secrets: "reveal" | "mask" = "reveal"): K8sObject[] {
    const out: K8sObject[] = [];
    const convert = secrets === "reveal" ? revealSecrets : maskSecretValues;
    for (const r of resources.map((x) => ({ ...x, inputs: convert(x.inputs) as Record<string, any> }))) {
        if (!r.type.startsWith("kubernetes:") || r.type.startsWith("kubernetes:helm.sh") || r.type === "pulumi:providers:kubernetes") {
            continue;
        }
        const [, groupVersion, kind] = r.type.split(":");
        const [group, version] = groupVersion.split("/");
        const apiVersion = r.inputs.apiVersion ?? (group === "core" ? version : `${group}/${version}`);
        out.push({ ...r.inputs, apiVersion, kind: r.inputs.kind ?? kind, metadata: r.inputs.metadata ?? {} } as K8sObject);
    }
    return out;
}
