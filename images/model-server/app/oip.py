"""Open Inference Protocol v2 (REST), the request/response logic: pure functions, no I/O, unit-testable.

The protocol ("KServe v2", served by KServe, Triton and MLServer): kserve/open-inference-protocol
specification/protocol/inference_rest.md and kserve/kserve docs/predict-api/v2/required_api.md. What this server
serves (routes in app/main.py):

  GET  /v2                                                   server metadata {"name", "version", "extensions"}
  GET  /v2/health/live, /v2/health/ready                     {"live"|"ready": bool}
  GET  /v2/models/{name}[/versions/{version}]                model metadata
  GET  /v2/models/{name}[/versions/{version}]/ready          {"name", "ready"}
  POST /v2/models/{name}[/versions/{version}]/infer          inference on JSON tensors

One model per server: {name} must be MODEL_NAME and {version}, when given, MODEL_VERSION; anything else is a 404.
Every v2 error answers the protocol's error object {"error": "<message>"} ("Inference Response JSON Error Object").

Inference: exactly one input, named as the ONNX input (`model.input_name`), shape [N, F] (F = model.features,
1 <= N <= MAX_BATCH_SIZE), datatype FP32 or FP64, data row-major, flat ([1, 2, 4, 5]) or in its natural nested
form ([[1, 2], [4, 5]]) as the spec's "Tensor Data" section allows. Outputs, all by default, or the subset the
request names in "outputs":
  label          INT64 [N]     the predicted class (argmax), as /predict's "label"
  probabilities  FP32  [N, C]  the model's class probabilities, flat row-major
  prediction_id  BYTES [N]     the signed prediction id /predict returns (app/ids.py): POST it to /feedback
Client faults are 400 (the spec's "typically 400"), a batch over MAX_BATCH_SIZE 413 (as /predict).

Extensions NOT implemented, refused with a 400 that says so: the binary tensor data extension for inputs (a request
with an `Inference-Header-Content-Length` header or an input parameter `binary_data_size`: Triton's
docs/protocol/extension_binary_data.md), shared-memory inputs/outputs (`shared_memory_region`) and the
classification extension (output parameter `classification`). An output parameter `binary_data: true` or a request
parameter `binary_data_output: true` (tritonclient sends the latter when a call names no outputs) is answered in
JSON: the response is self-describing (no `binary_data_size` parameter on any output), so such clients read it
as JSON; GET /v2 lists no extension. Other request parameters are accepted and ignored (the spec defines none).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

PLATFORM = "onnxruntime_onnx"  # Triton's platform name for its ONNX Runtime backend (the spec's list says onnx_onnxv1)
SERVER_NAME = "model-fleet-model-server"
INPUT_DATATYPES = ("FP32", "FP64")
OUTPUTS = ("label", "probabilities", "prediction_id")
OUTPUT_DATATYPES = {"label": "INT64", "probabilities": "FP32", "prediction_id": "BYTES"}
REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
INPUT_FIELDS = frozenset({"name", "shape", "datatype", "parameters", "data"})
OUTPUT_FIELDS = frozenset({"name", "parameters"})
BINARY_HEADER = "inference-header-content-length"
BINARY_REFUSAL = (
    "the binary tensor data extension is not supported by this server: send the tensor as JSON \"data\" "
    "(tritonclient: set_data_from_numpy(x, binary_data=False))"
)
_F32_MAX = float(np.finfo(np.float32).max)


class ProtocolError(Exception):
    """A client fault: HTTP `status` with the protocol's {"error": message} body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _kind(v: Any) -> str:
    t = type(v)
    return "boolean" if t is bool else "null" if v is None else "string" if t is str else "object" if t is dict else t.__name__


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:60] + "…"


def server_metadata(version: str) -> Dict[str, Any]:
    return {"name": SERVER_NAME, "version": version, "extensions": []}


