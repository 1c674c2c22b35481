"""The PM calendar keeps a gathered range in memory and reads it again only when something it
derives from has changed: a plan, a generated service, an asset the calendar reads; on SQLite
and PostgreSQL. Each test compares the kept answer with one gathered afresh."""

from __future__ import annotations

from datetime import date

import pytest
from pm_support import at, pm_db, pm_pg_template, pm_pg_url
from relational_support import clock, web

from wardlink.hub.db import session_scope, stamps
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register
from wardlink.hub.services.maintenance import pm, pm_calendar, pm_calendar_kept, pm_calendar_paging, pm_generator
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock

__all__ = ["clock", "pm_db", "pm_pg_template", "pm_pg_url", "web"]

MONTH = (date(2026, 3, 1), date(2026, 3, 31))


def _manager(session):
    return Actor.for_user(users.find_user(session, "manager"))


@pytest.fixture()
def kept():
    """The process's kept ranges, empty at the start and the end of the test."""
    pm_calendar_kept.RANGES.clear()
    yield pm_calendar_kept.RANGES
    pm_calendar_kept.RANGES.clear()


def _read(engine, clock, first=MONTH[0], last=MONTH[1], **filters):
    """Return the range's services as the calendar reads them (kept or not), and as gathered afresh."""
    with session_scope(engine, readonly=True) as s:
        found = pm_calendar.occurrences(s, actor=_manager(s), first=first, last=last, now=utc_now(clock),
                                        filters=pm_calendar.parse_filters(**filters))
    saved = list(pm_calendar_kept.RANGES._answers.items())
    pm_calendar_kept.RANGES.clear()
    with session_scope(engine, readonly=True) as s:
        fresh = pm_calendar.occurrences(s, actor=_manager(s), first=first, last=last, now=utc_now(clock),
                                        filters=pm_calendar.parse_filters(**filters))
    pm_calendar_kept.RANGES.clear()
    pm_calendar_kept.RANGES._answers.update(saved)
    assert found == fresh
    return found


def _plan(engine, clock, **fields) -> int:
    data = {"name": "Pump monthly", "asset_tag": "IP-0101", "trigger": "calendar", "interval_count": 1,
            "interval_unit": "month", "anchor_date": "2026-01-12", "lead_days": 14, **fields}
    with session_scope(engine) as s:
        return pm.create_plan(s, data, actor=_manager(s), clock=clock).id


def test_a_range_read_again_is_kept_until_a_plan_changes(pm_db, kept):
    clock = ManualClock(at(2026, 1, 5))
    plan_id = _plan(pm_db, clock)
    first = _read(pm_db, clock)
    assert [(o.asset, o.due_date) for o in first] == [("IP-0101", date(2026, 3, 12))]
    made = kept.made
    assert _read(pm_db, clock) == first and kept.made == made + 1  # only the fresh comparison made one
    with session_scope(pm_db) as s:
        pm.update_plan(s, plan_id, {"anchor_date": "2026-01-20"}, actor=_manager(s), clock=clock)
    assert [o.due_date for o in _read(pm_db, clock)] == [date(2026, 3, 20)]
    with session_scope(pm_db) as s:
        pm.change_plan_state(s, plan_id, "pause", actor=_manager(s), clock=clock)
    assert _read(pm_db, clock) == []
    second = _plan(pm_db, clock, name="Fridge monthly", asset_tag="VF-0002")
    assert [o.plan_id for o in _read(pm_db, clock)] == [second]


def test_generated_services_and_a_new_day_are_seen(pm_db, kept):
    clock = ManualClock(at(2026, 2, 20))
    plan_id = _plan(pm_db, clock)
    assert [(o.projected, o.status) for o in _read(pm_db, clock)] == [(True, "due")]
    clock.set(at(2026, 2, 27))  # 14 days before 12 March: the generator makes it
    assert [(o.projected, o.status) for o in _read(pm_db, clock)] == [(True, "due")]
    with session_scope(pm_db) as s:
        assert pm_generator.generate_due(s, clock=clock).created == 1
    found = _read(pm_db, clock)
    assert [(o.plan_id, o.projected, o.work_order_id is not None) for o in found] == [(plan_id, False, True)]
    clock.set(at(2026, 3, 11))  # a later day, nothing else changed: in its window now
    assert [o.status for o in _read(pm_db, clock)] == ["in_window"]


