"""The knowledge shown before equipment is used: per category, with overrides per make and
model (each field an override leaves empty falls back to the category's).

An entry holds the operating procedure (Markdown, see :mod:`.procedure`), a critical-device
warning, whether training is required, the maximum continuous use in hours, cleaning between
uses, what the equipment becomes when a session ends (available, needs cleaning, needs
inspection) and a suggested maintenance interval. Entries are kept by people with
``knowledge.manage``; everyone who may see usage reads them. Search is one ``LIKE`` on a
folded column, as the parts catalogue does (revision 0033).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, KnowledgeEntry
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import USAGE_STATUSES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, key_of, number, tidy
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, choice, parse_fields, text, whole_number
from wardlink.clock import Clock

#: The fields an entry holds beyond what it is for; None in an override means "the category's".
KNOWN = ("procedure", "critical_warning", "training_required", "max_use_hours", "cleaning", "return_status",
         "maintenance_interval_days")
SEARCH_SEPARATOR = "\x1f"


def _optional_text(limit: int):
    parse = text(limit)

    def optional(name: str, value: Any) -> str | None:
        return None if value is None else (parse(name, value) or None)
    return optional


def _optional_bool(name: str, value: Any) -> bool | None:
    return None if value is None or value == "" else boolean(name, value)


def _hours(name: str, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        hours = Decimal(str(value).strip())
    except InvalidOperation:
        hours = Decimal("NaN")
    if isinstance(value, bool) or not hours.is_finite() or not 0 < hours < 1000 or hours != hours.quantize(
            Decimal("0.01")):
        raise InvalidInput(N_("%(field)s: must be a number of hours above 0 and below 1000, with at most two "
                              "decimals, got %(value)r"), field=name, value=value)
    return hours


def _status(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    return choice(tuple(s for s in USAGE_STATUSES if s != "in_use"))(name, value)


FIELDS = {
    "category": text(100, required=True), "make": text(100), "model": text(100),
    "procedure": _optional_text(20000), "critical_warning": _optional_text(2000),
    "training_required": _optional_bool, "max_use_hours": _hours, "cleaning": _optional_text(4000),
    "return_status": _status, "maintenance_interval_days": whole_number(1, 3650),
}


def snapshot(entry: KnowledgeEntry) -> dict[str, Any]:
    """Return an entry's fields (for audit rows and the API)."""
    return {"id": entry.id, "category": entry.category, "make": entry.make, "model": entry.model,
            "procedure": entry.procedure, "critical_warning": entry.critical_warning,
            "training_required": entry.training_required, "max_use_hours": number(entry.max_use_hours),
            "cleaning": entry.cleaning, "return_status": entry.return_status,
            "maintenance_interval_days": entry.maintenance_interval_days}


def _search_text(entry: KnowledgeEntry) -> str:
    parts = (entry.category, entry.make, entry.model, entry.procedure or "", entry.critical_warning or "",
             entry.cleaning or "")
    return SEARCH_SEPARATOR.join(p.replace(SEARCH_SEPARATOR, " ").casefold() for p in parts)


def _apply(session: Session, entry: KnowledgeEntry, data: Mapping[str, Any], *, partial: bool) -> None:
    fields = parse_fields(FIELDS, data, partial=partial)
    for name in ("category", "make", "model"):
        if name in fields:
            fields[name] = tidy(fields[name])
    for field, value in fields.items():
        setattr(entry, field, value)
    if entry.model and not entry.make:
        raise InvalidInput(N_("make: is required with a model"))
    entry.category_key, entry.make_key, entry.model_key = (key_of(entry.category), key_of(entry.make or ""),
                                                           key_of(entry.model or ""))
    other = session.scalar(select(KnowledgeEntry).where(KnowledgeEntry.category_key == entry.category_key,
                                                        KnowledgeEntry.make_key == entry.make_key,
                                                        KnowledgeEntry.model_key == entry.model_key))
    if other is not None and other is not entry:
        raise InvalidInput(N_("category: knowledge for %(what)s exists already (entry %(entry_id)s)"),
                           what=" ".join(p for p in (entry.category, entry.make, entry.model) if p),
                           entry_id=other.id)
    entry.search_text = _search_text(entry)


