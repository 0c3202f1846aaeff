"""The model card's build-time part (training/build.py writes card.json beside model.onnx) and what the server makes of
it (app/card.py): the lineage info series and the held-out accuracy gauge, with a card, without one, with a bad one."""
import json
import subprocess
import sys

import pytest

from conftest import SERVER_DIR, VERSIONS_DIR

REFERENCE, OLDER = "digits/1.1.0", "digits/1.0.0"
CARD_KEYS = {"schema", "model", "version", "dataset", "training", "metrics", "split", "parent"}


# --- the card the build writes -------------------------------------------------------------------------------------
def test_the_card_has_exactly_the_schema_keys_and_matches_the_evaluation(trained):
    for key, t in trained.items():
        card, ev = t.card, t.evaluation
        assert set(card) == CARD_KEYS, sorted(card)
        assert card["schema"] == "model-fleet/model-card-build-v1"
        assert (card["model"], card["version"]) == (ev["model"], ev["version"]) == tuple(key.split("/"))
        assert card["dataset"] == {
            "name": ev["dataset"]["name"],
            "version": f"{ev['dataset']['package']}=={ev['dataset']['package_version']}",
            "sha256": ev["dataset"]["sha256"],
        }
        assert card["training"] == {"spec": key}, "the spec's id, <model>/<version>, as the full card names it"
        assert (SERVER_DIR / "training" / "versions" / f"{card['training']['spec']}.json").resolve() == t.spec.resolve()
        assert card["metrics"] == {"accuracy": ev["metrics"]["accuracy"], "macroF1": ev["metrics"]["macro_f1"]}
        assert card["split"] == {"sha256": ev["split"]["holdout_sha256"], "instances": ev["split"]["holdout_instances"]}
        assert card["parent"] == json.loads(t.spec.read_text()).get("parent")


def test_the_reference_versions_parent_is_the_older_version(trained):
    assert trained[REFERENCE].card["parent"] == "1.0.0"
    assert trained[OLDER].card["parent"] is None, "1.0.0 is a root: parent null, not absent"
    assert trained[REFERENCE].evaluation["spec"]["parent"] == "1.0.0", "the spec records it verbatim"


def test_the_card_holds_nothing_per_build(trained):
    """No time, git sha or digest: those differ per build (test_training.py trains the spec twice: same bytes)."""
    ref = trained[REFERENCE]
    text = ref.dir.joinpath("card.json").read_text()
    for per_build in (ref.run["started_at"][:10], ref.run["finished_at"][:16], ref.evaluation["artifact"]["sha256"], "sha256:", '"git', "digest"):
        assert per_build not in text, per_build
    assert text == json.dumps(ref.card, indent=2, sort_keys=True) + "\n", "sorted keys, 2-space indent, one newline"


def test_the_card_names_the_spec_by_its_id_wherever_the_file_is():
    from training import build, spec

    s = spec.load(VERSIONS_DIR / "digits" / "1.0.0.json")
    ev = {"model": "digits", "version": "1.0.0", "dataset": {"name": "d", "package": "p", "package_version": "1", "sha256": "a" * 64},
          "split": {"holdout_sha256": "b" * 64, "holdout_instances": 3}, "metrics": {"accuracy": 0.5, "macro_f1": 0.4}}
    card = build.model_card(ev, s)
    assert card["training"] == {"spec": "digits/1.0.0"} and card["parent"] is None and card["dataset"]["version"] == "p==1"


def test_a_valid_parent_is_kept_by_the_spec():
    from training.spec import validate

    raw = {"model": "digits", "version": "2.0.0", "dataset": "digits", "train_fraction": 0.5, "seed": 1,
           "estimator": {"kind": "logistic_regression", "C": 1.0, "max_iter": 100}, "parent": "1.10.3"}
    s = validate(raw)
    assert s.parent == "1.10.3" and s.as_dict()["parent"] == "1.10.3"
    assert "parent" not in validate({k: v for k, v in raw.items() if k != "parent"}).as_dict()


# --- app/card.py: reading a card -------------------------------------------------------------------------------------
def test_read_a_present_missing_and_invalid_card(trained, tmp_path):
    from app import card

    got = card.read(str(trained[REFERENCE].dir / "card.json"))
    c = trained[REFERENCE].card
    assert got == card.Card(status="present", model="digits", version="1.1.0", parent="1.0.0", dataset="digits",
                            dataset_version=c["dataset"]["version"], training_spec="digits/1.1.0",
                            split=c["split"]["sha256"], accuracy=c["metrics"]["accuracy"])
    assert card.read(str(trained[OLDER].dir / "card.json")).parent == ""
    assert card.read(str(tmp_path / "none.json")) == card.Card("missing")
    (tmp_path / "bad.json").write_text("{not json")
    assert card.read(str(tmp_path / "bad.json")) == card.Card("invalid")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"schema": "model-fleet/model-card-v1"}, "schema: expected 'model-fleet/model-card-build-v1'"),
        ({"parent": "1.0"}, "parent: expected MAJOR.MINOR.PATCH or null"),
        ({"metrics": {"accuracy": 1.5, "macroF1": 0.9}}, "metrics.accuracy: expected a number in [0, 1]"),
        ({"metrics": {"accuracy": True}}, "metrics.accuracy: expected a number in [0, 1]"),
        ({"dataset": {"name": "digits", "version": "", "sha256": "a" * 64}}, "dataset.version: expected a non-empty string"),
        ({"split": {"sha256": "ABC", "instances": 1}}, "split.sha256: expected 64 lowercase hex digits"),
        ({"training": "x"}, "training: expected an object"),
    ],
)
def test_an_invalid_card_names_the_problem(trained, change, problem):
    from app import card

    problems = card._problems({**trained[REFERENCE].card, **change})
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_card_path_defaults_to_beside_the_model(monkeypatch):
    from app import card

    monkeypatch.delenv("MODEL_CARD_PATH", raising=False)
    assert card.card_path("/models/model.onnx") == "/models/card.json"
    monkeypatch.setenv("MODEL_CARD_PATH", "/etc/card/x.json")
    assert card.card_path("/models/model.onnx") == "/etc/card/x.json"


