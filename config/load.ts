/**
 * The one place that reads configuration: the stack config (`model-fleet:*`, `aws:region`), plus the git facts
 * the image build needs (GIT_SHA / GITHUB_SHA / git). Everything is validated as a whole before the program
 * declares a single resource; components receive the typed result.
 */
import { execFileSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { GIT_STATUS_ARGS, dirtyFingerprint, dirtyPaths, isTreeDirty, resolveGitSha } from "../domain/image/gitSha";
import { formatIssue as formatRuleIssue, formatPath, valueAt } from "../domain/rules/issues";
import { clusterKind, ConfigIssue, crossCheck } from "./crossChecks";
import { CONFIG_NAMESPACE, configSchema, Environment, GpuPoolConfig, ModelConfig, RawConfig, RetentionConfig } from "./schema";
import { defaultThreshold } from "../domain/severity";

/** A GPU pool with its node count settled: an EKS node group's sizes, or a `kubeconfig` pool's `nodes` as all three. */
export type GpuPool = GpuPoolConfig & { minSize: number; maxSize: number; desiredSize: number };

/**
 * A bad config: one message listing every offending key path and value. It is a `RunError`, which the Pulumi
 * CLI prints without a stack trace.
 */
export class ConfigError extends pulumi.RunError {
    constructor(
        public readonly issues: ConfigIssue[],
        header = "invalid model-fleet stack config",
    ) {
        super(`${header} (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${issues.map((i) => `  - ${formatIssue(i)}`).join("\n")}`);
        this.name = "ConfigError";
        // No stack trace: the message says everything a user can act on.
        this.stack = this.message;
    }
}

export function formatIssue(issue: ConfigIssue): string {
    return formatRuleIssue({ path: issue.path, value: issue.value, reason: issue.message });
}

function zodIssues(error: z.ZodError, raw: unknown): ConfigIssue[] {
    const out: ConfigIssue[] = [];
    for (const issue of error.issues) {
        if (issue.code === "unrecognized_keys") {
            for (const key of issue.keys) {
                out.push({ path: formatPath([...issue.path, key]), message: "is not a known key (check its spelling)" });
            }
            continue;
        }
        const value = valueAt(raw, issue.path);
        const missing = value === undefined;
        const shown = missing || (typeof value === "object" && value !== null) ? undefined : value;
        out.push({ path: formatPath(issue.path) || "(root)", value: shown, message: missing ? "is required" : issue.message });
    }
    return out;
}

/** The validated config components receive. */
export interface FleetConfig {
    project: string;
    stack: string;
    environment: Environment;
    /** `aws:region` (EKS clusters; empty on a `kubeconfig` cluster, which makes no AWS call). */
    region: string;
    cluster: RawConfig["cluster"];
    addons: RawConfig["addons"];
    registry: Omit<RawConfig["registry"], "harbor" | "forceDelete" | "retention"> & {
        forceDelete: boolean;
        /** Set for ecr and harbor; external registries have none. */
        retention?: RetentionConfig;
        /** `requireSignatures` settled: the config value, else true only on a stack that builds no image. */
        harbor?: { url: string; project: string; username: string; password: pulumi.Output<string>; requireSignatures: boolean };
    };
    gpuPools: GpuPool[];
    models: ModelConfig[];
    rollouts: RawConfig["rollouts"];
    serving: RawConfig["serving"];
    build: { requireCleanTree: boolean; sourceUrl: string };
    /** `dashboards` settled: the config value, else true in production only. */
    observability: RawConfig["observability"] & { dashboards: boolean };
    /** Signing, scanning and admission, settled (docs/design/supply-chain.md). */
    supplyChain: SupplyChain;
    /** Short sha of the commit images are built from (only when some model builds). */
    gitSha?: string;
    /** Whether the work tree had changes (only checked when some model builds and a clean tree is required). */
    treeDirty: boolean;
    /** Paths git reported as changed, for the dirty-tree error. */
    dirtyPaths: string[];
    /** Names the uncommitted changes of a permitted dirty build (its tag gets `-dirty.<fingerprint>`). */
    dirtyFingerprint?: string;
}

/** The supply-chain settings components receive. */
export interface SupplyChain {
    /**
     * How this stack's builds are signed (only when some model builds): an AWS KMS key (declared by the program
     * for `buildRoleArn`, or the existing `keyArn`), or a cosign key reference on a `kubeconfig` cluster (a secret).
     */
    signing?: { kind: "kms"; buildRoleArn: string; keyArn?: string } | { kind: "cosign"; keyRef: pulumi.Output<string> };
    /** `kubeconfig` clusters: the PEM public key admission verifies with. */
    publicKeyPem?: string;
    /** EKS: the distinct `awskms:///…` keys promotion recorded next to this stack's promoted digests (admission trusts them). */
    promotedKeyRefs: string[];
    scan: { enhanced: boolean; severity: string };
    admission: { enabled: boolean; mode: "Enforce" | "Audit"; installKyverno: boolean; allowedImages: string[] };
}

export interface ParseContext {
    project: string;
    stack: string;
    /** `aws:region` of the stack. */
    region?: string;
    /** `aws:allowedAccountIds` of the stack, when set (the accounts the AWS provider may act in). */
    allowedAccountIds?: string[];
    /** Process environment (GIT_SHA, GITHUB_SHA). */
    env: Readonly<Record<string, string | undefined>>;
    /** Runs git; throws when unavailable. */
    git: (args: readonly string[]) => string;
}

/** Environment from the stack name when the config does not say: a stack named like `prod*` is production. */
export function defaultEnvironment(stack: string): Environment {
    return /^prod/i.test(stack) ? "production" : "development";
}

/**
 * Validates the raw `model-fleet:*` values (already JSON-decoded) and returns the typed config, or throws one
 * ConfigError with every problem.
 */
export function parseConfig(raw: Record<string, unknown>, ctx: ParseContext): FleetConfig {
    const parsed = configSchema.safeParse(raw);
    const issues: ConfigIssue[] = parsed.success ? [] : zodIssues(parsed.error, raw);
    const envRaw = raw.environment;
    const environment: Environment = envRaw === "production" || envRaw === "development" ? envRaw : defaultEnvironment(ctx.stack);
    issues.push(...crossCheck(raw, environment, ctx.region, { allowedAccountIds: ctx.allowedAccountIds }));
    if (!ctx.region && clusterKind(raw) === "eks") {
        issues.push({ path: "aws:region", message: "is required: pulumi config set aws:region <region>" });
    }
    if (!parsed.success || issues.length > 0) {
        throw new ConfigError(dedupe(issues));
    }
    const cfg = parsed.data;
    const builds = cfg.models.some((m) => "build" in m.image);
    const requireCleanTree = cfg.build.requireCleanTree;
    let gitSha: string | undefined;
    let treeDirty = false;
    let changed: string[] = [];
    let fingerprint: string | undefined;
    if (builds) {
        try {
            gitSha = resolveGitSha({ env: ctx.env, git: ctx.git });
        } catch (e) {
            throw new ConfigError([{ path: "GIT_SHA", message: (e as Error).message }], "cannot tag model images");
        }
        if (!gitSha) {
            throw new ConfigError(
                [{ path: "GIT_SHA", message: "is unset and `git rev-parse --short HEAD` failed: run from a git checkout or set GIT_SHA" }],
                "cannot tag model images",
            );
        }
        // Only what goes into an image counts: the build contexts (the Dockerfiles live in them).
        const contexts = [...new Set(cfg.models.flatMap((m) => ("build" in m.image ? [m.image.build.context] : [])))];
        let status = "";
        try {
            status = ctx.git([...GIT_STATUS_ARGS, "--", ...contexts]);
        } catch (e) {
            if (requireCleanTree) {
                throw new ConfigError([{ path: "build.requireCleanTree", message: `needs git to check the work tree: ${(e as Error).message}` }]);
            }
        }
        treeDirty = isTreeDirty(status);
        changed = dirtyPaths(status);
        if (treeDirty && !requireCleanTree) {
            const untracked = ctx
                .git(["ls-files", "--others", "--exclude-standard", "--", ...contexts])
                .split("\n")
                .filter((f) => f !== "");
            const blobs =
                untracked.length > 0
                    ? ctx
                          .git(["hash-object", "--", ...untracked])
                          .trim()
                          .split("\n")
                    : [];
            fingerprint = dirtyFingerprint(
                ctx.git(["diff", "HEAD", "--binary", "--", ...contexts]),
                untracked.map((f, i) => [f, blobs[i] ?? ""] as const),
            );
        }
    }
    const { harbor, forceDelete, ...registry } = cfg.registry;
    return {
        project: ctx.project,
        stack: ctx.stack,
        environment,
        region: ctx.region ?? "",
        cluster: cfg.cluster,
        addons: cfg.addons,
        registry: {
            ...registry,
            forceDelete: forceDelete ?? environment === "development",
            harbor: harbor && { ...harbor, password: pulumi.secret(harbor.password), requireSignatures: harbor.requireSignatures ?? !builds },
        },
        gpuPools: cfg.gpuPools.map((p) => ({
            ...p,
            minSize: p.minSize ?? p.nodes ?? 0,
            maxSize: p.maxSize ?? p.nodes ?? 0,
            desiredSize: p.desiredSize ?? p.nodes ?? 0,
        })),
        models: cfg.models,
        rollouts: cfg.rollouts,
        serving: cfg.serving,
        build: { requireCleanTree, sourceUrl: cfg.build.sourceUrl },
        observability: { ...cfg.observability, dashboards: cfg.observability.dashboards ?? environment === "production" },
        supplyChain: settleSupplyChain(cfg, environment, builds),
        gitSha,
        treeDirty,
        dirtyPaths: changed,
        dirtyFingerprint: fingerprint,
    };
}

function settleSupplyChain(cfg: RawConfig, environment: Environment, builds: boolean): SupplyChain {
    const sc = cfg.supplyChain;
    const signing = sc.signing ?? {};
    let settled: SupplyChain["signing"];
    if (builds && cfg.cluster.kind === "eks" && signing.buildRoleArn) {
        settled = { kind: "kms", buildRoleArn: signing.buildRoleArn, keyArn: signing.keyArn };
    } else if (cfg.cluster.kind === "kubeconfig" && signing.keyRef) {
        settled = { kind: "cosign", keyRef: pulumi.secret(signing.keyRef) };
    }
    const promotedKeyRefs =
        cfg.cluster.kind === "eks" ? [...new Set(cfg.models.flatMap((m) => ("digest" in m.image && m.image.signingKey ? [m.image.signingKey] : [])))] : [];
    return {
        signing: settled,
        publicKeyPem: cfg.cluster.kind === "kubeconfig" ? signing.publicKeyPem : undefined,
        promotedKeyRefs,
        scan: { enhanced: sc.scan.enhanced, severity: sc.scan.severity ?? defaultThreshold(cfg.registry.type) },
        admission: {
            enabled: sc.admission.enabled,
            mode: sc.admission.mode ?? (environment === "production" ? "Enforce" : "Audit"),
            installKyverno: sc.admission.installKyverno,
            allowedImages: sc.admission.allowedImages,
        },
    };
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
    const seen = new Set<string>();
    return issues.filter((i) => {
        const key = formatIssue(i);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
    });
}

function decode(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

/** Reads the stack's `model-fleet:*` config as the CLI hands it over (objects arrive JSON-encoded). */
export function readRawConfig(): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
        if (key.startsWith(prefix)) {
            raw[key.slice(prefix.length)] = decode(value);
        }
    }
    return raw;
}

function runGit(args: readonly string[]): string {
    // Build contexts are relative to the project directory, which is where Pulumi runs the program.
    return execFileSync("git", [...args], {
        cwd: process.cwd(),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 10_000,
        maxBuffer: 256 * 1024 * 1024,
    });
}

/** `aws:allowedAccountIds` arrives JSON-encoded (a list); anything else is left to the AWS provider to reject. */
function accountIds(value: string | undefined): string[] | undefined {
    const v = value === undefined ? undefined : decode(value);
    return Array.isArray(v) ? v.map(String) : undefined;
}

/** Reads and validates the whole stack config. Throws ConfigError (no stack trace) on any problem. */
export function loadConfig(): FleetConfig {
    return parseConfig(readRawConfig(), {
        project: pulumi.getProject(),
        stack: pulumi.getStack(),
        region: pulumi.runtime.getConfig("aws:region"),
        allowedAccountIds: accountIds(pulumi.runtime.getConfig("aws:allowedAccountIds")),
        env: process.env,
        git: runGit,
    });
}