def model_metadata(name: str, version: str, input_name: str, features: int, classes: int) -> Dict[str, Any]:
    """$metadata_model_response: the input the server accepts (FP32; FP64 is converted) and the outputs it returns."""
    return {
        "name": name,
        "versions": [version] if version else [],
        "platform": PLATFORM,
        "inputs": [{"name": input_name, "datatype": "FP32", "shape": [-1, features]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
            {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
        ],
    }


def check_model(path_name: str, path_version: Optional[str], name: str, version: str) -> None:
    """404 unless the URL names the served model (and, when it names a version, the served version)."""
    if path_name != name:
        raise ProtocolError(404, f"unknown model {_short(path_name)}: this server serves {name!r}")
    if path_version is not None and path_version != version:
        served = f"version {version!r}" if version else "no explicit version"
        raise ProtocolError(404, f"model {name!r} version {_short(path_version)} is not served: this server serves {served}")


def _check_parameters(params: Any, where: str) -> Dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ProtocolError(400, f"{where}: expected an object of parameters, got {_kind(params)}")
    return params


def _shape(shape: Any, where: str) -> Tuple[int, int]:
    if not isinstance(shape, list) or not all(type(d) is int for d in shape):
        raise ProtocolError(400, f"{where}.shape: expected a list of integers, got {_short(shape)}")
    if len(shape) != 2:
        raise ProtocolError(400, f"{where}.shape: expected [N, features] (rank 2), got {shape}")
    if any(d < 0 for d in shape):
        raise ProtocolError(400, f"{where}.shape: dimensions must be >= 0, got {shape}")
    return shape[0], shape[1]


_NUMBER_TYPES = frozenset({int, float})


def _numbers(values: List[Any], where: str, offset: int = 0) -> None:
    """Every value a JSON number: the types in one set; the per-value loop runs only to name the first bad one."""
    if set(map(type, values)) <= _NUMBER_TYPES:
        return
    for i, v in enumerate(values):
        t = type(v)
        if t is not float and t is not int:
            raise ProtocolError(400, f"{where}[{offset + i}]: expected a number, got {_kind(v)}")


def _flatten(data: Any, rows: int, cols: int, where: str) -> List[Any]:
    """The tensor's elements, row-major: `data` flat (rows*cols numbers) or nested (rows lists of cols numbers)."""
    if not isinstance(data, list):
        raise ProtocolError(400, f"{where}.data: expected a list, got {_kind(data)}")
    if data and isinstance(data[0], list):
        if len(data) != rows:
            raise ProtocolError(400, f"{where}.data: {len(data)} rows for shape [{rows}, {cols}]")
        flat: List[Any] = []
        for row in data:  # the shapes in one pass, the value types in one set
            if type(row) is not list or len(row) != cols:
                break
            flat.extend(row)
        else:
            if set(map(type, flat)) <= _NUMBER_TYPES:
                return flat
        flat = []  # a fault: the per-row checks name the first bad row or value
        for r, row in enumerate(data):
            if not isinstance(row, list):
                raise ProtocolError(400, f"{where}.data[{r}]: expected a list of {cols} numbers, got {_kind(row)}")
            if len(row) != cols:
                raise ProtocolError(400, f"{where}.data[{r}]: {len(row)} elements, shape says {cols}")
            _numbers(row, f"{where}.data[{r}]")
            flat.extend(row)
        return flat
    if len(data) != rows * cols:
        raise ProtocolError(400, f"{where}.data: {len(data)} elements, shape [{rows}, {cols}] needs {rows * cols}")
    _numbers(data, f"{where}.data")
    return data


def requested_outputs(outputs: Any) -> Tuple[str, ...]:
    if outputs is None:
        return OUTPUTS
    if not isinstance(outputs, list):
        raise ProtocolError(400, f"outputs: expected a list of {{\"name\": ...}}, got {_kind(outputs)}")
    names: List[str] = []
    for n, out in enumerate(outputs):
        where = f"outputs[{n}]"
        if not isinstance(out, dict):
            raise ProtocolError(400, f"{where}: expected an object {{\"name\": ...}}, got {_kind(out)}")
        unknown = sorted(set(out) - OUTPUT_FIELDS)
        if unknown:
            raise ProtocolError(400, f"{where}: unknown field(s) {', '.join(_short(u) for u in unknown[:5])}: expected 'name' and 'parameters'")
        name = out.get("name")
        if name not in OUTPUTS:
            raise ProtocolError(400, f"{where}.name: {_short(name)} is not an output of this model (outputs: {', '.join(OUTPUTS)})")
        params = _check_parameters(out.get("parameters"), f"{where}.parameters")
        if "shared_memory_region" in params:
            raise ProtocolError(400, f"{where}: the shared-memory extension is not supported by this server")
        if "classification" in params:
            raise ProtocolError(400, f"{where}: the classification extension is not supported by this server")
        if name in names:
            raise ProtocolError(400, f"{where}.name: output {name!r} requested twice")
        names.append(name)
    return tuple(names) if names else OUTPUTS


def parse_infer_request(payload: Any, input_name: str, features: int, max_batch: int) -> Tuple[np.ndarray, Optional[str], Tuple[str, ...]]:
    """$inference_request -> (float32[N, features], request id or None, requested outputs), or ProtocolError."""
    if not isinstance(payload, dict):
        raise ProtocolError(400, f"expected an inference request object {{\"inputs\": [...]}}, got {_kind(payload)}")
    unknown = sorted(set(payload) - REQUEST_FIELDS)
    if unknown:
        raise ProtocolError(400, f"unknown field(s) {', '.join(_short(u) for u in unknown[:5])}: an inference request has 'id', 'parameters', 'inputs', 'outputs'")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(400, f"id: expected a string, got {_kind(request_id)}")
    _check_parameters(payload.get("parameters"), "parameters")
    wanted = requested_outputs(payload.get("outputs"))
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError(400, f"inputs: expected a list with the one input {input_name!r}, got {_short(inputs)}")
    if len(inputs) != 1:
        raise ProtocolError(400, f"inputs: this model takes exactly one input {input_name!r}, got {len(inputs)}")
    tensor = inputs[0]
    where = "inputs[0]"
    if not isinstance(tensor, dict):
        raise ProtocolError(400, f"{where}: expected a tensor object, got {_kind(tensor)}")
    unknown = sorted(set(tensor) - INPUT_FIELDS)
    if unknown:
        raise ProtocolError(400, f"{where}: unknown field(s) {', '.join(_short(u) for u in unknown[:5])}: a tensor has 'name', 'shape', 'datatype', 'parameters', 'data'")
    missing = [f for f in ("name", "shape", "datatype", "data") if f not in tensor]
    params = _check_parameters(tensor.get("parameters"), f"{where}.parameters")
    if "binary_data_size" in params:
        raise ProtocolError(400, BINARY_REFUSAL)
    if "shared_memory_region" in params:
        raise ProtocolError(400, f"{where}: the shared-memory extension is not supported by this server")
    if missing:
        raise ProtocolError(400, f"{where}: missing field(s) {', '.join(repr(m) for m in missing)}")
    if tensor["name"] != input_name:
        raise ProtocolError(400, f"{where}.name: unexpected input {_short(tensor['name'])}: this model's input is {input_name!r}")
    datatype = tensor["datatype"]
    if datatype not in INPUT_DATATYPES:
        raise ProtocolError(400, f"{where}.datatype: {_short(datatype)} is not supported: send FP32 (or FP64)")
    rows, cols = _shape(tensor["shape"], where)
    if cols != features:
        raise ProtocolError(400, f"{where}.shape: expected [N, {features}] ({features} features), got [{rows}, {cols}]")
    if rows == 0:
        raise ProtocolError(400, f"{where}.shape: empty batch [0, {features}], send at least one row")
    if rows > max_batch:
        raise ProtocolError(413, f"{where}.shape: batch of {rows} exceeds MAX_BATCH_SIZE={max_batch}")
    flat = _flatten(tensor["data"], rows, cols, where)
    try:
        x = np.asarray(flat, dtype=np.float64)
    except OverflowError:  # an integer literal beyond float range
        i = next(i for i, v in enumerate(flat) if type(v) is int and abs(v) > 1e308)
        raise ProtocolError(400, f"{where}.data[{i}]: integer of {len(str(flat[i]))} digits is not a finite {datatype} value") from None
    # The model is FP32: an FP64 value outside float32's range is refused, not silently made infinite.
    bad = ~np.isfinite(x) | (np.abs(x) > _F32_MAX)
    if bad.any():
        i = int(np.argmax(bad))
        raise ProtocolError(400, f"{where}.data[{i}]: {_short(flat[i])} is not a finite float32 value")
    x = x.reshape(rows, cols)
    return x.astype(np.float32), request_id, wanted


def infer_response(
    model_name: str,
    model_version: str,
    request_id: Optional[str],
    wanted: Sequence[str],
    labels: List[int],
    probs: np.ndarray,
    prediction_ids: Optional[List[str]],
) -> Dict[str, Any]:
    """$inference_response with the requested outputs, in the order requested."""
    n = len(labels)
    tensors: Dict[str, Dict[str, Any]] = {}
    for name in wanted:
        if name == "label":
            tensors[name] = {"name": name, "datatype": "INT64", "shape": [n], "data": labels}
        elif name == "probabilities":
            tensors[name] = {"name": name, "datatype": "FP32", "shape": [n, int(probs.shape[1])], "data": probs.ravel().tolist()}
        else:
            tensors[name] = {"name": name, "datatype": "BYTES", "shape": [n], "data": prediction_ids}
    out: Dict[str, Any] = {"model_name": model_name}
    if model_version:
        out["model_version"] = model_version
    if request_id is not None:
        out["id"] = request_id
    out["outputs"] = [tensors[name] for name in wanted]
    return out
