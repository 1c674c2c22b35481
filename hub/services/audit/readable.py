"""Audit rows as people read them: each row's before/after JSON turned into field changes.

``Priority: Medium → High`` instead of ``{"priority": "high"}``: fields carry the labels of
:mod:`wardlink.hub.services.audit.fields`, enumerated values the labels of
:mod:`wardlink.hub.db.vocab`, times are shown in the site's time zone, ids of people,
departments, locations, work orders and alerts become their names or references (looked up
once per batch of rows, not per row), booleans read Yes/No, values with a unit carry it, and a
secret (a password, a token) is only ever said to have changed, never shown.

:func:`describe` is the one way pages and exports read a batch of rows; the change history of
an asset and of a work order, the audit page and the audit export all use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Alert, AuditLog, Department, Location, User, WorkOrder
from wardlink.hub.db.vocab import LABELS, label
from wardlink.hub.services.audit.trail import list_entries
from wardlink.hub.services.audit.fields import SAFETY_PREFIX, Field, action_label, entity_label, field
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.local_time import local_text
from wardlink.hub.services.people.permissions import can

ARROW = "→"
#: How an empty value reads.
EMPTY = "—"
#: Longest text of one value; longer values are cut with an ellipsis.
MAX_VALUE = 300
_MISSING = object()
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
#: Kinds whose values are ids looked up by name.
_LOOKUPS = ("user", "username", "department", "location", "work_order", "alert")


@dataclass(frozen=True)
class Change:
    """One field of one audit row: its label and the value before and after, as shown.

    ``old`` is None when the field was not in the row before (it was set), ``new`` is None
    when it was not in the row after (it was removed); ``hidden`` marks a secret whose
    values are never shown.
    """

    field: str
    label: str
    old: str | None
    new: str | None
    hidden: bool = False

    @property
    def text(self) -> str:
        """Return the change as one line: ``Priority: Medium → High``."""
        if self.hidden:
            return f"{self.label}: changed (not shown)"
        if self.old is None:
            return f"{self.label}: {self.new}"
        if self.new is None:
            return f"{self.label}: {self.old} {ARROW} (removed)"
        return f"{self.label}: {self.old} {ARROW} {self.new}"


@dataclass(frozen=True)
class Entry:
    """An audit row with what people read of it."""

    row: AuditLog
    action: str
    entity: str
    changes: tuple[Change, ...]

    @property
    def text(self) -> str:
        """Return every change on one line, separated by semicolons (for exports)."""
        return "; ".join(c.text for c in self.changes)


class _Names:
    """Ids of people, departments, locations, work orders and alerts -> what people call them,
    read in one query per kind for a whole batch of rows."""

    def __init__(self) -> None:
        self.wanted: dict[str, set[Any]] = {kind: set() for kind in _LOOKUPS}
        self.found: dict[str, dict[Any, str]] = {kind: {} for kind in _LOOKUPS}

    def want(self, kind: str, value: Any) -> None:
        if kind == "username":
            if isinstance(value, str) and value:
                self.wanted[kind].add(value)
            return
        number = _as_id(value)
        if number is not None:
            self.wanted[kind].add(number)

    def load(self, session: Session) -> None:
        queries = {
            "user": lambda ids: ((u.id, u.display_name or u.username) for u in
                                 session.scalars(select(User).where(User.id.in_(ids)))),
            "username": lambda names: ((u.username, f"{u.display_name} ({u.username})" if u.display_name
                                        and u.display_name != u.username else u.username) for u in
                                       session.scalars(select(User).where(User.username.in_(names)))),
            "department": lambda ids: ((i, name) for i, name in session.execute(
                select(Department.id, Department.name).where(Department.id.in_(ids)))),
            "location": lambda ids: ((loc.id, loc.label) for loc in
                                     session.scalars(select(Location).where(Location.id.in_(ids)))),
            "work_order": lambda ids: ((i, code or f"WO-{i:06d}") for i, code in session.execute(
                select(WorkOrder.id, WorkOrder.code).where(WorkOrder.id.in_(ids)))),
            "alert": lambda ids: ((i, f"#{i} {title}") for i, title in session.execute(
                select(Alert.id, Alert.title).where(Alert.id.in_(ids)))),
        }
        for kind, ids in self.wanted.items():
            if ids:
                self.found[kind].update(queries[kind](sorted(ids)))

    def name(self, kind: str, value: Any) -> str:
        if kind == "username":
            return self.found[kind].get(value, _plain(value))
        number = _as_id(value)
        if number is None:
            return _plain(value)
        if kind == "work_order":
            return self.found[kind].get(number, f"WO-{number:06d}")
        return self.found[kind].get(number, f"#{number}")


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _load(raw: str | None) -> Any:
    if not raw:
        return _MISSING
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _pairs(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """Return (field, old, new) for what changed; _MISSING where a side does not hold the field."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(dict.fromkeys([*after, *before]))
        return [(k, before.get(k, _MISSING), after.get(k, _MISSING)) for k in keys
                if before.get(k, _MISSING) != after.get(k, _MISSING)]
    if before is _MISSING and isinstance(after, Mapping):
        return [(k, _MISSING, v) for k, v in after.items() if v not in (None, "", [], {})]
    if after is _MISSING and isinstance(before, Mapping):
        return [(k, v, _MISSING) for k, v in before.items() if v not in (None, "", [], {})]
    if before is _MISSING and after is _MISSING:
        return []
    return [("value", before, after)]


