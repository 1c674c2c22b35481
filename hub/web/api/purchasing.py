"""Purchase orders in the JSON API under ``/api/v1``: the list, drafting (with everything below
reorder level), a draft's lines, sending, cancelling and closing, receiving a line into a bin,
and the PDF for the supplier.

A move the order's state does not allow answers 409 ``invalid_transition``; receiving more than
is still to arrive answers 400. Routes only translate HTTP to the services
(:mod:`wardlink.hub.services.inventory.purchasing`, :mod:`~wardlink.hub.services.inventory.receiving`),
which check permissions and record the audit trail.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import PurchaseOrder
from wardlink.hub.db.vocab import PURCHASE_ORDER_STATES
from wardlink.hub.services.inventory import po_pdf, purchasing, receiving
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.inventory.purchasing import PurchaseOrderConflict
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web import files
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import (ID_IN, MONEY_IN, MOVEMENT, QTY_IN, movement_json,
                                                 text_in)
from wardlink.hub.web.api.openapi import obj, operation, page_params, json_body
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.i18n import current_locale
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_purchasing", __name__, url_prefix="/api/v1")

TAG = "purchasing"
_ERRORS = (400, 401, 403, 404, 409)
_DATE_IN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}, {"type": "null"}]}
LINE = obj({"id": INTEGER, "part_id": INTEGER, "sku": STRING, "name": STRING, "unit": STRING, "quantity": DECIMAL,
            "unit_cost": nullable(DECIMAL), "received": DECIMAL, "outstanding": DECIMAL})
ORDER = obj({"id": INTEGER, "number": STRING, "supplier_id": INTEGER, "supplier": STRING,
             "state": enum(PURCHASE_ORDER_STATES), "expected_on": nullable(DATE), "notes": STRING, "reason": STRING,
             "total": nullable(DECIMAL), "created_by": STRING, "created_at": DATETIME, "sent_by": STRING,
             "sent_at": nullable(DATETIME), "ended_at": nullable(DATETIME), "lines": array(LINE)})
_PAGE = obj({"items": array(ORDER), "page": INTEGER, "per_page": INTEGER, "total": INTEGER, "total_exact": BOOLEAN,
             "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN})
_NEW = obj({"supplier_id": ID_IN, "expected_on": _DATE_IN, "notes": text_in(5000), "add_below_reorder": BOOLEAN},
           required=("supplier_id",), extra=False)
_CHANGE = obj({"supplier_id": ID_IN, "expected_on": _DATE_IN, "notes": text_in(5000)}, required=(), extra=False)
_LINE_IN = obj({"part_id": ID_IN, "quantity": QTY_IN, "unit_cost": MONEY_IN}, required=("part_id", "quantity"),
               extra=False)
_TRANSITION = obj({"to": enum(purchasing.TARGETS), "reason": text_in(2000)}, required=("to",),
                  extra=False)
_RECEIVE = obj({"quantity": QTY_IN, "bin_id": {"anyOf": [ID_IN, {"type": "string", "minLength": 3, "maxLength": 70,
                                                                  "pattern": "/"}]},
                "reference": text_in(100)}, required=("quantity", "bin_id"), extra=False)
_ORDER_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


@bp.errorhandler(PurchaseOrderConflict)
def _conflict(exc: PurchaseOrderConflict):
    return error_response(409, "invalid_transition", str(exc))


_body = json_body


def order_json(order: PurchaseOrder) -> dict[str, Any]:
    """Return an order with its lines."""
    return {"id": order.id, "number": order.number, "supplier_id": order.supplier_id, "supplier": order.supplier.name,
            "state": order.state, "expected_on": jsonable(order.expected_on), "notes": order.notes,
            "reason": order.reason, "total": amount(purchasing.total(order)), "created_by": order.created_by,
            "created_at": jsonable(order.created_at), "sent_by": order.sent_by, "sent_at": jsonable(order.sent_at),
            "ended_at": jsonable(order.ended_at),
            "lines": [{"id": line.id, "part_id": line.part_id, "sku": line.part.sku, "name": line.part.name,
                       "unit": line.part.unit, "quantity": number(line.quantity), "unit_cost": amount(line.unit_cost),
                       "received": number(line.received), "outstanding": number(line.outstanding)}
                      for line in order.lines]}


def _order(order_id: int, status: int = 200):
    return jsonify(order_json(purchasing.get_order(db(), order_id, actor=g.actor))), status


@bp.get("/purchase-orders")
@operation(summary="Purchase orders, newest first", tag=TAG, permissions=("part.view",),
           query=page_params(Param("state", {"type": "string", "maxLength": 120},
                                   "Only these states, comma-separated (`sent,partially_received`)."),
                             Param("supplier", _ORDER_ID, "Only this supplier's.")),
           errors=(400, 401, 403), response=_PAGE)
def order_list():
    """List purchase orders."""
    page = purchasing.list_orders(db(), actor=g.actor, state=request.args.get("state") or None,
                                  supplier_id=optional_id("supplier", request.args.get("supplier")), **paging())
    return jsonify(page_json(page, order_json))


@bp.post("/purchase-orders")
@operation(summary="Draft a purchase order", tag=TAG, permissions=("purchase.manage",),
           description="From an active supplier. With `add_below_reorder` the draft gets a line for each part "
                       "of the supplier at or below its reorder level: the reorder quantity, at least enough to "
                       "reach the level, less what is already on order. Audited.",
           body=_NEW, status=201, errors=_ERRORS, response=ORDER)
def order_create():
    """Draft an order."""
    order = purchasing.create_order(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return _order(order.id, 201)


@bp.get("/purchase-orders/<int:order_id>")
@operation(summary="A purchase order with its lines", tag=TAG, permissions=("part.view",),
           errors=(401, 403, 404), response=ORDER)
def order_detail(order_id: int):
    """Return one order."""
    return _order(order_id)


@bp.patch("/purchase-orders/<int:order_id>")
@operation(summary="Change a purchase order's supplier, expected date or notes", tag=TAG,
           permissions=("purchase.manage",), description="The supplier of a draft only; the date and notes "
                                                         "until the order is received. Audited.",
           body=_CHANGE, errors=_ERRORS, response=ORDER)
def order_update(order_id: int):
    """Change an order."""
    purchasing.update_order(db(), order_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return _order(order_id)


@bp.post("/purchase-orders/<int:order_id>/lines")
@operation(summary="Put a part on a draft purchase order", tag=TAG, permissions=("purchase.manage",),
           description="A part already on the order gets the new quantity and unit cost (default: the part's). "
                       "Audited.", body=_LINE_IN, errors=_ERRORS, response=ORDER)
def line_set(order_id: int):
    """Add or change a line."""
    purchasing.set_line(db(), order_id, **_body(), actor=g.actor, clock=state().clock)
    commit()
    return _order(order_id)


@bp.delete("/purchase-orders/<int:order_id>/lines/<int:line_id>")
@operation(summary="Take a line off a draft purchase order", tag=TAG, permissions=("purchase.manage",),
           errors=_ERRORS, response=ORDER)
def line_delete(order_id: int, line_id: int):
    """Remove a line."""
    purchasing.remove_line(db(), order_id, line_id, actor=g.actor, clock=state().clock)
    commit()
    return _order(order_id)


@bp.post("/purchase-orders/<int:order_id>/below-reorder")
@operation(summary="Add everything of the supplier below its reorder level to a draft", tag=TAG,
           permissions=("purchase.manage",), description="See `POST /purchase-orders` for the quantities.",
           errors=_ERRORS, response=ORDER)
def below_reorder(order_id: int):
    """Add the supplier's low parts."""
    purchasing.add_below_reorder(db(), order_id, actor=g.actor, clock=state().clock)
    commit()
    return _order(order_id)


