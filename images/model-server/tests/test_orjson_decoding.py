"""Request bodies are decoded by orjson (app/main.py parse_body), responses to /predict and v2 infer encoded by it
(FastJSONResponse); the standard library's json stays the reference. Proven here:
- for any body, parse_body gives what the reference decoder alone gives: the same value, or the same 4xx and message
  (NaN/Infinity literals, integers beyond 64 bits, which orjson turns into floats, nesting, UTF-16/32, a BOM, lone
  surrogates, invalid UTF-8, duplicate keys), for /predict, /feedback and v2 infer;
- the one deliberate difference: nesting up to orjson's limit (1024) inside a value the contract ignores (v2
  `parameters`) is accepted; deeper is the reference's 400 "nested too deeply";
- a model that returns a NaN score still answers 500, not 200 with null (orjson writes NaN as null)."""
import json
import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ids, main, oip
from app.main import ClientError, parse_body, parse_feedback, parse_instances, parse_json_exact

FEATURES = 4
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def v2(payload, features=FEATURES):
    return oip.parse_infer_request(payload, "x", features, 8)


def feedback(payload):
    return parse_feedback(payload, 2)


PARSERS = {"predict": lambda p: parse_instances(p, FEATURES), "v2": v2, "feedback": feedback}


def outcome(parse, payload_of):
    """("ok", value) or ("error", status, message) of parse(payload_of())."""
    try:
        return ("ok", parse(payload_of()))
    except ClientError as e:
        return ("error", e.status, e.detail)
    except oip.ProtocolError as e:
        return ("error", e.status, e.message)


def same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a == b
    va, vb = a[1], b[1]
    if isinstance(va, tuple):
        return len(va) == len(vb) and all(same(("ok", x), ("ok", y)) for x, y in zip(va, vb))
    if isinstance(va, np.ndarray):
        return va.dtype == vb.dtype and va.shape == vb.shape and va.tobytes() == vb.tobytes()  # bit for bit (-0.0 too)
    return va == vb


def assert_as_reference(body: bytes, kinds=PARSERS):
    for kind in kinds:
        parse = PARSERS[kind]
        got = outcome(lambda p: parse_body(body, parse), lambda: None)
        want = outcome(parse, lambda: parse_json_exact(body))
        assert same(got, want), (kind, body[:200], got, want)


# --- what orjson decodes differently, and the answers that stay the reference's -------------------------------------
BIG_INTS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**20, 10**38, 10**39, 10**100, 10**308, 10**400]


