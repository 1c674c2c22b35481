"""Requisitions for work and repairs in the JSON API under ``/api/v1``.

Routes only translate HTTP to :mod:`wardlink.hub.services.requisitions`, which checks
permissions, sides and department scope and records movements and the audit trail. A step the
flow does not allow from the requisition's state answers 409 ``invalid_transition``.
"""

from __future__ import annotations


from flask import Blueprint, Response, g, jsonify, request

from wardlink.hub.db.models import Requisition
from wardlink.hub.db.models.requisitions import REQUISITION_ACTIONS, REQUISITION_SIDES, REQUISITION_STATES
from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.requisitions import ageing, flow
from wardlink.hub.services.requisitions import register as requisitions
from wardlink.hub.services.requisitions.workorder import to_work_order
from wardlink.hub.services.validate import boolean
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import obj, operation, json_body
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, INTEGER, STRING, Param, array, enum,
                                                 nullable, page_params)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_requisitions", __name__, url_prefix="/api/v1")
guard(bp)

_GONE = (400, 401, 403, 404)
_MOVING = (400, 401, 403, 404, 409)
MOVEMENT = obj({"id": INTEGER, "action": enum(REQUISITION_ACTIONS), "from_role": enum(REQUISITION_SIDES),
                "to_role": enum(REQUISITION_SIDES), "from_status": enum(REQUISITION_STATES),
                "to_status": enum(REQUISITION_STATES), "remarks": STRING, "by": STRING, "at": DATETIME})
REQUISITION = obj({
    "id": INTEGER, "code": STRING, "title": STRING, "description": STRING, "priority": enum(WORK_ORDER_PRIORITIES),
    "status": enum(REQUISITION_STATES), "requesting_department_id": INTEGER, "requesting_department": STRING,
    "requested_by": nullable(STRING), "assigned_department_id": INTEGER, "assigned_department": STRING,
    "due_on": DATE, "overdue": BOOLEAN, "escalated_at": nullable(DATETIME), "work_order_id": nullable(INTEGER),
    "work_order": nullable(STRING), "created_at": DATETIME, "allowed_actions": array(enum(tuple(flow.STEPS))),
})
DETAIL = obj({**REQUISITION["properties"], "movements": array(MOVEMENT)})
_ID_IN = {"type": ["integer", "string", "null"], "description": "A department id"}
_NEW = obj({"title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 5000}, "priority": enum(WORK_ORDER_PRIORITIES),
            "requesting_department_id": _ID_IN, "assigned_department_id": _ID_IN, "due_on": DATE},
           required=("title", "assigned_department_id", "due_on"), extra=False)
_MOVE = obj({"action": enum(tuple(flow.STEPS)), "remarks": {"type": "string", "maxLength": 2000}},
            required=("action",), extra=False)
_BUCKETS = obj({b[0]: INTEGER for b in ageing.BUCKETS})
_AGE_ROW = obj({"department": STRING, "counts": _BUCKETS, "total": INTEGER, "overdue": INTEGER})
_FORMAT = Param("format", {"type": "string", "enum": list(tables.FORMATS)}, "`csv` (the default) or `xlsx`.")


@bp.errorhandler(flow.RequisitionConflict)
def _conflict(exc: flow.RequisitionConflict):
    return error_response(409, "invalid_transition", str(exc))


_body = json_body


def requisition_json(req: Requisition, *, movements: bool = False) -> dict:
    """Return a requisition as the API shows it; with its movements when asked."""
    day = requisitions.today(db(), state().clock, req.assigned_department_id)
    out = {**{k: jsonable(v) for k, v in requisitions.snapshot(req).items() if k != "requested_by_id"},
           "id": req.id, "requesting_department": req.requesting_department.name,
           "assigned_department": req.assigned_department.name,
           "requested_by": req.requested_by.username if req.requested_by else None,
           "overdue": requisitions.is_overdue(req, day), "escalated_at": jsonable(req.escalated_at),
           "work_order": req.work_order.code if req.work_order else None, "created_at": jsonable(req.created_at),
           "allowed_actions": [s.action for s in flow.allowed_actions(req, g.actor)]}
    if movements:
        out["movements"] = [{"id": m.id, "action": m.action, "from_role": m.from_role, "to_role": m.to_role,
                             "from_status": m.from_status, "to_status": m.to_status, "remarks": m.remarks,
                             "by": m.by_name, "at": jsonable(m.at)} for m in req.movements]
    return out


@bp.get("/requisitions")
@operation(summary="List requisitions", tag="requisitions", permissions=("requisition.view",),
           description="Oldest due first. A person limited to a department sees the requisitions it raised and "
                       "those assigned to it.",
           query=page_params(
               Param("status", enum(requisitions.STATUS_FILTERS),
                     "A status, `open` (the default: not rejected or closed) or `all`."),
               Param("department", {"type": "integer", "minimum": 1}, "Raised by or assigned to this department."),
               Param("overdue", {"type": "boolean"}, "Only those past their due date still owing work."),
               Param("q", {"type": "string"}, "Text in the code or title.")),
           response=obj({"items": array(REQUISITION), "page": INTEGER, "per_page": INTEGER, "total": INTEGER,
                         "total_exact": BOOLEAN, "pages": nullable(INTEGER), "has_next": BOOLEAN}))
