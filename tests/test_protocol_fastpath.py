"""Telemetry decoding takes a fast path (orjson, column-at-a-time checks); it must give exactly
what the standard path gives: the same batch, or the same error with the same reason, text and path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from wardlink import protocol as p
from wardlink.protocol import telemetry

NOW = 1_795_341_600_000
GW = "gw-icu-01"


LIMIT = NOW + p.DEFAULT_MAX_FUTURE_MS


def standard(payload: bytes) -> p.TelemetryBatch:
    """Decode with the json module (the parser everything falls back to)."""
    return telemetry._telemetry(p.loads(payload), GW, NOW, p.DEFAULT_MAX_FUTURE_MS)


def outcome(decode, arg):
    try:
        result = decode(arg)
    except p.ProtocolError as exc:
        return ("error", type(exc), exc.reason, str(exc), exc.path)
    readings = result.readings if isinstance(result, p.TelemetryBatch) else result
    # Types matter too: a value is always a float, a timestamp always an int.
    return ("ok", result, [(type(r), type(r.ts_ms), type(r.value)) for r in readings])


def check(payload: bytes) -> None:
    """decode_telemetry (orjson first) gives what the json module's parse gives."""
    fast = outcome(lambda b: p.decode_telemetry(b, gateway_id=GW, now_ms=NOW), payload)
    assert fast == outcome(standard, payload), payload


def check_columns(rows: list) -> None:
    """The column-at-a-time checks accept only what the reading-by-reading ones accept, identically."""
    by_column = telemetry._readings_by_column(rows, LIMIT)
    if by_column is not None:
        assert outcome(lambda r: telemetry._readings_one_by_one(r, NOW, p.DEFAULT_MAX_FUTURE_MS, LIMIT), rows) == \
            outcome(lambda r: by_column, rows), rows


channels = st.sampled_from(["fridge1.temp", "a", "x:y", "bad/ch", "", "ch\n", "é"]) | st.integers(0, 3)
stamps = st.one_of(
    st.integers(NOW - 10**9, NOW + 10**6),  # some beyond the future limit
    st.sampled_from([0, 12345, -1, 2**63, 2**64 + 1, -(2**70), True]),
    st.integers(NOW - 1000, NOW).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**20), 10**20), st.booleans(), st.none(),
    st.sampled_from([10**400, -(10**400), 2**64, "4.5", [1.0], {"v": 1}]),
)
qualities = st.sampled_from([None, "good", "uncertain", "bad", "meh", 1])
readings = st.tuples(channels, stamps, values, qualities).map(
    lambda t: list(t[:3]) if t[3] is None else list(t))
shapes = st.one_of(readings, st.sampled_from([[], ["a"], ["a", NOW], "a", 5, None]),
                   st.tuples(channels, stamps, values, qualities, st.just("extra")).map(list))


@settings(max_examples=500, deadline=None)
@given(st.lists(readings, min_size=1, max_size=6) | st.lists(shapes, min_size=1, max_size=4),
       st.sampled_from([None, True, False, 1]))
def test_the_fast_path_agrees_with_the_standard_one_on_generated_batches(rows, late):
    body = {"v": 1, "gateway": GW, "boot": "b00t", "seq": 7, "readings": rows}
    if late is not None:
        body["late"] = late
    check(json.dumps(body).encode())
    check_columns(json.loads(json.dumps(rows)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_the_fast_path_agrees_with_the_standard_one_on_random_bytes(data):
    check(data)


@pytest.mark.parametrize("text", [
    # values and timestamps the two parsers read differently, or one refuses
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,1e999]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,NaN]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",18446744073709551617,1.5]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":18446744073709551617,"readings":[["a",1795341600000,1]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":-18446744073709551617,"readings":[["a",1795341600000,1]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,123456789012345678901234567890]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["\\ud800",1795341600000,1]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000.0,1]]}',
    '{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,1]],"readings":[]}',
    '{"v":1.0,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,1]]}',
    '\ufeff{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,1]]}',
])
def test_the_fast_path_agrees_with_the_standard_one_on_edge_cases(text):
    check(text.encode("utf-8", "surrogatepass"))


def test_a_large_batch_of_the_common_shape_decodes_to_the_same_readings():
    rows = [[f"ch{i % 50:02d}", NOW - 60_000 + i, 20.0 + (i % 97) / 10] for i in range(p.MAX_READINGS_PER_BATCH)]
    rows[17][2] = 21  # an integer value becomes a float
    payload = json.dumps({"v": 1, "gateway": GW, "boot": "b", "seq": 1, "readings": rows}).encode()
    check(payload)
    check_columns(rows)
    assert telemetry._readings_by_column(rows, LIMIT) is not None  # the common shape takes the column path
    batch = p.decode_telemetry(payload, gateway_id=GW, now_ms=NOW)
    assert batch.readings[17] == p.Reading("ch17", NOW - 60_000 + 17, 21.0) and type(batch.readings[0]) is p.Reading
