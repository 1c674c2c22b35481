"""The API refuses what its OpenAPI document refuses, and the document admits what the API
accepts: the cases an outside schemathesis run found accepted against the schema."""

from __future__ import annotations

import io

import pytest
from relational_support import clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.web.api.openapi import build_document


def _admin(web) -> tuple[dict, int]:
    """Return the admin's API headers and the id of a fresh work order."""
    with session_scope(web.engine) as s:
        admin = Actor.for_user(users.find_user(s, "admin"))
        _, token = users.create_api_token(s, name="contract", actor=admin, clock=web.clock)
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Pump", "asset_tag": "VF-0001"},
                                             actor=admin, clock=web.clock)
        return {"Authorization": f"Bearer {token}"}, order.id


def _refused(response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json["error"]["code"] == "invalid_input"
    assert response.json["error"]["message"].startswith(f"{field}:"), response.json


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/work-orders", {"kind": "", "title": "x"}, "kind"),
    ("/api/v1/work-orders", {"kind": "corrective", "title": "x", "priority": ""}, "priority"),
    ("/api/v1/work-orders", {"kind": "corrective", "title": "x", "due_at": ""}, "due_at"),
    ("/api/v1/work-orders", {"kind": "corrective", "title": "x", "due_at": "soon"}, "due_at"),
    ("/api/v1/work-orders/requests", {"title": "x", "priority": ""}, "priority"),
    ("/api/v1/work-orders/requests", {"title": "x", "requester_name": None}, "requester_name"),
    ("/api/v1/work-orders/requests", {"title": "x", "colour": "red"}, "colour"),
    ("/api/v1/work-orders/{id}/time-logs", {"minutes": 5, "performed_at": ""}, "performed_at"),
    ("/api/v1/work-orders/{id}/downtime", {"reason": "r" * 301}, "reason"),
    ("/api/v1/work-orders/{id}/downtime", {"reason": "r", "start": ""}, "start"),
])
def test_a_body_the_document_refuses_is_refused_naming_the_field(web, path, body, field):
    headers, order_id = _admin(web)
    client = web.app.test_client()
    method = client.put if path.endswith("/downtime") else client.post
    _refused(method(path.replace("{id}", str(order_id)), json=body, headers=headers), field)


@pytest.mark.parametrize("field, value", [("colour", "red"), ("photo", b"a file part nobody reads")])
def test_a_multipart_request_with_an_unknown_field_is_refused(web, field, value):
    extra = {field: (io.BytesIO(value), "photo.txt") if isinstance(value, bytes) else value}
    headers, _ = _admin(web)
    response = web.app.test_client().post("/api/v1/work-orders/requests", headers=headers,
                                          content_type="multipart/form-data",
                                          data={"title": "Bed rail", **extra,
                                                "files": (io.BytesIO(b"text"), "note.txt")})
    _refused(response, field)
    ok = web.app.test_client().post("/api/v1/work-orders/requests", headers=headers,
                                    content_type="multipart/form-data",
                                    data={"title": "Bed rail", "files": (io.BytesIO(b"text"), "note.txt")})
    assert ok.status_code == 201, ok.text


def test_an_empty_optional_query_value_is_documented_as_absent_and_answered_so(web):
    headers, _ = _admin(web)
    client = web.app.test_client()
    document = build_document(web.app)
    for path, name in [("/alerts", "state"), ("/assets", "maintenance_status"), ("/work-orders", "kind"),
                       ("/work-orders", "priority"), ("/work-orders", "breached"), ("/kpis", "start")]:
        param = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)
        assert {"type": "string", "maxLength": 0} in param["schema"]["anyOf"], (path, param)
        assert "same as leaving the parameter out" in param["description"]
        response = client.get(f"/api/v1{path}?{name}=", headers=headers)
        assert response.status_code == 200, (path, response.text)
    assert client.get("/api/v1/work-orders?kind=bogus", headers=headers).status_code == 400


@pytest.mark.parametrize("value", ["\x1c", "\x1c2026-01-31", "\u2028"])
def test_a_control_or_separator_character_is_not_an_empty_query_value(web, value):
    """``str.strip()`` drops U+001C and U+2028 too: such a value is invalid, not blank (absent)."""
    headers, _ = _admin(web)
    response = web.app.test_client().get("/api/v1/kpis/export", query_string={"end": value}, headers=headers)
    _refused(response, "end")
