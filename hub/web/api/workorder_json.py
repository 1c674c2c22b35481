"""JSON forms of work orders and their records, as the API returns them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from wardlink.hub.db.models import (User, WorkOrder, WorkOrderAttachment, WorkOrderNote, WorkOrderPart,
                           WorkOrderSignature, WorkOrderTimeLog)
from sqlalchemy.orm import object_session

from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import delays
from wardlink.hub.services.maintenance.sla import SlaPolicy, sla_status
from wardlink.hub.services.maintenance.workorder_flow import available
from wardlink.hub.services.maintenance.workorder_records import Records, downtime_minutes
from wardlink.hub.services.maintenance.workorders import code_of
from wardlink.hub.web.api.serialize import jsonable


def user_ref(user: User | None) -> dict | None:
    """Return who a user is, briefly."""
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role}


def work_order_json(order: WorkOrder, now: datetime, policy: SlaPolicy) -> dict:
    """Return a work order as listed."""
    return {
        "id": order.id, "code": code_of(order), "kind": order.kind, "state": order.state,
        "priority": order.priority, "source": order.source, "title": order.title,
        "description": order.description,
        "asset": {"tag": order.asset.tag, "name": order.asset.name} if order.asset else None,
        "department": ({"id": order.department.id, "code": order.department.code,
                        "name": order.department.name} if order.department else None),
        "alert_id": order.alert_id, "parent_id": order.parent_id,
        "requested_by": user_ref(order.requested_by), "requester_name": order.requester_name,
        "requester_contact": order.requester_contact, "requester_email": order.requester_email,
        "assigned_to": user_ref(order.assigned_to),
        "due_at": jsonable(order.due_at), "created_at": jsonable(order.created_at),
        "updated_at": jsonable(order.updated_at),
        "sla": {
            "response_due_at": jsonable(order.response_due_at),
            "resolution_due_at": jsonable(order.resolution_due_at),
            "responded_at": jsonable(order.responded_at), "completed_at": jsonable(order.completed_at),
            "response_breached_at": jsonable(order.response_breached_at),
            "resolution_breached_at": jsonable(order.resolution_breached_at),
            "escalation_level": order.escalation_level, "escalated_at": jsonable(order.escalated_at),
            **sla_status(order, now, policy),
        },
        "on_hold_since": jsonable(order.on_hold_since), "hold_reason": order.hold_reason,
        "resolution_category": order.resolution_category, "resolution_note": order.resolution_note,
        "safety_check": order.safety_check,
        "closed_at": jsonable(order.closed_at), "closed_by": user_ref(order.closed_by),
        "cancelled_at": jsonable(order.cancelled_at),
        "downtime": {"start": jsonable(order.downtime_start), "end": jsonable(order.downtime_end),
                     "minutes": downtime_minutes(order, now), "reason": order.downtime_reason},
    }


def note_json(note: WorkOrderNote) -> dict:
    """Return a note."""
    return {"id": note.id, "kind": note.kind, "author": note.author, "body": note.body,
            "created_at": jsonable(note.created_at)}


def time_log_json(entry: WorkOrderTimeLog) -> dict:
    """Return a time log entry."""
    return {"id": entry.id, "user": user_ref(entry.user), "minutes": entry.minutes,
            "performed_at": jsonable(entry.performed_at), "note": entry.note,
            "recorded_by": entry.recorded_by, "created_at": jsonable(entry.created_at)}


def part_json(part: WorkOrderPart) -> dict:
    """Return a part used, with its line cost when the unit cost is known."""
    line = None if part.unit_cost is None else (part.quantity * part.unit_cost).quantize(Decimal("0.01"))
    return {"id": part.id, "part_number": part.part_number, "description": part.description,
            "quantity": format(part.quantity.normalize(), "f"), "unit_cost": jsonable(part.unit_cost),
            "line_cost": jsonable(line), "recorded_by": part.recorded_by,
            "created_at": jsonable(part.created_at)}


def attachment_json(row: WorkOrderAttachment) -> dict:
    """Return an attachment's metadata and where to download it."""
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "sha256": row.sha256, "uploaded_by": row.uploaded_by, "created_at": jsonable(row.created_at),
            "checklist_item": row.checklist_item,
            "url": f"/api/v1/work-orders/{row.work_order_id}/attachments/{row.id}"}


def signature_json(row: WorkOrderSignature, intact: bool) -> dict:
    """Return a signature and whether the signed record is unchanged since."""
    return {"id": row.id, "username": row.username, "signer_name": row.signer_name,
            "meaning": row.meaning, "comment": row.comment, "signed_at": jsonable(row.signed_at),
            "record_hash": row.record_hash, "intact": intact}


def detail_json(order: WorkOrder, records: Records, intact: list[bool], who: Actor, now: datetime,
                policy: SlaPolicy) -> dict:
    """Return a work order with everything recorded on it and what ``who`` may do next."""
    data = work_order_json(order, now, policy)
    data.update({
        "notes": [note_json(n) for n in records.notes],
        "time_logs": [time_log_json(t) for t in records.time_logs],
        "parts": [part_json(p) for p in records.parts],
        "attachments": [attachment_json(a) for a in records.attachments],
        "signatures": [signature_json(s, ok) for s, ok in zip(records.signatures, intact)],
        "totals": {"minutes": records.minutes, "parts_cost": jsonable(records.parts_cost)},
        "delays": [{"id": d.id, "kind": d.kind, "reason": d.reason, "started_at": jsonable(d.started_at),
                    "ended_at": jsonable(d.ended_at), "recorded_by": d.recorded_by,
                    "recorded_at": jsonable(d.recorded_at)}
                   for d in delays.of_orders(object_session(order), [order.id]).get(order.id, [])],
        "transitions": [{"to": t.target, "verb": t.verb, "needs": list(t.needs), "optional": list(t.optional)}
                        for t in available(order, who)],
    })
    return data
