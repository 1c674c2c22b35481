"""Checklist templates (versioned) and how a filled-in checklist is judged.

Items are one of four kinds:

- ``pass_fail``: the technician answers pass, fail or n/a (n/a only when not required);
- ``value``: a measured number in ``unit``, failing outside ``low``..``high`` (either may
  be absent), e.g. earth leakage current <= 500 uA;
- ``text``: a remark; never fails;
- ``photo``: a photo attached to the work order (answered with its ``attachment_id``); never
  fails, and required unless said otherwise.

An item without a ``key`` gets one made from its label (``Earth leakage current`` ->
``earth_leakage_current``), unique within the checklist.

An item marked ``safety`` (safety-critical) that fails tags the device out of use.

Changing a template's items creates a new version; versions are never edited, so a work
order keeps the exact checklist it was generated with, and its results stay readable
against it after the template moves on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import ChecklistTemplate, ChecklistVersion, PmPlan
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import CHECKLIST_ITEM_KINDS
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, optional_id, text
from wardlink.clock import Clock

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ITEMS = 200
NAME = text(200, required=True)
LABEL = text(300, required=True)
#: Item fields each kind may carry besides key, label, kind, required and corrective.
KIND_FIELDS = {"pass_fail": frozenset(), "value": frozenset({"unit", "low", "high"}),
               "text": frozenset(), "photo": frozenset()}
#: Kinds whose answer is never judged a failure, so they cannot open work or be safety-critical.
NEVER_FAIL = frozenset({"text", "photo"})
MAX_KEY = 40
ANSWERS = ("pass", "fail", "na")


def _number(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=value) from None
    if not math.isfinite(number):
        raise InvalidInput(N_("%(field)s: must be a finite number, got %(value)r"), field=name, value=value)
    return number


def parse_item(index: int, raw: Any) -> dict[str, Any]:
    """Validate one checklist item and return it with defaults filled in."""
    where = f"items[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidInput(N_("%(where)s: must be an object with key, label and kind"), where=where)
    kind = raw.get("kind")
    if kind not in CHECKLIST_ITEM_KINDS:
        raise InvalidInput(N_("%(where)s.kind: must be one of %(choices)s, got %(kind)r"),
                           where=where, choices=', '.join(CHECKLIST_ITEM_KINDS), kind=kind)
    allowed = {"key", "label", "kind", "required", "corrective", "safety"} | KIND_FIELDS[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(N_("%(where)s.%(unknown)s: not a field of a %(kind)s item; allowed: %(choices)s"),
                           where=where, unknown=unknown[0], kind=kind, choices=', '.join(sorted(allowed)))
    key = raw.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(N_("%(where)s.key: must be a-z, 0-9 and _ starting with a letter, got %(key)r"),
                           where=where, key=key)
    item: dict[str, Any] = {"key": key, "label": LABEL(f"{where}.label", raw.get("label")), "kind": kind}
    item["required"] = (boolean(f"{where}.required", raw["required"]) if "required" in raw
                        else kind != "text")
    item["corrective"] = (boolean(f"{where}.corrective", raw["corrective"]) if "corrective" in raw
                          else kind not in NEVER_FAIL)
    if kind in NEVER_FAIL and item["corrective"]:
        raise InvalidInput(N_("%(where)s.corrective: a %(kind)s item never fails, so it cannot open work"),
                           where=where, kind=kind)
    # Safety-critical: failing it tags the device out of use until the corrective work is
    # closed with a passing safety check (wardlink.hub.services.assets.status).
    if "safety" in raw and boolean(f"{where}.safety", raw["safety"]):
        if kind in NEVER_FAIL:
            raise InvalidInput(N_("%(where)s.safety: a %(kind)s item never fails, so it cannot be safety-critical"),
                               where=where, kind=kind)
        item["safety"] = item["corrective"] = True
    if kind == "value":
        item["unit"] = text(32)(f"{where}.unit", raw.get("unit"))
        item["low"] = _number(f"{where}.low", raw.get("low"))
        item["high"] = _number(f"{where}.high", raw.get("high"))
        if item["low"] is not None and item["high"] is not None and item["low"] > item["high"]:
            raise InvalidInput(N_("%(where)s.low: must not exceed high (%(high)s), got %(low)s"),
                               where=where, high=format(item['high'], 'g'), low=format(item['low'], 'g'))
    return item


def key_from_label(label: Any) -> str:
    """Return an item key made from its label: lower case a-z, 0-9 and _, starting with a letter."""
    words = re.sub(r"[^a-z0-9]+", "_", str(label or "").lower()).strip("_")
    key = words if words[:1].isalpha() else f"item_{words}".rstrip("_")
    return key[:MAX_KEY].rstrip("_")


def _with_keys(raw: Sequence[Any]) -> list[Any]:
    """Give each item without a key one made from its label, unique within the list."""
    taken = {item.get("key") for item in raw if isinstance(item, Mapping) and item.get("key")}
    out = []
    for item in raw:
        if isinstance(item, Mapping) and not item.get("key"):
            base = key_from_label(item.get("label"))
            key, n = base, 2
            while key in taken:
                key, n = f"{base[:MAX_KEY - 4]}_{n}", n + 1
            taken.add(key)
            item = {**item, "key": key}
        out.append(item)
    return out


def parse_items(raw: Any) -> list[dict[str, Any]]:
    """Validate a list of checklist items (keys unique)."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise InvalidInput(N_("items: must be a list of checklist items"))
    if not 1 <= len(raw) <= MAX_ITEMS:
        raise InvalidInput(N_("items: must hold 1..%(max_items)s items, got %(count)s"),
                           max_items=MAX_ITEMS, count=len(raw))
    items = [parse_item(i, item) for i, item in enumerate(_with_keys(raw))]
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["key"] in seen:
            raise InvalidInput(N_("items[%(i)s].key: '%(key)s' is used by an earlier item"), i=i, key=item['key'])
        seen.add(item["key"])
    return items


