"""Service contracts and warranties in the JSON API under ``/api/v1``.

Routes only translate HTTP to :mod:`wardlink.hub.services.contracts.register`, which checks
permissions and department scope and records the audit trail. The contracts a work order
falls under (in force on the day it was opened, covering its asset) have a route of their own.
"""

from __future__ import annotations


from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import ServiceContract
from wardlink.hub.db.models.contracts import CONTRACT_KINDS
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.contracts import cover
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import obj, operation, json_body
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DECIMAL, INTEGER, STRING, Param, array, enum,
                                                 nullable, page_params)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_contracts", __name__, url_prefix="/api/v1")
guard(bp)

_GONE = (400, 401, 403, 404)
_STANDING = enum(("upcoming", "active", "expiring", "expired"))
CONTRACT = obj({
    "id": INTEGER, "reference": STRING, "kind": enum(CONTRACT_KINDS), "title": STRING,
    "supplier_id": nullable(INTEGER), "vendor_name": STRING,
    "vendor_contact": STRING, "covers_parts": BOOLEAN, "covers_labour": BOOLEAN, "covers_pm": BOOLEAN,
    "coverage": STRING, "starts_on": DATE, "ends_on": DATE, "cost": nullable(DECIMAL),
    "response_hours": nullable(INTEGER), "notes": STRING, "asset_tags": array(STRING),
    "standing": _STANDING, "days_left": INTEGER,
})
_MONEY = {"type": ["string", "number", "null"], "description": "An amount with at most two decimals, e.g. 4800.00"}
_HOURS = {"type": ["integer", "null"], "minimum": 1, "maximum": 8760}
_TAGS = {"type": "array", "maxItems": contracts.MAX_ASSETS, "items": {"type": "string", "maxLength": 64}}
_FIELDS = {
    "reference": {"type": "string", "minLength": 1, "maxLength": 64}, "kind": enum(CONTRACT_KINDS),
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "supplier_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
    "vendor_name": {"type": "string", "maxLength": 200},
    "vendor_contact": {"type": "string", "maxLength": 300}, "covers_parts": BOOLEAN, "covers_labour": BOOLEAN,
    "covers_pm": BOOLEAN, "starts_on": DATE, "ends_on": DATE, "cost": _MONEY, "response_hours": _HOURS,
    "notes": {"type": "string", "maxLength": 5000}, "asset_tags": _TAGS,
}
_NEW = obj(_FIELDS, required=("reference", "title", "starts_on", "ends_on"), extra=False)
_CHANGE = obj(_FIELDS, required=(), extra=False)


_body = json_body


def contract_json(contract: ServiceContract) -> dict:
    """Return a contract with what it covers and where its term stands today."""
    standing = contracts.standing(contract, contracts.today(db(), state().clock))
    return {**{k: jsonable(v) for k, v in contracts.snapshot(contract).items()}, "id": contract.id,
            "coverage": contracts.coverage_text(contract), "standing": standing.state,
            "days_left": standing.days_left}


@bp.get("/contracts")
@operation(summary="List service contracts and warranties", tag="contracts", permissions=("contract.view",),
           description="Soonest to end first. A person limited to a department sees the contracts covering "
                       "an asset of it, and those covering no asset yet.",
           query=page_params(
               Param("state", enum(contracts.STATES),
                     "Where the term stands on the hospital's local date (default `all`); `expiring`: in force "
                     "and ending within 90 days."),
               Param("asset", {"type": "string"}, "Only contracts covering this asset tag."),
               Param("q", {"type": "string"}, "Text in the reference, title or vendor.")),
           response=obj({"items": array(CONTRACT), "page": INTEGER, "per_page": INTEGER, "total": INTEGER,
                         "total_exact": BOOLEAN, "pages": nullable(INTEGER), "has_next": BOOLEAN}))
def contract_list():
    """List contracts."""
    page = contracts.list_contracts(db(), actor=g.actor, clock=state().clock, q=request.args.get("q"),
                                    state=request.args.get("state") or "all",
                                    asset_tag=request.args.get("asset") or None, **paging())
    return jsonify(page_json(page, contract_json))


@bp.post("/contracts")
@operation(summary="Add a service contract or warranty", tag="contracts", permissions=("contract.manage",),
           description="References are unique without case. The vendor is a listed supplier (`supplier_id`; "
                       "its name is the vendor's name unless `vendor_name` says otherwise) or a `vendor_name`. "
                       "`asset_tags` lists the covered assets (a person limited to a department may list only "
                       "its assets). Audited.",
           body=_NEW, status=201, response=CONTRACT)
def contract_create():
    """Add a contract."""
    contract = contracts.create_contract(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(contract_json(contract)), 201


@bp.get("/contracts/<int:contract_id>")
@operation(summary="One service contract or warranty", tag="contracts", permissions=("contract.view",),
           errors=_GONE, response=CONTRACT)
def contract_detail(contract_id: int):
    """Return a contract."""
    return jsonify(contract_json(contracts.get_contract(db(), contract_id, actor=g.actor)))


@bp.patch("/contracts/<int:contract_id>")
@operation(summary="Change a service contract or warranty", tag="contracts", permissions=("contract.manage",),
           description="Only the fields sent change; `asset_tags` replaces the whole list of covered assets. "
                       "A later end date (a renewal) is warned about again 90 and 30 days before it. Audited.",
           body=_CHANGE, errors=_GONE, response=CONTRACT)
def contract_update(contract_id: int):
    """Change a contract."""
    contract = contracts.update_contract(db(), contract_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(contract_json(contract))


@bp.get("/work-orders/<int:order_id>/contracts")
@operation(summary="The contracts a work order falls under", tag="contracts",
           permissions=("workorder.view", "contract.view"),
           description="Contracts in force on the local day the order was opened that cover its asset, soonest "
                       "response first, each with when the vendor should respond to this order.",
           errors=_GONE, response=obj({"items": array(obj({"contract": CONTRACT,
                                                           "respond_by": nullable(STRING)}))}))
def work_order_contracts(order_id: int):
    """List the contracts covering a work order's asset."""
    found = cover.for_work_order(db(), order_id, actor=g.actor)
    return jsonify({"items": [{"contract": contract_json(c.contract), "respond_by": jsonable(c.respond_by)}
                              for c in found]})
