"""Endpoints of a real server process (2 workers): predictions, batches, limits, bad input, client vs server
errors in the metrics."""
import base64
import json

import numpy as np
import onnxruntime as ort
import pytest


def reference_predict(model_file, rows):
    sess = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    sig = json.loads(sess.get_modelmeta().custom_metadata_map["model_fleet.signature"])  # the fixture's own names
    probs = sess.run([sig["probabilities"]], {sig["input"]: np.asarray(rows, dtype=np.float32)})[0]
    return probs.argmax(axis=1).tolist(), probs[:, 1].tolist()


def test_health_and_ready(shared_server):
    assert shared_server.get("/health") == (200, {"status": "ok"})
    status, body = shared_server.get("/ready")
    assert status == 200
    assert body == {"status": "ready", "model": "sentiment", "version": "2.2.0", "device": "cpu"}


def test_predict_one_instance(shared_server, model_file):
    status, body = shared_server.post("/predict", {"features": [1.0, -2.0, 3, 0.5]})
    assert status == 200, body
    assert set(body) == {"id", "label", "score", "model", "version"}
    labels, scores = reference_predict(model_file, [[1.0, -2.0, 3, 0.5]])
    assert body["label"] == labels[0]
    assert body["score"] == pytest.approx(scores[0], abs=1e-6)
    assert (body["model"], body["version"]) == ("sentiment", "2.2.0")
    payload, tag = body["id"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert len(tag) == 22, "a 128-bit HMAC tag, base64url"
    assert decoded["h"] == "6d4f9c7b8" and decoded["y"] == body["label"], "the id carries the serving hash and label"


def test_predict_batch(shared_server, model_file):
    rows = [[i, -i, i / 2, 1 - i] for i in range(8)]
    status, body = shared_server.post("/predict", {"instances": rows})
    assert status == 200, body
    preds = body["predictions"]
    labels, scores = reference_predict(model_file, rows)
    assert [p["label"] for p in preds] == labels
    assert [p["score"] for p in preds] == pytest.approx(scores, abs=1e-6)
    assert len({p["id"] for p in preds}) == 8
    assert (body["model"], body["version"]) == ("sentiment", "2.2.0")


BAD_INPUTS = [
    ({"features": [1, 2, 3]}, 422, "expected 4 features, got 3"),
    ({"features": [1, 2, 3, 4, 5]}, 422, "expected 4 features, got 5"),
    ({"features": [1, 2, "3", 4]}, 422, "features[2]: expected a number, got string"),
    ({"features": [1, 2, True, 4]}, 422, "features[2]: expected a number, got boolean"),
    ({"features": [1, None, 3, 4]}, 422, "features[1]: expected a number, got null"),
    ({"features": [1, [2], 3, 4]}, 422, "features[1]: expected a number, got list"),
    ({"features": [1, 2, 3, 1e39]}, 422, "not a finite float32 value"),
    ({"features": "1,2,3,4"}, 422, "expected a list of 4 numbers"),
    ({"instances": []}, 422, "instances: empty list"),
    ({"instances": [[1, 2, 3, 4], [1, 2]]}, 422, "instances[1]: expected 4 features, got 2"),
    ({"instances": [[1, 2, 3, 4], [1, 2, "x", 4]]}, 422, "instances[1][2]: expected a number, got string"),
    ({"instances": [1, 2, 3, 4]}, 422, "instances[0]: expected a list of 4 numbers"),
    ({"features": [1, 2, 3, 4], "extra": 1}, 422, "unknown field(s) 'extra'"),
    ({"feature": [1, 2, 3, 4]}, 422, "unknown field(s) 'feature'"),
    ({"features": [1, 2, 3, 4], "instances": [[1, 2, 3, 4]]}, 422, "not both"),
    ({}, 422, "missing field"),
    ([1, 2, 3, 4], 422, "expected a JSON object"),
    ({"instances": [[0, 0, 0, 0]] * 9}, 413, "MAX_BATCH_SIZE=8"),
]


@pytest.mark.parametrize("payload, status, message", BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_input_is_a_clear_client_error(shared_server, payload, status, message):
    got, body = shared_server.post("/predict", payload)
    assert got == status, body
    assert message in body["detail"], body


@pytest.mark.parametrize(
    "raw, status, message",
    [
        (b'{"features": [1, 2, 3, NaN]}', 422, "NaN is not allowed"),
        (b'{"features": [1, 2, 3, Infinity]}', 422, "Infinity is not allowed"),
        (b'{"features": [1, 2, 3, -Infinity]}', 422, "-Infinity is not allowed"),
        (b'{"features": [1, 2, 3, 1' + b"0" * 400 + b"]}", 422, "not a finite float32 value"),
        (b'{"features": [1, 2, 3,', 400, "not valid JSON"),
        (b"", 422, "empty request body"),
    ],
)
def test_non_json_numbers_and_malformed_bodies(shared_server, raw, status, message):
    got, body = shared_server.request("POST", "/predict", raw=raw)
    assert got == status, body
    assert message in body["detail"], body


def test_body_size_limit_names_the_limit(shared_server):
    big = json.dumps({"instances": [[1.123456789] * 4] * 8, "pad": "x" * 5000}).encode()
    status, body = shared_server.request("POST", "/predict", raw=big)
    assert status == 413 and "MAX_BODY_BYTES=4096" in body["detail"], body
    # chunked (no Content-Length): counted while streaming
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=10)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(big), 1000):
        chunk = big[i : i + 1000]
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413 and b"MAX_BODY_BYTES=4096" in resp.read()
    conn.close()


