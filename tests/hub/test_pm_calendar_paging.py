"""A long stretch of the PM calendar read a page at a time or counted per day gives the same
services as the whole list, in the same order; the month page shows the first few of each day
and counts the rest; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date
from urllib.parse import parse_qs, urlsplit

from pm_support import at, pm_db, pm_pg_template, pm_pg_url
from relational_support import clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm, pm_calendar, pm_calendar_paging, pm_generator
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock

__all__ = ["clock", "pm_db", "pm_pg_template", "pm_pg_url", "web"]

YEAR = (date(2026, 1, 1), date(2026, 12, 31))
#: Weekly plans on five assets due on the same Mondays (more than a month cell shows), two monthly
#: plans, and a weekly one on Wednesdays.
PLANS = (*(("Weekly check", tag, 1, "week", "2026-01-05", 3) for tag in ("IP-0101", "IP-0102", "VF-0001", "VF-0002",
                                                                          "PM-0001")),
         ("Fridge monthly", "VF-0002", 1, "month", "2026-01-05", 14),
         ("Pump monthly", "IP-0101", 1, "month", "2026-01-12", 14),
         ("Vent weekly", "VENT-0001", 1, "week", "2026-01-07", 2))


def _manager(session):
    return Actor.for_user(users.find_user(session, "manager"))


def _hospital(engine, clock: ManualClock) -> None:
    """Make the plans on 1 January, generate what is due by 2 February and leave it undone, so
    the year holds overdue, in-window, due and generated services."""
    with session_scope(engine) as s:
        for name, tag, count, unit, anchor, lead in PLANS:
            pm.create_plan(s, {"name": name, "asset_tag": tag, "trigger": "calendar", "interval_count": count,
                               "interval_unit": unit, "anchor_date": anchor, "lead_days": lead},
                           actor=_manager(s), clock=clock)
    clock.set(at(2026, 2, 2))
    with session_scope(engine) as s:
        assert pm_generator.generate_due(s, clock=clock).created > 0


def test_pages_walked_with_their_cursors_give_the_whole_list_once_in_order(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    _hospital(pm_db, clock)
    with session_scope(pm_db) as s:
        now = utc_now(clock)
        whole = pm_calendar.occurrences(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=now)
        walked, cursor, pages = [], None, 0
        while True:
            page = pm_calendar_paging.calendar_page(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=now,
                                                    limit=7, cursor=cursor)
            assert page.total == len(whole) and len(page.items) <= 7
            walked += page.items
            pages += 1
            if page.next is None:
                break
            cursor = pm_calendar_paging.Cursor.decode(page.next.encode())
    assert walked == whole
    assert pages == -(-len(whole) // 7)
    assert {o.status for o in whole} == {"overdue", "in_window", "due"} and any(not o.projected for o in whole)


def test_later_pages_are_judged_at_the_first_pages_time(pm_db):
    """Walked across the day the Monday services' windows close, the pages still agree."""
    clock = ManualClock(at(2026, 1, 1))
    _hospital(pm_db, clock)
    first_seen = utc_now(clock)
    with session_scope(pm_db) as s:
        first = pm_calendar_paging.calendar_page(s, actor=_manager(s), first=YEAR[0], last=YEAR[1],
                                                 now=first_seen, limit=10)
        clock.set(at(2026, 2, 12))
        later = pm_calendar_paging.calendar_page(s, actor=_manager(s), first=YEAR[0], last=YEAR[1],
                                                 now=utc_now(clock), limit=10, cursor=first.next)
        then = pm_calendar.occurrences(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=first_seen)
        now = pm_calendar.occurrences(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=utc_now(clock))
    assert first.items + later.items == then[:20]
    assert then[:20] != now[:20]  # the statuses did change in between


