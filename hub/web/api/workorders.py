"""The work-order JSON API under ``/api/v1/work-orders``.

Routes only translate HTTP to service calls (:mod:`wardlink.hub.services.maintenance.workorders`), which check
permissions and record the audit trail. A refused state change answers 409
(``invalid_transition``), a refused signature 403 (``signature_refused``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.vocab import (WORK_ORDER_KINDS, WORK_ORDER_PRIORITIES, WORK_ORDER_RESOLUTIONS, WORK_ORDER_SOURCES,
                          WORK_ORDER_STATES, label)
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance import delays, workorders
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.maintenance.attachments import (FILE_TYPES, MAX_ATTACHMENT_BYTES, AttachmentStore,
                                                           read_limited)
from wardlink.hub.services.maintenance.esign import signature_intact
from wardlink.hub.services.maintenance.sla import DEFAULT_POLICY, SlaPolicy
from wardlink.hub.services.validate import boolean, optional_id
from wardlink.hub.services.maintenance.workorder_common import SignatureRefused, WorkOrderConflict
from wardlink.hub.services.maintenance.workorder_flow import RESOLUTIONS_BY_KIND, TRANSITIONS, roles_for
from wardlink.hub.web.api.docs import WO
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.files import send_stored
from wardlink.hub.web.api.openapi import Param, array, check_request, obj, operation, page_params, ref, json_body
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.api.serialize import page_json
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state
from wardlink.hub.web.api.workorder_json import (attachment_json, detail_json, note_json, part_json, time_log_json,
                                    user_ref, work_order_json)

bp = Blueprint("api_workorders", __name__)

#: Most files one request (from staff or the QR page) may carry.
MAX_REQUEST_FILES = 5
_UPLOAD_LIMITS = {
    "api_workorders.add_attachment": MAX_ATTACHMENT_BYTES + 64 * 1024,
    "api_workorders.request_work": MAX_REQUEST_FILES * MAX_ATTACHMENT_BYTES + 64 * 1024,
}


@bp.before_app_request
def _raise_upload_limit():
    # Runs before the app reads any form field (the CSRF check does), so uploads get their
    # own limit instead of the app-wide one.
    limit = _UPLOAD_LIMITS.get(request.endpoint or "")
    if limit is not None:
        request.max_content_length = limit


guard(bp)


@bp.errorhandler(WorkOrderConflict)
def _conflict(exc: WorkOrderConflict):
    return error_response(409, "invalid_transition", str(exc))


@bp.errorhandler(SignatureRefused)
def _signature_refused(exc: SignatureRefused):
    return error_response(403, "signature_refused", str(exc))


def _policy() -> SlaPolicy:
    return DEFAULT_POLICY


def _store() -> AttachmentStore:
    return AttachmentStore(state().config.attachments_dir)


def _clock():
    return state().clock


_body = json_body


def _detail(order, status: int = 200):
    session = db()
    records = workorders.records_of(session, order)
    intact = [signature_intact(session, s) for s in records.signatures]
    now = utc_now(_clock())
    return jsonify(detail_json(order, records, intact, g.actor, now, _policy())), status


# ------------------------------------------------------------------ collection

#: The date-range filters of work-order lists and exports.
DATE_PARAMS = (
    Param("dates", {"type": "string", "enum": ["opened", "due", "closed"]},
          "Which date `date_from`/`date_to` limit (default `opened`; `due` is the resolution due time)."),
    Param("date_from", {"type": "string", "format": "date"},
          "First local day (YYYY-MM-DD, in the site's time zone), included."),
    Param("date_to", {"type": "string", "format": "date"},
          "Last local day (YYYY-MM-DD, in the site's time zone), included; not before `date_from`."),
)



@bp.get("/work-orders")
@operation(summary="List work orders", tag="work orders", permissions=("workorder.view",),
           description="Staff see the orders they requested, vendors the orders assigned to them, "
                       "others their department's (or all).",
           query=page_params(
               Param("state", {"type": "string"}, "A state, a comma-separated list, `open` or `done`."),
               Param("kind", {"type": "string", "enum": list(WORK_ORDER_KINDS)}),
               Param("priority", {"type": "string", "enum": list(WORK_ORDER_PRIORITIES)}),
               Param("source", {"type": "string", "enum": list(WORK_ORDER_SOURCES)}),
               Param("asset", {"type": "string"}, "Asset tag."),
               Param("department_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
               Param("assigned_to", {"type": "string"}, "User id, `me` or `none` (unassigned)."),
               Param("requested_by", {"type": "string"}, "User id or `me`."),
               Param("breached", {"type": "boolean"}, "Only orders with (true) or without (false) an SLA breach."),
               Param("q", {"type": "string"}, "Text in the title or code."),
               *DATE_PARAMS,
               Param("sort", {"type": "string", "enum": ["newest", "oldest", "due", "priority", "updated"]})),
           response=ref("WorkOrderPage"))
def list_work_orders():
    """List work orders with filters and pages."""
    page = workorders.list_work_orders(db(), actor=g.actor, **list_filters(), **paging())
    now = utc_now(_clock())
    return jsonify(page_json(page, lambda o: work_order_json(o, now, _policy())))


def list_filters() -> dict[str, Any]:
    """Return the work-order list filters of the query string, as the service names them."""
    args = request.args
    breached = args.get("breached")
    return {"state": args.get("state") or None, "kind": args.get("kind") or None,
            "priority": args.get("priority") or None, "source": args.get("source") or None,
            "asset_tag": args.get("asset") or None, "department_id": args.get("department_id") or None,
            "assigned_to": args.get("assigned_to") or None, "requested_by": args.get("requested_by") or None,
            "breached": None if breached in (None, "") else boolean("breached", breached),
            "q": args.get("q"), "dates": args.get("dates") or None, "date_from": args.get("date_from") or None,
            "date_to": args.get("date_to") or None, "sort": args.get("sort") or "newest"}


@bp.post("/work-orders")
@operation(summary="Open a work order", tag="work orders", permissions=("workorder.create",),
           description="Any kind; pm, inspection and recall orders must name an asset. `assignee_id` "
                       "assigns at once (needs `workorder.assign`).",
           body=WO["create"], status=201, response=ref("WorkOrderDetail"))
def create_work_order():
    """Open a work order."""
    order = workorders.create_work_order(db(), _body(), actor=g.actor, clock=_clock(), policy=_policy())
    commit()
    return _detail(order, 201)


def _request_form() -> tuple[dict[str, Any], list[tuple[str | None, bytes]]]:
    if request.is_json:
        return _body(), []
    if request.mimetype != "multipart/form-data":
        raise InvalidInput("body: send JSON, or multipart/form-data with the fields and 'files'")
    fields = {k: v for k, v in request.form.items()}
    check_request({**fields, **{name: [] for name in request.files}}, form=True)
    uploads = request.files.getlist("files")
    if len(uploads) > MAX_REQUEST_FILES:
        raise InvalidInput(f"files: at most {MAX_REQUEST_FILES} files per request, got {len(uploads)}")
    return fields, [(f.filename, f.read()) for f in uploads]


@bp.post("/work-orders/requests")
@operation(summary="Request work (becomes a pending corrective order)", tag="work orders",
           permissions=("workorder.request",),
           description="JSON, or multipart/form-data with the same fields plus up to five `files` "
                       "(JPEG, PNG, WebP, PDF or plain text, 10 MiB each).",
           body=WO["request"], form=WO["request_form"], status=201, response=ref("WorkOrderDetail"))
def request_work():
    """Turn a request into a pending corrective work order, with its files."""
    fields, files = _request_form()
    order = workorders.request_work(db(), fields, actor=g.actor, clock=_clock(), files=files,
                                    store=_store(), policy=_policy())
    commit()
    return _detail(order, 201)


@bp.get("/work-orders/assignees")
@operation(summary="Users who may take a work order", tag="work orders",
           permissions=("workorder.assign",),
           description="Active technicians of the order's department or of none, and vendors. Without "
                       "arguments: for the caller's department (everyone for callers without one).",
           query=(Param("work_order_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        "For this order."),
                  Param("department_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        "For an order of this department.")),
           errors=(400, 401, 403, 404), response=obj({"items": array(ref("UserRef"))}))
def assignees():
    """List the users who may take an order."""
    order_id = optional_id("work_order_id", request.args.get("work_order_id") or None)
    department_id = optional_id("department_id", request.args.get("department_id") or None)
    users = workorders.assignable_users(db(), actor=g.actor, order_id=order_id, department_id=department_id)
    return jsonify({"items": [user_ref(u) for u in users]})


@bp.get("/work-orders/assignee-choices")
@operation(summary="People work-order lists can be filtered by", tag="work orders",
           permissions=("workorder.view",),
           description="Whoever holds an order the caller may see and, for those who assign work, everyone "
                       "work can be assigned to. Pass a user's id as `assigned_to`.",
           response=obj({"items": array(ref("UserRef"))}))
def assignee_choices():
    """List the people work orders can be filtered by."""
    return jsonify({"items": [user_ref(u) for u in workorders.assignee_choices(db(), actor=g.actor)]})


@bp.get("/work-orders/vocabulary")
@operation(summary="Kinds, states, priorities, resolutions, transitions and SLA targets",
           tag="work orders", permissions=("workorder.view",), response=ref("WorkOrderVocabulary"))
def vocabulary():
    """Describe the work-order workflow for clients building forms."""
    policy = _policy()
    return jsonify({
        "kinds": [{"value": v, "label": label(v)} for v in WORK_ORDER_KINDS],
        "states": [{"value": v, "label": label(v)} for v in WORK_ORDER_STATES],
        "priorities": [{"value": v, "label": label(v),
                        "response_hours": policy.target(v).response.total_seconds() / 3600,
                        "resolution_hours": policy.target(v).resolution.total_seconds() / 3600}
                       for v in WORK_ORDER_PRIORITIES],
        "resolutions": [{"value": v, "label": label(v),
                         "kinds": [k for k, allowed in RESOLUTIONS_BY_KIND.items() if v in allowed]}
                        for v in WORK_ORDER_RESOLUTIONS],
        "transitions": [{"from": t.source, "to": t.target, "verb": t.verb, "permission": t.permission,
                         "roles": roles_for(t), "assignee_only": t.assignee_only, "needs": list(t.needs),
                         "optional": list(t.optional)} for t in TRANSITIONS],
    })


# ------------------------------------------------------------------ one order


@bp.get("/work-orders/<int:order_id>")
@operation(summary="One work order with its notes, time, parts, files, signatures and next steps",
           tag="work orders", permissions=("workorder.view",), response=ref("WorkOrderDetail"))
def get_work_order(order_id: int):
    """Return one work order in full."""
    return _detail(workorders.get_work_order(db(), order_id, actor=g.actor))


@bp.patch("/work-orders/<int:order_id>")
@operation(summary="Change title, description, priority or due date", tag="work orders",
           permissions=("workorder.update",), description="A new priority moves the SLA due times.",
           body=WO["update"], errors=(400, 401, 403, 409), response=ref("WorkOrderDetail"))
def update_work_order(order_id: int):
    """Change an open work order."""
    order = workorders.update_work_order(db(), order_id, _body(), actor=g.actor, clock=_clock(),
                                         policy=_policy())
    commit()
    return _detail(order)


@bp.post("/work-orders/<int:order_id>/transition")
@operation(summary="Move a work order to another state", tag="work orders", permissions=("workorder.view",),
           conditional="The permission needed depends on the transition: see "
                       "`GET /work-orders/vocabulary` (`transitions`). Closing needs the signer's "
                       "password (electronic signature).",
           body=WO["transition"], errors=(400, 401, 403, 409), response=ref("WorkOrderDetail"))
def transition(order_id: int):
    """Apply one transition of the state machine."""
    body = _body()
    to = body.pop("to", None)
    if not isinstance(to, str) or not to:
        raise InvalidInput(f"to: is required, one of {', '.join(WORK_ORDER_STATES)}")
    return _signed(lambda: workorders.transition(db(), order_id, to, body, actor=g.actor, clock=_clock()))


def _signed(action):
    try:
        order = action()
    except SignatureRefused:
        commit()  # keep the failed attempt's count and audit row
        raise
    commit()
    return _detail(order)


@bp.post("/work-orders/<int:order_id>/assign")
@operation(summary="Assign or reassign a work order", tag="work orders", permissions=("workorder.assign",),
           body=WO["assign"], errors=(400, 401, 403, 409), response=ref("WorkOrderDetail"))
def assign(order_id: int):
    """Give the order to a technician or vendor."""
    order = workorders.reassign(db(), order_id, _body().get("assignee_id"), actor=g.actor, clock=_clock())
    commit()
    return _detail(order)


@bp.post("/work-orders/<int:order_id>/close")
@operation(summary="Approve and close with an electronic signature", tag="work orders",
           permissions=("workorder.close",),
           description="The signer re-enters their password; the signature (name, time, meaning "
                       "'approved and closed', digest of the record) is stored and audited.",
           body=WO["close"], errors=(400, 401, 403, 409), response=ref("WorkOrderDetail"))
def close(order_id: int):
    """Close a completed work order with the caller's signature."""
    body = _body()
    unknown = sorted(set(body) - {"password", "comment"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: comment, password")
    return _signed(lambda: workorders.close(db(), order_id, password=body.get("password") or "",
                                            comment=body.get("comment") or "", actor=g.actor,
                                            clock=_clock()))


@bp.post("/work-orders/<int:order_id>/notes")
@operation(summary="Add a note", tag="work orders", permissions=("workorder.comment",), body=WO["note"],
           status=201, errors=(400, 401, 403, 409), response=ref("Note"))
def add_note(order_id: int):
    """Add a note to a work order."""
    body = _body()
    _only(body, "body")
    note = workorders.add_note(db(), order_id, body.get("body"), actor=g.actor, clock=_clock())
    commit()
    return jsonify(note_json(note)), 201


@bp.post("/work-orders/<int:order_id>/time-logs")
@operation(summary="Log time spent", tag="work orders", permissions=("workorder.record",),
           body=WO["time_log"], status=201, errors=(400, 401, 403, 409), response=ref("TimeLog"))
def log_time(order_id: int):
    """Record minutes of work."""
    body = _body()
    _only(body, "minutes", "performed_at", "user_id", "note")
    entry = workorders.log_time(db(), order_id, minutes=body.get("minutes"),
                                performed_at=body.get("performed_at"), user_id=body.get("user_id"),
                                note=body.get("note") or "", actor=g.actor, clock=_clock())
    commit()
    return jsonify(time_log_json(entry)), 201


@bp.post("/work-orders/<int:order_id>/parts")
@operation(summary="Record a part used", tag="work orders", permissions=("workorder.record",),
           body=WO["part"], status=201, errors=(400, 401, 403, 409), response=ref("Part"))
def add_part(order_id: int):
    """Record a spare part used."""
    body = _body()
    _only(body, "part_number", "description", "quantity", "unit_cost")
    part = workorders.add_part(db(), order_id, part_number=body.get("part_number"),
                               description=body.get("description"), quantity=body.get("quantity"),
                               unit_cost=body.get("unit_cost"), actor=g.actor, clock=_clock())
    commit()
    return jsonify(part_json(part)), 201


@bp.post("/work-orders/<int:order_id>/attachments")
@operation(summary="Attach a file", tag="work orders", permissions=("workorder.comment",),
           description="multipart/form-data with one `file`: JPEG, PNG, WebP, PDF or plain text "
                       "(the type is read from the content; HTML, SVG and XML are refused), at most 10 MiB. "
                       "With `checklist_item` (an item key of the order's checklist) the file is that "
                       "item's photo (JPEG, PNG or WebP). Uploading the same file again returns the first "
                       "attachment.",
           form=WO["attachment_form"], status=201, errors=(400, 401, 403, 409),
           response=ref("Attachment"))
def add_attachment(order_id: int):
    """Attach one uploaded file."""
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise InvalidInput("file: send one file as multipart/form-data field 'file'")
    unknown = sorted(set(request.form) - {"checklist_item", CSRF_FIELD})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: checklist_item, file")
    row = workorders.add_attachment(db(), order_id, filename=upload.filename, data=read_limited(upload.stream),
                                    store=_store(), actor=g.actor, clock=_clock(),
                                    checklist_item=request.form.get("checklist_item") or None)
    commit()
    return jsonify(attachment_json(row)), 201


@bp.get("/work-orders/<int:order_id>/attachments/<int:attachment_id>")
@operation(summary="Download an attached file", tag="work orders", permissions=("workorder.view",),
           response_media=tuple(t.content_type for t in FILE_TYPES), errors=(401, 403, 503))
def download_attachment(order_id: int, attachment_id: int):
    """Send an attached file (always as a download, never rendered in the hub's origin)."""
    row = workorders.get_attachment(db(), order_id, attachment_id, actor=g.actor)
    return send_stored(sha256=row.sha256, content_type=row.content_type, filename=row.filename, download=True)


@bp.post("/work-orders/<int:order_id>/delay-reasons")
@operation(summary="Give the reason an order breached its service level", tag="work orders",
           permissions=("workorder.record",),
           description="Only once the order has breached its response or resolution time; several may be given "
                       "(none edited). The monthly repairs list shows them with the holds' reasons. Audited.",
           body=WO["delay"], status=201, errors=(400, 401, 403, 404, 409), response=ref("WorkOrderDetail"))
def add_delay_reason(order_id: int):
    """Record a reason for an SLA breach."""
    require(g.actor, "workorder.record")  # before the body: a caller who may not gets 403, not 400
    body = _body()
    _only(body, "reason")
    delays.explain_breach(db(), order_id, body.get("reason"), actor=g.actor, clock=_clock())
    commit()
    return _detail(workorders.get_work_order(db(), order_id, actor=g.actor), 201)


@bp.put("/work-orders/<int:order_id>/downtime")
@operation(summary="Set when the equipment went down and came back", tag="work orders",
           permissions=("workorder.record",), description="A reason is required; the change is audited.",
           body=WO["downtime"], errors=(400, 401, 403, 409), response=ref("WorkOrderDetail"))
def set_downtime(order_id: int):
    """Correct the downtime of a work order."""
    body = _body()
    _only(body, "start", "end", "reason")
    order = workorders.set_downtime(db(), order_id, start=body.get("start"), end=body.get("end"),
                                    reason=body.get("reason"), actor=g.actor, clock=_clock())
    commit()
    return _detail(order)


def _only(body: dict, *names: str) -> None:
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: {', '.join(sorted(names))}")
