/**
 * The stacks of one sandbox (pure). The first stack (`npm run sandbox -- up [--stack local]`) starts the cluster, and
 * the fake nodes come from its gpuPools; another stack (`up --stack local-nginx` while the sandbox runs) is deployed
 * into the same cluster beside it, with the nodes of its own pools added. `down` destroys every stack (the added
 * ones first) and stops the sandbox; `down --stack <added>` destroys that stack only and removes the nodes added
 * for it. Stacks deployed side by side must not share a cluster-scoped object or a Harbor project: the stack files
 * keep them apart (docs/sandbox.md#the-second-stack-local-nginx).
 */
import { modelAutoscaler, type AutoscalerMode } from "../components/serving/autoscaling";
import { defaultEnvironment } from "../config/load";

/** A stack deployed into a running sandbox after its first, and the fake nodes that were added for it. */
export interface AddedStack {
    stack: string;
    /** Names of the nodes created for this stack's pools (nodes the sandbox already had are not listed). */
    nodes: string[];
}

/** The part of the sandbox's state (cluster/controlPlane.ts ClusterState) the stacks live in. */
export interface SandboxStacks {
    /** The first stack: it started the cluster. */
    stack: string;
    /** Stacks deployed beside it, in the order they were added. */
    added?: AddedStack[];
}

/** Every stack deployed in the sandbox, the first one first. */
export function deployedStacks(s: SandboxStacks): string[] {
    return [s.stack, ...(s.added ?? []).map((a) => a.stack)];
}

export type UpAction = { kind: "start" } | { kind: "add" } | { kind: "refuse"; message: string };

/**
 * What `up --stack <stack>` does: start a sandbox (none runs), add the stack to the running one, or refuse (it is
 * there already, or it autoscales through KEDA and the running sandbox, started for a stack that does not, runs no
 * KEDA: its ScaledObjects would find no CRD).
 */
export function upAction(
    running: (SandboxStacks & { startedAt: string; processes?: ReadonlyArray<{ name: string }> }) | undefined,
    stack: string,
    features: SandboxFeatures = { admission: false, keda: false },
): UpAction {
    if (!running) return { kind: "start" };
    if (deployedStacks(running).includes(stack)) {
        return {
            kind: "refuse",
            message: `a sandbox is already running (stack ${deployedStacks(running).join(", ")}, started ${running.startedAt}) with stack ${stack} deployed; nothing was changed. Stop it with \`npm run sandbox -- down\`.`,
        };
    }
    if (features.keda && !(running.processes ?? []).some((p) => p.name === "keda-operator")) {
        return {
            kind: "refuse",
            message:
                `stack ${stack} autoscales through KEDA, but the running sandbox (stack ${running.stack}, which does not) runs no KEDA; nothing was changed. ` +
                `\`npm run sandbox -- down\`, then \`npm run sandbox -- up --stack ${stack}\` first and add ${running.stack} beside it.`,
        };
    }
    return { kind: "add" };
}

/** A node as far as the sandbox compares them: its name and the pool it stands in for. */
export interface PoolNode {
    metadata: { name: string; labels?: Record<string, string> };
}

/**
 * The nodes to create for a stack added to a running sandbox: those of its pools that do not exist yet. A node
 * that exists with the same name stands in for the same pool (reused, as the pool's existing nodes on a real
 * cluster); one with the same name for another pool is an error.
 */
