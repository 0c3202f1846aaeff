"""FastAPI app: /health, /ready, /predict, /feedback, /metrics.

- /health   liveness: 200 while the process serves HTTP, also while the model loads or after it failed to load
            (restarting cannot fix a bad weights file: the pod stays unready instead of crash-looping).
- /ready    readiness: 200 once every worker has loaded the model and no SIGTERM arrived, else 503.
- /predict  one instance {"features": [f1, ..., fF]} -> {"id", "label", "score", "model", "version"}
            or a batch {"instances": [[...], ...]} -> {"predictions": [{"id", "label", "score"}, ...], "model", "version"}.
            413 past MAX_BODY_BYTES / MAX_BATCH_SIZE, 422 for an input-contract mismatch, 400 for malformed JSON,
            503 until the model is loaded.
- /feedback {"id", "label"}: the true label of an earlier prediction, served by ANY pod (the id carries the serving
            pod-template-hash and the predicted label, signed with the model's key: app/ids.py); counts
            model_server_feedback_total{served_by, outcome}. Not exposed through the Ingress (the program routes
            only /predict there); in-cluster callers reach it through the model's Service.
- /metrics  Prometheus text format (all workers merged).
- /v2/...   the Open Inference Protocol v2 REST API (KServe, Triton, MLServer) beside /predict: health, server and
            model metadata, model ready, infer (app/oip.py has the protocol logic and its spec references).

Request bodies are decoded with orjson (as KServe's dataplane does); the standard library's json stays the reference:
a body orjson refuses, and every body whose payload the contract refuses, is decoded again by it, so every 4xx and its
message are the reference decoder's (see parse_body). Responses to /predict and v2 infer are encoded with orjson too
(FastJSONResponse), after the same refusal of non-finite scores that JSONResponse made.

Every client fault is a 4xx: malformed JSON (also nested deeper than the parser allows) 400, bodies over
MAX_BODY_BYTES 413 after draining the body (so the client reads the answer instead of a reset connection). Inference
runs on a dedicated thread pool, off the event loop, so /health, /ready and /metrics answer during a long inference;
only a batch that is known to be short runs inline on the event loop (the hop to the pool cost more than the
inference): on CPU, at most INLINE_INFERENCE_MAX_ROWS rows, and only if the model ran that many rows within
INLINE_INFERENCE_BUDGET_MS when the worker loaded it (see inline_rows).
"""
import asyncio
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, List, Optional, Tuple, TypeVar

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from . import card, ids, lifecycle, metrics, oip, preflight
from .model import LoadError, Model

logging.basicConfig(
    level=os.environ.get("LOG_LEVEL", "info").upper(),
    format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
)
log = logging.getLogger("model_server")


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "")
    value = int(raw) if raw.strip() else default
    if value < minimum:
        raise ValueError(f"{name}={value}: must be >= {minimum}")
    return value


MODEL_PATH = os.environ.get("MODEL_PATH", "/models/model.onnx")
MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_VERSION = os.environ.get("MODEL_VERSION", "")
GIT_SHA = os.environ.get("GIT_SHA", "")
# Downward API: metadata.labels['rollouts-pod-template-hash'] ("" under a plain Deployment).
POD_TEMPLATE_HASH = os.environ.get("POD_TEMPLATE_HASH", "")
if not ids.valid_hash(POD_TEMPLATE_HASH):
    raise ValueError(f"POD_TEMPLATE_HASH={POD_TEMPLATE_HASH!r} is not a Kubernetes pod-template-hash")
