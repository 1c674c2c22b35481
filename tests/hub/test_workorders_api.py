"""The work-order JSON API: a whole job over HTTP, JSON errors, the signature, uploads from
a browser session, file limits, and what vendors and staff get to see."""

from __future__ import annotations

import hashlib
import io

from photo_support import jpeg
from relational_support import clock, csrf_from, password, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, User
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor



def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _user_id(web, username: str) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return users.find_user(s, username).id


def _error(response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json["error"]
    assert body["status"] == status and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body["message"]


def _session_client(web, username: str):
    client = web.client(username)
    return client, {"X-CSRF-Token": csrf_from(client.get("/account").text)}


def test_a_repair_from_request_to_signed_closure_over_http(web):
    client = web.app.test_client()
    manager, tech = _token(web, "manager"), _token(web, "tech")
    created = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Fridge alarm",
                                                       "asset_tag": "VF-0001", "priority": "critical"},
                          headers=manager)
    assert created.status_code == 201, created.text
    order = created.json
    assert (order["code"], order["state"], order["sla"]["response_due_at"]) == (
        f"WO-{order['id']:06d}", "pending", "2026-01-01T02:00:00.000+00:00")
    assert [t["to"] for t in order["transitions"]] == ["assigned", "cancelled"]
    url = f"/api/v1/work-orders/{order['id']}"

    body = client.post(f"{url}/transition", json={"to": "assigned", "assignee_id": _user_id(web, "tech")},
                       headers=manager).json
    assert body["assigned_to"]["username"] == "tech" and body["state"] == "assigned"
    assert [t["to"] for t in client.get(url, headers=tech).json["transitions"]] == ["in_progress"]
    assert client.post(f"{url}/transition", json={"to": "in_progress"}, headers=tech).status_code == 200
    assert client.post(f"{url}/time-logs", json={"minutes": 40, "note": "Relay swap"}, headers=tech).status_code == 201
    part = client.post(f"{url}/parts", json={"part_number": "RL-24", "description": "Compressor relay",
                                             "quantity": 1, "unit_cost": "42.10"}, headers=tech)
    assert part.status_code == 201 and part.json["line_cost"] == "42.10"
    message = _error(client.post(f"{url}/transition", json={"to": "closed", "password": "x"}, headers=tech),
                     403, "permission_denied")
    assert "may not approve and close" in message
    done = client.post(f"{url}/transition", json={"to": "completed", "resolution_category": "part_replaced",
                                                  "resolution_note": "Relay replaced, 4.1 degC after 1 h"},
                       headers=tech).json
    assert done["state"] == "completed" and done["totals"] == {"minutes": 40, "parts_cost": "42.10"}

    refused = client.post(f"{url}/close", json={"password": "wrong password"}, headers=manager)
    assert "signature was refused" in _error(refused, 403, "signature_refused")
    with session_scope(web.engine, readonly=True) as s:
        assert users.find_user(s, "manager").failed_logins == 1  # the refusal was committed
        assert s.scalars(select(AuditLog.action).order_by(AuditLog.seq.desc())).first() == "signature.failed"
    web.clock.advance(120)
    closed = client.post(f"{url}/close", json={"password": password("manager"), "comment": "Verified"},
                         headers=manager)
    assert closed.status_code == 200, closed.text
    closed = closed.json
    assert (closed["state"], closed["closed_by"]["username"], closed["closed_at"]) == (
        "closed", "manager", "2026-01-01T01:02:00.000+00:00")
    [signature] = closed["signatures"]
    assert (signature["signer_name"], signature["meaning"], signature["signed_at"], signature["intact"]) == (
        "Manager", "approved and closed", "2026-01-01T01:02:00.000+00:00", True)
    assert closed["transitions"] == []
    assert "is closed" in _error(client.post(f"{url}/notes", json={"body": "late"}, headers=manager),
                                 409, "invalid_transition")


