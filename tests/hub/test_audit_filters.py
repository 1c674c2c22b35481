"""The audit trail filtered by who, entity, action and local days, on SQLite and PostgreSQL:
in the service, on the page, through the JSON API (instants with their UTC offset) and in the
CSV/Excel export, which holds exactly the filtered rows; combined with paging and department
scope. The hospital is in Berlin and the day filtered on is 29 March 2026, when the clocks go
forward: local midnight to midnight is 23 hours, from 23:00 UTC on the 28th to 22:00 UTC on
the 29th."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from relational_support import clock, csrf_from, login, web
from sqlalchemy import select, update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Site
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people import org, users
from wardlink.clock import ManualClock

__all__ = ["clock", "web"]
DAY = "2026-03-29"
#: marker -> (UTC time, who, action, entity, entity id); the marker goes into the row's note.
ROWS = {
    "before-day": ("2026-03-28T22:59:59", "manager", "asset.update", "asset", "VF-0001"),  # 23:59:59 CET, 28th
    "first-moment": ("2026-03-28T23:00:00", "manager", "asset.update", "asset", "VF-0001"),  # 00:00 CET
    "by-tech": ("2026-03-29T09:00:00", "tech", "workorder.note", "asset", "DEF-0001"),
    "ed-asset": ("2026-03-29T10:00:00", "manager", "asset.update", "asset", "DEF-0001"),
    "last-moment": ("2026-03-29T21:59:59", "manager", "asset.update", "asset", "VF-0001"),  # 23:59:59 CEST
    "next-day": ("2026-03-29T22:00:00", "manager", "asset.update", "asset", "VF-0001"),  # 00:00 CEST, 30th
}
ED_PASSWORD = "ed-manager-password-1"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _setup(web) -> None:
    """Put the hospital in Berlin, add an ED manager and write the rows of :data:`ROWS`."""
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(timezone="Europe/Berlin"))
        admin = Actor.for_user(users.find_user(s, "admin"))
        departments = {d.code: d.id for d in org.list_departments(s)}
        users.create_user(s, username="ed-manager", role="manager", password=ED_PASSWORD,
                          department_id=departments["ED"], actor=admin, clock=web.clock)
        audit.record(s, actor=Actor.for_user(users.find_user(s, "nurse")), action="workorder.note",  # ICU staff
                     entity="work_order", entity_id="1", after={"body": "seen"}, clock=ManualClock(_ts(ROWS[
                         "by-tech"][0])))
        for marker, (at, who, action, entity, entity_id) in ROWS.items():
            audit.record(s, actor=Actor.for_user(users.find_user(s, who)), action=action, entity=entity,
                         entity_id=entity_id, before={"note": ""}, after={"note": marker},
                         clock=ManualClock(_ts(at)))


def _markers(rows) -> list[str]:
    """Return the markers of audit rows (newest first, as listed), other rows left out."""
    out = []
    for row in rows:
        after = row.after_json if isinstance(row, AuditLog) else json.dumps(row.get("after"))
        note = (json.loads(after) or {}).get("note") if after else None
        if note in ROWS:
            out.append(note)
    return out


def test_the_service_filters_by_local_day_across_the_clock_change_and_by_who_and_action(web):
    _setup(web)
    with session_scope(web.engine) as s:
        admin = Actor.for_user(users.find_user(s, "admin"))

        def listed(**criteria) -> list[str]:
            return _markers(audit.list_entries(s, actor=admin, per_page=200, **criteria).items)

        assert listed(date_from=DAY, date_to=DAY) == ["last-moment", "ed-asset", "by-tech", "first-moment"]
        assert listed(date_from=DAY, date_to=DAY, by="tech") == ["by-tech"]
        assert listed(date_from=DAY, by="manager", action="asset.update", entity_id="VF-0001") == [
            "next-day", "last-moment", "first-moment"]
        assert listed(date_to="2026-03-28") == ["before-day"]
        assert listed(action="workorder.note", entity="asset") == ["by-tech"]
        # Instants with their offset: the same day, written in its two local offsets.
        assert listed(since="2026-03-29T00:00:00+01:00", until="2026-03-30T00:00:00+02:00") == [
            "last-moment", "ed-asset", "by-tech", "first-moment"]
        # Paging walks the filtered rows.
        page = audit.list_entries(s, actor=admin, date_from=DAY, date_to=DAY, by="manager", page=2, per_page=1)
        assert page.total == 3 and _markers(page.items) == ["ed-asset"]
        for bad, message in (({"date_from": "29.03.2026"}, "date_from"), ({"since": "2026-03-29T00:00:00"}, "offset"),
                             ({"date_from": "2026-03-30", "date_to": DAY}, "date_to: must not be before"),
                             ({"by": "x" * 101}, "actor: at most 100")):
            with pytest.raises(InvalidInput, match=message):
                audit.list_entries(s, actor=admin, **bad)


def test_filters_combine_with_department_scope(web):
    _setup(web)
    with session_scope(web.engine) as s:
        ed = Actor.for_user(users.find_user(s, "ed-manager"))
        # DEF-0001 is the emergency department's, VF-0001 the ICU's.
        assert _markers(audit.list_entries(s, actor=ed, date_from=DAY, date_to=DAY, per_page=200).items) == [
            "ed-asset", "by-tech"]
        assert _markers(audit.list_entries(s, actor=ed, by="manager", date_from=DAY, per_page=200).items) == [
            "ed-asset"]
        choices = audit.filter_choices(s, actor=ed)
        assert "asset.update" in choices["actions"] and "tech" in choices["actors"]
        assert "work_order" in choices["entities"]
        # Offered once each, in order; people of other departments are not offered to the ED's manager.
        everything = audit.filter_choices(s, actor=Actor.for_user(users.find_user(s, "admin")))
        for values in (everything["actions"], everything["actors"], choices["actors"]):
            assert values == sorted(set(values))
        assert "nurse" in everything["actors"] and "nurse" not in choices["actors"]
        assert set(choices["actors"]) < set(everything["actors"])


def test_the_api_takes_the_same_filters_and_answers_utc_with_offset(web):
    _setup(web)
    client = web.client("admin")
    response = client.get(f"/api/v1/audit?date_from={DAY}&date_to={DAY}&actor=manager&per_page=200")
    assert response.status_code == 200, response.text
    items = response.json["items"]
    assert _markers(items) == ["last-moment", "ed-asset", "first-moment"]
    assert all(item["at"].endswith("+00:00") for item in items)
    assert items[0]["at"] == "2026-03-29T21:59:59.000+00:00"
    since = client.get("/api/v1/audit", query_string={"since": "2026-03-29T00:00:00+01:00",
                                                       "until": "2026-03-29T23:00:00Z", "action": "asset.update",
                                                       "per_page": 200}).json["items"]
    assert _markers(since) == ["next-day", "last-moment", "ed-asset", "first-moment"]
    paged = client.get(f"/api/v1/audit?date_from={DAY}&date_to={DAY}&per_page=1&page=4&entity=asset").json
    assert paged["total"] == 4 and _markers(paged["items"]) == ["first-moment"]
    for query in ("since=2026-03-29T00:00:00", "date_from=2026-02-30", "actor=" + "x" * 101):
        bad = client.get(f"/api/v1/audit?{query}")
        assert bad.status_code == 400, query
    ed = web.app.test_client()
    assert login(ed, "ed-manager", ED_PASSWORD).status_code == 302
    assert _markers(ed.get(f"/api/v1/audit?date_from={DAY}&date_to={DAY}&per_page=200").json["items"]) == [
        "ed-asset", "by-tech"]


def _shown(marker: str) -> str:
    return f"Note: — → {marker}"  # the row's change, as the page reads it


def test_the_page_filters_and_says_what_is_wrong(web):
    _setup(web)
    client = web.client("admin")
    html = client.get(f"/audit?actor=tech&date_from={DAY}&date_to={DAY}").text
    assert _shown("by-tech") in html and _shown("last-moment") not in html and _shown("first-moment") not in html
    assert "(3 active)" in html  # the filter panel says how many filters are set
    day = client.get(f"/audit?date_from={DAY}&date_to={DAY}&entity=asset").text
    assert all(_shown(m) in day for m in ("first-moment", "by-tech", "ed-asset", "last-moment"))
    assert _shown("before-day") not in day and _shown("next-day") not in day
    bad = client.get("/audit?date_from=2026-03-30&date_to=2026-03-29")
    assert bad.status_code == 400 and "date_to: must not be before date_from" in bad.text


def _csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_the_export_holds_exactly_the_filtered_rows_in_local_time(web):
    _setup(web)
    client = web.client("admin")
    page = f"/audit?actor=manager&date_from={DAY}&date_to={DAY}&entity=asset"
    html = client.get(page).text
    assert 'name="actor" value="manager"' in html  # the export form carries the page's filters
    response = client.post("/exports/audit", data={"csrf_token": csrf_from(html), "format": "csv", "actor": "manager",
                                                   "date_from": DAY, "date_to": DAY, "entity": "asset"})
    assert response.status_code == 200, response.text
    rows = _csv(response.data)
    assert [json.loads(r["after"])["note"] for r in rows] == ["last-moment", "ed-asset", "first-moment"]
    by_note = {json.loads(r["after"])["note"]: r for r in rows}
    assert by_note["first-moment"]["at (Europe/Berlin)"].startswith("2026-03-29 00:00:00+01:00")
    assert by_note["last-moment"]["at (Europe/Berlin)"].startswith("2026-03-29 23:59:59+02:00")
    assert by_note["ed-asset"]["changes"] == "Note: — → ed-asset"
    with session_scope(web.engine, readonly=True) as s:
        export = s.scalars(select(AuditLog).where(AuditLog.action == "export.create")
                           .order_by(AuditLog.seq.desc())).first()
        recorded = json.loads(export.after_json)
    assert recorded["rows"] == 3 and recorded["filters"]["actor"] == "manager"
    # The API's export takes the same filters, here as instants, and writes the same rows.
    api = client.get("/api/v1/audit/export", query_string={
        "format": "xlsx", "actor": "manager", "entity": "asset", "since": "2026-03-29T00:00:00+01:00",
        "until": "2026-03-30T00:00:00+02:00"})
    assert api.status_code == 200, api.text
    sheet = [tuple(r) for r in load_workbook(io.BytesIO(api.data), read_only=True).worksheets[0]
             .iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(sheet) if r and r[0] == "seq")
    header, body = sheet[start], sheet[start + 1:]
    assert [json.loads(r[header.index("after")])["note"] for r in body] == ["last-moment", "ed-asset",
                                                                             "first-moment"]
