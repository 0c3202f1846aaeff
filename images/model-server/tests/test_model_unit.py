"""Unit tests at function boundaries: device choice (incl. the CUDA branch with faked availability), model loading
and its classified errors, prediction ids."""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app import ids
from app.model import CPU, CUDA, LoadError, Model, choose_device, nvidia_device_visible


# --- device choice -----------------------------------------------------------------------------------------------
def test_cuda_when_provider_available_and_gpu_visible():
    device, providers, why = choose_device([CUDA, CPU], gpu_visible=True)
    assert device == "cuda"
    assert providers == [CUDA, CPU], "CUDA first, CPU as ONNX Runtime's fallback for unsupported nodes"
    assert "NVIDIA" in why


@pytest.mark.parametrize(
    "available, visible, reason",
    [([CPU], True, "no CUDAExecutionProvider"), ([CUDA, CPU], False, "no NVIDIA device"), ([CPU], False, "no NVIDIA device")],
)
def test_cpu_otherwise(available, visible, reason):
    device, providers, why = choose_device(available, gpu_visible=visible)
    assert (device, providers) == ("cpu", [CPU])
    assert reason in why


def test_model_device_overrides():
    assert choose_device([CUDA, CPU], True, "cpu")[:2] == ("cpu", [CPU])
    with pytest.raises(LoadError) as e:
        choose_device([CPU], True, "cuda")
    assert e.value.reason == "device"
    with pytest.raises(LoadError):
        choose_device([CPU], False, "tpu")


@pytest.mark.parametrize(
    "nodes, env, expected",
    [
        (["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"], {}, True),  # whole GPU
        (["/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-caps"], {"NVIDIA_VISIBLE_DEVICES": "MIG-1b2c"}, True),  # MIG slice
        (["/dev/nvidiactl"], {}, False),
        ([], {"NVIDIA_VISIBLE_DEVICES": "GPU-abc"}, True),
        ([], {"NVIDIA_VISIBLE_DEVICES": "void"}, False),
        ([], {"NVIDIA_VISIBLE_DEVICES": "none"}, False),
        ([], {}, False),
    ],
)
def test_nvidia_device_visible(nodes, env, expected):
    assert nvidia_device_visible(env, lambda pattern: list(nodes)) is expected


def test_load_takes_the_cuda_branch_when_cuda_is_offered(model_file, monkeypatch):
    """Fake availability at the function boundary: the session is asked for [CUDA, CPU] and reports CUDA in use."""
    real = ort.InferenceSession
    asked = {}

    class FakeCudaSession:
        def __init__(self, data, sess_options=None, providers=None):
            asked["providers"] = providers
            self._real = real(data, sess_options=sess_options, providers=[CPU])

        def get_providers(self):
            return [CUDA, CPU]

        def __getattr__(self, name):
            return getattr(self._real, name)

    monkeypatch.setattr(ort, "InferenceSession", FakeCudaSession)
    model = Model.load(str(model_file), available_providers=[CUDA, CPU], gpu_visible=True)
    assert asked["providers"] == [CUDA, CPU]
    assert model.device == "cuda"
    labels, probs = model.predict(np.zeros((2, 4), dtype=np.float32))
    assert probs.shape == (2, 2)


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_load_falls_back_to_cpu_when_the_cuda_provider_cannot_start(model_file, caplog):
    """The real CPU wheel has no CUDA provider: asking for it anyway must end on CPU, logged, not crash."""
    caplog.set_level("INFO")
    model = Model.load(str(model_file), available_providers=[CUDA, CPU], gpu_visible=True)
    assert model.device == "cpu"
    assert model.providers == [CPU]
    assert "fell back" in caplog.text or "runs on cpu" in caplog.text
    with pytest.raises(LoadError) as e:
        Model.load(str(model_file), requested_device="cuda", available_providers=[CUDA, CPU], gpu_visible=True)
    assert e.value.reason == "device"


# --- loading -----------------------------------------------------------------------------------------------------
def test_load_and_predict_matches_the_graph(model_file):
    model = Model.load(str(model_file))
    assert (model.features, model.classes, model.device) == (4, 2, "cpu")
    x = np.array([[0, 0, 0, 0], [1, -2, 3, -4], [5, 5, 5, 5]], dtype=np.float32)
    labels, probs = model.predict(x)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert labels.tolist() == probs.argmax(axis=1).tolist()


