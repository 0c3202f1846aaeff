#!/usr/bin/env python3
"""Load benchmark of the reference model server (images/model-server) on loopback.

    python3 bench/server/run.py [--workers 1,2,3,5] [--batches 1,8,32] [--duration 10] [--connections 16]
                                [--out bench/RESULTS-server.md] [--json out/bench-server.json]

For each worker count it starts the real server (`python -m app`: gunicorn + uvicorn workers, the image's CMD)
on 127.0.0.1 with a random free port, waits for /ready, and drives POST /predict with `wrk` (Debian package;
`apt-get install -y wrk`) for each batch size, bounded by --duration. Without wrk it falls back to a Python
closed-loop generator (threads + keep-alive connections), and says so. It reports throughput (requests/s and
instances/s), latency p50/p95/p99, non-2xx responses, the server's peak memory (summed RSS of the gunicorn
master and its workers, sampled every 100 ms) and its cold start (spawn -> /ready 200), and sets p99 beside the
stacks' p99LatencyMs SLOs (Pulumi.<stack>.yaml). Only 127.0.0.1 is ever contacted.

The server's Python environment: --python, else a venv at images/model-server/.venv-bench built the way the
Dockerfile builds it (pip install --no-deps --only-binary=:all: -r requirements.txt + requirements-training.txt,
pip check), reused while the lock files are unchanged.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "images" / "model-server"
FEATURES = 4


# --- environment -------------------------------------------------------------------------------------------------
def ensure_python(explicit: Optional[str]) -> str:
    if explicit:
        return explicit
    venv = SERVER / ".venv-bench"
    locks = [SERVER / "requirements.txt", SERVER / "requirements-training.txt"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in locks)).hexdigest()
    stamp = venv / ".lock-digest"
    py = venv / "bin" / "python"
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(py)
    shutil.rmtree(venv, ignore_errors=True)
    print(f"building {venv} from the lock files ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check"]
    for lock in locks:
        subprocess.run(pip + ["install", "--quiet", "--no-deps", "--only-binary=:all:", "-r", str(lock)], check=True)
    subprocess.run(pip + ["check"], check=True)
    stamp.write_text(digest)
    return str(py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_bytes(pid: int) -> int:
    """RSS of pid and all its descendants, from /proc (Linux)."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def tree_pids(pid: int) -> List[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def tree_cpu_seconds(pid: int) -> float:
    """user+system CPU time of pid and its descendants (the server's own work, whatever else the machine runs)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total / tick


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._halt.wait(0.1)

    def stop(self) -> int:
        self._halt.set()
        self.join(2)
        return self.peak


def get(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class ServerProcess:
    def __init__(self, python: str, model: Path, workers: int, workdir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODEL_", "WEB_CONCURRENCY"))}
        env.update(
            HOST="127.0.0.1", PORT=str(self.port), MODEL_PATH=str(model), WEB_CONCURRENCY=str(workers),
            MODEL_SERVER_RUN_DIR=str(workdir / f"run-{workers}"), POD_TEMPLATE_HASH="bench", LOG_LEVEL="warning",
            PROMETHEUS_DISABLE_CREATED_SERIES="True", MAX_BATCH_SIZE="128",
        )
        self.log = open(workdir / f"server-{workers}.log", "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([python, "-m", "app"], cwd=SERVER, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.sampler = RssSampler(self.proc.pid)
        self.sampler.start()

    def wait_ready(self, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if get(self.port, "/ready") == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s; see {self.log.name}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


# --- load generators ---------------------------------------------------------------------------------------------
def body_for(batch: int) -> str:
    rows = [[round(((i * 37 + j * 11) % 200) / 50.0 - 2.0, 3) for j in range(FEATURES)] for i in range(batch)]
    return json.dumps({"features": rows[0]} if batch == 1 else {"instances": rows})


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"p50":%%d,"p95":%%d,"p99":%%d,"max":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def run_wrk(port: int, batch: int, duration: int, connections: int, threads: int, workdir: Path) -> Dict:
    script = workdir / f"predict-{batch}.lua"
    script.write_text(WRK_SCRIPT % body_for(batch))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/predict"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "rps": r["requests"] / secs, "requests": r["requests"], "non2xx": r["status"], "socket_errors": errors,
        "p50_ms": r["p50"] / 1000, "p95_ms": r["p95"] / 1000, "p99_ms": r["p99"] / 1000, "max_ms": r["max"] / 1000,
    }


def run_python_load(port: int, batch: int, duration: int, connections: int) -> Dict:
    """Fallback closed-loop generator: `connections` threads, one keep-alive connection each."""
    body = body_for(batch).encode()
    lat: List[float] = []
    bad = [0, 0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: List[float] = []
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    with lock:
                        bad[0] += 1
            except OSError:
                with lock:
                    bad[1] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else float("nan")

    return {"rps": len(lat) / secs, "requests": len(lat), "non2xx": bad[0], "socket_errors": bad[1],
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": lat[-1] * 1000 if lat else float("nan")}


# --- report ------------------------------------------------------------------------------------------------------
def slos() -> List[str]:
    out = []
    for stack in ("dev", "prod"):
        f = REPO / f"Pulumi.{stack}.yaml"
        if not f.exists():
            continue
        model = None
        for line in f.read_text().splitlines():
            m = re.match(r"\s*- name: (\S+)", line)
            if m:
                model = m.group(1)
            m2 = re.search(r"p99LatencyMs:\s*(\d+)", line)
            if m2:
                out.append(f"{stack}/{model}: p99 <= {m2.group(1)} ms")
    return out


def markdown(results: List[Dict], meta: Dict) -> str:
    ranged = "rps_min" in results[0] if results else False
    lines = [
        "| workers | batch | requests/s" + (" (min–max)" if ranged else "") + " | instances/s | p50 ms | p95 ms | p99 ms"
        + (" (min–max)" if ranged else "") + " | server CPU ms/request | server cores busy | non-2xx + errors | peak RSS MiB | cold start s | load avg |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rps = f"{r['rps']:.0f}" + (f" ({r['rps_min']:.0f}–{r['rps_max']:.0f})" if ranged else "")
        p99 = f"{r['p99_ms']:.1f}" + (f" ({r['p99_min']:.0f}–{r['p99_max']:.0f})" if ranged else "")
        lines.append(
            f"| {r['workers']} | {r['batch']} | {rps} | {r['rps'] * r['batch']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{p99} | {r.get('cpu_ms_per_req', float('nan')):.2f} | {r.get('server_cores_busy', float('nan')):.2f} | {r['non2xx'] + r['socket_errors']} | {r['peak_rss_mib']:.0f} | {r['cold_start_s']:.1f} | {r.get('loadavg', float('nan')):.1f} |"
        )
    return "\n".join(lines)


def measure(python: str, model: Path, w: int, batches: List[int], args, generator: str, workdir: Path, rnd: int) -> List[Dict]:
    out: List[Dict] = []
    srv = ServerProcess(python, model, w, workdir)
    try:
        cold = srv.wait_ready()
        for b in batches:
            if args.warmup:
                (run_wrk(srv.port, b, args.warmup, args.connections, args.threads, workdir) if generator == "wrk"
                 else run_python_load(srv.port, b, args.warmup, args.connections))
            cpu0 = tree_cpu_seconds(srv.proc.pid)
            r = (run_wrk(srv.port, b, args.duration, args.connections, args.threads, workdir) if generator == "wrk"
                 else run_python_load(srv.port, b, args.duration, args.connections))
            cpu = tree_cpu_seconds(srv.proc.pid) - cpu0
            r.update(workers=w, batch=b, cold_start_s=cold, round=rnd, loadavg=os.getloadavg()[0],
                     cpu_ms_per_req=1000 * cpu / max(1, r["requests"]), server_cores_busy=cpu / args.duration)
            out.append(r)
            print(f"round {rnd} workers={w} batch={b}: {r['rps']:.0f} req/s ({r['rps'] * b:.0f} inst/s) p50={r['p50_ms']:.1f} "
                  f"p95={r['p95_ms']:.1f} p99={r['p99_ms']:.1f} ms non2xx={r['non2xx']} errors={r['socket_errors']} "
                  f"cpu/req={r['cpu_ms_per_req']:.2f}ms cores={r['server_cores_busy']:.2f} "
                  f"rss={srv.sampler.peak / 2**20:.0f}MiB load={r['loadavg']:.1f}", flush=True)
    finally:
        try:
            peak = srv.sampler.stop()
        finally:
            rc = srv.stop()  # never leak a server, whatever failed above
        for r in out:
            r["peak_rss_mib"] = peak / 2**20
            r["exit_code"] = rc
    return out


def summarize(results: List[Dict]) -> List[Dict]:
    """Median over rounds per (workers, batch), with the rps and p99 range."""
    import statistics

    keys = sorted({(r["workers"], r["batch"]) for r in results})
    out = []
    for w, b in keys:
        rs = [r for r in results if (r["workers"], r["batch"]) == (w, b)]
        m = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "cold_start_s", "loadavg", "cpu_ms_per_req", "server_cores_busy")}
        m.update(workers=w, batch=b, rounds=len(rs), non2xx=sum(r["non2xx"] for r in rs), socket_errors=sum(r["socket_errors"] for r in rs),
                 peak_rss_mib=max(r["peak_rss_mib"] for r in rs), rps_min=min(r["rps"] for r in rs), rps_max=max(r["rps"] for r in rs),
                 p99_min=min(r["p99_ms"] for r in rs), p99_max=max(r["p99_ms"] for r in rs), runs=rs)
        out.append(m)
    return out


def verdict(results: List[Dict], cores: int) -> List[str]:
    """Plain-language reading of the table: the best worker count per batch size, and 2 x cores + 1 against it."""
    lines = []
    rule = 2 * cores + 1
    for b in sorted({r["batch"] for r in results}):
        rows = {r["workers"]: r for r in results if r["batch"] == b}
        best = max(rows.values(), key=lambda r: r["rps"])
        lines.append(f"batch {b}: most requests/s with {best['workers']} worker(s) ({best['rps']:.0f}/s, p99 {best['p99_ms']:.0f} ms)")
        if rule in rows and rule != best["workers"]:
            r = rows[rule]
            lines.append(f"  2 x cores + 1 = {rule} workers: {r['rps']:.0f}/s ({100 * (r['rps'] / best['rps'] - 1):+.0f}%), p99 {r['p99_ms']:.0f} ms, "
                         f"{r['peak_rss_mib']:.0f} MiB vs {best['peak_rss_mib']:.0f} MiB")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,3,5", help="worker counts (5 = 2 x cores + 1 on a 2-core machine)")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement (bounded)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="rounds over all worker counts (order rotated each round); the report gives medians")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the generator shares the machine's cores)")
    ap.add_argument("--python", help="interpreter with the server's dependencies (default: a venv from the lock)")
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--out", help="write the markdown report here (e.g. bench/RESULTS-server.md)")
    ap.add_argument("--json", help="write raw results here")
    args = ap.parse_args()
    if args.duration < 1 or args.duration > 120:
        ap.error("--duration must be 1..120 s")
    workers = [int(w) for w in args.workers.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk (or --generator python)")
    python = ensure_python(args.python)
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    model = workdir / "model.onnx"
    # The hand-built 4-feature, 2-class fixture MLP (weights/make_weights.py), the model the published figures were
    # measured on; the image now ships the trained digits model (training/, 64 features, 10 classes).
    subprocess.run([python, str(SERVER / "weights" / "make_weights.py"), "--out", str(model)], check=True)

    meta = {
        "cores": os.cpu_count(), "loadavg_start": os.getloadavg(), "generator": generator,
        "connections": args.connections, "duration_s": args.duration, "python": subprocess.run(
            [python, "-c", "import platform, onnxruntime; print(platform.python_version(), onnxruntime.__version__)"],
            capture_output=True, text=True).stdout.strip(), "machine": platform.machine(),
    }
    print(f"generator={generator} connections={args.connections} duration={args.duration}s cores={meta['cores']} "
          f"loadavg={meta['loadavg_start']}", flush=True)
    results: List[Dict] = []
    for rnd in range(args.repeat):
        order = workers[rnd % len(workers):] + workers[:rnd % len(workers)]
        for w in order:
            results += measure(python, model, w, batches, args, generator, workdir, rnd)
    results = summarize(results) if args.repeat > 1 else results
    meta["loadavg_end"] = os.getloadavg()
    table = markdown(results, meta)
    print()
    print(table)
    print()
    for line in verdict(results, meta["cores"] or 1):
        print(line)
    for s in slos():
        worst = max(r["p99_ms"] for r in results)
        limit = int(s.rsplit("<= ", 1)[1].split()[0])
        print(f"SLO {s}: worst p99 measured {worst:.0f} ms -> {'within' if worst <= limit else 'OVER'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    if args.out:
        Path(args.out).write_text(
            f"<!-- generated by bench/server/run.py; {meta} -->\n\n{table}\n\nSLOs: {'; '.join(slos())}\n"
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