# HMAC key of the prediction ids: the model's Secret (env PREDICTION_ID_KEY), shared by all its pods.
PREDICTION_ID_KEY = preflight.key_from_env()
MODEL_DEVICE = os.environ.get("MODEL_DEVICE", "auto")
ORT_INTRA_OP_THREADS = _env_int("ORT_INTRA_OP_THREADS", 1)
MAX_BATCH_SIZE = _env_int("MAX_BATCH_SIZE", 128)
MAX_BODY_BYTES = _env_int("MAX_BODY_BYTES", 1024 * 1024)
# An oversized body is read and discarded up to this many bytes before the 413, so the client, still sending, gets
# the answer (closing a socket with unread data makes the kernel reset it). Beyond it the connection is closed.
MAX_DRAIN_BYTES = _env_int("MAX_DRAIN_BYTES", 64 * 1024 * 1024)
# Threads per worker that run inference (off the event loop). 1 keeps the measured one-session-per-core behaviour.
INFERENCE_THREADS = _env_int("INFERENCE_THREADS", 1)
# Inline inference (see inline_rows): batches up to this many rows run on the event loop, without the hop to the pool,
# when the device is CPU and the model ran a batch of this size within the budget at load. 0 = always the pool.
INLINE_MAX_ROWS = _env_int("INLINE_INFERENCE_MAX_ROWS", 32, minimum=0)
INLINE_BUDGET_SECONDS = float(os.environ.get("INLINE_INFERENCE_BUDGET_MS", "") or "0.5") / 1000
if not INLINE_BUDGET_SECONDS >= 0:
    raise ValueError(f"INLINE_INFERENCE_BUDGET_MS={INLINE_BUDGET_SECONDS * 1000}: must be >= 0")
ACCURACY_WINDOW = _env_int("ACCURACY_WINDOW", 500)
FEEDBACK_DEDUP_LIMIT = _env_int("FEEDBACK_DEDUP_LIMIT", 10000)
# Test/rehearsal knobs: simulated extra load time (exercises startup/readiness probes) and per-request latency.
LOAD_DELAY_SECONDS = float(os.environ.get("MODEL_LOAD_DELAY_SECONDS", "0"))
PREDICT_DELAY_SECONDS = float(os.environ.get("MODEL_PREDICT_DELAY_SECONDS", "0"))
# Latency that grows with load (the rehearsal's slow-model scenario): each inference request (/predict and v2 infer)
# sleeps this many seconds x the inference requests in flight in its worker (itself included) before inferring.
LATENCY_PER_INFLIGHT_SECONDS = float(os.environ.get("MODEL_LATENCY_PER_INFLIGHT_SECONDS", "0") or "0")
if not LATENCY_PER_INFLIGHT_SECONDS >= 0:
    raise ValueError(f"MODEL_LATENCY_PER_INFLIGHT_SECONDS={LATENCY_PER_INFLIGHT_SECONDS}: must be >= 0")


class ModelHolder:
    """Loads the model on a background thread so /health answers while weights load."""

    def __init__(self) -> None:
        self.model: Optional[Model] = None
        self.error: Optional[str] = None
        self.reason: Optional[str] = None
        self._loaded = threading.Event()
        self._started = False
        self.inline_rows = 0  # batches up to this many rows run inline on the event loop (0: every batch on the pool)

    def start(self) -> None:
        if not self._started:
            self._started = True
            threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        started = time.monotonic()
        card.publish(MODEL_PATH, MODEL_NAME, MODEL_VERSION, GIT_SHA)  # the lineage series; never raises
        try:
            if LOAD_DELAY_SECONDS > 0:
                time.sleep(LOAD_DELAY_SECONDS)
            model = Model.load(MODEL_PATH, requested_device=MODEL_DEVICE, intra_op_threads=ORT_INTRA_OP_THREADS)
            self._info(model.device, "onnxruntime", model.runtime_version)
            self.inline_rows = calibrate_inline(model)
            self.model = model
            self._loaded.set()
            metrics.MODEL_LOADED.set(1)
            lifecycle.mark_loaded()
            log.info(
                "model %s %s (revision %s) loaded from %s in %.2fs: device=%s runtime=onnxruntime %s providers=%s features=%d",
                MODEL_NAME, MODEL_VERSION or "-", GIT_SHA or "-", MODEL_PATH, time.monotonic() - started,
                model.device, model.runtime_version, model.providers, model.features,
            )
        except LoadError as e:
            self._fail(e.reason, str(e))
        except Exception as e:  # never let the loader kill the worker: the pod stays up and visibly unready
            self._fail("runtime", f"{type(e).__name__}: {e}")

    def _info(self, device: str, runtime: str, runtime_version: str) -> None:
        metrics.MODEL_INFO.labels(
            model=MODEL_NAME, version=MODEL_VERSION, revision=GIT_SHA,
            device=device, runtime=runtime, runtime_version=runtime_version,
        ).set(1)

    def _fail(self, reason: str, message: str) -> None:
        self.reason, self.error = reason, message
        metrics.LOAD_ERRORS.labels(reason=reason).inc()
        try:
            import onnxruntime

            version = onnxruntime.__version__
        except Exception:  # pragma: no cover - the runtime itself is broken
            version = ""
        self._info("none", "onnxruntime", version)
        lifecycle.mark_failed(reason)
        log.error("model load failed (reason=%s): %s; the pod stays unready (/ready 503), /health stays 200", reason, message)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()


