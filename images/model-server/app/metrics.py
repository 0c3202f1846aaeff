"""Prometheus metrics. Names and labels are a contract with the canary analysis and the HPA's adapter rule (see
images/model-server/METRICS.md, metric contract v2): change them only together with the TypeScript queries.
tests/test_contract.py binds the two sides.

Multi-process: with more than one worker (gunicorn), PROMETHEUS_MULTIPROC_DIR is set before this module is
imported (app/__main__.py does it), every worker writes its samples to mmap files there, /metrics merges them
(MultiProcessCollector) and the gunicorn master marks dead workers (child_exit -> mark_process_dead). Gauges
therefore declare how worker values combine: `live*` modes ignore dead workers.
"""
import math
import os
import re
import struct
import time
from collections import deque
from typing import Iterable, List

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

# Request metrics cover the serving API only. Probes and scrapes are not traffic: counting them would inflate the
# canary's success rate (kubelet and Prometheus always get 200s), add 503s from /ready while weights load, skew
# latency and the HPA's requests-per-second.
API_HANDLERS = frozenset({"/predict", "/feedback"})
OPERATIONAL_PATHS = frozenset({"/health", "/ready", "/metrics"})
# Open Inference Protocol v2 (app/oip.py): every inference URL, with or without /versions/{v}, whatever the model
# name, is ONE handler value (bounded cardinality; one model per server, so the name is not a label). The v2
# health, server- and model-metadata and model-ready endpoints are probes and metadata, not traffic.
V2_INFER_HANDLER = "/v2/infer"
# The handlers that serve inference: queries about a version's inference traffic (success rate, client errors,
# latency) must select all of them (tests/test_contract.py checks the rendered queries), e.g. handler=~"/predict|/v2/infer".
INFERENCE_HANDLERS = ("/predict", V2_INFER_HANDLER)
V2_INFER = re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?/infer$")
V2_OPERATIONAL = re.compile(r"^/v2(?:/health/(?:live|ready)|/models/[^/]+(?:/versions/[^/]+)?(?:/ready)?)?/?$")

