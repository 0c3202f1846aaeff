"""What the recommended cuts of the model server's non-inference time would save, measured in-process (CPU time per
request, best of 5 repeats), beside the code the server runs today. Nothing here changes the server.

    images/model-server/.venv-bench/bin/python bench/server/cuts.py [--model M.onnx] [--server-dir images/model-server]

1. FastAPI's native OpenTelemetry check: FastAPI.__call__ asks NativeTelemetry.enabled() on every request, which
   looks up the global tracer, meter and logger providers (each an `in os.environ` miss: a KeyError raised and caught).
   Cut: FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False}) (the server has its own metrics).
2. The inference thread hop: `await loop.run_in_executor(pool, infer, ...)` against calling infer inline, for a
   model whose session.run takes microseconds. Cut: run small batches inline (see the report for the trade-off).
3. The prediction ids: app.ids.encode_many as the server runs it (per instance: a json.dumps of the hex nonce, base64,
   an HMAC), against the same bytes with the nonce quoted directly (hex needs no JSON escaping). Also measured: the
   one-shot hmac.digest() instead of hmac.new().digest() (no gain here: not recommended).
4. Input validation: parse_instances as the server runs it (per value, a Python type check in _row), against one
   set comprehension of the value types per request before the same numpy conversion.
"""
import argparse
import asyncio
import hashlib
import hmac
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchlib  # noqa: E402


def per_call_us(fn: Callable[[], None], n: int) -> float:
    """Best of 5: process CPU µs per call (all threads)."""
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best


def telemetry() -> List[str]:
    from fastapi import FastAPI

    on = FastAPI()._native_telemetry
    off = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})._native_telemetry
    assert on.enabled() is False and off.enabled() is False, "no provider configured: both skip the instrumentation"
    a, b = per_call_us(on.enabled, 20000), per_call_us(off.enabled, 20000)
    return [f"1. FastAPI NativeTelemetry.enabled() per request: default {a:.2f} µs, telemetry off {b:.2f} µs: saves {a - b:.2f} µs/request"]


def thread_hop(model: str) -> List[str]:
    import floor
    import numpy as np

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = []
    sess = floor.session(model, 1)
    sig = floor.model_signature(sess)
    for batch in (1, 32):
        x = np.asarray(benchlib.rows_for(batch, sig["features"]), dtype=np.float32)

        def infer() -> None:
            sess.run([sig["output"]], {sig["input"]: x})

        pool = ThreadPoolExecutor(max_workers=1)
        n = 3000

        async def hop() -> float:
            loop = asyncio.get_running_loop()
            t = time.process_time()
            for _ in range(n):
                await loop.run_in_executor(pool, infer)
            return (time.process_time() - t) / n * 1e6

        async def inline() -> float:
            t = time.process_time()
            for _ in range(n):
                infer()
                await asyncio.sleep(0)  # one loop iteration, as a request would yield
            return (time.process_time() - t) / n * 1e6

        a = min(asyncio.run(hop()) for _ in range(3))
        b = min(asyncio.run(inline()) for _ in range(3))
        pool.shutdown()
        out.append(f"2. batch {batch}: session.run via run_in_executor {a:.1f} µs CPU, inline {b:.1f} µs: the hop costs {a - b:.1f} µs/request")
    return out


def prediction_ids(server_dir: Path) -> List[str]:
    import base64
    import json

    sys.path.insert(0, str(server_dir))
    from app import ids  # the server's own code, as it runs today

    key, body = os.urandom(32), b"eyJoIjoiYjJjNGQ1ZiIsInkiOjEsIm4iOiIwMTIzNDU2Nzg5YWJjZGVmIn0"
    assert hmac.new(key, body, hashlib.sha256).digest() == hmac.digest(key, body, "sha256")
    a = per_call_us(lambda: hmac.new(key, body, hashlib.sha256).digest(), 20000)
    b = per_call_us(lambda: hmac.digest(key, body, "sha256"), 20000)
    out = [f"3. HMAC per prediction id: hmac.new().digest() {a:.2f} µs, hmac.digest() {b:.2f} µs: saves {a - b:.2f} µs per instance"]

    def candidate(key: bytes, served_by: str, labels: List[int], nonces: List[str]) -> List[str]:
        head = '{"h":' + json.dumps(served_by) + ',"y":'
        res = []
        for y, n in zip(labels, nonces):
            raw = (head + str(int(y)) + ',"n":"' + n + '"}').encode()
            body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
            res.append(body + "." + ids._tag(key, body))
        return res

    for batch in (1, 32):
        labels = [i % 2 for i in range(batch)]
        nonces = [os.urandom(8).hex() for _ in range(batch)]
        assert candidate(key, "b2c4d5f", labels, nonces) == ids.encode_many(key, "b2c4d5f", labels, nonces)
        a = per_call_us(lambda: ids.encode_many(key, "b2c4d5f", labels, nonces), 2000)
        b = per_call_us(lambda: candidate(key, "b2c4d5f", labels, nonces), 2000)
        out.append(f"3. batch {batch}: ids.encode_many {a:.1f} µs, nonce quoted directly {b:.1f} µs: saves {a - b:.1f} µs/request")
    return out


def validation(server_dir: Path, features: int) -> List[str]:
    import numpy as np

    os.environ.setdefault("POD_TEMPLATE_HASH", "")
    sys.path.insert(0, str(server_dir))
    from app.main import parse_instances  # the server's own code, as it runs today

    def candidate(payload: dict, features: int):
        rows = payload["instances"]
        if any(type(r) is not list or len(r) != features for r in rows) or not {type(v) for r in rows for v in r} <= {int, float}:
            raise ValueError("fall back to the per-value loop to name the bad value")
        x = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(x).all() or (np.abs(x) > np.finfo(np.float32).max).any():
            raise ValueError("name it")
        return x.astype(np.float32), True

    out = []
    for batch in (8, 32):
        payload = {"instances": benchlib.rows_for(batch, features)}
        assert (candidate(payload, features)[0] == parse_instances(payload, features)[0]).all()
        a = per_call_us(lambda: parse_instances(payload, features), 3000)
        b = per_call_us(lambda: candidate(payload, features), 3000)
        out.append(f"4. batch {batch} x {features} features: parse_instances {a:.1f} µs, one type set {b:.1f} µs: saves {a - b:.1f} µs/request")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="ONNX model (default: build the reference model with weights/make_weights.py)")
    ap.add_argument("--server-dir", default=str(HERE.parents[1] / "images" / "model-server"))
    args = ap.parse_args()
    model = args.model
    if not model:
        import subprocess
        import tempfile

        model = str(Path(tempfile.mkdtemp(prefix="bench-cuts-")) / "model.onnx")
        subprocess.run([sys.executable, str(Path(args.server_dir) / "weights" / "make_weights.py"), "--out", model], check=True, capture_output=True)
    import floor

    features = floor.model_signature(floor.session(model, 1))["features"]
    for line in telemetry() + thread_hop(model) + prediction_ids(Path(args.server_dir)) + validation(Path(args.server_dir), features):
        print(line, flush=True)


if __name__ == "__main__":
    main()