# ------------------------------------------------------------------ judging answers


@dataclass(frozen=True)
class Evaluation:
    """A filled-in checklist: per-item results and the overall verdict."""

    results: list[dict[str, Any]]
    passed: bool
    complete: bool

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Return the results of the items that failed."""
        return [r for r in self.results if r["outcome"] == "fail"]


def _answer(item: dict, raw: Any) -> dict[str, Any]:
    key, where = item["key"], f"answers.{item['key']}"
    if raw is None:
        return {"key": key, "outcome": "missing"}
    if not isinstance(raw, Mapping):
        raise InvalidInput(N_("%(where)s: must be an object"), where=where)
    comment = text(2000)(f"{where}.comment", raw.get("comment"))
    unknown = sorted(set(raw) - {"result", "value", "text", "comment", "open_corrective", "attachment_id"})
    if unknown:
        raise InvalidInput(N_("%(where)s.%(unknown)s: unknown field; known: attachment_id, comment, "
                              "open_corrective, result, text, value"), where=where, unknown=unknown[0])
    out: dict[str, Any] = {"key": key, "comment": comment,
                           "open_corrective": boolean(f"{where}.open_corrective", raw.get("open_corrective"))}
    if item["kind"] == "pass_fail":
        result = raw.get("result")
        if result not in ANSWERS:
            raise InvalidInput(N_("%(where)s.result: must be one of %(choices)s, got %(result)r"),
                               where=where, choices=', '.join(ANSWERS), result=result)
        if result == "na" and item["required"]:
            raise InvalidInput(N_("%(where)s.result: '%(label)s' is required; n/a is not allowed"),
                               where=where, label=item['label'])
        out["outcome"] = result
    elif item["kind"] == "value":
        value = _number(f"{where}.value", raw.get("value"))
        if value is None:
            return {"key": key, "outcome": "missing", "comment": comment}
        low, high = item.get("low"), item.get("high")
        inside = (low is None or value >= low) and (high is None or value <= high)
        out.update(value=value, outcome="pass" if inside else "fail")
    elif item["kind"] == "photo":
        photo = optional_id(f"{where}.attachment_id", raw.get("attachment_id"))
        out.update(attachment_id=photo, outcome="pass" if photo is not None else "missing")
    else:
        note = text(5000)(f"{where}.text", raw.get("text"))
        out.update(text=note, outcome="pass" if note else "missing")
    return out


def evaluate(items: Sequence[dict[str, Any]], answers: Mapping[str, Any]) -> Evaluation:
    """Judge ``answers`` (item key -> answer) against ``items``; unknown keys are errors."""
    if not isinstance(answers, Mapping):
        raise InvalidInput(N_("answers: must be an object of item key -> answer"))
    keys = {item["key"] for item in items}
    unknown = sorted(set(answers) - keys)
    if unknown:
        raise InvalidInput(N_("answers.%(unknown)s: no such checklist item; known: %(choices)s"),
                           unknown=unknown[0], choices=', '.join(sorted(keys)))
    results = [_answer(item, answers.get(item["key"])) for item in items]
    complete = all(r["outcome"] != "missing" for r, item in zip(results, items) if item["required"])
    passed = complete and not any(r["outcome"] == "fail" for r in results)
    return Evaluation(results, passed, complete)


# ------------------------------------------------------------------ templates


def template_snapshot(template: ChecklistTemplate, items: list | None = None) -> dict:
    """Return the audited fields of a template."""
    data = {"name": template.name, "description": template.description,
            "version": template.current_version}
    if items is not None:
        data["items"] = items
    return data


def get_template(session: Session, template_id: int, *, actor: Actor | None) -> ChecklistTemplate:
    """Return a checklist template or raise :class:`NotFound`."""
    require(resolve_actor(actor), "pm.view")
    template = session.get(ChecklistTemplate, template_id)
    if template is None:
        raise NotFound(N_("checklist template %(template_id)s does not exist"), template_id=template_id)
    return template


def current_version(session: Session, template: ChecklistTemplate) -> ChecklistVersion:
    """Return a template's newest version."""
    return session.scalars(select(ChecklistVersion).where(
        ChecklistVersion.template_id == template.id,
        ChecklistVersion.version == template.current_version)).one()


