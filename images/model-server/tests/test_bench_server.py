"""The server benchmark's pure logic (bench/server/benchlib.py) and its floor's reading of the model
(bench/server/floor.py) against the server's own loader. Fast: no server, no load."""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "server"
sys.path.insert(0, str(BENCH))
import benchlib  # noqa: E402


# --- the model's signature ---------------------------------------------------------------------------------------
def test_signature_metadata_wins():
    meta = {"model_fleet.signature": json.dumps({"input": "pixels", "features": 64, "probabilities": "probs", "classes": 10, "label": "label"})}
    sig = benchlib.signature(meta, [("pixels", ["N", 64])], ["label", "probs"])
    assert sig == {"input": "pixels", "features": 64, "output": "probs"}


def test_signature_from_the_graph_without_the_key():
    assert benchlib.signature({}, [("x", [None, 4])], ["logits", "probabilities"]) == {"input": "x", "features": 4, "output": "probabilities"}
    # a symbolic feature dimension: the `features` metadata says it; no `probabilities` output: the first
    assert benchlib.signature({"features": "7"}, [("x", ["N", "F"])], ["out"]) == {"input": "x", "features": 7, "output": "out"}


@pytest.mark.parametrize("inputs, outputs, meta, match", [
    ([("a", [None, 2]), ("b", [None, 2])], ["y"], {}, "one model input"),
    ([("x", ["N", "F"])], ["y"], {}, "declares no feature count"),
    ([("x", [None, 3])], [], {}, "no output"),
])
def test_signature_refuses_what_it_cannot_read(inputs, outputs, meta, match):
    with pytest.raises(ValueError, match=match):
        benchlib.signature(meta, inputs, outputs)


def test_floor_reads_the_model_as_the_server_does(model_file):
    """The floor and the peer feed the tensor the server's own loader names, with as many features."""
    import floor
    from app.model import Model

    sig = floor.model_signature(floor.session(str(model_file), 1))
    served = Model.load(str(model_file), requested_device="cpu")
    assert (sig["input"], sig["features"]) == (served.input_name, served.features)


# --- the requests ------------------------------------------------------------------------------------------------
SIG = {"input": "features", "features": 3, "output": "probabilities"}


def test_rows_are_deterministic_and_shaped():
    rows = benchlib.rows_for(5, 3)
    assert rows == benchlib.rows_for(5, 3)
    assert len(rows) == 5 and all(len(r) == 3 and all(-2.0 <= v < 2.0 for v in r) for r in rows)
    assert len({tuple(r) for r in rows}) == 5, "rows differ"


def test_predict_requests_are_the_server_api():
    path, body = benchlib.request_for("predict", 1, SIG, "m")
    assert path == "/predict" and json.loads(body) == {"features": benchlib.rows_for(1, 3)[0]}
    path, body = benchlib.request_for("predict", 4, SIG, "m")
    assert path == "/predict" and json.loads(body) == {"instances": benchlib.rows_for(4, 3)}


def test_v2_requests_follow_the_open_inference_protocol():
    path, body = benchlib.request_for("v2", 4, SIG, "digits")
    assert path == "/v2/models/digits/infer"
    (tensor,) = json.loads(body)["inputs"]
    assert tensor["name"] == "features" and tensor["datatype"] == "FP32" and tensor["shape"] == [4, 3]
    assert tensor["data"] == [v for row in benchlib.rows_for(4, 3) for v in row], "row-major flat data"


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        benchlib.request_for("grpc", 1, SIG, "m")


