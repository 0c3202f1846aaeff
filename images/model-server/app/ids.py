"""Prediction ids that carry what feedback needs, so ANY pod can score feedback (metric contract v2).

id = base64url(JSON {"h": <pod-template-hash of the serving pod>, "y": <predicted label>, "n": <nonce>}), unpadded.
The id is opaque to clients; it is not signed (feedback is an internal API: a client that forges ids can only
mislabel its own traffic). The nonce lets a worker ignore a repeated feedback for the same prediction.
"""
import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import List, Optional

MAX_ID_LENGTH = 512


class BadId(ValueError):
    pass


@dataclass(frozen=True)
class PredictionRef:
    served_by: str
    label: int
    nonce: str


def encode(served_by: str, label: int, nonce: str = "") -> str:
    return encode_many(served_by, [label], [nonce] if nonce else None)[0]


def encode_many(served_by: str, labels: List[int], nonces: Optional[List[str]] = None) -> List[str]:
    """One id per label (the hot path of a batch: one random read, one JSON encoding of the hash)."""
    if nonces is None:
        rnd = os.urandom(8 * len(labels)).hex()
        nonces = [rnd[16 * i : 16 * (i + 1)] for i in range(len(labels))]
    head = '{"h":' + json.dumps(served_by) + ',"y":'
    b64 = base64.urlsafe_b64encode
    return [
        b64((head + str(int(y)) + ',"n":' + json.dumps(n) + "}").encode()).rstrip(b"=").decode("ascii")
        for y, n in zip(labels, nonces)
    ]


def decode(value: object, classes: int) -> PredictionRef:
    if not isinstance(value, str) or not value:
        raise BadId("id must be a non-empty string returned by /predict")
    if len(value) > MAX_ID_LENGTH:
        raise BadId(f"id is {len(value)} characters; a prediction id is at most {MAX_ID_LENGTH}")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        obj = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadId("id is not a prediction id returned by /predict (not decodable)") from None
    if not isinstance(obj, dict) or set(obj) != {"h", "y", "n"}:
        raise BadId("id is not a prediction id returned by /predict (unexpected content)")
    h, y, n = obj["h"], obj["y"], obj["n"]
    if not isinstance(h, str) or len(h) > 63 or not isinstance(n, str):
        raise BadId("id is not a prediction id returned by /predict (bad fields)")
    if type(y) is not int or not 0 <= y < classes:
        raise BadId(f"id carries label {y!r}, not one of this model's classes 0..{classes - 1}")
    return PredictionRef(served_by=h, label=y, nonce=n)
