/**
 * The model cards of the images a stack built, filled from their training records (pure; `npm run card` runs it).
 *
 * The reference Dockerfile's `training-record` stage holds `evaluation.json`, `card.json` and `training-run.json` of
 * the training whose bytes the image's weights layer holds; it is never part of the image. After the image build,
 * CI exports it from the same BuildKit cache (`docker buildx build --target training-record --cache-from
 * type=registry,ref=<repository>:buildcache --output type=local,dest=<dir>`: docs.docker.com/build/exporters/local-tar/
 * and /build/cache/backends/registry/), so the record is the image's own training run. Then each card is filled by
 * `cardFromEvaluation` with the build's facts (model, version, full commit, pushed digest, parent).
 */
import { BUILD_PLATFORMS, TRAINING_RECORD_TARGET, trainingSpecPath } from "../domain/image/build";
import { BUILD_CACHE_TAG } from "../domain/image/tag";
import { ModelCard, ModelCardError } from "../domain/card/modelCard";
import { formatIssue } from "../domain/rules/issues";
import { cardFromEvaluation } from "./modelCard";
import { ImageToSign, parseDigestRef } from "./signing";

export class TrainingRecordError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "TrainingRecordError";
    }
}

/** How a stack builds one model's image (its config entry), as far as the training record needs it. */
export interface BuildOfModel {
    readonly model: string;
    /** The build context (`models[].image.build.context`). */
    readonly context: string;
    /** The Dockerfile: `models[].image.build.dockerfile` under the context, default `<context>/Dockerfile`. */
    readonly dockerfile: string;
    /** `models[].card.trainingSpec`: the `TRAINING_SPEC` build arg; undefined: the Dockerfile's default spec. */
    readonly trainingSpec?: string;
    /** `models[].card.parent` (null: a first version); undefined: the training spec's own parent. */
    readonly parent?: string | null;
}

/** The models a stack builds, from its raw `models` config (a model without `image.build` is promoted, not built). */
export function builtModels(models: unknown): BuildOfModel[] {
    if (!Array.isArray(models)) return [];
    return models.flatMap((m: any): BuildOfModel[] => {
        const build = m?.image?.build;
        if (typeof m?.name !== "string" || typeof build?.context !== "string") return [];
        const context = build.context.replace(/\/+$/, "");
        const dockerfile =
            typeof build.dockerfile === "string"
                ? build.dockerfile.startsWith("/")
                    ? build.dockerfile
                    : `${context}/${build.dockerfile}`
                : `${context}/Dockerfile`;
        return [
            {
                model: m.name,
                context,
                dockerfile,
                ...(typeof m.card?.trainingSpec === "string" ? { trainingSpec: m.card.trainingSpec } : {}),
                ...(m.card && "parent" in m.card ? { parent: m.card.parent } : {}),
            },
        ];
    });
}

/**
 * `docker buildx build` that exports one model's training record to `dest` from the image build's cache: the same
 * context, Dockerfile, platform and `TRAINING_SPEC` as the image (components/image/imagePlan.ts), so BuildKit finds
 * the weights stage's layers in `<repository>:buildcache` (written with `mode=max`, every stage's layers).
 */
export function trainingRecordExportArgs(build: BuildOfModel, repository: string, dest: string): string[] {
    return [
        "buildx",
        "build",
        "--file",
        build.dockerfile,
        "--target",
        TRAINING_RECORD_TARGET,
        "--platform",
        BUILD_PLATFORMS.join(","),
        ...(build.trainingSpec !== undefined ? ["--build-arg", `TRAINING_SPEC=${trainingSpecPath(build.trainingSpec)}`] : []),
        "--cache-from",
        `type=registry,ref=${repository}:${BUILD_CACHE_TAG}`,
        "--output",
        `type=local,dest=${dest}`,
        build.context,
    ];
}

/** The training record's files, by name, of one model (`read` returns the parsed JSON, or undefined when missing). */
export type RecordReader = (model: string, file: "evaluation.json" | "training-run.json") => unknown;

/**
 * The card of every image a stack built (`images` of its outputs; models it only promotes are left out), filled from
 * its training record and the build's facts. `fullSha` is the commit the build ran at (CI: `GITHUB_SHA`): it must
 * start with each image's short sha. One error lists every problem of every image; nothing is returned half.
 */
export function cardsFromRecords(
    images: readonly ImageToSign[],
    builds: readonly BuildOfModel[],
    fullSha: string,
    read: RecordReader,
): Record<string, ModelCard> {
    const problems: string[] = [];
    const cards: Record<string, ModelCard> = {};
    if (!/^[0-9a-f]{40}$/.test(fullSha)) problems.push(`the commit ${JSON.stringify(fullSha)} is not a full 40-hex git sha (--git-sha, or GITHUB_SHA)`);
    for (const build of builds) {
        const img = images.find((i) => i.model === build.model);
        if (!img) {
            problems.push(`${build.model}: the stack builds it but its images output has no entry (is the stack deployed?)`);
            continue;
        }
        if (img.gitSha && !fullSha.startsWith(img.gitSha)) {
            problems.push(`${build.model}: the image was built at ${img.gitSha}, not at ${fullSha.slice(0, 12)}…: its card must name the commit that built it`);
            continue;
        }
        const evaluation = read(build.model, "evaluation.json");
        const trainingRun = read(build.model, "training-run.json");
        const missing = [evaluation === undefined ? "evaluation.json" : "", trainingRun === undefined ? "training-run.json" : ""].filter(Boolean);
        if (missing.length > 0) {
            problems.push(`${build.model}: its training record has no ${missing.join(" or ")}`);
            continue;
        }
        try {
            cards[build.model] = cardFromEvaluation({
                evaluation,
                trainingRun,
                build: {
                    model: build.model,
                    version: img.version,
                    gitSha: fullSha,
                    digest: parseDigestRef(img.ref).digest,
                    ...(img.weights ? { weightsDigest: parseDigestRef(img.weights.ref).digest } : {}),
                    ...(build.parent !== undefined ? { parent: build.parent } : {}),
                },
            });
        } catch (e) {
            if (!(e instanceof ModelCardError)) throw e;
            problems.push(`${build.model}: ${e.issues.map((i) => formatIssue(i)).join("; ")}`);
        }
    }
    if (problems.length > 0) throw new TrainingRecordError(`no card was written:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    return cards;
}
