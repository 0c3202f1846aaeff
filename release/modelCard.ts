/**
 * Filling a model card (pure): from what a training pipeline wrote — its evaluation (evaluation.json) and its run
 * record (training-run.json), in the form images/model-server/training/build.py writes them — plus the build's own
 * facts (the fleet model and version, the full git sha, the pushed digest, the parent version) to a card that the
 * schema (domain/card/modelCard.ts) accepts. Nothing is invented: a field the inputs do not give is an error that
 * names the file and key path, except `metrics.macroF1`, which the card leaves out when the evaluation has none.
 * docs/model-card.md says how a team writes these two files from its own pipeline.
 */
import { z } from "zod";
import { ModelCard, ModelCardError, MODEL_CARD_SCHEMA, parseModelCard, zodRuleIssues } from "../domain/card/modelCard";
import { RuleIssue } from "../domain/rules/issues";

/** The evaluation keys a card reads (build.py writes more: spec, artifact, toolchain; they are not read). */
const evaluationSchema = z.object({
    model: z.string().min(1, "must name the training spec's model"),
    version: z.string().min(1, "must give the training spec's version"),
    dataset: z
        .object({
            name: z.string().min(1),
            /** A team's pipeline names the data set version directly; build.py gives the package that ships it. */
            version: z.string().min(1).optional(),
            package: z.string().min(1).optional(),
            package_version: z.string().min(1).optional(),
            sha256: z.string(),
        })
        .refine((d) => d.version !== undefined || d.package_version !== undefined, {
            message: "must give the data set's version (version, or package_version for a data set shipped in a package)",
            path: ["version"],
        }),
    split: z.object({ holdout_sha256: z.string(), holdout_instances: z.int() }),
    metrics: z.object({ accuracy: z.number(), macro_f1: z.number().optional() }),
    artifact: z.object({ sha256: z.string() }).optional(),
    /** The training spec; build.py copies it whole. Its `parent` (when the spec names one) is the card's default parent. */
    spec: z.object({ parent: z.string().nullable().optional() }).optional(),
});
export type Evaluation = z.infer<typeof evaluationSchema>;

const trainingRunSchema = z.object({
    model: z.string().optional(),
    version: z.string().optional(),
    artifact_sha256: z.string().optional(),
    started_at: z.string(),
    finished_at: z.string(),
});
export type TrainingRun = z.infer<typeof trainingRunSchema>;

/** What the build knows: the fleet's model and version (config), the commit, the pushed digest, the parent. */
export interface CardBuildFacts {
    readonly model: string;
    readonly version: string;
    /** Full 40-hex sha of the training code (CI: `GITHUB_SHA`; `git rev-parse HEAD`). */
    readonly gitSha: string;
    /** `sha256:<64 hex>` of the pushed image (the stack output `images.<model>.digest`). */
    readonly digest: string;
    /** `sha256:<64 hex>` of the weights artifact the model mounts (`images.<model>.weights.digest`), when it has one. */
    readonly weightsDigest?: string;
    /**
     * The version this one was trained from or replaces; `null` for a first version. Undefined: the training spec's
     * `parent` (evaluation.json `spec.parent`); when the spec has none either, an error (it is not guessed).
     */
    readonly parent?: string | null;
}

export interface CardInputs {
    readonly evaluation: unknown;
    readonly trainingRun: unknown;
    readonly build: CardBuildFacts;
}

/**
 * The data set's version: the evaluation's own `version`, else `<package>==<package_version>` for a data set shipped
 * inside a package (build.py: scikit-learn's digits), the form the image's own card.json uses.
 */
function datasetVersion(d: Evaluation["dataset"]): string | undefined {
    if (d.version !== undefined) return d.version;
    return d.package !== undefined ? `${d.package}==${d.package_version}` : d.package_version;
}

/** The training spec's `parent` in an evaluation (string or null), read even when other keys are wrong. */
function specParent(evaluation: unknown): string | null | undefined {
    const spec = (evaluation as { spec?: { parent?: unknown } } | null)?.spec;
    const parent = typeof spec === "object" && spec !== null ? spec.parent : undefined;
    return typeof parent === "string" || parent === null ? parent : undefined;
}

function prefixed(file: string, issues: RuleIssue[]): RuleIssue[] {
    return issues.map((i) => ({ ...i, path: `${file}: ${i.path}` }));
}

/**
 * The card of one built version. Throws `ModelCardError` listing every problem at once: the inputs' missing keys
 * (`evaluation.json: metrics.accuracy is required`), a run record of another model or artifact, and every field the
 * card schema refuses (a 7-char sha, a digest that is not one, …).
 */
