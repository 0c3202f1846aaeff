"""The model-agnostic contract (app/model.py): any ONNX classifier whose metadata `model_fleet.signature` declares
its input and probabilities output loads; anything else is LoadError("wrong_format") naming the mismatch."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.model import LoadError, Model, parse_signature
from conftest import MAKE_WEIGHTS

sys.path.insert(0, str(MAKE_WEIGHTS.parent))
import make_weights  # noqa: E402  (the fixture generator, weights/make_weights.py)

KEY = "model_fleet.signature"


def _save(model, path: Path) -> Path:
    import onnx

    onnx.save(model, str(path))
    return path


def _graph_model(path: Path, x_type, x_shape, out_shape, sig, out_name="probs", extra_inputs=(), label=None):
    """A Softmax classifier (or a Cast for a non-float input) with whatever declared shapes/metadata a case needs."""
    from onnx import TensorProto, helper

    nodes, inputs, outputs = [], [helper.make_tensor_value_info("x", x_type, x_shape)], []
    src = "x"
    if x_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
        src = "xf"
    nodes.append(helper.make_node("Softmax", [src], [out_name], axis=-1))
    outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape))
    if label:  # (name, keepdims): keepdims=1 gives the wrong rank [batch, 1]
        nodes.append(helper.make_node("ArgMax", [out_name], [label[0]], axis=-1, keepdims=label[1]))
        outputs.append(helper.make_tensor_value_info(label[0], TensorProto.INT64, ["batch", 1] if label[1] else ["batch"]))
    for name in extra_inputs:
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 1]))
    graph = helper.make_graph(nodes, "case", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if sig is not None:
        helper.set_model_props(model, {KEY: sig if isinstance(sig, str) else json.dumps(sig)})
    return _save(model, path)


# --- a foreign signature loads --------------------------------------------------------------------------------------
def test_a_foreign_hand_built_signature_loads_and_predicts(tmp_path):
    path = tmp_path / "foreign.onnx"
    subprocess.run([sys.executable, str(MAKE_WEIGHTS), "--out", str(path), "--features", "5", "--classes", "3",
                    "--input", "dense_in", "--output", "class_probs"], check=True)
    model = Model.load(str(path))
    assert (model.features, model.classes, model.input_name, model.output_name) == (5, 3, "dense_in", "class_probs")
    assert model.signature == {"input": "dense_in", "features": 5, "probabilities": "class_probs", "classes": 3}
    x = np.random.default_rng(3).normal(size=(16, 5)).astype(np.float32)
    labels, probs = model.predict(x)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["class_probs"], {"dense_in": x})[0]
    assert np.array_equal(probs, want) and labels.tolist() == want.argmax(axis=1).tolist()


def test_the_fixture_is_not_the_trained_model(model_file):
    model = Model.load(str(model_file))
    assert (model.input_name, model.features, model.classes) == ("x", 4, 2), "the server suite runs a foreign signature"


def test_a_label_output_is_checked_when_declared(tmp_path):
    from onnx import TensorProto

    sig = {"input": "x", "features": 3, "probabilities": "probs", "classes": 3, "label": "y"}
    ok = _graph_model(tmp_path / "ok.onnx", TensorProto.FLOAT, ["batch", 3], ["batch", 3], sig, label=("y", 0))
    assert Model.load(str(ok)).signature["label"] == "y"
    bad = _graph_model(tmp_path / "bad.onnx", TensorProto.FLOAT, ["batch", 3], ["batch", 3], sig, label=("y", 1))
    with pytest.raises(LoadError, match=r"label output 'y' is tensor\(int64\) \['batch', 1\]; the contract is an integer tensor of rank 1"):
        Model.load(str(bad))


# --- refusals --------------------------------------------------------------------------------------------------------
def _fixture_with(tmp_path, metadata):
    return _save(make_weights.make_model(metadata=metadata), tmp_path / "m.onnx")


def _sig(**change):
    base = {"input": "x", "features": 4, "probabilities": "scores", "classes": 2}
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({}, "no metadata_props key 'model_fleet.signature'"),
        ({"format": "model-fleet/mlp-onnx-v1", "features": "4", "classes": "2"}, "no metadata_props key 'model_fleet.signature'"),
        ({KEY: "{not json"}, "is not JSON"),
        ({KEY: "[1, 2]"}, "must be a JSON object, got list"),
        ({KEY: json.dumps(_sig(shape=[4]))}, "unknown key 'shape'"),
        ({KEY: json.dumps(_sig(probabilities=None))}, "missing key 'probabilities'"),
        ({KEY: json.dumps(_sig(features="4"))}, "'features' must be an integer >= 1, got '4'"),
        ({KEY: json.dumps(_sig(classes=1))}, "'classes' must be an integer >= 2, got 1"),
        ({KEY: json.dumps(_sig(input="features"))}, "declares one input 'features'; the model's inputs are 'x' tensor(float) ['batch', 4]"),
        ({KEY: json.dumps(_sig(features=8))}, "input 'x' has shape ['batch', 4]; the signature declares 8 features"),
        ({KEY: json.dumps(_sig(classes=3))}, "probabilities output 'scores' has 2 classes; the signature declares 3"),
        ({KEY: json.dumps(_sig(probabilities="probabilities"))}, "declares probabilities output 'probabilities'; the model's outputs are 'scores'"),
        ({KEY: json.dumps(_sig(label="label"))}, "declares label output 'label'; the model's outputs are 'scores'"),
    ],
    ids=["missing", "old-format-keys", "not-json", "not-object", "unknown-key", "missing-key", "features-string",
         "one-class", "input-absent", "feature-count", "class-count", "probabilities-absent", "label-absent"],
)
def test_a_signature_the_model_does_not_have_is_refused(tmp_path, metadata, message):
    with pytest.raises(LoadError) as e:
        Model.load(str(_fixture_with(tmp_path, metadata)))
    assert e.value.reason == "wrong_format"
    assert message in str(e.value), str(e.value)


def test_wrong_input_dtype_is_refused(tmp_path):
    from onnx import TensorProto

    path = _graph_model(tmp_path / "d.onnx", TensorProto.DOUBLE, ["batch", 3], ["batch", 3],
                        {"input": "x", "features": 3, "probabilities": "probs", "classes": 3})
    with pytest.raises(LoadError, match=r"input 'x' is tensor\(double\); the contract is tensor\(float\)") as e:
        Model.load(str(path))
    assert e.value.reason == "wrong_format"


def test_wrong_input_rank_is_refused(tmp_path):
    from onnx import TensorProto

    path = _graph_model(tmp_path / "r.onnx", TensorProto.FLOAT, ["batch", 3, 3], ["batch", 3, 3],
                        {"input": "x", "features": 3, "probabilities": "probs", "classes": 3})
    with pytest.raises(LoadError, match=r"input 'x' has rank 3 \['batch', 3, 3\]; the contract is rank 2") as e:
        Model.load(str(path))
    assert e.value.reason == "wrong_format"


def test_a_second_input_is_refused(tmp_path):
    from onnx import TensorProto

    path = _graph_model(tmp_path / "two.onnx", TensorProto.FLOAT, ["batch", 3], ["batch", 3],
                        {"input": "x", "features": 3, "probabilities": "probs", "classes": 3}, extra_inputs=["mask"])
    with pytest.raises(LoadError, match="declares one input 'x'; the model's inputs are 'x' .*, 'mask'"):
        Model.load(str(path))


def test_a_symbolic_class_dimension_is_checked_by_the_probe_run(tmp_path):
    """probabilities [batch, "classes"] stays symbolic (x[:, :F-1], sliced at a computed end), so only the probe
    inference at load finds 2 columns where the signature declares 3."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "one", "two"], ["f"]),
        helper.make_node("Sub", ["f", "one"], ["end"]),
        helper.make_node("Slice", ["x", "zero", "end", "one"], ["xs"]),
        helper.make_node("Softmax", ["xs"], ["probs"], axis=-1),
    ]
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("zero", 0), ("one", 1), ("two", 2))]
    graph = helper.make_graph(nodes, "sliced", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", "classes"])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {KEY: json.dumps({"input": "x", "features": 3, "probabilities": "probs", "classes": 3})})
    path = _save(model, tmp_path / "s.onnx")
    assert ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()[0].shape == ["batch", "classes"]
    with pytest.raises(LoadError, match=r"a probe inference gave probabilities float32\[1, 2\]; the signature declares float32\[1, 3\]") as e:
        Model.load(str(path))
    assert e.value.reason == "wrong_format"


def test_parse_signature_is_strict_and_pure():
    sig = {"input": "a", "features": 2, "probabilities": "p", "classes": 2}
    assert parse_signature({KEY: json.dumps(sig)}) == sig
    with pytest.raises(LoadError, match="'features' must be an integer >= 1, got True"):
        parse_signature({KEY: json.dumps({**sig, "features": True})})
    with pytest.raises(LoadError, match="'input' must be a non-empty tensor name"):
        parse_signature({KEY: json.dumps({**sig, "input": ""})})


def test_the_server_stays_unready_on_a_refused_signature_and_says_why(start_server, tmp_path):
    path = _fixture_with(tmp_path, {KEY: json.dumps(_sig(classes=5))})
    srv = start_server(wait="healthy", MODEL_PATH=str(path), WEB_CONCURRENCY="1")
    srv.wait_until(lambda: srv.value("model_server_model_load_errors_total", reason="wrong_format") == 1, 60, "the load error")
    status, body = srv.get("/ready")
    assert status == 503 and body["reason"] == "wrong_format"
    assert "the signature declares 5" in body["error"]
