"""Requisition pages: the list with filters, the form that raises one, one requisition with its
movement history and the steps the reader may take as buttons, and the ageing report with its
CSV / Excel export.

The flow, who may take which step and department scope are judged in
:mod:`wardlink.hub.services.requisitions`; these views turn forms into service calls.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES, label
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.people import org
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.requisitions import ageing, flow
from wardlink.hub.services.requisitions import register as requisitions
from wardlink.hub.services.requisitions.workorder import can_convert, to_work_order
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("requisitions", __name__, template_folder="templates", url_prefix="/requisitions")

PER_PAGE = 25
#: The fields of the new-requisition form.
FORM_FIELDS = tuple(requisitions.FIELDS)


def _filters() -> dict:
    return {"status": request.args.get("status") or "open", "department_id": request.args.get("department") or None,
            "overdue": request.args.get("overdue") in ("1", "on", "true"), "q": request.args.get("q") or None}


@bp.get("")
@login_required
def index():
    """List the requisitions the reader may see, oldest due first, with filters."""
    filters = _filters()
    departments = org.list_departments(db())
    try:
        page = requisitions.list_requisitions(db(), actor=g.actor, clock=state().clock, page=page_number(),
                                              per_page=PER_PAGE, **filters)
    except InvalidInput as exc:
        db().rollback()
        return render_template("requisitions/list.html", page=None, error=error_message(exc), filters=filters,
                               departments=departments, statuses=requisitions.STATUS_FILTERS, today=None), 400
    return render_template("requisitions/list.html", page=page, error=None, filters=filters, departments=departments,
                           statuses=requisitions.STATUS_FILTERS, today=requisitions.today(db(), state().clock),
                           overdue=requisitions.is_overdue)


def _form(values: dict, error: str | None = None, status: int = 200):
    return render_template("requisitions/form.html", values=values, error=error,
                           departments=org.list_departments(db()), priorities=WORK_ORDER_PRIORITIES,
                           own_department=g.actor.department_id), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Raise a requisition."""
    require(g.actor, "requisition.request")
    if request.method == "GET":
        return _form({"priority": "medium", "requesting_department_id": g.actor.department_id})
    data = {k: v for k, v in request.form.items() if k != CSRF_FIELD and k in FORM_FIELDS}
    try:
        req = requisitions.create_requisition(db(), data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _form(data, error_message(exc), 400)
    commit()
    flash(gettext("Requisition %(code)s submitted.", code=req.code), "success")
    return redirect(url_for("requisitions.detail", requisition_id=req.id), 303)


def _detail(requisition_id: int, error: str | None = None, status: int = 200):
    req = requisitions.get_requisition(db(), requisition_id, actor=g.actor)
    today = requisitions.today(db(), state().clock, req.assigned_department_id)
    return render_template("requisitions/detail.html", req=req, error=error,
                           steps=flow.allowed_actions(req, g.actor), convert=can_convert(req, g.actor),
                           overdue=requisitions.is_overdue(req, today), sides=flow.SIDE_TEXT), status


@bp.get("/<int:requisition_id>")
@login_required
def detail(requisition_id: int):
    """Show one requisition, its movements and the steps the reader may take."""
    return _detail(requisition_id)


@bp.post("/<int:requisition_id>/move")
@login_required
def move(requisition_id: int):
    """Take one step of the flow (the button's ``action``), with remarks."""
    action = request.form.get("action", "")
    try:
        req = flow.move(db(), requisition_id, action, remarks=request.form.get("remarks", ""), actor=g.actor,
                        clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _detail(requisition_id, error_message(exc), 409 if isinstance(exc, flow.RequisitionConflict) else 400)
    commit()
    flash(gettext("Requisition %(code)s is now %(status)s.", code=req.code, status=gettext(label(req.status))),
          "success")
    return redirect(url_for("requisitions.detail", requisition_id=requisition_id), 303)


@bp.post("/<int:requisition_id>/work-order")
@login_required
def work_order(requisition_id: int):
    """Make a work order of an approved requisition."""
    try:
        order = to_work_order(db(), requisition_id, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _detail(requisition_id, error_message(exc), 409 if isinstance(exc, flow.RequisitionConflict) else 400)
    commit()
    flash(gettext("Work order %(code)s opened from this requisition.", code=order.code), "success")
    return redirect(url_for("requisitions.detail", requisition_id=requisition_id), 303)


@bp.get("/ageing")
@login_required
def ageing_report():
    """Show open requisitions by age bucket and assigned department."""
    report = ageing.ageing(db(), actor=g.actor, clock=state().clock)
    titles = {name: gettext("over %(days)s days", days=low - 1) if high is None
              else gettext("%(low)s-%(high)s days", low=low, high=high) for name, low, high in ageing.BUCKETS}
    return render_template("requisitions/ageing.html", report=report, buckets=[b[0] for b in ageing.BUCKETS],
                           titles=titles)


@bp.get("/ageing.<fmt>")
@login_required
def ageing_export(fmt: str):
    """Download the ageing report as CSV or Excel (audited)."""
    tables.check_format(fmt)
    table = ageing.ageing_table(db(), actor=g.actor, clock=state().clock)
    content = tables.write(table, fmt)
    exports.record(db(), actor=g.actor, kind="requisition_ageing", fmt=fmt, filters={}, rows=table.total or 0,
                   clock=state().clock)
    commit()
    return Response(content, mimetype=tables.content_type(fmt),
                    headers={"Content-Disposition": f'attachment; filename="{table.filename}.{fmt}"'})
