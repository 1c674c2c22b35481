"""Rule definitions: parsed from TOML or JSON, validated once, stored in the ``rules`` table.

A rules file holds ``[[rules]]`` entries and the ``[notifiers.<name>]`` targets they notify::

    [notifiers.biomed]
    type = "email"
    host = "smtp.hospital.example"
    sender = "wardlink@hospital.example"
    to = ["biomed@hospital.example"]

    [[rules]]
    name = "fridge-temperature-high"
    kind = "threshold"
    severity = "critical"
    match = { metric = "temperature", category = "Medical refrigerator" }
    above = 8.0
    for_s = 300
    hysteresis = 0.5
    notify = ["biomed"]
    escalate = [{ after_s = 900, notify = ["biomed"] }]
    work_order = { priority = "high" }

Keys other than the common ones below are the kind's parameters (see
:data:`wardlink.hub.rules.evaluators.EVALUATORS`). Every error names the rule and the key.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models.rules import Rule
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ALERT_SEVERITIES, WORK_ORDER_PRIORITIES
from wardlink.hub.errors import Message, Quantity
from wardlink.hub.i18n import N_
from wardlink.hub.rules import generation
from wardlink.hub.rules.errors import RuleDefinitionError
from wardlink.hub.rules.evaluators import EVALUATORS, Evaluator
from wardlink.hub.rules.evaluators.base import check_severity
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_clock
from wardlink.clock import Clock

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
#: Selector keys: a point's measurement (``metric``) and tags, plus the bound asset's category.
MATCH_KEYS = ("metric", "asset", "category", "ward", "site", "gateway", "channel")
#: Which selector keys make sense for each scope of rule.
SCOPE_MATCH_KEYS = {"channel": MATCH_KEYS, "gateway": ("gateway", "ward"), "asset": ()}
COMMON_KEYS = ("name", "kind", "severity", "title", "description", "enabled", "match", "notify",
               "escalate", "work_order")


@dataclass(frozen=True)
class EscalationStep:
    """Who to tell when an alert stays unacknowledged ``after_s`` seconds after opening."""

    after_s: float
    notify: tuple[str, ...]
    severity: str | None = None  # raise the alert's severity at this step


@dataclass(frozen=True)
class RuleSpec:
    """One validated rule definition."""

    name: str
    kind: str
    severity: str
    params: Mapping[str, Any] = field(default_factory=dict)
    match: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    enabled: bool = True
    notify: tuple[str, ...] = ()
    escalate: tuple[EscalationStep, ...] = ()
    work_order: Mapping[str, Any] | None = None

    def evaluator(self) -> Evaluator:
        """Return a fresh evaluator for this rule."""
        return EVALUATORS[self.kind](self.params, rule=self.name)

    def row_values(self) -> dict[str, Any]:
        """Return the ``rules`` columns this definition sets."""
        return {
            "kind": self.kind, "severity": self.severity, "title": self.title,
            "description": self.description, "enabled": self.enabled,
            "match": {k: list(v) for k, v in self.match.items()}, "params": dict(self.params),
            "notify": list(self.notify), "escalate": [_step_dict(s) for s in self.escalate],
            "work_order": dict(self.work_order) if self.work_order is not None else None,
        }

    @classmethod
    def from_row(cls, row: Rule) -> RuleSpec:
        """Rebuild (and re-validate) a definition from its stored row."""
        entry = {"name": row.name, "kind": row.kind, "severity": row.severity, "title": row.title,
                 "description": row.description, "enabled": row.enabled, "match": row.match or {},
                 "notify": row.notify or [], "escalate": row.escalate or [], **(row.params or {})}
        if row.work_order is not None:
            entry["work_order"] = row.work_order
        return parse_rule(entry)


@dataclass(frozen=True)
class RuleSet:
    """A parsed rules file: rule definitions and notifier target definitions."""

    rules: tuple[RuleSpec, ...]
    notifiers: Mapping[str, Mapping[str, Any]]


def _step_dict(step: EscalationStep) -> dict[str, Any]:
    d = asdict(step)
    d["notify"] = list(step.notify)
    if d["severity"] is None:
        del d["severity"]
    return d


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise RuleDefinitionError(N_("%(where)s: must be a string or a list of strings, got %(value)r"),
                                  where=where, value=value)
    return tuple(value)


def parse_rule(entry: Mapping[str, Any], index: int | None = None) -> RuleSpec:
    """Validate one rule entry and return its :class:`RuleSpec`."""
    label = f"rules[{index}]" if index is not None else "rules[?]"
    if not isinstance(entry, Mapping):
        raise RuleDefinitionError(N_("%(where)s: must be a table, got %(type)s"), where=label,
                                  type=type(entry).__name__)
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RuleDefinitionError(N_("%(where)s.name: must match %(pattern)s, got %(name)r"), where=label,
                                  pattern=NAME_RE.pattern, name=name)
    where = f"rules[{name}]"
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in EVALUATORS:
        raise RuleDefinitionError(N_("%(where)s.kind: must be one of %(choices)s, got %(kind)r"), where=where,
                                  choices=", ".join(sorted(EVALUATORS)), kind=kind)
    cls = EVALUATORS[kind]
    params = {k: v for k, v in entry.items() if k not in COMMON_KEYS}
    cls(params, rule=name)  # validates the parameters
    severity = check_severity(name, entry.get("severity", cls.default_severity))
    match_raw = entry.get("match", dict(cls.default_match))
    if not isinstance(match_raw, Mapping):
        raise RuleDefinitionError(N_("%(where)s.match: must be a table, got %(value)r"), where=where, value=match_raw)
    allowed = SCOPE_MATCH_KEYS[cls.scope]
    unknown = sorted(set(match_raw) - set(allowed))
    if unknown:
        raise RuleDefinitionError(N_("%(where)s.match: unknown key(s) %(unknown)s for kind %(kind)r; "
                                     "allowed: %(allowed)s"),
                                  where=where, unknown=", ".join(unknown), kind=kind,
                                  allowed=", ".join(allowed) or Message(N_("none")))
    match = {k: _strings(f"{where}.match.{k}", v) for k, v in match_raw.items()}
    for key in ("title", "description"):
        if not isinstance(entry.get(key, ""), str):
            raise RuleDefinitionError(N_("%(where)s.%(key)s: must be a string"), where=where, key=key)
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleDefinitionError(N_("%(where)s.%(key)s: must be true or false, got %(value)r"), where=where,
                                  key="enabled", value=enabled)
    notify = _strings(f"{where}.notify", entry.get("notify", []))
    escalate = _escalation(where, entry.get("escalate", []))
    work_order = _work_order(where, entry.get("work_order"))
    if (escalate or work_order) and not cls.raises:
        raise RuleDefinitionError(N_("%(where)s: kind %(kind)r opens no alerts, so it cannot escalate or open "
                                     "work orders"), where=where, kind=kind)
    return RuleSpec(name=name, kind=kind, severity=severity, params=params, match=match,
                    title=entry.get("title", ""), description=entry.get("description", ""),
                    enabled=enabled, notify=notify, escalate=escalate, work_order=work_order)


def _escalation(where: str, raw: Any) -> tuple[EscalationStep, ...]:
    if not isinstance(raw, (list, tuple)):
        raise RuleDefinitionError(N_("%(where)s.escalate: must be a list of steps, got %(value)r"), where=where,
                                  value=raw)
    steps, previous = [], 0.0
    for i, step in enumerate(raw):
        at = f"{where}.escalate[{i}]"
        if not isinstance(step, Mapping):
            raise RuleDefinitionError(N_("%(where)s: must be a table with after_s and notify"), where=at)
        unknown = sorted(set(step) - {"after_s", "notify", "severity"})
        if unknown:
            raise RuleDefinitionError(N_("%(where)s: unknown key(s) %(unknown)s; allowed: %(allowed)s"), where=at,
                                      unknown=", ".join(unknown), allowed="after_s, notify, severity")
        after = step.get("after_s")
        if isinstance(after, bool) or not isinstance(after, (int, float)) or not after > previous:
            raise RuleDefinitionError(N_("%(where)s.after_s: must be a number of seconds greater than %(previous)s "
                                         "(steps go in order), got %(value)r"), where=at,
                                      previous=Quantity(f"{previous:g}"), value=after)
        notify = _strings(f"{at}.notify", step.get("notify", []))
        if not notify:
            raise RuleDefinitionError(N_("%(where)s.notify: must name at least one notifier"), where=at)
        severity = step.get("severity")
        if severity is not None and severity not in ALERT_SEVERITIES:
            raise RuleDefinitionError(N_("%(where)s.%(key)s: must be one of %(choices)s, got %(value)r"), where=at,
                                      key="severity", choices=", ".join(ALERT_SEVERITIES), value=severity)
        steps.append(EscalationStep(float(after), notify, severity))
        previous = float(after)
    return tuple(steps)


def _work_order(where: str, raw: Any) -> Mapping[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, Mapping):
        raise RuleDefinitionError(N_("%(where)s.work_order: must be true or a table, got %(value)r"), where=where,
                                  value=raw)
    unknown = sorted(set(raw) - {"priority", "title", "auto_close"})
    if unknown:
        raise RuleDefinitionError(N_("%(where)s: unknown key(s) %(unknown)s; allowed: %(allowed)s"),
                                  where=f"{where}.work_order", unknown=", ".join(unknown),
                                  allowed="priority, title, auto_close")
    priority = raw.get("priority", "medium")
    if priority not in WORK_ORDER_PRIORITIES:
        raise RuleDefinitionError(N_("%(where)s.%(key)s: must be one of %(choices)s, got %(value)r"), where=where,
                                  key="work_order.priority", choices=", ".join(WORK_ORDER_PRIORITIES),
                                  value=priority)
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise RuleDefinitionError(N_("%(where)s.%(key)s: must be a string"), where=where, key="work_order.title")
    auto_close = raw.get("auto_close", False)
    if not isinstance(auto_close, bool):
        raise RuleDefinitionError(N_("%(where)s.%(key)s: must be true or false, got %(value)r"), where=where,
                                  key="work_order.auto_close", value=auto_close)
    # auto_close: the order closes itself when the condition clears and nobody logged work on it.
    return {"priority": priority, "title": title, **({"auto_close": True} if auto_close else {})}


def parse_rules(document: Mapping[str, Any]) -> RuleSet:
    """Validate a whole rules document (``rules`` list and ``notifiers`` table)."""
    if not isinstance(document, Mapping):
        raise RuleDefinitionError(N_("%(where)s: must be a table, got %(type)s"), where="rules file",
                                  type=type(document).__name__)
    unknown = sorted(set(document) - {"rules", "notifiers"})
    if unknown:
        raise RuleDefinitionError(N_("%(where)s: unknown key(s) %(unknown)s; allowed: %(allowed)s"),
                                  where="rules file", unknown=", ".join(unknown), allowed="rules, notifiers")
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RuleDefinitionError(N_("rules: must be a list of tables ([[rules]] in TOML)"))
    notifiers = document.get("notifiers", {})
    if not isinstance(notifiers, Mapping) or not all(isinstance(v, Mapping) for v in notifiers.values()):
        raise RuleDefinitionError(N_("notifiers: must be a table of tables ([notifiers.NAME] in TOML)"))
    specs, seen = [], set()
    for i, entry in enumerate(raw_rules):
        spec = parse_rule(entry, i)
        if spec.name in seen:
            raise RuleDefinitionError(N_("rules[%(index)s].name: duplicate rule name %(name)r"), index=i,
                                  name=spec.name)
        seen.add(spec.name)
        specs.append(spec)
        for target in (*spec.notify, *(t for s in spec.escalate for t in s.notify)):
            if target not in notifiers:
                raise RuleDefinitionError(N_("rules[%(rule)s].notify: no notifier named %(target)r; "
                                             "defined: %(defined)s"),
                                          rule=spec.name, target=target,
                                          defined=", ".join(sorted(notifiers)) or Message(N_("none")))
    return RuleSet(tuple(specs), {k: dict(v) for k, v in notifiers.items()})


def load_rules_file(path: str | Path) -> RuleSet:
    """Read and validate a rules file (``.toml`` or ``.json``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleDefinitionError(N_("cannot read rules file %(path)s: %(reason)s"), path=str(path),
                                  reason=exc.strerror or str(exc)) from None
    try:
        document = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RuleDefinitionError(N_("rules file %(path)s: %(reason)s"), path=str(path), reason=str(exc)) from None
    return parse_rules(document)


@dataclass
class SyncReport:
    """What :func:`sync_rules` changed, by rule name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def sync_rules(session: Session, specs: Sequence[RuleSpec], *, source: str = "file",
               actor: Actor | None = None, clock: Clock | None = None) -> SyncReport:
    """Make the ``rules`` table match ``specs``; rules of ``source`` not listed are disabled.

    Rules are never deleted: alerts and states refer to them.
    """
    clock = resolve_clock(clock)
    now = utc_now(clock)
    report = SyncReport()
    existing = {r.name: r for r in session.scalars(select(Rule))}
    for spec in specs:
        values = spec.row_values()
        row = existing.get(spec.name)
        if row is None:
            row = Rule(name=spec.name, source=source, created_at=now, updated_at=now, **values)
            session.add(row)
            session.flush()
            report.created.append(spec.name)
            audit.record(session, actor=actor, action="rule.create", entity="rule", entity_id=row.id,
                         after={"name": spec.name, **values}, clock=clock)
            continue
        before = {k: getattr(row, k) for k in values}
        if before == values and row.source == source:
            report.unchanged.append(spec.name)
            continue
        for key, value in values.items():
            setattr(row, key, value)
        row.source, row.updated_at = source, now
        report.updated.append(spec.name)
        old, new = audit.changes(before, values)
        audit.record(session, actor=actor, action="rule.update", entity="rule", entity_id=row.id,
                     before=old, after=new, clock=clock)
    listed = {s.name for s in specs}
    for name, row in existing.items():
        if name not in listed and row.source == source and row.enabled:
            row.enabled, row.updated_at = False, now
            report.disabled.append(name)
            audit.record(session, actor=actor, action="rule.disable", entity="rule", entity_id=row.id,
                         before={"enabled": True}, after={"enabled": False}, clock=clock)
    if report.created or report.updated or report.disabled:
        generation.bump(session)
    session.flush()
    return report