def test_the_day_summary_counts_what_the_list_holds(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    _hospital(pm_db, clock)
    with session_scope(pm_db) as s:
        now = utc_now(clock)
        whole = pm_calendar.occurrences(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=now)
        summary = pm_calendar_paging.day_summary(s, actor=_manager(s), first=YEAR[0], last=YEAR[1], now=now)
        nurse = Actor.for_user(users.find_user(s, "nurse"))  # ICU staff: ICU assets only
        theirs = pm_calendar_paging.day_summary(s, actor=nurse, first=YEAR[0], last=YEAR[1], now=now)
        seen = pm_calendar.occurrences(s, actor=nurse, first=YEAR[0], last=YEAR[1], now=now)
    assert [d.day for d in summary.days] == [date.fromordinal(n) for n in range(YEAR[0].toordinal(),
                                                                                  YEAR[1].toordinal() + 1)]
    expected = Counter((o.due_date, o.status) for o in whole)
    assert {(d.day, status): n for d in summary.days for status, n in d.counts.items() if n} == expected
    statuses = Counter(o.status for o in whole)
    assert summary.total == len(whole)
    assert summary.counts == {status: statuses[status] for status in ("due", "in_window", "overdue", "done")}
    assert theirs.total == len(seen) < summary.total


def test_the_month_page_shows_the_first_services_of_each_day_and_counts_the_rest(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    _hospital(pm_db, clock)
    with session_scope(pm_db) as s:
        now = utc_now(clock)
        view = pm_calendar.calendar_view(s, actor=_manager(s), now=now, view="month", day="2026-03-10")
        whole = pm_calendar.occurrences(s, actor=_manager(s), first=view.first, last=view.last, now=now)
    by_day: dict[date, list] = {}
    for occ in whole:
        by_day.setdefault(occ.due_date, []).append(occ)
    for day in view.days:
        listed = by_day.get(day.day, [])
        assert day.entries == listed[:4] and day.more == max(0, len(listed) - 4)
    assert any(day.more for day in view.days)  # the Mondays hold five services
    assert view.total == len(whole) and view.counts == {
        status: sum(1 for o in whole if o.status == status) for status in ("due", "in_window", "overdue", "done")}


def test_the_calendar_api_pages_with_next_links_and_counts_per_day(web):
    _hospital(web.engine, web.clock)
    client = web.client("manager")
    url, walked = "/api/v1/pm-calendar?start=2026-01-01&end=2026-12-31&limit=50&category=Infusion+pump", []
    first = None
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        first = first or page.json
        walked += page.json["items"]
        url = page.json["next"]
        assert page.json["has_next"] == (url is not None)
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["category"] == ["Infusion pump"] and query["cursor"] == [page.json["next_cursor"]]
    assert first["total"] == len(walked) > 50 and first["limit"] == 50
    assert {i["asset"] for i in walked} == {"IP-0101", "IP-0102"}
    keys = [(i["plan_id"], i["asset"], i["due_date"]) for i in walked]
    assert len(keys) == len(set(keys)) and [i["due_date"] for i in walked] == sorted(i["due_date"] for i in walked)
    summary = client.get("/api/v1/pm-calendar?start=2026-01-01&end=2026-12-31&summary=day&category=Infusion+pump")
    assert summary.status_code == 200 and summary.json["total"] == len(walked)
    assert len(summary.json["days"]) == 365
    monday = next(d for d in summary.json["days"] if d["date"] == "2026-06-01")
    assert monday["total"] == 2 and monday["counts"] == {"due": 2, "in_window": 0, "overdue": 0, "done": 0}
    default = client.get("/api/v1/pm-calendar?start=2026-01-01&end=2026-12-31")
    assert len(default.json["items"]) == min(default.json["total"], pm_calendar_paging.DEFAULT_LIMIT)


def test_the_calendar_api_refuses_a_bad_cursor_summary_or_limit(web):
    client = web.client("manager")
    for query, field in (("cursor=not-a-cursor", "cursor"), ("cursor=WzEsIngiXQ", "cursor"),
                         ("summary=week", "summary"), ("limit=0", "limit"), ("limit=2001", "limit"),
                         ("limit=many", "limit")):
        answer = client.get(f"/api/v1/pm-calendar?start=2026-01-01&end=2026-12-31&{query}")
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json["error"]["message"].startswith(f"{field}:"), answer.json


def test_the_filter_choices_list_each_assignee_once_users_then_teams_then_vendors(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        tech = users.find_user(s, "tech")
        for tag, who in (("IP-0101", {"assignee_id": tech.id}), ("IP-0102", {"assignee_id": tech.id}),
                         ("VF-0001", {"assignee_team": "Pharmacy"}), ("VF-0002", {"assignee_vendor": "Helmer"}),
                         ("PM-0001", {"assignee_team": "Biomed"})):
            pm.create_plan(s, {"name": f"Check {tag}", "asset_tag": tag, "trigger": "calendar", "interval_count": 1,
                               "interval_unit": "month", "anchor_date": "2026-01-05", **who},
                           actor=_manager(s), clock=clock)
        choices = pm_calendar.calendar_choices(s, actor=_manager(s))
        assert choices["assignees"] == [(f"user:{tech.id}", tech.display_name), ("team:Biomed", "Team Biomed"),
                                        ("team:Pharmacy", "Team Pharmacy"), ("vendor:Helmer", "Vendor Helmer")]
        assert "Infusion pump" in choices["categories"]
