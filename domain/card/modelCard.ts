/**
 * The model card (pure): what one built model version is, where it came from and how well it did on held-out data,
 * for the image digest it describes. JSON, schema `model-fleet/model-card-v1`, validated with zod like the stack
 * config: one error lists every offending key path. It travels two ways (docs/model-card.md):
 *  - `npm run sign -- --card <dir>` attests the whole card (cosign, predicate type `MODEL_CARD_PREDICATE_TYPE`);
 *  - the build writes the fields it knows before the build as image labels under `io.model-fleet.card.*`
 *    (`cardLabels`), beside the standard `org.opencontainers.image.*` keys.
 * The JSON keys are a contract: the model server reads the same card (its lineage metric), `npm run versions` and
 * promotion will read the attested one.
 */
import * as semver from "semver";
import { z } from "zod";
import { formatIssue, formatPath, RuleIssue, valueAt } from "../rules/issues";

/** The `schema` value of every v1 card. */
export const MODEL_CARD_SCHEMA = "model-fleet/model-card-v1";

/**
 * The in-toto predicate type of the card attestation (`cosign attest --type <uri>`; cosign takes a URI it does not
 * know as the predicate type and the predicate file as the predicate itself, cmd/cosign/cli/options/predicate.go
 * `ParsePredicateType` and pkg/cosign/attestation/attestation.go `generateCustomPredicate`, sigstore/cosign v3.1.3).
 */
export const MODEL_CARD_PREDICATE_TYPE = "https://model-fleet.dev/attestations/model-card/v1";

/** The image label namespace of the card's fields: `io.model-fleet.card.<key path>`. */
export const CARD_LABEL_PREFIX = "io.model-fleet.card.";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FULL_GIT_SHA = /^[0-9a-f]{40}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** `<spec model>/<semver>`, the id of a training spec (images/model-server/training/versions/<model>/<version>.json). */
export const TRAINING_SPEC_ID = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?\/[0-9][^/\s]*$/;

const isSemver = (v: string): boolean => semver.valid(v) === v;

/** Whether `s` is a training spec id `<model>/<semver>` (the one rule: the card, the config and the rehearsals use it). */
export function isTrainingSpecId(s: string): boolean {
    return TRAINING_SPEC_ID.test(s) && isSemver(s.slice(s.indexOf("/") + 1));
}

/** The card's field schemas one by one: the stack config's optional `card:` section reuses them. */
export const cardFields = {
    version: z.string().refine(isSemver, "must be a semantic version such as 2.1.4 (no leading v)"),
    gitSha: z.string().regex(FULL_GIT_SHA, "must be the full 40-hex git sha of the training code"),
    sha256: z.string().regex(SHA256_HEX, "must be a sha256: 64 lower-case hex"),
    trainingSpec: z.string().refine(isTrainingSpecId, 'must be a training spec id <model>/<semver>, e.g. "digits/1.1.0"'),
    parent: z.string().refine(isSemver, "must be a semantic version, or null for a version with no parent").nullable(),
    timestamp: z.iso.datetime({ offset: true, error: "must be an ISO 8601 timestamp with a time zone, e.g. 2026-01-01T12:00:00.000Z" }),
    /** A share of the held-out instances, in [0, 1]. */
    ratio: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"),
    digest: z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>"),
} as const;

export const modelCardSchema = z
    .strictObject({
        schema: z.literal(MODEL_CARD_SCHEMA, { error: `must be "${MODEL_CARD_SCHEMA}"` }),
        model: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "must be the fleet's model name (a DNS label)"),
        version: cardFields.version,
        gitSha: cardFields.gitSha,
        dataset: z.strictObject({
            name: z.string().min(1, "must name the data set"),
            version: z.string().min(1, "must give the data set's version"),
            sha256: cardFields.sha256,
        }),
        training: z.strictObject({
            spec: cardFields.trainingSpec,
            startedAt: cardFields.timestamp,
            finishedAt: cardFields.timestamp,
        }),
        metrics: z
            .strictObject({
                accuracy: cardFields.ratio,
                macroF1: cardFields.ratio.optional(),
            })
            .describe("Held-out metrics: accuracy is required, macroF1 optional (absent when the pipeline does not measure it)."),
        split: z.strictObject({
            sha256: cardFields.sha256,
            instances: z.int().min(1, "must be ≥ 1"),
        }),
        parent: cardFields.parent,
        image: z.strictObject({ digest: cardFields.digest }),
        /**
         * The weights artifact, for a model that mounts its weights apart from the server (docs/design/weights.md):
         * the card is then the weights' card, attested on that artifact (`cardSubject`), and `image.digest` names the
         * server image the version was released with.
         */
        weights: z.strictObject({ digest: cardFields.digest }).optional(),
    })
    .superRefine((card, ctx) => {
        if (Date.parse(card.training.finishedAt) < Date.parse(card.training.startedAt)) {
            ctx.addIssue({ code: "custom", path: ["training", "finishedAt"], message: `must not be before training.startedAt (${card.training.startedAt})` });
        }
    });

