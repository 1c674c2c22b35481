"""Requisitions in the admin UI and the JSON API, through the real app on both stores.

A nurse of ICU raises a requisition to Biomedical Engineering with the form (a refused form
keeps what was typed); BME's technician and manager take the steps with the page's buttons, a
step out of turn is refused with a form error; the requisition becomes a work order whose page
names it; the nurse closes it. The list filters, the ageing report and its export, and the API
doing the same operations (409 for a step the flow does not allow, 400 for bad input).
"""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime

from relational_support import clock, csrf_from, login, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Requisition
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import org, users

FORM = {"title": "Replace the sluice room tap", "description": "Drips all night", "priority": "high",
        "due_on": "2026-01-09"}


def _dept(web, code: str) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return {d.code: d.id for d in org.list_departments(s)}[code]


def _bme(web) -> dict[str, str]:
    """Make BME's technician and manager; return their passwords."""
    out = {}
    with session_scope(web.engine) as s:
        bme = {d.code: d.id for d in org.list_departments(s)}["BME"]
        for name, role in (("bme-tech", "technician"), ("bme-lead", "manager")):
            _, out[name] = users.create_user_with_generated_password(
                s, username=name, role=role, display_name=name.upper(), department_id=bme, actor=None,
                clock=web.clock)
    return out


def _client(web, name: str, secrets: dict[str, str]):
    c = web.app.test_client()
    assert login(c, name, secrets[name]).status_code == 302
    return c


def _step(client, req_id: int, action: str, remarks: str = ""):
    token = csrf_from(client.get(f"/requisitions/{req_id}").text)
    return client.post(f"/requisitions/{req_id}/move", data={"action": action, "remarks": remarks,
                                                             "csrf_token": token})


def test_a_nurse_raises_a_requisition_and_it_walks_to_closed_with_the_page_buttons(web):
    secrets = _bme(web)
    nurse = web.client("nurse")
    form = nurse.get("/requisitions/new")
    assert form.status_code == 200
    token = csrf_from(form.text)
    bme = _dept(web, "BME")
    refused = nurse.post("/requisitions/new", data={**FORM, "assigned_department_id": bme, "due_on": "2025-12-01",
                                                    "csrf_token": token})
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert "due_on: must not be before today (2026-01-01)" in text and 'value="Replace the sluice room tap"' in text
    made = nurse.post("/requisitions/new", data={**FORM, "assigned_department_id": bme, "csrf_token": token})
    assert made.status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        req = s.scalar(select(Requisition))
        req_id, code = req.id, req.code
    assert code == "REQ-2026-00001" and made.headers["Location"].endswith(f"/requisitions/{req_id}")
    tech, lead = _client(web, "bme-tech", secrets), _client(web, "bme-lead", secrets)
    page = tech.get(f"/requisitions/{req_id}").text
    assert 'value="receive"' in page and 'value="approve"' not in page
    assert 'value="receive"' not in nurse.get(f"/requisitions/{req_id}").text
    early = _step(tech, req_id, "deliver")
    assert early.status_code == 409
    assert "cannot deliver requisition REQ-2026-00001 while it is submitted (allowed now: receive)" in \
        html.unescape(early.text)
    for client, action in ((tech, "receive"), (tech, "review"), (lead, "approve")):
        assert _step(client, req_id, action, f"{action} ok").status_code == 303
    page = html.unescape(tech.get(f"/requisitions/{req_id}").text)
    assert 'id="work-order-form"' in page and 'value="execute"' in page
    token = csrf_from(page)
    assert tech.post(f"/requisitions/{req_id}/work-order", data={"csrf_token": token}).status_code == 303
    page = html.unescape(tech.get(f"/requisitions/{req_id}").text)
    assert 'id="work-order-form"' not in page
    with session_scope(web.engine, readonly=True) as s:
        order = s.get(Requisition, req_id).work_order
        order_id, order_code = order.id, order.code
    assert order_code in page
    wo_page = html.unescape(tech.get(f"/work-orders/{order_id}").text)
    assert f'<dd id="requisition"><a href="/requisitions/{req_id}">{code}</a> · Intensive Care Unit · Approved' \
        in wo_page
    for client, action in ((tech, "execute"), (tech, "deliver"), (nurse, "close")):
        assert _step(client, req_id, action).status_code == 303
    page = html.unescape(nurse.get(f"/requisitions/{req_id}").text)
    assert page.count('data-movement="') == 8 and 'id="move-form"' not in page
    assert "approve ok" in page and "Assigned department's manager" in page
    with session_scope(web.engine, readonly=True) as s:
        assert s.get(Requisition, req_id).status == "closed"
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.entity == "requisition")
                                 .order_by(AuditLog.seq)))
    assert actions[0] == "requisition.create" and actions[-1] == "requisition.close" and len(actions) == 8


