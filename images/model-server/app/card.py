"""The version's model card, read once per worker at start: card.json beside the weights (training/build.py writes it
in the image's weights stage; schema model-fleet/model-card-build-v1, the build-time part of the signed
model-fleet/model-card-v1 card, docs/model-server.md), exposed as two series:

- model_server_model_lineage_info{model, version, parent, dataset, dataset_version, git_sha, training_spec, card} 1
  (model, version and git_sha from MODEL_NAME, MODEL_VERSION and GIT_SHA as model_server_model_info; the others
  from the card; card = present | missing | invalid | mismatch);
- model_server_model_heldout_accuracy{split} = the card's held-out accuracy (only when the card is present).

A card for another model or version than the server runs (MODEL_NAME, MODEL_VERSION) is `mismatch`: its lineage
would be another version's (a stack deploying the reference image under its own name and version), so the labels
stay empty and no held-out accuracy is published. A missing card is allowed (a foreign model brought without one): the lineage labels are empty and the log says so.
An unreadable or malformed card is logged as an error and treated as missing: the card is metadata, the model still
serves. Path: MODEL_CARD_PATH, default card.json in the directory of MODEL_PATH.
"""
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any, List, Optional

from . import metrics

SCHEMA = "model-fleet/model-card-build-v1"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")

log = logging.getLogger("model_server.card")


@dataclass(frozen=True)
class Card:
    """What the server uses of a card; every field "" when there is none (status missing or invalid)."""

    status: str  # present | missing | invalid | mismatch
    model: str = ""
    version: str = ""
    parent: str = ""
    dataset: str = ""
    dataset_version: str = ""
    training_spec: str = ""
    split: str = ""
    accuracy: Optional[float] = None


def card_path(model_path: str) -> str:
    return os.environ.get("MODEL_CARD_PATH", "").strip() or os.path.join(os.path.dirname(model_path), "card.json")


def _problems(raw: Any) -> List[str]:
    """Every problem of the fields the server reads, one `path: message` each (the full schema is checked at build
    and signing time; here only what the metrics need)."""
    if not isinstance(raw, dict):
        return [f"(root): expected a JSON object, got {type(raw).__name__}"]
    out: List[str] = []

    def obj(key: str) -> dict:
        v = raw.get(key)
        if not isinstance(v, dict):
            out.append(f"{key}: expected an object, got {type(v).__name__}")
            return {}
        return v

    def string(path: str, v: Any, pattern: Optional["re.Pattern[str]"] = None, nullable: bool = False) -> None:
        if v is None and nullable:
            return
        if not isinstance(v, str) or not v or (pattern is not None and not pattern.match(v)):
            what = {SEMVER: "MAJOR.MINOR.PATCH", SHA256: "64 lowercase hex digits"}.get(pattern, "a non-empty string")  # type: ignore[arg-type]
            out.append(f"{path}: expected {what}{' or null' if nullable else ''}, got {v!r}")

    if raw.get("schema") != SCHEMA:
        out.append(f"schema: expected {SCHEMA!r}, got {raw.get('schema')!r}")
    string("model", raw.get("model"))
    string("version", raw.get("version"), SEMVER)
    string("parent", raw.get("parent"), SEMVER, nullable=True)
    ds = obj("dataset")
    if ds:
        string("dataset.name", ds.get("name"))
        string("dataset.version", ds.get("version"))
        string("dataset.sha256", ds.get("sha256"), SHA256)
    training = obj("training")
    if training:
        string("training.spec", training.get("spec"), nullable=True)
    m = obj("metrics")
    if m:
        acc = m.get("accuracy")
        if not (type(acc) in (int, float) and math.isfinite(acc) and 0 <= acc <= 1):
            out.append(f"metrics.accuracy: expected a number in [0, 1], got {acc!r}")
    split = obj("split")
    if split:
        string("split.sha256", split.get("sha256"), SHA256)
    return out


def read(path: str) -> Card:
    """The card at `path`, or Card("missing") if there is none, or Card("invalid") (logged) if it cannot be used."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read())
    except FileNotFoundError:
        log.info("no model card at %s (a model brought without one): lineage labels empty, no held-out accuracy", path)
        return Card("missing")
    except (OSError, ValueError) as e:
        log.error("model card %s is unreadable (%s): treated as missing", path, e)
        return Card("invalid")
    problems = _problems(raw)
    if problems:
        log.error("model card %s is invalid, treated as missing: %s", path, "; ".join(problems))
        return Card("invalid")
    return Card(
        status="present",
        model=raw["model"],
        version=raw["version"],
        parent=raw.get("parent") or "",
        dataset=raw["dataset"]["name"],
        dataset_version=raw["dataset"]["version"],
        training_spec=raw["training"].get("spec") or "",
        split=raw["split"]["sha256"],
        accuracy=float(raw["metrics"]["accuracy"]),
    )


def publish(model_path: str, model: str, version: str, git_sha: str) -> Card:
    """Reads the card beside the weights and sets the lineage series. Never raises: a card problem is logged."""
    path = card_path(model_path)
    try:
        return _publish(path, read(path), model, version, git_sha)
    except Exception as e:  # noqa: BLE001 - metadata must never stop the model from loading
        log.error("model card %s could not be used (%s: %s): treated as missing", path, type(e).__name__, e)
        return _publish(path, Card("invalid"), model, version, git_sha)


def _publish(path: str, card: Card, model: str, version: str, git_sha: str) -> Card:
    if card.status == "present" and (card.model, card.version) != (model, version):
        log.warning("model card %s describes %s %s, the server runs %s %s (MODEL_NAME, MODEL_VERSION): its lineage is "
                    "not this version's, so none is published (card=\"mismatch\")", path, card.model, card.version, model, version or "-")
        card = Card("mismatch")
    if card.status == "present":
        metrics.MODEL_HELDOUT_ACCURACY.labels(split=card.split).set(card.accuracy)
        log.info("model card %s: %s %s, parent %s, data set %s %s, held-out accuracy %.4f", path, card.model, card.version,
                 card.parent or "-", card.dataset, card.dataset_version, card.accuracy)
    metrics.MODEL_LINEAGE.labels(
        model=model, version=version, parent=card.parent, dataset=card.dataset, dataset_version=card.dataset_version,
        git_sha=git_sha, training_spec=card.training_spec, card=card.status,
    ).set(1)
    return card
