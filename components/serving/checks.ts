/**
 * Invariants ModelService checks before declaring anything (pure). The stack config loader enforces the same
 * rules with key paths for users; these guard the component when it is used directly.
 */
import type { Environment, ModelConfig } from "../../config/schema";
import { drainCanProgress, MODEL_PDB_POLICY } from "./disruption";

export interface ServingCheckInput {
    model: Pick<ModelConfig, "name" | "gpu" | "autoscaling" | "canary" | "startupBudgetSeconds">;
    environment: Environment;
    /** Whether GPU scheduling was passed. */
    hasGpuScheduling: boolean;
    /** Whether rollouts wiring was passed. */
    hasRollouts: boolean;
}

/** Problems that make the model unservable as configured; empty when fine. */
export function servingProblems(input: ServingCheckInput): string[] {
    const { model } = input;
    const a = model.autoscaling;
    const out: string[] = [];
    if (!Number.isInteger(a.minReplicas) || a.minReplicas < 1) {
        out.push(`autoscaling.minReplicas must be an integer ≥ 1, got ${a.minReplicas}`);
    }
    if (a.minReplicas > a.maxReplicas) {
        out.push(`autoscaling.minReplicas (${a.minReplicas}) must be ≤ maxReplicas (${a.maxReplicas})`);
    }
    if (input.environment === "production" && a.minReplicas < 2) {
        out.push(`autoscaling.minReplicas must be ≥ 2 in production (one replica cannot survive a node drain), got ${a.minReplicas}`);
    }
    if (!drainCanProgress(MODEL_PDB_POLICY, a.minReplicas)) {
        out.push(`the PodDisruptionBudget would block node drains at minReplicas ${a.minReplicas}`);
    }
    if (!Number.isInteger(model.startupBudgetSeconds) || model.startupBudgetSeconds < 1) {
        out.push(`startupBudgetSeconds must be a positive integer, got ${model.startupBudgetSeconds}`);
    }
    if (model.gpu !== undefined && !input.hasGpuScheduling) {
        out.push(`requests a GPU (pool ${model.gpu.pool}) but no GPU scheduling (limits, tolerations, nodeSelector) was passed`);
    }
    if (model.gpu === undefined && input.hasGpuScheduling) {
        out.push("has no gpu config but GPU scheduling was passed");
    }
    if (model.canary !== undefined && !input.hasRollouts) {
        out.push("has a canary but no rollouts wiring (trafficRouting, analysisTemplates, host) was passed");
    }
    return out;
}