def get_entry(session: Session, entry_id: Any, *, actor: Actor | None, for_update: bool = False) -> KnowledgeEntry:
    """Return knowledge entry ``entry_id``."""
    require(resolve_actor(actor), "usage.view")
    return get_row(session, KnowledgeEntry, entry_id, N_("knowledge entry"), for_update=for_update)


def create_entry(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> KnowledgeEntry:
    """Add the knowledge of a category (or, with ``make`` and ``model``, an override); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "knowledge.manage")
    now = utc_now(clock)
    entry = KnowledgeEntry(created_at=now, updated_at=now, make="", model="")
    _apply(session, entry, data, partial=False)
    session.add(entry)
    session.flush()
    audit.record(session, actor=who, action="knowledge.create", entity="knowledge", entity_id=entry.id,
                 after=snapshot(entry), clock=clock)
    return entry


def update_entry(session: Session, entry_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> KnowledgeEntry:
    """Change an entry; audited when something changed."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "knowledge.manage")
    entry = get_entry(session, entry_id, actor=who, for_update=True)
    before = snapshot(entry)
    _apply(session, entry, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(entry))
    if new:
        entry.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="knowledge.update", entity="knowledge", entity_id=entry.id,
                     before=old, after=new, clock=clock)
    return entry


@dataclass(frozen=True)
class Knowledge:
    """What applies to one asset: the category's entry with its model's override laid over it."""

    category: KnowledgeEntry | None
    override: KnowledgeEntry | None
    procedure: str
    critical_warning: str
    training_required: bool
    max_use_hours: Decimal | None
    cleaning: str
    return_status: str
    maintenance_interval_days: int | None

    @property
    def entries(self) -> list[KnowledgeEntry]:
        """Return the entries that made it, the category's first."""
        return [e for e in (self.category, self.override) if e is not None]


def _pick(name: str, entries: list[KnowledgeEntry], default: Any) -> Any:
    for entry in reversed(entries):  # the override first
        value = getattr(entry, name)
        if value is not None:
            return value
    return default


def for_model(session: Session, category: str, make: str, model: str) -> Knowledge:
    """Return the knowledge of a category's make and model (the category's where none overrides)."""
    cat_key = key_of(category or "")
    rows = list(session.scalars(select(KnowledgeEntry).where(
        KnowledgeEntry.category_key == cat_key,
        or_(KnowledgeEntry.make_key == "",
            (KnowledgeEntry.make_key == key_of(make or "")) & KnowledgeEntry.model_key.in_(
                ("", key_of(model or "")))))))
    rows.sort(key=lambda e: (e.make_key != "", e.model_key != ""))
    base = next((e for e in rows if not e.make_key), None)
    override = rows[-1] if rows and rows[-1].make_key else None
    entries = [e for e in (base, *[e for e in rows if e.make_key]) if e is not None]
    return Knowledge(category=base, override=override, procedure=_pick("procedure", entries, ""),
                     critical_warning=_pick("critical_warning", entries, ""),
                     training_required=_pick("training_required", entries, False),
                     max_use_hours=_pick("max_use_hours", entries, None), cleaning=_pick("cleaning", entries, ""),
                     return_status=_pick("return_status", entries, "available"),
                     maintenance_interval_days=_pick("maintenance_interval_days", entries, None))


def for_asset(session: Session, asset: Asset) -> Knowledge:
    """Return the knowledge that applies to ``asset``."""
    return for_model(session, asset.category, asset.make, asset.model)


def search(session: Session, query: str = "", *, actor: Actor | None, limit: int = 200) -> list[KnowledgeEntry]:
    """Return the entries whose category, make, model, procedure, warning or cleaning hold every
    word of ``query`` (all entries for an empty one), by category, make and model."""
    require(resolve_actor(actor), "usage.view")
    stmt = select(KnowledgeEntry)
    for word in text(200)("q", query).casefold().split():
        stmt = stmt.where(KnowledgeEntry.search_text.contains(word, autoescape=True))
    return list(session.scalars(stmt.order_by(KnowledgeEntry.category_key, KnowledgeEntry.make_key,
                                              KnowledgeEntry.model_key).limit(limit)))
