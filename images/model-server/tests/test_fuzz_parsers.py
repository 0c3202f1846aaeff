"""Fuzz tests of the request parsers (hypothesis): whatever a client sends, the answer is a value or a 4xx
ClientError, never another exception (which the server would answer with a 500, counted against the canary's
success-rate gate). Nesting depth, size, encodings, number edge cases, arbitrary JSON values and forged ids."""
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ids, main
from app.main import ClientError, parse_feedback, parse_instances, parse_json

FEATURES = 4
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def handle(body: bytes, features: int = FEATURES):
    """What /predict does with the bytes it read: parse, then check the input contract."""
    return parse_instances(parse_json(body), features)


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except ClientError as e:
        assert 400 <= e.status < 500, (e.status, e.detail)
        assert e.detail and len(e.detail) < 2000, "a short message, not an echo of the body"
        json.dumps({"detail": e.detail})  # the error response must be encodable
        e.detail.encode("utf-8")  # JSONResponse encodes UTF-8: a lone surrogate here would be a 500
        return "client_error", e


# --- nesting depth --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 10, 100, 999, 1000, 5000, 200_000])
@pytest.mark.parametrize("opener, closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_deep_nesting_is_a_client_error(depth, opener, closer):
    for body in (opener * depth, opener * depth + b"1" + closer * depth):
        kind, _ = outcome(handle, body)
        assert kind == "client_error"


def test_deep_nesting_inside_the_contract_fields():
    for depth in (3, 500, 50_000):
        body = b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
        kind, e = outcome(handle, body)
        assert kind == "client_error" and e.status in (400, 422)


@FUZZ
@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"a":', b",", b"1", b" ", b'"x"']), max_size=3000))
def test_bracket_soup(parts):
    outcome(handle, b"".join(parts))


# --- arbitrary bytes and encodings ------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(body):
    outcome(handle, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=60,
)


@FUZZ
@given(JSON_VALUES, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1"]))
def test_any_json_value_in_any_encoding(value, encoding):
    text = json.dumps(value, ensure_ascii=False)
    try:
        body = text.encode(encoding)
    except UnicodeEncodeError:  # latin-1 cannot carry every character; lone surrogates nothing can
        body = text.encode("utf-8", "surrogatepass")
    outcome(handle, body)


@FUZZ
@given(st.dictionaries(st.sampled_from(["features", "instances", "extra", "\ud800", "x" * 100]), JSON_VALUES, max_size=3))
def test_contract_shaped_objects(payload):
    outcome(handle, json.dumps(payload).encode("utf-8", "surrogatepass"))


def test_lone_surrogates_and_control_characters_in_field_names():
    for name in ("\\ud800", "\\udfff\\u0000", "\\u202e", "a" * 5000):
        kind, e = outcome(handle, ('{"' + name + '": 1}').encode())
        assert kind == "client_error" and e.status == 422


# --- numbers --------------------------------------------------------------------------------------------------------
NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,400})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?\Z")


@FUZZ
@given(st.lists(NUMBER, min_size=FEATURES, max_size=FEATURES))
def test_number_literals(literals):
    kind, result = outcome(handle, ('{"features": [' + ",".join(literals) + "]}").encode())
    if kind == "ok":
        x, batch = result
        assert x.dtype == np.float32 and x.shape == (1, FEATURES) and np.isfinite(x).all() and not batch
    else:
        assert result.status == 422, result.detail


@pytest.mark.parametrize(
    "literal, accepted",
    [
        ("-0", True), ("-0.0", True), ("1e-46", True), ("4.9e-324", True), ("3.4028234e38", True),
        ("3.4028236e38", False), ("1e39", False), ("-1e39", False), ("1e400", False), ("1" + "0" * 400, False),
        ("1" + "0" * 4299, False), ("1" + "0" * 4300, False), ("NaN", False), ("-Infinity", False), ("0x10", False),
        ("+1", False), ("01", False), (".5", False), ("1.", False), ("1e", False), ("true", False), ('"1"', False),
    ],
)
def test_number_edge_cases(literal, accepted):
    kind, result = outcome(handle, ('{"features": [' + literal + ", 0, 0, 0]}").encode())
    assert (kind == "ok") is accepted, result
    if kind == "ok":
        assert math.isfinite(float(result[0][0, 0]))


