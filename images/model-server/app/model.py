"""The model: an ONNX graph run by ONNX Runtime on the device chosen at startup.

Device choice (`choose_device`): CUDA when ONNX Runtime offers CUDAExecutionProvider AND the container sees an
NVIDIA device (a /dev/nvidiaN node, which a whole GPU and a MIG slice both bring, or NVIDIA_VISIBLE_DEVICES naming
devices); otherwise CPU. `MODEL_DEVICE=cpu|cuda|auto` (default auto) overrides: `cpu` never touches CUDA, `cuda`
fails the load when CUDA cannot be used. After the session is built, the device reported is the one ONNX Runtime
actually runs on (it falls back to CPU by itself when the CUDA provider cannot start).

Model contract (model-agnostic): ANY ONNX classifier whose metadata_props carry `model_fleet.signature`, a JSON
object naming its one input and its probabilities output:

    {"input": "pixels", "features": 64, "probabilities": "probabilities", "classes": 10, "label": "label"}

- input: the model's ONLY graph input, float32 (tensor(float)), rank 2 [batch, features];
- probabilities: a float32 output of rank 2 [batch, classes]; the server answers its argmax (class index 0..C-1) and
  that class's probability;
- label (optional): an integer output of rank 1 [batch] (checked, not served);
- features >= 1, classes >= 2; no other keys.
The declared signature is checked against the session's real inputs and outputs (names, element types, ranks, fixed
dimensions) and against one probe inference on a zero row (the output shapes the graph really computes); any
mismatch is LoadError("wrong_format", <what differs>). docs/model-server.md shows how a team writes the key.

Load errors are classified (`LoadError.reason`), so the pod's metric says why it is not ready:
not_found, unreadable, corrupt (not a parsable ONNX file), wrong_format (a valid ONNX file that is not this
server's model contract), device (CUDA demanded but unavailable), runtime (anything else).
"""
import glob
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

SIGNATURE_KEY = "model_fleet.signature"
SIGNATURE_KEYS = {"input", "features", "probabilities", "classes", "label"}
SIGNATURE_REQUIRED = SIGNATURE_KEYS - {"label"}
FLOAT = "tensor(float)"
INTEGER = ("tensor(int64)", "tensor(int32)")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

log = logging.getLogger("model_server.model")


class LoadError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def nvidia_device_visible(env: Mapping[str, str] = os.environ, dev_glob: Callable[[str], List[str]] = glob.glob) -> bool:
    """True when the container sees an NVIDIA GPU or MIG slice.

    The NVIDIA container runtime / device plugin injects /dev/nvidia<N> (for a MIG slice: the parent GPU's node
    plus /dev/nvidia-caps) and sets NVIDIA_VISIBLE_DEVICES to the device or MIG UUIDs ("void"/"none" = no GPU).
    """
    if any(p[len("/dev/nvidia"):].isdigit() for p in dev_glob("/dev/nvidia*")):
        return True
    visible = env.get("NVIDIA_VISIBLE_DEVICES", "").strip().lower()
    return visible not in ("", "void", "none")


def choose_device(
    available_providers: Sequence[str],
    gpu_visible: bool,
    requested: str = "auto",
) -> Tuple[str, List[str], str]:
    """(device, providers for the InferenceSession, why). Pure: the caller passes what it observed."""
    requested = (requested or "auto").strip().lower()
    if requested not in ("auto", "cpu", "cuda"):
        raise LoadError("device", f"MODEL_DEVICE={requested!r}: expected auto, cpu or cuda")
    has_cuda_ep = CUDA in available_providers
    if requested == "cpu":
        return "cpu", [CPU], "MODEL_DEVICE=cpu"
    if has_cuda_ep and gpu_visible:
        return "cuda", [CUDA, CPU], "CUDAExecutionProvider available and an NVIDIA device is visible"
    if requested == "cuda":
        raise LoadError(
            "device",
            f"MODEL_DEVICE=cuda but CUDA is unusable (CUDAExecutionProvider {'available' if has_cuda_ep else 'missing'}, "
            f"NVIDIA device {'visible' if gpu_visible else 'not visible'})",
        )
    if gpu_visible:
        return "cpu", [CPU], "an NVIDIA device is visible but this onnxruntime build has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return "cpu", [CPU], "no NVIDIA device visible"


