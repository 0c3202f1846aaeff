"""Writes the reference model's weights: a tiny logistic regression, deterministic by seed.

Run at image build time in its own stage; the resulting file is the image's last layer, so changing only the
weights (this script or its seed) rebuilds only that layer. The output is byte-for-byte reproducible: same seed,
same file, same layer digest.

    python make_weights.py --out /weights/model.json [--features 4] [--seed 20240601]
"""
import argparse
import json
import os
import random

FORMAT = "model-fleet/logreg-v1"


def make_weights(features: int, seed: int) -> dict:
    rng = random.Random(seed)
    return {
        "format": FORMAT,
        "features": features,
        "weights": [round(rng.uniform(-2.0, 2.0), 6) for _ in range(features)],
        "bias": round(rng.uniform(-0.5, 0.5), 6),
        "threshold": 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    if args.features < 1:
        parser.error("--features must be >= 1")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(make_weights(args.features, args.seed), f, sort_keys=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