# --- size -------------------------------------------------------------------------------------------------------------
def test_largest_batch_and_one_more():
    rows = [[1.5, -2, 0, 3]] * main.MAX_BATCH_SIZE
    x, batch = handle(json.dumps({"instances": rows}).encode())
    assert x.shape == (main.MAX_BATCH_SIZE, FEATURES) and batch
    kind, e = outcome(handle, json.dumps({"instances": rows + [rows[0]]}).encode())
    assert kind == "client_error" and e.status == 413


def test_huge_flat_body_parses_or_is_a_client_error():
    kind, e = outcome(handle, b'{"instances": [' + b"[0,0,0,0]," * 200_000 + b"[0,0,0,0]]}")
    assert kind == "client_error" and e.status == 413
    kind, e = outcome(handle, b'{"features": "' + b"x" * 2_000_000 + b'"}')
    assert kind == "client_error" and e.status == 422


# --- feedback: the parser, and forged ids ----------------------------------------------------------------------------
@FUZZ
@given(JSON_VALUES | st.fixed_dictionaries({"id": JSON_VALUES, "label": JSON_VALUES}))
def test_feedback_parser(payload):
    outcome(parse_feedback, payload, 2)


@FUZZ
@given(
    st.text(alphabet="bcdfghjklmnpqrstvwxz2456789", max_size=10) | st.text(max_size=70),
    st.integers(min_value=-3, max_value=5),
    st.text(max_size=20),
    st.binary(min_size=32, max_size=64),
)
def test_ids_not_signed_with_this_models_key_are_rejected(served_by, label, nonce, other_key):
    """A forger without the model's key cannot mint feedback for any hash (the canary's, the stable's, invented)."""
    if other_key == main.PREDICTION_ID_KEY:
        return
    forged = ids.encode_many(other_key, served_by, [label], [nonce])[0]
    kind, e = outcome(parse_feedback, {"id": forged, "label": 1}, 2)
    assert kind == "client_error"
    # Refused for its signature, or, longer than any id the server mints (a 70-character hash of 4-byte characters),
    # for its length before anything is decoded: never accepted either way.
    if len(forged) > ids.MAX_ID_LENGTH:
        assert f"at most {ids.MAX_ID_LENGTH}" in e.detail, e.detail
    else:
        assert "signature" in e.detail, e.detail


def test_a_signed_id_verifies_and_any_change_to_it_does_not():
    good = ids.encode(main.PREDICTION_ID_KEY, main.POD_TEMPLATE_HASH, 1)
    ref, label = parse_feedback({"id": good, "label": 0}, 2)
    assert (ref.served_by, ref.label, label) == (main.POD_TEMPLATE_HASH, 1, 0)
    for i in range(len(good)):
        c = good[i]
        tampered = good[:i] + ("A" if c != "A" else "B") + good[i + 1 :]
        kind, _ = outcome(parse_feedback, {"id": tampered, "label": 0}, 2)
        assert kind == "client_error", f"changing character {i} must break the signature"


def test_signed_content_is_still_checked_strictly():
    """Even with the key (a bug elsewhere, a shared key), a hash outside the pod-template-hash grammar is refused."""
    key = main.PREDICTION_ID_KEY
    for served_by, nonce in (("canary-hash-with-dashes", "0123456789abcdef"), ("a" * 11, "0123456789abcdef"), ("bcd", "n")):
        with pytest.raises(ids.BadId):
            ids.decode(key, ids.encode_many(key, served_by, [1], [nonce])[0], 2)
