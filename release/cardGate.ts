/**
 * The promotion gate on model cards (pure): before a digest is pinned in a target stack, its verified card
 * (release/cardAttestation.ts) must exist and describe it, and its held-out accuracy must not be worse than the
 * running version's by more than the target model's `canary.analysis.maxAccuracyDrop` (the canary quality gate's
 * threshold), unless `--allow-regression <reason>` records an override next to the digest. The decisions
 * (docs/model-card.md#promotion-reads-the-card):
 *
 * - the candidate's card is required: missing (no card attestation verifies with the key the signature is checked
 *   with), not a card of this digest, or describing another model, version or digest: refused, overridable (a
 *   rollback to a version built before cards, or a pipeline that does not attest cards yet, needs it; the override
 *   records what was refused);
 * - the running version (the target's pinned digest) without a verified card that describes it: the accuracies
 *   cannot be compared; said plainly, and the promotion proceeds on the candidate's card alone;
 * - two cards of different held-out splits (`split.sha256`): their metrics are of different data, so "not worse"
 *   cannot be shown: refused, overridable;
 * - no `maxAccuracyDrop` configured for the model (no canary quality gate): no drop is allowed;
 * - comparison tolerance: a drop passes when `drop ≤ maxAccuracyDrop + min(1e-9, 0.5 / split.instances)`. The
 *   term absorbs float error of the subtraction (0.9711111111111111 − 0.9511111111111111 = 0.020000000000000018),
 *   and, being below half of one held-out instance, it can never let one more misclassified instance through.
 */
import { ModelCard } from "../domain/card/modelCard";
import { formatIssue, formatPath } from "../domain/rules/issues";
import { canarySchema } from "../config/schema";
import { CardCheck } from "./cardAttestation";
import { cardMismatches } from "./modelCard";
import { PromotionError } from "./promotion";

/** Absolute float tolerance of the accuracy comparison (capped at half of one held-out instance). */
export const ACCURACY_TOLERANCE = 1e-9;

export interface CardGateOverride {
    reason: string;
    by: string;
    at: string;
}

/** One side of the comparison: the image promote pins (or the target runs), and what its card check returned. */
export interface CardGateImage {
    model: string;
    /** The running version may be unknown (a stack file without `version`); the candidate's always is. */
    version?: string;
    digest: string;
    /**
     * The weights artifact the model mounts, when it has one: its card (read from that artifact) must be the weights'
     * card (`weights.digest`), and `gitSha` is then the weights' (their release tag's sha). docs/design/weights.md.
     */
    weightsDigest?: string;
    /** The image's short git sha, when known (the card's full sha must start with it). */
    gitSha?: string;
    card: CardCheck;
}

export interface CardGateInput {
    candidate: CardGateImage & { version: string };
    /** What the target runs now; undefined when the model has no pinned digest there (new in the target). */
    running?: CardGateImage;
    /** The target model's `canary.analysis.maxAccuracyDrop`; undefined: no drop allowed. */
    maxAccuracyDrop?: number;
    override?: CardGateOverride;
}

export interface CardGateDecision {
    allowed: boolean;
    /** True when allowed only by the override. */
    overridden: boolean;
    /** What the gate refuses (overridable), each one sentence; empty when nothing is refused. */
    refusals: string[];
    /** What the gate checked or could not check, each one sentence, for the printout. */
    notes: string[];
    /** One line: the verdict. */
    summary: string;
}

const fmt = (x: number) => String(Number(x.toFixed(6)));

/** Why a card check did not give a card that describes `image`, or undefined when it did. */
function untrusted(image: CardGateImage): string | undefined {
    const c = image.card;
    if (c.status === "unverified") return `no card attestation verifies with the key (${c.detail})`;
    if (c.status === "invalid") return `its card attestation cannot be trusted (${c.detail})`;
    const issues = cardMismatches(c.card, {
        model: image.model,
        version: image.version ?? c.card.version,
        ...(image.weightsDigest ? { weightsDigest: image.weightsDigest } : { digest: image.digest }),
        ...(image.gitSha ? { gitSha: image.gitSha } : {}),
    });
    return issues.length > 0 ? `its card does not describe it: ${issues.map(formatIssue).join("; ")}` : undefined;
}

