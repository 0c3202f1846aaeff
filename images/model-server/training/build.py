"""Trains one model version from its spec, exports it to ONNX deterministically, evaluates it on the fixed held-out
split, and writes DIR/model.onnx + DIR/evaluation.json + DIR/card.json (all three deterministic), DIR/training-run.json
(when it ran) and optionally the held-out split as JSON.

    cd images/model-server
    python -m training.build --spec training/versions/digits/1.1.0.json --out DIR [--holdout FILE]

Determinism: one BLAS/OpenMP thread (training/__init__.py sets the variables before numpy loads; the fit also runs
under threadpoolctl's limit of 1), a fixed random_state, a fixed ONNX opset and graph name (skl2onnx would
otherwise name the graph with a random uuid), no timestamp in the file, SerializeToString(deterministic=True).
The same spec with the same locked packages (requirements-training.txt) gives the same bytes, for model.onnx,
evaluation.json and card.json, so the image's weights layer (the three files, mtimes fixed) has the same digest on
every build.

card.json is the build-time part of the version's model card (schema model-fleet/model-card-build-v1; the signed
card, model-fleet/model-card-v1, adds the git sha, training times and image digest: docs/model-card.md):
model, version, data set, training spec, held-out metrics and split, parent. What differs per build (when it trained,
the git sha, the image digest) is NOT in it: those join the card outside the weights layer.
The run's timing goes to training-run.json, which the image's weights stage prints to the build log and does not copy.

The metrics are those of the EXPORTED bytes run by onnxruntime (the server's runtime, same version as
requirements.txt), predicting the argmax of the probabilities output as the server does; `sklearn_agreement` is
the share of held-out instances where scikit-learn's own prediction is the same.
"""
import argparse
import hashlib
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional

from . import spec as specs  # first: training/__init__.py pins the BLAS threads before numpy loads
from .data import DATASETS, content_sha256, split

import numpy as np  # noqa: E402  (after the thread pinning, on purpose)

SIGNATURE_KEY = "model_fleet.signature"
INPUT_NAME = "pixels"
OPSET = {"": 17, "ai.onnx.ml": 3}
EVALUATION_SCHEMA = "model-fleet/evaluation-v1"
CARD_SCHEMA = "model-fleet/model-card-build-v1"


def _estimator(spec: specs.Spec):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = spec.estimator
    if est["kind"] == "logistic_regression":
        clf = LogisticRegression(C=float(est["C"]), max_iter=int(est["max_iter"]), solver="lbfgs", random_state=spec.seed)
    else:  # spec.validate() admits only the kinds above
        raise ValueError(f"unknown estimator kind {est['kind']!r}")
    return Pipeline([("scale", StandardScaler()), ("classify", clf)])


def _subsample(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    if fraction >= 1.0:
        return x, y
    from sklearn.model_selection import train_test_split

    n = max(int(round(len(y) * fraction)), len(np.unique(y)))  # stratified: at least one instance per class
    x_sub, _, y_sub, _ = train_test_split(x, y, train_size=n, random_state=seed, stratify=y)
    return x_sub, y_sub


def export_onnx(pipeline, spec: specs.Spec, features: int, classes: int, dataset_sha: str) -> bytes:
    """The deterministic ONNX bytes of a fitted pipeline, with the model_fleet.signature metadata."""
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = to_onnx(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, features]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset=OPSET,
        name=f"{spec.model}_{spec.version}",
    )
    outputs = [o.name for o in model.graph.output]
    if outputs != ["label", "probabilities"]:
        raise RuntimeError(f"skl2onnx produced outputs {outputs}, expected ['label', 'probabilities'] (zipmap=False)")
    signature = {"input": INPUT_NAME, "features": features, "probabilities": "probabilities", "label": "label", "classes": classes}
    props = {
        SIGNATURE_KEY: json.dumps(signature, sort_keys=True, separators=(",", ":")),
        "model_fleet.model": spec.model,
        "model_fleet.version": spec.version,
        "model_fleet.spec_sha256": hashlib.sha256(spec.canonical_json().encode()).hexdigest(),
        "model_fleet.dataset_sha256": dataset_sha,
    }
    del model.metadata_props[:]
    for k in sorted(props):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, props[k]
    model.doc_string = f"model-fleet {spec.model} {spec.version}: trained by training/build.py from its spec"
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def evaluate_onnx(data: bytes, x: np.ndarray, y: np.ndarray, classes: int) -> Dict[str, Any]:
    """Accuracy and macro-F1 of the exported bytes, run by onnxruntime as the server runs them."""
    import onnxruntime as ort
    from sklearn.metrics import accuracy_score, f1_score

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    probs = sess.run(["probabilities"], {INPUT_NAME: x.astype(np.float32)})[0]
    pred = probs.argmax(axis=1)
    return {
        "pred": pred,
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(classes)))),
        "correct": int((pred == y).sum()),
    }


def _versions() -> Dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "scipy"):
        out[pkg] = version(pkg)
    return out


