"""Rule files are validated once, with errors naming the rule and key, and synced into the rules table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from relational_support import clock, engine
from rules_support import make_engine, point
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.rules import RuleDefinitionError, load_rules_file, parse_rules, sync_rules
from wardlink.hub.rules.spec import RuleSpec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hub.md"

RULES_TOML = """
[notifiers.biomed]
type = "email"
host = "smtp.hospital.example"
sender = "wardlink@hospital.example"
to = ["biomed@hospital.example"]

[[rules]]
name = "fridge-high"
kind = "threshold"
severity = "critical"
match = { metric = "temperature", category = ["Medical refrigerator"] }
above = 8.0
for_s = 300
hysteresis = 0.5
notify = ["biomed"]
escalate = [{ after_s = 900, notify = ["biomed"], severity = "critical" }]
work_order = { priority = "high" }

[[rules]]
name = "gateway-down"
kind = "gateway_offline"
"""


def test_a_toml_rules_file_gives_validated_rules_and_notifier_tables(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES_TOML)
    ruleset = load_rules_file(path)
    fridge, gateway = ruleset.rules
    assert (fridge.name, fridge.kind, fridge.severity) == ("fridge-high", "threshold", "critical")
    assert fridge.match == {"metric": ("temperature",), "category": ("Medical refrigerator",)}
    assert fridge.params == {"above": 8.0, "for_s": 300, "hysteresis": 0.5}
    assert fridge.escalate[0].after_s == 900 and fridge.work_order == {"priority": "high", "title": ""}
    assert (gateway.severity, gateway.evaluator().for_s) == ("critical", 60.0)  # the kind's defaults
    assert ruleset.notifiers["biomed"]["type"] == "email"
    json_path = tmp_path / "rules.json"
    json_path.write_text(json.dumps({"rules": [{"name": "x", "kind": "battery_low"}]}))
    [battery] = load_rules_file(json_path).rules
    assert battery.match == {"metric": ("battery",)} and battery.severity == "warning"


@pytest.mark.parametrize("rule, message", [
    ({"kind": "threshold", "above": 1}, r"rules\[0\].name: must match"),
    ({"name": "a b", "kind": "threshold"}, r"rules\[0\].name: must match"),
    ({"name": "r", "kind": "thresold"}, r"rules\[r\].kind: must be one of battery_low, channel_silent"),
    ({"name": "r", "kind": "threshold", "above": 1, "severity": "urgent"},
     r"rules\[r\].severity: must be one of info, warning, critical, got 'urgent'"),
    ({"name": "r", "kind": "threshold", "above": 1, "match": {"colour": "red"}},
     r"rules\[r\].match: unknown key\(s\) colour for kind 'threshold'; allowed: metric, asset"),
    ({"name": "r", "kind": "gateway_offline", "match": {"metric": "x"}},
     r"rules\[r\].match: unknown key\(s\) metric for kind 'gateway_offline'; allowed: gateway, ward"),
    ({"name": "r", "kind": "threshold", "above": 1, "notify": ["pager"]},
     r"rules\[r\].notify: no notifier named 'pager'; defined: none"),
    ({"name": "r", "kind": "threshold", "above": 1, "escalate": [{"after_s": 600, "notify": []}]},
     r"rules\[r\].escalate\[0\].notify: must name at least one notifier"),
    ({"name": "r", "kind": "threshold", "above": 1, "work_order": {"priority": "asap"}},
     r"rules\[r\].work_order.priority: must be one of low, medium, high, critical"),
    ({"name": "r", "kind": "run_hours", "above": 1, "work_order": True},
     r"rules\[r\]: kind 'run_hours' opens no alerts"),
    ({"name": "r", "kind": "channel_silent", "factor": 0.5}, r"rules\[r\].factor: must be >= 1"),
])
def test_invalid_rules_are_refused_with_the_rule_and_key_named(rule, message):
    with pytest.raises(RuleDefinitionError, match=message):
        parse_rules({"rules": [rule]})


def test_escalation_steps_must_go_forward_in_time():
    doc = {"notifiers": {"n": {"type": "webhook"}},
           "rules": [{"name": "r", "kind": "threshold", "above": 1,
                      "escalate": [{"after_s": 900, "notify": ["n"]}, {"after_s": 600, "notify": ["n"]}]}]}
    with pytest.raises(RuleDefinitionError, match=r"escalate\[1\].after_s: must be a number of seconds greater "
                                                  r"than 900"):
        parse_rules(doc)


def test_duplicate_names_and_unknown_sections_are_refused(tmp_path):
    with pytest.raises(RuleDefinitionError, match="duplicate rule name 'r'"):
        parse_rules({"rules": [{"name": "r", "kind": "gateway_offline"}] * 2})
    with pytest.raises(RuleDefinitionError, match="unknown key\\(s\\) rule; allowed: rules, notifiers"):
        parse_rules({"rule": []})
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\nname = ")
    with pytest.raises(RuleDefinitionError, match="rules file .*bad.toml"):
        load_rules_file(bad)
    with pytest.raises(RuleDefinitionError, match="cannot read rules file"):
        load_rules_file(tmp_path / "missing.toml")


def test_sync_creates_updates_and_disables_rules_and_audits_each_change(engine, clock):
    first = parse_rules({"rules": [{"name": "a", "kind": "threshold", "above": 8},
                                   {"name": "b", "kind": "gateway_offline"}]})
    with session_scope(engine) as s:
        report = sync_rules(s, first.rules, clock=clock)
    assert (report.created, report.updated, report.disabled) == (["a", "b"], [], [])
    second = parse_rules({"rules": [{"name": "a", "kind": "threshold", "above": 9}]})
    clock.advance(60)
    with session_scope(engine) as s:
        report = sync_rules(s, second.rules, clock=clock)
        assert (report.updated, report.disabled) == (["a"], ["b"])
        assert sync_rules(s, second.rules, clock=clock).unchanged == ["a"]
        rows = {r.name: r for r in s.scalars(select(Rule))}
        assert rows["a"].params == {"above": 9} and not rows["b"].enabled
        assert RuleSpec.from_row(rows["a"]).evaluator().above == 9.0
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity == "rule").order_by(AuditLog.seq)).all()
    assert actions == ["rule.create", "rule.create", "rule.update", "rule.disable"]


def test_the_engine_picks_up_edited_rules_after_a_reload(engine, clock):
    rules = make_engine(engine, clock, [{"name": "a", "kind": "threshold", "above": 20,
                                         "match": {"metric": "temperature"}}])
    t = round(clock.now() * 1000)
    assert rules.on_points([point("fridge1.temp", t, 9.0)]).opened == 0
    with session_scope(engine) as s:
        sync_rules(s, parse_rules({"rules": [{"name": "a", "kind": "threshold", "above": 8,
                                              "match": {"metric": "temperature"}}]}).rules, clock=clock)
    rules.reload()
    assert rules.on_points([point("fridge1.temp", t + 1000, 9.0)]).opened == 1


def _doc_blocks(language: str) -> list[str]:
    text = DOCS.read_text()
    section = text[text.index("## Rules and alerts"):]
    following = re.search(r"\n## (?!Rules and alerts)", section[3:])
    if following:
        section = section[:following.start() + 3]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_every_rule_example_in_the_docs_validates():
    import tomllib

    blocks = _doc_blocks("toml")
    assert len(blocks) >= 9
    kinds = set()
    notifiers = {}
    for block in blocks:
        doc = tomllib.loads(block)
        notifiers.update(doc.get("notifiers", {}))
    for block in blocks:
        doc = tomllib.loads(block)
        ruleset = parse_rules({"rules": doc.get("rules", []), "notifiers": notifiers})
        kinds.update(r.kind for r in ruleset.rules)
    for block in _doc_blocks("json"):
        kinds.update(r.kind for r in parse_rules({**json.loads(block), "notifiers": notifiers}).rules)
    from wardlink.hub.db.models.rules import RULE_KINDS
    assert kinds == set(RULE_KINDS), f"kinds without an example: {set(RULE_KINDS) - kinds}"
