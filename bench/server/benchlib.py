"""Pure logic of the server benchmark (bench/server/run.py, floor.py, peer_kserve.py): no third-party imports, so the
benchmark driver (any python3), the floor (the server's venv) and the peer (its own venv) share it, and
images/model-server/tests/test_bench_server.py tests it.
"""
import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

SIGNATURE_KEY = "model_fleet.signature"


# --- the model ---------------------------------------------------------------------------------------------------
def signature(meta: Mapping[str, str], inputs: Sequence[Tuple[str, Sequence]], outputs: Sequence[str]) -> Dict:
    """{"input", "features", "output"} of an ONNX classifier, from its metadata and the session's inputs/outputs.

    The `model_fleet.signature` metadata (JSON: input, features, probabilities, ...) wins when present; else the
    model's one input, its fixed second dimension (or the `features` metadata when that dimension is symbolic), and
    the output named `probabilities` (else the first output)."""
    if SIGNATURE_KEY in meta:
        sig = json.loads(meta[SIGNATURE_KEY])
        return {"input": sig["input"], "features": int(sig["features"]), "output": sig["probabilities"]}
    if len(inputs) != 1:
        raise ValueError(f"expected one model input, got {[i[0] for i in inputs]}")
    name, shape = inputs[0]
    if len(shape) == 2 and isinstance(shape[1], int):
        features = shape[1]
    elif "features" in meta:
        features = int(meta["features"])
    else:
        raise ValueError(f"input {name!r} has shape {list(shape)} and the model declares no feature count")
    if not outputs:
        raise ValueError("the model has no output")
    return {"input": name, "features": features, "output": "probabilities" if "probabilities" in outputs else outputs[0]}


def rows_for(batch: int, features: int) -> List[List[float]]:
    """Deterministic input rows in [-2, 2), the same for the server, the peer and the floor."""
    return [[round(((i * 37 + j * 11) % 200) / 50.0 - 2.0, 3) for j in range(features)] for i in range(batch)]


# --- the requests ------------------------------------------------------------------------------------------------
PROTOCOLS = ("predict", "v2")


def request_for(protocol: str, batch: int, sig: Mapping, model_name: str) -> Tuple[str, str]:
    """(path, JSON body) of one inference request of `batch` rows.

    predict: the server's own API, {"features": [...]} for one row, {"instances": [[...], ...]} for a batch.
    v2:      the Open Inference Protocol v2 REST infer request (kserve/open-inference-protocol
             specification/protocol/inference_rest.md, "Inference Request JSON Object"): one FP32 tensor
             named after the model's input, shape [batch, features], data flattened row-major."""
    rows = rows_for(batch, sig["features"])
    if protocol == "predict":
        return "/predict", json.dumps({"features": rows[0]} if batch == 1 else {"instances": rows})
    if protocol == "v2":
        flat = [v for row in rows for v in row]
        body = {"inputs": [{"name": sig["input"], "shape": [batch, sig["features"]], "datatype": "FP32", "data": flat}]}
        return f"/v2/models/{model_name}/infer", json.dumps(body)
    raise ValueError(f"protocol {protocol!r}: expected one of {PROTOCOLS}")


# --- environments ------------------------------------------------------------------------------------------------
def lock_digest(locks: Iterable[Path]) -> str:
    """sha256 over the lock files' names and bytes: a venv built from them is reused while this is unchanged."""
    h = hashlib.sha256()
    for p in locks:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# --- comparisons -------------------------------------------------------------------------------------------------
