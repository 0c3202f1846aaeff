/**
 * Invariants ModelService checks before declaring anything (pure). The replica rules are the ones config
 * validation runs (domain/rules/replicas.ts); the rest guard the component when it is used directly.
 */
import type { Environment, ModelConfig } from "../../config/schema";
import { formatIssue, RuleIssue } from "../../domain/rules/issues";
import { replicasIssues } from "../../domain/rules/replicas";
import { releaseIssues, releaseStrategy } from "../../domain/rules/release";
import { drainCanProgress, MODEL_PDB_POLICY } from "./disruption";

export interface ServingCheckInput {
    model: Pick<ModelConfig, "name" | "gpu" | "autoscaling" | "canary" | "startupBudgetSeconds"> & { release?: ModelConfig["release"] };
    environment: Environment;
    /** Whether GPU scheduling was passed. */
    hasGpuScheduling: boolean;
    /** The workload kind the caller decided (a canary model needs a Rollout). */
    workloadKind: "Deployment" | "Rollout";
}

/** What makes the model unservable as configured, paths relative to the model; empty when fine. */
export function servingIssues(input: ServingCheckInput): RuleIssue[] {
    const { model } = input;
    const a = model.autoscaling;
    const out: RuleIssue[] = [];
    if (!Number.isInteger(a.minReplicas) || a.minReplicas < 1) {
        out.push({ path: "autoscaling.minReplicas", value: a.minReplicas, reason: "must be an integer ≥ 1" });
    }
    out.push(...replicasIssues(a, input.environment));
    if (!drainCanProgress(MODEL_PDB_POLICY, a.minReplicas)) {
        out.push({ path: "autoscaling.minReplicas", value: a.minReplicas, reason: "would let the PodDisruptionBudget block node drains" });
    }
    if (!Number.isInteger(model.startupBudgetSeconds) || model.startupBudgetSeconds < 1) {
        out.push({ path: "startupBudgetSeconds", value: model.startupBudgetSeconds, reason: "must be a positive integer" });
    }
    if (model.gpu !== undefined && !input.hasGpuScheduling) {
        out.push({ path: "gpu", reason: `requests a GPU (pool ${model.gpu.pool}) but no GPU scheduling (limits, tolerations, nodeSelector) was passed` });
    }
    if (model.gpu === undefined && input.hasGpuScheduling) {
        out.push({ path: "gpu", reason: "is unset: the model has no gpu config but GPU scheduling was passed" });
    }
    out.push(...releaseIssues(model));
    const strategy = releaseStrategy(model);
    if (strategy !== undefined && input.workloadKind !== "Rollout") {
        out.push({
            path: strategy === "canary" ? "canary" : "release.strategy",
            reason: `is set: the model ${strategy === "canary" ? "has a canary" : "is released blue-green"} but no rollouts wiring (a Rollout workload: trafficRouting, analysisTemplates, host) was passed`,
        });
    }
    if (strategy === undefined && input.workloadKind === "Rollout") {
        out.push({ path: "canary", reason: "is required by a Rollout workload (or release.strategy blueGreen with release.blueGreen)" });
    }
    return out;
}

/** servingIssues as `path (value) reason` lines. */
export function servingProblems(input: ServingCheckInput): string[] {
    return servingIssues(input).map(formatIssue);
}
