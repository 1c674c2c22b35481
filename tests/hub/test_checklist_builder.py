"""The checklist template builder: items of every kind are added, moved, removed and saved from
the page (each button posts the draft back), a refused item is marked with nothing lost, saving
new items makes a new version, and the same template serves several plans."""

from __future__ import annotations

import json
import re

import pytest
from relational_support import clock, csrf_from, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, ChecklistTemplate
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance import checklists, pm

def _row(i, label, kind="pass_fail", unit="", low="", high="", required=True, safety=False, key=""):
    data = {f"items-{i}-key": key, f"items-{i}-label": label, f"items-{i}-kind": kind, f"items-{i}-unit": unit,
            f"items-{i}-low": low, f"items-{i}-high": high}
    if required:
        data[f"items-{i}-required"] = "on"
    if safety:
        data[f"items-{i}-safety"] = "on"
    return data


def _labels(html: str) -> list[str]:
    return re.findall(r'name="items-\d+-label" maxlength="300" value="([^"]*)"', html)


def test_a_manager_builds_a_five_item_checklist_moving_and_removing_items(web):
    client = web.client("manager")
    token = csrf_from(client.get("/maintenance/checklists/new").text)
    draft = {"csrf_token": token, "name": "Defibrillator quarterly", "description": "IEC 60601 checks",
             **_row(0, "Shock delivered within 10 %"), **_row(1, "Remove me")}
    page = client.post("/maintenance/checklists/new", data={**draft, "op": "add"})
    assert page.status_code == 200 and _labels(page.text) == ["Shock delivered within 10 %", "Remove me", ""]
    draft.update({**_row(2, "Earth leakage current", "value", "uA", "", "500", safety=True),
                  **_row(3, "Photo of the serial plate", "photo"), **_row(4, "Remarks", "text", required=False),
                  **_row(5, "Battery capacity", "value", "%", "80", "")})
    page = client.post("/maintenance/checklists/new", data={**draft, "op": "remove-1"})
    assert _labels(page.text) == ["Shock delivered within 10 %", "Earth leakage current",
                                  "Photo of the serial plate", "Remarks", "Battery capacity"]
    assert 'value="Defibrillator quarterly"' in page.text and "IEC 60601 checks" in page.text
    shown = {k: v for k, v in draft.items() if not k.startswith("items-")}
    rows = [_row(0, "Shock delivered within 10 %"), _row(1, "Earth leakage current", "value", "uA", "", "500", safety=True),
            _row(2, "Photo of the serial plate", "photo"), _row(3, "Remarks", "text", required=False),
            _row(4, "Battery capacity", "value", "%", "80", "")]
    data = {**shown, **{k: v for r in rows for k, v in r.items()}}
    page = client.post("/maintenance/checklists/new", data={**data, "op": "up-4"})
    assert _labels(page.text)[3:] == ["Battery capacity", "Remarks"]
    response = client.post("/maintenance/checklists/new", data={**data, "op": "save"})
    assert response.status_code == 303, response.text
    with session_scope(web.engine, readonly=True) as s:
        template = s.scalars(select(ChecklistTemplate)).one()
        items = checklists.current_version(s, template).items
    assert [(i["key"], i["kind"]) for i in items] == [
        ("shock_delivered_within_10", "pass_fail"), ("earth_leakage_current", "value"),
        ("photo_of_the_serial_plate", "photo"), ("remarks", "text"), ("battery_capacity", "value")]
    assert (items[1]["unit"], items[1]["low"], items[1]["high"], items[1]["safety"]) == ("uA", None, 500, True)
    assert (items[2]["required"], items[2]["corrective"], items[3]["required"]) == (True, False, False)
    page = client.get(response.headers["Location"]).text
    assert "saved as version 1" in page and _labels(page) == [i["label"] for i in items]
    [row] = web_audit(web, "checklist.create")
    assert row.actor == "manager" and len(json.loads(row.after_json)["items"]) == 5


