"""Feedback-driven accuracy (metric contract v2): any pod, and any worker of a pod, scores feedback for a
prediction, because the id carries the serving pod-template-hash and the predicted label."""
import math

import pytest

STABLE, CANARY = "5f7d8c9b6", "7b9c4d2f5"


def _predict_batch(srv, n, offset=0):
    status, body = srv.post("/predict", {"instances": [[i + offset, (i * 7) % 5 - 2, i / 3, 1 - i] for i in range(n)]})
    assert status == 200, body
    return body["predictions"]


def _feedback(srv, prediction, correct):
    label = prediction["label"] if correct else 1 - prediction["label"]
    status, body = srv.post("/feedback", {"id": prediction["id"], "label": label})
    assert status == 200, body
    assert body["correct"] is correct
    return body


def test_feedback_is_scored_by_a_different_pod_than_the_one_that_predicted(start_server):
    """Two 'pods' (canary and stable ReplicaSets): the canary predicts, every feedback reaches a stable pod (what
    nginx canary weights do to ~95% of feedback). The stable pod counts it for served_by=<canary hash>."""
    canary = start_server(POD_TEMPLATE_HASH=CANARY, WEB_CONCURRENCY="1")
    stable = start_server(POD_TEMPLATE_HASH=STABLE, WEB_CONCURRENCY="2")
    preds = _predict_batch(canary, 20)
    for n, p in enumerate(preds):
        body = _feedback(stable, p, correct=n < 15)
        assert body["served_by"] == CANARY
    assert stable.value("model_server_feedback_total", served_by=CANARY, outcome="correct") == 15
    assert stable.value("model_server_feedback_total", served_by=CANARY, outcome="incorrect") == 5
    assert canary.value("model_server_feedback_total") == 0
    # The dashboard gauge only tracks the pod's own version: feedback for the canary does not move stable's gauge.
    assert math.isnan(stable.value("model_server_accuracy"))
    assert stable.value("model_server_accuracy_samples") == 0


def test_accuracy_per_version_from_counters_summed_over_pods(start_server):
    """What the gate computes: sum over ALL pods of rate(feedback{served_by=h, outcome=correct}) / sum(...{served_by=h})."""
    canary = start_server(POD_TEMPLATE_HASH=CANARY, WEB_CONCURRENCY="1")
    stable_a = start_server(POD_TEMPLATE_HASH=STABLE, WEB_CONCURRENCY="1")
    stable_b = start_server(POD_TEMPLATE_HASH=STABLE, WEB_CONCURRENCY="2")
    pods = [canary, stable_a, stable_b]
    canary_preds = _predict_batch(canary, 30)
    stable_preds = _predict_batch(stable_a, 20) + _predict_batch(stable_b, 20, offset=100)
    for n, p in enumerate(canary_preds):  # canary: 21/30 correct = 0.7
        _feedback(pods[n % 3], p, correct=n % 10 < 7)
    for n, p in enumerate(stable_preds):  # stable: 36/40 correct = 0.9
        _feedback(pods[(n + 1) % 3], p, correct=n % 10 < 9)

    def accuracy(h):
        correct = sum(p.value("model_server_feedback_total", served_by=h, outcome="correct") for p in pods)
        total = sum(p.value("model_server_feedback_total", served_by=h) for p in pods)
        return correct / total, total

    assert accuracy(CANARY) == (pytest.approx(0.7), 30)
    assert accuracy(STABLE) == (pytest.approx(0.9), 40)


def test_feedback_across_the_workers_of_one_pod_and_the_rolling_gauge(start_server):
    """Predictions and feedback land on different worker processes; the pod's rolling gauge merges its workers."""
    srv = start_server(POD_TEMPLATE_HASH=STABLE, WEB_CONCURRENCY="2", ACCURACY_WINDOW="1000")
    assert math.isnan(srv.value("model_server_accuracy")), "NaN until the first feedback"
    preds = [p for k in range(40) for p in _predict_batch(srv, 1, offset=k)]
    for n, p in enumerate(preds):  # 30 correct, 10 incorrect; each request on a new connection, any worker
        _feedback(srv, p, correct=n % 4 != 0)
    assert srv.value("model_server_feedback_total", served_by=STABLE, outcome="correct") == 30
    assert srv.value("model_server_feedback_total", served_by=STABLE, outcome="incorrect") == 10
    predicted_on = srv.per_worker("model_server_predictions_total")
    scored_on = srv.per_worker("model_server_feedback_total")
    assert len(predicted_on) == 2 and len(scored_on) == 2, (predicted_on, scored_on)
    assert sum(scored_on.values()) == 40
    for _ in range(6):  # the same answer from either worker
        assert srv.value("model_server_accuracy") == pytest.approx(0.75)
        assert srv.value("model_server_accuracy_samples") == 40


def test_rolling_window_forgets_old_feedback(start_server):
    srv = start_server(POD_TEMPLATE_HASH=STABLE, WEB_CONCURRENCY="1", ACCURACY_WINDOW="10")
    preds = _predict_batch(srv, 8) + _predict_batch(srv, 8, offset=50)
    for p in preds[:10]:
        _feedback(srv, p, correct=True)
    assert srv.value("model_server_accuracy") == 1.0
    for p in preds[10:]:
        _feedback(srv, p, correct=False)
    assert srv.value("model_server_accuracy") == pytest.approx(0.4)  # last 10: 4 correct, 6 incorrect
    assert srv.value("model_server_accuracy_samples") == 10
    assert srv.value("model_server_feedback_total", served_by=STABLE) == 16


def test_repeated_feedback_on_the_same_worker_is_a_conflict(start_server):
    srv = start_server(POD_TEMPLATE_HASH="", WEB_CONCURRENCY="1")
    (p,) = _predict_batch(srv, 1)
    _feedback(srv, p, correct=True)
    status, body = srv.post("/feedback", {"id": p["id"], "label": p["label"]})
    assert status == 409 and "already" in body["detail"]
    assert srv.value("model_server_feedback_total", served_by="", outcome="correct") == 1, "plain Deployment: served_by=\"\""