def test_refused_transitions_and_bad_bodies_answer_clearly(web):
    client, manager = web.app.test_client(), _token(web, "manager")
    order = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Suction weak"},
                        headers=manager).json
    url = f"/api/v1/work-orders/{order['id']}"
    message = _error(client.post(f"{url}/transition", json={"to": "closed", "password": "x"}, headers=manager),
                     409, "invalid_transition")
    assert message == (f"work order {order['code']} cannot go from Pending to Closed; from Pending it can go "
                       "to Assigned, Cancelled")
    assert _error(client.post(f"{url}/transition", json={"to": "cancelled"}, headers=manager),
                  400, "invalid_input") == "reason: is required to cancel a work order"
    assert _error(client.post(f"{url}/transition", json={}, headers=manager), 400).startswith("to: is required")
    assert "JSON object" in _error(client.post(f"{url}/notes", data="body=x", headers=manager), 400)
    assert _error(client.patch(url, json={"state": "closed"}, headers=manager), 400).startswith(
        "state: unknown field")
    assert _error(client.get("/api/v1/work-orders/999999", headers=manager), 404) == "work order 999999 does not exist"
    for method in ("GET", "PATCH"):  # beyond any id: 404 whatever the method, never an overflow
        huge = client.open("/api/v1/work-orders/99999999999999999999", method=method, json={}, headers=manager)
        assert _error(huge, 404, "not_found") == "no entity has the id 99999999999999999999"
    assert _error(client.get("/api/v1/work-orders"), 401, "authentication_required")
    assert _error(client.get("/api/v1/work-orders?per_page=0", headers=manager), 400) == "per_page: must be 1..200, got 0"


def test_staff_request_work_with_a_photo_from_the_browser(web):
    client, csrf = _session_client(web, "nurse")
    photo = jpeg(size=(640, 480))  # a phone photo, stored as sent (it carries no metadata)
    big = b"%PDF-1.7\n" + b"0" * (2 * 1024 * 1024)  # over the app's 1 MiB default, under 10 MiB
    response = client.post("/api/v1/work-orders/requests", headers=csrf, data={
        "title": "Infusion pump occlusion alarm", "asset_tag": "VF-0001", "equipment_down": "true",
        "files": [(io.BytesIO(photo), "alarm.jpg"), (io.BytesIO(big), "manual.pdf")],
    }, content_type="multipart/form-data")
    assert response.status_code == 201, response.text
    order = response.json
    assert (order["kind"], order["state"], order["source"], order["requested_by"]["username"]) == (
        "corrective", "pending", "request", "nurse")
    assert order["downtime"]["start"] == order["created_at"]
    files = {a["filename"]: a for a in order["attachments"]}
    assert files["alarm.jpg"]["content_type"] == "image/jpeg" and files["manual.pdf"]["size"] == len(big)
    download = client.get(files["alarm.jpg"]["url"])
    assert download.status_code == 200 and download.data == photo
    assert download.headers["Content-Disposition"] == "attachment; filename*=UTF-8''alarm.jpg"
    assert download.headers["ETag"] == f'"{hashlib.sha256(photo).hexdigest()}"'
    assert (web.config.data_dir / "attachments" / files["alarm.jpg"]["sha256"][:2]
            / files["alarm.jpg"]["sha256"]).read_bytes() == photo
    # Without the CSRF token a browser session cannot post.
    assert client.post("/api/v1/work-orders/requests", json={"title": "x"}).status_code == 400
    mine = client.get("/api/v1/work-orders").json
    assert [o["id"] for o in mine["items"]] == [order["id"]]


def test_upload_limits_and_types(web):
    client, tech = web.app.test_client(), _token(web, "tech")
    order = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Monitor flicker"},
                        headers=tech).json
    url = f"/api/v1/work-orders/{order['id']}/attachments"

    def upload(data: bytes, name: str):
        return client.post(url, headers=tech, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)})

    assert upload(b"hello from the ward\n", "note.txt").status_code == 201
    assert "type not accepted" in _error(upload(b"MZ\x90\x00" + b"\x00" * 100, "setup.exe"), 400)
    assert _error(upload(b"a" * (10 * 1024 * 1024 + 200 * 1024), "huge.txt"), 413)
    assert "send one file" in _error(client.post(url, json={"file": "x"}, headers=tech), 400)


