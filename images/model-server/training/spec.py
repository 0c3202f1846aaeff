"""The training spec: the versioned input of one model version (training/versions/<model>/<version>.json).

Strict, like a zod `.strict()` schema: every key is known, every value has its type and range, and ALL problems are
reported at once, one `path: message` per line. The spec is what makes a version: the same spec gives the same
model.onnx bytes (build.py), so the repository versions specs, never weights.

    {
      "model": "digits",                 # the model's name (a DNS label, as in the stacks' config)
      "version": "1.1.0",                # semver MAJOR.MINOR.PATCH, the image's MODEL_VERSION
      "description": "...",              # optional, free text
      "dataset": "digits",               # one of DATASETS (data.py): a labelled set shipped inside a PyPI wheel
      "train_fraction": 1.0,             # share of the training split used, (0, 1]; a stratified subsample
      "seed": 20240601,                  # random_state of the subsample and of the estimator
      "estimator": {"kind": "logistic_regression", "C": 1.0, "max_iter": 2000},
      "parent": "1.0.0"                  # optional: the OLDER version of the same model this one replaces or was
                                         # trained from (semver); the model card's `parent`, the lineage's edge
    }
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from .data import DATASETS

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
ESTIMATORS = {
    # kind -> {key: (type check, description)}; every key is required.
    "logistic_regression": {
        "C": (lambda v: _number(v) and 0 < v <= 1e6, "a number in (0, 1e6]: inverse regularisation strength"),
        "max_iter": (lambda v: _int(v) and 1 <= v <= 100_000, "an integer in [1, 100000]"),
    },
}
TOP = {"model", "version", "description", "dataset", "train_fraction", "seed", "estimator", "parent"}
REQUIRED = TOP - {"description", "parent"}


class SpecError(ValueError):
    """Every problem of a spec, one `path: message` per line."""

    def __init__(self, source: str, problems: List[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid training spec ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n"
                         + "\n".join(f"  - {p}" for p in problems))


def _int(v: Any) -> bool:
    return type(v) is int


def _semver(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))


def _number(v: Any) -> bool:
    return type(v) in (int, float) and v == v and v not in (float("inf"), float("-inf"))


@dataclass(frozen=True)
class Spec:
    model: str
    version: str
    dataset: str
    train_fraction: float
    seed: int
    estimator: Dict[str, Any]
    description: Optional[str] = None
    parent: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "dataset": self.dataset,
            "train_fraction": self.train_fraction,
            "seed": self.seed,
            "estimator": dict(self.estimator),
        }
        if self.description is not None:
            out["description"] = self.description
        if self.parent is not None:
            out["parent"] = self.parent
        return out

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace: the bytes whose sha256 names the spec."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))


def _unknown(path: str, keys: List[str], allowed: set) -> List[str]:
    return [f"{path}{k}: unknown key (allowed: {', '.join(sorted(allowed))})" for k in sorted(set(keys) - allowed)]


def validate(raw: Any, source: str = "spec") -> Spec:
    """The Spec, or SpecError listing every problem."""
    if not isinstance(raw, dict):
        raise SpecError(source, [f"(root): expected a JSON object, got {type(raw).__name__}"])
    problems = _unknown("", list(raw), TOP)
    problems += [f"{k}: required" for k in sorted(REQUIRED - set(raw))]
    if "model" in raw and not (isinstance(raw["model"], str) and NAME.match(raw["model"])):
        problems.append(f"model: expected a DNS label (lowercase letters, digits, '-'), got {raw['model']!r}")
    if "version" in raw and not (isinstance(raw["version"], str) and SEMVER.match(raw["version"])):
        problems.append(f"version: expected MAJOR.MINOR.PATCH, got {raw['version']!r}")
    if "description" in raw and not isinstance(raw["description"], str):
        problems.append(f"description: expected a string, got {type(raw['description']).__name__}")
    if "parent" in raw:
        parent = raw["parent"]
        if not (isinstance(parent, str) and SEMVER.match(parent)):
            problems.append(f"parent: expected MAJOR.MINOR.PATCH (the version this one replaces), got {parent!r}")
        elif isinstance(raw.get("version"), str) and SEMVER.match(raw["version"]) and _semver(parent) >= _semver(raw["version"]):
            # Older only: a lineage has no cycles, and a version is never its own parent.
            problems.append(f"parent: expected a version older than version {raw['version']!r}, got {parent!r}")
    if "dataset" in raw and raw["dataset"] not in DATASETS:
        problems.append(f"dataset: expected one of {', '.join(sorted(DATASETS))}, got {raw['dataset']!r}")
    if "train_fraction" in raw and not (_number(raw["train_fraction"]) and 0 < raw["train_fraction"] <= 1):
        problems.append(f"train_fraction: expected a number in (0, 1], got {raw['train_fraction']!r}")
    if "seed" in raw and not (_int(raw["seed"]) and 0 <= raw["seed"] < 2**32):
        problems.append(f"seed: expected an integer in [0, 2^32), got {raw['seed']!r}")
    est = raw.get("estimator")
    if "estimator" in raw:
        if not isinstance(est, dict):
            problems.append(f"estimator: expected an object, got {type(est).__name__}")
        elif est.get("kind") not in ESTIMATORS:
            problems.append(f"estimator.kind: expected one of {', '.join(sorted(ESTIMATORS))}, got {est.get('kind')!r}")
        else:
            fields = ESTIMATORS[est["kind"]]
            problems += _unknown("estimator.", list(est), set(fields) | {"kind"})
            for key, (check, what) in fields.items():
                if key not in est:
                    problems.append(f"estimator.{key}: required for kind {est['kind']!r}")
                elif not check(est[key]):
                    problems.append(f"estimator.{key}: expected {what}, got {est[key]!r}")
    if problems:
        raise SpecError(source, problems)
    return Spec(
        model=raw["model"],
        version=raw["version"],
        dataset=raw["dataset"],
        train_fraction=float(raw["train_fraction"]),
        seed=raw["seed"],
        estimator=dict(est),
        description=raw.get("description"),
        parent=raw.get("parent"),
    )


def load(path: Union[str, Path]) -> Spec:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as e:
        raise SpecError(str(path), [f"(file): {e.strerror or e}"]) from None
    except ValueError as e:
        raise SpecError(str(path), [f"(file): not valid JSON: {e}"]) from None
    return validate(raw, str(path))
