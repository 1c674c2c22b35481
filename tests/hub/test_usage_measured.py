"""Measured usage: a dock's current above its measure's threshold for long enough opens a measured
session (the asset is in use) and its fall closes it; what a scanned session covers is never
measured (no session opened under it, the overlap trimmed, a scan ends a running measured
session); short blips and outages are not use; a run repeated over the same readings changes
nothing. Readings go through the real SQLite telemetry store."""

from __future__ import annotations

import pytest
from relational_support import GATEWAY, actor, clock, engine, hub_config, session
from sqlalchemy import select

from wardlink.hub.db.models import Asset, AuditLog, UsageSession
from wardlink.hub.db.types import to_ms
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.usage import measured, measuring, sessions
from wardlink.hub.telemetry import Point, open_store

CHANNEL = "dock1.current"


@pytest.fixture
def store(tmp_path):
    s = open_store(hub_config(tmp_path / "telemetry"))
    yield s
    s.close()


def _measure(session, clock, **fields):
    data = {"category": "", "asset_tag": "IPD-0001", "metric": "current", "mode": "above", "threshold": "0.2",
            "min_s": 60, **fields}
    return measured.create_measure(session, data, actor=None, clock=clock)


def _flow(store, clock, seconds: int, amps: float) -> None:
    """Advance the clock one second at a time, storing one reading of the dock's current each second."""
    points = []
    for _ in range(seconds):
        clock.advance(1)
        points.append(Point.of("current", {"gateway": GATEWAY, "channel": CHANNEL, "asset": "IPD-0001"},
                               round(clock.now() * 1000), amps))
    store.write(points)


def _measured(session):
    return session.scalars(select(UsageSession).where(UsageSession.source == "measured")
                           .order_by(UsageSession.started_at)).all()


def _minutes(row):
    return (row.ended_at - row.started_at).total_seconds() / 60


def _dock(session):
    return session.scalar(select(Asset).where(Asset.tag == "IPD-0001"))


def test_a_current_stretch_opens_a_measured_session_and_its_fall_closes_it(session, clock, store):
    _measure(session, clock)
    _flow(store, clock, 30, 0.01)
    _flow(store, clock, 300, 0.6)
    first = measured.refresh(session, store, clock=clock)
    assert (first.assets, first.opened) == (1, 1)
    assert sessions.status_of(session, _dock(session).id) == "in_use"
    rise = to_ms(_measured(session)[0].started_at)
    _flow(store, clock, 300, 0.6)
    _flow(store, clock, 30, 0.0)
    assert measured.refresh(session, store, clock=clock).closed == 1
    assert measured.refresh(session, store, clock=clock).as_dict() == {
        "assets": 1, "readings": 0, "opened": 0, "closed": 0, "recorded": 0, "skipped": 0}
    [row] = _measured(session)
    assert _minutes(row) == 10 and rise == round((clock.now() - 629) * 1000), "from the first reading above"
    assert row.department_id == _dock(session).department_id and row.ended_by == "usage"
    assert sessions.status_of(session, row.asset_id) == "available"
    actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("usage.%")).order_by(AuditLog.id))
    assert list(actions) == ["usage.measure", "usage.measured_start", "usage.measured_end"]


def test_no_measured_session_under_a_scanned_one_and_the_overlap_is_trimmed(session, clock, store):
    _measure(session, clock)
    nurse = actor(session, "nurse")
    scanned = sessions.start(session, "IPD-0001", reason="Bay 1", actor=nurse, clock=clock)
    _flow(store, clock, 600, 0.6)
    assert measured.refresh(session, store, clock=clock).opened == 0, "the scan covers it"
    sessions.end(session, scanned.id, actor=nurse, clock=clock)
    _flow(store, clock, 300, 0.6)  # still drawing current after the person ended their session
    _flow(store, clock, 10, 0.0)
    done = measured.refresh(session, store, clock=clock)
    assert (done.opened, done.recorded) == (0, 1)
    [row] = _measured(session)
    # From the end of the scan to the first reading without current (one second after the last with it).
    assert row.started_at == scanned.ended_at and _minutes(row) * 60 == 301, "only what the scan did not cover"


def test_a_scan_ends_a_running_measured_session_and_takes_the_time_over(session, clock, store):
    _measure(session, clock)
    _flow(store, clock, 120, 0.6)
    assert measured.refresh(session, store, clock=clock).opened == 1
    scanned = sessions.start(session, "IPD-0001", reason="Bay 1", actor=actor(session, "nurse"), clock=clock)
    [row] = _measured(session)
    assert row.ended_at == scanned.started_at and sessions.status_of(session, row.asset_id) == "in_use"
    _flow(store, clock, 300, 0.6)
    _flow(store, clock, 10, 0.0)
    measured.refresh(session, store, clock=clock)
    assert len(_measured(session)) == 1 and sessions.open_session(session, row.asset_id).id == scanned.id


def test_blips_shorter_than_the_minimum_and_outages_are_not_use(session, clock, store):
    _measure(session, clock, min_s=120)
    _flow(store, clock, 60, 0.6)
    _flow(store, clock, 60, 0.0)
    _flow(store, clock, 100, 0.6)
    clock.advance(600)  # the gateway was silent: the stretch ends at its last reading
    _flow(store, clock, 100, 0.6)
    _flow(store, clock, 5, 0.0)
    assert measured.refresh(session, store, clock=clock).as_dict()["recorded"] == 0
    state, stretches = measuring.track(measuring.new_state(), [(0, 1.0), (1000, 2.0), (2000, 2.0), (9000, 3.0)],
                                       measuring.Settings("advancing", None, 3000))
    assert stretches == [measuring.Stretch(0, 2000)] and state["since"] is None, "a meter that stops advancing"


def test_a_measure_names_a_category_or_an_asset_and_a_threshold_when_above(session, clock):
    with pytest.raises(InvalidInput, match="category: name a category or an asset, not both"):
        _measure(session, clock, category="Infusion pump")
    with pytest.raises(InvalidInput, match="threshold: is required"):
        _measure(session, clock, threshold="")
    with pytest.raises(InvalidInput, match="mode: must be one of above, advancing"):
        _measure(session, clock, mode="sometimes")
    row = _measure(session, clock, asset_tag="", category="infusion PUMP docking station")
    assert row.category_key == "infusion pump docking station"
    assert [s.asset.tag for s in measured.subjects(session)] == ["IPD-0001"]