holder = ModelHolder()
accuracy = metrics.RollingAccuracy(ACCURACY_WINDOW)
scored: "OrderedDict[str, None]" = OrderedDict()  # nonces this worker already scored (repeat feedback is a 409)
inference = ThreadPoolExecutor(max_workers=INFERENCE_THREADS, thread_name_prefix="inference")

metrics.MODEL_LOADED.set(0)
metrics.WORKERS.set(1)
# Inference requests of this worker between their parsed input and their result (the event loop is one thread).
inflight = 0


async def _simulated_latency() -> None:
    """The test/rehearsal latency knobs, awaited off the inference pool (other requests and probes keep flowing)."""
    delay = PREDICT_DELAY_SECONDS + LATENCY_PER_INFLIGHT_SECONDS * inflight
    if delay > 0:
        await asyncio.sleep(delay)


@asynccontextmanager
async def lifespan(_app: FastAPI):
    holder.start()
    yield


# FastAPI 0.165's native OpenTelemetry: off. Its check (FastAPI.__call__ -> NativeTelemetry.enabled(), looking up the
# global tracer, meter and logger providers) ran on every request for nothing: the server's metrics are its own
# Prometheus ones, and no OpenTelemetry SDK is installed. Saves ~3 µs per request (bench/server/cuts.py).
app = FastAPI(
    title="model-server", version=MODEL_VERSION or "0.0.0", lifespan=lifespan,
    telemetry={"tracing": False, "metrics": False, "logs": False},
)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every API request by handler, method and final status code (an unhandled
    exception counts as 500) and times it. Probes and scrapes are not observed."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not metrics.is_observed(scope["path"]):
            await self.app(scope, receive, send)
            return
        handler = metrics.handler_label(scope["path"])
        method = scope["method"]
        start = time.perf_counter()
        state = {"status": 500, "recorded": False}

        def record() -> None:
            if not state["recorded"]:
                state["recorded"] = True
                metrics.LATENCY.labels(handler=handler, method=method).observe(time.perf_counter() - start)
                metrics.REQUESTS.labels(handler=handler, method=method, code=str(state["status"])).inc()

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Count before the last byte leaves: a client that has its response sees it in /metrics.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            record()


app.add_middleware(MetricsMiddleware)