def test_client_errors_are_counted_apart_from_server_errors(shared_server):
    before_422 = shared_server.value("model_server_requests_total", handler="/predict", code="422")
    before_200 = shared_server.value("model_server_requests_total", handler="/predict", code="200")
    before_413 = shared_server.value("model_server_requests_total", handler="/predict", code="413")
    for _ in range(3):
        assert shared_server.post("/predict", {"features": [1, 2]})[0] == 422
    assert shared_server.post("/predict", {"instances": [[0, 0, 0, 0]] * 9})[0] == 413
    assert shared_server.post("/predict", {"features": [0, 0, 0, 0]})[0] == 200
    assert shared_server.value("model_server_requests_total", handler="/predict", code="422") == before_422 + 3
    assert shared_server.value("model_server_requests_total", handler="/predict", code="413") == before_413 + 1
    assert shared_server.value("model_server_requests_total", handler="/predict", code="200") == before_200 + 1
    codes = {l["code"] for n, l, _ in shared_server.samples() if n == "model_server_requests_total"}
    assert not any(c.startswith("5") for c in codes), codes


def test_probes_and_scrapes_are_not_counted(shared_server):
    before = shared_server.value("model_server_requests_total")
    for path in ("/health", "/ready", "/metrics"):
        shared_server.get(path)
    assert shared_server.value("model_server_requests_total") == before
    assert shared_server.get("/nope")[0] == 404
    assert shared_server.value("model_server_requests_total", handler="other", code="404") >= 1


def test_model_info_labels(shared_server):
    info = [l for n, l, v in shared_server.samples() if n == "model_server_model_info" and v == 1]
    assert len(info) == 1, info
    assert info[0]["model"] == "sentiment" and info[0]["version"] == "2.2.0" and info[0]["revision"] == "0123abc"
    assert info[0]["device"] == "cpu" and info[0]["runtime"] == "onnxruntime"
    assert info[0]["runtime_version"] == ort.__version__
    assert shared_server.value("model_server_model_loaded") == 1
    assert shared_server.value("model_server_workers") == 2


@pytest.mark.parametrize(
    "payload, status, message",
    [
        ({"id": "garbage", "label": 1}, 422, "not decodable"),
        ({"id": 12, "label": 1}, 422, "non-empty string"),
        ({"id": "x", "label": 2}, 422, "label must be an integer class 0..1"),
        ({"id": "x", "label": "1"}, 422, "label must be an integer"),
        ({"id": "x"}, 422, "missing field"),
        ({"id": "x", "label": 1, "extra": True}, 422, "unknown field(s) 'extra'"),
    ],
)
def test_bad_feedback_is_a_client_error(shared_server, payload, status, message):
    got, body = shared_server.post("/feedback", payload)
    assert got == status, body
    assert message in body["detail"], body
