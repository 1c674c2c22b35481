"""The checklist of a PM work order: read it, record results, open corrective work on failures.

A PM work order carries the checklist version its service was generated with. Results can
be recorded (and corrected) until the order is completed; each recording is audited. An
item that fails and is marked ``corrective`` (the default for pass/fail and value items),
or whose answer asks for it with ``open_corrective``, opens one corrective work order,
linked to the PM order as its parent; recording again never opens a second one for the
same item.

A ``photo`` item is answered with the ``attachment_id`` of a photo attached to the same work
order, either for that item or for none in particular; any other file is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import ChecklistResult, ChecklistVersion, PmOccurrence, WorkOrder, WorkOrderAttachment
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.maintenance.attachments import IMAGE_CONTENT_TYPES
from wardlink.hub.services.maintenance.checklists import Evaluation, evaluate
from wardlink.hub.services.people.permissions import ACTION_TEXT, can
from wardlink.hub.services.maintenance.pm_meters import meter_value, store_reading
from wardlink.hub.services.maintenance.workorder_common import WorkOrderConflict, code_of, load
from wardlink.clock import Clock

#: Work order states in which results may still be recorded.
RECORDABLE_STATES = frozenset({"pending", "assigned", "in_progress", "on_hold"})


@dataclass(frozen=True)
class OrderChecklist:
    """A work order, the checklist version it carries, and the results recorded so far."""

    order: WorkOrder
    occurrence: PmOccurrence | None
    version: ChecklistVersion
    result: ChecklistResult | None


def _require_any(who: Actor, *actions: str) -> None:
    if not any(can(who, a) for a in actions):
        raise PermissionDenied(N_("role '%(role)s' may not %(action)s (user '%(user)s')"),
                               role=Term(who.role), action=Message(ACTION_TEXT[actions[0]]), user=who.username)


def checklist_for(session: Session, work_order_id: int, *, actor: Actor | None) -> OrderChecklist:
    """Return the checklist of a work order the actor can see, with any recorded results."""
    who = resolve_actor(actor)
    _require_any(who, "pm.view", "pm.record")
    order = load(session, work_order_id, who)
    occ = session.scalar(select(PmOccurrence).where(PmOccurrence.work_order_id == order.id))
    if occ is None or occ.checklist_version is None:
        raise NotFound(N_("work order %(code)s has no checklist"), code=code_of(order))
    result = session.scalar(select(ChecklistResult).where(ChecklistResult.work_order_id == order.id))
    return OrderChecklist(order, occ, occ.checklist_version, result)


def _open_corrective(session: Session, order: WorkOrder, item: dict, result: dict, who: Actor,
                     clock: Clock) -> WorkOrder:
    from wardlink.hub.services.maintenance.workorders import open_corrective_from_failed_item

    shown = (f"{result['value']:g} {item.get('unit', '')}".strip() if "value" in result
             else result["outcome"])
    detail = f"Result: {shown}." + (f" {result['comment']}" if result.get("comment") else "")
    return open_corrective_from_failed_item(session, work_order_id=order.id, item=item["label"][:200],
                                            detail=detail, actor=who, clock=clock,
                                            safety=bool(item.get("safety")))


def _check_photos(session: Session, order: WorkOrder, items: dict[str, dict], evaluation: Evaluation) -> None:
    """Refuse a photo answer that is not a photo of ``order`` taken for that item (or for none)."""
    for res in evaluation.results:
        photo_id = res.get("attachment_id")
        if items[res["key"]]["kind"] != "photo" or photo_id is None:
            continue
        where = f"answers.{res['key']}.attachment_id"
        row = session.get(WorkOrderAttachment, photo_id)
        if row is None or row.work_order_id != order.id:
            raise InvalidInput(N_("%(where)s: work order %(code)s has no attachment %(photo_id)s"),
                               where=where, code=code_of(order), photo_id=photo_id)
        if row.content_type not in IMAGE_CONTENT_TYPES:
            raise InvalidInput(N_("%(where)s: attachment %(photo_id)s (%(filename)s) is not a photo"),
                               where=where, photo_id=photo_id, filename=row.filename)
        if row.checklist_item not in (None, res["key"]):
            raise InvalidInput(N_("%(where)s: attachment %(photo_id)s is the photo of item '%(checklist_item)s'"),
                               where=where, photo_id=photo_id, checklist_item=row.checklist_item)


def item_photos(session: Session, work_order_id: int) -> dict[str, int]:
    """Return, per checklist item key, the newest photo attached to the order for that item."""
    rows = session.execute(select(WorkOrderAttachment.checklist_item, WorkOrderAttachment.id).where(
        WorkOrderAttachment.work_order_id == work_order_id, WorkOrderAttachment.checklist_item.is_not(None),
        WorkOrderAttachment.content_type.in_(sorted(IMAGE_CONTENT_TYPES))).order_by(WorkOrderAttachment.id))
    return {key: photo_id for key, photo_id in rows}


def record_results(session: Session, work_order_id: int, answers: Any, *, meter: Any = None,
                   actor: Actor | None, clock: Clock | None = None) -> tuple[ChecklistResult, list[WorkOrder]]:
    """Record checklist answers on a work order; return the result and any corrective orders opened.

    ``answers`` maps item keys to ``{"result": "pass"|"fail"|"na"}``, ``{"value": 12.5}``,
    ``{"text": "..."}`` or ``{"attachment_id": 7}`` (a photo of the order), each optionally
    with ``comment`` and ``open_corrective``. ``meter`` is the plan's meter as read off the
    device at the service, kept with the results.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    sheet = checklist_for(session, work_order_id, actor=who)
    _require_any(who, "pm.record")
    order = sheet.order
    if order.state not in RECORDABLE_STATES:
        raise WorkOrderConflict(N_("work order %(code)s is %(state)s; checklist results can only be recorded "
                                   "before it is completed"), code=code_of(order), state=Term(order.state))
    evaluation = evaluate(sheet.version.items, answers)
    items = {item["key"]: item for item in sheet.version.items}
    _check_photos(session, order, items, evaluation)
    reading = None if meter is None or meter == "" else meter_value("meter", meter)
    previous = {r["key"]: r for r in (sheet.result.results if sheet.result else [])}
    opened: list[WorkOrder] = []
    results = []
    for res in evaluation.results:
        res = dict(res)
        earlier = previous.get(res["key"], {}).get("corrective_work_order_id")
        if earlier is not None:
            res["corrective_work_order_id"] = earlier
        item = items[res["key"]]
        wants = item["corrective"] or res.get("open_corrective")
        if res["outcome"] == "fail" and wants and earlier is None:
            corrective = _open_corrective(session, order, item, res, who, clock)
            res["corrective_work_order_id"] = corrective.id
            opened.append(corrective)
        res.pop("open_corrective", None)
        results.append(res)
    now = utc_now(clock)
    row = sheet.result
    before = None if row is None else {"results": row.results, "passed": row.passed, "meter": row.meter_value}
    if row is None:
        row = ChecklistResult(work_order_id=order.id, checklist_version_id=sheet.version.id)
        session.add(row)
    row.results, row.passed, row.complete = results, evaluation.passed, evaluation.complete
    row.meter_value = reading if reading is not None else row.meter_value
    row.recorded_by, row.recorded_by_id, row.recorded_at = who.username[:100], who.user_id, now
    session.flush()
    if reading is not None and sheet.occurrence is not None and sheet.occurrence.plan.meter:
        store_reading(session, order.asset, meter=sheet.occurrence.plan.meter, value=reading,
                      note=f"read at {code_of(order)}", work_order_id=order.id, actor=who, clock=clock)
    audit.record(session, actor=who, action="checklist.record", entity="work_order", entity_id=order.id,
                 before=before, after={"results": results, "passed": row.passed, "complete": row.complete,
                                       "meter": row.meter_value,
                                       "correctives": [c.id for c in opened]}, clock=clock)
    return row, opened


def checklist_complete(session: Session, work_order_id: int) -> bool:
    """Return True when a work order needs no checklist or has every required item answered."""
    occ = session.scalar(select(PmOccurrence).where(PmOccurrence.work_order_id == work_order_id))
    if occ is None or occ.checklist_version_id is None:
        return True
    result = session.scalar(select(ChecklistResult).where(ChecklistResult.work_order_id == work_order_id))
    return result is not None and result.complete
