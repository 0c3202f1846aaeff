/**
 * Facts of the reference image build that the program (components/image) and the release commands (npm run card)
 * share: the platforms it builds for, the training-record stage, and where a training spec id lives.
 */

/** The platforms every model image is built for (the BuildKit cache holds these). */
export const BUILD_PLATFORMS = ["linux/amd64"] as const;

/**
 * The reference Dockerfile's stage holding what the model card is filled from (`evaluation.json`, `card.json`,
 * `training-run.json`), exported after the image build, never part of the image (images/model-server/Dockerfile).
 */
export const TRAINING_RECORD_TARGET = "training-record";

/** The reference image's spec path for a training spec id (its Dockerfile's `TRAINING_SPEC` build arg). */
export function trainingSpecPath(id: string): string {
    return `training/versions/${id}.json`;
}