/** Decides whether the candidate may be promoted on the evidence of the two cards (see the module comment). */
export function decideCardGate(input: CardGateInput): CardGateDecision {
    const { candidate, running, override } = input;
    const maxDrop = input.maxAccuracyDrop ?? 0;
    const refusals: string[] = [];
    const notes: string[] = [];
    const what = (i: CardGateImage) => (i.weightsDigest ? `${i.digest}, weights ${i.weightsDigest}` : i.digest);
    const cand = `candidate ${candidate.version} (${what(candidate)})`;

    const candidateProblem = untrusted(candidate);
    if (candidateProblem) refusals.push(`${cand}: ${candidateProblem}; promotion needs its verified card`);

    if (!running) {
        notes.push(`the target runs no digest of ${candidate.model} yet: there is no running version to compare with`);
    } else {
        const run = `running ${running.version ?? "version"} (${what(running)})`;
        const runningProblem = untrusted(running);
        if (runningProblem) {
            notes.push(
                `${run}: ${runningProblem}. Its held-out metrics are unknown, so the accuracies cannot be compared: ` +
                    `promoting on the candidate's card alone`,
            );
        } else if (!candidateProblem && running.card.status === "verified" && candidate.card.status === "verified") {
            const r = running.card.card;
            const c = candidate.card.card;
            if (r.split.sha256 !== c.split.sha256) {
                refusals.push(
                    `the cards' held-out splits differ (split.sha256 ${r.split.sha256} running, ${c.split.sha256} candidate): ` +
                        `their accuracies are of different data and cannot show that the candidate is not worse`,
                );
            } else {
                const drop = r.metrics.accuracy - c.metrics.accuracy;
                const tolerance = Math.min(ACCURACY_TOLERANCE, 0.5 / c.split.instances);
                const limit = input.maxAccuracyDrop === undefined ? "no maxAccuracyDrop is configured: no drop allowed" : `maxAccuracyDrop ${maxDrop}`;
                const compared = `held-out accuracy ${fmt(c.metrics.accuracy)} vs the running version's ${fmt(r.metrics.accuracy)}`;
                if (drop > maxDrop + tolerance) {
                    refusals.push(`${compared}: ${fmt(drop)} worse, more than allowed (${limit})`);
                } else {
                    notes.push(`${compared}: ${drop > 0 ? `${fmt(drop)} worse, within the allowed drop (${limit})` : "not worse"}`);
                }
            }
        }
    }

    if (refusals.length === 0) {
        return { allowed: true, overridden: false, refusals, notes, summary: "card gate: passed" };
    }
    if (override) {
        return {
            allowed: true,
            overridden: true,
            refusals,
            notes,
            summary: `card gate: ${refusals.join("; ")}; promoted anyway: --allow-regression "${override.reason}" (${override.by}, ${override.at})`,
        };
    }
    return { allowed: false, overridden: false, refusals, notes, summary: `card gate: ${refusals.join("; ")}` };
}

/**
 * `canary.analysis.maxAccuracyDrop` of a target stack's model entry, read through the config schema (the value the
 * canary's quality gate gets); undefined when the model has no canary or no quality gate. `where` names the entry
 * (`Pulumi.prod.yaml models[0]`) in the error for an invalid canary section.
 */
export function maxAccuracyDropOf(modelEntry: unknown, where: string): number | undefined {
    const canary = (modelEntry as { canary?: unknown } | null)?.canary;
    if (canary === undefined) return undefined;
    const parsed = canarySchema.safeParse(canary);
    if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${formatPath(["canary", ...i.path])} ${i.message}`).join("; ");
        throw new PromotionError(`${where}: ${issues}: fix the target stack's config before promoting (the card gate reads its maxAccuracyDrop)`);
    }
    return parsed.data.analysis.maxAccuracyDrop;
}

/** Rows of the card diff: key path, running, candidate, for the keys a reviewer compares. */
export const CARD_DIFF_COLUMNS = ["card", "running", "candidate"];

/** The keys `cardDiffTable` shows, in order; `metrics.*` expands to every metric either card has. */
const DIFF_KEYS = [
    "version",
    "parent",
    "dataset.name",
    "dataset.version",
    "dataset.sha256",
    "training.spec",
    "training.finishedAt",
    "metrics.*",
    "split.sha256",
    "split.instances",
    "gitSha",
    "image.digest",
    "weights.digest",
];

function at(card: ModelCard | undefined, key: string): string {
    if (!card) return "-";
    let cur: any = card;
    for (const part of key.split(".")) cur = cur?.[part];
    return cur === undefined ? "-" : cur === null ? "null" : String(cur);
}

/**
 * The card diff promote prints: one row per key (`-` where a card lacks it or there is no card), the rows that
 * differ marked `*`. Pure; a missing card on either side still gives the other's values.
 */
export function cardDiffTable(running: ModelCard | undefined, candidate: ModelCard | undefined): string[][] {
    const metrics = [...new Set([...Object.keys(running?.metrics ?? {}), ...Object.keys(candidate?.metrics ?? {})])].sort((a, b) =>
        a === "accuracy" ? -1 : b === "accuracy" ? 1 : a.localeCompare(b),
    );
    const keys = DIFF_KEYS.flatMap((k) => (k === "metrics.*" ? metrics.map((m) => `metrics.${m}`) : [k]));
    return keys.map((k) => {
        const r = at(running, k);
        const c = at(candidate, k);
        return [`${running && candidate && r !== c ? "* " : "  "}${k}`, r, c];
    });
}