export type ModelCard = z.infer<typeof modelCardSchema>;

/**
 * The digest a card is attested on and describes: the weights artifact's when the card names one (the held-out
 * metrics are the weights'), else the image's (the weights baked into it).
 */
export function cardSubject(card: Pick<ModelCard, "image" | "weights">): string {
    return card.weights?.digest ?? card.image.digest;
}

/** A card that is not valid: one message listing every offending key path; printed without a stack trace. */
export class ModelCardError extends Error {
    constructor(
        public readonly issues: readonly RuleIssue[],
        source: string,
    ) {
        super(
            `${source} is not a valid model card (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${issues.map((i) => `  - ${formatIssue(i)}`).join("\n")}`,
        );
        this.name = "ModelCardError";
        this.stack = this.message;
    }
}

/** `dataset.sha256`, `models[0].x`: the key-path form the stack config's errors use ("(card)" for the root). */
export function keyPath(path: readonly PropertyKey[]): string {
    return formatPath(path) || "(card)";
}

/** Every problem of `error`, one per key path (an unknown key is named as its own path). */
export function zodRuleIssues(error: z.ZodError, raw: unknown): RuleIssue[] {
    return error.issues.flatMap((issue): RuleIssue[] => {
        if (issue.code === "unrecognized_keys") {
            return issue.keys.map((k) => ({ path: keyPath([...issue.path, k]), reason: "is not a card key" }));
        }
        const value = valueAt(raw, issue.path);
        const reason = value === undefined && issue.code === "invalid_type" ? "is required" : issue.message;
        return [{ path: keyPath(issue.path), ...(value !== undefined && typeof value !== "object" ? { value } : {}), reason }];
    });
}

/** Validates a parsed card; throws `ModelCardError` naming every bad key path. `source` names it in the message. */
export function parseModelCard(raw: unknown, source = "the model card"): ModelCard {
    const parsed = modelCardSchema.safeParse(raw);
    if (!parsed.success) throw new ModelCardError(zodRuleIssues(parsed.error, raw), source);
    return parsed.data;
}

/** Reads a card from its JSON text (a file's content); invalid JSON is a `ModelCardError` too. */
export function parseModelCardJson(text: string, source: string): ModelCard {
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch (e) {
        throw new ModelCardError([{ path: "(card)", reason: `is not JSON: ${(e as Error).message}` }], source);
    }
    return parseModelCard(raw, source);
}

/** The card's JSON as written to `<dir>/<model>.card.json` (2-space indent, keys in schema order, final newline). */
export function modelCardJson(card: ModelCard): string {
    return JSON.stringify(card, null, 2) + "\n";
}

/**
 * What a build knows of the card before it builds: the image digest never (it is the build's result), the training
 * results only when the pipeline ran before the build. Every field is optional; a label is written per given field.
 */
export interface CardLabelFacts {
    readonly model?: string;
    readonly version?: string;
    /** The full 40-hex sha only: a short sha is the `org.opencontainers.image.revision` label's, not the card's. */
    readonly gitSha?: string;
    readonly dataset?: Partial<ModelCard["dataset"]>;
    readonly training?: Partial<ModelCard["training"]>;
    readonly metrics?: Partial<ModelCard["metrics"]>;
    readonly split?: Partial<ModelCard["split"]>;
    /** `null` (no parent) is written as `none`; undefined (not known to the build) writes no label. */
    readonly parent?: string | null;
}

/**
 * The image labels of the card's scalar fields the build knows: `io.model-fleet.card.<key path>` (e.g.
 * `io.model-fleet.card.dataset.sha256`), plus `io.model-fleet.card.schema`. Label values are strings (numbers in
 * JSON form). The card's `image.digest` is never a label: an image cannot name its own digest.
 */
export function cardLabels(facts: CardLabelFacts): Record<string, string> {
    const out: Record<string, string> = {};
    const put = (key: string, value: string | number | undefined) => {
        if (value !== undefined) out[`${CARD_LABEL_PREFIX}${key}`] = String(value);
    };
    put("model", facts.model);
    put("version", facts.version);
    put("gitSha", facts.gitSha);
    for (const group of ["dataset", "training", "metrics", "split"] as const) {
        for (const [k, v] of Object.entries(facts[group] ?? {})) put(`${group}.${k}`, v as string | number | undefined);
    }
    if (facts.parent !== undefined) put("parent", facts.parent ?? "none");
    if (Object.keys(out).length > 0) put("schema", MODEL_CARD_SCHEMA);
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