REQUESTS = Counter(
    "model_server_requests",  # exposed as model_server_requests_total
    "HTTP requests handled, by handler, method and status code (4xx = client error, 5xx = server error).",
    ["handler", "method", "code"],
)
LATENCY = Histogram(
    "model_server_request_duration_seconds",
    "HTTP request latency in seconds, by handler and method.",
    ["handler", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FEEDBACK = Counter(
    "model_server_feedback",  # exposed as model_server_feedback_total
    "Labelled feedback events scored on this pod, by the pod-template-hash that SERVED the prediction "
    "(decoded from the prediction id) and whether the prediction was correct.",
    ["served_by", "outcome"],
)
PREDICTIONS = Counter(
    "model_server_predictions",  # exposed as model_server_predictions_total
    "Instances predicted (a batch of n counts n), by predicted label.",
    ["label"],
)
# Rolling accuracy: each worker keeps a window of the last ACCURACY_WINDOW feedback events for predictions served by
# this pod's own version (served_by == POD_TEMPLATE_HASH); the pod's model_server_accuracy = sum(correct) /
# sum(samples) over its live workers, computed at scrape time (see AccuracyCollector).
ACCURACY_CORRECT = Gauge(
    "model_server_accuracy_window_correct",
    "Correct predictions in the rolling accuracy window (summed over live workers).",
    multiprocess_mode="livesum",
)
ACCURACY_SAMPLES = Gauge(
    "model_server_accuracy_samples",
    "Labelled feedback events in the rolling accuracy window (summed over live workers).",
    multiprocess_mode="livesum",
)
MODEL_LOADED = Gauge(
    "model_server_model_loaded",
    "1 once the model is loaded in every live worker, else 0.",
    multiprocess_mode="livemin",
)
MODEL_INFO = Gauge(
    "model_server_model_info",
    "Always 1: identity of what the pod runs (device and runtime once loaded; device=\"none\" if the load failed).",
    ["model", "version", "revision", "device", "runtime", "runtime_version"],
    multiprocess_mode="livemax",
)
# The version's lineage, from its model card (app/card.py): set once per worker at start, the same in every worker.
MODEL_LINEAGE = Gauge(
    "model_server_model_lineage_info",
    "Always 1: the lineage of what the pod runs, from its model card (card.json beside the weights); parent, dataset, "
    "dataset_version and training_spec are empty when card is missing or invalid.",
    ["model", "version", "parent", "dataset", "dataset_version", "git_sha", "training_spec", "card"],
    multiprocess_mode="livemax",
)
MODEL_HELDOUT_ACCURACY = Gauge(
    "model_server_model_heldout_accuracy",
    "Held-out accuracy (0..1) of the version, from its model card, on the split whose sha256 is `split`; absent "
    "without a card.",
    ["split"],
    multiprocess_mode="livemax",
)
LOAD_ERRORS = Counter(
    "model_server_model_load_errors",  # exposed as model_server_model_load_errors_total
    "Model load failures, by reason (not_found, unreadable, corrupt, wrong_format, device, runtime).",
    ["reason"],
)
WORKERS = Gauge(
    "model_server_workers",
    "Live worker processes serving this pod.",
    multiprocess_mode="livesum",
)
ACCURACY_NAME = "model_server_accuracy"


def handler_label(path: str) -> str:
    """The `handler` label: the API route (every v2 inference URL is "/v2/infer"), or "other" for unknown paths
    (bounded cardinality)."""
    if path in API_HANDLERS:
        return path
    return V2_INFER_HANDLER if V2_INFER.match(path) else "other"


def is_observed(path: str) -> bool:
    return path not in OPERATIONAL_PATHS and not (path.startswith("/v2") and V2_OPERATIONAL.match(path))


class RollingAccuracy:
    """Accuracy over the last `window` labelled predictions of this worker; mirrors itself into the gauges."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("accuracy window must be >= 1")
        self._outcomes: deque = deque(maxlen=window)
        self._correct = 0
        ACCURACY_CORRECT.set(0)
        ACCURACY_SAMPLES.set(0)

    def record(self, correct: bool) -> float:
        if len(self._outcomes) == self._outcomes.maxlen:
            self._correct -= self._outcomes[0]
        self._outcomes.append(1 if correct else 0)
        self._correct += 1 if correct else 0
        ACCURACY_CORRECT.set(self._correct)
        ACCURACY_SAMPLES.set(len(self._outcomes))
        return self.value

    @property
    def value(self) -> float:
        return self._correct / len(self._outcomes) if self._outcomes else float("nan")

    @property
    def samples(self) -> int:
        return len(self._outcomes)


class _Families:
    """What generate_latest() needs: an object with collect()."""

    def __init__(self, families: List[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _gauge_value(families: List[Metric], name: str) -> float:
    for fam in families:
        if fam.name == name:
            return sum(s.value for s in fam.samples if s.name == name)
    return 0.0


def _collect() -> List[Metric]:
    if not MULTIPROC_DIR:
        return list(REGISTRY.collect())
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    # A worker that is booting creates its metric file empty and sizes it a moment later; reading it in between
    # fails (struct.error). Retry briefly instead of failing the scrape.
    for attempt in range(6):
        try:
            return list(registry.collect())
        except (struct.error, ValueError, OSError):
            if attempt == 5:
                raise
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")


def exposition() -> bytes:
    """The /metrics body: every worker's samples merged (multi-process) or this process's registry, plus the
    pod-wide rolling accuracy gauge (NaN until the first feedback for this version)."""
    families = _collect()
    correct = _gauge_value(families, ACCURACY_CORRECT._name)
    samples = _gauge_value(families, ACCURACY_SAMPLES._name)
    acc = GaugeMetricFamily(
        ACCURACY_NAME,
        "Rolling accuracy (0..1) of this pod's version over the last ACCURACY_WINDOW labelled feedback events per "
        "worker (NaN until the first one). For dashboards; the canary gate uses model_server_feedback_total.",
        value=(correct / samples) if samples > 0 else math.nan,
    )
    families.append(acc)
    return generate_latest(_Families(families))


CONTENT_TYPE = CONTENT_TYPE_LATEST
