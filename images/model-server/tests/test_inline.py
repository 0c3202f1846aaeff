"""Small CPU inferences run inline on the event loop, without the hop to the inference pool (issue #25 section 4,
bench/server/cuts.py cut 2), but only those known to be short (app/main.py inline_rows): the server's promise that
/health, /ready and /metrics answer during a long inference must still hold, also for a slow model and a batch of
one row, which the size rule alone would have run inline."""
import threading
import time
from pathlib import Path

from test_hardening import _inference_seconds

from app.main import inline_rows

BUDGET = 0.0005


def test_inline_only_on_cpu_within_the_budget():
    assert inline_rows("cpu", 32, BUDGET, [0.00003, 0.00002, 0.00004]) == 32
    assert inline_rows("cpu", 8, BUDGET, [0.0004, 0.0005, 0.0004]) == 8  # at the budget
    assert inline_rows("cuda", 32, BUDGET, [0.00001] * 3) == 0  # a GPU run always goes to the pool
    assert inline_rows("none", 32, BUDGET, [0.00001] * 3) == 0
    assert inline_rows("cpu", 0, BUDGET, [0.00001] * 3) == 0  # INLINE_INFERENCE_MAX_ROWS=0 turns it off
    assert inline_rows("cpu", 32, 0.0, [0.00001] * 3) == 0  # INLINE_INFERENCE_BUDGET_MS=0 too
    assert inline_rows("cpu", 32, BUDGET, []) == 0  # not measured: the pool


def test_the_median_of_the_load_time_runs_decides():
    assert inline_rows("cpu", 32, BUDGET, [0.01, 0.0001, 0.0002]) == 32  # one preempted run does not disable it
    assert inline_rows("cpu", 32, BUDGET, [0.01, 0.0001, 0.002]) == 0  # two slow runs do
    assert inline_rows("cpu", 32, BUDGET, [0.5]) == 0  # calibrate_inline stops after one run far over the budget


def test_a_fast_model_runs_small_batches_inline_and_answers_the_same(start_server):
    srv = start_server(WEB_CONCURRENCY="1")
    assert "batches of up to 32 rows inline on the event loop" in srv.log(), srv.log()[-2000:]
    rows = [[i, -i, i / 3, 1] for i in range(40)]
    status, big = srv.post("/predict", {"instances": rows})  # 40 rows: the pool
    assert status == 200
    for n in (1, 8, 32):  # inline
        status, small = srv.post("/predict", {"instances": rows[:n]})
        assert status == 200
        assert [(p["label"], p["score"]) for p in small["predictions"]] == [(p["label"], p["score"]) for p in big["predictions"][:n]]
    off = start_server(WEB_CONCURRENCY="1", INLINE_INFERENCE_MAX_ROWS="0")
    assert "batches of up to 0 rows inline" in off.log(), off.log()[-2000:]


def _heavy_model(path: Path, n: int) -> Path:
    """The server's model contract (4 features, 2 classes) with one input-dependent n x n MatMul: ~2 n^3 flops per
    inference whatever the batch, so ONE row is slow, in a graph small enough to load at once."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (4, n)).astype(np.float32), "W_in"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32), "W_out"),
        numpy_helper.from_array(np.asarray([n, n], dtype=np.int64), "square"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "W_in"], ["h0"]),
        helper.make_node("ReduceSum", ["features"], ["s"], keepdims=1),  # [1, 1]: depends on the input (no folding)
        helper.make_node("Expand", ["s", "square"], ["a"]),
        helper.make_node("MatMul", ["a", "a"], ["p"]),
        helper.make_node("ReduceMean", ["p"], ["r"], axes=[0], keepdims=1),
        helper.make_node("Tanh", ["r"], ["t"]),
        helper.make_node("Add", ["h0", "t"], ["h"]),
        helper.make_node("MatMul", ["h", "W_out"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "heavy", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(
        model, {"model_fleet.signature": '{"input": "features", "features": 4, "probabilities": "probabilities", "classes": 2}'}
    )
    onnx.save(model, str(path))
    return path


def test_probes_answer_while_a_slow_model_infers_one_row(start_server, tmp_path):
    one = [[0.5, -1, 2, 1]]
    per_run = _inference_seconds(_heavy_model(tmp_path / "slow.onnx", 1024), one)
    n = min(4096, max(1024, int(1024 * (1.5 / max(per_run, 1e-4)) ** (1 / 3))))  # about 1.5 s for ONE row, now
    path = _heavy_model(tmp_path / "slow.onnx", n)
    srv = start_server(WEB_CONCURRENCY="1", MODEL_PATH=str(path))
    assert "batches of up to 0 rows inline" in srv.log(), srv.log()[-2000:]

    result = {}

    def long_predict():
        started = time.monotonic()
        result["status"], _ = srv.post("/predict", {"features": one[0]}, timeout=120)
        result["seconds"] = time.monotonic() - started

    t = threading.Thread(target=long_predict)
    t.start()
    time.sleep(0.4)  # the request is in, its inference running
    answered = {}
    for path_ in ("/health", "/ready", "/metrics"):
        started = time.monotonic()
        status, _ = srv.get(path_, timeout=120)
        answered[path_] = (status, round(time.monotonic() - started, 3), t.is_alive())
    t.join(120)
    assert result.get("status") == 200, result
    assert result["seconds"] > 1.0, f"the inference was not long enough to tell ({result}); n={n}"
    for path_, (status, seconds, in_flight) in answered.items():
        assert status == 200, answered
        assert in_flight, f"{path_} answered only after the inference finished: the event loop was blocked ({answered}, {result})"
        assert seconds < 0.8, answered