def requisition_list():
    """List requisitions."""
    page = requisitions.list_requisitions(
        db(), actor=g.actor, clock=state().clock, status=request.args.get("status") or "open",
        department_id=request.args.get("department") or None,
        overdue=boolean("overdue", request.args.get("overdue") or False), q=request.args.get("q"), **paging())
    return jsonify(page_json(page, requisition_json))


@bp.post("/requisitions")
@operation(summary="Raise a requisition", tag="requisitions", permissions=("requisition.request",),
           description="From the caller's department (`requesting_department_id` for a caller without one) to "
                       "another, due on a local date not in the past. It starts `submitted` with its first "
                       "movement. Audited.",
           body=_NEW, status=201, response=DETAIL)
def requisition_create():
    """Raise a requisition."""
    req = requisitions.create_requisition(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(requisition_json(req, movements=True)), 201


@bp.get("/requisitions/<int:requisition_id>")
@operation(summary="One requisition with its movements", tag="requisitions", permissions=("requisition.view",),
           description="`allowed_actions` lists the steps the caller may take now.", errors=_GONE,
           response=DETAIL)
def requisition_detail(requisition_id: int):
    """Return a requisition."""
    return jsonify(requisition_json(requisitions.get_requisition(db(), requisition_id, actor=g.actor),
                                    movements=True))


@bp.post("/requisitions/<int:requisition_id>/movements")
@operation(summary="Take one step of a requisition's flow", tag="requisitions", permissions=("requisition.view",),
           any_of=("requisition.request", "requisition.handle", "requisition.approve"),
           conditional="`receive`, `review`, `execute`, `deliver`: `requisition.handle` (assigned department); "
                       "`approve`, `reject`: `requisition.approve` (assigned department); `close`: "
                       "`requisition.request` (requesting department)",
           description="A step the flow does not allow from the current status answers 409 `invalid_transition` "
                       "and changes nothing; `reject` needs `remarks`. Writes a movement and an audit row.",
           body=_MOVE, status=201, errors=_MOVING, response=DETAIL)
def requisition_move(requisition_id: int):
    """Take a step of the flow."""
    body = _body()
    req = flow.move(db(), requisition_id, body.get("action"), remarks=body.get("remarks", ""), actor=g.actor,
                    clock=state().clock)
    commit()
    return jsonify(requisition_json(req, movements=True)), 201


@bp.post("/requisitions/<int:requisition_id>/work-order")
@operation(summary="Make a work order of a requisition", tag="requisitions",
           permissions=("requisition.handle", "workorder.create"),
           description="Once, from an approved requisition or one in execution, by the assigned department: a "
                       "corrective order with its title, description and priority, due at the end of its due "
                       "date. 409 when already made or in another status.",
           body_required=False, status=201, errors=_MOVING, response=DETAIL)
def requisition_work_order(requisition_id: int):
    """Make a work order of a requisition."""
    to_work_order(db(), requisition_id, actor=g.actor, clock=state().clock)
    commit()
    req = requisitions.get_requisition(db(), requisition_id, actor=g.actor)
    return jsonify(requisition_json(req, movements=True)), 201


@bp.get("/requisitions/ageing")
@operation(summary="Open requisitions by age and assigned department", tag="requisitions",
           permissions=("requisition.view",),
           description="Requisitions not rejected or closed, by whole days since raised (0-7, 8-30, 31-90, over "
                       "90) and assigned department, with how many are overdue.",
           response=obj({"on": DATE, "rows": array(_AGE_ROW), "totals": _AGE_ROW}))
def requisition_ageing():
    """Return the ageing report."""
    report = ageing.ageing(db(), actor=g.actor, clock=state().clock)

    def row(r: ageing.Row) -> dict:
        return {"department": r.department, "counts": r.counts, "total": r.total, "overdue": r.overdue}
    return jsonify({"on": report.on.isoformat(), "rows": [row(r) for r in report.rows], "totals": row(report.totals)})


@bp.get("/requisitions/ageing/export")
@operation(summary="Download the ageing report", tag="requisitions", permissions=("requisition.view",),
           description="CSV (the table) or Excel (the table and a sheet of each open requisition). Audited.",
           query=(_FORMAT,), response_media=tuple(tables.content_type(f).split(";")[0] for f in tables.FORMATS))
def requisition_ageing_export():
    """Export the ageing report."""
    fmt = tables.check_format(request.args.get("format") or "csv")
    table = ageing.ageing_table(db(), actor=g.actor, clock=state().clock)
    content = tables.write(table, fmt)
    exports.record(db(), actor=g.actor, kind="requisition_ageing", fmt=fmt, filters={}, rows=table.total or 0,
                   clock=state().clock)
    commit()
    return Response(content, mimetype=tables.content_type(fmt),
                    headers={"Content-Disposition": f'attachment; filename="{table.filename}.{fmt}"'})
