"""Line-protocol encoding, checked against influxdb-client's Point and against a real influxd."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from influxdb_client import Point as ClientPoint
from influxdb_client import WritePrecision

from wardlink.hub.telemetry import InvalidPoint, Point, canonical_tags
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.lineprotocol import LineEncoder, quote_ident, quote_literal

T0 = 1_767_225_600_000

_text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\\"),
                min_size=1, max_size=24)
_measurements = _text.filter(lambda s: not s.startswith("#"))
_tag_keys = st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z").filter(lambda k: k not in ("value", "quality", "late", "time"))
_tag_maps = st.dictionaries(_tag_keys, _text, max_size=6)
_values = st.floats(allow_nan=False, allow_infinity=False) | st.none()
_qualities = st.sampled_from(["good", "uncertain", "bad"])


def client_line(p: Point) -> str:
    """Return what influxdb-client writes for the same point."""
    cp = ClientPoint(p.measurement).time(p.ts_ms, WritePrecision.MS)
    for key, value in p.tags:
        cp.tag(key, value)
    if p.value is not None:
        cp.field("value", p.value)
    cp.field("quality", p.quality).field("late", p.late)
    return cp.to_line_protocol()


@settings(max_examples=400, deadline=None)
@given(measurement=_measurements, tag_map=_tag_maps, value=_values, quality=_qualities, late=st.booleans(),
       ts=st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000))
def test_lines_equal_influxdb_client_output(measurement, tag_map, value, quality, late, ts):
    point = Point(measurement, canonical_tags(tag_map), ts, value, quality, late)
    [line] = LineEncoder().lines([point])
    assert line == client_line(point)


def test_series_key_is_built_once_and_reused():
    encoder = LineEncoder()
    series = canonical_tags({"gateway": "gw 1", "channel": "t,1"})
    lines = encoder.lines([Point("temperature", series, T0 + i, float(i)) for i in range(3)])
    assert lines == [f'temperature,channel=t\\,1,gateway=gw\\ 1 late=false,quality="good",value={i} {T0 + i}'
                     for i in range(3)]
    assert len(encoder._keys) == 1


def test_null_value_leaves_the_value_field_out():
    [line] = LineEncoder().lines([Point("door", canonical_tags({"gateway": "g", "channel": "d"}), T0, None, "bad",
                                        True)])
    assert line == f'door,channel=d,gateway=g late=true,quality="bad" {T0}'


def test_an_invalid_point_anywhere_fails_the_whole_batch():
    encoder = LineEncoder()
    good = Point("m", (("gateway", "g"),), T0, 1.0)
    with pytest.raises(InvalidPoint, match="quality"):
        encoder.lines([good, Point("m", (("gateway", "g"),), T0, 1.0, "meh")])


@pytest.mark.parametrize("text, ident, literal", [
    ("plain", '"plain"', "'plain'"),
    ('say "hi"', '"say \\"hi\\""', "'say \"hi\"'"),
    ("it's", '"it\'s"', "'it\\'s'"),
    ("back\\slash", '"back\\\\slash"', "'back\\\\slash'"),
])
def test_influxql_quoting(text, ident, literal):
    assert quote_ident(text) == ident
    assert quote_literal(text) == literal


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.tuples(_measurements, _tag_maps, _values), min_size=1, max_size=20))
def test_influxd_reads_back_exactly_what_was_encoded(influxd, data):
    """Write random series through the encoder to a real influxd and read each one back."""
    store = InfluxStore(influxd.url, influxd.database, retries=0)
    influxd.query("DROP SERIES FROM /.*/")
    try:
        expected = {}
        for i, (measurement, tag_map, value) in enumerate(data):
            series = canonical_tags({**tag_map, "gateway": "gw-x", "channel": f"c{i}"})
            expected[(measurement, series)] = (T0 + i, value)
        store.write([Point(m, t, ts, v, "good" if v is not None else "bad") for (m, t), (ts, v) in expected.items()])
        got = {(r.measurement, canonical_tags(r.tags)): (r.ts_ms, r.value) for r in store.latest(gateway="gw-x")}
        assert got == expected
    finally:
        store.close()