def test_weights_are_reproducible(tmp_path):
    from conftest import build_model

    a = build_model(tmp_path / "a.onnx").read_bytes()
    b = build_model(tmp_path / "b.onnx").read_bytes()
    c = build_model(tmp_path / "c.onnx", "--seed", "7").read_bytes()
    assert a == b and a != c


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "not_found"),
        (b"\x00\x01garbage that is not protobuf\xff" * 10, "corrupt"),
        (json.dumps({"format": "model-fleet/logreg-v1", "features": 4, "weights": [1, 2, 3, 4], "bias": 0}).encode(), "corrupt"),
        (b"", "corrupt"),
    ],
)
def test_bad_weights_are_classified(tmp_path, content, reason):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LoadError) as e:
        Model.load(str(path))
    assert e.value.reason == reason, str(e.value)


def test_truncated_onnx_is_corrupt(model_file, tmp_path):
    path = tmp_path / "truncated.onnx"
    path.write_bytes(Path(model_file).read_bytes()[:300])
    with pytest.raises(LoadError) as e:
        Model.load(str(path))
    assert e.value.reason == "corrupt", str(e.value)


def test_valid_onnx_of_another_contract_is_wrong_format(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "other.onnx"
    onnx.save(m, str(path))
    with pytest.raises(LoadError) as e:
        Model.load(str(path))
    assert e.value.reason == "wrong_format"
    assert "no metadata_props key 'model_fleet.signature'" in str(e.value)


# --- prediction ids ----------------------------------------------------------------------------------------------
KEY = b"k" * 32


def test_id_round_trip():
    ref = ids.decode(KEY, ids.encode(KEY, "6d4f9c7b8", 1), classes=2)
    assert (ref.served_by, ref.label) == ("6d4f9c7b8", 1)
    assert ids.decode(KEY, ids.encode(KEY, "", 0), 2).served_by == ""
    assert ids.encode(KEY, "bcd", 1) != ids.encode(KEY, "bcd", 1), "nonce makes each id unique"


@pytest.mark.parametrize("bad", ["", "not base64 !!", "eyJoIjoiYSJ9", 42, None, "x" * 600, ids.encode(KEY, "bcd", 5)])
def test_undecodable_ids(bad):
    with pytest.raises(ids.BadId):
        ids.decode(KEY, bad, classes=2)


# --- preflight: what the master checks before any worker starts ---------------------------------------------------
def test_preflight_refuses_a_gpu_model_on_this_cpu_onnxruntime():
    """The real onnxruntime of this machine (the CPU wheel) has no CUDA provider: a model with `gpu:` must not start."""
    from app import preflight

    assert CUDA not in ort.get_available_providers()
    env = {"MODEL_DEVICE": "cuda", "PREDICTION_ID_KEY": "k" * 32}
    found = preflight.problems(env, gpu_visible=lambda: True)  # the real get_available_providers()
    assert len(found) == 1 and "MODEL_DEVICE=cuda (the model asks for a GPU) but this onnxruntime build has no CUDAExecutionProvider" in found[0]
    with pytest.raises(SystemExit) as e:
        preflight.run(env, gpu_visible=lambda: True)
    assert str(e.value.code).startswith("model-server refuses to start:"), "SystemExit with a message: exit status 1"
    no_device = preflight.problems(env, available_providers=lambda: [CUDA, CPU], gpu_visible=lambda: False)
    assert len(no_device) == 1 and "sees no NVIDIA device" in no_device[0]
    assert preflight.problems(env, available_providers=lambda: [CUDA, CPU], gpu_visible=lambda: True) == []


def test_preflight_never_needs_cuda_for_cpu_or_auto_and_fills_in_a_pod_local_key():
    from app import preflight

    for device in ("auto", "cpu", ""):
        assert preflight.problems({"MODEL_DEVICE": device}, available_providers=lambda: [CPU], gpu_visible=lambda: False) == []
    env = {}
    preflight.run(env)
    assert len(env["PREDICTION_ID_KEY"].encode()) >= ids.MIN_KEY_BYTES
    assert preflight.problems({"MODEL_DEVICE": "tpu"})[0].startswith("MODEL_DEVICE='tpu'")
