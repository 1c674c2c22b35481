"""Oxygen manifolds in the JSON API under ``/api/v1``: the manifolds watched with what each is doing
now (bank pressures, bank in use, flow, time to empty), one manifold with its changeovers, and
setting one up or changing it.

Routes only translate HTTP to the services (:mod:`wardlink.hub.services.manifolds`), which check
permissions and department scope and record the audit trail. Times are UTC, ISO 8601 with offset.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, g, jsonify

from wardlink.hub.db.models.manifolds import MANIFOLD_BANKS, Manifold
from wardlink.hub.services.manifolds import register
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import json_body, operation
from wardlink.hub.web.api.openapi_schema import BOOLEAN, DATETIME, INTEGER, NUMBER, STRING, array, enum, nullable, obj
from wardlink.hub.web.api.serialize import jsonable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("api_manifolds", __name__, url_prefix="/api/v1")

TAG = "manifolds"
_GONE = (400, 401, 403, 404)
_NUMBER_IN = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 30}]}
_TEXT_IN = {"type": "string", "maxLength": 128}
_FIELDS = {"asset_tag": {"type": "string", "maxLength": 64}, "gateway_id": {"type": "string", "maxLength": 64},
           "bank_a_channel": _TEXT_IN, "bank_b_channel": _TEXT_IN, "bank_capacity_l": _NUMBER_IN,
           "full_bar": _NUMBER_IN, "changeover_bar": _NUMBER_IN, "reserve_hours": _NUMBER_IN}
_NEW = obj(_FIELDS, required=("asset_tag", "gateway_id", "bank_a_channel", "bank_b_channel", "bank_capacity_l",
                              "full_bar", "reserve_hours"), extra=False)
_CHANGE = obj(_FIELDS, required=(), extra=False)
SUPPLY = obj({"bank_a_bar": nullable(NUMBER), "bank_b_bar": nullable(NUMBER),
              "active": {"anyOf": [enum(MANIFOLD_BANKS), {"type": "null"}]}, "reserve_in_use": BOOLEAN,
              "flow_lpm": nullable(NUMBER), "remaining_l": nullable(NUMBER), "hours_left": nullable(NUMBER),
              "consumed_l": NUMBER, "seen_at": nullable(DATETIME)})
CHANGEOVER = obj({"at": DATETIME, "bank": enum(MANIFOLD_BANKS), "litres": NUMBER, "detected_at": DATETIME})
MANIFOLD = obj({"id": INTEGER, "asset_tag": STRING, "asset_name": STRING, "gateway_id": STRING,
                "bank_a_channel": STRING, "bank_b_channel": STRING, "bank_capacity_l": NUMBER, "full_bar": NUMBER,
                "changeover_bar": NUMBER, "reserve_hours": NUMBER, "supply": SUPPLY})
DETAIL = obj({**MANIFOLD["properties"], "changeovers": array(CHANGEOVER)})


def manifold_json(manifold: Manifold) -> dict[str, Any]:
    """Return a manifold with its supply as the API shows it."""
    return jsonable({"id": manifold.id, **register.snapshot(manifold), "asset_name": manifold.asset.name,
                     "supply": asdict(register.supply(manifold))})


def _detail(manifold_id: int, status: int = 200):
    manifold = register.get_manifold(db(), manifold_id, actor=g.actor)
    changeovers = [jsonable({"at": c.at, "bank": c.bank, "litres": c.litres, "detected_at": c.detected_at})
                   for c in register.changeovers(db(), manifold)]
    return jsonify({**manifold_json(manifold), "changeovers": changeovers}), status


@bp.get("/manifolds")
@operation(summary="The oxygen manifolds watched, with their supply", tag=TAG, permissions=("manifold.view",),
           description="By asset tag. Someone limited to a department sees its manifolds only.",
           response=obj({"items": array(MANIFOLD)}))
def manifold_list():
    """List the manifolds."""
    return jsonify({"items": [manifold_json(m) for m in register.list_manifolds(db(), actor=g.actor)]})


@bp.post("/manifolds")
@operation(summary="Watch an oxygen manifold", tag=TAG, permissions=("manifold.manage",),
           description="An asset of the register with its two bank pressure channels; `bank_capacity_l` is "
                       "the gas (L at NTP) a full bank holds at `full_bar`. Audited.", body=_NEW, status=201,
           response=DETAIL)
def manifold_create():
    """Set up a manifold."""
    manifold = register.create_manifold(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return _detail(manifold.id, 201)


@bp.get("/manifolds/<int:manifold_id>")
@operation(summary="An oxygen manifold: supply and changeovers", tag=TAG, permissions=("manifold.view",),
           description="The changeovers newest first: when, the emptied bank and the gas it gave.",
           errors=_GONE, response=DETAIL)
def manifold_detail(manifold_id: int):
    """Return a manifold."""
    return _detail(manifold_id)


@bp.patch("/manifolds/<int:manifold_id>")
@operation(summary="Change an oxygen manifold's settings", tag=TAG, permissions=("manifold.manage",),
           description="Audited.", body=_CHANGE, errors=_GONE, response=DETAIL)
def manifold_update(manifold_id: int):
    """Change a manifold."""
    register.update_manifold(db(), manifold_id, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return _detail(manifold_id)


guard(bp, declared=True)
