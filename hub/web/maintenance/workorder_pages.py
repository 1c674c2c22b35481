"""Work-order pages: list and board views, a new-order form, and the detail page with every
step of the lifecycle (assign, start, hold, resume, complete, return, e-signed close, cancel),
the checklist of a PM order (filled in on a phone, a photo per item) and the order's files.

The state machine, permissions, SLAs and signatures live in the work-order services; these
views only turn forms into service calls and show what the services allow the user to do.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import WORK_ORDER_KINDS, WORK_ORDER_PRIORITIES, WORK_ORDER_STATES, label
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.audit import readable
from wardlink.hub.services.contracts import cover
from wardlink.hub.services.requisitions import register as requisition_links
from wardlink.hub.services.people import org
from wardlink.hub.services.inventory import kits as part_kits
from wardlink.hub.services.inventory import picks as stock_picks
from wardlink.hub.services.maintenance import (delays, pm_work, workorder_board, workorder_costs, workorder_parts,
                                               workorders)
from wardlink.hub.services.maintenance.checklists import evaluate
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.maintenance.sla import sla_status
from wardlink.hub.services.maintenance.workorder_common import SignatureRefused, code_of
from wardlink.hub.services.pagination import Page
from wardlink.hub.services.maintenance.workorder_flow import (RESOLUTIONS_BY_KIND, assignable_users, available,
                                         transition)
from wardlink.hub.services.maintenance.workorder_records import (add_attachment, add_note, add_part,
                                                                 downtime_minutes, get_attachment, log_time,
                                                                 records_of, set_downtime)
from wardlink.hub.web import files
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.filters import display_zone, zoned_input
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("workorders", __name__, template_folder="templates", url_prefix="/work-orders")

PER_PAGE = 25
BOARD_LIMIT = 50
#: The board shows work still to do or to approve; closed orders are in the list view.
BOARD_STATES = workorders.BACKLOG_STATES
PRIORITY_RANK = {p: -i for i, p in enumerate(WORK_ORDER_PRIORITIES)}
LIST_STATES = ("open", *WORK_ORDER_STATES, "done", "all")
#: The dates the list filters by, as the filter form names them.
#: How many changes the order's page shows (the audit page has them all).
HISTORY_ROWS = 20
DATE_FIELD_LABELS = {"opened": N_("Opened"), "due": N_("Resolution due"), "closed": N_("Closed")}
#: The buttons of the state machine's steps (``Transition.verb``, capitalised), for the catalogues.
VERB_LABELS = (N_("Assign"), N_("Start"), N_("Hold"), N_("Resume"), N_("Complete"), N_("Return"), N_("Close"),
               N_("Cancel"))
#: Form fields each transition takes, as the service names them.
TRANSITION_FIELDS = ("assignee_id", "note", "reason", "resolution_category", "resolution_note",
                     "safety_check", "password", "comment")


def _filters() -> dict:
    args = request.args
    wanted = args.get("state", "open")
    return {"state": None if wanted == "all" else wanted, "kind": args.get("kind") or None,
            "priority": args.get("priority") or None, "asset_tag": args.get("asset") or None,
            "department_id": args.get("department") or None,
            "assigned_to": args.get("assigned_to") or None, "q": args.get("q") or None,
            "dates": args.get("dates") or None, "date_from": args.get("date_from") or None,
            "date_to": args.get("date_to") or None}


def _bad_filters(exc: InvalidInput, common: dict):
    """Show the list with the filters as given and what is wrong with them (nothing is lost)."""
    template = "workorders/board.html" if common["view"] == "board" else "workorders/list.html"
    empty = Page(items=[], total=0, page=1, per_page=PER_PAGE)
    columns = [(s, empty) for s in BOARD_STATES]
    return render_template(template, page=empty, columns=columns, sorts=workorders.SORTS,
                           filter_error=error_message(exc), **common), 400


@bp.get("")
@login_required
def index():
    """List work orders with filters, or show them as a board by state."""
    view = "board" if request.args.get("view") == "board" else "list"
    filters = _filters()
    now = utc_now(state().clock)
    common = {"view": view, "kinds": WORK_ORDER_KINDS, "priorities": WORK_ORDER_PRIORITIES,
              "list_states": LIST_STATES, "departments": org.list_departments(db()), "now": now,
              "state_filter": request.args.get("state", "open"), "sla": sla_status,
              "assignees": workorders.assignee_choices(db(), actor=g.actor), "date_fields": DATE_FIELD_LABELS}
    try:
        return _index_page(view, filters, common)
    except InvalidInput as exc:
        db().rollback()
        return _bad_filters(exc, common)


def _index_page(view: str, filters: dict, common: dict):
    if view == "board":
        # The newest orders of each state (an index walk, however many closed orders there
        # are), shown most urgent first.
        columns = workorder_board.board(db(), actor=g.actor, states=BOARD_STATES, limit=BOARD_LIMIT,
                                        **{k: v for k, v in filters.items() if k != "state"})
        for _, page in columns:
            page.items.sort(key=lambda w: PRIORITY_RANK[w.priority])
        return render_template("workorders/board.html", columns=columns, **common)
    page = workorders.list_work_orders(db(), actor=g.actor, **filters, sort=request.args.get("sort", "newest"),
                                       page=page_number(), per_page=PER_PAGE)
    return render_template("workorders/list.html", page=page, sorts=workorders.SORTS, **common)


def _form_page(values: dict, error: str | None = None, status: int = 200):
    assignees = assignable_users(db(), actor=g.actor) if can(g.actor, "workorder.assign") else []
    return render_template("workorders/form.html", values=values, error=error, kinds=WORK_ORDER_KINDS,
                           priorities=WORK_ORDER_PRIORITIES, assignees=assignees,
                           request_only=not can(g.actor, "workorder.create")), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Open a work order (or, for staff, request one)."""
    if not (can(g.actor, "workorder.create") or can(g.actor, "workorder.request")):
        require(g.actor, "workorder.create")
    if request.method == "GET":
        return _form_page({"asset_tag": request.args.get("asset", ""), "kind": "corrective",
                           "priority": "medium", "alert_id": request.args.get("alert", "")})
    data = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    data["equipment_down"] = "equipment_down" in request.form
    try:
        if can(g.actor, "workorder.create"):
            order = workorders.create_work_order(db(), data, actor=g.actor, clock=state().clock)
        else:
            allowed = ("title", "description", "priority", "asset_tag", "equipment_down")
            order = workorders.request_work(db(), {k: data[k] for k in allowed if k in data},
                                            actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _form_page(data, error_message(exc), 400)
    commit()
    flash(gettext("Work order %(code)s opened.", code=code_of(order)), "success")
    return redirect(url_for("workorders.detail", wo_id=order.id), 303)


#: Photos one checklist save may carry (a phone sends each item's photo with the answers).
CHECKLIST_PHOTOS = 5


def _checklist(order) -> pm_work.OrderChecklist | None:
    try:
        return pm_work.checklist_for(db(), order.id, actor=g.actor)
    except (NotFound, PermissionDenied):
        return None


def _detail_page(wo_id: int, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    order = workorders.get_work_order(db(), wo_id, actor=g.actor)
    now = utc_now(state().clock)
    moves = available(order, g.actor)
    frozen = workorders.is_frozen(order)
    assignees = (assignable_users(db(), actor=g.actor, order_id=order.id)
                 if can(g.actor, "workorder.assign") and not frozen else [])
    records = records_of(db(), order)
    sheet = _checklist(order)
    photos: dict[str, list] = {}
    for row in records.attachments:
        if row.checklist_item:
            photos.setdefault(row.checklist_item, []).append(row)
    return render_template(
        "workorders/detail.html", order=order, code=code_of(order), moves=moves, records=records,
        frozen=frozen,
        sla=sla_status(order, now), now=now, error=error, assignees=assignees,
        resolutions=RESOLUTIONS_BY_KIND.get(order.kind, ()), downtime=downtime_minutes(order, now),
        sheet=sheet, recorded={r["key"]: r for r in (sheet.result.results if sheet and sheet.result else [])},
        can_record_checklist=sheet is not None and can(g.actor, "pm.record")
        and order.state in pm_work.RECORDABLE_STATES,
        photos=photos, typed=typed or {}, inline=files.is_inline,
        max_file_bytes=files.MAX_ATTACHMENT_BYTES, checklist_photos=CHECKLIST_PHOTOS,
        priorities=WORK_ORDER_PRIORITIES, contracts=cover.shown_on_order(db(), order, actor=g.actor),
        requisition=requisition_links.for_work_order(db(), order.id, actor=g.actor),
        history=readable.history(db(), actor=g.actor, entity="work_order", entity_id=order.id, zone=display_zone(),
                                 limit=HISTORY_ROWS),
        suggested=workorders.suggested_priority(order.asset, failed=order.kind == "corrective"),
        delays=delays.of_orders(db(), [order.id]).get(order.id, []), may_explain=delays.may_explain(order, g.actor),
        **_stock_and_cost(order, frozen)), status


def _stock_and_cost(order, frozen: bool) -> dict:
    """Return the parts picked from stock for the order, the kits it may pick and what it costs."""
    picking = (not frozen and order.state in workorder_parts.PICKING_STATES and can(g.actor, "stock.issue")
               and can(g.actor, "workorder.record"))
    seen = can(g.actor, "kpi.view")
    picks = [(p, stock_picks.cost_of(p)) for p in workorder_parts.picks_of(db(), order.id, actor=g.actor)]
    return {"picks": picks, "picking": picking,
            "kits": part_kits.list_kits(db(), actor=g.actor) if picking else [],
            "cost": workorder_costs.cost_of(db(), order) if seen else None,
            "charges": workorder_costs.charges_of(db(), order.id) if seen else []}


@bp.get("/<int:wo_id>")
@login_required
def detail(wo_id: int):
    """Show a work order, its records, signatures, and the steps the user may take."""
    return _detail_page(wo_id)


@bp.post("/<int:wo_id>/transition")
@login_required
def move(wo_id: int):
    """Move the order to another state (the close step carries the e-signature)."""
    target = request.form.get("to", "")
    payload = {k: request.form[k] for k in TRANSITION_FIELDS if request.form.get(k, "") != ""}
    try:
        order = transition(db(), wo_id, target, payload, actor=g.actor, clock=state().clock)
    except SignatureRefused as exc:
        commit()  # the refused attempt is recorded and must count towards the lockout
        return _detail_page(wo_id, error=error_message(exc), status=403)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _detail_page(wo_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("Work order %(code)s is now %(state)s.", code=code_of(order),
                  state=gettext(label(order.state)).lower()), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id), 303)


@bp.post("/<int:wo_id>/priority")
@login_required
def priority(wo_id: int):
    """Change an open order's priority (its SLA due times follow)."""
    try:
        order = workorders.update_work_order(db(), wo_id, {"priority": request.form.get("priority", "")},
                                             actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _detail_page(wo_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("Work order %(code)s is now %(priority)s priority.", code=code_of(order),
                  priority=gettext(label(order.priority)).lower()), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id), 303)


#: record kind -> (service call, the form fields it takes, what the flash message says)
RECORDS = {
    "note": (lambda s, i, f, **kw: add_note(s, i, f.get("body", ""), **kw), N_("Note added.")),
    "time": (lambda s, i, f, **kw: log_time(s, i, minutes=f.get("minutes", ""),
                                             performed_at=f.get("performed_at") or None,
                                             note=f.get("note", ""), **kw), N_("Time logged.")),
    "part": (lambda s, i, f, **kw: add_part(s, i, part_number=f.get("part_number", ""),
                                             description=f.get("description", ""),
                                             quantity=f.get("quantity", ""),
                                             unit_cost=f.get("unit_cost") or None, **kw), N_("Part recorded.")),
    "delay": (lambda s, i, f, **kw: delays.explain_breach(s, i, f.get("reason", ""), **kw),
              N_("Reason for the delay recorded.")),
    "charge": (lambda s, i, f, **kw: workorder_costs.add_charge(
        s, i, vendor=f.get("vendor", ""), description=f.get("description", ""), amount=f.get("amount", ""),
        reference=f.get("reference", ""), **kw), N_("Vendor charge recorded.")),
    # The form's times are the site's local time (filters.zoned_input gives them their offset).
    "downtime": (lambda s, i, f, **kw: set_downtime(s, i, start=zoned_input(f.get("start", "")),
                                                     end=zoned_input(f.get("end") or None),
                                                     reason=f.get("reason", ""), **kw), N_("Downtime saved.")),
}


@bp.post("/<int:wo_id>/records/<kind>")
@login_required
def record(wo_id: int, kind: str):
    """Add a note, a time log, a part, or set the downtime of an order."""
    if kind not in RECORDS:
        raise InvalidInput(N_("kind: must be one of %(choices)s, got %(kind)r"), choices=', '.join(RECORDS), kind=kind)
    call, message = RECORDS[kind]
    try:
        call(db(), wo_id, request.form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _detail_page(wo_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext(message), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id) + f"#{kind}", 303)


# ------------------------------------------------------------------ checklist and files


def _answers(items: list[dict], form, photos: dict[str, int]) -> dict:
    """Turn the checklist form's fields into the answers the service judges.

    A photo item is answered with ``photos[key]``: the photo just sent for it, else the one it
    already has.
    """
    answers = {}
    for item in items:
        key = item["key"]
        answer: dict = {}
        if item["kind"] == "pass_fail":
            if form.get(f"result-{key}"):
                answer["result"] = form[f"result-{key}"]
        elif item["kind"] == "value":
            if form.get(f"value-{key}", "").strip():
                answer["value"] = form[f"value-{key}"].strip().replace(",", ".")
        elif item["kind"] == "photo":
            if photos.get(key) is not None:
                answer["attachment_id"] = photos[key]
        elif form.get(f"text-{key}", "").strip():
            answer["text"] = form[f"text-{key}"]
        if answer and form.get(f"comment-{key}", "").strip():
            answer["comment"] = form[f"comment-{key}"]
        if answer and form.get(f"corrective-{key}"):
            answer["open_corrective"] = True
        if answer:
            answers[key] = answer
    return answers


def _photos_of(sheet: pm_work.OrderChecklist) -> dict[str, int]:
    """Return the photo each photo item has now: the one recorded as its answer, else the newest taken for it."""
    recorded = {r["key"]: r.get("attachment_id") for r in (sheet.result.results if sheet.result else [])}
    newest = pm_work.item_photos(db(), sheet.order.id)
    return {item["key"]: recorded.get(item["key"]) or newest.get(item["key"])
            for item in sheet.version.items if item["kind"] == "photo"}


@bp.post("/<int:wo_id>/checklist")
@login_required
def checklist(wo_id: int):
    """Record the checklist (answers, the meter, a photo per item) of a PM work order.

    The answers are checked before any photo is stored; the photos are stored before the
    answers are recorded, so a photo item's answer can name the photo just sent.
    """
    typed = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    try:
        sheet = pm_work.checklist_for(db(), wo_id, actor=g.actor)
        uploads = [(name[len("photo-"):], upload) for name, upload in request.files.items(multi=True)
                   if name.startswith("photo-") and upload.filename]
        if len(uploads) > CHECKLIST_PHOTOS:
            raise InvalidInput(N_("photos: at most %(checklist_photos)s photos per save, got %(count)s; save, then "
                                  "add the rest"), checklist_photos=CHECKLIST_PHOTOS, count=len(uploads))
        items = sheet.version.items
        evaluate(items, _answers(items, request.form, {}))  # refuse bad answers before storing any photo
        photos = _photos_of(sheet)
        for key, upload in uploads:
            row = add_attachment(db(), wo_id, filename=upload.filename, data=files.read_limited(upload.stream),
                                 checklist_item=key, store=files.store(), actor=g.actor, clock=state().clock)
            if key in photos:
                photos[key] = row.id
        _result, opened = pm_work.record_results(db(), wo_id, _answers(items, request.form, photos),
                                                 meter=request.form.get("meter", "").strip() or None,
                                                 actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied, NotFound) as exc:
        db().rollback()
        code = 403 if isinstance(exc, PermissionDenied) else 404 if isinstance(exc, NotFound) else 400
        return _detail_page(wo_id, error=error_message(exc), status=code, typed=typed)
    commit()
    message = gettext("Checklist saved.")
    if opened:
        message += " " + gettext("Corrective work opened: %(codes)s.", codes=", ".join(code_of(o) for o in opened))
    flash(message, "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id) + "#checklist", 303)


@bp.post("/<int:wo_id>/files")
@login_required
def upload(wo_id: int):
    """Attach a photo or document to a work order."""
    try:
        name, data = files.read_upload("file")
        add_attachment(db(), wo_id, filename=name, data=data, store=files.store(), actor=g.actor,
                       clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _detail_page(wo_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("File attached."), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id) + "#files", 303)


@bp.get("/<int:wo_id>/files/<int:file_id>")
@login_required
def file(wo_id: int, file_id: int):
    """Send a file of an order: photos inline (``?download=1`` to save), every other type as a download."""
    row = get_attachment(db(), wo_id, file_id, actor=g.actor)
    return files.send_stored(sha256=row.sha256, content_type=row.content_type, filename=row.filename,
                             download=request.args.get("download") == "1")


files.upload_limit("workorders.upload")
files.upload_limit("workorders.checklist", CHECKLIST_PHOTOS)
