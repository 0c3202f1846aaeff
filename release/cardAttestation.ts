/**
 * Reading a model card back from its verified attestation: what promote, rollback, versions and sign --card trust.
 *
 * `cosign verify-attestation --type <card predicate URI> --output json` prints, on stdout, one DSSE envelope per line
 * for every attestation of that type that verifies with the key over the digest (sigstore/cosign v3.1.3
 * `cmd/cosign/cli/verify/verify_attestation.go`: the `checked` attestations, printed by `PrintVerification(ctx,
 * checked, "text")` as their raw JSON; other predicate types are skipped, and none left is an error). Each envelope's `payload` is the base64 in-toto statement
 * (`{_type, predicateType, subject: [{name, digest: {sha256}}], predicate}`); for a predicate type cosign does not
 * know, the predicate is the card file itself (`pkg/cosign/attestation/attestation.go` `generateCustomPredicate`).
 * Pure: the command runs in scripts/cardAttestation.ts.
 */
import { isDeepStrictEqual } from "util";
import { cardSubject, MODEL_CARD_PREDICATE_TYPE, ModelCard, ModelCardError, parseModelCard } from "../domain/card/modelCard";

/** A card attestation that verified but cannot be trusted as this digest's card (not a card, another digest, two different cards). */
export class CardAttestationError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CardAttestationError";
    }
}

/** A digest's card as the registry holds it: verified with the key, or why not. */
export type CardCheck =
    | { readonly status: "verified"; readonly card: ModelCard }
    /** cosign found no card attestation that verifies with the key (none attested, or signed by another key). */
    | { readonly status: "unverified"; readonly detail: string }
    /** An attestation verified, but what it carries is not this digest's card. */
    | { readonly status: "invalid"; readonly detail: string };

function statementOf(line: string, n: number): any {
    let envelope: any;
    try {
        envelope = JSON.parse(line);
    } catch {
        throw new CardAttestationError(`attestation ${n}: cosign printed a line that is not JSON: ${line.slice(0, 120)}`);
    }
    if (typeof envelope?.payload !== "string") throw new CardAttestationError(`attestation ${n}: the envelope has no base64 payload`);
    try {
        return JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
    } catch {
        throw new CardAttestationError(`attestation ${n}: the payload is not a JSON in-toto statement`);
    }
}

/**
 * The one card that `cosign verify-attestation --type <card URI> --output json` verified for `digest`: every
 * statement must be of the card predicate type, name `digest` as its subject, carry a valid card (domain/card) whose
 * `image.digest` is `digest`; several attestations (a digest attested twice) must carry the same card.
 */
export function cardFromVerifiedAttestations(stdout: string, digest: string): ModelCard {
    const lines = stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("{"));
    if (lines.length === 0) throw new CardAttestationError(`cosign verified no card attestation of ${digest}`);
    const hex = digest.replace(/^sha256:/, "");
    const cards: ModelCard[] = [];
    lines.forEach((line, i) => {
        const n = i + 1;
        const statement = statementOf(line, n);
        if (statement?.predicateType !== MODEL_CARD_PREDICATE_TYPE) {
            throw new CardAttestationError(`attestation ${n}: predicate type ${String(statement?.predicateType)} is not ${MODEL_CARD_PREDICATE_TYPE}`);
        }
        const subjects: unknown[] = Array.isArray(statement.subject) ? statement.subject : [];
        if (!subjects.some((s: any) => s?.digest?.sha256 === hex)) {
            throw new CardAttestationError(`attestation ${n}: its subject is not ${digest}`);
        }
        let card: ModelCard;
        try {
            card = parseModelCard(statement.predicate, `the card attested on ${digest}`);
        } catch (e) {
            if (e instanceof ModelCardError) throw new CardAttestationError(e.message);
            throw e;
        }
        if (cardSubject(card) !== digest) {
            throw new CardAttestationError(
                card.weights
                    ? `the card attested on ${digest} describes another weights artifact: weights.digest ${card.weights.digest}`
                    : `the card attested on ${digest} describes another image: image.digest ${card.image.digest}`,
            );
        }
        cards.push(card);
    });
    if (cards.some((c) => !isDeepStrictEqual(c, cards[0]))) {
        throw new CardAttestationError(`${digest} carries ${cards.length} card attestations that differ: one card per digest`);
    }
    return cards[0];
}

/** The outcome of one `cosign verify-attestation` run for a card, from its exit code and output. */
export function cardCheckFrom(result: { code: number; stdout: string; stderr: string }, digest: string): CardCheck {
    if (result.code !== 0) {
        const lines = result.stderr
            .split("\n")
            .map((l) => l.trim())
            .filter((l) => l.startsWith("Error:") || l.startsWith("error"));
        return { status: "unverified", detail: lines[lines.length - 1] ?? `cosign exited ${result.code}` };
    }
    try {
        return { status: "verified", card: cardFromVerifiedAttestations(result.stdout, digest) };
    } catch (e) {
        if (e instanceof CardAttestationError) return { status: "invalid", detail: e.message };
        throw e;
    }
}

/**
 * The top-level keys two cards differ in, as key paths (`metrics.accuracy`), sorted: what `sign --card` names when
 * a digest already carries another card, and the basis of promote's card diff.
 */
export function cardDifferences(a: ModelCard, b: ModelCard): string[] {
    const out: string[] = [];
    const walk = (x: unknown, y: unknown, at: string): void => {
        const objects = x !== null && y !== null && typeof x === "object" && typeof y === "object" && !Array.isArray(x) && !Array.isArray(y);
        if (!objects) {
            if (!isDeepStrictEqual(x, y)) out.push(at);
            return;
        }
        const keys = [...new Set([...Object.keys(x as object), ...Object.keys(y as object)])].sort();
        for (const k of keys) walk((x as any)[k], (y as any)[k], at === "" ? k : `${at}.${k}`);
    };
    walk(a, b, "");
    return out;
}
