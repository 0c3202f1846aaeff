"""Fixtures: the hand-built fixture model (weights/make_weights.py: a foreign signature, 4 features, 2 classes),
the trained reference versions (training/build.py, trained once per session, exactly as the image's weights stage
runs it), and real server processes (`python -m app`, i.e. gunicorn + uvicorn workers, exactly the image's CMD) on
127.0.0.1 with a random free port."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

SERVER_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SERVER_DIR.parents[1]
MAKE_WEIGHTS = SERVER_DIR / "weights" / "make_weights.py"
VERSIONS_DIR = SERVER_DIR / "training" / "versions"
sys.path.insert(0, str(SERVER_DIR))  # `import app.model` for the unit tests


TEST_PREDICTION_ID_KEY = "test-key-of-one-model-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_model(out: Path, *extra: str) -> Path:
    subprocess.run([sys.executable, str(MAKE_WEIGHTS), "--out", str(out), *extra], check=True)
    return out


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("model") / "model.onnx")


def train(spec: Path, out: Path, holdout: Optional[Path] = None) -> Path:
    """`python -m training.build` from images/model-server, as the Dockerfile's weights stage runs it."""
    cmd = [sys.executable, "-m", "training.build", "--spec", str(spec), "--out", str(out)]
    if holdout is not None:
        cmd += ["--holdout", str(holdout)]
    proc = subprocess.run(cmd, cwd=SERVER_DIR, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return out


class Trained:
    """One trained version: DIR/model.onnx, DIR/evaluation.json, DIR/card.json, DIR/training-run.json, DIR/holdout.json."""

    def __init__(self, spec: Path, out: Path) -> None:
        self.spec = spec
        self.dir = train(spec, out, out / "holdout.json")
        self.model = out / "model.onnx"
        self.evaluation = json.loads((out / "evaluation.json").read_text())
        self.card = json.loads((out / "card.json").read_text())
        self.run = json.loads((out / "training-run.json").read_text())
        self.holdout = json.loads((out / "holdout.json").read_text())


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Dict[str, Trained]:
    """Every shipped spec, trained once per session: {"digits/1.1.0": Trained, ...}."""
    root = tmp_path_factory.mktemp("trained")
    out: Dict[str, Trained] = {}
    for spec in sorted(VERSIONS_DIR.glob("*/*.json")):
        key = f"{spec.parent.name}/{spec.stem}"
        out[key] = Trained(spec, root / spec.parent.name / spec.stem)
    assert out, f"no specs under {VERSIONS_DIR}"
    return out


class Server:
    """One server process tree (gunicorn master + workers), like one pod."""

    def __init__(self, workdir: Path, env: Dict[str, str]) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.run_dir = workdir / "run"
        self.log_path = workdir / "server.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODEL_", "WEB_CONCURRENCY", "PREDICTION_ID_"))}
        full.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "MODEL_SERVER_RUN_DIR": str(self.run_dir),
                "PROMETHEUS_DISABLE_CREATED_SERIES": "True",
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "info",
                # One model's pods share its Secret's key, so any pod verifies any pod's prediction ids.
                "PREDICTION_ID_KEY": TEST_PREDICTION_ID_KEY,
            }
        )
        full.update(env)
        self.env = full
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=SERVER_DIR, env=full, stdout=self._log, stderr=subprocess.STDOUT
        )

    # --- HTTP -------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Optional[object] = None, raw: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> Tuple[int, object]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            h = {"Content-Type": "application/json"} if data is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            payload = resp.read()
            ctype = resp.getheader("content-type", "")
            return resp.status, (json.loads(payload) if "json" in ctype and payload else payload.decode())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Tuple[int, object]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Optional[object] = None, **kw) -> Tuple[int, object]:
        return self.request("POST", path, body, **kw)

    def metrics_text(self) -> str:
        status, text = self.get("/metrics")
        assert status == 200
        return text

    def samples(self) -> List[Tuple[str, Dict[str, str], float]]:
        from prometheus_client.parser import text_string_to_metric_families

        return [(s.name, dict(s.labels), s.value) for fam in text_string_to_metric_families(self.metrics_text()) for s in fam.samples]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(v for n, l, v in self.samples() if n == name and all(l.get(k) == x for k, x in labels.items()))

    def per_worker(self, sample: str) -> Dict[int, float]:
        """pid -> this worker's own count of `sample` (read from its multiprocess counter file)."""
        from prometheus_client.mmap_dict import MmapedDict

        out: Dict[int, float] = {}
        d = Path(self.env["MODEL_SERVER_RUN_DIR"]) / "metrics"
        for f in d.glob("counter_*.db"):
            pid = int(f.stem.split("_")[1])
            for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(f)):
                if json.loads(key)[1] == sample:
                    out[pid] = out.get(pid, 0.0) + value
        return out

    # --- lifecycle --------------------------------------------------------------------------------------------
    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_until(self, predicate, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode} while waiting for {what}\n{self.log()}")
            try:
                if predicate():
                    return
            except (ConnectionError, OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} (last error {last!r})\n{self.log()}")

    def wait_healthy(self, timeout: float = 60.0) -> "Server":
        self.wait_until(lambda: self.get("/health")[0] == 200, timeout, "/health 200")
        return self

    def wait_ready(self, timeout: float = 60.0) -> "Server":
        self.wait_until(lambda: self.get("/ready")[0] == 200, timeout, "/ready 200")
        return self

    def worker_pids(self) -> List[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children()]

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        import psutil

        if self.proc.poll() is None:
            try:
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    child.kill()
            except psutil.NoSuchProcess:
                pass
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        self._log.close()