class ClientError(Exception):
    def __init__(self, status: int, detail: str, close: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.close = close  # answer with Connection: close (the rest of the body was not read)


# nginx's code for "the client closed the request": a client fault, never counted as a server error.
CLIENT_CLOSED_REQUEST = 499


def _reject_constant(name: str) -> Any:
    raise ClientError(422, f"{name} is not allowed: every feature must be a finite number")


def parse_json_exact(body: bytes) -> Any:
    """The request body as JSON by the reference decoder (the standard library's), or a ClientError (4xx); nothing else
    escapes, whatever the bytes. It names every fault: NaN/Infinity literals, nesting, encodings (it also reads UTF-16
    and UTF-32 bodies and a UTF-8 BOM), integers of any size up to Python's int_max_str_digits."""
    if not body:
        raise ClientError(422, "empty request body: expected a JSON object")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ClientError:
        raise
    except RecursionError:  # e.g. 200 KB of "[": the C decoder's recursion guard
        raise ClientError(400, "request body is not valid JSON for this API: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # also integers beyond Python's int_max_str_digits
        raise ClientError(400, f"request body is not valid JSON: {e}") from None


def _decode(body: bytes) -> Tuple[Any, bool]:
    """(the body as JSON, decoded by the reference decoder?). orjson first: ~5x faster on arrays of numbers
    (bench/RESULTS-server.md). It refuses more than the reference does (NaN/Infinity literals, a BOM, UTF-16/32, lone
    surrogates, nesting deeper than 1024, numbers beyond a double): every body it refuses goes to parse_json_exact,
    which accepts it as before or names the fault as before."""
    if body:
        try:
            return orjson.loads(body), False
        except Exception:  # orjson.JSONDecodeError; the reference decides what the client is told
            pass
    return parse_json_exact(body), True


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a ClientError (4xx); nothing else escapes, whatever the bytes."""
    return _decode(body)[0]


T = TypeVar("T")


def parse_body(body: bytes, parse: Callable[..., T], *args: Any) -> T:
    """parse(the body as JSON, *args): the same outcome as with the reference decoder alone, value or 4xx and message.

    Where orjson accepts a body, its value differs from the reference's in one way only: an integer literal outside
    [-2**63, 2**64) is a float (the nearest double; the reference keeps the int). A payload that passes `parse` gives
    the same result either way (a feature value becomes the same float32; the contract's integer fields, the v2 shape
    and the feedback label, refuse a float), so only on a client fault is the body decoded again by the reference
    decoder and parsed again: the client is told exactly what it was told before (e.g. "integer of 401 digits", a v2
    shape's 413, a nesting depth the reference refuses)."""
    payload, exact = _decode(body)
    try:
        return parse(payload, *args)
    except (ClientError, oip.ProtocolError):
        if exact:
            raise
    return parse(parse_json_exact(body), *args)


async def _discard(request: Request, stream: AsyncIterator[bytes], already: int) -> None:
    """Read and drop what is left of an oversized body (up to MAX_DRAIN_BYTES), so the 413 reaches a client that is
    still sending. A client that sent `Expect: 100-continue` has not sent the body: it gets the 413 instead."""
    if request.headers.get("expect", "").lower() == "100-continue":
        return
    seen = already
    async for chunk in stream:
        seen += len(chunk)
        if seen > MAX_DRAIN_BYTES:
            return


async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY_BYTES, or a ClientError (413 over the limit, 400 bad Content-Length, 499 gone)."""
    stream = request.stream()
    try:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise ClientError(400, "Content-Length is not an integer") from None
            if n > MAX_BODY_BYTES:
                await _discard(request, stream, 0)
                raise ClientError(413, f"request body is {n} bytes; the limit is MAX_BODY_BYTES={MAX_BODY_BYTES} bytes", close=True)
        chunks: List[bytes] = []
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _discard(request, stream, size)
                raise ClientError(413, f"request body exceeds MAX_BODY_BYTES={MAX_BODY_BYTES} bytes", close=True)
            chunks.append(chunk)
        return b"".join(chunks)
    except ClientDisconnect:
        raise ClientError(CLIENT_CLOSED_REQUEST, "the client closed the connection before the body was read") from None


def _names(names: List[str], limit: int = 5) -> str:
    """Field names for an error message: repr()'d (escapes control characters and lone surrogates), bounded."""
    shown = [repr(n) if len(n) <= 40 else repr(n[:40]) + "…" for n in names[:limit]]
    return ", ".join(shown) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


# The JSON number types: a row whose values' types are a subset of these passes the type check in one pass.
_NUMBER_TYPES = frozenset({int, float})


def _row(values: Any, where: str, features: int) -> List[float]:
    """One instance's values, or the ClientError that names the first bad one (the per-value loop runs only then)."""
    if type(values) is list and len(values) == features and set(map(type, values)) <= _NUMBER_TYPES:
        return values
    if not isinstance(values, list):
        raise ClientError(422, f"{where}: expected a list of {features} numbers, got {type(values).__name__}")
    if len(values) != features:
        raise ClientError(422, f"{where}: expected {features} features, got {len(values)}")
    for i, v in enumerate(values):
        t = type(v)
        if t is not float and t is not int:
            kind = "boolean" if t is bool else "null" if v is None else "string" if t is str else t.__name__
            raise ClientError(422, f"{where}[{i}]: expected a number, got {kind}")
    return values


def _rows(instances: List[Any], features: int) -> List[Any]:
    """The batch's rows once every row is a list of `features` numbers: the shapes in one pass, the value types in one
    set; on any fault, the per-row checks (_row) name the first bad row or value, as they always did."""
    if all(type(r) is list and len(r) == features for r in instances) and {type(v) for r in instances for v in r} <= _NUMBER_TYPES:
        return instances
    return [_row(r, f"instances[{n}]", features) for n, r in enumerate(instances)]


def parse_instances(payload: Any, features: int) -> Tuple[np.ndarray, bool]:
    """(float32[N, features], batch?) or ClientError. One instance: {"features": [...]}; a batch:
    {"instances": [[...], ...]}; nothing else."""
    if not isinstance(payload, dict):
        raise ClientError(422, 'expected a JSON object: {"features": [...]} for one instance or {"instances": [[...], ...]} for a batch')
    unknown = sorted(set(payload) - {"features", "instances"})
    if unknown:
        raise ClientError(422, f"unknown field(s) {_names(unknown)}: expected 'features' (one instance) or 'instances' (a batch)")
    if "features" in payload and "instances" in payload:
        raise ClientError(422, "send either 'features' (one instance) or 'instances' (a batch), not both")
    if "features" in payload:
        rows, batch = [_row(payload["features"], "features", features)], False
    elif "instances" in payload:
        instances = payload["instances"]
        if not isinstance(instances, list):
            raise ClientError(422, f"instances: expected a list of instances, got {type(instances).__name__}")
        if not instances:
            raise ClientError(422, "instances: empty list, send at least one instance")
        if len(instances) > MAX_BATCH_SIZE:
            raise ClientError(413, f"instances: batch of {len(instances)} exceeds MAX_BATCH_SIZE={MAX_BATCH_SIZE}")
        rows = _rows(instances, features)
        batch = True
    else:
        raise ClientError(422, "missing field: 'features' (one instance) or 'instances' (a batch)")
    try:
        x = np.asarray(rows, dtype=np.float64)
    except OverflowError:  # an integer literal beyond float range
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                try:
                    float(v)
                except OverflowError:
                    where = f"instances[{r}][{c}]" if batch else f"features[{c}]"
                    raise ClientError(422, f"{where}: integer of {len(str(v))} digits is not a finite float32 value") from None
        raise
    bad = ~np.isfinite(x) | (np.abs(x) > np.finfo(np.float32).max)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        where = f"instances[{r}][{c}]" if batch else f"features[{c}]"
        raise ClientError(422, f"{where}: {rows[r][c]!r} is not a finite float32 value")
    return x.astype(np.float32), batch


class FastJSONResponse(JSONResponse):
    """JSONResponse encoded by orjson: the same JSON value (compact, UTF-8), ~20x faster for a batch's outputs
    (bench/RESULTS-server.md). One difference: orjson writes NaN and +-Infinity as null where JSONResponse's
    json.dumps(allow_nan=False) raised; the handlers call refuse_non_finite first, so such a response is a 500, as it was."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def refuse_non_finite(values: List[float]) -> None:
    """JSONResponse's rule for the floats of a response: a NaN or an infinity is a ValueError (the request's 500,
    counted against the canary's success rate), never a 200 with null in place of a score."""
    if not all(map(math.isfinite, values)):
        bad = next(v for v in values if not math.isfinite(v))
        raise ValueError(f"Out of range float values are not JSON compliant: {bad!r} (the model returned a non-finite score)")


def _error(e: ClientError) -> JSONResponse:
    return JSONResponse({"detail": e.detail}, status_code=e.status, headers={"Connection": "close"} if e.close else None)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/ready")
async def ready() -> JSONResponse:
    if lifecycle.draining():
        return JSONResponse({"status": "draining"}, status_code=503)
    if holder.error:
        return JSONResponse({"status": "failed", "reason": holder.reason, "error": holder.error}, status_code=503)
    if not holder.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    loaded, expected = lifecycle.pod_workers_ready()
    if loaded < expected:
        return JSONResponse({"status": "loading", "workers_ready": loaded, "workers": expected}, status_code=503)
    return JSONResponse({"status": "ready", "model": MODEL_NAME, "version": MODEL_VERSION, "device": holder.model.device})


def infer(model: Model, x: np.ndarray) -> Tuple[List[int], List[float], List[int]]:
    """(labels, scores, count per label) of a batch: on the inference pool, or inline when inline_rows allows it."""
    labels_np, probs = model.predict(x)
    counts = np.bincount(labels_np, minlength=model.classes).tolist()
    scores = (probs[:, 1] if model.classes == 2 else probs[np.arange(len(labels_np)), labels_np]).tolist()
    return labels_np.tolist(), scores, counts


def _count_predictions(counts: List[int]) -> None:
    for label, count in enumerate(counts):
        if count:
            metrics.PREDICTIONS.labels(label=str(label)).inc(count)


def inline_rows(device: str, max_rows: int, budget_seconds: float, timings: List[float]) -> int:
    """How many rows a batch may have to run inline on the event loop (0 = every batch goes to the inference pool).

    Inline saves the hop to the pool (~35-50 µs of CPU per request, more than this model's whole inference), but the
    event loop serves /health, /ready and /metrics, so it may only run what is known to be short: CPU only (a CUDA
    run's time depends on the device and its queue; it always goes to the pool), at most max_rows rows, and only if
    the median of the load-time runs of a max_rows-row batch (`timings`, seconds) is within budget_seconds. A slow
    model, a large batch and every GPU inference keep the pool, so the probes answer during them as before."""
    if device != "cpu" or max_rows <= 0 or not timings:
        return 0
    return max_rows if sorted(timings)[len(timings) // 2] <= budget_seconds else 0


def calibrate_inline(model: Model) -> int:
    """Times up to 3 inferences of an INLINE_MAX_ROWS-row batch (stopping at once when one is far over the budget, so a
    slow model pays one extra run at load) and applies inline_rows."""
    timings: List[float] = []
    if model.device == "cpu" and INLINE_MAX_ROWS > 0:
        x = np.zeros((INLINE_MAX_ROWS, model.features), dtype=np.float32)
        for _ in range(3):
            started = time.perf_counter()
            infer(model, x)
            timings.append(time.perf_counter() - started)
            if timings[-1] > 10 * INLINE_BUDGET_SECONDS:
                break
    rows = inline_rows(model.device, INLINE_MAX_ROWS, INLINE_BUDGET_SECONDS, timings)
    measured = f"{sorted(timings)[len(timings) // 2] * 1000:.3f} ms for {INLINE_MAX_ROWS} rows" if timings else "not measured"
    log.info(
        "inference: batches of up to %d rows inline on the event loop, larger ones on the inference pool "
        "(device %s, %s, budget %.3f ms)", rows, model.device, measured, INLINE_BUDGET_SECONDS * 1000,
    )
    return rows


@app.post("/predict")
async def predict(request: Request) -> JSONResponse:
    model = holder.model
    if model is None:
        detail = f"model not loaded ({holder.reason}: {holder.error})" if holder.error else "model not loaded yet"
        return JSONResponse({"detail": detail}, status_code=503)
    try:
        x, batch = parse_body(await read_body(request), parse_instances, model.features)
    except ClientError as e:
        return _error(e)
    global inflight
    inflight += 1
    try:
        await _simulated_latency()
        if len(x) <= holder.inline_rows:  # known to be short (inline_rows): the hop to the pool would cost more
            labels, scores, counts = infer(model, x)
        else:  # off the event loop: a long inference (a GPU, a large batch) must not stall /ready, /health and /metrics
            labels, scores, counts = await asyncio.get_running_loop().run_in_executor(inference, infer, model, x)
    finally:
        inflight -= 1
    _count_predictions(counts)
    refuse_non_finite(scores)
    out = [
        {"id": i, "label": label, "score": score}
        for i, label, score in zip(ids.encode_many(PREDICTION_ID_KEY, POD_TEMPLATE_HASH, labels), labels, scores)
    ]
    if batch:
        return FastJSONResponse({"predictions": out, "model": MODEL_NAME, "version": MODEL_VERSION})
    return FastJSONResponse({**out[0], "model": MODEL_NAME, "version": MODEL_VERSION})


def parse_feedback(payload: Any, classes: int) -> Tuple[ids.PredictionRef, int]:
    """(the prediction the feedback is for, the true label) or a ClientError (422)."""
    if not isinstance(payload, dict):
        raise ClientError(422, 'expected a JSON object {"id": "<prediction id>", "label": <true label>}')
    unknown = sorted(set(payload) - {"id", "label"})
    if unknown:
        raise ClientError(422, f"unknown field(s) {_names(unknown)}: expected 'id' and 'label'")
    if "id" not in payload or "label" not in payload:
        raise ClientError(422, "missing field: 'id' and 'label' are required")
    label = payload["label"]
    if type(label) is not int or not 0 <= label < classes:
        shown = repr(label) if isinstance(label, (int, float, str, bool)) and len(str(label)) <= 40 else type(label).__name__
        raise ClientError(422, f"label must be an integer class 0..{classes - 1}, got {shown}")
    try:
        return ids.decode(PREDICTION_ID_KEY, payload["id"], classes), label
    except ids.BadId as e:
        raise ClientError(422, str(e)) from None


@app.post("/feedback")
async def feedback(request: Request) -> JSONResponse:
    try:
        ref, label = parse_body(await read_body(request), parse_feedback, holder.model.classes if holder.model else 2)
        if ref.nonce in scored:
            raise ClientError(409, "this prediction already has feedback")
    except ClientError as e:
        return _error(e)
    scored[ref.nonce] = None
    while len(scored) > FEEDBACK_DEDUP_LIMIT:
        scored.popitem(last=False)
    correct = ref.label == label
    metrics.FEEDBACK.labels(served_by=ref.served_by, outcome="correct" if correct else "incorrect").inc()
    own = ref.served_by == POD_TEMPLATE_HASH
    if own:
        accuracy.record(correct)
    return JSONResponse({
        "correct": correct,
        "served_by": ref.served_by,
        "accuracy": accuracy.value if accuracy.samples else None,
        "samples": accuracy.samples,
    })


@app.get("/metrics")
async def prometheus_metrics() -> Response:
    return Response(content=metrics.exposition(), media_type=metrics.CONTENT_TYPE)


# --- Open Inference Protocol v2 (REST) -------------------------------------------------------------------------
# Spec: kserve/open-inference-protocol specification/protocol/inference_rest.md (= kserve/kserve
# docs/predict-api/v2/required_api.md). The request/response logic is app/oip.py; here: routing, limits, metrics.


def _v2_error(status: int, message: str, close: bool = False) -> JSONResponse:
    """The protocol's error object {"error": message}, for every v2 error."""
    return JSONResponse({"error": message}, status_code=status, headers={"Connection": "close"} if close else None)


def _not_ready_reason() -> Optional[str]:
    """Why the pod is not ready (the /ready rules), or None when it is."""
    if lifecycle.draining():
        return "draining: the server is shutting down"
    if holder.error:
        return f"model not loaded ({holder.reason}: {holder.error})"
    if not holder.ready:
        return "model not loaded yet"
    loaded, expected = lifecycle.pod_workers_ready()
    if loaded < expected:
        return f"model loaded in {loaded} of {expected} workers"
    return None


@app.get("/v2")
async def v2_server_metadata() -> JSONResponse:
    return JSONResponse(oip.server_metadata(GIT_SHA or "unknown"))


@app.get("/v2/health/live")
async def v2_live() -> JSONResponse:
    return JSONResponse({"live": True})  # as /health: the process serves HTTP


@app.get("/v2/health/ready")
async def v2_ready() -> JSONResponse:
    # As /ready. The spec says "a 4xx status code indicates false"; 503 is kept (what /ready and KServe's own
    # ModelNotReady answer): any status >= 400 fails a Kubernetes probe, and clients test for 200.
    reason = _not_ready_reason()
    if reason:
        return JSONResponse({"ready": False, "error": reason}, status_code=503)
    return JSONResponse({"ready": True})


def _model_or_error(name: str, version: Optional[str]) -> Tuple[Optional[Model], Optional[JSONResponse]]:
    try:
        oip.check_model(name, version, MODEL_NAME, MODEL_VERSION)
    except oip.ProtocolError as e:
        return None, _v2_error(e.status, e.message)
    model = holder.model
    if model is None:
        detail = f"model not loaded ({holder.reason}: {holder.error})" if holder.error else "model not loaded yet"
        return None, _v2_error(503, detail)
    return model, None


@app.get("/v2/models/{name}")
@app.get("/v2/models/{name}/versions/{version}")
async def v2_model_metadata(name: str, version: Optional[str] = None) -> JSONResponse:
    model, error = _model_or_error(name, version)
    if error is not None:
        return error
    return JSONResponse(oip.model_metadata(MODEL_NAME, MODEL_VERSION, model.input_name, model.features, model.classes))


@app.get("/v2/models/{name}/ready")
@app.get("/v2/models/{name}/versions/{version}/ready")
async def v2_model_ready(name: str, version: Optional[str] = None) -> JSONResponse:
    try:
        oip.check_model(name, version, MODEL_NAME, MODEL_VERSION)
    except oip.ProtocolError as e:
        return _v2_error(e.status, e.message)
    reason = _not_ready_reason()
    if reason:
        return JSONResponse({"name": MODEL_NAME, "ready": False, "error": reason}, status_code=503)
    return JSONResponse({"name": MODEL_NAME, "ready": True})


def _v2_infer_job(model: Model, x: np.ndarray, wanted: Tuple[str, ...], request_id: Optional[str]) -> Tuple[dict, List[int]]:
    """(the $inference_response, count per label): on the inference pool, or inline when inline_rows allows it."""
    labels_np, probs = model.predict(x)
    labels = labels_np.tolist()
    counts = np.bincount(labels_np, minlength=model.classes).tolist()
    pids = ids.encode_many(PREDICTION_ID_KEY, POD_TEMPLATE_HASH, labels) if "prediction_id" in wanted else None
    body = oip.infer_response(MODEL_NAME, MODEL_VERSION, request_id, wanted, labels, np.asarray(probs, dtype=np.float32), pids)
    return body, counts


@app.post("/v2/models/{name}/infer")
@app.post("/v2/models/{name}/versions/{version}/infer")
async def v2_infer(request: Request, name: str, version: Optional[str] = None) -> JSONResponse:
    model, error = _model_or_error(name, version)
    if error is not None:
        return error
    try:
        if oip.BINARY_HEADER in request.headers:
            await read_body(request)  # read (and bound) it, so the client gets the answer instead of a reset
            return _v2_error(400, oip.BINARY_REFUSAL)
        x, request_id, wanted = parse_body(await read_body(request), oip.parse_infer_request, model.input_name, model.features, MAX_BATCH_SIZE)
    except ClientError as e:
        # Body and JSON faults as /predict; an empty body or a NaN literal is 400 here (the protocol's client error).
        return _v2_error(400 if e.status == 422 else e.status, e.detail, close=e.close)
    except oip.ProtocolError as e:
        return _v2_error(e.status, e.message)
    global inflight
    inflight += 1
    try:
        await _simulated_latency()
        if len(x) <= holder.inline_rows:  # as /predict
            body, counts = _v2_infer_job(model, x, wanted, request_id)
        else:
            body, counts = await asyncio.get_running_loop().run_in_executor(inference, _v2_infer_job, model, x, wanted, request_id)
    finally:
        inflight -= 1
    _count_predictions(counts)
    for output in body["outputs"]:
        if output["datatype"] == "FP32":
            refuse_non_finite(output["data"])
    return FastJSONResponse(body)
