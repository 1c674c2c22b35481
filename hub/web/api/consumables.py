"""Department consumables in the JSON API under ``/api/v1``: the lists (items with their
balances), an item's log, receipts, collections, and monthly consumption per department (as
JSON, CSV or Excel).

A collection larger than the balance answers 409 ``insufficient_stock`` and writes nothing.
Routes only translate HTTP to the services (:mod:`wardlink.hub.services.consumables`), which
check permissions and department scope and record the audit trail.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from wardlink.hub.db.models import Consumable, ConsumableEntry
from wardlink.hub.db.vocab import CONSUMABLE_ENTRY_KINDS, PART_UNITS
from wardlink.hub.services.consumables import consumption, items, log
from wardlink.hub.services.consumables.log import NotEnoughStock
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.validate import boolean, choice, optional_date, optional_id, text
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import OPTIONAL_ID_IN, QTY_IN, text_in
from wardlink.hub.web.api.openapi import operation, page_params, json_body
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable, obj)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_consumables", __name__, url_prefix="/api/v1")

TAG = "consumables"
_GONE = (400, 401, 403, 404)
_LOG = (400, 401, 403, 404, 409)
_ID_PARAM = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
_DAY_IN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
_LEVEL_IN = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999999},
                       {"type": "string", "pattern": r"^\s*(\d{1,9}(\.\d{1,3})?)?\s*$"}, {"type": "null"}]}
_ITEM_FIELDS = {"department_id": OPTIONAL_ID_IN, "name": text_in(200, required=True),
                "unit": {"anyOf": [enum(PART_UNITS), {"type": "null"}]}, "reorder_level": _LEVEL_IN,
                "notes": text_in(2000), "active": BOOLEAN}
_ITEM_NEW = obj(_ITEM_FIELDS, required=("name",), extra=False)
_ITEM_CHANGE = obj(_ITEM_FIELDS, required=(), extra=False)
_RECEIPT = obj({"quantity": QTY_IN, "on_date": _DAY_IN, "supplier": text_in(200), "reference": text_in(100),
                "notes": text_in(2000)}, required=("quantity",), extra=False)
_COLLECTION = obj({"quantity": QTY_IN, "on_date": _DAY_IN, "collected_by_id": OPTIONAL_ID_IN,
                   "collected_by_name": text_in(200), "notes": text_in(2000)}, required=("quantity",), extra=False)

ITEM = obj({"id": INTEGER, "department_id": INTEGER, "department": STRING, "department_name": STRING,
            "name": STRING, "unit": enum(PART_UNITS), "reorder_level": DECIMAL, "notes": STRING, "active": BOOLEAN,
            "balance": DECIMAL, "low": BOOLEAN, "low_since": nullable(DATETIME)})
ENTRY = obj({"id": INTEGER, "consumable_id": INTEGER, "kind": enum(CONSUMABLE_ENTRY_KINDS), "quantity": DECIMAL,
             "on_date": DATE, "supplier": STRING, "reference": STRING, "collected_by_id": nullable(INTEGER),
             "collected_by_name": STRING, "collector": STRING, "notes": STRING, "user": STRING,
             "created_at": DATETIME, "balance_after": DECIMAL})
_PAGE = {"page": INTEGER, "per_page": INTEGER, "total": INTEGER, "total_exact": BOOLEAN,
         "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}
CONSUMPTION = obj({"department_id": INTEGER, "department": STRING, "department_name": STRING,
                   "months": array(STRING),
                   "items": array(obj({"consumable_id": INTEGER, "name": STRING, "unit": enum(PART_UNITS),
                                       "collected": array(DECIMAL), "received": array(DECIMAL),
                                       "total_collected": DECIMAL}))})
_PERIOD = (Param("department_id", _ID_PARAM, "Department (by default the caller's own)."),
           Param("from", _MONTH, "First month, YYYY-MM (default: eleven months before `to`)."),
           Param("to", _MONTH, "Last month, YYYY-MM (default: this month at the site)."))
FORMATS = {"csv": (consumption.CONTENT_TYPES["csv"], consumption.to_csv),
           "xlsx": (consumption.CONTENT_TYPES["xlsx"], consumption.to_xlsx)}


@bp.errorhandler(NotEnoughStock)
def _short(exc: NotEnoughStock):
    return error_response(409, "insufficient_stock", str(exc))


_body = json_body


def item_json(item: Consumable, balance) -> dict[str, Any]:
    """Return an item with its balance as the API shows it."""
    return jsonable({**items.snapshot(item), "department": item.department.code,
                     "department_name": item.department.name, "balance": number(balance),
                     "low": item.low_since is not None, "low_since": item.low_since})


def entry_json(row: ConsumableEntry, balance_after) -> dict[str, Any]:
    """Return a log entry as the API shows it."""
    return jsonable({**log.entry_snapshot(row), "collector": row.collector, "balance_after": number(balance_after)})


def _item_response(item_id: int, status: int = 200):
    item = items.get_item(db(), item_id, actor=g.actor)
    return jsonify(item_json(item, items.balance(db(), item.id))), status


def _entry_response(row: ConsumableEntry):
    after = log.balances_after(db(), row.consumable_id, [row.id])[row.id]
    commit()
    return jsonify(entry_json(row, after)), 201


@bp.get("/consumables")
@operation(summary="The departments' consumables lists", tag=TAG, permissions=("consumable.view",),
           description="Items by department and name, each with its balance (receipts minus collections). "
                       "Someone limited to a department sees only its list.",
           query=page_params(Param("department_id", _ID_PARAM, "One department's list."),
                             Param("q", {"type": "string", "maxLength": 100}, "Part of the name."),
                             Param("low", {"type": "boolean"}, "Only items at or below their reorder level."),
                             Param("active", {"type": "boolean"}, "Active (default) or inactive items.")),
           response=obj({"items": array(ITEM), **_PAGE}))
def item_list():
    """List items with their balances."""
    args = request.args
    active = boolean("active", args["active"]) if args.get("active") not in (None, "") else True
    page = items.list_items(db(), actor=g.actor, department_id=optional_id("department_id", args.get("department_id")),
                            search=text(100)("q", args.get("q")), low=boolean("low", args.get("low")),
                            active=active, **paging())
    return jsonify(page_json(page, lambda row: item_json(row.item, row.balance)))


@bp.post("/consumables")
@operation(summary="Add an item to a department's consumables list", tag=TAG, permissions=("consumable.manage",),
           description="Names are unique in a department without case; `department_id` defaults to the "
                       "caller's department. The balance starts at 0. Audited.", body=_ITEM_NEW, status=201,
           response=ITEM)
def item_create():
    """Add an item."""
    item = items.create_item(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return _item_response(item.id, 201)


@bp.get("/consumables/<int:item_id>")
@operation(summary="A consumable with its balance", tag=TAG, permissions=("consumable.view",), errors=_GONE,
           response=ITEM)
def item_detail(item_id: int):
    """Return an item."""
    return _item_response(item_id)


@bp.patch("/consumables/<int:item_id>")
@operation(summary="Change a consumable", tag=TAG, permissions=("consumable.manage",),
           description="An item with a log stays in its department. A new reorder level judges the balance "
                       "again (and may send the reorder notice). Audited.", body=_ITEM_CHANGE, errors=_GONE,
           response=ITEM)
def item_update(item_id: int):
    """Change an item."""
    items.update_item(db(), item_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return _item_response(item_id)


@bp.get("/consumables/<int:item_id>/entries")
@operation(summary="A consumable's log of receipts and collections", tag=TAG, permissions=("consumable.view",),
           description="Last recorded first, each with the balance right after it.",
           query=page_params(Param("kind", enum(CONSUMABLE_ENTRY_KINDS), "Only receipts or only collections."),
                             Param("from", {"type": "string", "format": "date"}, "First day (at the site)."),
                             Param("to", {"type": "string", "format": "date"}, "Last day (at the site).")),
           errors=_GONE, response=obj({"items": array(ENTRY), **_PAGE}))
def entry_list(item_id: int):
    """List an item's log."""
    args = request.args
    kind = choice(CONSUMABLE_ENTRY_KINDS)("kind", args["kind"]) if args.get("kind") else None
    page = log.history(db(), item_id, actor=g.actor, kind=kind, start=optional_date("from", args.get("from")),
                       end=optional_date("to", args.get("to")), **paging())
    after = log.balances_after(db(), item_id, [e.id for e in page.items])
    return jsonify(page_json(page, lambda row: entry_json(row, after[row.id])))


