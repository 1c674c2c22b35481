"""Records on a work order: notes, time logs, parts used, attachments and downtime.

Records are added, never edited or deleted; a mistake is corrected by a note. Nothing can be
added once an order is closed or cancelled: that is the record a manager signed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import (PmOccurrence, User, WorkOrder, WorkOrderAttachment, WorkOrderNote,
                                    WorkOrderPart, WorkOrderSignature, WorkOrderTimeLog)
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.maintenance.photo_metadata import strip_metadata
from wardlink.hub.services.maintenance.attachments import (FILE_TYPES, IMAGE_TYPES, MAX_ATTACHMENTS_PER_ORDER,
                                                           AttachmentStore, FileType, clean_filename, sniff)
from wardlink.hub.services.people.permissions import PERMISSIONS, can, require
from wardlink.hub.services.validate import money, optional_id, text
from wardlink.hub.services.maintenance.workorder_common import (MAX_ID, code_of, ensure_not_frozen, load, system_note,
                                                                touch)
from wardlink.clock import Clock

NOTE_BODY = text(5000, required=True)
MAX_MINUTES = 1440
#: How far ahead of the hub's clock a reported time may lie (phone clocks drift).
CLOCK_SKEW = timedelta(minutes=5)
MAX_QUANTITY = Decimal("1000000")


@dataclass(frozen=True)
class Records:
    """Everything recorded on one work order, oldest first."""

    notes: list[WorkOrderNote]
    time_logs: list[WorkOrderTimeLog]
    parts: list[WorkOrderPart]
    attachments: list[WorkOrderAttachment]
    signatures: list[WorkOrderSignature]

    @property
    def minutes(self) -> int:
        """Return the total time logged, in minutes."""
        return sum(t.minutes for t in self.time_logs)

    @property
    def parts_cost(self) -> Decimal | None:
        """Return the cost of the parts whose unit cost is known (None when none is)."""
        costs = [p.quantity * p.unit_cost for p in self.parts if p.unit_cost is not None]
        return sum(costs, Decimal("0")).quantize(Decimal("0.01")) if costs else None


def records_of(session: Session, order: WorkOrder) -> Records:
    """Return the notes, time logs, parts, attachments and signatures of ``order``."""
    def rows(model):
        return list(session.scalars(select(model).where(model.work_order_id == order.id).order_by(model.id)))
    return Records(rows(WorkOrderNote), rows(WorkOrderTimeLog), rows(WorkOrderPart),
                   rows(WorkOrderAttachment), rows(WorkOrderSignature))


def parse_time(name: str, value: Any) -> datetime | None:
    """Parse an ISO 8601 time (UTC when it names no zone) or accept an aware datetime."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(N_("%(field)s: must be an ISO 8601 time such as 2026-01-31T14:30:00Z, got %(value)r"),
                               field=name, value=value) from None
    else:
        raise InvalidInput(N_("%(field)s: must be an ISO 8601 time string, got %(type)s"),
                           field=name, type=type(value).__name__)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 2000 <= moment.astimezone(UTC).year <= 2200:
        raise InvalidInput(N_("%(field)s: must be between the years 2000 and 2200, got %(value)r"),
                           field=name, value=value)
    return moment.astimezone(UTC)


def _not_future(name: str, moment: datetime, now: datetime) -> None:
    if moment > now + CLOCK_SKEW:
        raise InvalidInput(N_("%(field)s: must not be in the future, got %(moment)s"),
                           field=name, moment=moment.isoformat())


