"""Stock in the JSON API under ``/api/v1``: a part's movements (receive, issue, return, transfer,
adjust, count), adjustments waiting for approval, the reorder list, importing parts, parts
picked for work orders, what a work order costs, and labour rates.

"Not enough stock" answers 409 ``insufficient_stock`` with what the bin holds; nothing is
changed then. Routes only translate HTTP to the services, which check permissions (and, for
work orders, who may see and work on the order) and record the audit trail.
"""

from __future__ import annotations


from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ROLES, STOCK_MOVEMENT_KINDS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.inventory import adjustments, importer, ledger, low_stock, purchasing
from wardlink.hub.services.inventory.ledger import InsufficientStock
from wardlink.hub.services.maintenance import parts_forecast, workorder_costs, workorder_parts
from wardlink.hub.services.maintenance.workorder_common import WorkOrderConflict
from wardlink.hub.services.validate import choice, optional_id
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import (ADJUSTMENT, CHARGE, COST, ID_IN, IMPORT_REPORT, MONEY_IN, MOVEMENT,
                                                 OPTIONAL_ID_IN, OUTCOME, PICK, QTY_IN, RATE, REORDER_LINE, SIGNED_IN,
                                                 adjustment_json, charge_json, cost_json, movement_json, pick_json,
                                                 FORECAST, forecast_json, rate_json, reorder_json, text_in)
from wardlink.hub.web.api.openapi import obj, operation, page_params, json_body
from wardlink.hub.web.api.openapi_schema import BOOLEAN, Param, array, enum
from wardlink.hub.web.api.serialize import page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.services.maintenance.attachments import read_limited
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state
from wardlink.hub.web.table_import import read_table

bp = Blueprint("api_stock", __name__, url_prefix="/api/v1")
#: Largest parts import file (about 20,000 rows of a wide table).
IMPORT_BYTES = 10 * 1024 * 1024


@bp.before_app_request
def _raise_upload_limit():
    # Before the app reads any form field (the CSRF check does), so the file gets its own limit.
    if request.endpoint == "api_stock.part_import":
        request.max_content_length = IMPORT_BYTES + 64 * 1024



TAG = "stock"
_STOCK = (400, 401, 403, 404, 409)
_PAGE = {"page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"},
         "total_exact": BOOLEAN, "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}
_REASON = text_in(2000)
_REASON_REQUIRED = text_in(2000, required=True)
_RECEIVE = obj({"bin_id": ID_IN, "quantity": QTY_IN, "unit_cost": MONEY_IN, "supplier_id": OPTIONAL_ID_IN,
                "reference": text_in(100), "reason": _REASON}, required=("bin_id", "quantity"), extra=False)
_ISSUE = obj({"bin_id": ID_IN, "quantity": QTY_IN, "reason": _REASON_REQUIRED}, extra=False)
_TRANSFER = obj({"from_bin_id": ID_IN, "to_bin_id": ID_IN, "quantity": QTY_IN, "reason": _REASON},
                required=("from_bin_id", "to_bin_id", "quantity"), extra=False)
_ADJUST = obj({"bin_id": ID_IN, "quantity": SIGNED_IN, "reason": _REASON_REQUIRED}, extra=False)
_COUNT = obj({"bin_id": ID_IN, "counted": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999999},
                                                     {"type": "string", "pattern": r"^\s*\d{1,9}(\.\d{1,3})?\s*$"}]},
              "reason": _REASON}, required=("bin_id", "counted"), extra=False)
_DECIDE = obj({"note": _REASON}, required=(), extra=False)
_REJECT = obj({"note": _REASON_REQUIRED}, extra=False)
_PICK = obj({"part_id": ID_IN, "bin_id": ID_IN, "quantity": QTY_IN}, extra=False)
_KIT = obj({"kit_id": ID_IN}, extra=False)
_CHARGE = obj({"description": text_in(300, required=True), "amount": MONEY_IN, "supplier_id": OPTIONAL_ID_IN,
               "vendor": text_in(200), "reference": text_in(100)}, required=("description", "amount"), extra=False)
_RATE = obj({"role": {"anyOf": [enum(ROLES), {"type": "null"}]}, "user_id": OPTIONAL_ID_IN,
             "hourly_rate": MONEY_IN}, required=("hourly_rate",), extra=False)
_IMPORT_FORM = obj({"file": {"type": "string", "format": "binary",
                             "description": "CSV (UTF-8) or Excel (.xlsx) with a header row"}}, extra=False)


@bp.errorhandler(InsufficientStock)
def _short(exc: InsufficientStock):
    return error_response(409, "insufficient_stock", str(exc))


