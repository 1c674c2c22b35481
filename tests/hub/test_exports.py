"""CSV and Excel exports of work orders, assets, PM compliance, the audit trail and readings,
from the pages and the JSON API, read back with the csv module and openpyxl: the rows the
list shows, local times and units, department scope, an audit row per export, and a large
export running as a background job that reports its progress."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook
from relational_support import GATEWAY, actor, clock, csrf_from, login, web
from sqlalchemy import select
from test_kpi import END, START, build_services

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Department
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.hub.telemetry.model import Point

__all__ = ["clock", "web"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _open(web, when: str, title: str, username: str = "manager", **data) -> str:
    web.clock.set(_at(when))
    with session_scope(web.engine) as s:
        order = workorders.create_work_order(s, {"kind": "corrective", "title": title, **data},
                                             actor=actor(s, username), clock=web.clock)
        return order.code


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="exports", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _sheet(data: bytes, name: str | None = None) -> tuple[list[tuple], list[tuple]]:
    """Return (notes, table) of a sheet: the rows above the header row and the header + rows."""
    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = [tuple(r) for r in (book[name] if name else book.worksheets[0]).iter_rows(values_only=True)]
    split = next(i for i, r in enumerate(rows) if r and r[0] in ("code", "tag", "plan", "seq", "time (Europe/London)"))
    return rows[:split], rows[split:]


def _post(client, url: str, page: str, **fields):
    return client.post(url, data={"csrf_token": csrf_from(client.get(page).text), **fields})


def _exports(web) -> list[dict]:
    import json

    with session_scope(web.engine, readonly=True) as s:
        return [{"actor": e.actor, "kind": e.entity_id, **json.loads(e.after_json)}
                for e in s.scalars(select(AuditLog).where(AuditLog.action == "export.create").order_by(AuditLog.seq))]


def test_work_orders_export_the_filtered_list_in_local_time(web):
    before = _open(web, "2026-03-28T23:30:00", "Before the day")
    first = _open(web, "2026-03-29T00:30:00", "=HYPERLINK(\"x\")")
    last = _open(web, "2026-03-29T22:30:00", "Late on the day")
    _open(web, "2026-03-29T23:30:00", "After the day")
    client = web.client("manager")
    page = "/work-orders?state=all&date_from=2026-03-29&date_to=2026-03-29"
    listed = client.get(page).text
    assert first in listed and last in listed and before not in listed
    response = _post(client, "/exports/work-orders", page, state="all", date_from="2026-03-29",
                     date_to="2026-03-29", sort="oldest", format="csv")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Disposition"].startswith('attachment; filename="work-orders-')
    rows = _csv(response.data)
    assert [r["code"] for r in rows] == [first, last]
    assert rows[0]["title"] == "'=HYPERLINK(\"x\")"  # a formula stays text
    # 22:30Z on the 29th is 23:30 BST.
    assert rows[1]["opened (Europe/London)"] == "2026-03-29 23:30:00+01:00"

    xlsx = _post(client, "/exports/work-orders", page, state="all", date_from="2026-03-29", date_to="2026-03-29",
                 sort="oldest", format="xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX
    notes, table = _sheet(xlsx.data)
    assert ("Time zone", "Europe/London") in notes
    header, *body = table
    assert [r[0] for r in body] == [first, last]
    assert body[1][header.index("opened (Europe/London)")] == datetime(2026, 3, 29, 23, 30)

    api = web.app.test_client().get(
        "/api/v1/work-orders/export?date_from=2026-03-29&date_to=2026-03-29&sort=oldest",
        headers=_token(web, "manager"))
    assert api.status_code == 200, api.data
    assert [r["code"] for r in _csv(api.data)] == [first, last]
    bad = web.app.test_client().get("/api/v1/work-orders/export?date_from=2026-03-29&date_to=2026-03-01",
                                    headers=_token(web, "manager"))
    assert bad.status_code == 400 and "date_to: must not be before date_from" in bad.json["error"]["message"]
    logged = _exports(web)
    assert [(e["actor"], e["kind"], e["format"], e["rows"]) for e in logged] == [
        ("manager", "work-orders".replace("-", "_"), "csv", 2), ("manager", "work_orders", "xlsx", 2),
        ("manager", "work_orders", "csv", 2)]
    assert logged[0]["filters"]["date_from"] == "2026-03-29"


def test_a_scoped_user_exports_only_their_department(web):
    icu = _open(web, "2026-03-10T10:00:00", "ICU pump", asset_tag="VF-0001")
    with session_scope(web.engine, readonly=True) as s:
        pharm = s.scalar(select(Department.id).where(Department.code == "PHARM"))
    pharm_order = _open(web, "2026-03-10T11:00:00", "Pharmacy fridge", department_id=pharm)
    tech = web.client("pharmtech")
    rows = _csv(_post(tech, "/exports/work-orders", "/work-orders", state="all", format="csv").data)
    assert [r["code"] for r in rows] == [pharm_order]
    assert icu not in {r["code"] for r in rows}

    response = _post(tech, "/exports/assets", "/assets", format="csv")
    assert response.status_code == 200, response.text
    assets = _csv(response.data)
    assert assets and {r["department"] for r in assets} == {"PHARM"}
    every = _csv(_post(web.client("manager"), "/exports/assets", "/assets", format="csv").data)
    assert len(every) > len(assets) and "ICU" in {r["department"] for r in every}

    manager_audit = _csv(web.app.test_client().get("/api/v1/audit/export",
                                                   headers=_token(web, "manager")).data)
    with session_scope(web.engine) as s:  # a manager of the pharmacy alone
        _, secret = users.create_user_with_generated_password(
            s, username="pharmboss", role="manager", display_name="Pharmacy manager", department_id=pharm,
            actor=None, clock=web.clock)
    boss = web.app.test_client()
    assert login(boss, "pharmboss", secret).status_code == 302
    scoped = _csv(_post(boss, "/exports/audit", "/audit", format="csv").data)
    ids = {(r["entity"], r["entity_id"]) for r in scoped}
    assert ("work_order", str(_id(web, pharm_order))) in ids
    assert ("work_order", str(_id(web, icu))) not in ids
    assert ("work_order", str(_id(web, icu))) in {(r["entity"], r["entity_id"]) for r in manager_audit}
    assert len(manager_audit) > len(scoped)
    refused = _post(tech, "/exports/audit", "/work-orders", format="csv")
    assert refused.status_code == 403


def _id(web, code: str) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return workorders.list_work_orders(s, actor=None, q=code).items[0].id


def test_pm_compliance_per_plan_and_asset_uses_the_kpi_verdicts(web):
    with session_scope(web.engine) as s:
        dept = build_services(s)
    web.clock.set(_at("2026-01-11T06:00:00"))
    client = web.client("manager")
    form = {"start": START.isoformat(), "end": END.isoformat(), "department": str(dept)}
    rows = _csv(_post(client, "/exports/pm-compliance", "/reports", format="csv", **form).data)
    got = {(r["plan"], r["asset"]): (r["on_time"], r["late"], r["missed"], r["pending"]) for r in rows}
    assert got == {("P1", "SVC-B1"): ("1", "0", "0", "0"), ("P2", "SVC-B2"): ("0", "1", "0", "0"),
                   ("P3", "SVC-B2"): ("0", "0", "1", "1"), ("P4", "SVC-B1"): ("0", "0", "1", "1")}
    xlsx = _post(client, "/exports/pm-compliance", "/reports", format="xlsx", **form).data
    _, services = _sheet(xlsx, "Services")
    header, *body = services
    verdicts = sorted((r[0], r[header.index("due_date")].date(), r[header.index("judgement")]) for r in body)
    assert verdicts == [("P1", date(2026, 1, 5), "on_time"), ("P2", date(2026, 1, 6), "late"),
                        ("P3", date(2026, 1, 2), "missed"), ("P3", date(2026, 1, 9), "pending"),
                        ("P4", date(2026, 1, 3), "missed"), ("P4", date(2026, 1, 10), "pending")]
    api = web.app.test_client().get(f"/api/v1/pm-compliance/export?start={START}&end={END}&department={dept}",
                                    headers=_token(web, "manager"))
    assert api.status_code == 200 and len(_csv(api.data)) == 4
    refused = _post(web.client("pharmtech"), "/exports/pm-compliance", "/work-orders", format="csv", **form)
    assert refused.status_code == 403


def test_readings_of_one_channel_in_local_time_with_the_unit(web):
    base = int(_at("2026-06-01T22:30:00") * 1000)  # 23:30 BST on 1 June
    web.store.write([Point.of("temperature", {"gateway": GATEWAY, "channel": "fridge1.temp"}, base + i * 60_000,
                              4.0 + i / 10, "good") for i in range(5)])
    web.clock.set(_at("2026-06-03T00:00:00"))
    client = web.client("manager")
    response = _post(client, "/exports/readings", "/assets/VF-0001", asset="VF-0001",
                     channel=f"{GATEWAY}/fridge1.temp", date_from="2026-06-01", date_to="2026-06-01", format="csv")
    assert response.status_code == 200, response.text[:500]
    rows = _csv(response.data)
    # 23:30 BST on the 1st to 23:59 belong to the 1st; 00:00 BST on the 2nd does not.
    assert [r["time (Europe/London)"] for r in rows] == [f"2026-06-01 23:{30 + i}:00+01:00" for i in range(5)]
    assert {r["unit"] for r in rows} == {"degC"} and rows[0]["value"] == "4.0"
    api = web.app.test_client().get(f"/api/v1/assets/VF-0001/readings/export?format=xlsx&channel={GATEWAY}/fridge1.temp"
                                    "&date_from=2026-06-01&date_to=2026-06-02", headers=_token(web, "manager"))
    assert api.status_code == 200
    notes, (header, *body) = _sheet(api.data)
    assert ("Unit", "degC") in notes and len(body) == 5
    assert body[0][header.index("time_utc")] == datetime(2026, 6, 1, 22, 30)
    wrong = _post(client, "/exports/readings", "/assets/VF-0001", asset="VF-0001", channel="fridge1.temp",
                  date_from="2026-06-01", date_to="2026-06-01", format="csv")
    assert wrong.status_code == 400 and "gateway/channel" in wrong.text


def test_a_large_export_runs_as_a_job_and_reports_progress(web):
    web.app.config["EXPORT_SMALL_ROWS"] = 10
    for n in range(450):
        _open(web, f"2026-04-01T08:{n // 60:02d}:{n % 60:02d}", f"Bulk {n}")
    client = web.client("manager")
    response = _post(client, "/exports/work-orders", "/work-orders", state="all", format="xlsx")
    assert response.status_code == 303 and "/jobs/" in response.headers["Location"]
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    job = web.app.extensions["wardlink.ui"].jobs.wait(job_id, timeout=120)
    assert job.state == "done", job.error
    status = client.get(f"/jobs/{job_id}/status", headers={"Accept": "application/json"}).json
    assert (status["total"], status["done"], status["percent"]) == (450, 450, 100)
    assert status["message"] == "450 of 450 rows written"  # the writer's own last report
    download = client.get(f"/jobs/{job_id}/download")
    assert download.status_code == 200 and download.mimetype == XLSX
    _, (header, *body) = _sheet(download.data)
    assert len(body) == 450 and {r[header.index("title")] for r in body} == {f"Bulk {n}" for n in range(450)}
    assert _exports(web)[-1]["rows"] == 450


def test_a_filter_with_a_control_character_still_exports_a_workbook(web):
    """A control character no workbook can hold (here in the entity filter, which goes into the
    file's notes) becomes U+FFFD instead of failing the export."""
    response = web.app.test_client().get("/api/v1/audit/export?format=xlsx&entity=work%01order",
                                          headers=_token(web, "manager"))
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "work\ufffdorder" in cells
    assert not any("\x01" in c for c in cells)
