"""Equipment status in the JSON API under ``/api/v1``: tag-out and its clearing, the status
history of an asset, the managed list of equipment categories, and an asset's finance.

Routes only translate HTTP to service calls (:mod:`wardlink.hub.services.assets.status`),
which check permissions and department scope and record the audit trail.
"""

from __future__ import annotations


from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import AssetStatusChange
from wardlink.hub.db.vocab import EQUIPMENT_STATUSES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import categories, status
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.finance import ownership
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import obj, operation, ref, json_body
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable)
from wardlink.hub.web.api.serialize import asset_json, jsonable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("api_equipment", __name__)
guard(bp)

_REASON = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, required=("reason",), extra=False)
STATUS_ROW = obj({"status": enum(EQUIPMENT_STATUSES), "started_at": DATETIME, "ended_at": nullable(DATETIME),
                  "reason": STRING, "changed_by": STRING, "work_order_id": nullable(INTEGER)})


_body = json_body


def status_row_json(row: AssetStatusChange) -> dict:
    """Return one stretch of an asset's status history."""
    return {"status": row.status, "started_at": jsonable(row.started_at), "ended_at": jsonable(row.ended_at),
            "reason": row.reason, "changed_by": row.changed_by, "work_order_id": row.work_order_id}


@bp.post("/assets/<tag>/tag-out")
@operation(summary="Tag equipment out of use (do not use)", tag="assets", permissions=("asset.tagout",),
           description="A manager's decision, with the reason; audited. Failed safety-critical checklist "
                       "items and requests reporting the device out of use tag it out by themselves.",
           body=_REASON, errors=(400, 401, 403, 404), response=ref("Asset"))
