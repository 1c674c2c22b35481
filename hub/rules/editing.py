"""Rules changed by people (UI and JSON API): list, create, edit, enable/disable, export, import.

One validator: every change goes through :func:`wardlink.hub.rules.spec.parse_rule` /
:func:`~wardlink.hub.rules.spec.parse_rules`, so a rule refused in the rules file is refused
here with the same message (``rules[NAME].KEY: ...``). :class:`RuleInputError` carries that
message and the key it names (:attr:`RuleInputError.field`) for forms.

Every change is audited (who, before and after) and bumps the rules generation
(:func:`wardlink.hub.rules.generation.bump`) in the same transaction, so every rules engine
reloads on its next batch or tick. Rules are never deleted (alerts refer to them): disable them.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.clock import Clock
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.rules import generation
from wardlink.hub.rules.errors import RuleDefinitionError
from wardlink.hub.rules.evaluators import EVALUATORS
from wardlink.hub.rules.evaluators.base import REQUIRED
from wardlink.hub.rules.spec import (COMMON_KEYS, MATCH_KEYS, SCOPE_MATCH_KEYS, RuleSpec, SyncReport, parse_rule,
                                     parse_rules, sync_rules)
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people.permissions import require

#: Where rules created or changed in the UI or API come from (``rules.source``).
UI_SOURCE = "ui"
#: Where imported rules files put their rules: the same as ``wardlink rules sync``.
FILE_SOURCE = "file"
#: Largest rules file accepted by :func:`import_rules`.
MAX_IMPORT_BYTES = 1_000_000

_FIELD_RE = re.compile(r"^rules\[[^\]]*\]\.([A-Za-z_]+)")


class RuleInputError(InvalidInput):
    """A rule definition was refused; the message is the rules file's, ``field`` the key it names."""

    def __init__(self, message: str | Message, /, **values: object) -> None:
        super().__init__(message, **values)
        match = _FIELD_RE.match(str(self))
        self.field: str | None = match.group(1) if match else None


def _refused(exc: RuleDefinitionError) -> RuleInputError:
    return RuleInputError(exc.message)


def validate(entry: Mapping[str, Any]) -> RuleSpec:
    """Validate one rule entry (the keys of a ``[[rules]]`` table) exactly as the rules file does."""
    try:
        return parse_rule(entry, 0)  # named like the first rule of a file
    except RuleDefinitionError as exc:
        raise _refused(exc) from None


# ---------------------------------------------------------------------- reading


def list_rules(session: Session, *, actor: Actor | None) -> list[Rule]:
    """Return every rule, enabled first, by name."""
    require(resolve_actor(actor), "alert.view")
    return list(session.scalars(select(Rule).order_by(Rule.enabled.desc(), Rule.name)))


def get_rule(session: Session, name: str, *, actor: Actor | None) -> Rule:
    """Return the rule called ``name``."""
    require(resolve_actor(actor), "alert.view")
    row = session.scalar(select(Rule).where(Rule.name == name))
    if row is None:
        raise NotFound(N_("no rule named %(name)r"), name=name)
    return row


def entry_of(row: Rule) -> dict[str, Any]:
    """Return a stored rule as its rules-file entry (parameters at the top level)."""
    entry: dict[str, Any] = {"name": row.name, "kind": row.kind, "severity": row.severity}
    if row.title:
        entry["title"] = row.title
    if row.description:
        entry["description"] = row.description
    if not row.enabled:
        entry["enabled"] = False
    entry["match"] = dict(row.match or {})
    entry.update(row.params or {})
    if row.notify:
        entry["notify"] = list(row.notify)
    if row.escalate:
        entry["escalate"] = [dict(s) for s in row.escalate]
    if row.work_order is not None:
        entry["work_order"] = dict(row.work_order)
    return entry


# ---------------------------------------------------------------------- changing


def create_rule(session: Session, entry: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Rule:
    """Validate ``entry`` and store it as a new rule (audited ``rule.create``)."""
    require(resolve_actor(actor), "rule.manage")
    spec = validate(entry)
    if session.scalar(select(Rule.id).where(Rule.name == spec.name)) is not None:
        raise RuleInputError(N_("rules[%(rule)s].name: a rule named %(name)r already exists"), rule=spec.name,
                             name=spec.name)
    clock = resolve_clock(clock)
    now = utc_now(clock)
    values = spec.row_values()
    row = Rule(name=spec.name, source=UI_SOURCE, created_at=now, updated_at=now, **values)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="rule.create", entity="rule", entity_id=row.id,
                 after={"name": spec.name, **values}, clock=clock)
    generation.bump(session)
    return row


