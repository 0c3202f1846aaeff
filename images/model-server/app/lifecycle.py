"""Pod-level readiness across worker processes, and the draining state after SIGTERM.

Every worker loads its own model (an ONNX Runtime session is not fork-safe, so it is not preloaded in the master).
The kernel hands each new connection to any worker, so a probe answered by one worker must speak for the pod:
/ready is 200 only when every expected worker has loaded the model (a marker file per worker pid in
MODEL_SERVER_STATE_DIR, removed by the master when the worker exits) and this worker is not draining.
Without a state dir (one process, e.g. under a test client) only this process counts.
"""
import os
import threading
from typing import Optional, Tuple

STATE_DIR = os.environ.get("MODEL_SERVER_STATE_DIR") or None
EXPECTED_WORKERS = max(1, int(os.environ.get("MODEL_SERVER_WORKERS", "1") or "1"))

_draining = threading.Event()


def begin_draining() -> None:
    """SIGTERM: readiness is 503 from now on; requests still arriving are served until the listener closes."""
    _draining.set()


def draining() -> bool:
    return _draining.is_set()


def _marker(pid: int, kind: str) -> str:
    assert STATE_DIR is not None
    return os.path.join(STATE_DIR, f"worker-{pid}.{kind}")


def mark_loaded(pid: Optional[int] = None) -> None:
    if STATE_DIR:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(_marker(pid or os.getpid(), "ready"), "w", encoding="utf-8") as f:
            f.write("ready\n")


def mark_failed(reason: str, pid: Optional[int] = None) -> None:
    if STATE_DIR:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(_marker(pid or os.getpid(), "failed"), "w", encoding="utf-8") as f:
            f.write(reason + "\n")


def forget_worker(pid: int, state_dir: Optional[str] = None) -> None:
    """Called by the gunicorn master when a worker exits."""
    d = state_dir or STATE_DIR
    if not d:
        return
    for kind in ("ready", "failed"):
        try:
            os.unlink(os.path.join(d, f"worker-{pid}.{kind}"))
        except FileNotFoundError:
            pass


def _alive(pid: int) -> bool:
    """Running, not a zombie: a SIGKILLed worker is dead before the master reaps it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass  # no procfs: fall back to signal 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pod_workers_ready() -> Tuple[int, int]:
    """(live workers with the model loaded, workers expected)."""
    if not STATE_DIR:
        return 1, 1
    ready = 0
    try:
        names = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return 0, EXPECTED_WORKERS
    for name in names:
        if name.startswith("worker-") and name.endswith(".ready"):
            try:
                pid = int(name[len("worker-") : -len(".ready")])
            except ValueError:
                continue
            if _alive(pid):
                ready += 1
    return ready, EXPECTED_WORKERS
