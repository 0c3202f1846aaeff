"""Writes the reference model: a tiny two-class MLP as an ONNX graph, deterministic by seed.

Run at image build time in its own stage (the resulting file is the image's last layer, so changing only the
weights rebuilds only that layer) and by the tests, into a temp dir, with the same arguments. No download: the
weights come from a seeded PRNG (Python's `random`, whose stream is stable across versions), the graph is built
with the `onnx` package's helper API. Same seed, same bytes, same layer digest.

    python make_weights.py --out /weights/model.onnx [--features 4] [--hidden 16] [--seed 20240601]

Graph (opset 17, IR 8, so older runtimes load it too):
    features float32[N, F] -> Gemm(W1, b1) -> Relu -> Gemm(W2, b2) -> Softmax -> probabilities float32[N, 2]
metadata_props: format=model-fleet/mlp-onnx-v1, features=F, classes=2 (the server refuses any other format).
"""
import argparse
import os
import random
from typing import List

FORMAT = "model-fleet/mlp-onnx-v1"
INPUT = "features"
OUTPUT = "probabilities"
CLASSES = 2
OPSET = 17
IR_VERSION = 8


def _matrix(rng: random.Random, rows: int, cols: int, scale: float) -> List[float]:
    return [round(rng.uniform(-scale, scale), 6) for _ in range(rows * cols)]


def make_model(features: int = 4, hidden: int = 16, seed: int = 20240601):
    """The ModelProto (imported lazily so the server never needs the `onnx` package)."""
    from onnx import TensorProto, helper

    if features < 1 or hidden < 1:
        raise ValueError("features and hidden must be >= 1")
    rng = random.Random(seed)
    w1 = _matrix(rng, features, hidden, 1.5)
    b1 = _matrix(rng, 1, hidden, 0.5)
    w2 = _matrix(rng, hidden, CLASSES, 1.5)
    b2 = _matrix(rng, 1, CLASSES, 0.25)
    inits = [
        helper.make_tensor("W1", TensorProto.FLOAT, [features, hidden], w1),
        helper.make_tensor("B1", TensorProto.FLOAT, [hidden], b1),
        helper.make_tensor("W2", TensorProto.FLOAT, [hidden, CLASSES], w2),
        helper.make_tensor("B2", TensorProto.FLOAT, [CLASSES], b2),
    ]
    nodes = [
        helper.make_node("Gemm", [INPUT, "W1", "B1"], ["h_pre"], name="dense1"),
        helper.make_node("Relu", ["h_pre"], ["h"], name="relu1"),
        helper.make_node("Gemm", ["h", "W2", "B2"], ["logits"], name="dense2"),
        helper.make_node("Softmax", ["logits"], [OUTPUT], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "model_fleet_reference_mlp",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="model-fleet/make_weights.py",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, {"format": FORMAT, "features": str(features), "classes": str(CLASSES), "seed": str(seed)})
    return model


def write(out: str, features: int = 4, hidden: int = 16, seed: int = 20240601) -> str:
    import onnx

    model = make_model(features, hidden, seed)
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    if args.features < 1 or args.hidden < 1:
        parser.error("--features and --hidden must be >= 1")
    write(args.out, args.features, args.hidden, args.seed)


if __name__ == "__main__":
    main()
