/**
 * The fake cosign and card attestations of the in-process promote() specs (tests/scripts/promote-card.spec.ts,
 * promote-weights.spec.ts). The fake logs each call as `<command> <--key value> <last argument>` to `calls.log`;
 * `verify` fails, as cosign does, for a ref listed in `unsigned` and passes otherwise; `verify-attestation` prints
 * `att/<key basename>.<digest hex>` (the DSSE line cosign v3.1.3 prints) or fails with cosign's message. The real
 * cosign reading real attestations is the supply-chain suite's part.
 */
import * as fs from "fs";
import * as path from "path";
import { cardSubject, MODEL_CARD_PREDICATE_TYPE, ModelCard } from "../../domain/card/modelCard";
import { cardFromEvaluation } from "../../release/modelCard";

const FIXTURES = path.join(__dirname, "..", "fixtures", "card");

export interface FakeCosign {
    /** Directory to put first on PATH. */
    bin: string;
    /** The `<command> <key> <ref>` lines of every call, in order. */
    calls: () => string[];
    /** Makes `verify` of these refs fail with cosign's "no signatures found". */
    unsign: (...refs: string[]) => void;
    /** Stores the card attestation `verify-attestation --key <key>` of its subject returns. */
    attest: (key: string, card: ModelCard) => void;
    /** Forgets calls, unsigned refs and attestations (each test starts clean). */
    reset: () => void;
}

/** Writes the fake cosign into `<dir>/bin` (its state beside it). */
export function writeFakeCosign(dir: string): FakeCosign {
    const bin = path.join(dir, "bin");
    const att = path.join(dir, "att");
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(att, { recursive: true });
    fs.writeFileSync(
        path.join(bin, "cosign"),
        [
            "#!/bin/sh",
            'key=""; prev=""; for a in "$@"; do [ "$prev" = "--key" ] && key="$a"; prev="$a"; last="$a"; done',
            `echo "$1 $key $last" >> "${dir}/calls.log"`,
            'case "$1" in',
            `  verify) if grep -qx "$last" "${dir}/unsigned" 2>/dev/null; then echo "Error: no signatures found" >&2; exit 1; fi; echo '[]'; exit 0;;`,
            `  verify-attestation) f="${att}/$(basename "$key").\${last##*@sha256:}"`,
            '    if [ -f "$f" ]; then cat "$f"; exit 0; fi',
            `    echo "Error: none of the attestations matched the predicate type: ${MODEL_CARD_PREDICATE_TYPE}" >&2; exit 1;;`,
            "esac",
            "exit 2",
        ].join("\n") + "\n",
        { mode: 0o755 },
    );
    return {
        bin,
        calls: () => fs.readFileSync(path.join(dir, "calls.log"), "utf8").trim().split("\n"),
        unsign: (...refs) => fs.writeFileSync(path.join(dir, "unsigned"), refs.map((r) => `${r}\n`).join("")),
        attest: (key, card) => fs.writeFileSync(path.join(att, `${path.basename(key)}.${cardSubject(card).slice(7)}`), cardEnvelope(card) + "\n"),
        reset: () => {
            for (const f of ["calls.log", "unsigned"]) fs.rmSync(path.join(dir, f), { force: true });
            for (const f of fs.readdirSync(att)) fs.rmSync(path.join(att, f));
        },
    };
}

/** The DSSE envelope of a card attestation (in-toto statement, the card as predicate, its subject's digest). */
export function cardEnvelope(c: ModelCard): string {
    const statement = {
        _type: "https://in-toto.io/Statement/v0.1",
        predicateType: MODEL_CARD_PREDICATE_TYPE,
        subject: [{ name: "registry/models/model-fleet/sentiment", digest: { sha256: cardSubject(c).replace("sha256:", "") } }],
        predicate: c,
    };
    return JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: Buffer.from(JSON.stringify(statement)).toString("base64"), signatures: [] });
}

/** A sentiment card from the fixtures' evaluation and training run, with the build's facts and the given accuracy. */
export function fixtureCard(build: { version: string; gitSha: string; digest: string; weightsDigest?: string }, accuracy: number): ModelCard {
    const c: any = cardFromEvaluation({
        evaluation: JSON.parse(fs.readFileSync(path.join(FIXTURES, "evaluation.json"), "utf8")),
        trainingRun: JSON.parse(fs.readFileSync(path.join(FIXTURES, "training-run.json"), "utf8")),
        build: { model: "sentiment", ...build, parent: null },
    });
    c.metrics.accuracy = accuracy;
    return c;
}

/**
 * Mocha hooks of an in-process promote(): before each test the fake cosign first on PATH, the Harbor stub's password,
 * the stack file's https URLs sent to the stub (it speaks HTTP), and console output captured; after it, all restored.
 * Call it at the top of the `describe`, so that its hooks run before the spec's own.
 */
export function inProcessPromote(o: { cosign: () => FakeCosign; harborPassword: () => string }): { printed: () => string; clear: () => void } {
    const saved = { path: process.env.PATH, harbor: process.env.HARBOR_PASSWORD, fetch: globalThis.fetch, log: console.log, error: console.error };
    let out: string[] = [];
    beforeEach(() => {
        out = [];
        process.env.PATH = `${o.cosign().bin}${path.delimiter}${saved.path}`;
        process.env.HARBOR_PASSWORD = o.harborPassword();
        globalThis.fetch = ((url: any, init: any) => saved.fetch(String(url).replace("https://", "http://"), init)) as typeof fetch;
        console.log = (...a: unknown[]) => out.push(a.join(" "));
        console.error = (...a: unknown[]) => out.push(a.join(" "));
        o.cosign().reset();
    });
    afterEach(() => {
        process.env.PATH = saved.path;
        if (saved.harbor === undefined) delete process.env.HARBOR_PASSWORD;
        else process.env.HARBOR_PASSWORD = saved.harbor;
        globalThis.fetch = saved.fetch;
        console.log = saved.log;
        console.error = saved.error;
    });
    return {
        printed: () => out.join("\n"),
        clear: () => {
            out = [];
        },
    };
}