def ratio(ours: Optional[float], theirs: Optional[float]) -> Optional[float]:
    """ours / theirs, None when either is missing or theirs is 0."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def throughput_at_p99(curve: Sequence[Tuple[float, float]], p99: float) -> Tuple[Optional[float], str]:
    """The throughput a server reaches at a given p99, from its measured (p99 ms, requests/s) points (one per
    concurrency level), and how it was read: "interpolated" between the two points around p99 (linear), "below"
    (p99 is lower than any point: the server was never measured that fast, None), or "saturated" (p99 is above every
    point: its highest throughput, which more queueing would not raise)."""
    pts = sorted(curve)
    if not pts:
        return None, "no data"
    if p99 < pts[0][0]:
        return None, "below"
    if p99 >= pts[-1][0]:
        return max(r for _, r in pts), "saturated"
    for (p0, r0), (p1, r1) in zip(pts, pts[1:]):
        if p0 <= p99 <= p1:
            if p1 == p0:
                return max(r0, r1), "interpolated"
            return r0 + (r1 - r0) * (p99 - p0) / (p1 - p0), "interpolated"
    raise AssertionError("unreachable")  # pragma: no cover


def peer_goal(ours: Sequence[Tuple[float, float]], peer: Sequence[Tuple[float, float]]) -> Dict:
    """The issue's goal against the peer, "at least its throughput at equal p99", from both servers' measured
    (p99 ms, requests/s) curves (one point per concurrency level): at every p99 either curve was measured at, both
    throughputs are read off (throughput_at_p99); a p99 below one server's fastest point is not comparable and is
    skipped. Met when there is at least one comparable p99 and ours >= the peer's at each."""
    points = []
    for p99 in sorted({p for p, _ in ours} | {p for p, _ in peer}):
        o, o_how = throughput_at_p99(ours, p99)
        t, t_how = throughput_at_p99(peer, p99)
        points.append({"p99_ms": p99, "rps": o, "how": o_how, "peer_rps": t, "peer_how": t_how,
                       "met": None if o is None or t is None else o >= t})
    comparable = [p for p in points if p["met"] is not None]
    return {"met": bool(comparable) and all(p["met"] for p in comparable), "comparable": len(comparable), "points": points}


# --- where the time goes (py-spy raw profiles) --------------------------------------------------------------------
CATEGORIES = ("inference", "thread handoff", "decode+validate", "metrics", "response (ids + JSON)", "http+framework")

# Innermost frame first: the first frame that matches a rule decides the sample's category.
_RULES: List[Tuple[str, "re.Pattern[str]"]] = [
    ("metrics", re.compile(r"prometheus_client/|^record \(.*app/main\.py|app/metrics\.py")),
    ("inference", re.compile(r"onnxruntime/|^infer \(.*app/main\.py|^predict \(.*app/model\.py")),
    # run_in_executor: the event loop hands the batch to the inference thread and is woken with the result
    ("thread handoff", re.compile(r"concurrent/futures/|^run_in_executor \(")),
    ("decode+validate", re.compile(r"json/decoder\.py|^(parse_json|parse_json_exact|_decode|parse_body|parse_instances|_rows?|_reject_constant) \(.*app/main\.py|app/oip\.py")),
    ("response (ids + JSON)", re.compile(r"app/ids\.py|json/encoder\.py|^(\w+\.)?(render|init_headers|__init__) \(.*starlette/responses\.py|^(FastJSONResponse\.render|refuse_non_finite) \(.*app/main\.py|hmac\.py")),
]


def frames_of(line: str) -> Tuple[List[str], int]:
    """A py-spy `--format raw` line ("outer;...;inner COUNT", root first) -> (frames innermost first, count)."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return list(reversed(stack.split(";"))), int(count)


def category(frames: Sequence[str]) -> str:
    for frame in frames:
        for name, rule in _RULES:
            if rule.search(frame.strip()):
                return name
    return "http+framework"  # uvicorn, httptools, starlette/fastapi routing, the event loop (uvloop's C code counts here)


def split_profile(lines: Iterable[str]) -> Dict[str, int]:
    """Samples per category of a py-spy raw profile (idle samples are already left out by py-spy)."""
    out = {c: 0 for c in CATEGORIES}
    for line in lines:
        if not line.strip():
            continue
        frames, n = frames_of(line)
        out[category(frames)] += n
    return out


def top_functions(lines: Iterable[str], n: int = 12) -> List[Tuple[str, int]]:
    """The n innermost frames with the most samples (self time)."""
    seen: Dict[str, int] = {}
    for line in lines:
        if not line.strip():
            continue
        frames, count = frames_of(line)
        seen[frames[0]] = seen.get(frames[0], 0) + count
    return sorted(seen.items(), key=lambda kv: -kv[1])[:n]
