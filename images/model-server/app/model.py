"""The model: an ONNX graph run by ONNX Runtime on the device chosen at startup.

Device choice (`choose_device`): CUDA when ONNX Runtime offers CUDAExecutionProvider AND the container sees an
NVIDIA device (a /dev/nvidiaN node, which a whole GPU and a MIG slice both bring, or NVIDIA_VISIBLE_DEVICES naming
devices); otherwise CPU. `MODEL_DEVICE=cpu|cuda|auto` (default auto) overrides: `cpu` never touches CUDA, `cuda`
fails the load when CUDA cannot be used. After the session is built, the device reported is the one ONNX Runtime
actually runs on (it falls back to CPU by itself when the CUDA provider cannot start).

Load errors are classified (`LoadError.reason`), so the pod's metric says why it is not ready:
not_found, unreadable, corrupt (not a parsable ONNX file), wrong_format (a valid ONNX file that is not this
server's model contract), device (CUDA demanded but unavailable), runtime (anything else).
"""
import glob
import logging
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

FORMAT = "model-fleet/mlp-onnx-v1"
INPUT = "features"
OUTPUT = "probabilities"
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


@dataclass
class Model:
    session: "object"
    features: int
    classes: int
    device: str
    providers: List[str]
    runtime_version: str
    # The ONNX input's name (the Open Inference Protocol's input tensor name): the signature's one input.
    input_name: str = INPUT

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
        features, classes = cls._check_contract(path, session)
        return cls(session=session, features=features, classes=classes, device=actual, providers=used, runtime_version=ort.__version__)

    @staticmethod
    def _check_contract(path: str, session) -> Tuple[int, int]:
        meta: Dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        fmt = meta.get("format")
        if fmt != FORMAT:
            raise LoadError("wrong_format", f"{path}: model format {fmt!r}, expected {FORMAT!r}")
        inputs = session.get_inputs()
        outputs = session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 2:
            raise LoadError("wrong_format", f"{path}: expected one float input {INPUT!r} of rank 2, got {[(i.name, i.type, i.shape) for i in inputs]}")
        if OUTPUT not in [o.name for o in outputs]:
            raise LoadError("wrong_format", f"{path}: no output {OUTPUT!r} (outputs: {[o.name for o in outputs]})")
        features = inputs[0].shape[1]
        try:
            declared = int(meta.get("features", ""))
        except ValueError:
            raise LoadError("wrong_format", f"{path}: metadata 'features' is {meta.get('features')!r}, not an integer") from None
        if isinstance(features, int) and features != declared:
            raise LoadError("wrong_format", f"{path}: input has {features} features, metadata says {declared}")
        if declared < 1:
            raise LoadError("wrong_format", f"{path}: metadata 'features' must be >= 1")
        classes = int(meta.get("classes", "2"))
        return declared, classes

    def predict(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """x float32[N, features] -> (labels int[N], probabilities float[N, classes])."""
        probs = self.session.run([OUTPUT], {INPUT: x})[0]
        return probs.argmax(axis=1), probs
