"""The floor of the server benchmark: the same ONNX model in a bare ONNX Runtime `session.run` loop, in this process.

    <server venv python> bench/server/floor.py signature --model M.onnx
    <server venv python> bench/server/floor.py run --model M.onnx --batches 1,8,32 --duration 5 --threads 2 [--intra-op-threads 1]

`signature` prints the model's {"input", "features", "output"} (benchlib.signature). `run` builds one session with the
server's options (intra_op_num_threads = ORT_INTRA_OP_THREADS, inter_op_num_threads = 1: app/model.py) and, per batch
size, runs `--threads` closed loops of session.run on it for --duration seconds (the GIL is released inside run, so
N threads use N cores, as N server workers would), with the same input rows as the HTTP requests. It prints one JSON
line: per batch, calls/s and the per-call p50/p99. No HTTP, no JSON, no metrics: what the model alone costs.
"""
import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def session(path: str, intra_op_threads: int) -> "ort.InferenceSession":
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, intra_op_threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(Path(path).read_bytes(), sess_options=opts, providers=["CPUExecutionProvider"])


def model_signature(sess: "ort.InferenceSession") -> dict:
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    return benchlib.signature(meta, [(i.name, i.shape) for i in sess.get_inputs()], [o.name for o in sess.get_outputs()])


def measure(sess, sig: dict, batch: int, seconds: float, threads: int) -> dict:
    x = np.asarray(benchlib.rows_for(batch, sig["features"]), dtype=np.float32)
    feed, out = {sig["input"]: x}, [sig["output"]]
    for _ in range(50):  # warm-up
        sess.run(out, feed)
    per_thread = [[] for _ in range(threads)]
    stop_at = time.perf_counter() + seconds

    def loop(lat: list) -> None:
        while True:
            t = time.perf_counter()
            if t >= stop_at:
                return
            sess.run(out, feed)
            lat.append(time.perf_counter() - t)

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(lat,)) for lat in per_thread]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    lat = sorted(v for part in per_thread for v in part)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000

    return {"batch": batch, "threads": threads, "calls": len(lat), "rps": len(lat) / wall, "p50_ms": pct(50), "p99_ms": pct(99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["signature", "run"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--intra-op-threads", type=int, default=1)
    args = ap.parse_args()
    sess = session(args.model, args.intra_op_threads)
    sig = model_signature(sess)
    if args.command == "signature":
        print(json.dumps({**sig, "onnxruntime": ort.__version__}))
        return
    rows = [measure(sess, sig, int(b), args.duration, args.threads) for b in args.batches.split(",")]
    print(json.dumps({"signature": sig, "results": rows}))


if __name__ == "__main__":
    main()
