"""app/ids.py encode_many quotes the nonces it draws (hex) directly instead of a json.dumps per instance (issue #25
section 4, bench/server/cuts.py cut 3): the ids must stay byte for byte what the json.dumps encoding gave, or ids
issued before a rollout would stop verifying on the new pods (and the other way round during a canary)."""
import base64
import hashlib
import hmac
import json
import os
from typing import List, Optional
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from app import ids

HASHES = st.text(alphabet="bcdfghjklmnpqrstvwxz2456789", max_size=10)
KEYS = st.binary(min_size=32, max_size=64)
LABELS = st.lists(st.integers(min_value=0, max_value=10**6), max_size=40)


def reference_encode_many(key: bytes, served_by: str, labels: List[int], nonces: Optional[List[str]] = None) -> List[str]:
    """encode_many as it was before the cut (every nonce through json.dumps), verbatim."""
    if nonces is None:
        rnd = os.urandom(8 * len(labels)).hex()
        nonces = [rnd[16 * i : 16 * (i + 1)] for i in range(len(labels))]
    head = '{"h":' + json.dumps(served_by) + ',"y":'
    out = []
    for y, n in zip(labels, nonces):
        raw = (head + str(int(y)) + ',"n":' + json.dumps(n) + "}").encode()
        body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        out.append(body + "." + base64.urlsafe_b64encode(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:16]).rstrip(b"=").decode("ascii"))
    return out


@settings(max_examples=300, deadline=None)
@given(key=KEYS, served_by=HASHES, labels=LABELS, data=st.data())
def test_drawn_nonces_give_the_same_bytes_as_the_json_encoding(key, served_by, labels, data):
    random = data.draw(st.binary(min_size=8 * len(labels), max_size=8 * len(labels)), label="os.urandom")
    with mock.patch.object(ids.os, "urandom", lambda n: random[:n]):
        new = ids.encode_many(key, served_by, labels)
    assert new == reference_encode_many(key, served_by, labels, [random[8 * i : 8 * (i + 1)].hex() for i in range(len(labels))])
    for value, label in zip(new, labels):
        if label < 10**6:
            ref = ids.decode(key, value, 10**6)
            assert (ref.served_by, ref.label, ref.nonce) == (served_by, label, ref.nonce) and ids.NONCE.match(ref.nonce)


@settings(max_examples=300, deadline=None)
@given(key=KEYS, served_by=HASHES, labels=LABELS, data=st.data())
def test_caller_nonces_any_text_give_the_same_bytes_as_before(key, served_by, labels, data):
    nonces = data.draw(st.lists(st.text(max_size=20), min_size=len(labels), max_size=len(labels)), label="nonces")
    assert ids.encode_many(key, served_by, labels, nonces) == reference_encode_many(key, served_by, labels, nonces)
    if labels and nonces[0]:
        assert ids.encode(key, served_by, labels[0], nonces[0]) == reference_encode_many(key, served_by, labels[:1], nonces[:1])[0]


def test_drawn_nonces_are_fresh_and_verify():
    key = b"k" * 32
    out = ids.encode_many(key, "b2c4d5f", [0, 1, 1])
    refs = [ids.decode(key, v, 2) for v in out]
    assert [r.label for r in refs] == [0, 1, 1]
    assert len({r.nonce for r in refs}) == 3
