"""The input parsers check every value's type in one pass (a set of the types) and run the per-value loop only to
name a bad value (issue #25 section 4, bench/server/cuts.py cut 4). The answer must not change: the same array, or
the same status and the same message naming the same first bad row or value as the per-value loop gave. The
references below are the parsers' loops as they were before the cut, verbatim."""
from typing import Any, List
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import main, oip
from app.main import ClientError
from app.oip import ProtocolError

FEATURES = 4
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the loops before the cut ---------------------------------------------------------------------------------------
def reference_row(values: Any, where: str, features: int) -> List[float]:
    if not isinstance(values, list):
        raise ClientError(422, f"{where}: expected a list of {features} numbers, got {type(values).__name__}")
    if len(values) != features:
        raise ClientError(422, f"{where}: expected {features} features, got {len(values)}")
    for i, v in enumerate(values):
        t = type(v)
        if t is not float and t is not int:
            kind = "boolean" if t is bool else "null" if v is None else "string" if t is str else t.__name__
            raise ClientError(422, f"{where}[{i}]: expected a number, got {kind}")
    return values


def reference_rows(instances: List[Any], features: int) -> List[Any]:
    return [reference_row(r, f"instances[{n}]", features) for n, r in enumerate(instances)]


def reference_numbers(values: List[Any], where: str, offset: int = 0) -> None:
    for i, v in enumerate(values):
        t = type(v)
        if t is not float and t is not int:
            raise ProtocolError(400, f"{where}[{offset + i}]: expected a number, got {oip._kind(v)}")


def reference_flatten(data: Any, rows: int, cols: int, where: str) -> List[Any]:
    if not isinstance(data, list):
        raise ProtocolError(400, f"{where}.data: expected a list, got {oip._kind(data)}")
    if data and isinstance(data[0], list):
        if len(data) != rows:
            raise ProtocolError(400, f"{where}.data: {len(data)} rows for shape [{rows}, {cols}]")
        flat: List[Any] = []
        for r, row in enumerate(data):
            if not isinstance(row, list):
                raise ProtocolError(400, f"{where}.data[{r}]: expected a list of {cols} numbers, got {oip._kind(row)}")
            if len(row) != cols:
                raise ProtocolError(400, f"{where}.data[{r}]: {len(row)} elements, shape says {cols}")
            reference_numbers(row, f"{where}.data[{r}]")
            flat.extend(row)
        return flat
    if len(data) != rows * cols:
        raise ProtocolError(400, f"{where}.data: {len(data)} elements, shape [{rows}, {cols}] needs {rows * cols}")
    reference_numbers(data, f"{where}.data")
    return data


# --- payloads: mostly numbers, some of everything else -----------------------------------------------------------------
NUMBER = st.one_of(st.integers(min_value=-(10**6), max_value=10**6), st.floats(allow_nan=True, allow_infinity=True), st.integers())
JUNK = st.one_of(st.booleans(), st.none(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
VALUE = st.one_of(NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, JUNK)
ROW = st.one_of(
    st.lists(VALUE, min_size=FEATURES, max_size=FEATURES),
    st.lists(VALUE, min_size=FEATURES, max_size=FEATURES),
    st.lists(NUMBER, min_size=FEATURES, max_size=FEATURES),
    st.lists(VALUE, min_size=FEATURES - 1, max_size=FEATURES + 1),
    VALUE,
)
ALL_NUMBERS = st.lists(st.lists(NUMBER, min_size=FEATURES, max_size=FEATURES), min_size=1, max_size=40)


def outcome(fn, *args):
    try:
        result = fn(*args)
    except (ClientError, ProtocolError) as e:
        return ("error", getattr(e, "status"), getattr(e, "detail", None) or getattr(e, "message"))
    if isinstance(result, tuple):  # parse_instances: (array, batch?)
        x, batch = result
        return ("ok", x.dtype.str, x.shape, x.tobytes(), batch)
    return ("ok", repr(result))


def reference_parse_instances(payload: Any, features: int):
    with mock.patch.object(main, "_rows", reference_rows), mock.patch.object(main, "_row", reference_row):
        return main.parse_instances(payload, features)


@SETTINGS
@given(st.one_of(st.lists(ROW, max_size=40), ALL_NUMBERS))
def test_predict_batch_same_answer_as_the_per_value_loop(instances):
    payload = {"instances": instances}
    assert outcome(main.parse_instances, payload, FEATURES) == outcome(reference_parse_instances, payload, FEATURES)
    assert outcome(main._rows, instances, FEATURES) == outcome(reference_rows, instances, FEATURES)


@SETTINGS
@given(ROW)
def test_predict_one_instance_same_answer_as_the_per_value_loop(features):
    payload = {"features": features}
    assert outcome(main.parse_instances, payload, FEATURES) == outcome(reference_parse_instances, payload, FEATURES)
    assert outcome(main._row, features, "features", FEATURES) == outcome(reference_row, features, "features", FEATURES)


@SETTINGS
@given(st.one_of(st.lists(ROW, max_size=40), ALL_NUMBERS), st.one_of(st.none(), st.none(), st.none(), st.integers(min_value=0, max_value=41)))
def test_v2_nested_data_same_answer_as_the_per_value_loop(data, rows):
    rows = len(data) if rows is None else rows  # mostly the right row count
    assert outcome(oip._flatten, data, rows, FEATURES, "inputs[0]") == outcome(reference_flatten, data, rows, FEATURES, "inputs[0]")


@SETTINGS
@given(st.lists(VALUE, max_size=160), st.one_of(st.none(), st.none(), st.none(), st.integers(min_value=0, max_value=41)))
def test_v2_flat_data_same_answer_as_the_per_value_loop(data, rows):
    if data and isinstance(data[0], list):
        data = data[1:]
    data = data[: len(data) - len(data) % FEATURES] if rows is None else data  # mostly a whole number of rows
    rows = len(data) // FEATURES if rows is None else rows
    assert outcome(oip._flatten, data, rows, FEATURES, "inputs[0]") == outcome(reference_flatten, data, rows, FEATURES, "inputs[0]")


def test_the_first_bad_value_is_named_when_a_later_row_is_malformed_too():
    # Row 0 holds a string, row 1 has the wrong length: the per-row order names row 0's value, as before.
    instances = [[1, 2, "x", 4], [1, 2]]
    try:
        main.parse_instances({"instances": instances}, FEATURES)
    except ClientError as e:
        assert (e.status, e.detail) == (422, "instances[0][2]: expected a number, got string")
    else:
        raise AssertionError("accepted a string")
    try:
        oip._flatten(instances, 2, FEATURES, "inputs[0]")
    except ProtocolError as e:
        assert (e.status, e.message) == (400, "inputs[0].data[0][2]: expected a number, got string")
    else:
        raise AssertionError("accepted a string")


def test_valid_batches_parse_to_the_same_float32_array():
    rows = [[1, 2.5, -3, 4e10], [0, 0.0, -0.0, 7]]
    x, batch = main.parse_instances({"instances": rows}, FEATURES)
    assert batch and x.dtype == np.float32 and (x == np.asarray(rows, dtype=np.float32)).all()
    assert oip._flatten(rows, 2, FEATURES, "inputs[0]") == [1, 2.5, -3, 4e10, 0, 0.0, -0.0, 7]
