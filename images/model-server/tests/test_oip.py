"""Open Inference Protocol v2 (REST) on a real server process, driven by a client we did not write: NVIDIA's
`tritonclient[http]` from PyPI (requirements-dev.txt). Spec: kserve/open-inference-protocol
specification/protocol/inference_rest.md (= kserve/kserve docs/predict-api/v2/required_api.md); the server side
is app/oip.py + app/main.py.

Nothing here assumes the reference model's size: the feature and class counts come from the model metadata
endpoint (checked against the ONNX file itself), so the tests hold for any classifier the server accepts."""
import http.client
import json
import statistics
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.utils import InferenceServerException

from app import metrics, oip

MODEL = "sentiment"
VERSION = "2.2.0"
HASH = "6d4f9c7b8"
MAX_BATCH = 8


@pytest.fixture(scope="module")
def v2_server(tmp_path_factory, model_file):
    from conftest import Server

    srv = Server(
        tmp_path_factory.mktemp("oip"),
        {
            "MODEL_PATH": str(model_file),
            "WEB_CONCURRENCY": "2",
            "POD_TEMPLATE_HASH": HASH,
            "MODEL_NAME": MODEL,
            "MODEL_VERSION": VERSION,
            "GIT_SHA": "0123abc",
            "MAX_BATCH_SIZE": str(MAX_BATCH),
            "MAX_BODY_BYTES": "65536",
        },
    )
    try:
        yield srv.wait_ready()
    finally:
        srv.close()


@pytest.fixture(scope="module")
def client(v2_server):
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{v2_server.port}")
    yield c
    c.close()


@pytest.fixture(scope="module")
def meta(client):
    return client.get_model_metadata(MODEL)


@pytest.fixture(scope="module")
def dims(meta):
    """(input name, features, classes) as the server declares them."""
    features = meta["inputs"][0]["shape"][1]
    classes = next(o for o in meta["outputs"] if o["name"] == "probabilities")["shape"][1]
    return meta["inputs"][0]["name"], features, classes


def rows(n: int, features: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, size=(n, features)).astype(np.float32)


def tensor(name, x, datatype="FP32", nested=False):
    x = np.asarray(x)
    return {"name": name, "shape": list(x.shape), "datatype": datatype, "data": x.tolist() if nested else x.ravel().tolist()}


def infer_url(name=MODEL, version=None):
    return f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"


# --- through tritonclient -------------------------------------------------------------------------------------------
def test_health_and_model_ready_through_tritonclient(client):
    assert client.is_server_live() is True
    assert client.is_server_ready() is True
    assert client.is_model_ready(MODEL) is True
    assert client.is_model_ready(MODEL, model_version=VERSION) is True
    assert client.is_model_ready("another-model") is False
    assert client.is_model_ready(MODEL, model_version="9.9.9") is False
    assert client.get_server_metadata() == {"name": oip.SERVER_NAME, "version": "0123abc", "extensions": []}