def test_vendors_get_only_their_jobs_over_http(web):
    vendor_client, csrf = _session_client(web, "vendor")
    client, manager = web.app.test_client(), _token(web, "manager")
    vendor_id = _user_id(web, "vendor")
    theirs = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Ventilator service",
                                                      "asset_tag": "VF-0001", "assignee_id": vendor_id},
                         headers=manager).json
    other = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Bed motor"},
                        headers=manager).json
    listed = vendor_client.get("/api/v1/work-orders").json
    assert [o["id"] for o in listed["items"]] == [theirs["id"]]
    assert vendor_client.get(f"/api/v1/work-orders/{other['id']}").status_code == 404
    assert vendor_client.post(f"/api/v1/work-orders/{other['id']}/notes", json={"body": "hi"},
                              headers=csrf).status_code == 404
    started = vendor_client.post(f"/api/v1/work-orders/{theirs['id']}/transition", json={"to": "in_progress"},
                                 headers=csrf)
    assert started.status_code == 200 and started.json["state"] == "in_progress"
    assert _error(vendor_client.get("/api/v1/work-orders/assignees"), 403, "permission_denied")


def test_lists_filter_by_state_priority_and_assignee(web):
    client, manager = web.app.test_client(), _token(web, "manager")
    tech_id = _user_id(web, "tech")
    ids = {}
    for priority in ("low", "high", "critical"):
        ids[priority] = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": f"{priority} job",
                                                                 "priority": priority}, headers=manager).json["id"]
    client.post(f"/api/v1/work-orders/{ids['high']}/assign", json={"assignee_id": tech_id}, headers=manager)
    page = client.get("/api/v1/work-orders?sort=priority&per_page=2", headers=manager).json
    assert ([o["priority"] for o in page["items"]], page["total"], page["pages"]) == (["critical", "high"], 3, 2)
    assert [o["id"] for o in client.get(f"/api/v1/work-orders?assigned_to={tech_id}", headers=manager).json["items"]] == [
        ids["high"]]
    assert client.get("/api/v1/work-orders?state=pending,assigned", headers=manager).json["total"] == 3
    assert "state: must be one of" in _error(client.get("/api/v1/work-orders?state=asleep", headers=manager), 400)
    vocabulary = client.get("/api/v1/work-orders/vocabulary", headers=manager).json
    close = next(t for t in vocabulary["transitions"] if t["to"] == "closed")
    assert (close["permission"], sorted(close["roles"])) == ("workorder.close", ["admin", "manager"])
    assert {p["value"]: p["response_hours"] for p in vocabulary["priorities"]}["critical"] == 1.0


def test_every_change_over_http_is_in_the_audit_trail_with_the_client_address(web):
    client, manager = web.app.test_client(), _token(web, "manager")
    order = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Audit me"}, headers=manager,
                        environ_base={"REMOTE_ADDR": "198.51.100.7"}).json
    client.patch(f"/api/v1/work-orders/{order['id']}", json={"priority": "high"}, headers=manager,
                 environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with session_scope(web.engine, readonly=True) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.entity == "work_order",
                                                AuditLog.entity_id == str(order["id"])).order_by(AuditLog.seq)).all()
        assert [(r.action, r.actor, r.source_ip) for r in rows] == [
            ("workorder.create", "manager", "198.51.100.7"), ("workorder.update", "manager", "198.51.100.7")]
        assert '"priority":"high"' in rows[1].after_json and '"priority":"medium"' in rows[1].before_json
        assert s.get(User, rows[0].actor_id).username == "manager"
