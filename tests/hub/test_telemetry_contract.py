"""The contract every telemetry store keeps, run against SQLite and a real influxd alike."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardlink.hub.errors import InvalidInput
from wardlink.hub.telemetry import InvalidPoint, Point, StoreUnavailable, TelemetryStore, canonical_tags
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.sqlite import SQLiteStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request, tmp_path):
    """Each contract test runs once per store; the InfluxDB one gets a fresh database."""
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "telemetry.db")
    else:
        influxd = request.getfixturevalue("influxd")
        s = InfluxStore(influxd.url, influxd.database, retries=1, backoff_s=0.05)
    yield s
    s.close()


def tags(gateway="gw-1", channel="t1", **extra) -> tuple[tuple[str, str], ...]:
    return canonical_tags({"gateway": gateway, "channel": channel, **extra})


def fridge(ts_ms, value, quality="good", late=False, channel="t1", asset="FR-1"):
    return Point("temperature", tags(channel=channel, asset=asset, ward="ICU"), ts_ms, value, quality, late)


def test_both_stores_satisfy_the_protocol(store):
    assert isinstance(store, TelemetryStore)
    assert store.ping() is True


def test_rewriting_the_same_points_never_duplicates(store):
    points = [fridge(T0 + i * 1000, 4.0 + i / 10) for i in range(50)]
    store.write(points)
    store.write(points)
    store.write(points[10:20])
    assert store.count() == 50
    rows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + MIN)
    assert [(r.ts_ms, r.value) for r in rows] == [(p.ts_ms, p.value) for p in points]


def test_latest_returns_one_row_per_series_with_the_newest_point(store):
    store.write([fridge(T0 + i * 1000, 4.0 + i, channel=ch) for i in range(5) for ch in ("t1", "t2")])
    store.write([Point("door", tags(channel="d1", asset="FR-1"), T0 + 2000, 1.0)])
    store.write([Point("temperature", tags(gateway="gw-2", channel="t1", asset="FR-9"), T0, -18.5)])
    rows = store.latest()
    assert len(rows) == 4
    by_key = {(r.measurement, r.tags["gateway"], r.tags["channel"]): r for r in rows}
    assert by_key[("temperature", "gw-1", "t1")].ts_ms == T0 + 4000
    assert by_key[("temperature", "gw-1", "t1")].value == 8.0
    assert by_key[("temperature", "gw-1", "t1")].tags == {"gateway": "gw-1", "channel": "t1",
                                                          "asset": "FR-1", "ward": "ICU"}
    assert by_key[("door", "gw-1", "d1")].value == 1.0
    assert by_key[("temperature", "gw-2", "t1")].value == -18.5


def test_latest_filters_by_gateway_channels_and_asset(store):
    store.write([fridge(T0, 4.0, channel="t1"), fridge(T0, 5.0, channel="t2", asset="FR-2"),
                 Point("temperature", tags(gateway="gw-2", channel="t1", asset="FR-3"), T0, 6.0)])
    assert {r.value for r in store.latest(gateway="gw-1")} == {4.0, 5.0}
    assert {r.value for r in store.latest(channels=["t1"])} == {4.0, 6.0}
    assert {r.value for r in store.latest(gateway="gw-1", channels=["t2", "nope"])} == {5.0}
    assert {r.value for r in store.latest(asset="FR-3")} == {6.0}
    assert store.latest(channels=[]) == []
    assert store.latest(gateway="no-such-gateway") == []


def test_latest_reports_a_failed_read_as_null_with_its_quality(store):
    store.write([fridge(T0, 4.0), fridge(T0 + 1000, None, "bad"), fridge(T0 + 2000, 9.5, "uncertain", late=True,
                                                                          channel="t2")])
    rows = {r.tags["channel"]: r for r in store.latest()}
    assert (rows["t1"].ts_ms, rows["t1"].value, rows["t1"].quality) == (T0 + 1000, None, "bad")
    assert (rows["t2"].value, rows["t2"].quality, rows["t2"].late) == (9.5, "uncertain", True)
    assert rows["t1"].late is False


def test_raw_range_is_half_open_and_ordered(store):
    points = [fridge(T0 + i * 1000, float(i)) for i in range(20)]
    store.write(list(reversed(points)))
    rows = store.range(gateway="gw-1", channel="t1", start_ms=T0 + 5000, end_ms=T0 + 10_000)
    assert [r.ts_ms for r in rows] == [T0 + i * 1000 for i in range(5, 10)]
    assert [(r.value, r.min, r.max, r.count, r.quality) for r in rows][0] == (5.0, 5.0, 5.0, 1, "good")
    assert store.range(gateway="gw-1", channel="t1", start_ms=T0 + 5000, end_ms=T0 + 5000) == []
    assert store.range(gateway="gw-1", channel="other", start_ms=T0, end_ms=T0 + DAY) == []


def test_raw_range_keeps_null_values_with_their_quality(store):
    store.write([fridge(T0, 3.0), fridge(T0 + 1000, None, "bad"), fridge(T0 + 2000, 3.5, "uncertain")])
    rows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + MIN)
    assert [(r.value, r.count, r.quality) for r in rows] == [(3.0, 1, "good"), (None, 0, "bad"),
                                                           (3.5, 1, "uncertain")]


def test_windowed_range_matches_a_reference_computation(store):
    values = {T0 + i * 7_000 + (i % 3): 2.0 + math.sin(i) * 3 for i in range(60)}  # ~7 minutes
    values[T0 + 150_001] = None  # a failed read is not a value
    store.write([fridge(ts, v, "good" if v is not None else "bad") for ts, v in values.items()])
    start, end = T0 + 30_000, T0 + 400_000
    rows = store.range(gateway="gw-1", channel="t1", start_ms=start, end_ms=end, window_ms=MIN)
    expected = {}
    for ts, v in values.items():
        if start <= ts < end and v is not None:
            expected.setdefault(ts - ts % MIN, []).append(v)
    assert [r.ts_ms for r in rows] == sorted(expected)
    for row in rows:
        window = expected[row.ts_ms]
        assert row.count == len(window)
        assert row.min == min(window) and row.max == max(window)
        assert row.value == pytest.approx(statistics.fmean(window), rel=1e-12)
        assert row.quality is None


def test_windowed_range_leaves_out_windows_without_values(store):
    store.write([fridge(T0, 1.0), fridge(T0 + 10 * MIN, 2.0), fridge(T0 + 12 * MIN, None, "bad")])
    rows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR, window_ms=MIN)
    assert [(r.ts_ms, r.value, r.count) for r in rows] == [(T0, 1.0, 1), (T0 + 10 * MIN, 2.0, 1)]


def test_range_spans_a_rebinding_to_another_asset_and_metric(store):
    # The channel fed fridge FR-1 until 00:10, then nothing was bound until 00:20.
    before = [fridge(T0 + i * MIN, 4.0 + i, asset="FR-1") for i in range(10)]
    after = [Point("unbound", tags(), T0 + (10 + i) * MIN, 20.0 + i) for i in range(10)]
    store.write(before + after)
    rows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR)
    assert [r.value for r in rows] == [p.value for p in before + after]
    windows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR, window_ms=HOUR)
    assert [(w.count, w.min, w.max) for w in windows] == [(20, 4.0, 29.0)]
    assert windows[0].value == pytest.approx(statistics.fmean(p.value for p in before + after))
    only = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR, measurement="unbound")
    assert len(only) == 10


def test_daily_min_max_in_utc(store):
    points = []
    for day in range(3):
        for hour in range(0, 24, 2):
            ts = T0 + day * DAY + hour * HOUR
            points.append(fridge(ts, 4.0 + day + (hour - 12) ** 2 / 100))
    points.append(fridge(T0 + DAY + 13 * HOUR, 1.5))  # the day-2 minimum, an excursion
    points.append(fridge(T0 + DAY + 14 * HOUR, None, "bad"))
    store.write(points)
    rows = store.daily_minmax(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 3 * DAY)
    assert [r.day for r in rows] == [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)]
    for i, row in enumerate(rows):
        lo, hi = T0 + i * DAY, T0 + (i + 1) * DAY
        day_values = [(p.value, p.ts_ms) for p in points if lo <= p.ts_ms < hi and p.value is not None]
        assert (row.start_ms, row.end_ms) == (lo, hi)
        assert row.count == len(day_values)
        assert (row.min, row.min_ts_ms) == min(day_values, key=lambda vt: (vt[0], vt[1]))
        assert row.max == max(v for v, _ in day_values)
        assert row.max_ts_ms == min(t for v, t in day_values if v == row.max)
        assert row.mean == pytest.approx(statistics.fmean(v for v, _ in day_values))
    assert rows[1].min == 1.5 and rows[1].min_ts_ms == T0 + DAY + 13 * HOUR


def test_daily_min_max_follows_local_days_across_a_clock_change(store):
    # Europe/Paris moves from +01:00 to +02:00 at 2026-03-29 01:00 UTC: that local day has 23 hours.
    day_start = int(dt.datetime(2026, 3, 29, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp() * 1000)
    next_start = day_start + 23 * HOUR
    store.write([
        fridge(day_start - 1, 99.0),          # 23:59:59.999 on the 28th, local time
        fridge(day_start, 5.0),
        fridge(next_start - 1, 6.0),          # last millisecond of the short day
        fridge(next_start, -7.0),             # first instant of the 30th
    ])
    rows = store.daily_minmax(gateway="gw-1", channel="t1", start_ms=day_start - HOUR,
                              end_ms=next_start + HOUR, tz="Europe/Paris")
    assert [(r.day, r.count, r.min, r.max) for r in rows] == [
        (dt.date(2026, 3, 28), 1, 99.0, 99.0),
        (dt.date(2026, 3, 29), 2, 5.0, 6.0),
        (dt.date(2026, 3, 30), 1, -7.0, -7.0),
    ]
    assert rows[1].end_ms - rows[1].start_ms == 23 * HOUR
    assert (rows[1].min_ts_ms, rows[1].max_ts_ms) == (day_start, next_start - 1)


def test_daily_min_max_reports_empty_days(store):
    store.write([fridge(T0 + 2 * DAY, 3.0)])
    rows = store.daily_minmax(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 3 * DAY)
    assert [(r.count, r.min, r.mean) for r in rows] == [(0, None, None), (0, None, None), (1, 3.0, 3.0)]


def test_daily_min_max_refuses_an_unknown_time_zone(store):
    with pytest.raises(InvalidInput, match="tz"):
        store.daily_minmax(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + DAY, tz="Mars/Olympus")


def test_count_filters(store):
    store.write([fridge(T0 + i * 1000, 1.0) for i in range(10)])
    store.write([Point("door", tags(gateway="gw-2", channel="d1"), T0 + i * 1000, None, "bad") for i in range(4)])
    assert store.count() == 14
    assert store.count(measurement="door") == 4
    assert store.count(gateway="gw-1") == 10
    assert store.count(gateway="gw-1", channel="t1", start_ms=T0 + 2000, end_ms=T0 + 5000) == 3
    assert store.count(measurement="nothing") == 0


SPECIAL = ["FR 1", "a,b", "x=y", "Kühlschrank Ü", "冷蔵庫", "quote\"s", "it's", "#hash", "emoji 🧊",
           "tab-less\u00a0nbsp", "=", ",", " lead", "trail "]


@pytest.mark.parametrize("value", SPECIAL)
def test_unicode_and_separator_characters_in_tags_round_trip(store, value):
    series_tags = canonical_tags({"gateway": "gw-1", "channel": "t1", "asset": value, "ward": value})
    store.write([Point("temperature", series_tags, T0, 4.0), Point("temperature", series_tags, T0 + 1, 5.0)])
    [row] = store.latest(asset=value)
    assert row.tags == dict(series_tags)
    assert row.value == 5.0
    assert store.count(measurement="temperature") == 2


def test_special_characters_in_measurement_and_queried_tags(store):
    gateway, channel = "gw 'quoted' \"both\"", "ch,1 =x"
    store.write([Point("temp ér,ature", tags(gateway=gateway, channel=channel), T0, 1.0)])
    [row] = store.latest(gateway=gateway, channels=[channel])
    assert row.measurement == "temp ér,ature"
    assert [r.value for r in store.range(gateway=gateway, channel=channel, start_ms=T0, end_ms=T0 + 1)] == [1.0]
    assert store.count(measurement="temp ér,ature", gateway=gateway) == 1


@pytest.mark.parametrize("point, message", [
    (Point("temperature", tags(), T0, math.nan), "finite"),
    (Point("temperature", tags(), T0, math.inf), "finite"),
    (Point("temperature", tags(), T0, 1.0, "excellent"), "quality"),
    (Point("temperature", tags(), T0, "4.0"), "float"),
    (Point("temperature", tags(), float(T0), 4.0), "ts_ms"),
    (Point("temperature", (("gateway", "gw"), ("channel", "c")), T0, 4.0), "sorted"),
    (Point("temperature", tags(asset="back\\slash"), T0, 4.0), "backslash"),
    (Point("temperature", tags(asset="new\nline"), T0, 4.0), "control"),
    (Point("temperature", tags(asset=""), T0, 4.0), "empty"),
    (Point("temperature", tags(value="x"), T0, 4.0), "reserved"),
    (Point("temperature", tags(Asset="x"), T0, 4.0), "key"),
    (Point("#temperature", tags(), T0, 4.0), "#"),
    (Point("", tags(), T0, 4.0), "empty"),
])
def test_invalid_points_are_refused_and_nothing_of_the_write_is_stored(store, point, message):
    good = fridge(T0 + 5, 4.0)
    with pytest.raises(InvalidPoint, match=message):
        store.write([good, point])
    assert store.count() == 0


_example_clock = itertools.count(1)
_names = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\\"),
                 min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(measurement=_names.filter(lambda s: not s.startswith("#")), asset=_names, ward=_names,
       value=st.floats(allow_nan=False, allow_infinity=False, width=64) | st.none())
def test_any_storable_series_round_trips(store, measurement, asset, ward, value):
    series_tags = canonical_tags({"gateway": "gw-h", "channel": "c1", "asset": asset, "ward": ward})
    ts = T0 + next(_example_clock)  # each example's point is the newest of its series
    quality = "good" if value is not None else "bad"
    store.write([Point(measurement, series_tags, ts, value, quality)])
    rows = [r for r in store.latest(asset=asset) if r.measurement == measurement and r.tags == dict(series_tags)]
    assert len(rows) == 1
    assert (rows[0].ts_ms, rows[0].quality) == (ts, quality)
    assert rows[0].value == value  # repr() of a float reads back exactly


def test_influx_store_down_raises_store_unavailable(influxd):
    s = InfluxStore(influxd.url, influxd.database, retries=2, backoff_s=0.01)
    influxd.stop()
    try:
        with pytest.raises(StoreUnavailable, match="InfluxDB"):
            s.write([fridge(T0, 1.0)])
        with pytest.raises(StoreUnavailable):
            s.latest()
        assert s.ping() is False
    finally:
        influxd.start()
    s.write([fridge(T0, 1.0)])
    assert s.count() == 1
    s.close()
