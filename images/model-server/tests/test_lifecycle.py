"""Startup, failed loads, multi-worker metrics and graceful shutdown of real server processes."""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT


def test_readiness_while_loading(start_server):
    srv = start_server(wait="healthy", MODEL_LOAD_DELAY_SECONDS="6", WEB_CONCURRENCY="2")
    assert srv.get("/health") == (200, {"status": "ok"}), "liveness answers while the model loads"
    status, body = srv.get("/ready")
    assert status == 503 and body["status"] == "loading", body
    status, body = srv.post("/predict", {"features": [0, 0, 0, 0]})
    assert status == 503 and "not loaded" in body["detail"]
    assert srv.value("model_server_model_loaded") == 0
    assert srv.value("model_server_requests_total", handler="/predict", code="503") == 1, "a /predict before load is real traffic that failed"
    srv.wait_ready(timeout=60)
    assert srv.value("model_server_model_loaded") == 1
    assert srv.post("/predict", {"features": [0, 0, 0, 0]})[0] == 200


def _corrupt(path: Path, model_file: Path) -> None:
    path.write_bytes(b"\x08\x07" + os.urandom(200))


def _legacy_json(path: Path, model_file: Path) -> None:
    path.write_text('{"format": "model-fleet/logreg-v1", "features": 4, "weights": [1, 2, 3, 4], "bias": 0.1}\n')


def _truncated(path: Path, model_file: Path) -> None:
    path.write_bytes(model_file.read_bytes()[:200])


def _wrong_contract(path: Path, model_file: Path) -> None:
    import onnx

    m = onnx.load(str(model_file))
    props = {p.key: p.value for p in m.metadata_props}
    assert "model_fleet.signature" in props, "the fixture declares its signature"
    for p in m.metadata_props:
        if p.key == "model_fleet.signature":  # declares an input the graph does not have
            p.value = p.value.replace('"input": "x"', '"input": "image"')
            assert p.value != props["model_fleet.signature"]
    onnx.save(m, str(path))


@pytest.mark.parametrize(
    "make, reason",
    [(_corrupt, "corrupt"), (_legacy_json, "corrupt"), (_truncated, "corrupt"), (_wrong_contract, "wrong_format"), (None, "not_found")],
    ids=["random-bytes", "legacy-json-weights", "truncated-onnx", "other-model-contract", "missing-file"],
)
def test_bad_weights_keep_the_pod_unready_without_crash_looping(start_server, model_file, tmp_path, make, reason):
    path = tmp_path / "model.onnx"
    if make:
        make(path, model_file)
    srv = start_server(wait="healthy", MODEL_PATH=str(path), WEB_CONCURRENCY="2")
    srv.wait_until(lambda: srv.value("model_server_model_load_errors_total", reason=reason) == 2, 60, "both workers report the load error")
    status, body = srv.get("/ready")
    assert status == 503 and body["status"] == "failed" and body["reason"] == reason, body
    assert srv.get("/health")[0] == 200, "liveness stays 200: a restart cannot fix the weights"
    status, body = srv.post("/predict", {"features": [0, 0, 0, 0]})
    assert status == 503 and reason in body["detail"]
    assert srv.value("model_server_model_loaded") == 0
    info = [l for n, l, v in srv.samples() if n == "model_server_model_info"]
    assert info and info[0]["device"] == "none"
    pids = sorted(srv.worker_pids())
    time.sleep(2)
    assert sorted(srv.worker_pids()) == pids, "no worker restarts"
    assert srv.proc.poll() is None, "the process keeps running"
    log = srv.log()
    assert f"model load failed (reason={reason})" in log
    assert log.count("Booting worker") == 2, log


def test_multiworker_metrics_are_merged_and_survive_a_worker_death(start_server):
    srv = start_server(WEB_CONCURRENCY="2", POD_TEMPLATE_HASH="bcd")
    n = 60
    for i in range(n):  # a new connection per request: the kernel spreads them over both workers
        assert srv.post("/predict", {"features": [i, 0, 0, 0]})[0] == 200
    files = [f for f in os.listdir(srv.env["MODEL_SERVER_RUN_DIR"] + "/metrics") if f.startswith("counter_")]
    pids = {f.split("_")[1].split(".")[0] for f in files}
    assert len(pids) == 2, f"both workers served requests and wrote counters: {files}"
    for _ in range(10):  # whichever worker answers the scrape, it reports the pod's totals
        assert srv.value("model_server_requests_total", handler="/predict", code="200") == n
        assert srv.value("model_server_request_duration_seconds_count", handler="/predict") == n
        assert srv.value("model_server_predictions_total") == n
        assert srv.value("model_server_workers") == 2
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    srv.wait_until(lambda: victim not in srv.worker_pids() and len(srv.worker_pids()) == 2, 30, "the master replaces the worker")
    srv.wait_ready(60)
    assert srv.value("model_server_requests_total", handler="/predict", code="200") == n, "a dead worker's counts are kept"
    assert srv.value("model_server_workers") == 2, "the dead worker's live gauges are dropped (mark_process_dead)"
    assert srv.value("model_server_model_loaded") == 1
    assert len([l for n_, l, v in srv.samples() if n_ == "model_server_model_info"]) == 1