def test_asset_changes_the_calendar_reads_are_seen_and_others_keep_the_range(pm_db, kept):
    clock = ManualClock(at(2026, 1, 5))
    _plan(pm_db, clock)
    assert [o.asset for o in _read(pm_db, clock, category="Infusion pump")] == ["IP-0101"]
    with session_scope(pm_db, readonly=True) as s:
        before = stamps.read(s)
    with session_scope(pm_db) as s:
        register.update_asset(s, "IP-0101", {"notes": "Kept in the pump library"}, actor=_manager(s), clock=clock)
    with session_scope(pm_db, readonly=True) as s:
        assert stamps.read(s) == before  # a note is nothing the calendar reads
    made = kept.made
    assert [o.asset for o in _read(pm_db, clock, category="Infusion pump")] == ["IP-0101"]
    assert kept.made == made + 1
    with session_scope(pm_db) as s:
        register.update_asset(s, "IP-0101", {"category": "Syringe driver"}, actor=_manager(s), clock=clock)
    with session_scope(pm_db, readonly=True) as s:
        assert stamps.read(s) != before
    assert _read(pm_db, clock, category="Infusion pump") == []
    with session_scope(pm_db) as s:
        register.update_asset(s, "IP-0101", {"lifecycle_stage": "disposed"}, actor=_manager(s), clock=clock)
    assert _read(pm_db, clock) == []


def test_a_rolled_back_change_leaves_the_counter_and_an_unsaved_one_is_read_as_it_is(pm_db, kept):
    clock = ManualClock(at(2026, 1, 5))
    plan_id = _plan(pm_db, clock)
    assert len(_read(pm_db, clock)) == 1
    with session_scope(pm_db, readonly=True) as s:
        before = stamps.read(s)
    with pytest.raises(RuntimeError), session_scope(pm_db) as s:
        pm.change_plan_state(s, plan_id, "pause", actor=_manager(s), clock=clock)
        raise RuntimeError("given up")
    with session_scope(pm_db, readonly=True) as s:
        assert stamps.read(s) == before
    assert len(_read(pm_db, clock)) == 1
    with session_scope(pm_db) as s:  # in the session that paused it, before its commit
        pm.change_plan_state(s, plan_id, "pause", actor=_manager(s), clock=clock)
        assert pm_calendar.occurrences(s, actor=_manager(s), first=MONTH[0], last=MONTH[1], now=utc_now(clock)) == []
    assert _read(pm_db, clock) == []


def test_the_year_view_counts_what_the_api_summary_counts(web):
    _plan(web.engine, web.clock, interval_unit="week", interval_count=1, anchor_date="2026-01-05", lead_days=2)
    _plan(web.engine, web.clock, name="Fridge monthly", asset_tag="VF-0002")
    client = web.client("manager")
    year = 2026
    summary = client.get(f"/api/v1/pm-calendar?start={year}-01-01&end={year}-12-31&summary=day").json
    page = client.get(f"/maintenance/calendar?view=year&date={year}-06-15")
    assert page.status_code == 200
    html = page.text
    busy = [d for d in summary["days"] if d["total"]]
    assert busy and html.count('class="cal-count"') == len(busy)
    for d in busy[:5]:
        assert f'data-day="{d["date"]}"' in html and f"view=day&amp;date={d['date']}" in html
    assert html.count('class="cal-month"') == 12
    with session_scope(web.engine, readonly=True) as s:
        view = pm_calendar_paging.year_view(s, actor=_manager(s), now=utc_now(web.clock), day=f"{year}-06-15")
    assert view.total == summary["total"] and [m for m, _ in view.months][0] == date(year, 1, 1)
