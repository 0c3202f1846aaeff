/**
 * Runs `cosign verify-attestation --type <card predicate URI>` for one digest and reads the card it verified
 * (release/cardAttestation.ts): what promote, rollback and versions trust as a version's card.
 */
import { spawnSync } from "child_process";
import { CardCheck, cardCheckFrom } from "../release/cardAttestation";
import { cosignVerifyAttestationArgs, parseDigestRef } from "../release/signing";
import { MODEL_CARD_PREDICATE_TYPE } from "../domain/card/modelCard";

/** The card of `ref` (`<repo>@sha256:…`) that verifies with `publicKey` (a PEM file or a KMS reference), or why there is none. */
export function attestedCard(cosign: string, ref: string, publicKey: string): CardCheck {
    const { digest } = parseDigestRef(ref);
    const args = cosignVerifyAttestationArgs({ ref }, publicKey, MODEL_CARD_PREDICATE_TYPE);
    const r = spawnSync(cosign, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
    if (r.error) throw new Error(`cosign: ${r.error.message}`);
    return cardCheckFrom({ code: r.status ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) }, digest);
}
