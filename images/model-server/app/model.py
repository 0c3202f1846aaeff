"""The model: a tiny logistic regression read from the weights file the image ships."""
import json
import math
from dataclasses import dataclass
from typing import Sequence, Tuple

FORMAT = "model-fleet/logreg-v1"


@dataclass(frozen=True)
class Model:
    features: int
    weights: Tuple[float, ...]
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: str) -> "Model":
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if raw.get("format") != FORMAT:
            raise ValueError(f"{path}: unsupported weights format {raw.get('format')!r}, expected {FORMAT!r}")
        weights = tuple(float(w) for w in raw["weights"])
        if len(weights) != int(raw["features"]) or not weights:
            raise ValueError(f"{path}: {len(weights)} weights for {raw['features']} features")
        return cls(features=len(weights), weights=weights, bias=float(raw["bias"]), threshold=float(raw["threshold"]))

    def predict(self, x: Sequence[float]) -> Tuple[int, float]:
        """Returns (label, score): score = sigmoid(w·x + b), label = score >= threshold."""
        if len(x) != self.features:
            raise ValueError(f"expected {self.features} features, got {len(x)}")
        z = self.bias + sum(w * v for w, v in zip(self.weights, x))
        # Numerically stable sigmoid.
        score = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return (1 if score >= self.threshold else 0), score