# --- environments ------------------------------------------------------------------------------------------------
def test_lock_digest_changes_with_the_locks(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x==1\n")
    b.write_text("y==2\n")
    first = benchlib.lock_digest([a, b])
    assert benchlib.lock_digest([a, b]) == first
    b.write_text("y==3\n")
    assert benchlib.lock_digest([a, b]) != first


# --- comparisons -------------------------------------------------------------------------------------------------
CURVE = [(10.0, 1000.0), (30.0, 2000.0), (90.0, 2200.0)]  # (p99 ms, requests/s)


def test_throughput_at_p99():
    assert benchlib.throughput_at_p99(CURVE, 20.0) == (1500.0, "interpolated")
    assert benchlib.throughput_at_p99(CURVE, 30.0) == (2000.0, "interpolated")
    assert benchlib.throughput_at_p99(CURVE, 5.0) == (None, "below")
    assert benchlib.throughput_at_p99(CURVE, 500.0) == (2200.0, "saturated")
    assert benchlib.throughput_at_p99([], 5.0) == (None, "no data")


def test_peer_goal_met_not_met_and_not_comparable():
    faster = [(p, r * 1.1) for p, r in CURVE]
    assert benchlib.peer_goal(faster, CURVE)["met"] is True
    assert benchlib.peer_goal(CURVE, faster)["met"] is False
    # equal throughput at equal p99 meets "at least its throughput"
    assert benchlib.peer_goal(CURVE, CURVE)["met"] is True
    # the peer only measured far slower than we ever were, and we never that slow: still comparable via saturation
    g = benchlib.peer_goal([(5.0, 100.0)], [(50.0, 90.0)])
    assert g["comparable"] == 1 and g["met"] is True
    # nothing both reached: no verdict either way
    assert benchlib.peer_goal([], CURVE) == {"met": False, "comparable": 0, "points": [
        {"p99_ms": p, "rps": None, "how": "no data", "peer_rps": r, "peer_how": "interpolated" if p < 90 else "saturated", "met": None}
        for p, r in CURVE
    ]}


def test_ratio():
    assert benchlib.ratio(3.0, 2.0) == 1.5
    assert benchlib.ratio(3.0, 0) is None and benchlib.ratio(None, 2.0) is None and benchlib.ratio(3.0, None) is None


# --- where the time goes -----------------------------------------------------------------------------------------
# Lines as `py-spy record --subprocesses --format raw` writes them (root first, the sample count last), shortened.
PROC = 'process 19434:"python -m app";process 19437:"python -m app";'
RAW = [
    PROC + "Thread.run (threading.py:982);_worker (concurrent/futures/thread.py:83);_WorkItem.run (concurrent/futures/thread.py:58);"
    "infer (app/main.py:356);Model.predict (app/model.py:161);Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406) 7",
    PROC + "Thread.run (threading.py:982);_worker (concurrent/futures/thread.py:81) 5",
    PROC + "run_endpoint_function (fastapi/routing.py:381);predict (app/main.py:375);parse_instances (app/main.py:323) 3",
    PROC + "predict (app/main.py:375);_read_json (app/main.py:290);parse_json (app/main.py:250);JSONDecoder.raw_decode (json/decoder.py:353) 2",
    PROC + "AsyncExitStack.__aexit__ (contextlib.py:698);Counter.inc (prometheus_client/metrics.py:343);MmapedValue.inc (prometheus_client/values.py:117) 4",
    PROC + "MetricsMiddleware.__call__ (app/main.py:190);send_wrapper (app/main.py:185);record (app/main.py:177) 1",
    PROC + "predict (app/main.py:384);JSONResponse.__init__ (starlette/responses.py:197);_tag (app/ids.py:65);HMAC.digest (hmac.py:159) 6",
    PROC + "Runner.run (asyncio/runners.py:118) 20",
    PROC + "FastAPI.__call__ (fastapi/applications.py:1222);NativeTelemetry.enabled (fastapi/telemetry/_asgi.py:181);_Environ.__getitem__ (<frozen os>:679) 9",
    "",
]


def test_split_profile_by_innermost_category():
    split = benchlib.split_profile(RAW)
    assert split == {"inference": 7, "thread handoff": 5, "decode+validate": 5, "metrics": 5, "response (ids + JSON)": 6, "http+framework": 29}
    assert list(split) == list(benchlib.CATEGORIES)


def test_orjson_frames_are_categorised():
    """orjson is C: its time is sampled in the app's frame that calls it (py-spy names methods Class.method)."""
    assert benchlib.category(["_decode (app/main.py:262)"]) == "decode+validate"
    assert benchlib.category(["parse_body (app/main.py:288)", "v2_infer (app/main.py:640)"]) == "decode+validate"
    assert benchlib.category(["FastJSONResponse.render (app/main.py:400)", "JSONResponse.__init__ (starlette/responses.py:197)"]) == "response (ids + JSON)"
    assert benchlib.category(["JSONResponse.render (starlette/responses.py:200)"]) == "response (ids + JSON)"
    assert benchlib.category(["refuse_non_finite (app/main.py:410)"]) == "response (ids + JSON)"


def test_a_metric_inside_the_handler_counts_as_metrics_not_as_the_handler():
    frames, n = benchlib.frames_of(PROC + "predict (app/main.py:378);Counter.inc (prometheus_client/metrics.py:343) 2")
    assert (benchlib.category(frames), n) == ("metrics", 2)


def test_top_functions_by_self_samples():
    top = benchlib.top_functions(RAW, 2)
    assert top == [("Runner.run (asyncio/runners.py:118)", 20), ("_Environ.__getitem__ (<frozen os>:679)", 9)]


def test_the_benchmark_starts_the_server_with_a_hash_its_preflight_accepts():
    """bench/server/run.py once passed POD_TEMPLATE_HASH="bench", which the preflight refuses: the server never started."""
    import run
    from app import ids

    assert ids.valid_hash(run.POD_TEMPLATE_HASH)