def _quantity(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidInput(N_("%(field)s: must be a number greater than 0, got %(value)r"), field=name, value=value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(N_("%(field)s: must be a number greater than 0, got %(value)r"),
                           field=name, value=value) from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_QUANTITY:
        raise InvalidInput(N_("%(field)s: must be greater than 0 and below %(max_quantity)s, got %(value)r"),
                           field=name, max_quantity=MAX_QUANTITY, value=value)
    if amount != amount.quantize(Decimal("0.001")):
        raise InvalidInput(N_("%(field)s: must have at most three decimals, got %(value)r"), field=name, value=value)
    return amount.quantize(Decimal("0.001"))


def _minutes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(N_("minutes: must be a whole number of minutes, got %(value)r"), value=value)
    try:
        minutes = int(value)
    except ValueError:
        raise InvalidInput(N_("minutes: must be a whole number of minutes, got %(value)r"), value=value) from None
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidInput(N_("minutes: must be 1..%(max_minutes)s (log longer work as several entries), got "
                              "%(minutes)s"), max_minutes=MAX_MINUTES, minutes=minutes)
    return minutes


def _open_order(session: Session, order_id: int, who: Actor, permission: str, what: str) -> WorkOrder:
    require(who, permission)
    order = load(session, order_id, who)
    ensure_not_frozen(order, what)
    return order


# ------------------------------------------------------------------ notes


def add_note(session: Session, order_id: int, body: Any, *, actor: Actor | None,
             clock: Clock | None = None) -> WorkOrderNote:
    """Add a note to a work order."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open_order(session, order_id, who, "workorder.comment", N_("add notes"))
    now = utc_now(clock)
    note = WorkOrderNote(work_order_id=order.id, kind="note", author_id=who.user_id,
                         author=who.username[:100], body=NOTE_BODY("body", body), created_at=now)
    session.add(note)
    touch(order, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.note", entity="work_order", entity_id=order.id,
                 after={"note_id": note.id, "body": note.body}, clock=clock)
    return note


# ------------------------------------------------------------------ time


def log_time(session: Session, order_id: int, *, minutes: Any, performed_at: Any = None,
             user_id: Any = None, note: Any = "", actor: Actor | None,
             clock: Clock | None = None) -> WorkOrderTimeLog:
    """Record ``minutes`` of work on an order by the acting user (or, for managers, by ``user_id``)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open_order(session, order_id, who, "workorder.record", N_("log time"))
    now = utc_now(clock)
    worker_id = optional_id("user_id", user_id)
    if worker_id is None or worker_id == who.user_id:
        if who.user_id is None:
            raise InvalidInput(N_("user_id: is required when the time is not the acting user's own"))
        worker_id = who.user_id
    else:
        if not can(who, "workorder.assign"):
            raise InvalidInput(N_("user_id: only managers may log time for someone else"))
    worker = session.get(User, worker_id)
    if worker is None or not worker.is_active or "workorder.record" not in PERMISSIONS.get(worker.role, ()):
        raise InvalidInput(N_("user_id: no active user %(worker_id)s who may record work"), worker_id=worker_id)
    when = parse_time("performed_at", performed_at) or now
    _not_future("performed_at", when, now)
    entry = WorkOrderTimeLog(work_order_id=order.id, user_id=worker.id, minutes=_minutes(minutes),
                             performed_at=when, note=text(2000)("note", note),
                             recorded_by=who.username[:100], created_at=now)
    session.add(entry)
    touch(order, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.time", entity="work_order", entity_id=order.id,
                 after={"time_log_id": entry.id, "user": worker.username, "minutes": entry.minutes,
                        "performed_at": entry.performed_at}, clock=clock)
    return entry


# ------------------------------------------------------------------ parts


def add_part(session: Session, order_id: int, *, part_number: Any, description: Any, quantity: Any,
             unit_cost: Any = None, actor: Actor | None, clock: Clock | None = None) -> WorkOrderPart:
    """Record a spare part used on an order."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open_order(session, order_id, who, "workorder.record", N_("record parts"))
    now = utc_now(clock)
    part = WorkOrderPart(work_order_id=order.id, part_number=text(64, required=True)("part_number", part_number),
                         description=text(300, required=True)("description", description),
                         quantity=_quantity("quantity", quantity), unit_cost=money("unit_cost", unit_cost),
                         recorded_by_id=who.user_id, recorded_by=who.username[:100], created_at=now)
    session.add(part)
    touch(order, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.part", entity="work_order", entity_id=order.id,
                 after={"part_id": part.id, "part_number": part.part_number, "quantity": part.quantity,
                        "unit_cost": part.unit_cost}, clock=clock)
    return part


# ------------------------------------------------------------------ attachments


def _checklist_item_key(session: Session, order: WorkOrder, key: str) -> str:
    """Return ``key`` when it names an item of ``order``'s checklist, else raise :class:`InvalidInput`."""
    occ = session.scalar(select(PmOccurrence).where(PmOccurrence.work_order_id == order.id))
    keys = [item["key"] for item in occ.checklist_version.items] if occ and occ.checklist_version else []
    if key not in keys:
        known = ", ".join(keys) if keys else f"work order {code_of(order)} has no checklist"
        raise InvalidInput(N_("checklist_item: no such checklist item %(key)r; known: %(known)s"),
                           key=key[:64], known=known)
    return key


def add_attachment(session: Session, order_id: int, *, filename: str | None, data: bytes,
                   store: AttachmentStore, actor: Actor | None, clock: Clock | None = None,
                   checklist_item: str | None = None,
                   kinds: tuple[FileType, ...] = FILE_TYPES) -> WorkOrderAttachment:
    """Store a file and attach it to an order; the same file twice returns the first attachment.

    ``checklist_item`` names the item of the order's checklist a photo was taken for (only
    photos are taken there); ``kinds`` narrows the accepted types (e.g. images only).
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open_order(session, order_id, who, "workorder.comment", N_("attach files"))
    if checklist_item:
        checklist_item = _checklist_item_key(session, order, checklist_item)
        kinds = IMAGE_TYPES
    content_type = sniff(data, kinds)
    data = strip_metadata(data, content_type)  # no GPS, device or time of the photo is kept
    existing = list(session.scalars(select(WorkOrderAttachment)
                                    .where(WorkOrderAttachment.work_order_id == order.id)))
    digest = hashlib.sha256(data).hexdigest()
    for row in existing:
        if row.sha256 == digest and row.checklist_item == (checklist_item or None):
            return row  # a retried upload (e.g. from a phone's offline queue) adds nothing
    if len(existing) >= MAX_ATTACHMENTS_PER_ORDER:
        raise InvalidInput(N_("file: work order %(code)s already has %(max_attachments_per_order)s attachments, "
                              "the most allowed"),
                           code=code_of(order), max_attachments_per_order=MAX_ATTACHMENTS_PER_ORDER)
    store.put(data)
    now = utc_now(clock)
    row = WorkOrderAttachment(work_order_id=order.id, filename=clean_filename(filename),
                              content_type=content_type, size=len(data), sha256=digest,
                              uploaded_by_id=who.user_id, uploaded_by=who.username[:100], created_at=now,
                              checklist_item=checklist_item or None)
    session.add(row)
    touch(order, now)
    session.flush()
    after = {"attachment_id": row.id, "filename": row.filename, "content_type": content_type,
             "size": row.size, "sha256": digest}
    if row.checklist_item:
        after["checklist_item"] = row.checklist_item
    audit.record(session, actor=who, action="workorder.attach", entity="work_order", entity_id=order.id,
                 after=after, clock=clock)
    return row


def get_attachment(session: Session, order_id: int, attachment_id: int, *,
                   actor: Actor | None) -> WorkOrderAttachment:
    """Return an attachment of an order the actor may see."""
    who = resolve_actor(actor)
    order = load(session, order_id, who)
    row = session.get(WorkOrderAttachment, attachment_id) if 1 <= attachment_id <= MAX_ID else None
    if row is None or row.work_order_id != order.id:
        raise NotFound(N_("attachment %(attachment_id)s of work order %(order_id)s does not exist"),
                       attachment_id=attachment_id, order_id=order_id)
    return row


# ------------------------------------------------------------------ downtime


def set_downtime(session: Session, order_id: int, *, start: Any, end: Any = None, reason: Any,
                 actor: Actor | None, clock: Clock | None = None) -> WorkOrder:
    """Correct when the equipment went down and came back; a reason is required and audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open_order(session, order_id, who, "workorder.record", N_("change its downtime"))
    why = text(2000, required=True)("reason", reason)
    now = utc_now(clock)
    begin, finish = parse_time("start", start), parse_time("end", end)
    if begin is None and finish is not None:
        raise InvalidInput(N_("start: is required when end is given"))
    for name, moment in (("start", begin), ("end", finish)):
        if moment is not None:
            _not_future(name, moment, now)
    if begin is not None and finish is not None and finish < begin:
        raise InvalidInput(N_("end: must not be before start (%(begin)s), got %(finish)s"),
                           begin=begin.isoformat(), finish=finish.isoformat())
    before = {"downtime_start": order.downtime_start, "downtime_end": order.downtime_end}
    order.downtime_start, order.downtime_end, order.downtime_reason = begin, finish, why
    touch(order, now)
    system_note(session, order, f"Downtime set to {_span(begin, finish)}; reason: {why}", who, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.downtime", entity="work_order", entity_id=order.id,
                 before=before, after={"downtime_start": begin, "downtime_end": finish, "reason": why},
                 clock=clock)
    return order


def _span(begin: datetime | None, finish: datetime | None) -> str:
    if begin is None:
        return "none"
    end_text = f"{finish:%Y-%m-%d %H:%M} UTC" if finish is not None else "still down"
    return f"{begin:%Y-%m-%d %H:%M} UTC - {end_text}"


def downtime_minutes(order: WorkOrder, now: datetime) -> int | None:
    """Return the minutes the equipment was (or has so far been) down, or None if unknown."""
    if order.downtime_start is None:
        return None
    end = order.downtime_end or now
    return max(0, int((end - order.downtime_start).total_seconds() // 60))
