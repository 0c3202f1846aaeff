"""Signed prediction ids that carry what feedback needs, so ANY pod can score feedback (metric contract v2).

id = base64url(JSON {"h": <pod-template-hash of the serving pod>, "y": <predicted label>, "n": <nonce>}) "."
     base64url(HMAC-SHA256(key, <the first part>)[:16]), both unpadded.

The id is opaque to clients and signed: feedback decides the canary's quality gate (model_server_feedback_total
{served_by}), so an unsigned id would let anyone who can reach a model mint feedback for the canary's or the
stable's hash (aborting a good release or passing a bad one) and create a label series per invented hash. The key
is per model, shared by every pod of the model (canary and stable), from the Secret the program declares
(env PREDICTION_ID_KEY). An id that does not verify, or that carries anything but a Kubernetes pod-template-hash,
a label of this model and a 64-bit hex nonce, is rejected. The nonce lets a worker ignore a repeated feedback.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from typing import List, Optional

MAX_ID_LENGTH = 512
# Bytes of the HMAC-SHA256 tag kept in the id (128 bits: forging one is 2^-128 per try).
TAG_BYTES = 16
MIN_KEY_BYTES = 32
# A pod-template-hash as Kubernetes and Argo Rollouts compute it: rand.SafeEncodeString(fmt.Sprint(fnv32a)), i.e. the
# decimal digits of a uint32 (at most 10) mapped onto the alphabet "bcdfghjklmnpqrstvwxz2456789"
# (k8s.io/apimachinery/pkg/util/rand/rand.go SafeEncodeString; k8s.io/kubernetes/pkg/controller/controller_utils.go
# ComputeHash, which argoproj/argo-rollouts utils/controller ComputeHash copies). "" = a plain Deployment.
POD_TEMPLATE_HASH = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{0,10}$")
NONCE = re.compile(r"^[0-9a-f]{16}$")


class BadId(ValueError):
    pass


class BadKey(ValueError):
    """PREDICTION_ID_KEY is unusable (too short)."""


@dataclass(frozen=True)
class PredictionRef:
    served_by: str
    label: int
    nonce: str


def check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise BadKey(f"PREDICTION_ID_KEY is {len(key)} bytes; at least {MIN_KEY_BYTES} are required")
    return key


def valid_hash(value: str) -> bool:
    return bool(POD_TEMPLATE_HASH.match(value))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _tag(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES])


def encode(key: bytes, served_by: str, label: int, nonce: str = "") -> str:
    return encode_many(key, served_by, [label], [nonce] if nonce else None)[0]


def encode_many(key: bytes, served_by: str, labels: List[int], nonces: Optional[List[str]] = None) -> List[str]:
    """One signed id per label (the hot path of a batch: one random read, one JSON encoding of the hash).

    The nonces it draws itself are lowercase hex, which JSON encodes as themselves between quotes, so they are quoted
    directly (the same bytes as json.dumps, without its call per instance); nonces a caller passes go through
    json.dumps. tests/test_ids.py checks both paths byte for byte against the json.dumps encoding."""
    head = '{"h":' + json.dumps(served_by) + ',"y":'
    out = []
    if nonces is None:
        rnd = os.urandom(8 * len(labels)).hex()
        for i, y in enumerate(labels):
            body = _b64((head + str(int(y)) + ',"n":"' + rnd[16 * i : 16 * (i + 1)] + '"}').encode())
            out.append(body + "." + _tag(key, body))
        return out
    for y, n in zip(labels, nonces):
        body = _b64((head + str(int(y)) + ',"n":' + json.dumps(n) + "}").encode())
        out.append(body + "." + _tag(key, body))
    return out


def decode(key: bytes, value: object, classes: int) -> PredictionRef:
    if not isinstance(value, str) or not value:
        raise BadId("id must be a non-empty string returned by /predict")
    if len(value) > MAX_ID_LENGTH:
        raise BadId(f"id is {len(value)} characters; a prediction id is at most {MAX_ID_LENGTH}")
    body, dot, tag = value.partition(".")
    if not dot or not body.isascii() or not tag.isascii():
        raise BadId("id is not a prediction id returned by /predict (not decodable)")
    # Verify before parsing anything: an unsigned or altered id tells the caller nothing about why.
    if not hmac.compare_digest(tag, _tag(key, body)):
        raise BadId("id is not a prediction id returned by this model (signature does not verify)")
    try:
        obj = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):  # signed by us, so only a key shared with another format
        raise BadId("id is not a prediction id returned by /predict (not decodable)") from None
    if not isinstance(obj, dict) or set(obj) != {"h", "y", "n"}:
        raise BadId("id is not a prediction id returned by /predict (unexpected content)")
    h, y, n = obj["h"], obj["y"], obj["n"]
    if not isinstance(h, str) or not valid_hash(h) or not isinstance(n, str) or not NONCE.match(n):
        raise BadId("id is not a prediction id returned by /predict (bad fields)")
    if type(y) is not int or not 0 <= y < classes:
        raise BadId(f"id carries label {y!r}, not one of this model's classes 0..{classes - 1}")
    return PredictionRef(served_by=h, label=y, nonce=n)