def test_ready_needs_every_worker(start_server, model_file):
    """Readiness speaks for the pod: from the moment a worker dies until its replacement has loaded the model,
    /ready is 503 on every worker (a killed, not yet reaped worker does not count), then 200 again."""
    srv = start_server(WEB_CONCURRENCY="2")
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body = srv.get("/ready", timeout=5)
        except OSError:
            continue
        seen.append((status, body.get("status") if isinstance(body, dict) else None))
        if status == 200 and any(s == 503 for s, _ in seen):
            break
        time.sleep(0.01)
    assert (503, "loading") in seen, f"the pod reported unready while a worker was missing: {sorted(set(seen))}"
    assert seen[-1] == (200, "ready"), seen[-5:]
    assert victim not in srv.worker_pids() and len(srv.worker_pids()) == 2


def _slow_request(srv, results, key, body):
    try:
        results[key] = srv.post("/predict", body, timeout=60)
    except Exception as e:  # noqa: BLE001 - recorded for the assertion
        results[key] = e


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_in_flight_requests_and_exits_0(start_server, workers):
    srv = start_server(WEB_CONCURRENCY=workers, MODEL_PREDICT_DELAY_SECONDS="3", GRACEFUL_SHUTDOWN_SECONDS="10", SHUTDOWN_DRAIN_SECONDS="2")
    results = {}
    threads = [threading.Thread(target=_slow_request, args=(srv, results, i, {"instances": [[i, 1, 2, 3]]})) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the requests are in flight
    sent = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    status, body = srv.get("/ready", timeout=5)
    assert (status, body) == (503, {"status": "draining"}), "readiness turns 503 at once"
    rc = srv.proc.wait(30)
    took = time.monotonic() - sent
    for t in threads:
        t.join(10)
    assert rc == 0, srv.log()
    assert all(isinstance(r, tuple) and r[0] == 200 for r in results.values()) and len(results) == 4, results
    assert took < 10, f"exited {took:.1f}s after SIGTERM, past GRACEFUL_SHUTDOWN_SECONDS=10"
    with pytest.raises(OSError):
        srv.get("/health", timeout=2)


def test_shutdown_gives_up_on_requests_that_outlast_the_budget(start_server):
    srv = start_server(WEB_CONCURRENCY="1", MODEL_PREDICT_DELAY_SECONDS="30", GRACEFUL_SHUTDOWN_SECONDS="4", SHUTDOWN_DRAIN_SECONDS="1")
    results = {}
    t = threading.Thread(target=_slow_request, args=(srv, results, 0, {"features": [0, 0, 0, 0]}))
    t.start()
    time.sleep(0.5)
    sent = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(30)
    took = time.monotonic() - sent
    t.join(10)
    assert rc == 0, srv.log()
    assert took < 4 + 3, f"{took:.1f}s: the 4 s budget, not the 30 s request, bounds the shutdown"


def test_shutdown_budget_fits_the_rendered_pod_spec(rendered_stacks):
    """preStop sleep + the server's whole shutdown budget (GRACEFUL_SHUTDOWN_SECONDS as the pod sets it) must end
    before terminationGracePeriodSeconds, when the kubelet SIGKILLs."""
    import sys

    sys.path.insert(0, str(REPO_ROOT / "images" / "model-server"))
    from app import settings

    checked = 0
    for stack, objs in rendered_stacks.items():
        for obj in objs:
            if obj.get("kind") not in ("Deployment", "Rollout"):
                continue
            spec = obj["spec"]["template"]["spec"]
            for c in spec["containers"]:
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                if "GRACEFUL_SHUTDOWN_SECONDS" not in env and c.get("name") != "model-server":
                    continue
                grace = spec.get("terminationGracePeriodSeconds", 30)
                pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
                budget = float(env.get("GRACEFUL_SHUTDOWN_SECONDS") or settings.DEFAULT_GRACEFUL_SECONDS)
                assert pre + budget <= grace, f"{stack} {obj['metadata']['name']}: preStop {pre}s + shutdown {budget}s > grace {grace}s"
                old = os.environ.get("GRACEFUL_SHUTDOWN_SECONDS")
                os.environ["GRACEFUL_SHUTDOWN_SECONDS"] = str(budget)
                try:
                    drain, inflight = settings.shutdown_budget()
                finally:
                    os.environ.pop("GRACEFUL_SHUTDOWN_SECONDS") if old is None else os.environ.__setitem__("GRACEFUL_SHUTDOWN_SECONDS", old)
                assert drain + inflight + 1 <= budget
                checked += 1
    assert checked >= 2, "found the model pod specs"


def test_a_scrape_while_a_worker_creates_its_metric_file_succeeds(start_server):
    """A booting worker's metric file exists empty for a moment; a scrape then must not answer 500."""
    srv = start_server(WEB_CONCURRENCY="2")
    empty = os.path.join(srv.env["MODEL_SERVER_RUN_DIR"], "metrics", "counter_999999.db")
    open(empty, "wb").close()
    timer = threading.Timer(0.05, os.unlink, [empty])
    timer.start()
    try:
        status, text = srv.get("/metrics")
    finally:
        timer.join()
    assert status == 200
    assert "model_server_model_loaded" in text
