"""FastAPI app: /health, /ready, /predict, /feedback, /metrics.

- /health  liveness: 200 while the process serves HTTP, even while the model loads.
- /ready   readiness: 200 only once the weights are loaded, else 503.
- /predict {"features": [...]} -> {"id", "label", "score", ...}; 503 until ready.
- /feedback {"id", "label"}: the true label of an earlier prediction; feeds the rolling accuracy.
- /metrics Prometheus text format.
"""
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from typing import List, Optional

from fastapi import FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from . import metrics
from .model import Model

log = logging.getLogger("model_server")

MODEL_PATH = os.environ.get("MODEL_PATH", "/models/model.json")
MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_VERSION = os.environ.get("MODEL_VERSION", "")
GIT_SHA = os.environ.get("GIT_SHA", "")
ACCURACY_WINDOW = int(os.environ.get("ACCURACY_WINDOW", "500"))
# Predictions remembered for feedback; the oldest are forgotten first.
PENDING_LIMIT = int(os.environ.get("FEEDBACK_PENDING_LIMIT", "10000"))
# Simulated extra load time, to exercise startup/readiness probes with a realistic delay.
LOAD_DELAY_SECONDS = float(os.environ.get("MODEL_LOAD_DELAY_SECONDS", "0"))


class ModelHolder:
    """Loads the model on a background thread so /health answers while weights load."""

    def __init__(self) -> None:
        self.model: Optional[Model] = None
        self.error: Optional[str] = None
        self._loaded = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            if LOAD_DELAY_SECONDS > 0:
                time.sleep(LOAD_DELAY_SECONDS)
            self.model = Model.load(MODEL_PATH)
            self._loaded.set()
            metrics.MODEL_LOADED.set(1)
            log.info("model %s %s loaded from %s", MODEL_NAME, MODEL_VERSION, MODEL_PATH)
        except Exception as e:  # a broken weights file keeps the pod unready, visibly
            self.error = f"{type(e).__name__}: {e}"
            log.exception("failed to load model from %s", MODEL_PATH)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()


holder = ModelHolder()
accuracy = metrics.RollingAccuracy(ACCURACY_WINDOW)
pending: "OrderedDict[str, int]" = OrderedDict()

metrics.MODEL_LOADED.set(0)
metrics.MODEL_INFO.info({"model": MODEL_NAME, "version": MODEL_VERSION, "revision": GIT_SHA})


@asynccontextmanager
async def lifespan(_app: FastAPI):
    holder.start()
    yield


app = FastAPI(title="model-server", version=MODEL_VERSION or "0.0.0", lifespan=lifespan)


@app.middleware("http")
async def observe(request: Request, call_next):
    if not metrics.is_observed(request.url.path):
        return await call_next(request)
    handler = metrics.handler_label(request.url.path)
    method = request.method
    start = time.perf_counter()
    code = 500
    try:
        response = await call_next(request)
        code = response.status_code
        return response
    finally:
        metrics.LATENCY.labels(handler=handler, method=method).observe(time.perf_counter() - start)
        metrics.REQUESTS.labels(handler=handler, method=method, code=str(code)).inc()


class PredictRequest(BaseModel):
    features: List[float]


class PredictResponse(BaseModel):
    id: str
    label: int
    score: float
    model: str
    version: str


class FeedbackRequest(BaseModel):
    id: str
    label: int


class FeedbackResponse(BaseModel):
    correct: bool
    accuracy: float
    samples: int


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/ready")
async def ready(response: Response) -> dict:
    if holder.ready:
        return {"status": "ready", "model": MODEL_NAME, "version": MODEL_VERSION}
    response.status_code = 503
    return {"status": "failed" if holder.error else "loading", "error": holder.error}


@app.post("/predict", response_model=PredictResponse)
async def predict(req: PredictRequest) -> PredictResponse:
    model = holder.model
    if model is None:
        raise HTTPException(status_code=503, detail="model not loaded yet")
    try:
        label, score = model.predict(req.features)
    except ValueError as e:
        raise HTTPException(status_code=422, detail=str(e))
    prediction_id = uuid.uuid4().hex
    pending[prediction_id] = label
    while len(pending) > PENDING_LIMIT:
        pending.popitem(last=False)
    return PredictResponse(id=prediction_id, label=label, score=score, model=MODEL_NAME, version=MODEL_VERSION)


@app.post("/feedback", response_model=FeedbackResponse)
async def feedback(req: FeedbackRequest) -> FeedbackResponse:
    if req.label not in (0, 1):
        raise HTTPException(status_code=422, detail="label must be 0 or 1")
    predicted = pending.pop(req.id, None)
    if predicted is None:
        raise HTTPException(status_code=404, detail="unknown or already-labelled prediction id")
    value = accuracy.record(predicted == req.label)
    return FeedbackResponse(correct=predicted == req.label, accuracy=value, samples=accuracy.samples)


@app.get("/metrics")
async def prometheus_metrics() -> Response:
    return Response(content=generate_latest(), media_type=CONTENT_TYPE_LATEST)