export function cardFromEvaluation(inputs: CardInputs, source = `the card of ${inputs.build.model} ${inputs.build.version}`): ModelCard {
    const ev = evaluationSchema.safeParse(inputs.evaluation);
    const run = trainingRunSchema.safeParse(inputs.trainingRun);
    const issues: RuleIssue[] = [
        ...(ev.success ? [] : prefixed("evaluation.json", zodRuleIssues(ev.error, inputs.evaluation))),
        ...(run.success ? [] : prefixed("training-run.json", zodRuleIssues(run.error, inputs.trainingRun))),
    ];
    if (ev.success && run.success) {
        const e = ev.data;
        const r = run.data;
        if ((r.model !== undefined && r.model !== e.model) || (r.version !== undefined && r.version !== e.version)) {
            issues.push({
                path: "training-run.json: model, version",
                value: `${r.model}/${r.version}`,
                reason: `is not the run of the evaluated spec ${e.model}/${e.version}`,
            });
        }
        if (r.artifact_sha256 !== undefined && e.artifact !== undefined && r.artifact_sha256 !== e.artifact.sha256) {
            issues.push({
                path: "training-run.json: artifact_sha256",
                value: r.artifact_sha256,
                reason: `is not the evaluated artifact's (${e.artifact.sha256})`,
            });
        }
    }
    const parent = inputs.build.parent !== undefined ? inputs.build.parent : specParent(inputs.evaluation);
    if (parent === undefined) {
        issues.push({ path: "parent", reason: "is not known: give the parent version (or none for a first version); the evaluation's spec names none" });
    }
    if (issues.length > 0) throw new ModelCardError(issues, source);
    const e = ev.data!;
    const r = run.data!;
    const card = {
        schema: MODEL_CARD_SCHEMA,
        model: inputs.build.model,
        version: inputs.build.version,
        gitSha: inputs.build.gitSha,
        dataset: { name: e.dataset.name, version: datasetVersion(e.dataset), sha256: e.dataset.sha256 },
        training: { spec: `${e.model}/${e.version}`, startedAt: r.started_at, finishedAt: r.finished_at },
        metrics: { accuracy: e.metrics.accuracy, ...(e.metrics.macro_f1 !== undefined ? { macroF1: e.metrics.macro_f1 } : {}) },
        split: { sha256: e.split.holdout_sha256, instances: e.split.holdout_instances },
        parent,
        image: { digest: inputs.build.digest },
        ...(inputs.build.weightsDigest ? { weights: { digest: inputs.build.weightsDigest } } : {}),
    };
    return parseModelCard(card, source);
}

/**
 * Whether `card` describes `image` (the stack output or the `--image` flags): the same digest, model and version,
 * and a git sha that starts with the image's (the outputs carry the 7-char sha). The problems, none when it does.
 *
 * A model with a weights artifact (`weightsDigest`) needs the weights' card: `weights.digest` is that artifact's.
 * Its `image.digest` (the server image it was released with) is compared only when `digest` is given (`npm run
 * sign`, which attests the card of exactly the stack's pair); promote's card gate gives the weights alone, since the
 * metrics are the weights' and the same weights may be promoted with another server build. A card naming weights
 * does not describe a model that mounts none.
 */
export function cardMismatches(
    card: ModelCard,
    image: { model: string; version: string; digest?: string; weightsDigest?: string; gitSha?: string },
): RuleIssue[] {
    const out: RuleIssue[] = [];
    if (image.digest !== undefined && card.image.digest !== image.digest) {
        out.push({ path: "image.digest", value: card.image.digest, reason: `is not the image's digest ${image.digest}` });
    }
    if (image.weightsDigest !== undefined && card.weights?.digest !== image.weightsDigest) {
        out.push({
            path: "weights.digest",
            ...(card.weights ? { value: card.weights.digest } : {}),
            reason: card.weights
                ? `is not the weights artifact's digest ${image.weightsDigest}`
                : `is required: the model mounts the weights artifact ${image.weightsDigest}`,
        });
    }
    if (image.weightsDigest === undefined && card.weights !== undefined) {
        out.push({
            path: "weights.digest",
            value: card.weights.digest,
            reason: "names a weights artifact, but the model mounts none (its weights are in the image)",
        });
    }
    if (card.model !== image.model) out.push({ path: "model", value: card.model, reason: `is not the image's model ${image.model}` });
    if (card.version !== image.version) out.push({ path: "version", value: card.version, reason: `is not the image's version ${image.version}` });
    if (image.gitSha !== undefined && !card.gitSha.startsWith(image.gitSha)) {
        out.push({ path: "gitSha", value: card.gitSha, reason: `is not the commit the image was built from (${image.gitSha})` });
    }
    return out;
}