@bp.post("/purchase-orders/<int:order_id>/transition")
@operation(summary="Send, cancel or close a purchase order", tag=TAG, permissions=("purchase.manage",),
           description="`sent` from a draft with lines; `cancelled` from a draft or a sent order, with a "
                       "`reason`; `closed` from a received or partly received order. Any other move answers 409 "
                       "`invalid_transition`. Audited.", body=_TRANSITION, errors=_ERRORS, response=ORDER)
def transition(order_id: int):
    """Move an order to another state."""
    body = _body()
    purchasing.transition(db(), order_id, body["to"], reason=body.get("reason") or "", actor=g.actor,
                          clock=state().clock)
    commit()
    return _order(order_id)


@bp.post("/purchase-orders/<int:order_id>/lines/<int:line_id>/receive")
@operation(summary="Receive a delivery of a purchase order line into a bin", tag=TAG,
           permissions=("stock.receive",),
           description="A `receive` movement of the stock ledger at the line's unit cost, referencing the order "
                       "(`bin_id` is the bin's id or its label `LOCATION/BIN`; `reference` the delivery note). "
                       "More than is still to arrive answers 400. The order becomes partially received or "
                       "received. Audited.", body=_RECEIVE, status=201, errors=_ERRORS,
           response=obj({"movement": MOVEMENT, "order": ORDER}))
def line_receive(order_id: int, line_id: int):
    """Receive part of a line."""
    body = _body()
    move = receiving.receive(db(), order_id, line_id, quantity=body["quantity"], bin_id=body["bin_id"],
                             reference=body.get("reference") or "", actor=g.actor, clock=state().clock)
    commit()
    order = purchasing.get_order(db(), order_id, actor=g.actor)
    return jsonify({"movement": movement_json(move), "order": order_json(order)}), 201


@bp.get("/purchase-orders/<int:order_id>/pdf")
@operation(summary="A purchase order as a PDF for the supplier", tag=TAG, permissions=("part.view",),
           description="In the caller's language.", response_media=("application/pdf",), errors=(401, 403, 404))
def order_pdf(order_id: int):
    """Send the order's PDF."""
    order = purchasing.get_order(db(), order_id, actor=g.actor)
    data = po_pdf.order_pdf(order, site_name=state().config.site_name, zone=display_zone(), locale=current_locale())
    return files.send_bytes(data, sha256=hashlib.sha256(data).hexdigest(), content_type="application/pdf",
                            filename=f"{order.number}.pdf")


# The route table comes from the permissions each operation above declares.
guard(bp, declared=True)
