"""Equipment uptime summed in SQL from the status history agrees with the history clipped to
the period by hand, asset by asset; the reports page shows it a page at a time, in the order
asked for; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest
from pm_support import at, utc
from relational_support import clock, engine, session, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset, AssetStatusChange, Site
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org
from wardlink.hub.services.reports import kpis
from wardlink.clock import ManualClock

__all__ = ["clock", "engine", "session", "web"]

START, END = date(2026, 1, 1), date(2026, 1, 10)
BEGINS, AS_OF = utc(2026, 1, 1), utc(2026, 1, 11)
STATUSES = ("in_service", "faulty", "out_of_service", "retired")


def _department(session, code, clock):
    site = session.scalars(select(Site)).first()
    return org.ensure_department(session, site, code=code, name=f"{code} ward", actor=None, clock=clock)


def _random_history(session, dept, clock: ManualClock, count: int, seed: int) -> list[str]:
    """Register ``count`` assets at random times from mid-December and change their status at
    random times until after the period; return their tags."""
    rnd = random.Random(seed)
    events = []
    for n in range(count):
        events.append((utc(2025, 12, 15) + timedelta(minutes=rnd.randint(0, 35 * 24 * 60)), n, "create"))
        for _ in range(rnd.randint(0, 6)):
            events.append((utc(2025, 12, 20) + timedelta(seconds=rnd.randint(0, 25 * 24 * 3600)), n, "change"))
    made: set[int] = set()
    for when, n, kind in sorted(events):
        clock.set(when.timestamp())
        tag = f"RND-{n:03d}"
        if kind == "create":
            assets.create_asset(session, {"tag": tag, "name": tag, "category": "Test device",
                                          "department_id": dept.id}, actor=None, clock=clock)
            made.add(n)
        elif n in made:
            current = session.scalars(select(Asset.equipment_status).where(Asset.tag == tag)).one()
            assets.update_asset(session, tag, {"equipment_status": rnd.choice([s for s in STATUSES if s != current])},
                                actor=None, clock=clock)
    return [f"RND-{n:03d}" for n in sorted(made)]


def _by_hand(session, tag: str) -> tuple[float, float, float]:
    """Return (scope, in service, fault) hours of ``tag`` in the period from its history rows."""
    asset = session.scalars(select(Asset).where(Asset.tag == tag)).one()
    rows = session.scalars(select(AssetStatusChange).where(AssetStatusChange.asset_id == asset.id)).all()
    scope = in_service = fault = 0.0
    for row in rows:
        start, end = max(row.started_at, BEGINS), min(row.ended_at or AS_OF, AS_OF)
        hours = max(0.0, (end - start).total_seconds() / 3600)
        if row.status == "retired":
            continue
        scope += hours
        in_service += hours if row.status == "in_service" else 0.0
        fault += hours if row.status in ("faulty", "tagged_out") else 0.0
    return scope, in_service, fault


def test_uptime_in_sql_matches_the_history_clipped_by_hand(session):
    clock = ManualClock(at(2025, 12, 1))
    dept = _department(session, "RND", clock)
    tags = _random_history(session, dept, clock, count=25, seed=15)
    clock.set(at(2026, 1, 20))
    report = kpis.compute(session, start=START, end=END, department_id=dept.id, actor=None, clock=clock)
    expected = {tag: _by_hand(session, tag) for tag in tags}
    in_scope = {tag: hours for tag, hours in expected.items() if hours[0] > 0}
    assert report.assets_in_scope == len(in_scope) == len(report.assets)
    for row in report.assets:
        assert (row.scope_hours, row.in_service_hours, row.fault_hours) == pytest.approx(in_scope[row.tag], abs=1e-6)
    assert [(a.uptime_pct, a.tag) for a in report.assets] == sorted((a.uptime_pct, a.tag) for a in report.assets)
    total = report.total
    assert total.asset_hours == pytest.approx(sum(h[0] for h in expected.values()), abs=1e-6)
    assert total.downtime_hours == pytest.approx(sum(h[0] - h[1] for h in expected.values()), abs=1e-6)
    assert total.fault_hours == pytest.approx(sum(h[2] for h in expected.values()), abs=1e-6)
    # A page, in each order, is the same rows as the whole list ordered the same way.
    rows = report.assets
    for sort, key in (("availability", lambda a: ((a.scope_hours - a.fault_hours) / a.scope_hours, a.tag)),
                      ("downtime", lambda a: (a.in_service_hours - a.scope_hours, a.tag)),
                      ("asset", lambda a: a.tag)):
        ordered = sorted(rows, key=key)
        second = kpis.uptime_page(session, report, sort=sort, page=2, per_page=7)
        assert [a.tag for a in second.items] == [a.tag for a in ordered[7:14]]
        assert (second.total, second.pages) == (len(rows), -(-len(rows) // 7))
    with pytest.raises(InvalidInput, match="sort: must be one of uptime, availability, downtime, asset"):
        kpis.uptime_page(session, report, sort="worst")


def _rows(html: str) -> list[str]:
    table = html[html.index('id="asset-uptime"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<tr data-asset="([^"]+)"', table)


def test_the_reports_page_pages_and_orders_the_uptime_table(web):
    clock = ManualClock(at(2025, 12, 1))
    with session_scope(web.engine) as s:
        dept = _department(s, "PGD", clock)
        dept_id = dept.id
        for n in range(53):  # 50 a page: two pages
            assets.create_asset(s, {"tag": f"PGD-{n:03d}", "name": f"Device {n}", "category": "Test device",
                                    "department_id": dept.id}, actor=None, clock=clock)
        for n, (day, status) in enumerate(((3, "faulty"), (5, "out_of_service"), (8, "faulty"))):
            clock.set(at(2026, 1, day))
            assets.update_asset(s, f"PGD-{n * 20:03d}", {"equipment_status": status}, actor=None, clock=clock)
    web.clock.set(at(2026, 1, 20))
    client = web.client("manager")
    base = f"/reports?start=2026-01-01&end=2026-01-10&department={dept_id}"
    first = client.get(base)
    assert first.status_code == 200
    # Lowest uptime first: down since the 3rd, the 5th, then the 8th; then the rest by tag.
    assert _rows(first.text)[:4] == ["PGD-000", "PGD-020", "PGD-040", "PGD-001"]
    assert len(_rows(first.text)) == 50 and "Page 1 of 2 (53 in all)" in first.text
    assert 'data-uptime-sort="uptime" aria-current="true"' in first.text
    second = client.get(base + "&uptime_page=2")
    assert _rows(second.text) == ["PGD-050", "PGD-051", "PGD-052"]
    # Availability counts only faults: the one out of service stays at 100 %.
    by_availability = _rows(client.get(base + "&uptime_sort=availability").text)
    assert by_availability[:3] == ["PGD-000", "PGD-040", "PGD-001"]
    by_tag = client.get(base + "&uptime_sort=asset&uptime_page=9")  # past the last page: the last
    assert _rows(by_tag.text) == ["PGD-050", "PGD-051", "PGD-052"] and "Page 2 of 2" in by_tag.text
    wrong = client.get(base + "&uptime_sort=worst")
    assert wrong.status_code == 400 and "sort: must be one of" in wrong.text
