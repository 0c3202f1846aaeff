"""Prometheus metrics. Names and labels are a contract with the canary analysis (see images/model-server/METRICS.md):
change them only together with the AnalysisTemplates' PromQL."""
from collections import deque

from prometheus_client import Counter, Gauge, Histogram, Info

# Request metrics cover the serving API only. Probes and scrapes are not traffic: counting them would inflate the
# canary's success rate (kubelet and Prometheus always get 200s), add 503s from /ready while weights load, skew
# latency and the HPA's requests-per-second.
API_HANDLERS = frozenset({"/predict", "/feedback"})
OPERATIONAL_PATHS = frozenset({"/health", "/ready", "/metrics"})

REQUESTS = Counter(
    "model_server_requests",  # exposed as model_server_requests_total
    "HTTP requests handled, by handler, method and status code.",
    ["handler", "method", "code"],
)
LATENCY = Histogram(
    "model_server_request_duration_seconds",
    "HTTP request latency in seconds, by handler and method.",
    ["handler", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ACCURACY = Gauge(
    "model_server_accuracy",
    "Rolling accuracy over the last N labelled feedback events (NaN until the first one).",
)
ACCURACY_SAMPLES = Gauge(
    "model_server_accuracy_samples",
    "Labelled feedback events currently in the rolling accuracy window.",
)
FEEDBACK = Counter(
    "model_server_feedback",  # exposed as model_server_feedback_total
    "Labelled feedback events, by whether the prediction was correct.",
    ["outcome"],
)
MODEL_LOADED = Gauge("model_server_model_loaded", "1 once the model weights are loaded, else 0.")
MODEL_INFO = Info("model_server_model", "The model this server runs.")  # exposed as model_server_model_info


def handler_label(path: str) -> str:
    """The `handler` label: the API route, or "other" for unknown paths (bounded cardinality)."""
    return path if path in API_HANDLERS else "other"


def is_observed(path: str) -> bool:
    return path not in OPERATIONAL_PATHS


class RollingAccuracy:
    """Accuracy over the last `window` labelled predictions; mirrors itself into the gauges."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("accuracy window must be >= 1")
        self._outcomes: deque = deque(maxlen=window)
        self._correct = 0
        ACCURACY.set(float("nan"))
        ACCURACY_SAMPLES.set(0)

    def record(self, correct: bool) -> float:
        if len(self._outcomes) == self._outcomes.maxlen:
            self._correct -= self._outcomes[0]
        self._outcomes.append(1 if correct else 0)
        self._correct += 1 if correct else 0
        FEEDBACK.labels(outcome="correct" if correct else "incorrect").inc()
        value = self._correct / len(self._outcomes)
        ACCURACY.set(value)
        ACCURACY_SAMPLES.set(len(self._outcomes))
        return value

    @property
    def samples(self) -> int:
        return len(self._outcomes)
