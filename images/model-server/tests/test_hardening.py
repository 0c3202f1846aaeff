"""A real server (python -m app) against hostile or unlucky clients and a misconfigured pod:
- client faults are 4xx, never 5xx or a reset connection (deep nesting, a 10 MB body, Expect: 100-continue);
- feedback only for ids this model signed (no forged canary/stable feedback, no invented label series);
- a model that asks for a GPU refuses to start without a CUDA provider (this machine has none);
- probes answer while a long inference runs (inference is off the event loop)."""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SERVER_DIR

KEY = b"test-key-of-one-model-0123456789abcdef"


def no_server_errors(srv):
    codes = {l["code"] for n, l, v in srv.samples() if n == "model_server_requests_total" and v > 0}
    assert not any(c.startswith("5") for c in codes), codes


# --- client faults ------------------------------------------------------------------------------------------------------
def test_deeply_nested_body_is_400_not_500(start_server):
    srv = start_server(WEB_CONCURRENCY="1")
    for body in (b"[" * 200_000, b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        status, payload = srv.request("POST", "/predict", raw=body)
        assert status == 400, payload
        assert "nested too deeply" in payload["detail"]
    assert srv.value("model_server_requests_total", handler="/predict", code="400") == 2
    no_server_errors(srv)


def _send_all_then_read(port: int, head: bytes, body_chunks, timeout: float = 60.0) -> bytes:
    """Send the whole request like a naive client (no Expect), then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        for chunk in body_chunks:
            s.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data:
            got = s.recv(65536)
            if not got:
                break
            data += got
        return data


def test_ten_megabyte_body_gets_413_not_a_reset(start_server):
    srv = start_server(WEB_CONCURRENCY="1")
    size = 10 * 1024 * 1024
    body = b'{"instances": [' + b"0," * ((size - 20) // 2) + b"0]}"
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = _send_all_then_read(srv.port, head, [body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    chunks = [b"%x\r\n%s\r\n" % (65536, b" " * 65536) for _ in range(size // 65536)] + [b"0\r\n\r\n"]
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _send_all_then_read(srv.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert srv.value("model_server_requests_total", handler="/predict", code="413") == 2
    no_server_errors(srv)


def test_expect_100_continue_gets_413_before_sending_the_body(start_server):
    srv = start_server(WEB_CONCURRENCY="1")
    head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % (50 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(head)
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# --- feedback only for ids this model signed --------------------------------------------------------------------------
def _unsigned_id(served_by: str, label: int) -> str:
    """What the ids looked like before they were signed: anyone could write one."""
    raw = json.dumps({"h": served_by, "y": label, "n": "0123456789abcdef"}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_forged_feedback_for_the_canary_is_rejected_and_not_counted(start_server):
    canary_hash = "7b9c4d2f5"
    stable = start_server(POD_TEMPLATE_HASH="5f7d8c9b6", WEB_CONCURRENCY="1")
    other_model = start_server(POD_TEMPLATE_HASH=canary_hash, WEB_CONCURRENCY="1", PREDICTION_ID_KEY="another-models-key-0123456789abcdef")
    status, pred = other_model.post("/predict", {"features": [1, 2, 3, 4]})
    assert status == 200
    forged = [
        _unsigned_id(canary_hash, 1),                       # the old, unsigned format
        _unsigned_id("invented-series-0001", 0),            # a new label series per request
        pred["id"],                                         # signed, but with another model's key
        pred["id"].split(".")[0] + "." + "A" * 22,          # a made-up signature
    ]
    for fake in forged:
        status, body = stable.post("/feedback", {"id": fake, "label": 0})
        assert status == 422, body
    assert stable.value("model_server_feedback_total") == 0
    assert not [l for n, l, _ in stable.samples() if n == "model_server_feedback_total"], "no series created"


def test_server_refuses_a_malformed_pod_template_hash_or_short_key(tmp_path, model_file):
    for env, message in (
        ({"POD_TEMPLATE_HASH": "abc-1"}, "POD_TEMPLATE_HASH='abc-1' is not a Kubernetes pod-template-hash"),
        ({"PREDICTION_ID_KEY": "short"}, "PREDICTION_ID_KEY is 5 bytes; at least 32 are required"),
    ):
        proc = _run_to_exit(tmp_path, model_file, env)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr


# --- a GPU model without CUDA refuses to start --------------------------------------------------------------------------
def _run_to_exit(tmp_path: Path, model_file: Path, env: dict, timeout: float = 60.0) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODEL_", "WEB_CONCURRENCY", "PREDICTION_ID_"))}
    full.update({"HOST": "127.0.0.1", "PORT": "0", "MODEL_SERVER_RUN_DIR": str(tmp_path / "run"), "MODEL_PATH": str(model_file),
                 "PREDICTION_ID_KEY": KEY.decode(), "WEB_CONCURRENCY": "1"})
    full.update(env)
    return subprocess.run([sys.executable, "-m", "app"], cwd=SERVER_DIR, env=full, capture_output=True, text=True, timeout=timeout)


def test_gpu_model_without_a_cuda_provider_refuses_to_start(tmp_path, model_file):
    import onnxruntime as ort

    assert "CUDAExecutionProvider" not in ort.get_available_providers(), "this test needs the CPU wheel (the CI machine)"
    started = time.monotonic()
    proc = _run_to_exit(tmp_path, model_file, {"MODEL_DEVICE": "cuda", "NVIDIA_VISIBLE_DEVICES": "all"})
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "model-server refuses to start" in proc.stderr
    assert "MODEL_DEVICE=cuda (the model asks for a GPU) but this onnxruntime build has no CUDAExecutionProvider" in proc.stderr
    assert re.search(r"\(available: [A-Za-z, ]*CPUExecutionProvider\)", proc.stderr), proc.stderr
    assert "Booting worker" not in proc.stderr, "no worker starts: nothing serves on CPU"
    assert time.monotonic() - started < 30


# --- probes answer while a long inference runs -------------------------------------------------------------------------
def _slow_model(path: Path, layers: int, width: int = 384) -> Path:
    """The server's model contract with a long compute path: `layers` MatMul+Tanh on one shared weight."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (4, width)).astype(np.float32), "W_in"),
        numpy_helper.from_array((rng.uniform(-1, 1, (width, width)) / width**0.5).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (width, 2)).astype(np.float32), "W_out"),
    ]
    nodes = [helper.make_node("MatMul", ["features", "W_in"], ["h0"])]
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "W"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes += [helper.make_node("MatMul", [f"h{layers}", "W_out"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(
        model, {"model_fleet.signature": '{"input": "features", "features": 4, "probabilities": "probabilities", "classes": 2}'}
    )
    onnx.save(model, str(path))
    return path


def _inference_seconds(path: Path, batch) -> float:
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    x = np.asarray(batch, dtype=np.float32)
    sess.run(None, {"features": x})
    started = time.monotonic()
    sess.run(None, {"features": x})
    return time.monotonic() - started


def test_probes_answer_while_a_long_inference_runs(start_server, tmp_path):
    batch = [[i, -i, i / 3, 1] for i in range(128)]
    layers = 50
    path = _slow_model(tmp_path / "slow.onnx", layers)
    per_run = _inference_seconds(path, batch)
    layers = max(layers, int(layers * 3.0 / max(per_run, 1e-3)))  # about 3 s of inference on this machine, now
    path = _slow_model(tmp_path / "slow.onnx", layers)
    srv = start_server(WEB_CONCURRENCY="1", MODEL_PATH=str(path))

    result = {}

    def long_predict():
        started = time.monotonic()
        result["status"], _ = srv.post("/predict", {"instances": batch}, timeout=120)
        result["seconds"] = time.monotonic() - started

    t = threading.Thread(target=long_predict)
    t.start()
    time.sleep(0.5)  # the request is in, its inference running
    answered = {}
    for path_ in ("/health", "/ready", "/metrics"):
        started = time.monotonic()
        status, _ = srv.get(path_, timeout=120)
        answered[path_] = (status, round(time.monotonic() - started, 3), t.is_alive())
    t.join(120)
    assert result.get("status") == 200, result
    assert result["seconds"] > 1.5, f"the inference was not long enough to tell ({result}); layers={layers}"
    for path_, (status, seconds, in_flight) in answered.items():
        assert status == 200, answered
        assert in_flight, f"{path_} answered only after the inference finished: the event loop was blocked ({answered}, {result})"
        assert seconds < 1.0, answered
