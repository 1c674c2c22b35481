"""The audit trail follows the objects' department rules: a department's manager reads only
that department's rows, on the page and through the API; administrators read everything."""

from __future__ import annotations

from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor

ICU_SECRET = {"title": "ICU-ONLY pump occlusion in bay 7", "description": "ICU-ONLY patient Jane Roe, bed 7",
              "requester_contact": "icu-only-ext-4471"}
ED_TITLE = "ED defibrillator self-test failed"
ED_PASSWORD = "ed-manager-password-1"


def _setup(web) -> tuple[int, int]:
    """Create an ED manager, an ICU order and an ED order; return the two orders' ids."""
    with session_scope(web.engine) as s:
        admin = Actor.for_user(users.find_user(s, "admin"))
        departments = {d.code: d.id for d in org.list_departments(s)}
        users.create_user(s, username="ed-manager", role="manager", password=ED_PASSWORD,
                          department_id=departments["ED"], actor=admin, clock=web.clock)
        icu = workorders.request_work(s, {**ICU_SECRET, "asset_tag": "VF-0001", "requester_name": "ICU-ONLY Nurse"},
                                      actor=admin, clock=web.clock)
        ed = workorders.create_work_order(s, {"kind": "corrective", "title": ED_TITLE, "asset_tag": "DEF-0001"},
                                          actor=admin, clock=web.clock)
        return icu.id, ed.id


def _ed_manager(web):
    client = web.app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "ed-manager", "password": ED_PASSWORD,
                                           "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302, response.text
    return client


def test_a_department_manager_reads_only_their_departments_audit_rows(web):
    icu_id, ed_id = _setup(web)
    client = _ed_manager(web)
    assert client.get(f"/api/v1/work-orders/{icu_id}").status_code == 404

    html = client.get("/audit?page=1").text
    assert ED_TITLE in html
    api = client.get("/api/v1/audit?per_page=200")
    assert api.status_code == 200, api.text
    rows = api.json["items"]
    assert {(r["entity"], r["entity_id"]) for r in rows if r["entity"] == "work_order"} == {("work_order", str(ed_id))}
    assert any(r["entity"] == "asset" and r["entity_id"] == "DEF-0001" for r in rows)
    assert not any(r["entity"] == "asset" and r["entity_id"] == "VF-0001" for r in rows)
    for body in (html, api.text, client.get(f"/audit?entity=work_order&entity_id={icu_id}").text,
                 client.get(f"/api/v1/audit?entity=work_order&entity_id={icu_id}").text):
        assert "ICU-ONLY" not in body and "icu-only" not in body
    assert client.get(f"/api/v1/audit?entity=work_order&entity_id={icu_id}").json["total"] == 0

    admin = web.client("admin")
    everything = admin.get("/api/v1/audit?entity=work_order&per_page=200").json["items"]
    assert {str(icu_id), str(ed_id)} <= {r["entity_id"] for r in everything}
    assert "ICU-ONLY" in admin.get("/audit").text
