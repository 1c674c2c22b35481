"""Recalls in the admin UI and the JSON API, through the real app on both stores.

The manager uploads the openFDA fixture on the import page; the job shows its progress and ends
with the counts and each refused record with its reason; the dashboard shows the open recalls,
the assets concerned and the completion; a technician confirms one close match and rejects
another on the review page (a rejection without a reason is refused); a notice from the MHRA is
entered with the form. The API does the same, and a second import of the file opens nothing.
"""

from __future__ import annotations

import io
import re

from recall_support import EXACT, FILE, FUZZY, add_register
from relational_support import clock, csrf_from, web
from sqlalchemy import func, select, update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import RecallMatch, Site, WorkOrder
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import users
from wardlink.hub.web.ui import ui_state


def _registered(web) -> None:
    with session_scope(web.engine) as s:
        add_register(s, web.clock)


def _upload(client, content: bytes, name: str = "device-recall-0001-of-0001.json"):
    page = client.get("/recalls/import")
    assert page.status_code == 200
    return client.post("/recalls/import", data={"csrf_token": csrf_from(page.text), "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def _finish(web, response):
    assert response.status_code == 303, response.text
    job_id = re.search(r"/jobs/([^/]+)$", response.headers["Location"]).group(1)
    with web.app.app_context():
        job = ui_state().jobs.wait(job_id, 120)
    assert job.state == "done", job.error
    return job


def _orders(web) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.kind == "recall"))


def test_the_import_page_runs_a_job_and_the_dashboard_and_review_follow(web):
    _registered(web)
    manager = web.client("manager")
    job = _finish(web, _upload(manager, FILE.read_bytes()))
    assert job.result.summary.startswith("60 records: 53 new recalls, 2 already known, 5 refused; ")
    assert job.result.problems[0] == "record 21 (Z-0901-2026): recalling_firm: is missing"
    assert len(job.result.problems) == 5 and _orders(web) == EXACT
    board = manager.get("/recalls").text
    assert re.search(r'id="open-recalls">11<', board) and re.search(rf'id="affected-assets">{EXACT}<', board)
    assert re.search(rf'id="to-review"[^>]*>{FUZZY}<', board) and 'data-recall="Z-0003-2026"' in board
    detail = manager.get("/recalls").text
    recall_id = re.search(r'href="/recalls/(\d+)">Z-0010-2026<', detail).group(1)
    page = manager.get(f"/recalls/{recall_id}").text
    assert 'data-asset="RC-19"' in page and 'data-asset="RC-20"' in page and 'data-asset="RC-21"' not in page
    tech = web.client("tech")
    review = tech.get("/recalls/review").text
    ids = dict((tag, int(i)) for i, tag in re.findall(r'data-match="(\d+)" data-asset="([^"]+)"', review))
    assert len(ids) == FUZZY
    token = csrf_from(review)
    refused = tech.post(f"/recalls/matches/{ids['RC-18']}/reject", data={"csrf_token": token, "note": ""})
    assert refused.status_code == 400 and "reason: is required" in refused.text
    done = tech.post(f"/recalls/matches/{ids['RC-20']}/confirm", data={"csrf_token": token, "note": "Same pump"})
    assert done.status_code == 303
    assert "RC-20 confirmed: work order" in tech.get(done.headers["Location"]).text
    assert tech.post(f"/recalls/matches/{ids['RC-18']}/reject", data={"csrf_token": token, "note": "Other frame"}
                     ).status_code == 303
    assert _orders(web) == EXACT + 1
    again = _finish(web, _upload(manager, FILE.read_bytes()))
    assert again.result.summary.startswith("60 records: 0 new recalls, 55 already known, 5 refused; 0 assets")
    assert _orders(web) == EXACT + 1
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(language="fr"))
    french = manager.get("/recalls").text
    assert "Rappels et avis de sécurité" in french and "correspondances à examiner" in french


def test_a_notice_is_entered_with_the_form_and_bad_input_keeps_what_was_typed(web):
    _registered(web)
    manager = web.client("manager")
    form = manager.get("/recalls/notices/new")
    data = {"csrf_token": csrf_from(form.text), "regulator": "ANSM", "reference": "R2026-17",
            "recalling_firm": "Masimo", "product_description": "Radical-7 oxymètre", "product_code": "12"}
    bad = manager.post("/recalls/notices/new", data=data)
    assert bad.status_code == 400 and "product_code: must be an FDA product code" in bad.text and "R2026-17" in bad.text
    good = manager.post("/recalls/notices/new", data={**data, "product_code": ""})
    assert good.status_code == 303
    page = manager.get(good.headers["Location"]).text
    assert "Notice R2026-17 recorded: 3 assets linked, 0 to review." in page
    assert web.client("nurse").get("/recalls").status_code == 403
    assert web.client("viewer").get("/recalls/notices/new").status_code == 403
    assert web.client("pharmtech").post("/recalls/import", data={}).status_code in (400, 403)


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_imports_twice_reviews_and_takes_notices(web):
    _registered(web)
    client, auth = web.app.test_client(), _token(web, "manager")
    first = client.post("/api/v1/recalls/imports", headers=auth, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(FILE.read_bytes()), "recall.json")})
    assert first.status_code == 201, first.text
    body = first.get_json()
    assert (body["new_recalls"], body["work_orders"], body["to_review"], body["refused"]) == (53, EXACT, FUZZY, 5)
    assert body["refused_records"][3] == "record 46: record: must be a JSON object, got str"
    second = client.post("/api/v1/recalls/imports", headers=auth, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(FILE.read_bytes()), "recall.json")}).get_json()
    assert (second["new_recalls"], second["known_recalls"], second["work_orders"]) == (0, 55, 0)
    queue = client.get("/api/v1/recalls/review", headers=auth).get_json()
    assert len(queue) == FUZZY
    first_id = queue[0]["id"]
    assert client.post(f"/api/v1/recall-matches/{first_id}/reject", headers=auth, json={}).status_code == 400
    confirmed = client.post(f"/api/v1/recall-matches/{first_id}/confirm", headers=auth, json={"note": "yes"})
    assert confirmed.status_code == 200 and confirmed.get_json()["work_order"].startswith("WO-")
    assert client.post(f"/api/v1/recall-matches/{first_id}/confirm", headers=auth).status_code == 400
    board = client.get("/api/v1/recalls/dashboard", headers=auth).get_json()
    assert (board["linked"], board["done"], board["to_review"]) == (EXACT + 1, 0, FUZZY - 1)
    notice = client.post("/api/v1/recalls/notices", headers=auth, json={
        "regulator": "MHRA", "reference": "MDA/2026/004", "recalling_firm": "ZOLL Medical Corporation",
        "product_description": "AED Plus: replace the battery pack"})
    assert notice.status_code == 201 and [m["asset_tag"] for m in notice.get_json()["matches"]] == ["RC-11"]
    listed = client.get("/api/v1/recalls?status=all", headers=auth).get_json()
    assert len(listed) == 54
    assert client.get("/api/v1/recalls?status=nope", headers=auth).status_code == 400
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(RecallMatch)) == EXACT + FUZZY + 1