@pytest.mark.parametrize("value", BIG_INTS, ids=lambda v: f"{len(str(v))}digits")
def test_big_integers_as_the_reference(value):
    """orjson decodes an integer outside [-2**63, 2**64) as a float: the features get the same float32, and every
    message still quotes the integer as the client sent it."""
    lit = str(value).encode()
    if 2**64 <= value <= 10**308 or value < -(2**63):
        assert type(orjson.loads(lit)) is float, "the orjson behaviour this guards against"
    elif value > 10**308:
        with pytest.raises(orjson.JSONDecodeError):  # beyond a double: refused, the reference decides
            orjson.loads(lit)
    assert_as_reference(b'{"features": [' + lit + b", 0, 0, 0]}")
    assert_as_reference(b'{"instances": [[0, 0, 0, 0], [0, 0, 0, ' + lit + b"]]}")
    assert_as_reference(b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0, 0, ' + lit + b", 0]}]}")
    assert_as_reference(b'{"inputs": [{"name": "x", "shape": [' + lit + b', 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]}')
    assert_as_reference(b'{"id": "x", "label": ' + lit + b"}")


def test_big_integer_messages_quote_the_integer():
    x = parse_body(b'{"features": [18446744073709551616, 0, 0, 0]}', parse_instances, FEATURES)[0]
    assert x[0, 0] == np.float32(2.0**64)
    with pytest.raises(ClientError) as e:
        parse_body(b'{"features": [1' + b"0" * 99 + b", 0, 0, 0]}", parse_instances, FEATURES)
    assert e.value.status == 422 and "features[0]: 1" + "0" * 99 + " is not a finite float32 value" in e.value.detail
    with pytest.raises(oip.ProtocolError) as p:
        parse_body(b'{"inputs": [{"name": "x", "shape": [18446744073709551616, 4], "datatype": "FP32", "data": []}]}', v2)
    assert p.value.status == 413 and "batch of 18446744073709551616 exceeds" in p.value.message, "not a 400 about a float shape"
    with pytest.raises(ClientError) as e:
        parse_body(b'{"id": "x", "label": 18446744073709551616}', feedback)
    assert "got 18446744073709551616" in e.value.detail


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b'{"features": [1, 2, 3, NaN]}', 422, "NaN is not allowed"),
        (b'{"features": [1, 2, 3, Infinity]}', 422, "Infinity is not allowed"),
        (b'{"features": [1, 2, 3, -Infinity]}', 422, "-Infinity is not allowed"),
        (b'{"features": [1, 2, 3, 1e400]}', 422, "features[3]: inf is not a finite float32 value"),
        (b'{"features": [1, 2, 3, 1' + b"0" * 4300 + b"]}", 400, "request body is not valid JSON: Exceeds the limit (4300 digits)"),
        (b'{"features": [1, 2, 3,', 400, "request body is not valid JSON: Expecting value"),
        (b'{"features": [1, 2, 3, 4],}', 400, "request body is not valid JSON: Expecting property name"),
        (b'{"features": ["\xff", 2, 3, 4]}', 400, "request body is not valid JSON: 'utf-8' codec can't decode byte 0xff"),
        (b"[" * 2000 + b"]" * 2000, 400, "nested too deeply"),
        (b"", 422, "empty request body"),
    ],
)
def test_refusals_and_messages_are_the_reference_decoders(body, status, message):
    with pytest.raises(ClientError) as e:
        parse_body(body, parse_instances, FEATURES)
    assert (e.value.status, message in e.value.detail) == (status, True), e.value.detail
    assert_as_reference(body)


@pytest.mark.parametrize(
    "body",
    [
        '{"features": [1, 2, 3, 4]}'.encode("utf-16"),  # the reference reads UTF-16 and UTF-32; orjson refuses them
        '{"features": [1, 2, 3, 4]}'.encode("utf-32-le"),
        b'\xef\xbb\xbf{"features": [1, 2, 3, 4]}',  # a UTF-8 BOM: the same
        b'{"features": [1, 2, 3, 4], "\\ud800": 1}',  # a lone surrogate: orjson refuses, the reference names the field
        b'{"features": [1, 2, 3, 4], "features": [5, 6, 7, 8]}',  # duplicate keys: the last wins in both
        b'{"features": [-0, -0.0, 5e-324, 3.4028234e38]}',
    ],
)
def test_bodies_orjson_refuses_or_reads_alike(body):
    assert_as_reference(body)


def test_accepted_bodies_take_the_orjson_path():
    body = b'{"features": [0.5, -1, 2, 1e-3]}'
    assert main._decode(body) == (orjson.loads(body), False)
    with pytest.raises(ClientError):
        main._decode(b'{"features": [NaN]}')
    assert main._decode('{"a": 1}'.encode("utf-16"))[1] is True, "orjson refused it: the reference read it"


def test_nesting_up_to_orjsons_limit_in_an_ignored_v2_parameter():
    """The one difference: an accepted request may nest up to orjson's 1024 levels in `parameters` (the reference
    refused from about 1000 levels less the caller's stack depth); deeper is still the 400 "nested too deeply"."""
    good = b'"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]'
    x, _, _ = parse_body(b'{"parameters": {"p": ' + b"[" * 1000 + b"]" * 1000 + b"}, " + good + b"}", v2)
    assert x.shape == (1, FEATURES)
    with pytest.raises(ClientError) as e:
        parse_body(b'{"parameters": {"p": ' + b"[" * 1100 + b"]" * 1100 + b"}, " + good + b"}", v2)
    assert e.value.status == 400 and "nested too deeply" in e.value.detail


# --- any body --------------------------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=60,
)
NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z") | st.sampled_from(["NaN", "Infinity", "-Infinity"])