@bp.post("/consumables/<int:item_id>/receipts")
@operation(summary="Record a receipt of a consumable", tag=TAG, permissions=("consumable.manage",),
           description="Quantity, the day it came (default today at the site), supplier and document reference. "
                       "Audited.", body=_RECEIPT, status=201, errors=_LOG, response=ENTRY)
def receipt_create(item_id: int):
    """Record a receipt."""
    return _entry_response(log.receive(db(), item_id, **_body(), actor=g.actor, clock=state().clock))


@bp.post("/consumables/<int:item_id>/collections")
@operation(summary="Record a collection of a consumable", tag=TAG, permissions=("consumable.collect",),
           description="Quantity, the day (default today at the site), the collecting officer (a user, "
                       "`collected_by_id`, by default the caller; or a person's name, `collected_by_name`) and "
                       "notes. More than the balance answers 409 `insufficient_stock` and writes nothing. "
                       "Audited; may send the reorder notice.", body=_COLLECTION, status=201, errors=_LOG,
           response=ENTRY)
def collection_create(item_id: int):
    """Record a collection."""
    return _entry_response(log.collect(db(), item_id, **_body(), actor=g.actor, clock=state().clock))


def _consumption():
    args = request.args
    return consumption.compute(db(), optional_id("department_id", args.get("department_id")), actor=g.actor,
                               start=args.get("from"), end=args.get("to"), clock=state().clock)


