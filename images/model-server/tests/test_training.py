"""The trained reference versions (training/): deterministic bytes, the held-out evaluation, the gap between the two
shipped versions, the strict spec, and the feedback path with the data set's TRUE labels through a real server."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO_ROOT, SERVER_DIR, VERSIONS_DIR, train

REFERENCE, OLDER = "digits/1.1.0", "digits/1.0.0"
STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))


def _max_accuracy_drops() -> dict:
    """stack file -> every maxAccuracyDrop it configures."""
    out = {}

    def walk(node, found):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "maxAccuracyDrop":
                    found.append(float(v))
                walk(v, found)
        elif isinstance(node, list):
            for v in node:
                walk(v, found)

    for f in STACK_FILES:
        found = []
        walk(yaml.safe_load(f.read_text()), found)
        out[f.name] = found
    return out


# --- determinism -------------------------------------------------------------------------------------------------
def test_the_same_spec_gives_the_same_bytes(trained, tmp_path):
    ref = trained[REFERENCE]
    again = train(ref.spec, tmp_path / "again")
    a, b = ref.model.read_bytes(), (again / "model.onnx").read_bytes()
    assert a == b, "training the same spec twice gives identical model.onnx bytes"
    assert hashlib.sha256(b).hexdigest() == ref.evaluation["artifact"]["sha256"]
    assert (again / "evaluation.json").read_bytes() == ref.dir.joinpath("evaluation.json").read_bytes(), (
        "evaluation.json is byte for byte the same too: the image's weights layer (all three files) has one digest"
    )
    assert (again / "card.json").read_bytes() == ref.dir.joinpath("card.json").read_bytes(), "and card.json"
    run2 = json.loads((again / "training-run.json").read_text())
    assert run2["started_at"] >= ref.run["started_at"], "only training-run.json records when it ran"
    for stamp in (ref.run["started_at"], ref.run["finished_at"], ref.run["started_at"][:10]):
        assert stamp.encode() not in a, f"no timestamp ({stamp}) in model.onnx"
        assert stamp not in ref.dir.joinpath("evaluation.json").read_text(), f"no timestamp ({stamp}) in evaluation.json"
        assert stamp not in ref.dir.joinpath("card.json").read_text(), f"no timestamp ({stamp}) in card.json"


def test_different_specs_give_different_bytes(trained):
    assert trained[REFERENCE].model.read_bytes() != trained[OLDER].model.read_bytes()


# --- evaluation --------------------------------------------------------------------------------------------------
def test_evaluation_records_metrics_split_dataset_and_spec(trained):
    import sklearn

    for key, t in trained.items():
        ev = t.evaluation
        assert ev["schema"] == "model-fleet/evaluation-v1"
        assert (ev["model"], ev["version"]) == tuple(key.split("/"))
        assert ev["spec"] == json.loads(t.spec.read_text()), "the training parameters are the spec, verbatim"
        m = ev["metrics"]
        assert 0.5 < m["accuracy"] <= 1.0 and 0.5 < m["macro_f1"] <= 1.0, m
        assert m["correct"] == round(m["accuracy"] * m["evaluated"]) and m["evaluated"] == ev["split"]["holdout_instances"]
        assert m["sklearn_agreement"] >= 0.99, "the ONNX export predicts what scikit-learn predicts"
        ds = ev["dataset"]
        assert (ds["name"], ds["package"], ds["package_version"]) == ("digits", "scikit-learn", sklearn.__version__)
        assert (ds["instances"], ds["features"], ds["classes"]) == (1797, 64, 10)
        assert ev["split"]["method"] == "stratified" and ev["split"]["holdout_instances"] == 450
        assert ev["artifact"]["sha256"] == hashlib.sha256(t.model.read_bytes()).hexdigest()
        assert ev["artifact"]["signature"] == {"input": "pixels", "features": 64, "probabilities": "probabilities", "label": "label", "classes": 10}
        assert "timing" not in ev
        run = t.run
        assert (run["model"], run["version"], run["artifact_sha256"]) == (ev["model"], ev["version"], ev["artifact"]["sha256"])
        assert run["started_at"] <= run["finished_at"] and run["seconds"] >= 0
    ref = trained[REFERENCE].evaluation
    assert ref["metrics"]["accuracy"] >= 0.95, "the reference version is a real classifier"
    assert ref["split"]["trained_on"] == ref["split"]["train_instances"] == 1347


def test_every_version_is_evaluated_on_the_same_held_out_split(trained):
    evs = [t.evaluation for t in trained.values()]
    assert len({e["split"]["holdout_sha256"] for e in evs}) == 1
    assert len({e["dataset"]["sha256"] for e in evs}) == 1


def test_holdout_file_is_the_split_whose_hash_the_evaluation_records(trained):
    from training.data import content_sha256

    t = trained[REFERENCE]
    h = t.holdout
    assert set(h) == {"dataset", "sha256", "features", "labels"} and h["dataset"] == "digits"
    x, y = np.asarray(h["features"], dtype=np.float64), np.asarray(h["labels"], dtype=np.int64)
    assert x.shape == (450, 64) and y.shape == (450,)
    assert content_sha256(x, y) == h["sha256"] == t.evaluation["split"]["holdout_sha256"], "recomputed from the JSON itself"
    from training.data import DATASETS

    _, y_all = DATASETS["digits"].load()
    expected = np.bincount(y_all) * 0.25
    assert np.all(np.abs(np.bincount(y, minlength=10) - expected) <= 1), "stratified: a quarter of each digit's images"
    assert trained[OLDER].holdout == h


def test_the_metrics_are_those_the_server_model_computes(trained):
    from app.model import Model

    t = trained[REFERENCE]
    model = Model.load(str(t.model))
    assert (model.features, model.classes, model.input_name) == (64, 10, "pixels")
    labels, probs = model.predict(np.asarray(t.holdout["features"], dtype=np.float32))
    assert probs.shape == (450, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert float((labels == np.asarray(t.holdout["labels"])).mean()) == t.evaluation["metrics"]["accuracy"]


def test_the_two_shipped_versions_differ_by_more_than_every_stacks_max_accuracy_drop(trained):
    drops = _max_accuracy_drops()
    assert STACK_FILES and any(drops.values()), drops
    gap = trained[REFERENCE].evaluation["metrics"]["accuracy"] - trained[OLDER].evaluation["metrics"]["accuracy"]
    assert gap >= 0.10, f"held-out accuracy gap {gap:.3f}: a live gate on a few hundred feedback samples must see it"
    for stack, values in drops.items():
        for drop in values:
            assert gap > drop, f"{stack}: maxAccuracyDrop {drop} >= the versions' gap {gap:.3f}"


# --- the spec ----------------------------------------------------------------------------------------------------
def test_shipped_specs_validate_and_are_named_by_their_path():
    from training.spec import load

    specs = sorted(VERSIONS_DIR.glob("*/*.json"))
    assert {f"{p.parent.name}/{p.stem}" for p in specs} >= {REFERENCE, OLDER}
    for p in specs:
        spec = load(p)
        assert (spec.model, spec.version) == (p.parent.name, p.stem)


GOOD = {"model": "digits", "version": "9.9.9", "dataset": "digits", "train_fraction": 0.5, "seed": 1,
        "estimator": {"kind": "logistic_regression", "C": 1.0, "max_iter": 100}}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"learning_rate": 0.1}, ["learning_rate: unknown key"]),
        ({"estimator": {**GOOD["estimator"], "penalty": "l1"}}, ["estimator.penalty: unknown key"]),
        ({"estimator": {"kind": "random_forest"}}, ["estimator.kind: expected one of logistic_regression, got 'random_forest'"]),
        ({"estimator": {"kind": "logistic_regression", "C": 1.0}}, ["estimator.max_iter: required"]),
        ({"train_fraction": 0}, ["train_fraction: expected a number in (0, 1], got 0"]),
        ({"train_fraction": True}, ["train_fraction: expected a number"]),
        ({"seed": 1.5}, ["seed: expected an integer"]),
        ({"dataset": "mnist"}, ["dataset: expected one of digits, got 'mnist'"]),
        ({"version": "1.0"}, ["version: expected MAJOR.MINOR.PATCH"]),
        ({"model": "Digits"}, ["model: expected a DNS label"]),
        ({"parent": "1.0"}, ["parent: expected MAJOR.MINOR.PATCH"]),
        ({"parent": None}, ["parent: expected MAJOR.MINOR.PATCH"]),
        ({"parent": "9.9.9"}, ["parent: expected a version older than version '9.9.9'"]),
        ({"parent": "10.0.0"}, ["parent: expected a version older than version '9.9.9'"]),
        # every problem at once, one per line
        ({"extra": 1, "seed": -1, "version": "x"}, ["extra: unknown key", "seed: expected an integer", "version: expected MAJOR.MINOR.PATCH"]),
    ],
)
def test_a_bad_spec_is_refused_listing_every_problem(change, expected):
    from training.spec import SpecError, validate

    with pytest.raises(SpecError) as e:
        validate({**GOOD, **change}, "x.json")
    assert len(e.value.problems) == len(expected), e.value.problems
    for want, got in zip(sorted(expected), sorted(e.value.problems)):
        assert got.startswith(want), (want, got)


def test_missing_keys_are_each_named():
    from training.spec import SpecError, validate

    with pytest.raises(SpecError) as e:
        validate({"model": "digits"}, "x.json")
    assert sorted(e.value.problems) == ["dataset: required", "estimator: required", "seed: required", "train_fraction: required", "version: required"]


def test_the_cli_refuses_a_bad_spec_with_a_clear_error_and_writes_nothing(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**GOOD, "estimator": {**GOOD["estimator"], "C": -1}, "typo": 1}))
    proc = subprocess.run([sys.executable, "-m", "training.build", "--spec", str(spec), "--out", str(tmp_path / "out")],
                          cwd=SERVER_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{spec}: invalid training spec (2 problems)" in proc.stderr
    assert "estimator.C: expected a number in (0, 1e6]" in proc.stderr and "typo: unknown key" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- the feedback path with true labels -----------------------------------------------------------------------------
@pytest.mark.parametrize("version", [REFERENCE, OLDER])
def test_feedback_with_true_labels_gives_the_held_out_accuracy(start_server, trained, version):
    """The real server on the trained model: every held-out instance through /predict, its TRUE label to /feedback;
    the server's counters and rolling accuracy equal the evaluation's accuracy on those instances."""
    t = trained[version]
    pod = "5f7d8c9b6"
    srv = start_server(MODEL_PATH=str(t.model), POD_TEMPLATE_HASH=pod, WEB_CONCURRENCY="2", ACCURACY_WINDOW="1000", MODEL_NAME="digits")
    x, y = t.holdout["features"], t.holdout["labels"]
    predictions = []
    for start in range(0, len(x), 100):
        status, body = srv.post("/predict", {"instances": x[start : start + 100]})
        assert status == 200, body
        predictions += body["predictions"]
    assert len(predictions) == len(y) == 450
    for p, label in zip(predictions, y):
        status, body = srv.post("/feedback", {"id": p["id"], "label": label})
        assert status == 200, body
        assert body["correct"] is (p["label"] == label)
    ev = t.evaluation["metrics"]
    correct = srv.value("model_server_feedback_total", served_by=pod, outcome="correct")
    incorrect = srv.value("model_server_feedback_total", served_by=pod, outcome="incorrect")
    assert (correct, incorrect) == (ev["correct"], ev["evaluated"] - ev["correct"])
    assert correct / (correct + incorrect) == pytest.approx(ev["accuracy"], abs=1e-12)
    assert srv.value("model_server_accuracy") == pytest.approx(ev["accuracy"], abs=1e-9)
    assert srv.value("model_server_accuracy_samples") == 450
    assert sum(v for n, l, v in srv.samples() if n == "model_server_predictions_total") == 450
    assert {int(l["label"]) for n, l, v in srv.samples() if n == "model_server_predictions_total" and v > 0} <= set(range(10))