def update_rule(session: Session, name: str, entry: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Rule:
    """Replace the definition of rule ``name`` with ``entry`` (audited ``rule.update``).

    The name and kind stay: alerts carry the name, and the rule's saved states belong to its kind.
    """
    require(resolve_actor(actor), "rule.manage")
    row = get_rule(session, name, actor=actor)
    entry = {**entry, "name": entry.get("name", name)}
    if entry["name"] != name:
        raise RuleInputError(N_("rules[%(rule)s].name: a rule keeps its name (alerts refer to it); disable it and "
                                "create a new one instead"), rule=name)
    if entry.get("kind", row.kind) != row.kind:
        raise RuleInputError(N_("rules[%(rule)s].kind: a rule keeps its kind (%(kind)s); disable it and create a "
                                "new one instead"), rule=name, kind=row.kind)
    spec = validate({**entry, "kind": row.kind})
    clock = resolve_clock(clock)
    values = spec.row_values()
    before = {k: getattr(row, k) for k in values}
    old, new = audit.changes(before, values)
    if not new and row.source == UI_SOURCE:
        return row
    for key, value in values.items():
        setattr(row, key, value)
    row.source, row.updated_at = UI_SOURCE, utc_now(clock)
    audit.record(session, actor=actor, action="rule.update", entity="rule", entity_id=row.id,
                 before=old, after=new, clock=clock)
    generation.bump(session)
    session.flush()
    return row


def set_enabled(session: Session, name: str, enabled: bool, *, actor: Actor | None,
                clock: Clock | None = None) -> Rule:
    """Enable or disable rule ``name`` (audited ``rule.enable`` / ``rule.disable``)."""
    require(resolve_actor(actor), "rule.manage")
    row = get_rule(session, name, actor=actor)
    if row.enabled == enabled:
        return row
    clock = resolve_clock(clock)
    if enabled:
        validate(entry_of(row))  # a stored rule that no longer validates stays off
    row.enabled, row.updated_at = enabled, utc_now(clock)
    audit.record(session, actor=actor, action="rule.enable" if enabled else "rule.disable", entity="rule",
                 entity_id=row.id, before={"enabled": not enabled}, after={"enabled": enabled}, clock=clock)
    generation.bump(session)
    session.flush()
    return row


# ---------------------------------------------------------------------- forms


def kinds(*, actor: Actor | None) -> list[dict[str, Any]]:
    """Return each rule kind with its scope, default severity, selector keys and parameters."""
    require(resolve_actor(actor), "alert.view")
    out = []
    for name in sorted(EVALUATORS):
        cls = EVALUATORS[name]
        params = [{"name": key, "type": p.kind, "help": p.help,
                   "required": p.default is REQUIRED, "default": None if p.default is REQUIRED else p.default}
                  for key, p in {**cls.COMMON, **cls.PARAMS}.items()]
        out.append({"kind": name, "scope": cls.scope, "default_severity": cls.default_severity,
                    "inputs": sorted(cls.inputs),
                    "raises": cls.raises, "match_keys": list(SCOPE_MATCH_KEYS[cls.scope]),
                    "default_match": {k: list(v) if isinstance(v, (list, tuple)) else v
                                      for k, v in dict(cls.default_match).items()},
                    "params": params,
                    "doc": cls.summary or (cls.__doc__ or "").strip().split("\n")[0].replace("``", "")})
    return out


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # the validator names the key and the text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def entry_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Turn the rule form's fields into a rules-file entry (validation happens afterwards).

    Fields: ``name``, ``kind``, ``severity``, ``title``, ``description``, ``enabled`` (checkbox),
    ``match.KEY`` (comma-separated values), ``param.KEY``, ``notify`` (comma-separated),
    ``work_order`` (a priority or empty) and ``escalate`` (``after_s: target, target`` per line).
    Empty fields are left out, so the kind's defaults apply.
    """
    kind = (form.get("kind") or "").strip()
    entry: dict[str, Any] = {"name": (form.get("name") or "").strip(), "kind": kind}
    for key in ("severity", "title", "description"):
        value = (form.get(key) or "").strip()
        if value:
            entry[key] = value
    entry["enabled"] = bool(form.get("enabled"))
    match = {key: _list(form.get(f"match.{key}") or "") for key in MATCH_KEYS}
    match = {key: values[0] if len(values) == 1 else values for key, values in match.items() if values}
    if match or kind not in EVALUATORS:
        entry["match"] = match
    elif not EVALUATORS[kind].default_match:
        entry["match"] = {}
    cls = EVALUATORS.get(kind)
    params = {**cls.COMMON, **cls.PARAMS} if cls else {}
    for key, p in params.items():
        text = (form.get(f"param.{key}") or "").strip()
        if not text:
            continue
        if p.kind in ("number", "integer"):
            entry[key] = _number(text)
        elif p.kind == "strings":
            entry[key] = _list(text)
        elif p.kind == "boolean":
            entry[key] = text.lower() in ("1", "true", "yes", "on")
        elif p.kind == "mapping":
            try:
                entry[key] = json.loads(text)
            except ValueError:
                entry[key] = text
        else:
            entry[key] = text
    notify = _list(form.get("notify") or "")
    if notify:
        entry["notify"] = notify
    priority = (form.get("work_order") or "").strip()
    if priority:
        entry["work_order"] = {"priority": priority}
    steps = []
    for line in (form.get("escalate") or "").splitlines():
        if not line.strip():
            continue
        after, _, targets = line.partition(":")
        steps.append({"after_s": _number(after.strip()), "notify": _list(targets)})
    if steps:
        entry["escalate"] = steps
    return entry


def form_of(entry: Mapping[str, Any]) -> dict[str, str]:
    """Return the form fields showing ``entry`` (the reverse of :func:`entry_from_form`)."""
    form = {key: str(entry.get(key) or "") for key in ("name", "kind", "severity", "title", "description")}
    form["enabled"] = "on" if entry.get("enabled", True) else ""
    for key, value in (entry.get("match") or {}).items():
        form[f"match.{key}"] = ", ".join(value) if isinstance(value, (list, tuple)) else str(value)
    for key, value in entry.items():
        if key in COMMON_KEYS:
            continue
        if isinstance(value, (list, tuple)):
            form[f"param.{key}"] = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            form[f"param.{key}"] = json.dumps(value)
        elif isinstance(value, float) and value.is_integer():
            form[f"param.{key}"] = str(int(value)) if abs(value) < 1e15 else str(value)
        elif value is not None:
            form[f"param.{key}"] = str(value)
    form["notify"] = ", ".join(entry.get("notify") or [])
    form["work_order"] = (entry.get("work_order") or {}).get("priority", "") if entry.get("work_order") else ""
    form["escalate"] = "\n".join(f"{s['after_s']:g}: {', '.join(s['notify'])}" for s in entry.get("escalate") or [])
    return form


# ---------------------------------------------------------------------- files


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def export_rules(session: Session, *, actor: Actor | None) -> str:
    """Return every rule as a rules file (TOML), by name; ``wardlink rules sync`` and
    :func:`import_rules` read it back. Notifier targets stay in the hub's own rules file."""
    rows = sorted(list_rules(session, actor=actor), key=lambda r: r.name)
    parts = ["# Wardlink alert rules. Notifier targets ([notifiers.NAME]) live in the hub's rules file.\n"]
    for row in rows:
        lines = ["[[rules]]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry_of(row).items() if v is not None]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def read_document(data: bytes, filename: str = "rules.toml") -> dict[str, Any]:
    """Decode an uploaded rules file (TOML, or JSON when named ``.json`` or starting with ``{``)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise RuleInputError(N_("rules file: larger than %(size)s kB"), size=MAX_IMPORT_BYTES // 1000)
    try:
        text = data.decode("utf-8")
        if filename.lower().endswith(".json") or text.lstrip().startswith("{"):
            document = json.loads(text)
        else:
            document = tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RuleInputError(N_("rules file %(file)s: %(error)s"), file=filename, error=str(exc)) from None
    return document


def import_rules(session: Session, document: Any, *, actor: Actor | None, clock: Clock | None = None,
                 filename: str = "rules.toml") -> SyncReport:
    """Validate a whole rules document and apply it as one change, like ``wardlink rules sync``:
    its rules are created or updated, rules of earlier files missing from it are disabled.

    Nothing is applied when any rule is refused. Each rule's change is audited, and one
    ``rule.import`` row records the file and the summary. Without a ``[notifiers]`` table the
    targets rules notify are not checked here (they live in the hub's rules file).
    """
    require(resolve_actor(actor), "rule.manage")
    if isinstance(document, Mapping) and "rules" not in document:
        raise RuleInputError(N_("rules: missing; a rules file lists its rules as [[rules]] tables (importing none "
                                "would disable every rule of earlier files)"))
    if isinstance(document, Mapping) and "notifiers" not in document and isinstance(document.get("rules"), list):
        targets = {t for r in document["rules"] if isinstance(r, Mapping)
                   for t in _targets(r)}
        document = {**document, "notifiers": {t: {} for t in targets}}
    try:
        ruleset = parse_rules(document)
    except RuleDefinitionError as exc:
        raise _refused(exc) from None
    clock = resolve_clock(clock)
    report = sync_rules(session, ruleset.rules, source=FILE_SOURCE, actor=actor, clock=clock)
    audit.record(session, actor=actor, action="rule.import", entity="rule", entity_id=filename[:120],
                 after={"created": report.created, "updated": report.updated, "disabled": report.disabled,
                        "unchanged": len(report.unchanged)}, clock=clock)
    generation.bump(session)
    return report


def _targets(entry: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    steps = entry.get("escalate")
    steps = steps if isinstance(steps, (list, tuple)) else []  # a wrong shape is parse_rules' to refuse
    for value in (entry.get("notify"), *(s.get("notify") for s in steps if isinstance(s, Mapping))):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out += [v for v in value if isinstance(v, str)]
    return out