@bp.get("/consumables/consumption")
@operation(summary="Monthly consumption of a department's consumables", tag=TAG, permissions=("consumable.view",),
           description="Per item and calendar month: what was collected and received. At most 36 months.",
           query=_PERIOD, response=CONSUMPTION)
def consumption_report():
    """Return a department's consumption per item and month."""
    report = _consumption()
    return jsonify({"department_id": report.department.id, "department": report.department.code,
                    "department_name": report.department.name, "months": report.labels,
                    "items": [{"consumable_id": r.item.id, "name": r.item.name, "unit": r.item.unit,
                               "collected": [number(v) for v in r.collected],
                               "received": [number(v) for v in r.received], "total_collected": number(r.total)}
                              for r in report.items]})


@bp.get("/consumables/consumption/export")
@operation(summary="Download a department's monthly consumption as CSV or Excel", tag=TAG,
           permissions=("consumable.view",),
           description="One row per item and month: department, item, unit, month, collected, received. "
                       "Recorded in the audit trail.",
           query=(Param("format", {"type": "string", "enum": list(FORMATS)}, "`csv` (the default) or `xlsx`."),
                  *_PERIOD),
           response_media=tuple(media.split(";")[0] for media, _ in FORMATS.values()))
def consumption_export():
    """Send a department's consumption as a file."""
    fmt = tables.check_format(request.args.get("format") or "csv")
    return send_consumption(_consumption(), fmt)


def send_consumption(report: consumption.Consumption, fmt: str) -> Response:
    """Record the export in the audit trail and send the file (pages use it too)."""
    media, write = FORMATS[fmt]
    exports.record(db(), actor=g.actor, kind="consumables", fmt=fmt, rows=len(report.items) * len(report.months),
                   filters={"department": report.department.code, "from": report.labels[0], "to": report.labels[-1]},
                   clock=state().clock)
    content = write(report)
    commit()
    name = f"consumption-{report.department.code}-{report.labels[0]}-{report.labels[-1]}.{fmt}"
    return Response(content, content_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


guard(bp, declared=True)
