"""The PM calendar projects every service of every plan from its schedule, not only those
generated, and colours each by pm_standing's verdict; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from pm_support import at, pm_db, pm_pg_template, pm_pg_url
from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm, pm_calendar, pm_generator
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock

__all__ = ["clock", "csrf_from", "pm_db", "pm_pg_template", "pm_pg_url", "web"]


def _manager(session):
    return Actor.for_user(users.find_user(session, "manager"))


def test_a_quarterly_plan_shows_every_projected_service_with_its_window_and_status(pm_db):
    clock = ManualClock(at(2026, 1, 20))
    with session_scope(pm_db) as s:
        plan = pm.create_plan(s, {"name": "Pump quarterly", "asset_tag": "IP-0101", "trigger": "calendar",
                                  "interval_count": 3, "interval_unit": "month", "anchor_date": "2026-01-10",
                                  "lead_days": 14}, actor=_manager(s), clock=clock)
        weekly = pm.create_plan(s, {"name": "Fridge weekly", "asset_tag": "VF-0001", "trigger": "calendar",
                                    "interval_count": 1, "interval_unit": "week", "anchor_date": "2026-01-19",
                                    "lead_days": 2}, actor=_manager(s), clock=clock)
        found = pm_calendar.occurrences(s, actor=_manager(s), first=date(2026, 1, 1), last=date(2026, 12, 31),
                                        now=utc_now(clock))
        quarterly = [o for o in found if o.plan_id == plan.id]
        assert [o.due_date for o in quarterly] == [date(2026, 4, 10), date(2026, 7, 10), date(2026, 10, 10)]
        assert {(o.status, o.projected) for o in quarterly} == {("due", True)}
        assert (quarterly[0].opens, quarterly[0].closes) == (date(2026, 3, 31), date(2026, 4, 20))
        assert len([o for o in found if o.plan_id == weekly.id]) == 49  # 26 Jan .. 28 Dec, every week
        weekly_id, plan_id = weekly.id, plan.id
    clock.set(at(2026, 4, 5))  # the April service is generated, and is in its window
    with session_scope(pm_db) as s:
        pm_generator.generate_due(s, clock=clock)
    with session_scope(pm_db) as s:
        found = pm_calendar.occurrences(s, actor=_manager(s), first=date(2026, 4, 1), last=date(2026, 4, 30),
                                        now=utc_now(clock))
        april = [o for o in found if o.plan_id == plan_id]
        assert [(o.due_date, o.status, o.projected, o.work_order_id is not None) for o in april] == [
            (date(2026, 4, 10), "in_window", False, True)]
        pm.change_plan_state(s, weekly_id, "pause", actor=_manager(s), clock=clock)
    clock.set(at(2026, 4, 25))  # its window closed undone: overdue; the paused plan projects nothing
    with session_scope(pm_db) as s:
        found = pm_calendar.occurrences(s, actor=_manager(s), first=date(2026, 4, 1), last=date(2026, 5, 31),
                                        now=utc_now(clock))
        assert [(o.due_date, o.status) for o in found if o.plan_id == plan_id] == [(date(2026, 4, 10), "overdue")]
        weekly_left = [o for o in found if o.plan_id == weekly_id]
        assert weekly_left and all(not o.projected for o in weekly_left)


def test_filters_and_department_scope_narrow_the_calendar(pm_db):
    clock = ManualClock(at(2026, 1, 20))
    with session_scope(pm_db) as s:
        tech = users.find_user(s, "tech")
        pm.create_plan(s, {"name": "Pumps", "make": "B. Braun", "model": "Infusomat Space", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "month", "anchor_date": "2026-01-25",
                           "assignee_id": tech.id}, actor=_manager(s), clock=clock)
        pm.create_plan(s, {"name": "Vaccine fridge", "asset_tag": "VF-0002", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "month", "anchor_date": "2026-01-25",
                           "assignee_team": "Pharmacy"}, actor=_manager(s), clock=clock)
        now, month = utc_now(clock), (date(2026, 3, 1), date(2026, 3, 31))

        def assets(**filters):
            found = pm_calendar.occurrences(s, actor=_manager(s), first=month[0], last=month[1], now=now,
                                            filters=pm_calendar.parse_filters(**filters))
            return sorted(o.asset for o in found)

        assert assets() == ["IP-0101", "IP-0102", "VF-0002"]
        assert assets(category="Infusion pump") == ["IP-0101", "IP-0102"]
        assert assets(assignee=f"user:{tech.id}") == ["IP-0101", "IP-0102"]
        assert assets(assignee="team:Pharmacy") == ["VF-0002"]
        nurse = Actor.for_user(users.find_user(s, "nurse"))  # ICU staff: ICU assets only
        seen = pm_calendar.occurrences(s, actor=nurse, first=month[0], last=month[1], now=now)
        assert sorted(o.asset for o in seen) == ["IP-0101", "IP-0102"]


def test_the_calendar_page_shows_month_week_and_day_views_with_filters(web):
    with session_scope(web.engine) as s:
        pm.create_plan(s, {"name": "Fridge monthly", "asset_tag": "VF-0001", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "month", "anchor_date": "2025-12-15"},
                       actor=None, clock=web.clock)
        today = utc_now(web.clock).date()
    client = web.client("manager")
    month = client.get("/maintenance/calendar").text
    assert 'data-view="month"' in month and "Fridge monthly" in month and "cal-projected" in month
    week = client.get(f"/maintenance/calendar?view=week&date={today.isoformat()}").text
    assert 'data-view="week"' in week
    day = client.get("/maintenance/calendar?view=day&date=2026-03-15&category=Medical+refrigerator").text
    assert "VF-0001" in day and "window" in day and 'value="Medical refrigerator" selected' in day
    assert 'rel="next"' in day and "category=Medical+refrigerator" in day  # Later keeps the filter
    bad = client.get("/maintenance/calendar?view=decade")
    assert bad.status_code == 400 and "view: must be one of month, week, day, year" in bad.text
    api = client.get("/api/v1/pm-calendar?start=2026-03-01&end=2026-03-31")
    assert api.status_code == 200 and [i["due_date"] for i in api.json["items"]] == ["2026-03-15"]
    assert api.json["items"][0]["window"] == {"opens": "2026-03-08", "closes": "2026-03-22"}


def test_services_come_by_date_then_worst_first_then_by_tag_and_plan_each_once(pm_db):
    """Services of one day: the worst colour first, then by asset tag, then by plan, whatever
    order the plans were made in; a generated service is not shown again as projected."""
    clock = ManualClock(at(2026, 3, 1))
    with session_scope(pm_db) as s:
        plans = {}
        for name, tag, count, unit, anchor, lead in (
                ("Fridge monthly", "VF-0001", 1, "month", "2026-02-20", 14),  # made first: the lowest plan id
                ("Pump monthly", "IP-0101", 1, "month", "2026-02-20", 14),
                ("Fridge yearly", "VF-0002", 1, "year", "2025-03-20", 7),  # its 30-day window opens first
                ("Pump weekly", "IP-0102", 1, "week", "2026-03-13", 2)):
            plans[tag] = pm.create_plan(s, {"name": name, "asset_tag": tag, "trigger": "calendar",
                                            "interval_count": count, "interval_unit": unit, "anchor_date": anchor,
                                            "lead_days": lead}, actor=_manager(s), clock=clock).id
    clock.set(at(2026, 3, 8))  # the monthly services of 03-20 are generated, 14 days ahead
    with session_scope(pm_db) as s:
        created = pm_generator.generate_due(s, clock=clock).created
        found = pm_calendar.occurrences(s, actor=_manager(s), first=date(2026, 3, 1), last=date(2026, 4, 30),
                                        now=utc_now(clock))
    assert created >= 2
    rank = {"overdue": 0, "in_window": 1, "due": 2, "done": 3}
    assert found == sorted(found, key=lambda o: (o.due_date, rank[o.status], o.asset, o.plan_id))
    keys = [(o.plan_id, o.asset, o.due_date) for o in found]
    assert len(keys) == len(set(keys))
    on_20th = [(o.asset, o.status, o.projected) for o in found if o.due_date == date(2026, 3, 20)]
    assert on_20th == [("VF-0002", "in_window", True), ("IP-0101", "due", False), ("IP-0102", "due", True),
                       ("VF-0001", "due", False)]
    assert plans["VF-0001"] < plans["IP-0101"]  # tag order, not plan order, put IP-0101 first


def test_the_calendar_api_starts_on_the_sites_today_not_the_utc_date(web):
    """At 11:30 UTC on 14 March it is already 15 March in Auckland: with no start given, the API
    begins on the site's date, as the page does, so the weekly service due on the 14th is not listed."""
    from sqlalchemy import update

    from wardlink.hub.db.models.org import Site

    with session_scope(web.engine) as s:
        s.execute(update(Site).values(timezone="Pacific/Auckland"))
        pm.create_plan(s, {"name": "Pump weekly", "asset_tag": "VF-0001", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "week", "anchor_date": "2026-03-14",
                           "lead_days": 2},
                       actor=None, clock=web.clock)
    web.clock.set(at(2026, 3, 14, 11) + 1800)
    client = web.client("manager")
    api = client.get("/api/v1/pm-calendar")
    assert api.status_code == 200 and api.json["start"] == "2026-03-15"
    assert api.json["items"][0]["due_date"] == "2026-03-21"
