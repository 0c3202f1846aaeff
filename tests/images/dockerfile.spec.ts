import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { Copy, DockerfileParser, From, Instruction } from "dockerfile-ast";
import { planModelImage } from "../../components/image/imagePlan";
import { REPO_ROOT } from "../../support/harness";

const SERVER_DIR = path.join(REPO_ROOT, "images/model-server");
const DOCKERFILE = fs.readFileSync(path.join(SERVER_DIR, "Dockerfile"), "utf8");
/** The pod spec's securityContext.runAsUser. */
const RUN_AS_USER = 10001;

interface Stage {
    from: From;
    name: string | null;
    instructions: Instruction[];
}

function stages(text: string): Stage[] {
    const out: Stage[] = [];
    for (const instr of DockerfileParser.parse(text).getInstructions()) {
        if (instr.getKeyword() === "FROM") {
            const from = instr as From;
            out.push({ from, name: from.getBuildStage(), instructions: [] });
        } else if (out.length > 0) {
            out[out.length - 1].instructions.push(instr);
        }
    }
    return out;
}

function args(instr: Instruction): string[] {
    return instr.getArguments().map((a) => a.getValue());
}

function fromFlag(instr: Instruction): string | undefined {
    return instr.getKeyword() === "COPY" ? ((instr as Copy).getFromFlag()?.getValue() ?? undefined) : undefined;
}

/** Instructions that add a filesystem layer. */
const LAYER_KEYWORDS = new Set(["RUN", "COPY", "ADD"]);
/** A base pinned by digest, or by a tag carrying a full x.y.z version. */
const PINNED_TAG = /^\d+\.\d+\.\d+([.-][A-Za-z0-9.-]+)?$/;

/** Every structural rule the reference Dockerfile must follow; returns the violations. */
function check(text: string): string[] {
    const problems: string[] = [];
    const st = stages(text);
    if (st.length < 2) problems.push(`needs a multi-stage build, has ${st.length} stage(s)`);
    const names = new Set<string>();
    for (const s of st) {
        const image = s.from.getImageName();
        const tag = s.from.getImageTag();
        const digest = s.from.getImageDigest();
        if (image && names.has(image) && !tag && !digest) {
            // FROM <earlier stage>
        } else if (image === "scratch" && !tag && !digest) {
            // FROM scratch: the empty image (a reserved name, nothing is pulled)
        } else if (!image) {
            problems.push(`FROM without an image`);
        } else if (tag === "latest") {
            problems.push(`base ${image}:latest is not pinned`);
        } else if (!digest && !tag) {
            problems.push(`base ${image} is untagged (implicitly :latest)`);
        } else if (!digest && !PINNED_TAG.test(tag ?? "")) {
            problems.push(`base ${image}:${tag} is not pinned to a full x.y.z version or a digest`);
        }
        if (s.name) names.add(s.name);
    }
    const final = st[st.length - 1];
    if (!final) return problems;

    const users = final.instructions.filter((i) => i.getKeyword() === "USER");
    const user = users.length ? args(users[users.length - 1])[0] : undefined;
    const uid = user?.split(":")[0];
    if (!user) problems.push("final stage has no USER (runs as root)");
    else if (uid === "root" || uid === "0") problems.push(`final stage runs as ${user}`);
    else if (uid !== String(RUN_AS_USER)) problems.push(`final stage USER ${user} is not the numeric uid ${RUN_AS_USER} the pod runs as`);
    const userIndex = users.length ? final.instructions.indexOf(users[users.length - 1]) : -1;
    if (final.instructions.slice(userIndex + 1).some((i) => i.getKeyword() === "USER")) problems.push("USER is overridden");

    const layers = final.instructions.filter((i) => LAYER_KEYWORDS.has(i.getKeyword()));
    const depsIndex = layers.findIndex((i) => fromFlag(i) === "builder" || (i.getKeyword() === "RUN" && /pip install/.test(args(i).join(" "))));
    const codeIndex = layers.findIndex((i) => i.getKeyword() === "COPY" && !fromFlag(i) && args(i).some((a) => /^app\/?$/.test(a)));
    const weightsIndex = layers.findIndex(
        (i) => i.getKeyword() === "COPY" && (fromFlag(i) === "weights" || args(i).some((a) => /weights|model\.json/.test(a))),
    );
    if (depsIndex < 0) problems.push("final stage does not install dependencies");
    if (codeIndex < 0) problems.push("final stage does not copy the application code");
    if (weightsIndex < 0) problems.push("final stage does not copy the model weights");
    if (depsIndex >= 0 && codeIndex >= 0 && codeIndex < depsIndex) problems.push("application code is copied before the dependencies");
    if (weightsIndex >= 0 && weightsIndex < Math.max(depsIndex, codeIndex)) problems.push("model weights are copied before the dependencies or the code");
    if (weightsIndex >= 0 && weightsIndex !== layers.length - 1) problems.push("model weights are not the last filesystem layer");

    const code = text
        .split("\n")
        .filter((l) => !l.trim().startsWith("#"))
        .join("\n");
    if (/:latest\b/.test(code)) problems.push("uses :latest");
    return problems;
}