@pytest.fixture
def start_server(tmp_path_factory, model_file) -> Iterator:
    """start_server(**env) -> Server (healthy, not necessarily ready). Every server is stopped at teardown."""
    servers: List[Server] = []

    def start(wait: str = "ready", **env: str) -> Server:
        env = {k: str(v) for k, v in env.items()}
        env.setdefault("MODEL_PATH", str(model_file))
        srv = Server(tmp_path_factory.mktemp("server"), env)
        servers.append(srv)
        if wait == "ready":
            srv.wait_ready()
        elif wait == "healthy":
            srv.wait_healthy()
        return srv

    yield start
    for s in servers:
        s.close()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, model_file) -> Iterator[Server]:
    """One 2-worker server for read-mostly tests in a module, with small limits so the limits are testable."""
    srv = Server(
        tmp_path_factory.mktemp("shared"),
        {
            "MODEL_PATH": str(model_file),
            "WEB_CONCURRENCY": "2",
            "POD_TEMPLATE_HASH": "6d4f9c7b8",
            "MODEL_NAME": "sentiment",
            "MODEL_VERSION": "2.2.0",
            "GIT_SHA": "0123abc",
            "MAX_BATCH_SIZE": "8",
            "MAX_BODY_BYTES": "4096",
        },
    )
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.close()


def render_stacks(out_root: Path, stacks=("dev", "prod")) -> Dict[str, List[dict]]:
    """The Kubernetes objects the TypeScript program renders, per stack: `npm run plan -- --stack S --out DIR`
    (offline, mock runtime). MODEL_SERVER_PLAN_DIR=<dir with S/k8s/*.yaml> reuses an earlier plan."""
    import yaml

    reuse = os.environ.get("MODEL_SERVER_PLAN_DIR")
    root = Path(reuse) if reuse else out_root
    result: Dict[str, List[dict]] = {}
    for stack in stacks:
        k8s = root / stack / "k8s"
        if not reuse:
            if not (REPO_ROOT / "node_modules" / ".bin" / "ts-node").exists():
                pytest.fail(f"{REPO_ROOT}/node_modules is missing: run `npm ci` in the repo root before the Python suite")
            proc = subprocess.run(
                ["npm", "run", "--silent", "plan", "--", "--stack", stack, "--out", str(root)],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
            )
            if proc.returncode != 0:
                pytest.fail(f"npm run plan -- --stack {stack} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        files = sorted(k8s.glob("*.yaml"))
        if not files:
            pytest.fail(f"no rendered objects under {k8s}")
        result[stack] = [yaml.safe_load(f.read_text()) for f in files]
    return result


@pytest.fixture(scope="session")
def rendered_stacks(tmp_path_factory) -> Dict[str, List[dict]]:
    return render_stacks(tmp_path_factory.mktemp("plan"))