def _wants(names: _Names, spec: Field, value: Any) -> None:
    if spec.kind in _LOOKUPS:
        names.want(spec.kind, value)
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _wants(names, field(str(key)), inner)


def describe(session: Session, rows: Iterable[AuditLog], zone: ZoneInfo) -> list[Entry]:
    """Return ``rows`` as people read them, times in ``zone``."""
    rows = list(rows)
    names = _Names()
    parsed = []
    for row in rows:
        pairs = _pairs(_load(row.before_json), _load(row.after_json))
        parsed.append(pairs)
        for name, old, new in pairs:
            for value in (old, new):
                _wants(names, field(name), value)
        if row.entity == "work_order":
            names.want("work_order", row.entity_id)
    names.load(session)
    out = []
    for row, pairs in zip(rows, parsed):
        changes = tuple(_change(name, old, new, names, zone) for name, old, new in pairs)
        out.append(Entry(row, action_label(row.action), _entity(row, names), changes))
    return out


def history(session: Session, *, actor: Actor, entity: str, entity_id: Any, zone: ZoneInfo,
            limit: int = 10) -> list[Entry]:
    """Return the newest ``limit`` changes of one entity as people read them, or nothing when
    ``actor`` may not read the audit trail."""
    if not can(actor, "audit.view"):
        return []
    rows = list_entries(session, actor=actor, entity=entity, entity_id=str(entity_id), per_page=limit).items
    return describe(session, rows, zone)


def _entity(row: AuditLog, names: _Names) -> str:
    if row.entity == "work_order":
        return f"{entity_label(row.entity)} {names.name('work_order', row.entity_id)}"
    return f"{entity_label(row.entity)} {row.entity_id}"


def _change(name: str, old: Any, new: Any, names: _Names, zone: ZoneInfo) -> Change:
    spec = field(name)
    if spec.kind == "secret":
        return Change(name, spec.label, None, None, hidden=True)
    shown = [None if v is _MISSING else _cut(render(spec, v, names, zone)) for v in (old, new)]
    return Change(name, spec.label, shown[0], shown[1])


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1].rstrip() + "…"


def render(spec: Field, value: Any, names: _Names, zone: ZoneInfo) -> str:
    """Return one value of a field as people read it."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        return "; ".join(_change(str(k), _MISSING, v, names, zone).text for k, v in value.items()) or EMPTY
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(render(spec, v, names, zone) for v in value) or EMPTY
    kind = spec.kind
    if kind in _LOOKUPS:
        return names.name(kind, value)
    if kind == "choice" and isinstance(value, str):
        return label(value)
    if kind == "safety" and isinstance(value, str):
        return LABELS.get(SAFETY_PREFIX + value, value)
    if kind == "datetime" or (kind == "text" and isinstance(value, str) and _ISO_TIME.match(value)):
        return _time(value, zone)
    if kind in ("number", "money", "bytes"):
        return _number(kind, value, spec.unit)
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _time(value: Any, zone: ZoneInfo) -> str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return local_text(moment, zone, seconds=False)


def _number(kind: str, value: Any, unit: str) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if kind == "money":
        return f"{number:,.2f}"
    if kind == "bytes":
        return _size(int(number))
    text = _plain(float(number)) if number != number.to_integral_value() else str(int(number))
    return f"{text} {unit}" if unit else text


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"