def parse_signature(meta: Mapping[str, str], where: str = "model") -> Dict[str, Any]:
    """The declared signature from the model's metadata_props, or LoadError("wrong_format"). Pure."""
    raw = meta.get(SIGNATURE_KEY)
    if raw is None:
        raise LoadError(
            "wrong_format",
            f"{where}: no metadata_props key {SIGNATURE_KEY!r}: the server loads an ONNX classifier whose metadata declares "
            f'its signature, e.g. {{"input": "x", "features": 4, "probabilities": "probs", "classes": 2}} '
            f"(metadata keys present: {sorted(meta)})",
        )
    try:
        sig = json.loads(raw)
    except ValueError as e:
        raise LoadError("wrong_format", f"{where}: metadata {SIGNATURE_KEY!r} is not JSON ({e})") from None
    if not isinstance(sig, dict):
        raise LoadError("wrong_format", f"{where}: metadata {SIGNATURE_KEY!r} must be a JSON object, got {type(sig).__name__}")
    problems = [f"unknown key {k!r}" for k in sorted(set(sig) - SIGNATURE_KEYS)]
    problems += [f"missing key {k!r}" for k in sorted(SIGNATURE_REQUIRED - set(sig))]
    for k in ("input", "probabilities", "label"):
        if k in sig and not (isinstance(sig[k], str) and sig[k]):
            problems.append(f"{k!r} must be a non-empty tensor name, got {sig[k]!r}")
    for k, low in (("features", 1), ("classes", 2)):
        if k in sig and not (type(sig[k]) is int and sig[k] >= low):
            problems.append(f"{k!r} must be an integer >= {low}, got {sig[k]!r}")
    if problems:
        raise LoadError("wrong_format", f"{where}: metadata {SIGNATURE_KEY!r} is invalid: {'; '.join(problems)}")
    return {k: sig[k] for k in sorted(sig)}


def _describe(args: Sequence[Any]) -> str:
    return ", ".join(f"{a.name!r} {a.type} {list(a.shape)}" for a in args) or "none"


def check_signature(sig: Dict[str, Any], inputs: Sequence[Any], outputs: Sequence[Any], where: str = "model") -> None:
    """The declared signature against the session's inputs/outputs (objects with .name, .type, .shape), or
    LoadError("wrong_format") naming the mismatch. Pure."""
    if len(inputs) != 1 or inputs[0].name != sig["input"]:
        raise LoadError("wrong_format", f"{where}: the signature declares one input {sig['input']!r}; the model's inputs are {_describe(inputs)}")
    x = inputs[0]
    if x.type != FLOAT:
        raise LoadError("wrong_format", f"{where}: input {x.name!r} is {x.type}; the contract is {FLOAT} (float32)")
    if len(x.shape) != 2:
        raise LoadError("wrong_format", f"{where}: input {x.name!r} has rank {len(x.shape)} {list(x.shape)}; the contract is rank 2 [batch, features]")
    if x.shape[1] != sig["features"]:
        raise LoadError("wrong_format", f"{where}: input {x.name!r} has shape {list(x.shape)}; the signature declares {sig['features']} features (a fixed second dimension)")
    by_name = {o.name: o for o in outputs}
    p = by_name.get(sig["probabilities"])
    if p is None:
        raise LoadError("wrong_format", f"{where}: the signature declares probabilities output {sig['probabilities']!r}; the model's outputs are {_describe(outputs)}")
    if p.type != FLOAT or len(p.shape) != 2:
        raise LoadError("wrong_format", f"{where}: probabilities output {p.name!r} is {p.type} {list(p.shape)}; the contract is {FLOAT} of rank 2 [batch, classes]")
    if isinstance(p.shape[1], int) and p.shape[1] != sig["classes"]:
        raise LoadError("wrong_format", f"{where}: probabilities output {p.name!r} has {p.shape[1]} classes; the signature declares {sig['classes']}")
    if "label" in sig:
        lab = by_name.get(sig["label"])
        if lab is None:
            raise LoadError("wrong_format", f"{where}: the signature declares label output {sig['label']!r}; the model's outputs are {_describe(outputs)}")
        if lab.type not in INTEGER or len(lab.shape) != 1:
            raise LoadError("wrong_format", f"{where}: label output {lab.name!r} is {lab.type} {list(lab.shape)}; the contract is an integer tensor of rank 1 [batch]")