describe("reference model-server Dockerfile", () => {
    const st = stages(DOCKERFILE);
    const final = st[st.length - 1];

    it("follows every structural rule", () => {
        assert.deepEqual(check(DOCKERFILE), []);
    });
    it("is multi-stage: builder (deps), weights, the training record (exported for the model card, never in the image), the weights artifact, runtime last", () => {
        assert.deepEqual(
            st.map((s) => s.name),
            ["builder", "weights", "training-record", "weights-artifact", "runtime"],
        );
        const record = st.find((s) => s.name === "training-record")!;
        assert.equal(record.from.getImage(), "scratch");
        const kw = record.instructions.map((i) => `${i.getKeyword()} ${fromFlag(i) ?? ""} ${args(i).join(" ")}`.replace(/\s+/g, " "));
        assert.deepEqual(kw, ["COPY weights /weights/evaluation.json /weights/card.json /training-record/training-run.json /"]);
        assert.ok(!final.instructions.some((i) => fromFlag(i) === "training-record"), "the runtime image does not copy the record");
    });
    it("the weights artifact (an image volume's source): from scratch, the weights stage's model.onnx, card.json and evaluation.json at its root, nothing else", () => {
        const artifact = st.find((s) => s.name === "weights-artifact")!;
        assert.equal(artifact.from.getImage(), "scratch");
        const kw = artifact.instructions.map((i) => `${i.getKeyword()} ${fromFlag(i) ?? ""} ${args(i).join(" ")}`.replace(/\s+/g, " "));
        assert.deepEqual(kw, ["COPY weights /weights/model.onnx /weights/card.json /weights/evaluation.json /"]);
        // The pod reads /weights/model.onnx: the volume's mount path (podTemplate) joined with the artifact's root file.
        assert.match(DOCKERFILE, /--target weights-artifact/);
    });
    it("pins every base to python:3.11.x-slim-bookworm (the CI machine's minor, see images/model-server/ci.sh), never latest or untagged", () => {
        for (const s of st.filter((x) => x.from.getImage() !== "scratch")) {
            assert.equal(s.from.getImageName(), "python");
            assert.match(s.from.getImageTag() ?? "", /^3\.11\.\d+-slim-bookworm$/);
        }
        assert.equal(
            new Set(st.filter((x) => x.from.getImage() !== "scratch").map((s) => s.from.getImage())).size,
            1,
            "builder and runtime share a base, so the venv's interpreter path matches",
        );
    });
    it("runs the final stage as the numeric non-root uid the pod uses", () => {
        const user = final.instructions.filter((i) => i.getKeyword() === "USER").map((i) => args(i)[0]);
        assert.deepEqual(user, [`${RUN_AS_USER}:${RUN_AS_USER}`]);
        assert.match(DOCKERFILE, /useradd[^\n]*--uid 10001/);
    });
    it("orders the runtime layers: dependencies, code, weights last", () => {
        const layers = final.instructions
            .filter((i) => LAYER_KEYWORDS.has(i.getKeyword()))
            .map((i) => `${i.getKeyword()} ${fromFlag(i) ?? ""} ${args(i).join(" ")}`.replace(/\s+/g, " "));
        assert.deepEqual(layers.slice(1), ["COPY builder /opt/venv /opt/venv", "COPY app/ /srv/app/", "COPY weights /weights/ /models/"]);
        assert.match(layers[0], /^RUN groupadd/);
    });
    it("installs a hash-pinned lock in the builder, after copying only the locks: requirements.txt, or requirements-gpu.txt for VARIANT=gpu", () => {
        const builder = st.find((s) => s.name === "builder")!;
        const kw = builder.instructions.map((i) => `${i.getKeyword()} ${args(i).join(" ")}`);
        assert.ok(kw.includes("ARG VARIANT=cpu"), "the CPU variant is the default");
        const copyReq = kw.findIndex((k) => k === "COPY requirements.txt requirements-gpu.txt /tmp/");
        const install = kw.findIndex((k) => /^RUN .*pip install --no-deps --only-binary=:all: --require-hashes -r "\$lock" .*pip check/.test(k));
        assert.ok(copyReq >= 0 && install > copyReq, kw.join("\n"));
        const run = kw[install];
        assert.match(run, /cpu\) lock=\/tmp\/requirements\.txt ;;/);
        assert.match(run, /gpu\) lock=\/tmp\/requirements-gpu\.txt ;;/);
        assert.match(run, /\*\) echo "VARIANT=\$VARIANT: expected cpu or gpu" >&2; exit 1 ;;/, "an unknown variant fails the build");
        assert.ok(!kw.some((k) => k.startsWith("COPY app")), "code is not in the dependency stage");
    });
    it("builds the variant ModelImage asks for: VARIANT=gpu for a model with gpu:, the default for a CPU model", () => {
        const plan = (gpu: boolean) =>
            planModelImage({
                modelName: "m",
                version: "1.0.0",
                gitSha: "abcdef0",
                source: { build: { context: "images/model-server" } },
                requireCleanTree: false,
                treeDirty: false,
                gpu,
            });
        const gpuPlan = plan(true);
        const cpuPlan = plan(false);
        assert.ok(gpuPlan.kind === "build" && cpuPlan.kind === "build");
        assert.equal(gpuPlan.buildArgs.VARIANT, "gpu");
        assert.equal(cpuPlan.buildArgs.VARIANT, undefined, "the Dockerfile's default (cpu)");
        const declared = st.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === "ARG").map((i) => args(i)[0].split("=")[0]));
        for (const arg of Object.keys(gpuPlan.buildArgs)) assert.ok(declared.includes(arg), `${arg} is declared`);
    });
    it("trains the weights at build time in their own stage, from TRAINING_SPEC (default: the reference spec)", () => {
        const weights = st.find((s) => s.name === "weights")!;
        const kw = weights.instructions.map((i) => `${i.getKeyword()} ${args(i).join(" ")}`);
        const run = kw.find((k) => k.startsWith("RUN python -m training.build "));
        assert.ok(run?.startsWith('RUN python -m training.build --spec "$TRAINING_SPEC" --out /weights &&'), kw.join("\n"));
        // One weights-layer digest per spec: the run record (when it trained) leaves /weights, every mtime is fixed.
        assert.ok(run!.includes("mv /weights/training-run.json /training-record/training-run.json"), run);
        assert.ok(run!.includes("touch --no-dereference --date=@0 /weights /weights/model.onnx /weights/evaluation.json /weights/card.json"), run);
        const spec = kw.find((k) => k.startsWith("ARG TRAINING_SPEC="))?.slice("ARG TRAINING_SPEC=".length) ?? "";
        assert.equal(spec, "training/versions/digits/1.1.0.json");
        assert.ok(fs.existsSync(path.join(SERVER_DIR, spec)), spec);
        assert.ok(fs.existsSync(path.join(SERVER_DIR, "training/build.py")));
    });
    it("declares the build args ModelImage passes, after the last layer, and exposes 8080", () => {
        const plan = planModelImage({
            modelName: "m",
            version: "1.0.0",
            gitSha: "abcdef0",
            source: { build: { context: "images/model-server" } },
            requireCleanTree: false,
            treeDirty: false,
        });
        assert.equal(plan.kind, "build");
        const declared = final.instructions.filter((i) => i.getKeyword() === "ARG").map((i) => args(i)[0].split("=")[0]);
        assert.deepEqual(declared.sort(), Object.keys(plan.kind === "build" ? plan.buildArgs : {}).sort());
        const lastLayer = Math.max(...final.instructions.map((i, n) => (LAYER_KEYWORDS.has(i.getKeyword()) ? n : -1)));
        const firstArg = final.instructions.findIndex((i) => i.getKeyword() === "ARG");
        assert.ok(firstArg > lastLayer, "a version bump only changes image config, not a filesystem layer");
        assert.deepEqual(
            final.instructions.filter((i) => i.getKeyword() === "EXPOSE").map((i) => args(i)),
            [["8080"]],
        );
        assert.equal(final.instructions.filter((i) => i.getKeyword() === "HEALTHCHECK").length, 0, "probes are Kubernetes' job");
    });
    /** name → version of a lock file whose every requirement must be `name==version --hash=sha256:<64 hex>`. */
    function lock(file: string): Map<string, string> {
        const lines = fs
            .readFileSync(path.join(SERVER_DIR, file), "utf8")
            .replace(/\\\n/g, " ")
            .split("\n")
            .map((l) => l.replace(/#.*/, "").trim())
            .filter((l) => l && !l.startsWith("-r "));
        assert.ok(lines.length > 0);
        const pins = new Map<string, string>();
        for (const l of lines) {
            const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)==(\d+(?:\.\d+)*) +--hash=sha256:[0-9a-f]{64}$/.exec(l);
            assert.ok(m, `${file}: not a hash-pinned requirement: ${l}`);
            assert.ok(!pins.has(m[1].toLowerCase()), `${file}: ${m[1]} pinned twice`);
            pins.set(m[1].toLowerCase(), m[2]);
        }
        return pins;
    }
    it("hash-pins every lock (runtime, GPU, training, tests): name==version --hash=sha256:…", () => {
        const runtime = lock("requirements.txt");
        for (const dep of ["fastapi", "uvicorn", "prometheus-client", "pydantic", "onnxruntime"]) assert.ok(runtime.has(dep), dep);
        for (const f of ["requirements-gpu.txt", "requirements-training.txt", "requirements-dev.txt"]) lock(f);
        const training = lock("requirements-training.txt");
        for (const dep of ["scikit-learn", "skl2onnx", "onnx"]) assert.ok(training.has(dep), dep);
        for (const [name, version] of training)
            if (runtime.has(name)) assert.equal(runtime.get(name), version, `${name}: the training stage evaluates with the runtime's pins`);
        assert.ok(lock("requirements-dev.txt").has("hypothesis"), "the fuzz engine is pinned");
    });
    it("has a GPU lock that is the runtime lock with onnxruntime-gpu and NVIDIA's CUDA 12 / cuDNN 9 wheels instead of onnxruntime", () => {
        const runtime = lock("requirements.txt");
        const gpu = lock("requirements-gpu.txt");
        assert.ok(!gpu.has("onnxruntime"), "onnxruntime and onnxruntime-gpu install the same package: never both");
        assert.match(gpu.get("onnxruntime-gpu") ?? "", /^1\.\d+\.\d+$/);
        for (const [name, version] of runtime) if (name !== "onnxruntime") assert.equal(gpu.get(name), version, `${name} as in requirements.txt`);
        const nvidia = [...gpu.keys()].filter((n) => n.startsWith("nvidia-"));
        for (const n of nvidia) assert.match(n, /-cu12$/, `${n}: CUDA 12 wheels only (a CUDA 13 wheel needs a newer driver)`);
        for (const need of ["nvidia-cuda-runtime-cu12", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "nvidia-cufft-cu12", "nvidia-curand-cu12"])
            assert.ok(gpu.has(need), need);
        assert.match(gpu.get("nvidia-cudnn-cu12")!, /^9\./);
        assert.deepEqual(
            [...gpu.keys()].filter((n) => !runtime.has(n) && !n.startsWith("nvidia-")),
            ["onnxruntime-gpu"],
        );
    });
    it("has an allow-list .dockerignore that admits every context path the Dockerfile copies", () => {
        const rules = fs
            .readFileSync(path.join(SERVER_DIR, ".dockerignore"), "utf8")
            .split("\n")
            .map((l) => l.trim())
            .filter((l) => l && !l.startsWith("#"));
        assert.equal(rules[0], "*", "excludes everything by default");
        const allowed = rules.filter((r) => r.startsWith("!")).map((r) => r.slice(1).replace(/\/$/, ""));
        const contextSources = st.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === "COPY" && !fromFlag(i)).map((i) => args(i).slice(0, -1)));
        for (const src of contextSources.flat()) assert.ok(allowed.includes(src.replace(/\/$/, "")), `${src} is not admitted by .dockerignore`);
        for (const f of ["requirements.txt", "app/main.py", "app/model.py", "app/metrics.py", "app/__main__.py"]) {
            assert.ok(fs.existsSync(path.join(SERVER_DIR, f)), f);
        }
    });

    describe("the checker catches broken Dockerfiles", () => {
        const good = DOCKERFILE;
        const cases: Array<[string, string, RegExp]> = [
            [
                "a :latest base",
                good.replace("FROM python:3.11.14-slim-bookworm AS runtime", "FROM python:latest AS runtime"),
                /base python:latest is not pinned/,
            ],
            ["an untagged base", good.replace("FROM python:3.11.14-slim-bookworm AS weights", "FROM python AS weights"), /base python is untagged/],
            [
                "a floating minor tag",
                good.replace("FROM python:3.11.14-slim-bookworm AS builder", "FROM python:3.11-slim AS builder"),
                /python:3.11-slim is not pinned/,
            ],
            ["root user", good.replace("USER 10001:10001", "USER root"), /final stage runs as root/],
            ["uid 0", good.replace("USER 10001:10001", "USER 0:0"), /final stage runs as 0:0/],
            ["no USER", good.replace("USER 10001:10001\n", ""), /no USER/],
            [
                "weights before dependencies",
                good
                    .replace("COPY --from=weights /weights/ /models/\n", "")
                    .replace("COPY --from=builder /opt/venv /opt/venv", "COPY --from=weights /weights/ /models/\nCOPY --from=builder /opt/venv /opt/venv"),
                /weights are copied before the dependencies/,
            ],
            [
                "a layer after the weights",
                good.replace("ARG MODEL_VERSION", "RUN touch /tmp/x\nARG MODEL_VERSION"),
                /weights are not the last filesystem layer/,
            ],
            ["a single stage", "FROM python:3.11.14-slim-bookworm\nUSER 10001\nCOPY app/ /srv/app/\n", /multi-stage/],
        ];
        for (const [what, text, expected] of cases) {
            it(`flags ${what}`, () => {
                assert.notEqual(text, good, "the fixture edit applied");
                assert.ok(
                    check(text).some((p) => expected.test(p)),
                    check(text).join("; "),
                );
            });
        }
        it("a digest-pinned base passes", () => {
            const pinned = good.replace(/python:3\.11\.14-slim-bookworm/g, `python@sha256:${"ab".repeat(32)}`);
            assert.deepEqual(check(pinned), []);
        });
    });
});
