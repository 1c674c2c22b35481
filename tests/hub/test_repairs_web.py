"""The monthly repairs list page, its PDF and Excel files and the JSON API, and the delay reasons on
a work order's page and in the API, through the real app on SQLite and PostgreSQL (the
hand-computed February of repairs_support)."""

from __future__ import annotations

import io
import re
import subprocess

from openpyxl import load_workbook
from relational_support import clock, csrf_from, web
from repairs_support import make_month

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]


def _seed(web):
    with session_scope(web.engine) as s:
        return make_month(s, web.clock)


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _cell(html: str, code: str, label: str) -> str:
    row = re.search(rf'<tr data-wo="{code}">(.*?)</tr>', html, re.S).group(1)
    cell = re.search(rf'data-label="{label}"[^>]*>(.*?)</td>', row, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()


def test_the_page_lists_the_month_per_department_and_downloads_pdf_and_excel(web, tmp_path):
    month = _seed(web)
    manager = web.client("manager")
    page = manager.get("/reports/repairs?month=2026-02")
    assert page.status_code == 200
    assert re.findall(r'data-department="([^"]*)"', page.text) == ["ED", "ICU"]
    assert _cell(page.text, month.held_code, "Parts and consumables") == \
        "2 × FLT-100 Air filter, ventilator intake; 1 × GASK-1 Door gasket"
    assert "Awaiting filter delivery" in _cell(page.text, month.held_code, "Reasons for delay")
    assert "SLA breach" in _cell(page.text, month.breached_code, "Reasons for delay")
    assert _cell(page.text, month.held_code, "Cost") == "165.00"
    assert 'id="repairs-summary">2 repairs, total cost 205.00.' in page.text
    assert re.search(r'<tr data-asset="VF-0001">.*?class="num total">165.00<', page.text, re.S)
    icu = manager.get("/reports/repairs?month=2026-02&department=" + re.search(
        r'<option value="(\d+)">Intensive Care Unit', page.text).group(1))
    assert re.findall(r'data-department="([^"]*)"', icu.text) == ["ICU"]
    assert manager.get("/reports/repairs").text.count('value="2026-02"') == 1  # the last complete month
    bad = manager.get("/reports/repairs?month=2026-13")
    assert bad.status_code == 400 and "month: must be a month as YYYY-MM" in bad.text

    pdf = manager.get("/reports/repairs.pdf?month=2026-02")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    path = tmp_path / "repairs.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    for expected in (month.held_code, month.breached_code, "Awaiting filter delivery", "Vendor engineer",
                     "165.00", "205.00", "GASK-1"):
        assert expected in text, expected
    book = load_workbook(io.BytesIO(manager.get("/reports/repairs.xlsx?month=2026-02").data), read_only=True)
    rows = [r for r in book.worksheets[0].iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "department")
    body = {r[1]: r for r in rows[header + 1:]}
    assert set(body) == {month.held_code, month.breached_code}
    assert body[month.held_code][2] == "VF-0001" and body[month.held_code][-1] == 165
    assert "Awaiting filter delivery" in body[month.held_code][8]
    assets = [r for r in book["Cost per asset"].iter_rows(values_only=True)]
    assert [(r[0], r[-1]) for r in assets[1:]] == [("VF-0001", 165), ("DEF-0001", 40)]
    with session_scope(web.engine, readonly=True) as s:
        assert s.query(AuditLog).filter_by(action="export.create", entity_id="repairs").count() == 2
    assert web.client("tech").get("/reports/repairs").status_code == 403


def test_the_api_gives_the_list_and_its_files(web):
    month = _seed(web)
    client, manager = web.app.test_client(), _headers(web, "manager")
    body = client.get("/api/v1/reports/repairs?month=2026-02", headers=manager).json
    assert (body["month"], body["total"], body["time_zone"]) == ("2026-02", "205.00", "Europe/London")
    held = body["departments"][1]["repairs"][0]
    assert held["work_order"]["code"] == month.held_code and held["cost"]["total"] == "165.00"
    assert [(p["part"], p["quantity"], p["from_stock"]) for p in held["parts"]] == [("FLT-100", "2", True),
                                                                                   ("GASK-1", "1", False)]
    assert [(d["kind"], d["reason"]) for d in held["delays"]] == [("hold", "Awaiting filter delivery")]
    assert [(a["asset"], a["total"]) for a in body["assets"]] == [("VF-0001", "165.00"), ("DEF-0001", "40.00")]
    xlsx = client.get("/api/v1/reports/repairs/export?month=2026-02&format=xlsx", headers=manager)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get("/api/v1/reports/repairs/export?month=2026-02&format=doc", headers=manager).status_code == 400
    assert client.get("/api/v1/reports/repairs?month=26-2", headers=manager).status_code == 400
    assert client.get("/api/v1/reports/repairs", headers=_headers(web, "tech")).status_code == 403


def test_delay_reasons_on_the_work_order_page_and_in_the_api(web):
    month = _seed(web)
    tech = web.client("tech")
    held = tech.get(f"/work-orders/{month.held}")
    assert re.search(r'<li data-kind="hold">.*?Awaiting filter delivery', held.text, re.S)
    assert 'id="delay-reason"' not in held.text  # not breached: no reason to give
    breached = tech.get(f"/work-orders/{month.breached}")
    empty = tech.post(f"/work-orders/{month.breached}/records/delay",
                      data={"csrf_token": csrf_from(breached.text), "reason": " "})
    assert empty.status_code == 400 and "reason: " in empty.text
    saved = tech.post(f"/work-orders/{month.breached}/records/delay",
                      data={"csrf_token": csrf_from(breached.text), "reason": "Pads on back order"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("#delay")
    assert len(re.findall(r'<li data-kind="sla_breach">', tech.get(f"/work-orders/{month.breached}").text)) == 2
    client = web.app.test_client()
    api = client.post(f"/api/v1/work-orders/{month.breached}/delay-reasons", headers=_headers(web, "manager"),
                      json={"reason": "Supplier strike"})
    assert api.status_code == 201, api.text
    assert [d["reason"] for d in api.json["delays"]] == ["Vendor engineer unavailable", "Pads on back order",
                                                         "Supplier strike"]
    refused = client.post(f"/api/v1/work-orders/{month.held}/delay-reasons", headers=_headers(web, "manager"),
                          json={"reason": "Slow"})
    assert refused.status_code == 400 and "has not breached" in refused.json["error"]["message"]