@bp.errorhandler(WorkOrderConflict)
def _conflict(exc: WorkOrderConflict):
    return error_response(409, "invalid_transition", str(exc))


_body = json_body


def _clock():
    return state().clock


def _policy() -> adjustments.ApprovalPolicy:
    config = state().config
    return adjustments.ApprovalPolicy(value=config.stock_approval_value, quantity=config.stock_approval_quantity)


def _outcome(outcome: adjustments.Outcome):
    return {"movement": movement_json(outcome.movement) if outcome.movement else None,
            "adjustment": adjustment_json(outcome.request) if outcome.request else None}


# ------------------------------------------------------------------ movements


@bp.get("/parts/<int:part_id>/movements")
@operation(summary="A part's stock movements, newest first", tag=TAG, permissions=("part.view",),
           query=page_params(Param("bin", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "Only this bin."),
                             Param("kind", enum(STOCK_MOVEMENT_KINDS), "Only this kind.")),
           errors=(400, 401, 403, 404), response=obj({"items": array(MOVEMENT), **_PAGE}))
def movement_list(part_id: int):
    """List a part's ledger."""
    kind = request.args.get("kind") or None
    page = ledger.history(db(), part_id, actor=g.actor, bin_id=optional_id("bin", request.args.get("bin")),
                          kind=choice(STOCK_MOVEMENT_KINDS)("kind", kind) if kind else None, **paging())
    return jsonify(page_json(page, movement_json))


@bp.post("/parts/<int:part_id>/receive")
@operation(summary="Receive stock into a bin", tag=TAG, permissions=("stock.receive",),
           description="`unit_cost` defaults to the part's; `reference` is the delivery note. Audited; may end a "
                       "low-stock episode.", body=_RECEIVE, status=201, errors=_STOCK, response=MOVEMENT)