def model_card(evaluation: Dict[str, Any], spec: specs.Spec) -> Dict[str, Any]:
    """The build-time part of the model card, from the evaluation of the exported bytes (nothing is invented).
    Deterministic: no time, no git sha, no digest (those differ per build; they join the card outside the layer)."""
    ds, sp, m = evaluation["dataset"], evaluation["split"], evaluation["metrics"]
    return {
        "schema": CARD_SCHEMA,
        "model": evaluation["model"],
        "version": evaluation["version"],
        # A data set shipped inside a wheel is versioned by the package release that ships it.
        "dataset": {"name": ds["name"], "version": f"{ds['package']}=={ds['package_version']}", "sha256": ds["sha256"]},
        # The spec's id, <model>/<version> (training/versions/<id>.json), as the full card and the rehearsals name it.
        "training": {"spec": f"{spec.model}/{spec.version}"},
        "metrics": {"accuracy": m["accuracy"], "macroF1": m["macro_f1"]},
        "split": {"sha256": sp["holdout_sha256"], "instances": sp["holdout_instances"]},
        "parent": spec.parent,
    }


def build(spec: specs.Spec, out_dir: Path, holdout: Optional[Path] = None) -> Dict[str, Any]:
    from threadpoolctl import threadpool_limits

    started = time.time()
    t0 = time.perf_counter()
    ds = DATASETS[spec.dataset]
    x, y = ds.load()
    classes = int(len(np.unique(y)))
    features = int(x.shape[1])
    dataset_sha = content_sha256(x, y)
    s = split(ds, x, y)
    holdout_sha = content_sha256(s.x_holdout, s.y_holdout)
    x_fit, y_fit = _subsample(s.x_train, s.y_train, spec.train_fraction, spec.seed)
    pipeline = _estimator(spec)
    with threadpool_limits(limits=1):
        pipeline.fit(x_fit, y_fit)
    data = export_onnx(pipeline, spec, features, classes, dataset_sha)
    fitted_classes = pipeline.classes_.tolist()
    if fitted_classes != list(range(classes)):
        raise RuntimeError(f"the fitted classes are {fitted_classes}, expected 0..{classes - 1}: the subsample missed a class")
    ev = evaluate_onnx(data, s.x_holdout, s.y_holdout, classes)
    sk_pred = pipeline.predict(s.x_holdout)
    from importlib.metadata import version

    evaluation = {
        "schema": EVALUATION_SCHEMA,
        "model": spec.model,
        "version": spec.version,
        "spec": spec.as_dict(),
        "spec_sha256": hashlib.sha256(spec.canonical_json().encode()).hexdigest(),
        "dataset": {
            "name": ds.name,
            "loader": ds.loader,
            "package": ds.package,
            "package_version": version(ds.package),
            "instances": int(len(y)),
            "features": features,
            "classes": classes,
            "sha256": dataset_sha,
        },
        "split": {
            "method": "stratified",
            "holdout_fraction": ds.holdout_fraction,
            "seed": ds.holdout_seed,
            "train_instances": int(len(s.y_train)),
            "trained_on": int(len(y_fit)),
            "holdout_instances": int(len(s.y_holdout)),
            "holdout_sha256": holdout_sha,
        },
        "metrics": {
            "accuracy": ev["accuracy"],
            "macro_f1": ev["macro_f1"],
            "correct": ev["correct"],
            "evaluated": int(len(s.y_holdout)),
            "evaluated_with": "onnxruntime (model.onnx, argmax of the probabilities output)",
            "sklearn_agreement": float((sk_pred == ev["pred"]).mean()),
        },
        "artifact": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "signature_key": SIGNATURE_KEY,
            "signature": {"input": INPUT_NAME, "features": features, "probabilities": "probabilities", "label": "label", "classes": classes},
        },
        "toolchain": _versions(),
    }
    run = {
        "schema": "model-fleet/training-run-v1",
        "model": evaluation["model"],
        "version": evaluation["version"],
        "artifact_sha256": evaluation["artifact"]["sha256"],
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="milliseconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.onnx").write_bytes(data)
    (out_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
    card = model_card(evaluation, spec)
    (out_dir / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out_dir / "training-run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    evaluation = {**evaluation, "timing": run}
    if holdout is not None:
        holdout.parent.mkdir(parents=True, exist_ok=True)
        holdout.write_text(json.dumps({
            "dataset": ds.name,
            "sha256": holdout_sha,
            "features": s.x_holdout.tolist(),
            "labels": s.y_holdout.tolist(),
        }, separators=(",", ":")) + "\n")
    return evaluation


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.build", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="training/versions/<model>/<version>.json")
    parser.add_argument("--out", required=True, help="directory for model.onnx, evaluation.json and card.json")
    parser.add_argument("--holdout", help="also write the held-out split here as JSON")
    args = parser.parse_args(argv)
    try:
        spec = specs.load(args.spec)
    except specs.SpecError as e:
        print(e, file=sys.stderr)
        return 2
    ev = build(spec, Path(args.out), Path(args.holdout) if args.holdout else None)
    m = ev["metrics"]
    print(f"{spec.model} {spec.version}: held-out accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} "
          f"({m['correct']}/{m['evaluated']}), trained on {ev['split']['trained_on']} instances in {ev['timing']['seconds']}s; "
          f"model.onnx sha256 {ev['artifact']['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