def get_version(session: Session, version_id: int) -> ChecklistVersion:
    """Return a checklist version by id (no permission check: callers checked the work order)."""
    version = session.get(ChecklistVersion, version_id)
    if version is None:
        raise NotFound(N_("checklist version %(version_id)s does not exist"), version_id=version_id)
    return version


def list_templates(session: Session, *, actor: Actor | None) -> list[ChecklistTemplate]:
    """Return every checklist template by name."""
    require(resolve_actor(actor), "pm.view")
    return list(session.scalars(select(ChecklistTemplate).options(
        selectinload(ChecklistTemplate.versions)).order_by(ChecklistTemplate.name)))


def _check_name(session: Session, name: str, template_id: int | None) -> None:
    other = session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.name == name))
    if other is not None and other != template_id:
        raise InvalidInput(N_("name: checklist '%(name)s' already exists"), name=name)


def create_template(session: Session, *, name: str, items: Any, description: str = "",
                    actor: Actor | None, clock: Clock | None = None) -> ChecklistTemplate:
    """Create a checklist template with its first version and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "pm.manage")
    name = NAME("name", name)
    parsed = parse_items(items)
    _check_name(session, name, None)
    now = utc_now(clock)
    template = ChecklistTemplate(name=name, description=text(5000)("description", description),
                                 current_version=1, created_at=now, updated_at=now)
    session.add(template)
    session.flush()
    session.add(ChecklistVersion(template_id=template.id, version=1, items=parsed, created_at=now,
                                 created_by=who.username[:100]))
    session.flush()
    audit.record(session, actor=who, action="checklist.create", entity="checklist_template",
                 entity_id=template.id, after=template_snapshot(template, parsed), clock=clock)
    return template


def update_template(session: Session, template_id: int, *, name: str | None = None,
                    description: str | None = None, items: Any = None, actor: Actor | None,
                    clock: Clock | None = None) -> ChecklistTemplate:
    """Rename or describe a template, or give it new items (a new version)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "pm.manage")
    template = get_template(session, template_id, actor=who)
    before = template_snapshot(template)
    if name is not None:
        template.name = NAME("name", name)
        _check_name(session, template.name, template.id)
    if description is not None:
        template.description = text(5000)("description", description)
    new_items = None
    if items is not None:
        new_items = parse_items(items)
        if new_items != current_version(session, template).items:
            template.current_version += 1
            session.add(ChecklistVersion(template_id=template.id, version=template.current_version,
                                         items=new_items, created_at=utc_now(clock),
                                         created_by=who.username[:100]))
        else:
            new_items = None
    old, new = audit.changes(before, template_snapshot(template))
    if new or new_items is not None:
        template.updated_at = utc_now(clock)
        session.flush()
        if new_items is not None:
            new["items"] = new_items
        audit.record(session, actor=who, action="checklist.update", entity="checklist_template",
                     entity_id=template.id, before=old, after=new, clock=clock)
    return template


def plans_using(session: Session, template_id: int, *, actor: Actor | None) -> list[PmPlan]:
    """Return the plans that use a checklist template, by name (one template serves many plans)."""
    require(resolve_actor(actor), "pm.view")
    return list(session.scalars(select(PmPlan).where(PmPlan.checklist_template_id == template_id)
                                .order_by(PmPlan.name, PmPlan.id)))


def usage_counts(session: Session) -> dict[int, int]:
    """Return how many plans use each checklist template that is in use."""
    rows = session.execute(select(PmPlan.checklist_template_id, func.count()).where(
        PmPlan.checklist_template_id.is_not(None)).group_by(PmPlan.checklist_template_id))
    return {template_id: count for template_id, count in rows}
