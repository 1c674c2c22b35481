"""What charts show: a door's time open (hand-checked), the period fitted to the data, and the
alert band of the threshold rule that watches a channel."""

from __future__ import annotations

import tomllib

import pytest
from relational_support import GATEWAY, T0_MS, clock, engine, session

from wardlink.hub.db.models import Asset
from wardlink.hub.rules.spec import parse_rules, sync_rules
from wardlink.hub.services.alerts import limits
from wardlink.hub.services.gateways import charts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.telemetry import Point
from wardlink.hub.telemetry.sqlite import SQLiteStore

MIN = 60_000
HOUR = 60 * MIN

#: 10:00 to 11:00 with the door closed at the start. Opened 10:10-10:12 (2 min), 10:30 to
#: 10:32:30 (2.5 min, a failed read in between changes nothing) and from 10:55 to the end
#: (5 min): 9.5 minutes open in three openings, 50.5 minutes closed.
DOOR = [(10 * MIN, 1.0), (12 * MIN, 0.0), (30 * MIN, 1.0), (30 * MIN + 30_000, None), (32 * MIN + 30_000, 0.0),
        (40 * MIN, 0.0), (55 * MIN, 1.0)]


def test_time_open_of_a_door_is_summed_from_its_changes():
    summary = charts.time_in_state(DOOR, 0, HOUR, level_before=0.0)
    assert summary.on_ms == 570_000  # 9 min 30 s
    assert summary.off_ms == HOUR - 570_000
    assert summary.openings == 3 and summary.unknown_ms == 0
    # Left open before the period: open from its start until 10:10's reading says open again.
    summary = charts.time_in_state(DOOR[1:], 0, HOUR, level_before=1.0)
    assert summary.on_ms == 12 * MIN + 150_000 + 5 * MIN and summary.openings == 2
    # Nothing known before the first reading: those ten minutes count as neither.
    summary = charts.time_in_state(DOOR, 0, HOUR)
    assert summary.unknown_ms == 10 * MIN and summary.on_ms == 570_000 and summary.openings == 2
    # Readings outside the period are ignored; an empty period with a known level is all that level.
    assert charts.time_in_state([(HOUR + 5, 1.0)], 0, HOUR, level_before=0.0).off_ms == HOUR
    assert charts.time_in_state([], 0, HOUR).unknown_ms == HOUR


def test_the_store_summary_of_a_door_matches_the_hand_count(tmp_path):
    store = SQLiteStore(tmp_path / "telemetry.db")
    try:
        tags = {"gateway": GATEWAY, "channel": "fridge1.door", "asset": "VF-0001"}
        start = T0_MS
        store.write([Point.of("door", tags, start - 5 * MIN, 0.0)]  # the level before the period
                    + [Point.of("door", tags, start + ts, v) for ts, v in DOOR])
        summary = charts.state_summary(store, gateway=GATEWAY, channel="fridge1.door", start_ms=start,
                                       end_ms=start + HOUR)
        assert (summary.on_ms, summary.off_ms, summary.openings) == (570_000, HOUR - 570_000, 3)
        # Bound to the asset only from 10:20: the period starts there and nothing earlier counts,
        # so the level is unknown until 10:30's reading (open, not counted as an opening), then
        # open 2.5 min and again from 10:55 (one opening): 7.5 min open, 22.5 min closed.
        summary = charts.state_summary(store, gateway=GATEWAY, channel="fridge1.door", start_ms=start,
                                       end_ms=start + HOUR, known_from_ms=start + 20 * MIN)
        assert summary.start_ms == start + 20 * MIN and summary.unknown_ms == 10 * MIN
        assert (summary.on_ms, summary.off_ms, summary.openings) == (450_000, 22 * MIN + 30_000, 1)
    finally:
        store.close()


@pytest.mark.parametrize(("newest_ago", "bound_ago", "span"), [
    (30_000, 30 * 24 * HOUR, "6h"),  # fresh data, bound long ago: the default
    (30_000, 40 * MIN, "1h"),  # bound 40 minutes ago: not a mostly empty 6 h
    (30_000, 3 * HOUR, "6h"),
    (10 * HOUR, 30 * 24 * HOUR, "24h"),  # silent for 10 h: the newest reading must show
    (2 * 24 * HOUR, 30 * 24 * HOUR, "7d"),
    (None, None, "6h"),
    (None, 20 * MIN, "1h"),
])
def test_the_chart_period_fits_the_data(newest_ago, bound_ago, span):
    now = T0_MS + 90 * 24 * HOUR
    newest = None if newest_ago is None else now - newest_ago
    bound = None if bound_ago is None else now - bound_ago
    assert charts.fit_span(now, newest, bound) == span


RULES = """
[[rules]]
name = "fridge-temperature"
kind = "threshold"
severity = "critical"
match = { metric = "temperature", asset = ["VF-0001", "VF-0002"] }
below = 2.0
above = 8.0
for_s = 300

[[rules]]
name = "fridge-temperature-early"
kind = "threshold"
severity = "warning"
match = { metric = "temperature", asset = "VF-0001" }
below = 3.0
above = 7.0
for_s = 60

[[rules]]
name = "room-too-warm"
kind = "threshold"
severity = "critical"
match = { metric = "temperature", ward = "PHARM" }
above = 25.0
for_s = 300
"""


def test_a_channel_shows_the_band_of_the_most_severe_threshold_rule_watching_it(session, clock):
    sync_rules(session, parse_rules(tomllib.loads(RULES)).rules, clock=clock)
    session.flush()
    rules = limits.threshold_rules(session)
    assert [r.name for r in rules] == ["fridge-temperature", "fridge-temperature-early", "room-too-warm"]
    asset = session.query(Asset).filter_by(tag="VF-0001").one()
    now = gateways.utc_now(clock)
    by_channel = {b.channel.channel_id: b for b in gateways.bindings_at(session, now, asset_id=asset.id)}
    found = limits.channel_limits(rules, limits.channel_facts(asset, by_channel["fridge1.temp"]))
    assert (found.rule, found.below, found.above) == ("fridge-temperature", 2.0, 8.0)
    assert limits.channel_limits(rules, limits.channel_facts(asset, by_channel["fridge1.door"])) is None
    room = session.query(Asset).filter_by(tag="ENV-ICU-1").one()
    binding = gateways.bindings_at(session, now, asset_id=room.id)[0]
    facts = limits.channel_facts(room, binding)
    assert facts["ward"] == "ICU" and limits.channel_limits(rules, facts) is None
    assert limits.channel_limits(rules, {**facts, "ward": "PHARM"}).above == 25.0