def test_the_list_filters_and_the_ageing_report_with_its_export(web):
    _bme(web)
    nurse = web.client("nurse")
    token = csrf_from(nurse.get("/requisitions/new").text)
    for title, due, dept in (("Late tap", "2026-01-02", "BME"), ("Door", "2026-02-01", "ESTATES")):
        assert nurse.post("/requisitions/new", data={**FORM, "title": title, "due_on": due,
                                                     "assigned_department_id": _dept(web, dept),
                                                     "csrf_token": token}).status_code == 303
    web.clock.advance(datetime(2026, 1, 20, 9, 0, tzinfo=UTC).timestamp() - web.clock.now())
    nurse = web.client("nurse")  # signed in again: the session ended while the days went by
    listing = nurse.get("/requisitions").text
    assert 'data-requisition="REQ-2026-00001"' in listing and 'data-requisition="REQ-2026-00002"' in listing
    overdue = nurse.get("/requisitions?overdue=1").text
    assert 'data-requisition="REQ-2026-00001"' in overdue and 'data-requisition="REQ-2026-00002"' not in overdue
    estates = nurse.get(f"/requisitions?department={_dept(web, 'ESTATES')}").text
    assert 'data-requisition="REQ-2026-00001"' not in estates and 'data-requisition="REQ-2026-00002"' in estates
    assert 'data-requisition=' not in nurse.get("/requisitions?status=closed").text
    assert nurse.get("/requisitions?status=lost").status_code == 400
    assert 'data-requisition=' not in web.client("pharm").get("/requisitions").text
    report = html.unescape(nurse.get("/requisitions/ageing").text)
    assert 'data-department="Biomedical Engineering"' in report and "8-30 days" in report
    exported = nurse.get("/requisitions/ageing.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0] == ["assigned_department", "0-7 days", "8-30 days", "31-90 days", "over 90 days", "total",
                       "overdue"]
    assert rows[1:] == [["Biomedical Engineering", "0", "1", "0", "0", "1", "1"],
                        ["Estates and Facilities", "0", "1", "0", "0", "1", "0"], ["Total", "0", "2", "0", "0", "2", "1"]]
    assert nurse.get("/requisitions/ageing.xlsx").status_code == 200
    assert nurse.get("/requisitions/ageing.pdf").status_code == 400


