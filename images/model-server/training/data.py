"""Data sets shipped inside PyPI wheels (nothing is downloaded), their fixed held-out split, and content hashes.

The split is part of the data set, not of a spec: every version of a model is evaluated on the SAME held-out
instances (stratified, fixed seed), so two versions' metrics are comparable and the split's hash proves it.

Canonical bytes (what the sha256 values hash): the features as little-endian float64, row-major, followed by the
labels as little-endian int64. A client can recompute them from the holdout JSON (e.g. a Float64Array and a
BigInt64Array over the same numbers).
"""
import hashlib
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import numpy as np


@dataclass(frozen=True)
class Dataset:
    name: str
    loader: str  # what ships it, for the evaluation record
    package: str
    holdout_fraction: float
    holdout_seed: int
    load: Callable[[], Tuple[np.ndarray, np.ndarray]]


def _digits() -> Tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


DATASETS: Dict[str, Dataset] = {
    # UCI optical recognition of handwritten digits, 1797 8x8 images (64 pixel intensities 0..16), 10 classes.
    "digits": Dataset("digits", "sklearn.datasets.load_digits", "scikit-learn", 0.25, 0, _digits),
}


def content_sha256(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray


def split(ds: Dataset, x: np.ndarray, y: np.ndarray) -> Split:
    """The fixed stratified held-out split of the data set."""
    from sklearn.model_selection import train_test_split

    x_tr, x_ho, y_tr, y_ho = train_test_split(x, y, test_size=ds.holdout_fraction, random_state=ds.holdout_seed, stratify=y)
    return Split(x_tr, y_tr, x_ho, y_ho)