def tag_out(tag: str):
    """Tag an asset out of use."""
    asset = status.tag_out(db(), tag, reason=_body().get("reason"), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(asset_json(asset))


@bp.post("/assets/<tag>/tag-out/clear")
@operation(summary="Clear a tag-out (manager, with the reason)", tag="assets", permissions=("asset.tagout",),
           description="Normally a tag-out clears when the work order holding it is closed with a passing "
                       "safety check; a manager may clear it early, saying why (audited).",
           body=_REASON, errors=(400, 401, 403, 404), response=ref("Asset"))
def clear_tag_out(tag: str):
    """Clear an asset's tag-out."""
    asset = status.clear_tag_out(db(), tag, reason=_body().get("reason"), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(asset_json(asset))


@bp.get("/assets/<tag>/status-history")
@operation(summary="An asset's equipment status over time, newest first", tag="assets",
           permissions=("asset.view",), errors=(400, 401, 403, 404),
           query=(Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Rows to return (100)."),),
           response=obj({"asset": STRING, "items": array(STATUS_ROW)}))
def status_history(tag: str):
    """Return the status history of an asset."""
    raw = request.args.get("limit") or "100"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidInput(f"limit: must be a whole number 1..1000, got {raw!r}")
    rows = status.history(db(), tag, actor=g.actor, limit=int(raw))
    return jsonify({"asset": tag, "items": [status_row_json(r) for r in rows]})


# ------------------------------------------------------------------ categories

_SCORE = {"type": ["integer", "null"]}
CATEGORY = obj({"id": INTEGER, "name": STRING, "equipment_function": nullable(INTEGER),
                "physical_risk": nullable(INTEGER), "maintenance_requirement": nullable(INTEGER),
                "assets": INTEGER})
_CATEGORY_BODY = {"name": {"type": "string", "minLength": 1, "maxLength": 100}, "equipment_function": _SCORE,
                  "physical_risk": _SCORE, "maintenance_requirement": _SCORE}


def category_json(category, assets: int) -> dict:
    """Return a category with its default scores and how many assets it has."""
    return {**categories.snapshot(category), "assets": assets}


def _count(category_id: int) -> int:
    return next((n for c, n in categories.list_categories(db(), actor=g.actor) if c.id == category_id), 0)


@bp.get("/categories")
@operation(summary="The managed list of equipment categories, with their Fennigkoh-Smith defaults",
           tag="assets", permissions=("asset.view",), response=obj({"items": array(CATEGORY)}))
def category_list():
    """List the categories."""
    return jsonify({"items": [category_json(c, n) for c, n in categories.list_categories(db(), actor=g.actor)]})


@bp.post("/categories")
@operation(summary="Add a category", tag="assets", permissions=("category.manage",),
           description="Names are compared without case: one already listed is refused.",
           body=obj(_CATEGORY_BODY, required=("name",), extra=False), status=201, response=CATEGORY)
def category_create():
    """Add a category with its default scores."""
    category = categories.create_category(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(category_json(category, 0)), 201


@bp.patch("/categories/<int:category_id>")
@operation(summary="Rename a category (its assets follow) or change its default scores", tag="assets",
           permissions=("category.manage",), body=obj(_CATEGORY_BODY, required=(), extra=False),
           errors=(400, 401, 403, 404), response=CATEGORY)
def category_update(category_id: int):
    """Change a category."""
    category = categories.update_category(db(), category_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(category_json(category, _count(category.id)))


@bp.post("/categories/<int:category_id>/merge")
@operation(summary="Merge a duplicate category into another", tag="assets", permissions=("category.manage",),
           description="Its assets move to `into_id` (each audited) and the duplicate is removed.",
           body=obj({"into_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}, required=("into_id",),
                    extra=False),
           errors=(400, 401, 403, 404), response=obj({"category": CATEGORY, "moved": array(STRING)}))
def category_merge(category_id: int):
    """Merge one category into another."""
    target, moved = categories.merge(db(), category_id, _body().get("into_id"), actor=g.actor, clock=state().clock)
    commit()
    return jsonify({"category": category_json(target, _count(target.id)), "moved": moved})


_YEAR_COST = obj({"year": INTEGER, "depreciation": nullable(DECIMAL), "parts": DECIMAL, "labour": DECIMAL,
                  "vendor": DECIMAL, "contracts": DECIMAL, "maintenance": DECIMAL, "total": DECIMAL})
FINANCE = obj({
    "tag": STRING, "today": DATE, "purchase_cost": nullable(DECIMAL), "purchase_date": nullable(DATE),
    "useful_life_years": nullable(INTEGER), "salvage_value": nullable(DECIMAL),
    "replacement_cost": nullable(DECIMAL),
    "depreciation": nullable(obj({"per_year": DECIMAL, "ends_on": DATE, "book_value": DECIMAL,
                                  "schedule": array(obj({"year": INTEGER, "opening": DECIMAL,
                                                         "depreciation": DECIMAL, "closing": DECIMAL}))})),
    "missing": array(STRING), "years": array(_YEAR_COST),
    "repair_or_replace": obj({"since": DATE, "repairs": DECIMAL, "orders": INTEGER,
                              "replacement": nullable(DECIMAL), "basis": nullable(STRING), "percent": INTEGER,
                              "threshold": nullable(DECIMAL), "share": nullable(DECIMAL), "flagged": BOOLEAN}),
    "unpriced_minutes": INTEGER, "parts_unpriced": BOOLEAN,
})


def finance_json(tag: str, f: ownership.Finance, asset) -> dict:
    """Return an asset's finance: depreciation, cost of ownership by year, repair or replace."""
    line, r = f.depreciation, f.repair
    return {
        "tag": tag, "today": jsonable(f.today), **{k: jsonable(getattr(asset, k)) for k in (
            "purchase_cost", "purchase_date", "useful_life_years", "salvage_value", "replacement_cost")},
        "depreciation": None if line is None else {
            "per_year": jsonable(line.per_year), "ends_on": jsonable(line.end), "book_value": jsonable(f.book_value),
            "schedule": [{k: jsonable(getattr(y, k)) for k in ("year", "opening", "depreciation", "closing")}
                         for y in f.schedule]},
        "missing": list(f.missing),
        "years": [{"year": y.year, **{k: jsonable(getattr(y, k)) for k in (
            "depreciation", "parts", "labour", "vendor", "contracts", "maintenance", "total")}} for y in f.years],
        "repair_or_replace": {"since": jsonable(r.since), "repairs": jsonable(r.repairs), "orders": r.orders,
                              "replacement": jsonable(r.replacement), "basis": r.basis, "percent": r.percent,
                              "threshold": jsonable(r.threshold), "share": jsonable(r.share), "flagged": r.flagged},
        "unpriced_minutes": f.unpriced_minutes, "parts_unpriced": f.parts_unpriced,
    }


@bp.get("/assets/<tag>/finance")
@operation(summary="An asset's depreciation, cost of ownership by year and repair-or-replace judgement",
           tag="assets", permissions=("asset.view", "kpi.view"),
           description="Straight-line depreciation by the day from the purchase date over the useful life down to "
                       "the salvage value, and the book value today (the hospital's local date); per calendar year "
                       "the depreciation, the parts, labour and vendor charges of its work orders (counted in the "
                       "year each was completed, or opened while open) and its share of its contracts' cost; the "
                       "corrective orders' cost over the last 12 months against the replacement cost (else the "
                       "purchase cost), flagged above `repair_replace_percent` %.",
           errors=(400, 401, 403, 404), response=FINANCE)
def asset_finance(tag: str):
    """Return an asset's finance."""
    found = ownership.asset_finance(db(), tag, actor=g.actor, clock=state().clock,
                                    percent=state().config.repair_replace_percent)
    return jsonify(finance_json(tag, found, get_asset(db(), tag, actor=g.actor)))
