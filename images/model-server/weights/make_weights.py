"""Test fixture: a hand-built ONNX classifier (NOT scikit-learn, NOT the trained reference model) with a foreign
signature, written with the model_fleet.signature metadata, to prove the server loads any ONNX classifier that
declares its signature. The image ships the trained model instead (training/build.py).

A small MLP from a seeded PRNG (Python's `random`, whose stream is stable across versions), graph built with the
`onnx` package's helper API; same arguments, same bytes.

    python weights/make_weights.py --out DIR/model.onnx [--features 4] [--classes 2] [--hidden 16] [--seed 20240601]
                                   [--input x] [--output scores]

Graph (opset 17, IR 8):
    x float32[N, F] -> Gemm(W1, b1) -> Relu -> Gemm(W2, b2) -> Softmax -> scores float32[N, C]
metadata_props: model_fleet.signature = {"input": "x", "features": F, "probabilities": "scores", "classes": C}
(no label output: the signature's `label` is optional).
"""
import argparse
import json
import os
import random
from typing import Any, Dict, List, Optional

SIGNATURE_KEY = "model_fleet.signature"
INPUT = "x"
OUTPUT = "scores"
OPSET = 17
IR_VERSION = 8


def _matrix(rng: random.Random, rows: int, cols: int, scale: float) -> List[float]:
    return [round(rng.uniform(-scale, scale), 6) for _ in range(rows * cols)]


def signature(features: int, classes: int, input_name: str = INPUT, output_name: str = OUTPUT) -> Dict[str, Any]:
    return {"input": input_name, "features": features, "probabilities": output_name, "classes": classes}


def make_model(features: int = 4, hidden: int = 16, seed: int = 20240601, classes: int = 2, input_name: str = INPUT,
               output_name: str = OUTPUT, metadata: Optional[Dict[str, str]] = None):
    """The ModelProto (imported lazily so the server never needs the `onnx` package). `metadata` replaces the
    metadata_props (the tests write refused signatures with it); default: the declared signature."""
    from onnx import TensorProto, helper

    if features < 1 or hidden < 1 or classes < 2:
        raise ValueError("features and hidden must be >= 1, classes >= 2")
    rng = random.Random(seed)
    w1 = _matrix(rng, features, hidden, 1.5)
    b1 = _matrix(rng, 1, hidden, 0.5)
    w2 = _matrix(rng, hidden, classes, 1.5)
    b2 = _matrix(rng, 1, classes, 0.25)
    inits = [
        helper.make_tensor("W1", TensorProto.FLOAT, [features, hidden], w1),
        helper.make_tensor("B1", TensorProto.FLOAT, [hidden], b1),
        helper.make_tensor("W2", TensorProto.FLOAT, [hidden, classes], w2),
        helper.make_tensor("B2", TensorProto.FLOAT, [classes], b2),
    ]
    nodes = [
        helper.make_node("Gemm", [input_name, "W1", "B1"], ["h_pre"], name="dense1"),
        helper.make_node("Relu", ["h_pre"], ["h"], name="relu1"),
        helper.make_node("Gemm", ["h", "W2", "B2"], ["logits"], name="dense2"),
        helper.make_node("Softmax", ["logits"], [output_name], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "model_fleet_fixture_mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", classes])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="model-fleet/make_weights.py",
        producer_version="2",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    if metadata is None:
        metadata = {SIGNATURE_KEY: json.dumps(signature(features, classes, input_name, output_name), sort_keys=True), "seed": str(seed)}
    helper.set_model_props(model, metadata)
    return model


def write(out: str, features: int = 4, hidden: int = 16, seed: int = 20240601, classes: int = 2, input_name: str = INPUT,
          output_name: str = OUTPUT) -> str:
    import onnx

    model = make_model(features, hidden, seed, classes, input_name, output_name)
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--input", default=INPUT, help="the input tensor's name")
    parser.add_argument("--output", default=OUTPUT, help="the probabilities output's name")
    args = parser.parse_args()
    if args.features < 1 or args.hidden < 1 or args.classes < 2:
        parser.error("--features and --hidden must be >= 1, --classes >= 2")
    write(args.out, args.features, args.hidden, args.seed, args.classes, args.input, args.output)


if __name__ == "__main__":
    main()
