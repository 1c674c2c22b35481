"""JSON forms (and their schemas) of parts, suppliers, storage, kits, movements, adjustments,
picks and costs, as the inventory API returns them. Quantities and amounts are decimal strings
(``"2"``, ``"0.5"``, ``"12.50"``); times are ISO 8601 in UTC."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wardlink.hub.db.models import (LabourRate, Part, PartKit, StockAdjustment, StockLocation, StockMovement,
                                    Supplier, WorkOrderCharge, WorkOrderPick)
from wardlink.hub.db.vocab import ADJUSTMENT_STATES, PART_UNITS, PICK_STATES, ROLES, STOCK_MOVEMENT_KINDS
from wardlink.hub.services.inventory import kits, storage, suppliers
from wardlink.hub.services.inventory.catalogue import PartRow, snapshot as part_snapshot
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.inventory.levels import BinStock
from wardlink.hub.services.inventory.low_stock import ReorderLine
from wardlink.hub.services.inventory.picks import cost_of, pick_snapshot
from wardlink.hub.services.maintenance.parts_forecast import Forecast, PartNeed
from wardlink.hub.services.maintenance.workorder_costs import Cost
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, array, enum,
                                                 nullable, obj)
from wardlink.hub.web.api.serialize import jsonable

_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
#: A quantity in a request: a number or a decimal string such as "2.5" (at most three decimals).
QTY_IN = {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 999999999},
                    {"type": "string", "pattern": r"^\s*\d{1,9}(\.\d{1,3})?\s*$"}]}
#: A signed quantity in a request ("-2" takes two away).
SIGNED_IN = {"anyOf": [{"type": "number", "minimum": -999999999, "maximum": 999999999},
                       {"type": "string", "pattern": r"^\s*-?\d{1,9}(\.\d{1,3})?\s*$"}]}
#: An amount of money in a request, or null / "" for none.
MONEY_IN = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 9999999999},
                      {"type": "string", "pattern": r"^\s*(\d{1,10}(\.\d{1,2})?)?\s*$"}, {"type": "null"}]}


def text_in(max_len: int, *, required: bool = False) -> dict:
    """Return the schema of a text field of a request."""
    return {"type": "string", "minLength": 1, "maxLength": max_len} if required else \
        {"type": ["string", "null"], "maxLength": max_len}


ID_IN = _ID
OPTIONAL_ID_IN = {"anyOf": [_ID, {"type": "null"}]}

MODEL = obj({"make": STRING, "model": STRING})
BIN_STOCK = obj({"bin_id": INTEGER, "bin": STRING, "on_hand": DECIMAL, "held": DECIMAL, "available": DECIMAL})
PART = obj({
    "id": INTEGER, "sku": STRING, "name": STRING, "description": STRING, "manufacturer": STRING,
    "manufacturer_part_number": STRING, "category": STRING, "unit": enum(PART_UNITS), "unit_cost": nullable(DECIMAL),
    "reorder_level": DECIMAL, "reorder_quantity": DECIMAL, "preferred_supplier_id": nullable(INTEGER),
    "preferred_supplier": nullable(STRING), "active": BOOLEAN, "models": array(MODEL), "on_hand": DECIMAL,
    "held": DECIMAL, "available": DECIMAL, "low_since": nullable(DATETIME),
})
PART_DETAIL = {**PART, "properties": {**PART["properties"], "bins": array(BIN_STOCK), "on_order": DECIMAL},
               "required": [*PART["required"], "bins", "on_order"]}
CONTACT = obj({"name": STRING, "role": STRING, "email": STRING, "phone": STRING})
SUPPLIER = obj({"id": INTEGER, "name": STRING, "email": STRING, "phone": STRING, "address": STRING,
                "website": STRING, "lead_time_days": nullable(INTEGER), "payment_terms": STRING, "notes": STRING,
                "active": BOOLEAN, "contacts": array(CONTACT)})
BIN = obj({"id": INTEGER, "code": STRING, "stock_location_id": INTEGER, "location_code": STRING, "label": STRING,
           "active": BOOLEAN})
STOCK_LOCATION = obj({"id": INTEGER, "code": STRING, "name": STRING, "site_id": INTEGER,
                      "location_id": nullable(INTEGER), "active": BOOLEAN, "bins": array(BIN)})
KIT = obj({"id": INTEGER, "name": STRING, "description": STRING,
           "items": array(obj({"part_id": INTEGER, "sku": STRING, "name": STRING, "unit": STRING,
                               "quantity": DECIMAL}))})
MOVEMENT = obj({"id": INTEGER, "part_id": INTEGER, "bin_id": INTEGER, "bin": STRING,
                "kind": enum(STOCK_MOVEMENT_KINDS), "quantity": DECIMAL, "balance": DECIMAL,
                "unit_cost": nullable(DECIMAL), "work_order_id": nullable(INTEGER), "supplier_id": nullable(INTEGER),
                "related_id": nullable(INTEGER), "reason": STRING, "reference": STRING, "user": STRING,
                "approved_by_id": nullable(INTEGER), "created_at": DATETIME})
ADJUSTMENT = obj({"id": INTEGER, "part_id": INTEGER, "sku": STRING, "bin_id": INTEGER, "bin": STRING,
                  "kind": enum(("adjust", "count")), "quantity": DECIMAL, "counted": nullable(DECIMAL),
                  "expected": nullable(DECIMAL), "value": nullable(DECIMAL), "reason": STRING,
                  "state": enum(ADJUSTMENT_STATES), "requested_by": STRING, "requested_at": DATETIME,
                  "decided_by": STRING, "decided_at": nullable(DATETIME), "decision_note": STRING,
                  "movement_id": nullable(INTEGER)})
OUTCOME = obj({"movement": nullable(MOVEMENT), "adjustment": nullable(ADJUSTMENT)})
REORDER_LINE = obj({"part": PART, "shortfall": DECIMAL, "suggested": DECIMAL, "on_order": DECIMAL,
                    "supplier": nullable(obj({"id": INTEGER, "name": STRING, "lead_time_days": nullable(INTEGER)}))})
_NEED = obj({"part": obj({"id": INTEGER, "sku": STRING, "name": STRING, "unit": STRING,
                          "unit_cost": nullable(DECIMAL), "reorder_quantity": DECIMAL}),
             "needed": DECIMAL, "services": INTEGER, "on_hand": DECIMAL, "held": DECIMAL, "on_order": DECIMAL,
             "shortfall": DECIMAL, "suggested": DECIMAL, "value": nullable(DECIMAL),
             "plans": array(obj({"plan_id": INTEGER, "plan": STRING, "services": INTEGER, "per_visit": DECIMAL,
                                 "quantity": DECIMAL}))})
FORECAST = obj({"days": INTEGER, "start": DATE, "end": DATE, "services": INTEGER, "parts": array(_NEED),
                "orders": array(obj({"supplier": nullable(obj({"id": INTEGER, "name": STRING,
                                                                "lead_time_days": nullable(INTEGER)})),
                                     "value": DECIMAL, "lines": array(obj({"part_id": INTEGER, "sku": STRING,
                                                                            "quantity": DECIMAL,
                                                                            "value": nullable(DECIMAL)}))}))})
PICK = obj({"id": INTEGER, "work_order_id": INTEGER, "part_id": INTEGER, "sku": STRING, "name": STRING,
            "bin_id": INTEGER, "bin": STRING, "quantity": DECIMAL, "unit": STRING, "state": enum(PICK_STATES),
            "picked_by": STRING, "picked_at": DATETIME, "movement_id": nullable(INTEGER), "cost": nullable(DECIMAL)})
CHARGE = obj({"id": INTEGER, "work_order_id": INTEGER, "supplier_id": nullable(INTEGER), "vendor": STRING,
              "description": STRING, "amount": DECIMAL, "reference": STRING, "recorded_by": STRING,
              "created_at": DATETIME})
COST = obj({"parts": DECIMAL, "labour": DECIMAL, "vendor": DECIMAL, "total": DECIMAL, "minutes": INTEGER,
            "unpriced_minutes": INTEGER, "parts_unpriced": BOOLEAN, "charges": array(CHARGE)})
RATE = obj({"role": nullable(enum(ROLES)), "user_id": nullable(INTEGER), "username": nullable(STRING),
            "hourly_rate": DECIMAL})
IMPORT_REPORT = obj({"created": INTEGER, "updated": INTEGER, "summary": STRING,
                     "errors": array(obj({"row": INTEGER, "sku": STRING, "error": STRING}))})


def _text(value: Decimal | None) -> str | None:
    return number(value)


def part_json(row: PartRow, bins: list[BinStock] | None = None, on_order: Decimal | None = None) -> dict[str, Any]:
    """Return a part with its stock (and, given ``bins`` and ``on_order``, its stock per bin and what
    sent purchase orders still lack of it)."""
    part = row.part
    data = {k: jsonable(v) for k, v in part_snapshot(part).items()}
    data.update(preferred_supplier=part.preferred_supplier.name if part.preferred_supplier else None,
                on_hand=_text(row.on_hand), held=_text(row.held), available=_text(row.available),
                low_since=jsonable(part.low_since))
    if bins is not None:
        data["bins"] = [{"bin_id": b.bin.id, "bin": b.bin.label, "on_hand": _text(b.on_hand), "held": _text(b.held),
                         "available": _text(b.available)} for b in bins]
    if on_order is not None:
        data["on_order"] = _text(on_order)
    return data


def bare_part_json(part: Part, on_hand: Decimal, held: Decimal) -> dict[str, Any]:
    """Return a part with the stock figures given."""
    return part_json(PartRow(part, on_hand, held))


def supplier_json(supplier: Supplier) -> dict[str, Any]:
    """Return a supplier with its contacts."""
    return suppliers.snapshot(supplier)


def location_json(row: StockLocation) -> dict[str, Any]:
    """Return a stock location with its bins."""
    return {**storage.location_snapshot(row), "bins": [storage.bin_snapshot(b) for b in row.bins]}


def kit_json(kit: PartKit) -> dict[str, Any]:
    """Return a kit with its items."""
    return kits.snapshot(kit)


def movement_json(row: StockMovement) -> dict[str, Any]:
    """Return a movement of the ledger."""
    return {"id": row.id, "part_id": row.part_id, "bin_id": row.bin_id, "bin": row.bin.label, "kind": row.kind,
            "quantity": _text(row.quantity), "balance": _text(row.balance), "unit_cost": amount(row.unit_cost),
            "work_order_id": row.work_order_id, "supplier_id": row.supplier_id, "related_id": row.related_id,
            "reason": row.reason, "reference": row.reference, "user": row.username,
            "approved_by_id": row.approved_by_id, "created_at": jsonable(row.created_at)}


def adjustment_json(row: StockAdjustment) -> dict[str, Any]:
    """Return an adjustment or count that needed approval."""
    return {"id": row.id, "part_id": row.part_id, "sku": row.part.sku, "bin_id": row.bin_id, "bin": row.bin.label,
            "kind": row.kind, "quantity": _text(row.quantity), "counted": _text(row.counted),
            "expected": _text(row.expected), "value": amount(row.value), "reason": row.reason, "state": row.state,
            "requested_by": row.requested_by, "requested_at": jsonable(row.requested_at),
            "decided_by": row.decided_by, "decided_at": jsonable(row.decided_at),
            "decision_note": row.decision_note, "movement_id": row.movement_id}


def reorder_json(line: ReorderLine, on_order: Decimal = Decimal("0")) -> dict[str, Any]:
    """Return a line of the reorder list (``on_order``: what sent orders still lack of the part)."""
    supplier = line.part.preferred_supplier
    return {"part": part_json(PartRow(line.part, line.on_hand, line.held)), "shortfall": _text(line.shortfall),
            "suggested": _text(line.suggested), "on_order": _text(on_order),
            "supplier": None if supplier is None else {"id": supplier.id, "name": supplier.name,
                                                       "lead_time_days": supplier.lead_time_days}}


def pick_json(row: WorkOrderPick) -> dict[str, Any]:
    """Return a pick with its cost."""
    data = {k: jsonable(v) for k, v in pick_snapshot(row).items()}
    data["cost"] = amount(cost_of(row))
    return data


def charge_json(row: WorkOrderCharge) -> dict[str, Any]:
    """Return a vendor charge."""
    return {"id": row.id, "work_order_id": row.work_order_id, "supplier_id": row.supplier_id, "vendor": row.vendor,
            "description": row.description, "amount": amount(row.amount), "reference": row.reference,
            "recorded_by": row.recorded_by, "created_at": jsonable(row.created_at)}


def cost_json(cost: Cost, charges: list[WorkOrderCharge]) -> dict[str, Any]:
    """Return an order's cost and its vendor charges."""
    return {"parts": amount(cost.parts), "labour": amount(cost.labour), "vendor": amount(cost.vendor),
            "total": amount(cost.total), "minutes": cost.minutes, "unpriced_minutes": cost.unpriced_minutes,
            "parts_unpriced": cost.parts_unpriced, "charges": [charge_json(c) for c in charges]}


