"""The rules engine on telemetry by the batch: many series per call, their states read and written in
bulk, on SQLite and PostgreSQL, and the same results as one series at a time."""

from __future__ import annotations

import pytest
from relational_support import DEMO_CHANNELS, GATEWAY, T0_S, clock, engine
from rules_support import alerts, install_rules, point
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models.rules import RuleState
from wardlink.hub.rules import RulesEngine
from wardlink.hub.seed import SEED_ACTOR, seed_demo_site
from wardlink.hub.services.assets import register as asset_service
from wardlink.hub.services.gateways import registry as gateway_service
from wardlink.hub.telemetry import Point
from wardlink.clock import ManualClock

FRIDGES = 30
HIGH = {"name": "fridge-high", "kind": "threshold", "severity": "critical",
        "match": {"metric": "temperature", "category": "Medical refrigerator"},
        "above": 8.0, "for_s": 120, "hysteresis": 0.5}


def now_ms(clock):
    return round(clock.now() * 1000)


def add_fridges(db, clock, count: int) -> list[str]:
    """Register ``count`` more refrigerators, each with a temperature channel on the gateway."""
    channels = []
    with session_scope(db) as s:
        for i in range(count):
            tag, channel = f"VF-9{i:03d}", f"fridge9{i:03d}.temp"
            asset_service.create_asset(s, {"tag": tag, "name": f"Ward fridge {i}", "category": "Medical refrigerator"},
                                       actor=SEED_ACTOR, clock=clock)
            gateway_service.upsert_channel(s, gateway_id=GATEWAY, channel_id=channel, metric="temperature",
                                           unit="degC", interval_s=60, actor=SEED_ACTOR, clock=clock)
            gateway_service.bind_channel(s, gateway_id=GATEWAY, channel_id=channel, asset_tag=tag,
                                         actor=SEED_ACTOR, clock=clock)
            channels.append((channel, tag))
    return channels


def fridge_point(channel: str, tag: str, ts_ms: int, value: float) -> Point:
    return Point.of("temperature", {"gateway": GATEWAY, "channel": channel, "asset": tag, "ward": "ICU",
                                    "site": "RGH"}, ts_ms, value)


def states(db) -> dict[str, RuleState]:
    with session_scope(db, readonly=True) as s:
        return {row.key: row for row in s.scalars(select(RuleState))}


def check_many_fridges(db, clock):
    fridges = add_fridges(db, clock, FRIDGES)
    install_rules(db, clock, [HIGH])
    start = now_ms(clock)
    hot = fridges[7]

    first = RulesEngine(db, clock=clock)
    batch = [fridge_point(c, t, start, 9.0 if (c, t) == hot else 5.0) for c, t in fridges]
    batch += [point("room.temp", start, 30.0), point("dock1.current", start, 1.2)]  # no rule selects these
    out = first.on_points(batch)
    assert (out.evaluated, out.opened) == (FRIDGES, 0)  # the hot one is pending: for_s not over
    saved = states(db)
    assert len(saved) == FRIDGES and {s.last_ts_ms for s in saved.values()} == {start}
    assert not any(s.channel in ("room.temp", "dock1.current") for s in saved.values())

    # A restart: a new engine continues every state from the database.
    clock.advance(180)
    second = RulesEngine(db, clock=clock)
    later = start + 180_000
    batch = [fridge_point(c, t, later, 9.1 if (c, t) == hot else 5.1) for c, t in reversed(fridges)]
    out = second.on_points(batch)
    assert (out.evaluated, out.opened) == (FRIDGES, 1)
    [(alert, lc)] = alerts(db, "fridge-high")
    assert alert.channel == hot[0] and alert.value == 9.1
    assert lc.condition_since.timestamp() * 1000 == start  # the pending state of the first call held
    saved = states(db)
    assert {s.last_ts_ms for s in saved.values()} == {later}
    assert [k for k, s in saved.items() if s.active] == [f"{GATEWAY}/{hot[0]}@{hot[1]}"]

    # Delivered again (at-least-once): every reading is known, nothing moves.
    out = second.on_points(batch)
    assert (out.evaluated, out.duplicates, out.opened) == (0, FRIDGES, 0)


def test_a_call_over_many_series_keeps_every_state_and_opens_the_one_alert(engine, clock):
    check_many_fridges(engine, clock)


@pytest.mark.timeout(180)
def test_a_call_over_many_series_keeps_every_state_and_opens_the_one_alert_on_postgresql(postgres_url):
    upgrade(postgres_url)
    db = open_engine(postgres_url)
    try:
        clock = ManualClock(T0_S)
        with session_scope(db) as s:
            seed_demo_site(s, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=clock)
        clock.advance(3600)
        check_many_fridges(db, clock)
    finally:
        db.dispose()


def test_two_series_of_one_channel_in_one_call_share_its_state_in_order(engine, clock):
    """A channel re-bound to another metric of the same asset keeps one state key: the series are
    applied one after the other, as separate calls would."""
    install_rules(engine, clock, [{"name": "fridge-probe", "kind": "threshold", "severity": "warning",
                                   "match": {"channel": "fridge1.temp"}, "above": 8.0, "hysteresis": 0.5}])
    start = now_ms(clock)
    tags = {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001", "ward": "ICU", "site": "RGH"}
    out = RulesEngine(engine, clock=clock).on_points([
        Point.of("temperature", tags, start, 9.0),
        Point.of("temperature_probe", tags, start + 60_000, 5.0),
        Point.of("temperature", tags, start + 30_000, 9.5),
    ])
    assert (out.evaluated, out.opened, out.resolved) == (3, 1, 1)
    [(alert, _)] = alerts(engine, "fridge-probe")
    assert alert.state == "resolved" and alert.value == 9.0
    [state] = states(engine).values()
    assert state.last_ts_ms == start + 60_000 and not state.active


def test_points_no_rule_selects_leave_no_state(engine, clock):
    install_rules(engine, clock, [HIGH])
    start = now_ms(clock)
    out = RulesEngine(engine, clock=clock).on_points(
        [point("room.temp", start + i * 1000, 20.0 + i) for i in range(50)]
        + [point("spare.1", start, 3.0), point("dock1.current", start, 0.4)])
    assert (out.evaluated, out.errors) == (0, 0)
    assert states(engine) == {}