# --- the server's series ---------------------------------------------------------------------------------------------
def _lineage(srv):
    return [(labels, v) for n, labels, v in srv.samples() if n == "model_server_model_lineage_info"]


def test_the_server_exposes_its_lineage_and_held_out_accuracy(start_server, trained):
    t = trained[REFERENCE]
    srv = start_server(MODEL_PATH=str(t.model), MODEL_NAME="digits", MODEL_VERSION="1.1.0", GIT_SHA="0123abc", WEB_CONCURRENCY="2")
    assert _lineage(srv) == [({
        "model": "digits", "version": "1.1.0", "parent": "1.0.0", "dataset": "digits", "dataset_version": t.card["dataset"]["version"],
        "git_sha": "0123abc", "training_spec": "digits/1.1.0", "card": "present",
    }, 1.0)], "one series for the pod (livemax over its 2 workers)"
    held = [(labels, v) for n, labels, v in srv.samples() if n == "model_server_model_heldout_accuracy"]
    assert held == [({"split": t.evaluation["split"]["holdout_sha256"]}, t.evaluation["metrics"]["accuracy"])]
    assert "parent 1.0.0" in srv.log()


def test_without_a_card_the_lineage_labels_are_empty_and_it_is_logged(start_server, model_file):
    srv = start_server(MODEL_NAME="sentiment", MODEL_VERSION="2.2.0", GIT_SHA="0123abc")
    assert _lineage(srv) == [({
        "model": "sentiment", "version": "2.2.0", "parent": "", "dataset": "", "dataset_version": "", "git_sha": "0123abc",
        "training_spec": "", "card": "missing",
    }, 1.0)]
    assert not [n for n, _, _ in srv.samples() if n == "model_server_model_heldout_accuracy"], "no card, no held-out accuracy"
    assert f"no model card at {model_file.parent / 'card.json'}" in srv.log()
    assert srv.get("/ready")[0] == 200, "a foreign model without a card serves"


def test_a_card_for_another_model_or_version_publishes_no_lineage(start_server, trained):
    """The shipped stacks deploy the reference image (the digits card) as sentiment 2.2.0: its lineage is not theirs."""
    t = trained[REFERENCE]
    srv = start_server(MODEL_PATH=str(t.model), MODEL_NAME="sentiment", MODEL_VERSION="2.2.0", GIT_SHA="0123abc")
    assert _lineage(srv) == [({
        "model": "sentiment", "version": "2.2.0", "parent": "", "dataset": "", "dataset_version": "", "git_sha": "0123abc",
        "training_spec": "", "card": "mismatch",
    }, 1.0)]
    assert not [n for n, _, _ in srv.samples() if n == "model_server_model_heldout_accuracy"], "not this version's held-out accuracy"
    assert "describes digits 1.1.0, the server runs sentiment 2.2.0" in srv.log()


def test_an_invalid_card_is_logged_and_the_model_still_serves(start_server, trained, tmp_path):
    bad = tmp_path / "card.json"
    bad.write_text(json.dumps({**trained[REFERENCE].card, "metrics": {"accuracy": "high"}}))
    srv = start_server(MODEL_CARD_PATH=str(bad), MODEL_NAME="m", MODEL_VERSION="1.0.0")
    [(labels, _)] = _lineage(srv)
    assert labels["card"] == "invalid" and labels["parent"] == "" and labels["dataset"] == ""
    assert "metrics.accuracy: expected a number in [0, 1], got 'high'" in srv.log()
    assert srv.get("/ready")[0] == 200


def test_the_cli_writes_the_same_card_whatever_form_the_spec_path_takes(trained, tmp_path):
    """As the weights stage runs it (a path relative to the context); the session's fixture passed an absolute path."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "training.build", "--spec", "training/versions/digits/1.0.0.json", "--out", str(out)],
                          cwd=SERVER_DIR, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "evaluation.json", "model.onnx", "training-run.json"]
    assert (out / "card.json").read_bytes() == (trained[OLDER].dir / "card.json").read_bytes()