def receive(part_id: int):
    """Receive stock."""
    move = ledger.receive(db(), part_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(movement_json(move)), 201


@bp.post("/parts/<int:part_id>/issue")
@operation(summary="Issue stock from a bin (outside a work order)", tag=TAG, permissions=("stock.issue",),
           description="Say what for. Stock held for work orders stays; too little free stock answers 409 "
                       "`insufficient_stock` and changes nothing. Audited; may start a low-stock episode.",
           body=_ISSUE, status=201, errors=_STOCK, response=MOVEMENT)
def issue(part_id: int):
    """Issue stock."""
    move = ledger.issue(db(), part_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(movement_json(move)), 201


@bp.post("/parts/<int:part_id>/return")
@operation(summary="Return unused parts to a bin", tag=TAG, permissions=("stock.issue",),
           description="Say where they come from. Audited.", body=_ISSUE, status=201, errors=_STOCK,
           response=MOVEMENT)
def return_stock(part_id: int):
    """Return stock."""
    move = ledger.return_stock(db(), part_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(movement_json(move)), 201


@bp.post("/parts/<int:part_id>/transfer")
@operation(summary="Move stock from one bin to another", tag=TAG, permissions=("stock.transfer",),
           description="Two movements, the second naming the first. Audited.", body=_TRANSFER, status=201,
           errors=_STOCK, response=obj({"out": MOVEMENT, "in": MOVEMENT}))
def transfer(part_id: int):
    """Transfer stock."""
    out, into = ledger.transfer(db(), part_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify({"out": movement_json(out), "in": movement_json(into)}), 201


@bp.post("/parts/<int:part_id>/adjust")
@operation(summary="Adjust a bin's stock with a reason", tag=TAG, permissions=("stock.adjust",),
           description="`quantity` is signed (\"-2\" takes two away). Worth more than `stock_approval_value` "
                       "(or, without a unit cost, more than `stock_approval_quantity` units) it waits for a "
                       "manager unless the caller may approve: then `adjustment` is returned and `movement` "
                       "is null. Audited.", body=_ADJUST, errors=_STOCK, response=OUTCOME)
def adjust(part_id: int):
    """Adjust stock."""
    outcome = adjustments.adjust(db(), part_id, **_body(), actor=g.actor, clock=_clock(), policy=_policy())
    commit()
    return jsonify(_outcome(outcome))


@bp.post("/parts/<int:part_id>/count")
@operation(summary="Record a stock count of one bin", tag=TAG, permissions=("stock.adjust",),
           description="The books move by the difference, as an adjustment (and under the same approval "
                       "rule); a count that matches writes no movement (both null) but is audited.", body=_COUNT,
           errors=_STOCK, response=OUTCOME)
def count(part_id: int):
    """Record a stock count."""
    outcome = adjustments.count(db(), part_id, **_body(), actor=g.actor, clock=_clock(), policy=_policy())
    commit()
    return jsonify(_outcome(outcome))


# ------------------------------------------------------------------ approvals and the reorder list


@bp.get("/stock-adjustments")
@operation(summary="Adjustments and counts waiting for approval, oldest first", tag=TAG,
           permissions=("part.view",), query=page_params(), response=obj({"items": array(ADJUSTMENT), **_PAGE}))
def adjustment_list():
    """List waiting adjustments."""
    return jsonify(page_json(adjustments.pending(db(), actor=g.actor, **paging()), adjustment_json))


@bp.post("/stock-adjustments/<int:adjustment_id>/approve")
@operation(summary="Approve a waiting adjustment", tag=TAG, permissions=("stock.approve",),
           description="Its movement is written now (409 when the bin no longer holds enough). Nobody approves "
                       "their own. Audited.", body=_DECIDE, body_required=False, errors=_STOCK,
           response=ADJUSTMENT)
def adjustment_approve(adjustment_id: int):
    """Approve an adjustment."""
    body = _body() if request.content_length else {}
    row = adjustments.approve(db(), adjustment_id, note=body.get("note") or "", actor=g.actor, clock=_clock())
    commit()
    return jsonify(adjustment_json(row))


@bp.post("/stock-adjustments/<int:adjustment_id>/reject")
@operation(summary="Reject a waiting adjustment with a reason", tag=TAG, permissions=("stock.approve",),
           description="Nothing moves. Audited.", body=_REJECT, errors=(400, 401, 403, 404), response=ADJUSTMENT)
def adjustment_reject(adjustment_id: int):
    """Reject an adjustment."""
    row = adjustments.reject(db(), adjustment_id, note=_body().get("note"), actor=g.actor, clock=_clock())
    commit()
    return jsonify(adjustment_json(row))


@bp.get("/reorder-list")
@operation(summary="Parts at or below their reorder level, longest low first", tag=TAG,
           permissions=("part.view",),
           description="Each line has the stock on hand, what is held for work orders, the shortfall below the "
                       "level, the quantity to order (the reorder quantity, at least the shortfall) and what "
                       "purchase orders sent still lack (`on_order`).",
           query=page_params(Param("supplier", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                   "Only parts of this preferred supplier.")),
           response=obj({"items": array(REORDER_LINE), **_PAGE}))
def reorder_list():
    """List low parts."""
    supplier = optional_id("supplier", request.args.get("supplier"))
    page = low_stock.reorder_list(db(), actor=g.actor, supplier_id=supplier, **paging())
    coming = purchasing.on_order(db(), [line.part.id for line in page.items])
    return jsonify(page_json(page, lambda line: reorder_json(line, coming[line.part.id])))


@bp.get("/parts-forecast")
@operation(summary="Parts the PM plans will use in the next N days, against stock, with orders per supplier",
           tag=TAG, permissions=("part.view",),
           description="Each active plan's services due from today (at the caller's site) to N - 1 days later, "
                       "generated or projected by the PM calendar and not yet done, times the plan's parts per "
                       "visit. Per part: the need, the plans behind it, stock on hand, held for work orders, on "
                       "order (what sent purchase orders still lack), the shortfall and the suggested order (the "
                       "shortfall rounded up to whole reorder quantities); the short parts grouped by preferred "
                       "supplier.",
           query=(Param("days", {"type": "integer", "minimum": 1, "maximum": parts_forecast.MAX_DAYS},
                        f"Days ahead, today included (default {parts_forecast.DEFAULT_DAYS})."),),
           response=FORECAST)
def parts_forecast_view():
    """Return the parts forecast."""
    found = parts_forecast.forecast(db(), actor=g.actor, now=utc_now(state().clock), days=request.args.get("days"))
    return jsonify(forecast_json(found))


@bp.post("/parts/import")
@operation(summary="Import parts from CSV or Excel", tag=TAG, permissions=("part.manage",),
           description="multipart/form-data with one `file`. A new SKU adds a part, a known one changes it (empty "
                       "cells leave fields alone); with `bin` (LOCATION/BIN) and `quantity` the row also receives "
                       "opening stock (needs `stock.receive`). Rows are kept or refused one by one: the answer "
                       "lists each refused row with its number and reason. At most 20,000 rows.",
           form=_IMPORT_FORM, response=IMPORT_REPORT)
def part_import():
    """Import parts from an uploaded table."""
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None or not upload.filename:
        raise InvalidInput("file: send one CSV or Excel file as multipart/form-data field 'file'")
    rows = read_table(upload.filename, read_limited(upload.stream, IMPORT_BYTES), columns=importer.COLUMNS,
                      required=importer.REQUIRED, max_rows=importer.MAX_ROWS, what="parts")
    report = importer.import_rows(db(), rows, actor=g.actor, clock=_clock())
    commit()
    return jsonify({"created": report.created, "updated": report.updated, "summary": report.summary,
                    "errors": [{"row": n, "sku": sku, "error": e} for n, sku, e in report.errors]})


# ------------------------------------------------------------------ work orders


@bp.get("/work-orders/<int:order_id>/picks")
@operation(summary="Parts picked for a work order", tag=TAG, permissions=("workorder.view",),
           description="Held (`picked`), `issued` when the order was completed, or `released` back to stock.",
           errors=(400, 401, 403, 404), response=obj({"items": array(PICK)}))
def pick_list(order_id: int):
    """List an order's picks."""
    return jsonify({"items": [pick_json(p) for p in workorder_parts.picks_of(db(), order_id, actor=g.actor)]})


@bp.post("/work-orders/<int:order_id>/picks")
@operation(summary="Pick parts from a bin for a work order", tag=TAG, permissions=("workorder.record", "stock.issue"),
           description="The parts are held for the order (nobody else can take them) and issued when it is "
                       "completed; cancelling the order puts them back. The order must be open (not completed). "
                       "Too little free stock answers 409 `insufficient_stock`. Audited.", body=_PICK, status=201,
           errors=_STOCK, response=PICK)
def pick_create(order_id: int):
    """Pick parts for an order."""
    row = workorder_parts.pick_part(db(), order_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(pick_json(row)), 201


@bp.post("/work-orders/<int:order_id>/picks/kit")
@operation(summary="Pick every part of a kit for a work order", tag=TAG,
           permissions=("workorder.record", "stock.issue"),
           description="Each part from the bins with the most free stock; refused as a whole (409) when one is "
                       "short. Audited.", body=_KIT, status=201, errors=_STOCK, response=obj({"items": array(PICK)}))
def pick_kit(order_id: int):
    """Pick a kit for an order."""
    rows = workorder_parts.pick_kit(db(), order_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify({"items": [pick_json(p) for p in rows]}), 201


@bp.post("/work-orders/<int:order_id>/picks/<int:pick_id>/put-back")
@operation(summary="Put back parts picked and not used", tag=TAG, permissions=("workorder.record", "stock.issue"),
           description="Only held picks of an open order. Audited.", errors=_STOCK, response=PICK)
def pick_put_back(order_id: int, pick_id: int):
    """Release a pick."""
    row = workorder_parts.put_back(db(), order_id, pick_id, actor=g.actor, clock=_clock())
    commit()
    return jsonify(pick_json(row))


@bp.get("/work-orders/<int:order_id>/cost")
@operation(summary="What a work order costs: parts + labour + vendor charges", tag=TAG, permissions=("kpi.view",),
           description="Labour is each time log at the rate of its person, else of their role; minutes without a "
                       "rate and parts without a cost are reported apart.", errors=(400, 401, 403, 404),
           response=COST)
def order_cost(order_id: int):
    """Return an order's cost."""
    cost = workorder_costs.order_cost(db(), order_id, actor=g.actor)
    return jsonify(cost_json(cost, workorder_costs.charges_of(db(), order_id)))


@bp.post("/work-orders/<int:order_id>/charges")
@operation(summary="Record a vendor's charge on a work order", tag=TAG, permissions=("workorder.record",),
           description="A listed supplier (`supplier_id`) or a vendor's name, the amount and the invoice number. "
                       "Added, never edited. Audited.", body=_CHARGE, status=201, errors=_STOCK, response=CHARGE)
def charge_create(order_id: int):
    """Record a vendor charge."""
    row = workorder_costs.add_charge(db(), order_id, **_body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(charge_json(row)), 201


@bp.get("/labour-rates")
@operation(summary="Hourly labour rates, by role and by person", tag=TAG, permissions=("kpi.view",),
           response=obj({"items": array(RATE)}))
def rate_list():
    """List the rates."""
    return jsonify({"items": [rate_json(r) for r in workorder_costs.list_rates(db(), actor=g.actor)]})


@bp.put("/labour-rates")
@operation(summary="Set the hourly rate of a role or a person", tag=TAG, permissions=("rate.manage",),
           description="Give `role` or `user_id`; a null or empty `hourly_rate` removes the rate. A person's "
                       "rate wins over their role's. Audited.", body=_RATE,
           response=obj({"items": array(RATE)}))
def rate_set():
    """Set a rate."""
    workorder_costs.set_rate(db(), **_body(), actor=g.actor, clock=_clock())
    commit()
    return rate_list()


# The route table comes from the permissions each operation above declares.
guard(bp, declared=True)
