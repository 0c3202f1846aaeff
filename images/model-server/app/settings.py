"""Process-level settings shared by the launcher (app/__main__.py) and the worker class. No third-party imports:
the launcher must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is imported anywhere."""
import os
from typing import Tuple

# Default worker processes per pod, chosen from bench/RESULTS-server.md (see docs/model-server.md): override with
# WEB_CONCURRENCY. Not derived from os.cpu_count(): a pod sees all of its node's cores (96 on a p4de), not its CPU
# request, so "2 x cores + 1" would start ~190 workers on a GPU node.
DEFAULT_WORKERS = 2
# Seconds after SIGTERM during which the worker still serves but /ready answers 503.
DEFAULT_DRAIN_SECONDS = 2.0
# Total seconds the server may take after SIGTERM (drain + in-flight). The pod spec renders preStop sleep 10 s and
# terminationGracePeriodSeconds 40 s and sets GRACEFUL_SHUTDOWN_SECONDS=25: 10 + 25 = 35 <= 40.
DEFAULT_GRACEFUL_SECONDS = 20.0


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def workers() -> int:
    raw = os.environ.get("WEB_CONCURRENCY", "").strip()
    n = int(raw) if raw else DEFAULT_WORKERS
    if n < 1:
        raise ValueError(f"WEB_CONCURRENCY={n}: must be >= 1")
    return n


def graceful_seconds() -> float:
    value = _float("GRACEFUL_SHUTDOWN_SECONDS", DEFAULT_GRACEFUL_SECONDS)
    if value <= 0:
        raise ValueError(f"GRACEFUL_SHUTDOWN_SECONDS={value}: must be > 0")
    return value


def shutdown_budget() -> Tuple[float, float]:
    """(drain seconds, in-flight seconds): drain + in-flight + 1 s for the app's own shutdown = GRACEFUL_SHUTDOWN_SECONDS,
    so the worker is gone before gunicorn's graceful_timeout (= GRACEFUL_SHUTDOWN_SECONDS) would SIGKILL it."""
    total = graceful_seconds()
    drain = min(max(0.0, _float("SHUTDOWN_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS)), total / 2)
    inflight = max(0.5, total - drain - 1.0)
    return drain, inflight