export function nodesToAdd<N extends PoolNode>(existing: readonly PoolNode[], wanted: readonly N[], poolLabel: string): N[] {
    const byName = new Map(existing.map((n) => [n.metadata.name, n]));
    const clashes = wanted.filter((n) => {
        const e = byName.get(n.metadata.name);
        return e !== undefined && e.metadata.labels?.[poolLabel] !== n.metadata.labels?.[poolLabel];
    });
    if (clashes.length > 0) {
        throw new Error(
            `node(s) ${clashes.map((n) => `${n.metadata.name} (pool ${n.metadata.labels?.[poolLabel]}, but the sandbox's is pool ${byName.get(n.metadata.name)!.metadata.labels?.[poolLabel]})`).join(", ")} already exist for another pool: give the stack's gpuPools names of their own`,
        );
    }
    return wanted.filter((n) => !byName.has(n.metadata.name));
}

/** The state with a stack added (and the nodes created for it). */
export function withAddedStack<S extends SandboxStacks>(s: S, stack: string, nodes: string[]): S {
    return { ...s, added: [...(s.added ?? []).filter((a) => a.stack !== stack), { stack, nodes }] };
}

/** The state without an added stack. */
export function withoutStack<S extends SandboxStacks>(s: S, stack: string): S {
    return { ...s, added: (s.added ?? []).filter((a) => a.stack !== stack) };
}

/**
 * What `down [--stack <stack>]` destroys, in order: every stack, the added ones last-added first, then the first
 * (the sandbox stops after); or one added stack (the sandbox keeps running). The first stack alone cannot be
 * destroyed: its pools' nodes hold the others' too (a whole `down` does it).
 */
export function downPlan(s: SandboxStacks, stack?: string): { destroy: AddedStack[]; first: boolean } {
    const added = s.added ?? [];
    if (stack === undefined) return { destroy: [...added].reverse(), first: true };
    if (stack === s.stack) {
        throw new Error(`stack ${stack} started the sandbox: \`npm run sandbox -- down\` (without --stack) destroys it and stops the sandbox`);
    }
    const a = added.find((x) => x.stack === stack);
    if (!a) throw new Error(`stack ${stack} is not deployed in the sandbox (deployed: ${deployedStacks(s).join(", ")})`);
    return { destroy: [a], first: false };
}

/** What a sandbox runs beyond its fixed components, decided by the stack that starts it. */
export interface SandboxFeatures {
    /** Kyverno's admission controller (`enforcesAdmission`). */
    readonly admission: boolean;
    /** KEDA's operator and metrics apiserver, and its CRDs (`autoscalesThroughKeda`). */
    readonly keda: boolean;
}

export function sandboxFeatures(config: Record<string, any>, stack: string): SandboxFeatures {
    return { admission: enforcesAdmission(config, stack), keda: autoscalesThroughKeda(config) };
}

/** The tool sets (sandbox/toolchain/manifest.ts) a sandbox with these features runs. */
export function sandboxToolSets(f: SandboxFeatures): Array<"sandbox" | "admission" | "autoscaling"> {
    return ["sandbox", ...(f.admission ? (["admission"] as const) : []), ...(f.keda ? (["autoscaling"] as const) : [])];
}

/**
 * Whether a stack autoscales a model through KEDA, from its raw `model-fleet:` config, as the program decides it
 * (components/serving/autoscaling.ts `modelAutoscaler`): `serving.autoscaler` (default auto) is keda, or auto and the
 * model scales on requests per second. The sandbox runs KEDA (operator, metrics apiserver, CRDs) for such a stack
 * only; metrics-server (CPU) runs in every sandbox.
 */
export function autoscalesThroughKeda(config: Record<string, any>): boolean {
    const mode = (config.serving?.autoscaler ?? "auto") as AutoscalerMode;
    return ((config.models ?? []) as Array<{ autoscaling?: { targetRequestsPerSecond?: number } }>).some(
        (m) => m.autoscaling !== undefined && modelAutoscaler(mode, m.autoscaling.targetRequestsPerSecond) === "keda",
    );
}

/**
 * Whether a stack enforces admission, from its raw `model-fleet:` config, as config/load.ts settles it: the policy
 * declared (`supplyChain.admission.enabled`, default true) in mode Enforce (`mode`, default Enforce in production,
 * Audit otherwise; the environment defaults to production for stacks named prod*). The sandbox runs Kyverno's
 * admission controller for such a stack only: an Audit policy (the `local` stack's) refuses nothing, and Kyverno would
 * only add two webhook calls and registry lookups to every pod.
 */
export function enforcesAdmission(config: Record<string, any>, stack: string): boolean {
    const admission = config.supplyChain?.admission ?? {};
    if (admission.enabled === false) return false;
    const production = (config.environment ?? defaultEnvironment(stack)) === "production";
    return (admission.mode ?? (production ? "Enforce" : "Audit")) === "Enforce";
}
