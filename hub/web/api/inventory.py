"""The parts catalogue in the JSON API under ``/api/v1``: parts, suppliers, stock locations and
bins, kits. Stock movements, approvals, the reorder list and parts on work orders are in
:mod:`wardlink.hub.web.api.inventory_stock`.

Routes only translate HTTP to the services (:mod:`wardlink.hub.services.inventory`), which
check permissions and record the audit trail.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, g, jsonify, request

from wardlink.hub.services.inventory import catalogue, kits, levels, purchasing, storage, suppliers
from wardlink.hub.services.validate import boolean, optional_id, text
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import (ID_IN, KIT, MONEY_IN, OPTIONAL_ID_IN, PART, PART_DETAIL, QTY_IN,
                                                 STOCK_LOCATION, SUPPLIER, BIN, kit_json, location_json, part_json,
                                                 supplier_json, text_in)
from wardlink.hub.web.api.openapi import obj, operation, page_params, json_body
from wardlink.hub.web.api.openapi_schema import BOOLEAN, Param, array, enum
from wardlink.hub.web.api.serialize import page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state
from wardlink.hub.db.vocab import PART_UNITS

bp = Blueprint("api_inventory", __name__, url_prefix="/api/v1")

TAG = "inventory"
_GONE = (400, 401, 403, 404)
_QTY0 = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999999},
                   {"type": "string", "pattern": r"^\s*(\d{1,9}(\.\d{1,3})?)?\s*$"}, {"type": "null"}]}
_MODEL_IN = obj({"make": text_in(100), "model": text_in(100, required=True)}, required=("model",), extra=False)
_PART_FIELDS = {
    "sku": text_in(64, required=True), "name": text_in(200, required=True), "description": text_in(5000),
    "manufacturer": text_in(100), "manufacturer_part_number": text_in(64), "category": text_in(100),
    "unit": {"anyOf": [enum(PART_UNITS), {"type": "null"}]}, "unit_cost": MONEY_IN, "reorder_level": _QTY0,
    "reorder_quantity": _QTY0, "preferred_supplier_id": OPTIONAL_ID_IN, "active": BOOLEAN,
    "models": {"type": "array", "maxItems": 50, "items": _MODEL_IN},
}
_PART_NEW = obj(_PART_FIELDS, required=("sku", "name"), extra=False)
_PART_CHANGE = obj(_PART_FIELDS, required=(), extra=False)
_CONTACT_IN = obj({"name": text_in(200, required=True), "role": text_in(100), "email": text_in(254),
                   "phone": text_in(64)}, required=("name",), extra=False)
_SUPPLIER_FIELDS = {
    "name": text_in(200, required=True), "email": text_in(254), "phone": text_in(64), "address": text_in(2000),
    "website": text_in(300), "lead_time_days": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 3650},
                                                          {"type": "null"}]},
    "payment_terms": text_in(200), "notes": text_in(5000), "active": BOOLEAN,
    "contacts": {"type": "array", "maxItems": 20, "items": _CONTACT_IN},
}
_SUPPLIER_NEW = obj(_SUPPLIER_FIELDS, required=("name",), extra=False)
_SUPPLIER_CHANGE = obj(_SUPPLIER_FIELDS, required=(), extra=False)
_CODE_IN = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"}
_LOCATION_FIELDS = {"code": _CODE_IN, "name": text_in(200, required=True), "site_id": ID_IN,
                    "location_id": OPTIONAL_ID_IN, "active": BOOLEAN}
_LOCATION_NEW = obj(_LOCATION_FIELDS, required=("code", "name", "site_id"), extra=False)
_LOCATION_CHANGE = obj(_LOCATION_FIELDS, required=(), extra=False)
_BIN_NEW = obj({"code": _CODE_IN, "active": BOOLEAN}, required=("code",), extra=False)
_BIN_CHANGE = obj({"code": _CODE_IN, "active": BOOLEAN}, required=(), extra=False)
_KIT_ITEM = obj({"part_id": ID_IN, "quantity": QTY_IN}, extra=False)
_KIT_FIELDS = {"name": text_in(200, required=True), "description": text_in(2000),
               "items": {"type": "array", "minItems": 1, "maxItems": 50, "items": _KIT_ITEM}}
_KIT_NEW = obj(_KIT_FIELDS, required=("name", "items"), extra=False)
_KIT_CHANGE = obj(_KIT_FIELDS, required=(), extra=False)


_body = json_body


def _clock():
    return state().clock


def _part_response(part_id: int, status: int = 200):
    session = db()
    part = catalogue.get_part(session, part_id, actor=g.actor)
    on_hand, held = levels.on_hand(session, [part.id])[part.id], levels.held(session, [part.id])[part.id]
    coming = purchasing.on_order(session, [part.id]).get(part.id, Decimal("0"))
    return jsonify(part_json(catalogue.PartRow(part, on_hand, held), levels.bins_of(session, part.id), coming)), status


# ------------------------------------------------------------------ parts


@bp.get("/parts")
@operation(summary="Search the parts catalogue", tag=TAG, permissions=("part.view",),
           description="By name; `q` matches SKU, name, manufacturer part number or a compatible model. Each "
                       "part comes with its stock on hand, what is held for work orders and what is free.",
           query=page_params(Param("q", {"type": "string", "maxLength": 100}, "Search text."),
                             Param("category", {"type": "string", "maxLength": 100}, "Exact category."),
                             Param("supplier", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                   "Preferred supplier id."),
                             Param("low", {"type": "boolean"}, "Only parts at or below their reorder level."),
                             Param("active", {"type": "boolean"}, "Active (default) or inactive parts.")),
           response=obj({"items": array(PART), "page": {"type": "integer"}, "per_page": {"type": "integer"},
                         "total": {"type": "integer"}, "total_exact": BOOLEAN,
                         "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}))
def part_list():
    """List parts with their stock."""
    args = request.args
    active = boolean("active", args["active"]) if args.get("active") not in (None, "") else True
    page = catalogue.list_parts(db(), actor=g.actor, search=text(100)("q", args.get("q")),
                                category=text(100)("category", args.get("category")),
                                supplier_id=optional_id("supplier", args.get("supplier")),
                                low=boolean("low", args.get("low")), active=active, **paging())
    return jsonify(page_json(page, part_json))


@bp.post("/parts")
@operation(summary="Add a part to the catalogue", tag=TAG, permissions=("part.manage",),
           description="SKUs are unique without case. `models` are the equipment makes and models the part "
                       "fits. Audited.", body=_PART_NEW, status=201, response=PART_DETAIL)
def part_create():
    """Add a part."""
    part = catalogue.create_part(db(), _body(), actor=g.actor, clock=_clock())
    commit()
    return _part_response(part.id, 201)


@bp.get("/parts/<int:part_id>")
@operation(summary="A part with its stock per bin", tag=TAG, permissions=("part.view",), errors=_GONE,
           response=PART_DETAIL)
def part_detail(part_id: int):
    """Return a part and its stock per bin."""
    return _part_response(part_id)


@bp.patch("/parts/<int:part_id>")
@operation(summary="Change a part", tag=TAG, permissions=("part.manage",),
           description="`models`, when given, replaces the list. A new reorder level judges the stock again "
                       "(low-stock alert and notice, or their end). Audited.", body=_PART_CHANGE, errors=_GONE,
           response=PART_DETAIL)
def part_update(part_id: int):
    """Change a part."""
    catalogue.update_part(db(), part_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return _part_response(part_id)


@bp.delete("/parts/<int:part_id>")
@operation(summary="Delete a part that never had stock", tag=TAG, permissions=("part.manage",),
           description="A part with stock or history is refused: set it inactive instead. Audited.", status=204,
           errors=_GONE)
def part_delete(part_id: int):
    """Delete a part."""
    catalogue.delete_part(db(), part_id, actor=g.actor, clock=_clock())
    commit()
    return "", 204


# ------------------------------------------------------------------ suppliers


@bp.get("/suppliers")
@operation(summary="The suppliers", tag=TAG, permissions=("part.view",),
           query=page_params(Param("q", {"type": "string", "maxLength": 100}, "Name, e-mail or phone."),
                             Param("active", {"type": "boolean"}, "Only active or inactive suppliers.")),
           response=obj({"items": array(SUPPLIER), "page": {"type": "integer"}, "per_page": {"type": "integer"},
                         "total": {"type": "integer"}, "total_exact": BOOLEAN,
                         "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}))
def supplier_list():
    """List suppliers by name."""
    raw = request.args.get("active")
    page = suppliers.list_suppliers(db(), actor=g.actor, search=request.args.get("q") or "",
                                    active=None if raw in (None, "") else boolean("active", raw), **paging())
    return jsonify(page_json(page, supplier_json))


@bp.post("/suppliers")
@operation(summary="Add a supplier", tag=TAG, permissions=("supplier.manage",),
           description="Names are unique without case; `contacts` lists the people to call. Audited.",
           body=_SUPPLIER_NEW, status=201, response=SUPPLIER)
def supplier_create():
    """Add a supplier."""
    supplier = suppliers.create_supplier(db(), _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(supplier_json(supplier)), 201


@bp.get("/suppliers/<int:supplier_id>")
@operation(summary="A supplier and its contacts", tag=TAG, permissions=("part.view",), errors=_GONE,
           response=SUPPLIER)
def supplier_detail(supplier_id: int):
    """Return a supplier."""
    return jsonify(supplier_json(suppliers.get_supplier(db(), supplier_id, actor=g.actor)))


@bp.patch("/suppliers/<int:supplier_id>")
@operation(summary="Change a supplier", tag=TAG, permissions=("supplier.manage",),
           description="`contacts`, when given, replaces the list. Audited.", body=_SUPPLIER_CHANGE, errors=_GONE,
           response=SUPPLIER)
def supplier_update(supplier_id: int):
    """Change a supplier."""
    supplier = suppliers.update_supplier(db(), supplier_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(supplier_json(supplier))


@bp.delete("/suppliers/<int:supplier_id>")
@operation(summary="Delete a supplier nothing refers to", tag=TAG, permissions=("supplier.manage",),
           description="A supplier named by parts or movements is refused: set it inactive. Audited.", status=204,
           errors=_GONE)
def supplier_delete(supplier_id: int):
    """Delete a supplier."""
    suppliers.delete_supplier(db(), supplier_id, actor=g.actor, clock=_clock())
    commit()
    return "", 204


# ------------------------------------------------------------------ storage


@bp.get("/stock-locations")
@operation(summary="Stock locations and their bins", tag=TAG, permissions=("part.view",),
           response=obj({"items": array(STOCK_LOCATION)}))
def location_list():
    """List stock locations with their bins."""
    return jsonify({"items": [location_json(r) for r in storage.list_locations(db(), actor=g.actor)]})


@bp.post("/stock-locations")
@operation(summary="Add a stock location (a store room or cabinet)", tag=TAG, permissions=("part.manage",),
           description="Codes are unique without case and printed on bin labels. Audited.", body=_LOCATION_NEW,
           status=201, response=STOCK_LOCATION)
def location_create():
    """Add a stock location."""
    row = storage.create_location(db(), _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(location_json(row)), 201


@bp.patch("/stock-locations/<int:location_id>")
@operation(summary="Change a stock location", tag=TAG, permissions=("part.manage",), description="Audited.",
           body=_LOCATION_CHANGE, errors=_GONE, response=STOCK_LOCATION)
def location_update(location_id: int):
    """Change a stock location."""
    row = storage.update_location(db(), location_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(location_json(row))


@bp.post("/stock-locations/<int:location_id>/bins")
@operation(summary="Add a bin to a stock location", tag=TAG, permissions=("part.manage",),
           description="Bin codes are unique in their location without case. Audited.", body=_BIN_NEW,
           status=201, errors=_GONE, response=BIN)
def bin_create(location_id: int):
    """Add a bin."""
    row = storage.create_bin(db(), location_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(storage.bin_snapshot(row)), 201


@bp.patch("/stock-bins/<int:bin_id>")
@operation(summary="Rename a bin or set it (in)active", tag=TAG, permissions=("part.manage",),
           description="Stock never goes into an inactive bin. Audited.", body=_BIN_CHANGE, errors=_GONE,
           response=BIN)
def bin_update(bin_id: int):
    """Change a bin."""
    row = storage.update_bin(db(), bin_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(storage.bin_snapshot(row))


@bp.delete("/stock-bins/<int:bin_id>")
@operation(summary="Delete a bin that never held stock", tag=TAG, permissions=("part.manage",),
           description="A bin that held stock is refused: set it inactive. Audited.", status=204, errors=_GONE)
def bin_delete(bin_id: int):
    """Delete a bin."""
    storage.delete_bin(db(), bin_id, actor=g.actor, clock=_clock())
    commit()
    return "", 204


# ------------------------------------------------------------------ kits


@bp.get("/part-kits")
@operation(summary="Kits of parts", tag=TAG, permissions=("part.view",), response=obj({"items": array(KIT)}))
def kit_list():
    """List kits with their items."""
    return jsonify({"items": [kit_json(k) for k in kits.list_kits(db(), actor=g.actor)]})


@bp.post("/part-kits")
@operation(summary="Add a kit of parts", tag=TAG, permissions=("part.manage",),
           description="Names are unique without case; each part once. Audited.", body=_KIT_NEW, status=201,
           response=KIT)
def kit_create():
    """Add a kit."""
    kit = kits.create_kit(db(), _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(kit_json(kit)), 201


@bp.get("/part-kits/<int:kit_id>")
@operation(summary="A kit and its parts", tag=TAG, permissions=("part.view",), errors=_GONE, response=KIT)
def kit_detail(kit_id: int):
    """Return a kit."""
    return jsonify(kit_json(kits.get_kit(db(), kit_id, actor=g.actor)))


@bp.patch("/part-kits/<int:kit_id>")
@operation(summary="Change a kit", tag=TAG, permissions=("part.manage",),
           description="`items`, when given, replaces them. Audited.", body=_KIT_CHANGE, errors=_GONE, response=KIT)
def kit_update(kit_id: int):
    """Change a kit."""
    kit = kits.update_kit(db(), kit_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(kit_json(kit))


@bp.delete("/part-kits/<int:kit_id>")
@operation(summary="Delete a kit", tag=TAG, permissions=("part.manage",), description="Audited.", status=204,
           errors=_GONE)
def kit_delete(kit_id: int):
    """Delete a kit."""
    kits.delete_kit(db(), kit_id, actor=g.actor, clock=_clock())
    commit()
    return "", 204


# The route table comes from the permissions each operation above declares.
guard(bp, declared=True)