def test_model_metadata_through_tritonclient_matches_the_onnx_file(meta, model_file):
    sess = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    onnx_input = sess.get_inputs()[0]
    assert meta["name"] == MODEL and meta["versions"] == [VERSION] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": onnx_input.name, "datatype": "FP32", "shape": [-1, meta["inputs"][0]["shape"][1]]}]
    if isinstance(onnx_input.shape[1], int):
        assert meta["inputs"][0]["shape"][1] == onnx_input.shape[1]
    probs = sess.run(None, {onnx_input.name: np.zeros((1, meta["inputs"][0]["shape"][1]), np.float32)})
    classes = max(o.shape[1] for o in probs if o.ndim == 2)
    assert meta["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
        {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
    ]


def test_unknown_model_metadata_is_a_404_through_tritonclient(client):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("another-model")
    assert e.value.status() == "404"
    assert "unknown model 'another-model'" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata(MODEL, model_version="1.0.0")
    assert e.value.status() == "404" and "version '1.0.0' is not served" in e.value.message()


def _triton_infer(client, name, x, outputs=("label", "probabilities", "prediction_id"), version="", request_id=""):
    inp = httpclient.InferInput(name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    outs = [httpclient.InferRequestedOutput(o, binary_data=False) for o in outputs]
    return client.infer(MODEL, [inp], outputs=outs, model_version=version, request_id=request_id)


def test_infer_through_tritonclient_equals_predict(client, v2_server, dims):
    name, features, classes = dims
    x = rows(6, features, seed=1)
    result = _triton_infer(client, name, x, request_id="req-42")
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (MODEL, VERSION, "req-42")
    labels = result.as_numpy("label")
    probs = result.as_numpy("probabilities")
    pids = result.as_numpy("prediction_id")
    assert labels.dtype == np.int64 and labels.shape == (6,)
    assert probs.dtype == np.float32 and probs.shape == (6, classes)
    assert pids.shape == (6,)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (labels == probs.argmax(axis=1)).all()

    status, body = v2_server.post("/predict", {"instances": x.tolist()})
    assert status == 200, body
    preds = body["predictions"]
    assert labels.tolist() == [p["label"] for p in preds]
    # /predict's score: the probability of class 1 for two classes, else of the predicted class.
    scores = probs[:, 1] if classes == 2 else probs[np.arange(6), labels]
    assert scores.tolist() == pytest.approx([p["score"] for p in preds], abs=1e-6)

    # prediction_id is /predict's signed id: /feedback scores it (any pod, any worker).
    pid = pids[0].decode() if isinstance(pids[0], bytes) else str(pids[0])
    status, fb = v2_server.post("/feedback", {"id": pid, "label": int(labels[0])})
    assert status == 200, fb
    assert fb["correct"] is True and fb["served_by"] == HASH


def test_infer_through_tritonclient_with_a_version_and_an_output_subset(client, dims):
    name, features, _ = dims
    result = _triton_infer(client, name, rows(3, features, seed=2), outputs=("label",), version=VERSION)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    assert result.as_numpy("probabilities") is None and result.as_numpy("prediction_id") is None
    assert "id" not in result.get_response(), "no id asked, none echoed"


def test_tritonclient_default_outputs_are_answered_in_json(client, dims):
    """A call naming no outputs makes tritonclient ask for binary outputs (binary_data_output); the server answers
    JSON, which the response says (no binary_data_size), and the client decodes it."""
    name, features, classes = dims
    inp = httpclient.InferInput(name, [2, features], "FP32")
    inp.set_data_from_numpy(rows(2, features, seed=3), binary_data=False)
    result = client.infer(MODEL, [inp])
    assert result.as_numpy("probabilities").shape == (2, classes)
    assert result.as_numpy("label").shape == (2,)


@pytest.mark.parametrize(
    "case, message",
    [
        ("name", "unexpected input 'wrong_name'"),
        ("shape", "expected [N, {f}] ({f} features), got [2, {g}]"),
        ("datatype", "'INT32' is not supported: send FP32 (or FP64)"),
        ("binary", "binary tensor data extension is not supported"),
    ],
)
def test_bad_requests_raise_the_clients_exception_with_the_400_message(client, dims, case, message):
    name, features, _ = dims
    x = rows(2, features)
    if case == "name":
        inp = httpclient.InferInput("wrong_name", [2, features], "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
    elif case == "shape":
        x = rows(2, features + 1)
        inp = httpclient.InferInput(name, [2, features + 1], "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
    elif case == "datatype":
        inp = httpclient.InferInput(name, [2, features], "INT32")
        inp.set_data_from_numpy(np.ones((2, features), np.int32), binary_data=False)
    else:
        inp = httpclient.InferInput(name, [2, features], "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [inp], outputs=[httpclient.InferRequestedOutput("label", binary_data=False)])
    assert e.value.status() == "400"
    assert message.format(f=features, g=features + 1) in e.value.message()


# --- direct HTTP: the edges ----------------------------------------------------------------------------------------
def test_nested_fp64_and_flat_fp32_give_the_same_answer(v2_server, dims):
    name, features, _ = dims
    x = rows(4, features, seed=5)
    flat = v2_server.post(infer_url(), {"inputs": [tensor(name, x)]})
    nested = v2_server.post(infer_url(), {"inputs": [tensor(name, x.astype(np.float64), "FP64", nested=True)], "outputs": [{"name": "probabilities"}, {"name": "label"}]})
    assert flat[0] == nested[0] == 200, (flat, nested)
    by_name = lambda body: {o["name"]: o for o in body["outputs"]}  # noqa: E731
    assert [o["name"] for o in nested[1]["outputs"]] == ["probabilities", "label"], "the requested order"
    assert by_name(flat[1])["label"]["data"] == by_name(nested[1])["label"]["data"]
    assert by_name(flat[1])["probabilities"]["data"] == pytest.approx(by_name(nested[1])["probabilities"]["data"], abs=1e-6)


def _bad(name, features):
    """(request body or raw bytes, status, message fragment) for the v2 infer endpoint."""
    good = tensor(name, rows(2, features))
    flat = good["data"]
    return [
        (b"{", 400, "request body is not valid JSON"),
        (b"", 400, "empty request body"),
        (json.dumps({"inputs": [{**good, "data": ["NaN_PLACEHOLDER"] + flat[1:]}]}).replace('"NaN_PLACEHOLDER"', "NaN").encode(), 400, "NaN is not allowed"),
        ([good], 400, "expected an inference request object"),
        ({"inputs": [good], "extra": 1}, 400, "unknown field(s) 'extra'"),
        ({}, 400, "inputs: expected a list with the one input"),
        ({"inputs": []}, 400, "inputs: expected a list with the one input"),
        ({"inputs": [good, good]}, 400, "exactly one input"),
        ({"inputs": ["x"]}, 400, "inputs[0]: expected a tensor object"),
        ({"inputs": [{k: v for k, v in good.items() if k != "data"}]}, 400, "missing field(s) 'data'"),
        ({"inputs": [{**good, "shape": [2 * features]}]}, 400, "expected [N, features] (rank 2)"),
        ({"inputs": [{**good, "shape": [2, -features]}]}, 400, "dimensions must be >= 0"),
        ({"inputs": [{**good, "shape": "2x4"}]}, 400, "expected a list of integers"),
        ({"inputs": [{**good, "shape": [0, features], "data": []}]}, 400, "empty batch"),
        ({"inputs": [{**good, "data": flat[:-1]}]}, 400, f"{2 * features - 1} elements, shape [2, {features}] needs {2 * features}"),
        ({"inputs": [{**good, "data": [flat[:features], flat[: features - 1]]}]}, 400, f"data[1]: {features - 1} elements, shape says {features}"),
        ({"inputs": [{**good, "data": [flat[:features]]}]}, 400, "1 rows for shape"),
        ({"inputs": [{**good, "data": ["1"] + flat[1:]}]}, 400, "inputs[0].data[0]: expected a number, got string"),
        ({"inputs": [{**good, "data": flat[:1] + [True] + flat[2:]}]}, 400, "inputs[0].data[1]: expected a number, got boolean"),
        ({"inputs": [{**good, "data": flat[:1] + [None] + flat[2:]}]}, 400, "expected a number, got null"),
        ({"inputs": [{**good, "data": flat[:-1] + [1e39]}]}, 400, f"data[{2 * features - 1}]: 1e+39 is not a finite float32 value"),
        ({"inputs": [{**good, "datatype": "FP64", "data": flat[:-1] + [1e300]}]}, 400, "not a finite float32 value"),
        ({"inputs": [{**good, "data": flat[:-1] + [10**400]}]}, 400, "integer of 401 digits"),
        ({"inputs": [{**good, "datatype": "BYTES"}]}, 400, "'BYTES' is not supported"),
        ({"inputs": [{**good, "parameters": {"binary_data_size": 32}}]}, 400, "binary tensor data extension is not supported"),
        ({"inputs": [{**good, "parameters": {"shared_memory_region": "r"}}]}, 400, "shared-memory extension is not supported"),
        ({"inputs": [good], "outputs": [{"name": "label", "parameters": {"classification": 2}}]}, 400, "classification extension is not supported"),
        ({"inputs": [good], "outputs": [{"name": "logits"}]}, 400, "'logits' is not an output of this model"),
        ({"inputs": [good], "outputs": [{"name": "label"}, {"name": "label"}]}, 400, "requested twice"),
        ({"inputs": [good], "outputs": "label"}, 400, "outputs: expected a list"),
        ({"inputs": [good], "id": 42}, 400, "id: expected a string, got int"),
        ({"inputs": [good], "parameters": [1]}, 400, "parameters: expected an object"),
        ({"inputs": [tensor(name, rows(MAX_BATCH + 1, features))]}, 413, f"batch of {MAX_BATCH + 1} exceeds MAX_BATCH_SIZE={MAX_BATCH}"),
        (b'{"inputs": [' + b" " * 70000 + b"]}", 413, "MAX_BODY_BYTES=65536"),
    ]


BAD_IDS = [message for _, _, message in _bad("features", 4)]


@pytest.mark.parametrize("n", range(len(BAD_IDS)), ids=BAD_IDS)
def test_bad_input_is_a_4xx_with_the_protocols_error_body(v2_server, dims, n):
    name, features, _ = dims
    cases = _bad(name, features)
    body, status, message = cases[n]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, answer = v2_server.post(infer_url(), raw=raw)
    assert got == status, (answer, body if len(raw) < 300 else raw[:80])
    assert set(answer) == {"error"} and message in answer["error"], answer


def test_the_binary_data_header_is_refused_after_the_body_is_read(v2_server, dims):
    name, features, _ = dims
    body = json.dumps({"inputs": [tensor(name, rows(1, features))]}).encode()
    status, answer = v2_server.post(infer_url(), raw=body + b"\0" * 16, headers={"Inference-Header-Content-Length": str(len(body))})
    assert status == 400 and "binary tensor data extension is not supported" in answer["error"]


@pytest.mark.parametrize(
    "path, status, message",
    [
        (infer_url("another-model"), 404, "unknown model 'another-model': this server serves 'sentiment'"),
        (infer_url(MODEL, "1.0.0"), 404, "version '1.0.0' is not served"),
        (infer_url(MODEL, VERSION), 200, None),
    ],
)
def test_model_name_and_version_in_the_url(v2_server, dims, path, status, message):
    name, features, _ = dims
    got, body = v2_server.post(path, {"inputs": [tensor(name, rows(1, features))]})
    assert got == status, body
    if message:
        assert body == {"error": body["error"]} and message in body["error"]
    else:
        assert body["model_version"] == VERSION


def test_health_metadata_and_ready_answer_as_the_spec_says(v2_server, dims):
    name, features, classes = dims
    assert v2_server.get("/v2/health/live") == (200, {"live": True})
    assert v2_server.get("/v2/health/ready") == (200, {"ready": True})
    assert v2_server.get(f"/v2/models/{MODEL}/ready") == (200, {"name": MODEL, "ready": True})
    assert v2_server.get(f"/v2/models/{MODEL}/versions/{VERSION}/ready") == (200, {"name": MODEL, "ready": True})
    status, meta = v2_server.get(f"/v2/models/{MODEL}/versions/{VERSION}")
    assert status == 200 and meta["inputs"] == [{"name": name, "datatype": "FP32", "shape": [-1, features]}]
    assert v2_server.get("/v2/models/nope/ready")[0] == 404


# --- metrics: v2 infer is traffic of its own handler; health and metadata are not traffic -------------------------
def _requests(srv):
    out = {}
    for n, labels, v in srv.samples():
        if n == "model_server_requests_total":
            out[(labels["handler"], labels["code"])] = out.get((labels["handler"], labels["code"]), 0) + v
    return out


def test_v2_traffic_is_counted_under_its_own_handler(v2_server, dims):
    name, features, _ = dims
    before = _requests(v2_server)
    hist_before = v2_server.value("model_server_request_duration_seconds_count", handler="/v2/infer")
    preds_before = v2_server.value("model_server_predictions_total")
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/ready", "/v2/models/nope"):
        v2_server.get(path)
    assert v2_server.post(infer_url(), {"inputs": [tensor(name, rows(3, features))]})[0] == 200
    assert v2_server.post(infer_url(MODEL, VERSION), {"inputs": [tensor(name, rows(2, features))]})[0] == 200
    assert v2_server.post(infer_url(), {"inputs": [tensor("nope", rows(1, features))]})[0] == 400
    assert v2_server.post(infer_url("another-model"), {"inputs": []})[0] == 404
    after = _requests(v2_server)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    delta = {k: v for k, v in delta.items() if v}
    assert delta == {("/v2/infer", "200"): 2, ("/v2/infer", "400"): 1, ("/v2/infer", "404"): 1}, "only infer counts; /predict untouched"
    assert v2_server.value("model_server_request_duration_seconds_count", handler="/v2/infer") - hist_before == 4
    assert v2_server.value("model_server_predictions_total") - preds_before == 5
    assert not any(l.get("handler", "").startswith("/v2/models") for _, l, _ in v2_server.samples()), "no model name in a label"


def test_before_the_model_loads_v2_is_503_and_counted_as_a_server_error(start_server):
    srv = start_server(wait="healthy", MODEL_LOAD_DELAY_SECONDS="30", WEB_CONCURRENCY="1", MODEL_NAME=MODEL)
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{srv.port}")
    try:
        assert c.is_server_live() is True
        assert c.is_server_ready() is False and c.is_model_ready(MODEL) is False
    finally:
        c.close()
    assert srv.get("/v2/health/ready") == (503, {"ready": False, "error": "model not loaded yet"})
    assert srv.get(f"/v2/models/{MODEL}") == (503, {"error": "model not loaded yet"})
    assert srv.post(infer_url(), {"inputs": []}) == (503, {"error": "model not loaded yet"})
    assert srv.value("model_server_requests_total", handler="/v2/infer", code="503") == 1
    assert srv.value("model_server_requests_total") == 1, "probes and metadata are not traffic"


def test_handler_label_and_observed_paths():
    assert metrics.handler_label("/v2/models/m/infer") == "/v2/infer"
    assert metrics.handler_label("/v2/models/another/versions/7/infer") == "/v2/infer"
    assert metrics.handler_label("/v2/models/m/infer/x") == "other"
    assert metrics.handler_label("/predict") == "/predict"
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/m", "/v2/models/m/ready", "/v2/models/m/versions/1", "/v2/models/m/versions/1/ready"):
        assert not metrics.is_observed(path), path
    for path in ("/v2/models/m/infer", "/v2/models/m/versions/1/infer", "/v2/other", "/predict", "/feedback"):
        assert metrics.is_observed(path), path


# --- the slow-model knob: latency grows with concurrency ----------------------------------------------------------
def _timed_post(port, path, body, out, i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        start = time.monotonic()
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        out[i] = (resp.status, time.monotonic() - start)
    finally:
        conn.close()


def test_latency_per_inflight_grows_with_concurrency(start_server):
    k = 0.2
    srv = start_server(WEB_CONCURRENCY="1", MODEL_LATENCY_PER_INFLIGHT_SECONDS=str(k), MODEL_NAME=MODEL)
    status, meta = srv.get(f"/v2/models/{MODEL}")
    name, features = meta["inputs"][0]["name"], meta["inputs"][0]["shape"][1]
    x = rows(1, features)
    v2 = {"inputs": [tensor(name, x)]}
    pred = {"features": x[0].tolist()}
    sequential = []
    for i in range(4):
        out = {}
        _timed_post(srv.port, infer_url() if i % 2 else "/predict", v2 if i % 2 else pred, out, 0)
        assert out[0][0] == 200
        sequential.append(out[0][1])
    assert min(sequential) >= k, "one request in flight sleeps k"

    n = 8
    out: dict = {}
    threads = [threading.Thread(target=_timed_post, args=(srv.port, infer_url() if i % 2 else "/predict", v2 if i % 2 else pred, out, i)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(k / 2)
    probe_start = time.monotonic()
    assert srv.get("/health")[0] == 200
    probe = time.monotonic() - probe_start
    for t in threads:
        t.join()
    concurrent = [out[i][1] for i in range(n)]
    assert all(out[i][0] == 200 for i in range(n))
    # A blocking sleep would hold /health behind ~k x (1 + 2 + ... + n) seconds of sleeps.
    assert probe < 1.0, f"the sleep is off the event loop and off the inference pool (/health took {probe:.2f}s)"
    assert max(concurrent) >= k * (n - 2), f"the last of {n} concurrent requests sleeps ~k x {n}: {concurrent}"
    assert statistics.mean(concurrent) > 2 * statistics.mean(sequential), (sequential, concurrent)


# --- the parser never raises anything but a client error ---------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


def _request_like(features):
    data = st.lists(st.one_of(st.floats(allow_nan=False, width=32), st.integers(-5, 5), JSON), min_size=0, max_size=3 * features)
    tensor_st = st.fixed_dictionaries(
        {"name": st.sampled_from(["features", "x"]), "shape": st.lists(st.integers(-1, 4), max_size=3) | JSON, "datatype": st.sampled_from(["FP32", "FP64", "INT8"]) | JSON, "data": data | JSON},
        optional={"parameters": JSON},
    )
    return st.fixed_dictionaries({"inputs": st.lists(tensor_st, max_size=2) | JSON}, optional={"id": JSON, "outputs": JSON, "parameters": JSON}) | JSON


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_request_like(2))
def test_parse_infer_request_answers_a_value_or_a_client_error(payload):
    try:
        x, request_id, wanted = oip.parse_infer_request(payload, "features", 2, 3)
    except oip.ProtocolError as e:
        assert 400 <= e.status < 500 and e.message and len(e.message) < 2000
        json.dumps({"error": e.message}).encode("utf-8")
        return
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 2 and 1 <= x.shape[0] <= 3
    assert np.isfinite(x).all()
    assert request_id is None or isinstance(request_id, str)
    assert wanted and set(wanted) <= set(oip.OUTPUTS)