def rate_json(row: LabourRate) -> dict[str, Any]:
    """Return a labour rate."""
    return {"role": row.role, "user_id": row.user_id, "username": row.user.username if row.user else None,
            "hourly_rate": amount(row.hourly_rate)}


def _need_json(need: PartNeed) -> dict[str, Any]:
    part = need.part
    return {"part": {"id": part.id, "sku": part.sku, "name": part.name, "unit": part.unit,
                     "unit_cost": amount(part.unit_cost), "reorder_quantity": _text(part.reorder_quantity)},
            "needed": _text(need.needed), "services": need.services, "on_hand": _text(need.on_hand),
            "held": _text(need.held), "on_order": _text(need.on_order), "shortfall": _text(need.shortfall),
            "suggested": _text(need.suggested), "value": amount(need.value),
            "plans": [{"plan_id": p.plan_id, "plan": p.plan, "services": p.services, "per_visit": _text(p.per_visit),
                       "quantity": _text(p.quantity)} for p in need.plans]}


def forecast_json(found: Forecast) -> dict[str, Any]:
    """Return the parts forecast."""
    return {"days": found.days, "start": found.first.isoformat(), "end": found.last.isoformat(),
            "services": found.services, "parts": [_need_json(n) for n in found.parts],
            "orders": [{"supplier": None if o.supplier is None else {
                "id": o.supplier.id, "name": o.supplier.name, "lead_time_days": o.supplier.lead_time_days},
                "value": amount(o.value),
                "lines": [{"part_id": n.part.id, "sku": n.part.sku, "quantity": _text(n.suggested),
                           "value": amount(n.value)} for n in o.lines]} for o in found.orders]}
