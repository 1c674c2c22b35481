"""Alert rules changed in the UI and the JSON API: validation identical to the rules file's,
audit rows, permissions, export and import, and rules engines in other processes applying a
change from their next reading without a restart."""

from __future__ import annotations

import io
import json
import tomllib

import pytest
from relational_support import clock, csrf_from, web
from rules_support import alerts, point
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.rules import RulesEngine, RuleDefinitionError, editing, load_rules_file
from wardlink.hub.rules.spec import parse_rules

FRIDGE = {"name": "fridge-warm", "kind": "threshold", "severity": "critical",
          "match": {"metric": "temperature", "asset": "VF-0001"}, "above": 8.0}


class Client:
    """A signed-in test client that sends its CSRF token with every change."""

    def __init__(self, web, username):
        self.client = web.client(username)
        self.token = csrf_from(self.client.get("/").text)

    def __getattr__(self, method):
        call = getattr(self.client, method)
        if method in ("post", "put", "patch", "delete"):
            return lambda url, **kw: call(url, headers={"X-CSRF-Token": self.token}, **kw)
        return call


def file_error(tmp_path, entry) -> str:
    """Return what loading a rules file holding ``entry`` says is wrong with it."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"rules": [entry]}))
    with pytest.raises(RuleDefinitionError) as caught:
        load_rules_file(path)
    return str(caught.value)


def _json(text):
    return None if text is None else json.loads(text)


def audit_rows(web, action_prefix="rule."):
    with session_scope(web.engine, readonly=True) as s:
        return [(a.action, a.actor, _json(a.before_json), _json(a.after_json)) for a in
                s.scalars(select(AuditLog).where(AuditLog.action.startswith(action_prefix)).order_by(AuditLog.seq))]


def test_a_manager_creates_changes_disables_and_enables_a_rule_over_the_api_each_change_audited(web):
    manager = Client(web, "manager")
    created = manager.post("/api/v1/rules", json={**FRIDGE, "for_s": 300})
    assert created.status_code == 201, created.text
    body = created.json
    assert (body["name"], body["kind"], body["severity"], body["enabled"], body["source"]) == \
        ("fridge-warm", "threshold", "critical", True, "ui")
    assert body["definition"]["above"] == 8.0 and body["definition"]["for_s"] == 300.0
    assert manager.get("/api/v1/rules/fridge-warm").json["definition"] == body["definition"]
    assert [r["name"] for r in manager.get("/api/v1/rules").json["items"]] == ["fridge-warm"]

    changed = manager.put("/api/v1/rules/fridge-warm", json={**FRIDGE, "above": 7.5, "for_s": 300})
    assert changed.status_code == 200, changed.text
    assert changed.json["definition"]["above"] == 7.5
    assert manager.post("/api/v1/rules/fridge-warm/disable").json["enabled"] is False
    assert manager.post("/api/v1/rules/fridge-warm/enable").json["enabled"] is True

    rows = audit_rows(web)
    assert [(a, who) for a, who, _, _ in rows] == [("rule.create", "manager"), ("rule.update", "manager"),
                                                  ("rule.disable", "manager"), ("rule.enable", "manager")]
    assert rows[0][3]["name"] == "fridge-warm" and rows[0][3]["params"]["above"] == 8.0
    assert rows[1][2:] == ({"params": {**rows[0][3]["params"]}},
                           {"params": {**rows[0][3]["params"], "above": 7.5}})
    assert rows[2][2:] == ({"enabled": True}, {"enabled": False})


@pytest.mark.parametrize("entry", [
    {**FRIDGE, "above": "eight"},
    {**FRIDGE, "below": 9.0},
    {**FRIDGE, "name": "bad name!"},
    {**FRIDGE, "kind": "no_such_kind"},
    {**FRIDGE, "kind": ["threshold"]},
    {**FRIDGE, "severity": "urgent"},
    {**FRIDGE, "match": {"colour": "red"}},
    {**FRIDGE, "escalate": [{"after_s": -5, "notify": ["biomed"]}]},
    {**FRIDGE, "work_order": {"priority": "whenever"}},
    {**FRIDGE, "forr_s": 300},
])
def test_the_api_refuses_a_bad_rule_with_the_rules_files_own_message_and_stores_nothing(web, tmp_path, entry):
    manager = Client(web, "manager")
    refused = manager.post("/api/v1/rules", json=entry)
    assert refused.status_code == 400, refused.text
    error = refused.json["error"]
    assert error["message"] == file_error(tmp_path, entry)
    assert error["code"] == "invalid_rule"
    key = error["message"].split("]", 1)[1].lstrip(".").split(":")[0].split(".")[0].split("[")[0]
    assert error["field"] == (key or None)
    assert manager.get("/api/v1/rules").json["items"] == [] and audit_rows(web) == []


def test_a_rule_keeps_its_name_and_kind_and_a_second_rule_may_not_take_a_name(web):
    manager = Client(web, "manager")
    assert manager.post("/api/v1/rules", json=FRIDGE).status_code == 201
    again = manager.post("/api/v1/rules", json=FRIDGE)
    assert again.status_code == 400 and "already exists" in again.json["error"]["message"]
    assert again.json["error"]["field"] == "name"
    kind = manager.put("/api/v1/rules/fridge-warm", json={**FRIDGE, "kind": "rate_of_change"})
    assert kind.status_code == 400 and kind.json["error"]["field"] == "kind"
    assert manager.put("/api/v1/rules/nope", json=FRIDGE).status_code == 404


@pytest.mark.parametrize("role_user", ["tech", "nurse", "viewer"])
def test_only_managers_and_admins_change_rules_others_only_read_them(web, role_user):
    Client(web, "admin").post("/api/v1/rules", json=FRIDGE)
    other = Client(web, role_user)
    assert other.get("/api/v1/rules").status_code == 200
    refused = other.post("/api/v1/rules", json={**FRIDGE, "name": "other"})
    assert refused.status_code == 403 and "alert rules" in refused.json["error"]["message"]
    assert other.post("/api/v1/rules/fridge-warm/disable").status_code == 403
    page = other.client.get("/rules")
    assert page.status_code == 200 and "New rule" not in page.text and "fridge-warm" in page.text
    assert other.client.get("/rules/new").status_code == 403


def test_the_form_shows_the_files_message_at_the_field_keeps_the_input_and_creates_a_valid_rule(web, tmp_path):
    manager = Client(web, "manager")
    form = manager.client.get("/rules/new?kind=threshold")
    assert form.status_code == 200 and 'name="param.above"' in form.text and 'name="match.metric"' in form.text
    data = {"csrf_token": csrf_from(form.text), "kind": "threshold", "name": "fridge-warm", "severity": "critical",
            "enabled": "on", "match.metric": "temperature", "match.asset": "VF-0001",
            "param.above": "8", "param.below": "9", "param.for_s": "300"}
    refused = manager.client.post("/rules/new", data=data)
    assert refused.status_code == 400
    message = file_error(tmp_path, {**FRIDGE, "below": 9, "for_s": 300})
    assert message == "rules[fridge-warm].below: must be less than above (8), got 9"
    assert f'<p class="field-error" id="below-error">{message}</p>' in refused.text
    assert 'id="param-below"' in refused.text and 'aria-describedby="below-error"' in refused.text
    assert 'value="fridge-warm"' in refused.text  # nothing typed is lost
    data["param.below"] = "2"
    created = manager.client.post("/rules/new", data=data)
    assert created.status_code == 303, created.text
    listing = manager.client.get("/rules").text
    assert "fridge-warm" in listing and "above=8" in listing and "created" in listing

    edit = manager.client.get("/rules/fridge-warm/edit")
    assert 'value="8"' in edit.text and 'value="2"' in edit.text
    saved = manager.client.post("/rules/fridge-warm/edit", data={**data, "param.above": "7.5",
                                                                  "csrf_token": csrf_from(edit.text)})
    assert saved.status_code == 303
    disabled = manager.client.post("/rules/fridge-warm/enabled", data={"enabled": "0", "csrf_token": manager.token})
    assert disabled.status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        row = s.scalar(select(Rule).where(Rule.name == "fridge-warm"))
        assert (row.params["above"], row.params["below"], row.enabled) == (7.5, 2.0, False)
    assert [a for a, *_ in audit_rows(web)] == ["rule.create", "rule.update", "rule.disable"]


def test_export_writes_a_rules_file_that_loads_and_import_applies_it_as_one_audited_change(web, tmp_path):
    manager = Client(web, "manager")
    manager.post("/api/v1/rules", json={**FRIDGE, "escalate": [{"after_s": 900, "notify": ["biomed"]}],
                                        "notify": ["biomed"], "work_order": {"priority": "high"},
                                        "title": 'Fridge "{subject}"'})
    manager.post("/api/v1/rules", json={"name": "icu-offline", "kind": "gateway_offline",
                                        "match": {"ward": ["ICU", "NICU"]}, "enabled": False})
    exported = manager.client.get("/rules/export")
    assert exported.status_code == 200 and exported.mimetype == "application/toml"
    document = tomllib.loads(exported.text)
    assert [r["name"] for r in document["rules"]] == ["fridge-warm", "icu-offline"]
    assert document["rules"][0]["title"] == 'Fridge "{subject}"'
    path = tmp_path / "rules.toml"
    path.write_text(exported.text + '\n[notifiers.biomed]\ntype = "webhook"\nurl = "http://127.0.0.1:9/"\n')
    reloaded = load_rules_file(path)
    with session_scope(web.engine, readonly=True) as s:
        stored = [editing.validate(editing.entry_of(r)) for r in editing.list_rules(s, actor=None)]
    assert sorted(reloaded.rules, key=lambda r: r.name) == sorted(stored, key=lambda r: r.name)

    # a file with one bad rule changes nothing
    bad = exported.text.replace("above = 8.0", "above = 8.0\nbelow = 12.0")
    refused = manager.client.post("/rules/import", data={"csrf_token": manager.token,
                                                         "file": (io.BytesIO(bad.encode()), "rules.toml")},
                                  follow_redirects=True)
    assert "Import refused, nothing changed: rules[fridge-warm].below: must be less than above (8), got 12" \
        in refused.text
    assert [a for a, *_ in audit_rows(web)] == ["rule.create", "rule.create"]

    changed = exported.text.replace("above = 8.0", "above = 6.0")
    applied = manager.client.post("/rules/import", data={"csrf_token": manager.token,
                                                         "file": (io.BytesIO(changed.encode()), "rules.toml")},
                                  follow_redirects=True)
    assert "Imported rules.toml: 0 created, 2 updated, 0 disabled, 0 unchanged." in applied.text  # both now come from a file
    rows = audit_rows(web)
    assert [a for a, *_ in rows][2:] == ["rule.update", "rule.update", "rule.import"]
    assert rows[2][2:] == ({"params": {**rows[0][3]["params"]}}, {"params": {**rows[0][3]["params"], "above": 6.0}})
    assert rows[-1][3] == {"created": [], "updated": ["fridge-warm", "icu-offline"], "disabled": [], "unchanged": 0}
    assert manager.get("/api/v1/rules/fridge-warm").json["definition"]["above"] == 6.0
    api = manager.post("/api/v1/rules/import", json={"rules": [{**FRIDGE, "above": 5.0}]})
    assert api.status_code == 200 and api.json["updated"] == ["fridge-warm"], api.text
    assert manager.get("/api/v1/rules/export").text.count("[[rules]]") == 2
    empty = manager.post("/api/v1/rules/import", json={})
    assert empty.status_code == 400 and empty.json["error"]["message"].startswith("rules: missing")


def test_a_rule_created_over_the_api_fires_on_the_next_reading_in_every_running_engine(web):
    clock = web.clock
    first, second = RulesEngine(web.engine, clock=clock), RulesEngine(web.engine, clock=clock)
    now = round(clock.now() * 1000)
    assert first.on_points([point("fridge1.temp", now, 12.0)]).opened == 0  # no rule yet; rules now cached
    assert second.on_points([point("fridge1.temp", now, 12.0)]).opened == 0
    manager = Client(web, "manager")
    assert manager.post("/api/v1/rules", json=FRIDGE).status_code == 201
    # the same instant (no refresh interval passed): the next reading is judged by the new rule
    assert second.on_points([point("fridge1.temp", now + 1000, 12.5)]).opened == 1
    [(alert, _)] = alerts(web.engine, "fridge-warm")
    assert (alert.state, alert.value) == ("open", 12.5)
    assert [r.name for r in first.rules()] == ["fridge-warm"]
    # a change within the same clock instant (same updated_at) is noticed too
    assert manager.put("/api/v1/rules/fridge-warm", json={**FRIDGE, "above": 20.0}).status_code == 200
    assert first.rules()[0].evaluator.above == 20.0
    assert manager.post("/api/v1/rules/fridge-warm/disable").status_code == 200
    assert first.rules() == [] and second.rules() == []


def test_sync_from_a_file_bumps_the_generation_too(web):
    from wardlink.hub.rules import generation, sync_rules

    with session_scope(web.engine) as s:
        before = generation.current(s)
        sync_rules(s, parse_rules({"rules": [FRIDGE]}).rules)
        assert generation.current(s) == before + 1
        sync_rules(s, parse_rules({"rules": [FRIDGE]}).rules)  # nothing changed
        assert generation.current(s) == before + 1


# --------------------------------------------------------------------------- preview

MINUTE_MS, DAY_MS = 60_000, 86_400_000


def fridge_history(web) -> None:
    """Eight days of one reading a minute from the ICU fridge: 5 degC, with four warm spells
    (9 degC) 7.5 days ago (outside a 7-day preview), 5 days ago for 20 minutes, 3 days ago for
    one reading and 1 day ago for an hour."""
    now = round(web.clock.now() * 1000)
    start = now - 8 * DAY_MS
    spells = [(now - round(7.5 * DAY_MS), 30), (now - 5 * DAY_MS, 20), (now - 3 * DAY_MS, 1), (now - DAY_MS, 60)]
    points = []
    for i in range(8 * 24 * 60):
        ts = start + i * MINUTE_MS
        warm = any(begin <= ts < begin + n * MINUTE_MS for begin, n in spells)
        points.append(point("fridge1.temp", ts, 9.0 if warm else 5.0))
    points.append(point("room.temp", now - DAY_MS, 30.0))  # not the fridge: never counted
    web.store.write(points)


def test_a_preview_counts_what_the_rule_would_have_raised_over_the_last_days_and_saves_nothing(web):
    fridge_history(web)
    manager = Client(web, "manager")
    answer = manager.post("/api/v1/rules/preview?days=7", json=FRIDGE)
    assert answer.status_code == 200, answer.text
    body = answer.json
    assert (body["fired"], body["series"], body["points"]) == (3, 1, 7 * 24 * 60)
    assert body["by_subject"] == {"asset:VF-0001": 3}
    assert [e["at"][:10] for e in body["episodes"]] == ["2025-12-27", "2025-12-29", "2025-12-31"]
    assert body["episodes"][0]["value"] == 9.0
    # for 15 minutes: the single warm reading no longer counts
    assert manager.post("/api/v1/rules/preview", json={**FRIDGE, "for_s": 900}).json["fired"] == 2
    assert manager.post("/api/v1/rules/preview?days=8", json=FRIDGE).json["fired"] == 4
    # a stored rule, and nothing of the replay was written
    manager.post("/api/v1/rules", json={**FRIDGE, "for_s": 900})
    assert manager.get("/api/v1/rules/fridge-warm/preview").json["fired"] == 2
    assert alerts(web.engine) == []
    page = manager.client.get("/rules/fridge-warm/preview?days=7")
    assert page.status_code == 200 and "Would have fired <strong>2</strong> times" in page.text
    form = manager.client.post("/rules/new", data={
        "csrf_token": manager.token, "kind": "threshold", "name": "fridge-warm-2", "match.asset": "VF-0001",
        "match.metric": "temperature", "param.above": "8", "days": "7", "action": "preview"})
    assert form.status_code == 200 and "Would have fired <strong>3</strong> times in the last 7 days" in form.text
    assert [r["name"] for r in manager.get("/api/v1/rules").json["items"]] == ["fridge-warm"]


def test_a_preview_refuses_too_long_a_range_too_many_readings_and_kinds_without_history(web):
    from wardlink.hub.rules import preview as previews

    fridge_history(web)
    manager = Client(web, "manager")
    long = manager.post("/api/v1/rules/preview?days=60", json=FRIDGE)
    assert long.status_code == 400
    assert long.json["error"]["message"] == "days: 60 days is too long a range to replay; a preview covers at most 31 days"
    assert manager.post("/api/v1/rules/preview?days=soon", json=FRIDGE).status_code == 400
    offline = manager.post("/api/v1/rules/preview", json={"name": "gw", "kind": "gateway_offline"})
    assert offline.status_code == 400 and "not stored as history" in offline.json["error"]["message"]
    bad = manager.post("/api/v1/rules/preview", json={**FRIDGE, "below": 9.0})
    assert bad.json["error"]["message"] == "rules[fridge-warm].below: must be less than above (8), got 9"
    with session_scope(web.engine, readonly=True) as s:
        spec = editing.validate(FRIDGE)
        with pytest.raises(previews.PreviewTooLarge, match="more than 1000 readings"):
            previews.preview(s.connection(), web.store, spec, days=7, actor=None, clock=web.clock, max_points=1000)
        with pytest.raises(previews.PreviewTooLarge, match="selects 1 channels; a preview reads at most 0"):
            previews.preview(s.connection(), web.store, spec, days=7, actor=None, clock=web.clock, max_series=0)


def test_the_command_line_exports_the_rules_made_in_the_ui_and_syncs_them_back(web, tmp_path, monkeypatch):
    from wardlink.hub.cli import main

    Client(web, "manager").post("/api/v1/rules", json={**FRIDGE, "for_s": 300})
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "{web.config.database_url}"\ndata_dir = "{tmp_path}"\n')
    exported = tmp_path / "exported.toml"
    assert main(["--config", str(config), "rules", "export", str(exported)]) == 0
    assert [r.name for r in load_rules_file(exported).rules] == ["fridge-warm"]
    exported.write_text(exported.read_text().replace("for_s = 300", "for_s = 600"))
    assert main(["--config", str(config), "rules", "sync", str(exported)]) == 0
    with session_scope(web.engine, readonly=True) as s:
        row = s.scalar(select(Rule).where(Rule.name == "fridge-warm"))
        assert (row.params["for_s"], row.source) == (600, "file")


@pytest.mark.parametrize("escalate", [True, "biomed", {"after_s": 900}, 3])
def test_an_import_whose_escalate_is_not_a_list_is_refused_with_a_400_not_a_server_error(web, escalate):
    manager = Client(web, "manager")
    answer = manager.post("/api/v1/rules/import", json={"rules": [{**FRIDGE, "escalate": escalate,
                                                                  "notify": "biomed"}]})
    assert answer.status_code == 400, answer.text
    assert "escalate" in answer.json["error"]["message"]
    assert audit_rows(web) == []
