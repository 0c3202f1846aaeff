"""Checks the gunicorn master runs before any worker starts: a misconfigured pod must fail at start, loudly, instead
of serving in a degraded way (CPU inference on a GPU it holds, feedback nobody else can verify).

- MODEL_DEVICE=cuda (the program sets it for every model with `gpu:`): this onnxruntime build must offer
  CUDAExecutionProvider and the container must see an NVIDIA device; otherwise the server exits with status 1 and
  says why. A model that asks for a GPU never falls back to CPU silently (a wrong image, the CPU wheel, no device
  plugin). The worker's session then runs on CUDA or fails its load with reason="device" (app/model.py).
- POD_TEMPLATE_HASH must be a Kubernetes pod-template-hash (or empty): it is signed into every prediction id.
- PREDICTION_ID_KEY (the per-model Secret) must be at least ids.MIN_KEY_BYTES bytes. Unset, the master makes a
  random one for this pod only (its workers share it through the environment) and warns: feedback then verifies
  only on this pod, which suits `docker run`, not a fleet.
"""
import logging
import os
import secrets
from typing import Callable, List, MutableMapping, Optional, Sequence

from . import ids

log = logging.getLogger("model_server")


class PreflightError(SystemExit):
    def __init__(self, problems: List[str]) -> None:
        super().__init__("model-server refuses to start:\n  - " + "\n  - ".join(problems))
        self.problems = problems


def _available_providers() -> List[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def problems(
    env: MutableMapping[str, str],
    available_providers: Optional[Callable[[], Sequence[str]]] = None,
    gpu_visible: Optional[Callable[[], bool]] = None,
) -> List[str]:
    """Every reason not to start (empty = start). Pure but for the two probes, which the caller may replace."""
    from .model import CUDA, nvidia_device_visible

    out: List[str] = []
    device = env.get("MODEL_DEVICE", "auto").strip().lower() or "auto"
    if device not in ("auto", "cpu", "cuda"):
        out.append(f"MODEL_DEVICE={device!r}: expected auto, cpu or cuda")
    if device == "cuda":
        providers = list((available_providers or _available_providers)())
        if CUDA not in providers:
            out.append(
                f"MODEL_DEVICE=cuda (the model asks for a GPU) but this onnxruntime build has no {CUDA} "
                f"(available: {', '.join(providers) or 'none'}): the image is the CPU variant; build the GPU variant "
                "(Dockerfile --build-arg VARIANT=gpu, requirements-gpu.txt)"
            )
        if not (gpu_visible or nvidia_device_visible)():
            out.append("MODEL_DEVICE=cuda but the container sees no NVIDIA device (no /dev/nvidiaN, NVIDIA_VISIBLE_DEVICES empty): "
                       "the pod has no GPU limit or the node no device plugin")
    served_by = env.get("POD_TEMPLATE_HASH", "")
    if not ids.valid_hash(served_by):
        out.append(f"POD_TEMPLATE_HASH={served_by!r} is not a Kubernetes pod-template-hash (1-10 of bcdfghjklmnpqrstvwxz2456789)")
    key = env.get("PREDICTION_ID_KEY")
    if key is not None:
        try:
            ids.check_key(key.encode())
        except ids.BadKey as e:
            out.append(str(e))
    return out


def run(env: MutableMapping[str, str] = os.environ, **probes) -> None:
    """Raise PreflightError (exit status 1, the message on stderr) or prepare the environment for the workers."""
    found = problems(env, **probes)
    if found:
        raise PreflightError(found)
    if env.get("PREDICTION_ID_KEY") is None:
        env["PREDICTION_ID_KEY"] = secrets.token_urlsafe(48)
        log.warning("PREDICTION_ID_KEY is not set: prediction ids are signed with a random key of this pod only, so "
                    "feedback sent to another pod is rejected (the fleet sets it from the model's Secret)")


def key_from_env(env: MutableMapping[str, str] = os.environ) -> bytes:
    """The workers' signing key (the master set it, see run()); a process started without the master gets its own."""
    raw = env.get("PREDICTION_ID_KEY")
    return ids.check_key(raw.encode()) if raw is not None else secrets.token_bytes(32)