@dataclass
class Model:
    session: "object"
    features: int
    classes: int
    device: str
    providers: List[str]
    runtime_version: str
    # The ONNX input's name (the Open Inference Protocol's input tensor name): the signature's one input.
    input_name: str = "features"
    # The declared signature (metadata `model_fleet.signature`), as checked at load.
    signature: Optional[Dict[str, Any]] = None
    # The probabilities output's name (the signature's `probabilities`).
    output_name: str = "probabilities"

    @classmethod
    def load(
        cls,
        path: str,
        requested_device: str = "auto",
        intra_op_threads: int = 1,
        available_providers: Optional[Sequence[str]] = None,
        gpu_visible: Optional[bool] = None,
    ) -> "Model":
        import onnxruntime as ort

        if not os.path.exists(path):
            raise LoadError("not_found", f"{path}: no such file")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise LoadError("unreadable", f"{path}: {e}") from e
        available = list(ort.get_available_providers() if available_providers is None else available_providers)
        visible = nvidia_device_visible() if gpu_visible is None else gpu_visible
        device, providers, why = choose_device(available, visible, requested_device)
        if device == "cuda" and hasattr(ort, "preload_dlls"):
            # onnxruntime-gpu >= 1.21: load CUDA/cuDNN from the nvidia-* wheels when the image has them there
            # instead of in the system library path (a no-op where the libraries are already loadable).
            try:
                ort.preload_dlls()
            except Exception as e:  # the session below falls back to CPU and says so
                log.warning("preloading the CUDA libraries failed: %s", e)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(data, sess_options=opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
            name = type(e).__name__
            text = str(e)
            if name in ("InvalidProtobuf", "InvalidGraph") or "protobuf" in text.lower() or "parse" in text.lower():
                raise LoadError("corrupt", f"{path}: not a loadable ONNX model ({name}: {text.strip()[:300]})") from e
            raise LoadError("runtime", f"{path}: onnxruntime could not build a session ({name}: {text.strip()[:300]})") from e
        used = session.get_providers()
        actual = "cuda" if CUDA in used else "cpu"
        if actual != device:
            log.warning("asked for %s (%s) but onnxruntime runs on %s (providers %s)", device, why, actual, used)
            if requested_device == "cuda":
                raise LoadError("device", f"MODEL_DEVICE=cuda but onnxruntime fell back to {used}")
            why = f"{why}; CUDA provider failed to start, fell back to CPU"
        log.info("device %s: %s (providers %s)", actual, why, used)
        sig = cls._check_contract(path, session)
        return cls(
            session=session, features=sig["features"], classes=sig["classes"], device=actual, providers=used,
            runtime_version=ort.__version__, input_name=sig["input"], signature=sig, output_name=sig["probabilities"],
        )

    @staticmethod
    def _check_contract(path: str, session) -> Dict[str, Any]:
        meta: Dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        sig = parse_signature(meta, path)
        check_signature(sig, session.get_inputs(), session.get_outputs(), path)
        # One probe row: the shapes the graph really computes, whatever its declared (possibly symbolic) dims say.
        try:
            probs = session.run([sig["probabilities"]], {sig["input"]: np.zeros((1, sig["features"]), dtype=np.float32)})[0]
        except Exception as e:  # onnxruntime's own exception types
            raise LoadError("wrong_format", f"{path}: a probe inference on one zero row of {sig['features']} features failed ({type(e).__name__}: {str(e).strip()[:300]})") from e
        if probs.dtype != np.float32 or probs.shape != (1, sig["classes"]):
            raise LoadError(
                "wrong_format",
                f"{path}: a probe inference gave probabilities {probs.dtype}{list(probs.shape)}; the signature declares float32[1, {sig['classes']}]",
            )
        return sig

    def predict(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """x float32[N, features] -> (labels int[N], probabilities float[N, classes]); a label is a class index
        0..classes-1, the argmax of its row."""
        probs = self.session.run([self.output_name], {self.input_name: x})[0]
        return probs.argmax(axis=1), probs
