/**
 * The release-strategy rules of a model (`release.strategy`, `release.blueGreen`, `canary`): which keys go with which
 * strategy, and the Service names a blue-green model adds. One source for config validation (config/crossChecks.ts)
 * and for the components (ModelService, ModelBlueGreen).
 */
import { RuleIssue } from "./issues";

export type ReleaseStrategy = "canary" | "blueGreen";

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Suffix of a blue-green model's preview Service (`<model>-preview`), which the program declares. */
export const PREVIEW_SERVICE_SUFFIX = "-preview";
/** Suffix of a canary model's canary Service (`<model>-canary`). */
export const CANARY_SERVICE_SUFFIX = "-canary";

/** The strategy a model's config selects: `release.strategy`, else canary when `canary` is set, else none (a Deployment). */
export function releaseStrategy(model: { release?: { strategy?: unknown }; canary?: unknown }): ReleaseStrategy | undefined {
    const s = model.release?.strategy;
    if (s === "canary" || s === "blueGreen") return s;
    return model.canary !== undefined ? "canary" : undefined;
}

/**
 * Problems of one model's release keys, paths relative to the model: blueGreen needs `release.blueGreen` (its
 * analysis thresholds) and takes no `canary`; canary needs `canary` and takes no `release.blueGreen`. Values the
 * schema rejects (a strategy that is neither) are left to it.
 */
export function releaseIssues(model: { release?: unknown; canary?: unknown }): RuleIssue[] {
    if (!isObj(model.release)) return [];
    const strategy = model.release.strategy;
    const out: RuleIssue[] = [];
    if (strategy === "blueGreen") {
        if (model.release.blueGreen === undefined)
            out.push({ path: "release.blueGreen", reason: "is required with release.strategy blueGreen (its pre-promotion analysis thresholds)" });
        if (model.canary !== undefined)
            out.push({
                path: "canary",
                reason: "is not allowed with release.strategy blueGreen (its analysis is release.blueGreen.analysis; it has no steps)",
            });
    } else if (strategy === "canary") {
        if (model.canary === undefined) out.push({ path: "canary", reason: "is required with release.strategy canary (its steps and gates)" });
        if (model.release.blueGreen !== undefined) out.push({ path: "release.blueGreen", reason: "is only allowed with release.strategy blueGreen" });
    }
    return out;
}

/**
 * Service names across models (paths relative to `models`): a blue-green model's preview Service `<m>-preview` and a
 * canary model's `<m>-canary` must not be another model's Service `<name>` (both would be declared with one name).
 */
export function serviceNameIssues(models: ReadonlyArray<{ name?: unknown; release?: unknown; canary?: unknown }>): RuleIssue[] {
    const byName = new Map<string, number>();
    models.forEach((m, i) => typeof m.name === "string" && !byName.has(m.name) && byName.set(m.name, i));
    const out: RuleIssue[] = [];
    models.forEach((m, i) => {
        if (typeof m.name !== "string") return;
        const strategy = releaseStrategy(m as { release?: { strategy?: unknown }; canary?: unknown });
        const extra = strategy === "blueGreen" ? `${m.name}${PREVIEW_SERVICE_SUFFIX}` : strategy === "canary" ? `${m.name}${CANARY_SERVICE_SUFFIX}` : undefined;
        const other = extra === undefined ? undefined : byName.get(extra);
        if (other !== undefined) {
            out.push({
                path: `[${other}].name`,
                value: extra,
                reason: `is the ${strategy === "blueGreen" ? "preview" : "canary"} Service models[${i}] (${m.name}) declares: rename one of them`,
            });
        }
    });
    return out;
}