def test_who_may_open_the_requisition_pages(web):
    assert web.client("vendor").get("/requisitions").status_code == 403
    assert web.client("viewer").get("/requisitions").status_code == 200
    assert web.client("viewer").get("/requisitions/new").status_code == 403
    assert web.client("nurse").get("/requisitions/new").status_code == 200
    assert web.client("manager").get("/requisitions/999").status_code == 404


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_raises_moves_converts_and_reports_and_refuses_what_the_flow_does_not_allow(web):
    client = web.app.test_client()
    with session_scope(web.engine) as s:  # an ICU technician raises it (staff hold no API tokens)
        users.create_user_with_generated_password(s, username="icu-tech", role="technician", display_name="ICU tech",
                                                  department_id=_dept(web, "ICU"), actor=None, clock=web.clock)
    nurse, manager = _token(web, "icu-tech"), _token(web, "manager")
    body = {"title": "Bed rail loose", "assigned_department_id": _dept(web, "BME"), "due_on": "2026-01-03"}
    made = client.post("/api/v1/requisitions", json=body, headers=nurse)
    assert made.status_code == 201, made.text
    req = made.json
    assert (req["code"], req["status"], req["priority"], req["requesting_department"]) == (
        "REQ-2026-00001", "submitted", "medium", "Intensive Care Unit")
    assert req["allowed_actions"] == [] and [m["action"] for m in req["movements"]] == ["submit"]
    for bad, message in (({**body, "due_on": "2026-02-30"}, "due_on"),
                         ({**body, "colour": "red"}, "colour"),
                         ({**body, "assigned_department_id": _dept(web, "ICU")}, "must be another department")):
        refused = client.post("/api/v1/requisitions", json=bad, headers=nurse)
        assert refused.status_code == 400 and message in refused.json["error"]["message"], refused.text
    url = f"/api/v1/requisitions/{req['id']}"
    conflict = client.post(f"{url}/movements", json={"action": "approve"}, headers=manager)
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "invalid_transition"
    assert "allowed now: receive" in conflict.json["error"]["message"]
    assert client.post(f"{url}/movements", json={"action": "receive"}, headers=nurse).status_code == 403  # not BME
    for action in ("receive", "review", "approve"):
        moved = client.post(f"{url}/movements", json={"action": action, "remarks": "ok"}, headers=manager)
        assert moved.status_code == 201 and moved.json["status"] in ("received", "in_review", "approved")
    converted = client.post(f"{url}/work-order", headers=manager)
    assert converted.status_code == 201 and converted.json["work_order"].startswith("WO-")
    again = client.post(f"{url}/work-order", headers=manager)
    assert again.status_code == 409 and "already became work order" in again.json["error"]["message"]
    web.clock.advance(5 * 86400)
    nurse = _token(web, "icu-tech")
    listing = client.get("/api/v1/requisitions?overdue=true", headers=nurse).json
    assert [r["code"] for r in listing["items"]] == ["REQ-2026-00001"] and listing["items"][0]["overdue"] is True
    detail = client.get(url, headers=nurse).json
    assert [m["action"] for m in detail["movements"]] == ["submit", "receive", "review", "approve", "work_order"]
    ageing = client.get("/api/v1/requisitions/ageing", headers=nurse).json
    assert ageing["totals"] == {"department": "Total", "counts": {"0-7": 1, "8-30": 0, "31-90": 0, "over 90": 0},
                                "total": 1, "overdue": 1}
    export = client.get("/api/v1/requisitions/ageing/export?format=xlsx", headers=nurse)
    assert export.status_code == 200 and export.data[:2] == b"PK"
    assert client.get("/api/v1/requisitions/424242", headers=nurse).status_code == 404


def test_refusals_reach_a_french_reader_in_french(web):
    from sqlalchemy import update

    from wardlink.hub.db.models import User

    secrets = _bme(web)
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username.in_(("nurse", "bme-tech"))).values(locale="fr"))
    nurse = web.client("nurse")
    token = csrf_from(nurse.get("/requisitions/new").text)
    bme = _dept(web, "BME")
    refused = nurse.post("/requisitions/new", data={**FORM, "assigned_department_id": bme, "due_on": "2025-12-01",
                                                    "csrf_token": token})
    text = html.unescape(refused.text)
    assert refused.status_code == 400 and "due_on : ne doit pas être avant aujourd'hui (2026-01-01)" in text
    assert "must not be before" not in text
    assert nurse.post("/requisitions/new", data={**FORM, "assigned_department_id": bme,
                                                 "csrf_token": token}).status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        req_id = s.scalar(select(Requisition.id))
    early = _step(_client(web, "bme-tech", secrets), req_id, "deliver")
    text = html.unescape(early.text)
    assert early.status_code == 409 and "impossible de livrer la demande REQ-2026-00001 tant qu'elle est à l'état « soumise »" in text
    assert "while it is" not in text