@FUZZ
@given(st.lists(NUMBER, min_size=1, max_size=2 * FEATURES), st.booleans())
def test_number_literals_as_the_reference(literals, fp64):
    flat = ", ".join(literals).encode()
    assert_as_reference(b'{"features": [' + flat + b"]}", ["predict"])
    assert_as_reference(b'{"instances": [[' + flat + b"]]}", ["predict"])
    dtype = b"FP64" if fp64 else b"FP32"
    assert_as_reference(b'{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "' + dtype + b'", "data": [' + flat + b"]}]}", ["v2"])


@FUZZ
@given(JSON_VALUES, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_any_json_value_as_the_reference(value, encoding):
    text = json.dumps(value, ensure_ascii=False)
    try:
        body = text.encode(encoding)
    except UnicodeEncodeError:
        body = text.encode("utf-8", "surrogatepass")
    assert_as_reference(body)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"inputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["x", "y"]), "shape": st.lists(JSON_VALUES, max_size=3),
                                                     "datatype": st.sampled_from(["FP32", "FP64"]), "data": JSON_VALUES}), max_size=2)},
        optional={"id": JSON_VALUES, "parameters": JSON_VALUES, "outputs": JSON_VALUES},
    )
)
def test_v2_shaped_requests_as_the_reference(payload):
    assert_as_reference(json.dumps(payload).encode(), ["v2"])


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_as_the_reference(body):
    assert_as_reference(body)


def test_a_signed_id_reads_alike():
    good = ids.encode(main.PREDICTION_ID_KEY, main.POD_TEMPLATE_HASH, 1)
    for label in ("0", "1", "2", "-1", "1.0", "true", "18446744073709551617"):
        assert_as_reference(('{"id": "' + good + '", "label": ' + label + "}").encode(), ["feedback"])


# --- responses -------------------------------------------------------------------------------------------------------
def test_fast_response_is_the_same_json_value():
    body = oip.infer_response("m", "1", "r", oip.OUTPUTS, [1, 0], np.asarray([[0.25, 0.75], [1e-5, 1 - 1e-5]], dtype=np.float32), ["a", "b"])
    fast = main.FastJSONResponse(body)
    assert json.loads(fast.body) == json.loads(main.JSONResponse(body).body) == json.loads(json.dumps(body))
    assert fast.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        main.refuse_non_finite([0.5, math.nan])
    with pytest.raises(ValueError):
        main.refuse_non_finite([math.inf])
    main.refuse_non_finite([0.0, 1.0, 5e-324])


def _nan_model(path: Path) -> Path:
    """The fixture model's contract (input `features`, 4 features, 2 classes): Softmax(Sqrt(x) W), NaN for x < 0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.asarray([[1, -1]] * 4, dtype=np.float32), "W")
    nodes = [helper.make_node("Sqrt", ["features"], ["r"]), helper.make_node("MatMul", ["r", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"model_fleet.signature": '{"input": "features", "features": 4, "probabilities": "probabilities", "classes": 2}'})
    onnx.save(model, str(path))
    return path


def test_a_nan_score_is_still_a_500_not_null(start_server, tmp_path):
    srv = start_server(WEB_CONCURRENCY="1", MODEL_PATH=str(_nan_model(tmp_path / "nan.onnx")), MODEL_NAME="nan")
    assert srv.post("/predict", {"features": [1, 2, 3, 4]})[0] == 200
    status, _ = srv.request("POST", "/predict", raw=b'{"features": [-1, 2, 3, 4]}')
    assert status == 500
    tensor = {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [-1, 2, 3, 4]}
    assert srv.request("POST", "/v2/models/nan/infer", raw=json.dumps({"inputs": [tensor]}).encode())[0] == 500
    only_labels = {"inputs": [tensor], "outputs": [{"name": "label"}]}
    assert srv.request("POST", "/v2/models/nan/infer", raw=json.dumps(only_labels).encode())[0] == 200, "no float in the answer"
    assert srv.value("model_server_requests_total", handler="/predict", code="500") == 1
    assert srv.value("model_server_requests_total", handler="/v2/infer", code="500") == 1
