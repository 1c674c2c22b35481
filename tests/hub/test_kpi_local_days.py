"""A KPI period is a range of local dates at the site, midnight to midnight in its time zone.

The hospital is moved to Europe/Berlin (CET, UTC+1; CEST, UTC+2 from 29 March 2026 02:00
local). Department LOC has one infusion pump, in service since February, and one corrective
work order opened at 2026-03-31 20:00Z (22:00 CEST, still March at the site) and closed at
2026-03-31 22:30Z (00:30 CEST on 1 April). So March has the failure and April the repair; in
UTC days both would fall in March. March at the site runs from 2026-02-28 23:00Z to
2026-03-31 22:00Z: 743 hours, the hour the clocks skip included nowhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pm_support import at, utc
from relational_support import clock, engine, session, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import MonthlyReport, Site, WorkOrder
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org
from wardlink.hub.services.reports import kpis, monthly
from wardlink.clock import ManualClock

BERLIN = ZoneInfo("Europe/Berlin")
MARCH, APRIL = (date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 4, 30))
OPENED, CLOSED = utc(2026, 3, 31, 20), utc(2026, 3, 31, 22, 30)


def _berlin_department(session) -> int:
    """Move every site to Europe/Berlin; add department LOC, its pump and its repair; return its id."""
    for site in session.scalars(select(Site)):
        site.timezone = "Europe/Berlin"
    clock = ManualClock(at(2026, 2, 1))
    site = session.scalars(select(Site)).first()
    dept = org.ensure_department(session, site, code="LOC", name="LOC ward", actor=None, clock=clock)
    pump = assets.create_asset(session, {"tag": "LOC-P1", "name": "Infusion pump", "category": "Test device",
                                         "department_id": dept.id}, actor=None, clock=clock)
    session.add(WorkOrder(title="Occlusion alarm", asset_id=pump.id, department_id=dept.id, priority="high",
                          source="manual", escalation_level=0, kind="corrective", state="closed",
                          created_at=OPENED, updated_at=CLOSED, completed_at=CLOSED, closed_at=CLOSED,
                          resolution_category="repaired"))
    session.flush()
    return dept.id


def _kpis(session, days, department_id, now=None):
    return kpis.compute(session, start=days[0], end=days[1], department_id=department_id, actor=None,
                        clock=ManualClock((now or utc(2026, 5, 10)).timestamp()))


def test_a_period_runs_from_local_midnight_to_local_midnight_with_the_real_hours():
    march = kpis.Period(*MARCH, BERLIN)
    assert (march.begins, march.ends) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert march.hours == 743  # clocks go forward on 29 March
    assert kpis.Period(date(2026, 10, 1), date(2026, 10, 31), BERLIN).hours == 745  # and back on 25 October
    assert kpis.Period(*APRIL, BERLIN).hours == 720
    assert kpis.Period(*MARCH, ZoneInfo("UTC")).hours == 744
    assert march.local_day(CLOSED) == date(2026, 4, 1)


def test_a_repair_closed_after_local_midnight_counts_in_april_not_march(session):
    dept = _berlin_department(session)
    march, april = _kpis(session, MARCH, dept), _kpis(session, APRIL, dept)
    assert march.period.zone.key == april.period.zone.key == "Europe/Berlin"
    assert (march.total.failures, march.total.repairs) == (1, 0)  # opened 22:00 CEST on 31 March
    assert (april.total.failures, april.total.repairs, april.total.mttr_hours) == (0, 1, 2.5)
    # The pump was in scope for all of March at the site: 743 hours, in service throughout.
    assert (march.total.asset_hours, march.total.downtime_hours) == (743.0, 0.0)
    [pump] = march.assets
    assert (pump.tag, pump.scope_hours, pump.uptime_pct) == ("LOC-P1", 743.0, 100.0)
    assert march.as_of == march.period.ends == utc(2026, 3, 31, 22)
    data = april.as_dict()
    assert (data["start"], data["end"], data["time_zone"]) == ("2026-04-01", "2026-04-30", "Europe/Berlin")
    assert (data["begins"], data["ends"]) == ("2026-03-31T22:00:00+00:00", "2026-04-30T22:00:00+00:00")


def test_a_department_scoped_reader_gets_their_sites_days(session):
    dept = _berlin_department(session)
    reader = Actor(username="locmgr", role="manager", department_id=dept)
    report = kpis.compute(session, start=MARCH[0], end=MARCH[1], actor=reader, clock=ManualClock(at(2026, 5, 1)))
    assert report.department.code == "LOC" and report.period.begins == utc(2026, 2, 28, 23)
    # "Today" at the site is already 1 April at 22:30Z on 31 March.
    assert kpis.local_today(session, reader, None, ManualClock(CLOSED.timestamp())) == date(2026, 4, 1)


def test_the_monthly_report_is_made_just_after_local_midnight_with_final_figures(session):
    dept = _berlin_department(session)
    session.flush()
    before = ManualClock(utc(2026, 3, 31, 21, 55).timestamp())  # 23:55 CEST on 31 March
    assert monthly.make_due(session, clock=before, at=time(0, 5), site_name="Riverside")["month"] == "2026-02"
    assert not session.scalars(select(MonthlyReport).where(MonthlyReport.month == "2026-03")).all()
    after = ManualClock(utc(2026, 3, 31, 22, 5).timestamp())  # 00:05 CEST on 1 April, still March in UTC
    outcome = monthly.make_due(session, clock=after, at=time(0, 5), site_name="Riverside")
    assert outcome["due"] is True and outcome["month"] == "2026-03" and outcome["made"] >= 2
    row = session.scalars(select(MonthlyReport).where(MonthlyReport.department_id == dept,
                                                      MonthlyReport.month == "2026-03")).one()
    assert (row.start, row.end) == MARCH
    final = kpis.compute(session, start=row.start, end=row.end, department_id=dept, actor=None, clock=after)
    assert final.as_of == final.period.ends  # the month is over at the site: nothing left to count
    assert (final.total.failures, final.total.repairs) == (1, 0)


def test_the_monthly_report_waits_until_the_month_is_over_at_every_site(session):
    _berlin_department(session)
    session.add(Site(code="NYC", name="Riverside East", timezone="America/New_York",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    session.flush()
    assert kpis.over_everywhere(session, *MARCH) == utc(2026, 4, 1, 4)  # midnight EDT
    berlin_morning = ManualClock(utc(2026, 4, 1, 3, 55).timestamp())  # 05:55 CEST, 23:55 EDT
    assert monthly.make_due(session, clock=berlin_morning, at=time(0, 5), site_name="Riverside")["due"] is False
    done = ManualClock(utc(2026, 4, 1, 4).timestamp())
    assert monthly.make_due(session, clock=done, at=time(0, 5), site_name="Riverside")["due"] is True


def test_the_api_and_the_reports_page_read_local_dates(web):
    with session_scope(web.engine) as s:
        dept = _berlin_department(s)
    web.clock.set(utc(2026, 4, 30, 22, 30).timestamp())  # 00:30 CEST on 1 May
    client = web.client("manager")
    body = client.get(f"/api/v1/kpis?start=2026-04-01&end=2026-04-30&department={dept}").json
    assert (body["time_zone"], body["begins"], body["ends"]) == (
        "Europe/Berlin", "2026-03-31T22:00:00+00:00", "2026-04-30T22:00:00+00:00")
    assert (body["kpis"]["repairs"], body["kpis"]["failures"]) == (1, 0)
    default = client.get(f"/api/v1/kpis?department={dept}").json
    assert default["end"] == "2026-05-01"  # today at the site, not in UTC
    page = client.get(f"/reports?department={dept}")
    assert page.status_code == 200 and 'name="end" type="date" value="2026-05-01"' in page.text
    assert "Days run from midnight to midnight in Europe/Berlin" in page.text
    page = client.get(f"/reports?start=2026-03-01&end=2026-03-31&department={dept}")
    assert '<td class="num">743.0</td>' in page.text  # the pump's hours in scope in March


@pytest.mark.parametrize("days", [(date(2026, 4, 2), date(2026, 4, 1)), (date(1999, 1, 1), date(2026, 1, 1))])
def test_bad_periods_are_refused_before_any_work(days):
    with pytest.raises(InvalidInput):
        kpis.check_days(*days)
