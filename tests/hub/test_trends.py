"""The dashboard's trends, against rows counted by hand, on SQLite and PostgreSQL.

The hospital is in New York for these tests, so local weeks (Monday 00:00 to Monday 00:00)
start at 05:00 UTC in winter and 04:00 UTC in summer time (until 2025-11-02). "Now" is
Wednesday 2026-01-14 12:00 UTC (07:00 local); the twelve weeks shown start on Mondays
2025-10-27 .. 2026-01-12.

Work orders of department TRD (times UTC; local in brackets):

| # | created                        | finished / cancelled                      | open at the end of the weeks of   |
|---|--------------------------------|-------------------------------------------|-----------------------------------|
| 1 | 01-05 04:00 (Sun 01-04 23:00)  | -                                         | 12-29, 01-05, 01-12 (now)         |
| 2 | 12-30 10:00                    | completed 01-05 06:00 (Mon 01:00)         | 12-29                             |
| 3 | 12-20 10:00                    | cancelled 01-05 04:30 (Sun 23:30)         | 12-15, 12-22                      |
| 4 | 01-13 10:00                    | -                                         | 01-12 (now)                       |
| 5 | 11-01 10:00                    | closed 11-20 10:00 (no completion stamp)  | 10-27, 11-03, 11-10               |

Alerts on TRD's asset: 10-27 03:59 UTC (Sun 10-26 23:59 EDT, before the first week), 10-27
04:00 (Mon 00:00 EDT: week 10-27), 01-12 04:59 (Sun 23:59 EST: week 01-05), 01-12 05:00 (week
01-12); one more on another department's asset in week 01-12.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pm_support import at
from relational_support import actor, clock, engine, session, web
from sqlalchemy import update
from test_kpi import _asset, _department, build_services

from wardlink.hub.db.models import Alert, Site, WorkOrder
from wardlink.hub.errors import PermissionDenied
from wardlink.hub.services.reports import trends
from wardlink.hub.services.actor import Actor
from wardlink.clock import ManualClock

NOW = datetime(2026, 1, 14, 12, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
WEEKS = ["2025-10-27", "2025-11-03", "2025-11-10", "2025-11-17", "2025-11-24", "2025-12-01", "2025-12-08",
         "2025-12-15", "2025-12-22", "2025-12-29", "2026-01-05", "2026-01-12"]
BACKLOG = [1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 1, 2]
ALERTS = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]


def d(month: int, day: int, hour: int = 0, minute: int = 0, year: int | None = None) -> datetime:
    return datetime(year or (2025 if month >= 10 else 2026), month, day, hour, minute, tzinfo=UTC)


def _build(session) -> tuple[int, int]:
    """Add the rows of the tables above; return TRD's id and another department's id."""
    session.execute(update(Site).values(timezone="America/New_York"))
    setup = ManualClock(at(2025, 9, 1))
    trd, other = _department(session, "TRD", setup), _department(session, "OTH", setup)
    mine, theirs = _asset(session, "TRD-1", trd, setup), _asset(session, "OTH-1", other, setup)
    for n, (created, extra) in enumerate((
            (d(1, 5, 4), {}), (d(12, 30, 10), {"state": "completed", "completed_at": d(1, 5, 6)}),
            (d(12, 20, 10), {"state": "cancelled", "cancelled_at": d(1, 5, 4, 30)}), (d(1, 13, 10), {}),
            (d(11, 1, 10), {"state": "closed", "closed_at": d(11, 20, 10)})), 1):
        session.add(WorkOrder(title=f"TRD job {n}", kind="corrective", state=extra.pop("state", "pending"),
                              asset_id=mine.id, department_id=trd.id, priority="high", source="manual",
                              escalation_level=0, created_at=created, updated_at=created, **extra))
    for asset, opened in ((mine, d(10, 27, 3, 59)), (mine, d(10, 27, 4)), (mine, d(1, 12, 4, 59)),
                          (mine, d(1, 12, 5)), (theirs, d(1, 12, 6))):
        session.add(Alert(rule="test", severity="warning", state="open", title="test", asset_id=asset.id,
                          opened_at=opened))
    session.flush()
    return trd.id, other.id


def _values(series: dict) -> list:
    return [p["value"] for p in series["points"]]


def test_local_weeks_and_months_start_at_local_midnight():
    weeks = trends.weeks(NOW, NEW_YORK)
    assert [w.label for w in weeks] == WEEKS
    assert weeks[0].starts == d(10, 27, 4) and weeks[0].ends == d(11, 3, 5)  # summer time ended on 11-02
    assert weeks[-1].starts == d(1, 12, 5) and weeks[-1].ends == d(1, 19, 5)
    months = trends.months(NOW, NEW_YORK)
    assert [m.label for m in months][:2] == ["2025-02", "2025-03"] and months[-1].label == "2026-01"
    assert months[-1].starts == d(1, 1, 5) and months[-1].ends == d(2, 1, 5)
    assert months[2].starts == datetime(2025, 4, 1, 4, tzinfo=UTC)  # in summer time


def test_the_backlog_and_alerts_per_week_match_the_hand_count(session, engine):
    trd, other = _build(session)
    result = trends.dashboard_trends(session, engine=engine, actor=None, clock=ManualClock(NOW.timestamp()),
                                     department_id=trd)
    assert result["zone"] == "America/New_York" and result["department"]["code"] == "TRD"
    backlog, alerts = result["series"]["backlog"], result["series"]["alerts"]
    assert [p["label"] for p in backlog["points"]] == WEEKS == [p["label"] for p in alerts["points"]]
    assert _values(backlog) == BACKLOG
    assert _values(alerts) == ALERTS
    assert backlog["points"][0]["start"] == "2025-10-27T04:00:00+00:00"
    # The other department sees its own alert only.
    theirs = trends.dashboard_trends(session, engine=engine, actor=None, clock=ManualClock(NOW.timestamp()),
                                     department_id=other)["series"]
    assert _values(theirs["alerts"]) == [0] * 11 + [1] and _values(theirs["backlog"]) == [0] * 12


def test_a_department_user_sees_their_department_only_and_the_series_they_may(session, engine):
    trd, other = _build(session)
    nurse = actor(session, "nurse")  # staff of ICU: work orders and alerts, no KPIs, no gateways
    result = trends.dashboard_trends(session, engine=engine, actor=nurse, clock=ManualClock(NOW.timestamp()))
    assert set(result["series"]) == {"backlog", "alerts"}
    assert result["department"]["id"] == nurse.department_id
    assert _values(result["series"]["alerts"]) == [0] * 12
    with pytest.raises(PermissionDenied):
        trends.dashboard_trends(session, engine=engine, actor=nurse, clock=ManualClock(NOW.timestamp()),
                                department_id=trd)
    everything = trends.dashboard_trends(session, engine=engine, actor=Actor.system("test"),
                                         clock=ManualClock(NOW.timestamp()))
    assert set(everything["series"]) == {"backlog", "pm_compliance", "alerts", "gateways"}
    assert _values(everything["series"]["alerts"]) == [1] + [0] * 9 + [1, 2]


def test_pm_compliance_per_month_counts_the_kpi_verdicts(session, engine):
    """The services of test_kpi.build_services, all due in January 2026: judged as of 01-11 00:00
    UTC, P1 on time, P2 late, P3's first and P4's first missed, the two others still pending."""
    svc = build_services(session)
    result = trends.dashboard_trends(session, engine=engine, actor=None, clock=ManualClock(at(2026, 1, 11, 0)),
                                     department_id=svc)
    points = result["series"]["pm_compliance"]["points"]
    assert [p["label"] for p in points][-2:] == ["2025-12", "2026-01"] and len(points) == 12
    assert points[-1] | {"start": None, "end": None} == {"label": "2026-01", "judged": 4, "on_time": 1,
                                                          "value": 25.0, "start": None, "end": None}
    assert all(p["judged"] == 0 and p["value"] is None for p in points[:-1])


def test_the_gateway_count_is_now_only(session, engine, clock):
    result = trends.dashboard_trends(session, engine=engine, actor=None, clock=clock)
    gateways = result["series"]["gateways"]
    assert gateways["history"] is None
    assert gateways["total"] == 1 and sum(gateways["by_state"].values()) == 1
    assert gateways["online"] == gateways["by_state"]["online"]


def test_the_api_serves_the_same_series_with_utc_instants(web):
    client = web.client("manager")
    body = client.get("/api/v1/dashboard/trends").json
    assert set(body["series"]) == {"backlog", "pm_compliance", "alerts", "gateways"}
    assert body["as_of"].endswith("+00:00") and len(body["series"]["backlog"]["points"]) == trends.WEEKS
    nurse = web.client("nurse")
    assert set(nurse.get("/api/v1/dashboard/trends").json["series"]) == {"backlog", "alerts"}
    refused = nurse.get("/api/v1/dashboard/trends?department=999999")
    assert refused.status_code == 403, refused.text
    assert client.get("/api/v1/dashboard/trends?department=x").status_code == 400
