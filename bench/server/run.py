#!/usr/bin/env python3
"""Load benchmark of the reference model server (images/model-server) on loopback, beside its floor and a peer.

    python3 bench/server/run.py [--workers 1,2,3,5] [--batches 1,8,32] [--connections 16[,64]] [--duration 10]
                                [--model M.onnx] [--protocol predict|v2] [--peer kserve|none] [--no-floor]
                                [--profile] [--cpus 0,1] [--out bench/RESULTS-server.md] [--json out/bench-server.json]

For each worker count it starts the real server (`python -m app`: gunicorn + uvicorn workers, the image's CMD)
on 127.0.0.1 with a random free port, waits for /ready, and drives it with `wrk` (Debian package;
`apt-get install -y wrk`) for each batch size and connection count, bounded by --duration: POST /predict
(`--protocol predict`, today's API) or POST /v2/models/{name}/infer (`--protocol v2`, the Open Inference Protocol,
once the server serves it). Without wrk it falls back to a Python closed-loop generator (threads + keep-alive
connections), and says so. It reports throughput (requests/s and instances/s), latency p50/p95/p99, non-2xx
responses, the server's CPU per request, peak memory (summed RSS of the gunicorn master and its workers, sampled
every 100 ms) and cold start (spawn -> /ready 200), and sets p99 beside the stacks' p99LatencyMs SLOs
(Pulumi.<stack>.yaml). Only 127.0.0.1 is ever contacted.

In the same run, on the same machine, with the same worker count, batch sizes and load generator:
- the floor (floor.py, --no-floor skips it): the same model in a bare ONNX Runtime session.run loop in one process,
  one thread per worker, the server's session options (ORT_INTRA_OP_THREADS, inter-op 1);
- the peer (peer_kserve.py, --peer none skips it): the same model behind KServe's Python model server with as many
  workers, driven over the Open Inference Protocol v2 infer endpoint.
The report gives our throughput and p99 as ratios against both, and the issue's goal against the peer (at least its
throughput at equal p99: benchlib.peer_goal, read off the peer's curve over --connections). --cpus pins all three
(and nothing else) to the same CPUs. --profile adds a py-spy pass over our server (not part of the measured runs)
and splits its CPU time per request into HTTP/framework, JSON decoding + validation, inference, metrics and the
response (benchlib.split_profile).

The model: --model, an ONNX classifier file; by default the reference model the image ships, trained here from
its spec (training/versions/digits/1.1.0.json: 64 features, 10 classes) as the Dockerfile's weights stage does.
Its input name and feature count are read from the model (benchlib.signature), not assumed.

Environments, each built on first use and reused while its lock files are unchanged (benchlib.lock_digest), all
installed with `pip install --no-deps --only-binary=:all: --require-hashes -r` and checked with `pip check`:
- the server's: images/model-server/.venv-bench, from requirements.txt + requirements-training.txt, as the Dockerfile;
- the peer's: bench/server/.venv-peer, from bench/server/requirements-peer.txt (its own lock: kserve and its
  dependencies never touch the server's);
- the profiler's: bench/server/.venv-profile, from bench/server/requirements-profile.txt (py-spy).
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
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER = REPO / "images" / "model-server"
MODEL_NAME = "bench"
# A valid Kubernetes pod-template-hash (the server's preflight refuses anything else, e.g. "bench").
POD_TEMPLATE_HASH = "b2c4d5f"

sys.path.insert(0, str(HERE))
import benchlib  # noqa: E402

# The image's default TRAINING_SPEC (Dockerfile): what the benchmark serves unless --model names another file.
REFERENCE_SPEC = "training/versions/digits/1.1.0.json"


# --- environment -------------------------------------------------------------------------------------------------
def ensure_venv(venv: Path, locks: List[Path], label: str) -> str:
    """The venv's python, (re)built from the hash-pinned locks when they changed since it was built."""
    digest = benchlib.lock_digest(locks)
    stamp = venv / ".lock-digest"
    py = venv / "bin" / "python"
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(py)
    shutil.rmtree(venv, ignore_errors=True)
    print(f"building {venv} ({label}) from {', '.join(p.name for p in locks)} ...", flush=True)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check"]
    for lock in locks:
        subprocess.run(pip + ["install", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", str(lock)], check=True)
    subprocess.run(pip + ["check"], check=True)
    stamp.write_text(digest)
    print(f"built {venv} in {time.monotonic() - t0:.0f} s", flush=True)
    return str(py)


def server_locks(server: Path) -> List[Path]:
    """The server's runtime lock, plus the lock of the stage that builds the reference model when there is one."""
    return [server / "requirements.txt", server / "requirements-training.txt"]


def ensure_python(explicit: Optional[str], server: Path = SERVER) -> str:
    if explicit:  # absolute: the server runs in its own directory
        return str(Path(explicit).absolute()) if os.sep in explicit else (shutil.which(explicit) or explicit)
    return ensure_venv(server / ".venv-bench", server_locks(server), "the model server's")


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


def proc_start_time(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: starttime
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def pinned(cpus: Optional[List[int]]):
    """A preexec_fn pinning the child (and so its own children) to cpus, or None."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


class ServerProcess:
    """One server under test: ours (`python -m app`) or the peer, on 127.0.0.1:port, ready when ready_path is 200."""

    def __init__(self, kind: str, cmd: List[str], env: Dict[str, str], cwd: Path, port: int, ready_path: str, log: Path,
                 cpus: Optional[List[int]] = None) -> None:
        self.kind, self.port, self.ready_path = kind, port, ready_path
        self.log = open(log, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpus))
        self.sampler = RssSampler(self.proc.pid)
        self.sampler.start()

    def wait_ready(self, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if get(self.port, self.ready_path) == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} server not ready after {timeout}s; see {self.log.name}")

    def stop(self) -> int:
        tree = [(p, proc_start_time(p)) for p in tree_pids(self.proc.pid) if p != self.proc.pid]
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        for pid, started in tree:  # a worker its parent left behind (the same process: same start time)
            if started is not None and proc_start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()
        return rc


def clean_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODEL_", "WEB_CONCURRENCY", "ORT_"))}


def start_ours(args, python: str, model: Path, workers: int, workdir: Path, tag: str = "") -> ServerProcess:
    port = free_port()
    env = clean_env()
    env.update(
        HOST="127.0.0.1", PORT=str(port), MODEL_PATH=str(model), MODEL_NAME=MODEL_NAME, WEB_CONCURRENCY=str(workers),
        MODEL_SERVER_RUN_DIR=str(workdir / f"run-{workers}{tag}"), POD_TEMPLATE_HASH=POD_TEMPLATE_HASH, LOG_LEVEL="warning",
        PROMETHEUS_DISABLE_CREATED_SERIES="True", MAX_BATCH_SIZE="128", ORT_INTRA_OP_THREADS=str(args.intra_op_threads),
    )
    return ServerProcess("ours", [python, "-m", "app"], env, Path(args.server_dir), port, "/ready", workdir / f"ours-{workers}{tag}.log", args.cpu_list)


# Every kserve/uvicorn logger at WARNING: no access log and no per-request timing line (the server under test logs
# no request either). Passed as KServe's own --log_config_file (peer_kserve.py).
PEER_LOGGING = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {n: {"handlers": ["stderr"], "level": "WARNING", "propagate": False} for n in ("kserve", "kserve.trace", "uvicorn", "uvicorn.error", "uvicorn.access")},
}


def start_peer(args, python: str, model: Path, workers: int, workdir: Path) -> ServerProcess:
    port = free_port()
    logcfg = workdir / "peer-logging.json"
    logcfg.write_text(json.dumps(PEER_LOGGING))
    cmd = [python, str(HERE / "peer_kserve.py"), "--onnx", str(model), "--name", MODEL_NAME, "--port", str(port), "--workers", str(workers),
           "--intra-op-threads", str(args.intra_op_threads), "--log_config_file", str(logcfg)]
    return ServerProcess("peer", cmd, clean_env(), HERE, port, "/v2/health/ready", workdir / f"peer-{workers}.log", args.cpu_list)


# --- load generators ---------------------------------------------------------------------------------------------
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


def run_wrk(port: int, path: str, body: str, duration: int, connections: int, threads: int, workdir: Path) -> Dict:
    script = workdir / f"req-{hashlib.sha256((path + body).encode()).hexdigest()[:12]}.lua"
    script.write_text(WRK_SCRIPT % body)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "rps": r["requests"] / secs, "requests": r["requests"], "non2xx": r["status"], "socket_errors": errors,
        "p50_ms": r["p50"] / 1000, "p95_ms": r["p95"] / 1000, "p99_ms": r["p99"] / 1000, "max_ms": r["max"] / 1000,
    }


def run_python_load(port: int, path: str, body_text: str, duration: int, connections: int) -> Dict:
    """Fallback closed-loop generator: `connections` threads, one keep-alive connection each."""
    body = body_text.encode()
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
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
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


def drive(generator: str, port: int, path: str, body: str, duration: int, connections: int, args, workdir: Path) -> Dict:
    if generator == "wrk":
        return run_wrk(port, path, body, duration, connections, args.threads, workdir)
    return run_python_load(port, path, body, duration, connections)


def check_request(port: int, path: str, body: str) -> None:
    """One request before the load: a server that answers anything but 200 is misconfigured, not slow."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read()[:300]
        if r.status != 200:
            raise RuntimeError(f"POST {path} -> {r.status}: {text!r}")
    finally:
        conn.close()


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


def _f(v: Optional[float], fmt: str = ".0f") -> str:
    return "–" if v is None or v != v else format(v, fmt)


def markdown(results: List[Dict], meta: Dict) -> str:
    """Our server's table (one row per workers x batch x connections)."""
    ours = [r for r in results if r["kind"] == "ours"]
    ranged = bool(ours) and "rps_min" in ours[0]
    lines = [
        "| workers | batch | connections | requests/s" + (" (min–max)" if ranged else "") + " | instances/s | p50 ms | p95 ms | p99 ms"
        + (" (min–max)" if ranged else "") + " | server CPU ms/request | server cores busy | non-2xx + errors | peak RSS MiB | cold start s | load avg |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in ours:
        rps = f"{r['rps']:.0f}" + (f" ({r['rps_min']:.0f}–{r['rps_max']:.0f})" if ranged else "")
        p99 = f"{r['p99_ms']:.1f}" + (f" ({r['p99_min']:.0f}–{r['p99_max']:.0f})" if ranged else "")
        lines.append(
            f"| {r['workers']} | {r['batch']} | {r['connections']} | {rps} | {r['rps'] * r['batch']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{p99} | {r.get('cpu_ms_per_req', float('nan')):.2f} | {r.get('server_cores_busy', float('nan')):.2f} | {r['non2xx'] + r['socket_errors']} | {r['peak_rss_mib']:.0f} | {r['cold_start_s']:.1f} | {r.get('loadavg', float('nan')):.1f} |"
        )
    return "\n".join(lines)


def comparison(results: List[Dict]) -> str:
    """Ours beside the floor and the peer: throughput and p99, and ours as a ratio of each."""
    floor = {(r["workers"], r["batch"]): r for r in results if r["kind"] == "floor"}
    peer = {(r["workers"], r["batch"], r["connections"]): r for r in results if r["kind"] == "peer"}
    lines = [
        "| workers | batch | connections | ours req/s | ours p99 ms | floor calls/s | floor p99 ms | ours ÷ floor, req/s | ours ÷ floor, p99 "
        "| peer req/s | peer p99 ms | ours ÷ peer, req/s | ours ÷ peer, p99 | ours CPU ms/req | peer CPU ms/req |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in (r for r in results if r["kind"] == "ours"):
        fl = floor.get((r["workers"], r["batch"]))
        pe = peer.get((r["workers"], r["batch"], r["connections"]))
        fl_rps, fl_p99 = (fl["rps"], fl["p99_ms"]) if fl else (None, None)
        pe_rps, pe_p99, pe_cpu = (pe["rps"], pe["p99_ms"], pe.get("cpu_ms_per_req")) if pe else (None, None, None)
        lines.append(
            f"| {r['workers']} | {r['batch']} | {r['connections']} | {r['rps']:.0f} | {r['p99_ms']:.1f} | {_f(fl_rps)} | {_f(fl_p99, '.3f')} | "
            f"{_f(benchlib.ratio(r['rps'], fl_rps), '.3f')} | {_f(benchlib.ratio(r['p99_ms'], fl_p99), '.0f')} | {_f(pe_rps)} | {_f(pe_p99, '.1f')} | "
            f"{_f(benchlib.ratio(r['rps'], pe_rps), '.2f')} | {_f(benchlib.ratio(r['p99_ms'], pe_p99), '.2f')} | {_f(r.get('cpu_ms_per_req'), '.2f')} | {_f(pe_cpu, '.2f')} |"
        )
    return "\n".join(lines)


def goals(results: List[Dict]) -> List[str]:
    """The goal against the peer per workers x batch, from both curves over the connection counts."""
    out = []
    keys = sorted({(r["workers"], r["batch"]) for r in results if r["kind"] == "peer"})
    for w, b in keys:
        ours = [(r["p99_ms"], r["rps"]) for r in results if r["kind"] == "ours" and (r["workers"], r["batch"]) == (w, b)]
        peer = [(r["p99_ms"], r["rps"]) for r in results if r["kind"] == "peer" and (r["workers"], r["batch"]) == (w, b)]
        g = benchlib.peer_goal(ours, peer)
        detail = "; ".join(
            f"p99 {p['p99_ms']:.1f} ms: ours {_f(p['rps'])} ({p['how']}), peer {_f(p['peer_rps'])} ({p['peer_how']})" for p in g["points"]
        )
        verdict = "MET" if g["met"] else ("not comparable (no p99 both reached)" if not g["comparable"] else "NOT met")
        out.append(f"workers {w}, batch {b}: {verdict} — {detail}")
    return out


def measure_server(kind: str, start, w: int, batches: List[int], requests: Dict[int, Tuple[str, str]], args, generator: str,
                   workdir: Path, rnd: int) -> List[Dict]:
    out: List[Dict] = []
    srv = start()
    try:
        cold = srv.wait_ready()
        for b in batches:
            path, body = requests[b]
            check_request(srv.port, path, body)
            for c in args.connection_list:
                if args.warmup:
                    drive(generator, srv.port, path, body, args.warmup, c, args, workdir)
                cpu0 = tree_cpu_seconds(srv.proc.pid)
                r = drive(generator, srv.port, path, body, args.duration, c, args, workdir)
                cpu = tree_cpu_seconds(srv.proc.pid) - cpu0
                r.update(kind=kind, workers=w, batch=b, connections=c, cold_start_s=cold, round=rnd, loadavg=os.getloadavg()[0],
                         cpu_ms_per_req=1000 * cpu / max(1, r["requests"]), server_cores_busy=cpu / args.duration)
                out.append(r)
                print(f"round {rnd} {kind} workers={w} batch={b} connections={c}: {r['rps']:.0f} req/s ({r['rps'] * b:.0f} inst/s) "
                      f"p50={r['p50_ms']:.1f} p95={r['p95_ms']:.1f} p99={r['p99_ms']:.1f} ms non2xx={r['non2xx']} errors={r['socket_errors']} "
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


def measure_floor(python: str, model: Path, w: int, batches: List[int], args, rnd: int) -> List[Dict]:
    cmd = [python, str(HERE / "floor.py"), "run", "--model", str(model), "--batches", ",".join(map(str, batches)),
           "--duration", str(args.duration), "--threads", str(w), "--intra-op-threads", str(args.intra_op_threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, preexec_fn=pinned(args.cpu_list))
    out = []
    for r in json.loads(done.stdout.strip().splitlines()[-1])["results"]:
        r.update(kind="floor", workers=w, connections=None, round=rnd, loadavg=os.getloadavg()[0], non2xx=0, socket_errors=0)
        out.append(r)
        print(f"round {rnd} floor threads={w} batch={r['batch']}: {r['rps']:.0f} calls/s p50={r['p50_ms'] * 1000:.0f} µs "
              f"p99={r['p99_ms'] * 1000:.0f} µs load={r['loadavg']:.1f}", flush=True)
    return out


def summarize(results: List[Dict]) -> List[Dict]:
    """Median over rounds per (kind, workers, batch, connections), with the rps and p99 range."""
    import statistics

    def key(r: Dict) -> Tuple:
        return (r["kind"], r["workers"], r["batch"], r["connections"] or 0)

    out = []
    for k in sorted({key(r) for r in results}):
        rs = [r for r in results if key(r) == k]
        m = {f: statistics.median(r[f] for r in rs) for f in ("rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "cold_start_s", "loadavg", "cpu_ms_per_req", "server_cores_busy") if f in rs[0]}
        m.update(kind=rs[0]["kind"], workers=k[1], batch=k[2], connections=rs[0]["connections"], rounds=len(rs),
                 non2xx=sum(r["non2xx"] for r in rs), socket_errors=sum(r["socket_errors"] for r in rs),
                 rps_min=min(r["rps"] for r in rs), rps_max=max(r["rps"] for r in rs),
                 p99_min=min(r["p99_ms"] for r in rs), p99_max=max(r["p99_ms"] for r in rs), runs=rs)
        if "peak_rss_mib" in rs[0]:
            m["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rs)
        out.append(m)
    return out


def verdict(results: List[Dict], cores: int) -> List[str]:
    """Plain-language reading of our table: the best worker count per batch size, and 2 x cores + 1 against it."""
    lines = []
    rule = 2 * cores + 1
    ours = [r for r in results if r["kind"] == "ours"]
    for b in sorted({r["batch"] for r in ours}):
        rows = {r["workers"]: r for r in ours if r["batch"] == b}
        best = max(rows.values(), key=lambda r: r["rps"])
        lines.append(f"batch {b}: most requests/s with {best['workers']} worker(s) ({best['rps']:.0f}/s, p99 {best['p99_ms']:.0f} ms)")
        if rule in rows and rule != best["workers"]:
            r = rows[rule]
            lines.append(f"  2 x cores + 1 = {rule} workers: {r['rps']:.0f}/s ({100 * (r['rps'] / best['rps'] - 1):+.0f}%), p99 {r['p99_ms']:.0f} ms, "
                         f"{r['peak_rss_mib']:.0f} MiB vs {best['peak_rss_mib']:.0f} MiB")
    return lines


# --- where our server's time goes ---------------------------------------------------------------------------------
SPY_RATE = 250  # py-spy samples per second


def profile_ours(args, python: str, spy: str, model: Path, w: int, batches: List[int], requests: Dict[int, Tuple[str, str]],
                 generator: str, workdir: Path) -> List[Dict]:
    """py-spy (sampling, --nonblocking: the server is never paused) over every process of our server while the load
    generator drives it; not part of the measured runs. Per batch: the CPU time per request split by category."""
    out = []
    srv = start_ours(args, python, model, w, workdir, tag="-profile")
    try:
        srv.wait_ready()
        c = args.connection_list[0]
        for b in batches:
            path, body = requests[b]
            drive(generator, srv.port, path, body, max(1, args.warmup), c, args, workdir)
            raw = workdir / f"profile-{w}-{b}.txt"
            spy_proc = subprocess.Popen([spy, "record", "--pid", str(srv.proc.pid), "--subprocesses", "--nonblocking", "--format", "raw",
                                         "--rate", str(SPY_RATE), "--duration", str(args.duration), "--output", str(raw)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            cpu0 = tree_cpu_seconds(srv.proc.pid)
            r = drive(generator, srv.port, path, body, max(1, args.duration - 1), c, args, workdir)
            cpu = tree_cpu_seconds(srv.proc.pid) - cpu0
            _, err = spy_proc.communicate(timeout=args.duration + 60)
            if spy_proc.returncode != 0 or not raw.exists():
                raise RuntimeError(f"py-spy failed ({spy_proc.returncode}): {err.decode()[-500:]}")
            lines = raw.read_text().splitlines()
            keep = REPO / "out" / "bench-server-profiles"  # the raw stacks, for reading further (out/ is not committed)
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(raw, keep / raw.name)
            split = benchlib.split_profile(lines)
            total = sum(split.values()) or 1
            ms = 1000 * cpu / max(1, r["requests"])
            # py-spy counts a thread as active while it runs OR waits for a core (state R): on a loaded machine the
            # sampled active threads exceed the cores the server really used, so shares are of active time, not CPU.
            row = {"workers": w, "batch": b, "connections": c, "rps": r["rps"], "cpu_ms_per_req": ms, "samples": total,
                   "active_threads": total / (SPY_RATE * max(1, args.duration - 1)), "cores_busy": cpu / max(1, args.duration - 1),
                   "share": {k: v / total for k, v in split.items()}, "ms": {k: ms * v / total for k, v in split.items()},
                   "top": benchlib.top_functions(lines, 15)}
            out.append(row)
            print(f"profile workers={w} batch={b}: {r['rps']:.0f} req/s, {ms:.3f} CPU ms/request, {total} samples: "
                  + ", ".join(f"{k} {100 * v:.0f}%" for k, v in row["share"].items()), flush=True)
    finally:
        srv.sampler.stop()
        srv.stop()
    return out


def profile_markdown(rows: List[Dict]) -> str:
    lines = [
        "| workers | batch | req/s (profiled) | CPU ms/request | " + " | ".join(benchlib.CATEGORIES) + " | samples | sampled active threads | cores busy |",
        "| ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in benchlib.CATEGORIES) + " | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = " | ".join(f"{r['ms'][c]:.3f} ms ({100 * r['share'][c]:.0f}%)" for c in benchlib.CATEGORIES)
        lines.append(f"| {r['workers']} | {r['batch']} | {r['rps']:.0f} | {r['cpu_ms_per_req']:.3f} | {cells} | {r['samples']} | {r['active_threads']:.2f} | {r['cores_busy']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,3,5", help="worker counts (5 = 2 x cores + 1 on a 2-core machine)")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement (bounded)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", default="16", help="closed-loop connections, a list (e.g. 4,16,64) gives each server a throughput/p99 curve")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over all worker counts (order rotated each round); the report gives medians")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the generator shares the machine's cores)")
    ap.add_argument("--python", help="interpreter with the server's dependencies (default: a venv from the lock)")
    ap.add_argument("--server-dir", default=str(SERVER), help="the model server's source (images/model-server)")
    ap.add_argument("--model", help=f"the ONNX model to serve (default: the reference model, trained from {REFERENCE_SPEC})")
    ap.add_argument("--protocol", choices=benchlib.PROTOCOLS, default="v2",
                    help="how our server is driven: POST /predict, or POST /v2/models/{name}/infer (the peer always gets v2)")
    ap.add_argument("--peer", choices=["kserve", "none"], default="kserve", help="the peer server (its own venv, bench/server/requirements-peer.txt)")
    ap.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True, help="measure the bare session.run floor")
    ap.add_argument("--profile", action="store_true", help="add a py-spy pass: where our server's CPU time per request goes")
    ap.add_argument("--intra-op-threads", type=int, default=1, help="ORT_INTRA_OP_THREADS for the server, the floor and the peer alike")
    ap.add_argument("--cpus", help="pin the servers, the floor (not the load generator) to these CPUs, e.g. 0,1")
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--out", help="write the markdown report here")
    ap.add_argument("--json", help="write raw results here")
    args = ap.parse_args()
    if args.duration < 1 or args.duration > 120:
        ap.error("--duration must be 1..120 s")
    workers = [int(w) for w in args.workers.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    args.connection_list = [int(c) for c in args.connections.split(",")]
    args.cpu_list = [int(c) for c in args.cpus.split(",")] if args.cpus else None
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk (or --generator python)")
    server_dir = Path(args.server_dir)
    python = ensure_python(args.python, server_dir)
    peer_python = ensure_venv(HERE / ".venv-peer", [HERE / "requirements-peer.txt"], "the peer's: kserve") if args.peer == "kserve" else None
    spy = str(Path(ensure_venv(HERE / ".venv-profile", [HERE / "requirements-profile.txt"], "py-spy")).parent / "py-spy") if args.profile else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        run(args, workers, batches, generator, server_dir, python, peer_python, spy, workdir)
    except BaseException:
        print(f"kept {workdir} (the servers' logs); remove it when read", file=sys.stderr)
        raise
    shutil.rmtree(workdir, ignore_errors=True)


def run(args, workers: List[int], batches: List[int], generator: str, server_dir: Path, python: str, peer_python: Optional[str],
        spy: Optional[str], workdir: Path) -> None:
    if args.model:
        model = Path(args.model).resolve()
    else:
        model = workdir / "model.onnx"
        subprocess.run([python, "-m", "training.build", "--spec", REFERENCE_SPEC, "--out", str(workdir)], cwd=server_dir, check=True)
    probe = json.loads(subprocess.run([python, str(HERE / "floor.py"), "signature", "--model", str(model)],
                                      capture_output=True, text=True, check=True).stdout)
    sig = {k: probe[k] for k in ("input", "features", "output")}
    ours_requests = {b: benchlib.request_for(args.protocol, b, sig, MODEL_NAME) for b in batches}
    peer_requests = {b: benchlib.request_for("v2", b, sig, MODEL_NAME) for b in batches}

    def version(py: Optional[str], mod: str) -> str:
        if not py:
            return ""
        return subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version({mod!r}))"], capture_output=True, text=True).stdout.strip()

    meta = {
        "cores": os.cpu_count(), "loadavg_start": os.getloadavg(), "generator": generator, "protocol": args.protocol,
        "connections": args.connection_list, "duration_s": args.duration, "warmup_s": args.warmup, "repeat": args.repeat,
        "cpus": args.cpu_list, "model": str(args.model or REFERENCE_SPEC), "signature": sig,
        "python": platform.python_version(), "onnxruntime": probe["onnxruntime"], "peer": args.peer,
        "kserve": version(peer_python, "kserve"), "fastapi": version(python, "fastapi"), "machine": platform.machine(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0] if generator == "wrk" else "",
    }
    print(f"generator={generator} protocol={args.protocol} connections={args.connection_list} duration={args.duration}s cores={meta['cores']} "
          f"loadavg={meta['loadavg_start']} model={meta['model']} signature={sig}", flush=True)
    results: List[Dict] = []
    for rnd in range(args.repeat):
        order = workers[rnd % len(workers):] + workers[:rnd % len(workers)]
        for w in order:
            # ours, the peer and the floor back to back, the order rotated each round (the machine's load drifts)
            steps = [("ours", lambda w=w: measure_server("ours", lambda: start_ours(args, python, model, w, workdir), w, batches, ours_requests, args, generator, workdir, rnd))]
            if peer_python:
                steps.append(("peer", lambda w=w: measure_server("peer", lambda: start_peer(args, peer_python, model, w, workdir), w, batches, peer_requests, args, generator, workdir, rnd)))
            if args.floor:
                steps.append(("floor", lambda w=w: measure_floor(python, model, w, batches, args, rnd)))
            steps = steps[rnd % len(steps):] + steps[:rnd % len(steps)]
            for _, step in steps:
                results += step()
    results = summarize(results) if args.repeat > 1 else results
    profile = profile_ours(args, python, spy, model, workers[0], batches, ours_requests, generator, workdir) if spy else []
    meta["loadavg_end"] = os.getloadavg()
    table = markdown(results, meta)
    compared = comparison(results)
    goal = goals(results)
    print()
    print(table)
    print()
    print(compared)
    print()
    for line in goal:
        print(line)
    if profile:
        print()
        print(profile_markdown(profile))
        for r in profile:
            print(f"top self time, batch {r['batch']}: " + "; ".join(f"{f} {100 * n / r['samples']:.1f}%" for f, n in r["top"]))
    print()
    for line in verdict(results, meta["cores"] or 1):
        print(line)
    for s in slos():
        worst = max(r["p99_ms"] for r in results if r["kind"] == "ours")
        limit = int(s.rsplit("<= ", 1)[1].split()[0])
        print(f"SLO {s}: worst p99 measured {worst:.0f} ms -> {'within' if worst <= limit else 'OVER'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "profile": profile}, indent=2) + "\n")
    if args.out:
        parts = [f"<!-- generated by bench/server/run.py; {meta} -->", table, compared, "\n".join(f"- {g}" for g in goal)]
        if profile:
            parts.append(profile_markdown(profile))
        parts.append(f"SLOs: {'; '.join(slos())}")
        Path(args.out).write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