def web_audit(web, action):
    with session_scope(web.engine, readonly=True) as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == action)))
        s.expunge_all()
        return rows


def test_a_refused_item_is_marked_and_an_edit_makes_a_new_version_shared_by_every_plan(web):
    with session_scope(web.engine) as s:
        template = checklists.create_template(s, name="Fridge checks", actor=None, clock=web.clock,
                                              items=[{"label": "Door seal intact", "kind": "pass_fail"}])
        for tag in ("VF-0001", "VF-0002"):
            pm.create_plan(s, {"name": f"Fridge {tag}", "asset_tag": tag, "trigger": "calendar",
                               "interval_count": 6, "interval_unit": "month", "checklist_template_id": template.id},
                           actor=None, clock=web.clock)
        template_id = template.id
    client = web.client("manager")
    url = f"/maintenance/checklists/{template_id}"
    page = client.get(url).text
    assert "Fridge VF-0001" in page and "Fridge VF-0002" in page
    base = {"csrf_token": csrf_from(page), "name": "Fridge checks", "description": "",
            **_row(0, "Door seal intact", key="door_seal_intact")}
    bad = client.post(url, data={**base, **_row(1, "Temperature", "value", "°C", "8", "2"), "op": "save"})
    assert bad.status_code == 400
    assert 'id="items-1-error">items[1].low: must not exceed high (2), got 8' in bad.text
    assert 'aria-describedby="items-1-error"' in bad.text and 'value="°C"' in bad.text
    good = client.post(url, data={**base, **_row(1, "Temperature", "value", "°C", "2", "8"), "op": "save"})
    assert good.status_code == 303
    assert "saved as version 2" in client.get(url).text
    with session_scope(web.engine, readonly=True) as s:
        template = s.get(ChecklistTemplate, template_id)
        assert template.current_version == 2 and len(checklists.current_version(s, template).items) == 2
        assert checklists.usage_counts(s) == {template_id: 2}
    assert "<td>2 plans</td>" in client.get("/maintenance/checklists").text


def test_only_managers_build_checklists_and_others_see_them_read_only(web):
    with session_scope(web.engine) as s:
        template_id = checklists.create_template(s, name="Fridge checks", actor=None, clock=web.clock,
                                                 items=[{"label": "Door seal intact", "kind": "pass_fail"}]).id
    client = web.client("tech")
    page = client.get(f"/maintenance/checklists/{template_id}").text
    assert "Door seal intact" in page and "Save checklist" not in page
    token = csrf_from(client.get("/account").text)
    assert client.get("/maintenance/checklists/new").status_code == 403
    response = client.post(f"/maintenance/checklists/{template_id}",
                           data={"csrf_token": token, "name": "Mine", **_row(0, "x"), "op": "save"})
    assert response.status_code == 403
    assert client.post("/maintenance/checklists/new", data={"name": "x", "op": "save"}).status_code == 400  # CSRF


def test_photo_items_and_keys_made_from_labels():
    items = checklists.parse_items([{"label": "Photo of the label", "kind": "photo"},
                                    {"label": "Photo of the label", "kind": "photo", "required": False},
                                    {"label": "12-lead ECG test", "kind": "pass_fail"}])
    assert [i["key"] for i in items] == ["photo_of_the_label", "photo_of_the_label_2", "item_12_lead_ecg_test"]
    assert (items[0]["required"], items[0]["corrective"]) == (True, False)
    with pytest.raises(InvalidInput, match=r"items\[0\].safety: a photo item never fails"):
        checklists.parse_items([{"label": "Photo", "kind": "photo", "safety": True}])
    done = checklists.evaluate(items, {"photo_of_the_label": {"attachment_id": 7}})
    assert [r["outcome"] for r in done.results] == ["pass", "missing", "missing"] and not done.complete
    with pytest.raises(InvalidInput, match=r"answers.photo_of_the_label.attachment_id: must be a numeric id"):
        checklists.evaluate(items, {"photo_of_the_label": {"attachment_id": "x"}})
