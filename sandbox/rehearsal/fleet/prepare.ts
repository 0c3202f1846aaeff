/**
 * What the real-server rehearsal needs before anything starts: the model server's Python environment, and each
 * version's weights trained from its spec in the repository.
 *
 * - The environment is a venv built from the server's lock files exactly as the image's builder stage installs them
 *   (`pip install --no-deps --only-binary=:all: --require-hashes`, then `pip check`), with the training lock too
 *   (the weights are trained here as the image's weights stage trains them). One venv per lock digest under
 *   pythonEnvsDir() (support/toolCache.ts), reused while the locks are unchanged; built atomically (a temp dir
 *   renamed into place), so an interrupted build leaves nothing that looks finished.
 * - The weights: `python -m training.build --spec training/versions/<id>.json --out DIR --holdout DIR/holdout.json`
 *   for each version, every rehearsal (seconds): the canary of `same-model` is a real rebuild, and the report shows
 *   its model.onnx digest equal to stable's.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { isTrainingSpecId } from "../../../domain/card/modelCard";
import { pythonEnvsDir } from "../../../support/toolCache";
import { REPO_ROOT } from "../../stack";

export const SERVER_DIR = path.join(REPO_ROOT, "images", "model-server");
/** The lock files the venv installs: the server's runtime set and the training set (the Dockerfile's stages). */
export const LOCK_FILES = ["requirements.txt", "requirements-training.txt"];
export const TRAINING_VERSIONS_DIR = path.join(SERVER_DIR, "training", "versions");

/** The Python minor of the Dockerfile's base image (`FROM python:X.Y.Z…`), as ci.sh reads it. */
export function dockerfilePythonMinor(dockerfile: string): string {
    const minors = new Set([...dockerfile.matchAll(/^FROM python:(\d+\.\d+)\.\d+/gm)].map((m) => m[1]));
    if (minors.size !== 1) throw new Error(`the Dockerfile's stages must share one python:X.Y.Z base (found: ${[...minors].join(", ") || "none"})`);
    return [...minors][0];
}

/** The venv's directory for these lock texts and this interpreter minor (pure). */
export function envDir(root: string, minor: string, locks: string[]): string {
    const h = createHash("sha256").update(minor);
    for (const l of locks) h.update("\0").update(l);
    return path.join(root, `model-server-py${minor}-${h.digest("hex").slice(0, 12)}`);
}

/** The spec file of a training id `<model>/<version>` (throws a clear error when there is none). */
export function trainingSpecFile(id: string, dir = TRAINING_VERSIONS_DIR): string {
    const file = path.join(dir, `${id}.json`);
    if (!isTrainingSpecId(id) || !fs.existsSync(file)) {
        const known = fs.existsSync(dir)
            ? fs
                  .readdirSync(dir, { recursive: true, encoding: "utf8" })
                  .filter((f) => f.endsWith(".json"))
                  .map((f) => f.replace(/\.json$/, ""))
                  .sort()
            : [];
        throw new Error(`no training spec "${id}" (${path.relative(REPO_ROOT, file)}); the repository has: ${known.join(", ") || "none"}`);
    }
    return file;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
    const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    if (r.status !== 0)
        throw new Error(`${[cmd, ...args].join(" ")} exited ${r.status}:\n${`${r.stdout}${r.stderr}`.trim().split("\n").slice(-20).join("\n")}`);
    return r.stdout;
}

/** The venv's python, built first when missing. `log` hears what takes time. */
export function modelServerPython(log: (l: string) => void = () => undefined, env: NodeJS.ProcessEnv = process.env): string {
    const minor = dockerfilePythonMinor(fs.readFileSync(path.join(SERVER_DIR, "Dockerfile"), "utf8"));
    const locks = LOCK_FILES.map((f) => path.join(SERVER_DIR, f));
    const dir = envDir(
        pythonEnvsDir(env),
        minor,
        locks.map((f) => fs.readFileSync(f, "utf8")),
    );
    const python = path.join(dir, "bin", "python");
    if (fs.existsSync(path.join(dir, ".complete"))) return python;
    const base = env.MODEL_SERVER_PYTHON || `python${minor}`;
    const t0 = Date.now();
    log(`  python: building ${dir} from ${LOCK_FILES.join(" + ")} with ${base} (once per lock digest)`);
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
        run(base, ["-m", "venv", tmp]);
        const pip = [path.join(tmp, "bin", "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"];
        for (const lock of locks) run(pip[0], [...pip.slice(1), "install", "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", lock]);
        run(pip[0], [...pip.slice(1), "check"]);
        fs.writeFileSync(path.join(tmp, ".complete"), `${new Date().toISOString()}\n`);
        fs.rmSync(dir, { recursive: true, force: true });
        // Moving a venv breaks only its console scripts' shebangs; everything here runs as `python -m …`.
        fs.renameSync(tmp, dir);
    } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
    }
    log(`  python: ready in ${Math.round((Date.now() - t0) / 1000)} s`);
    return python;
}

export interface TrainedVersion {
    id: string;
    dir: string;
    modelPath: string;
    /** sha256 of model.onnx. */
    sha256: string;
    /** The evaluation the training wrote (metrics, split hash, parameters). */
    evaluation: Record<string, unknown>;
    holdoutFile: string;
}

/** Trains `id` into `dir` with the training package (deterministic: the same spec gives the same bytes). */
export function train(python: string, id: string, dir: string): TrainedVersion {
    const spec = trainingSpecFile(id);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const holdoutFile = path.join(dir, "holdout.json");
    run(python, ["-m", "training.build", "--spec", spec, "--out", dir, "--holdout", holdoutFile], { cwd: SERVER_DIR });
    const modelPath = path.join(dir, "model.onnx");
    return {
        id,
        dir,
        modelPath,
        sha256: createHash("sha256").update(fs.readFileSync(modelPath)).digest("hex"),
        evaluation: JSON.parse(fs.readFileSync(path.join(dir, "evaluation.json"), "utf8")),
        holdoutFile,
    };
}
