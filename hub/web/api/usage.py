"""Equipment usage in the JSON API under ``/api/v1/usage``: what applies to an asset before use,
starting, ending and transferring sessions, marking an asset ready, finding the sessions of an
encounter reference, the knowledge with its search, training records and rentals.

A start that something holds or refuses answers 409 ``usage_refused`` with the reasons and
writes nothing. Routes only translate HTTP to :mod:`wardlink.hub.services.usage`, which checks
permissions and department scope and records the audit trail.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import KnowledgeEntry, Rental, TrainingRecord, UsageSession
from wardlink.hub.db.vocab import RENTAL_KINDS, RENTAL_STATES, USAGE_SOURCES, USAGE_STATUSES
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.usage import knowledge, procedure, rentals, sessions, training
from wardlink.hub.services.usage.sessions import UsagePolicy, UsageRefused
from wardlink.hub.services.validate import boolean, choice, text
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import MONEY_IN, OPTIONAL_ID_IN, text_in
from wardlink.hub.web.api.openapi import json_body, operation
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable, obj)
from wardlink.hub.web.api.serialize import jsonable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("api_usage", __name__, url_prefix="/api/v1/usage")

TAG = "usage"
_GONE = (400, 401, 403, 404)
_DAY_IN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
_HOURS_IN = {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 999},
                       {"type": "string", "pattern": r"^\s*\d{1,3}(\.\d{1,2})?\s*$"}, {"type": "null"}]}
_DAYS_IN = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 3650}, {"type": "null"}]}
_AFTER = [s for s in USAGE_STATUSES if s != "in_use"]
_BOOL_IN = {"type": ["boolean", "null"]}

SESSION = obj({"id": INTEGER, "asset_tag": STRING, "source": enum(USAGE_SOURCES), "department_id": INTEGER,
               "user_id": nullable(INTEGER), "username": STRING, "reason": STRING, "encounter": BOOLEAN,
               "started_at": DATETIME, "ended_at": nullable(DATETIME), "return_status": nullable(enum(USAGE_STATUSES)),
               "override_reason": STRING, "untrained": BOOLEAN, "transferred_from_id": nullable(INTEGER)})
KNOWLEDGE = obj({"id": INTEGER, "category": STRING, "make": STRING, "model": STRING, "procedure": nullable(STRING),
                 "procedure_html": STRING, "critical_warning": nullable(STRING), "training_required": nullable(BOOLEAN),
                 "max_use_hours": nullable(DECIMAL), "cleaning": nullable(STRING),
                 "return_status": nullable(enum(_AFTER)), "maintenance_interval_days": nullable(INTEGER)})
_KNOWLEDGE_FIELDS = {"category": text_in(100, required=True), "make": text_in(100), "model": text_in(100),
                     "procedure": text_in(20000), "critical_warning": text_in(2000), "training_required": _BOOL_IN,
                     "max_use_hours": _HOURS_IN, "cleaning": text_in(4000),
                     "return_status": {"anyOf": [enum(_AFTER), {"type": "null"}]},
                     "maintenance_interval_days": _DAYS_IN}
SCAN = obj({"asset_tag": STRING, "status": enum(USAGE_STATUSES), "ready": BOOLEAN, "overridable": BOOLEAN,
            "holds": array(STRING), "refusals": array(STRING), "warnings": array(STRING),
            "procedure": STRING, "procedure_html": STRING, "critical_warning": STRING, "training_required": BOOLEAN,
            "max_use_hours": nullable(DECIMAL), "cleaning": STRING, "return_status": enum(USAGE_STATUSES),
            "maintenance_interval_days": nullable(INTEGER), "open_session": nullable(SESSION)})
TRAINING = obj({"id": INTEGER, "user_id": INTEGER, "username": STRING, "category": STRING, "model": STRING,
                "trained_on": DATE, "expires_on": nullable(DATE), "note": STRING})
RENTAL = obj({"id": INTEGER, "asset_tag": STRING, "kind": enum(RENTAL_KINDS), "vendor": STRING, "contract_ref": STRING,
              "starts_on": DATE, "expected_return_on": DATE, "rate_per_day": nullable(DECIMAL),
              "rate_per_use": nullable(DECIMAL), "inspection_required": BOOLEAN,
              "inspection_work_order_id": nullable(INTEGER), "inspection_passed": BOOLEAN,
              "state": enum(RENTAL_STATES), "returned_on": nullable(DATE), "return_note": STRING,
              "cost_days": INTEGER, "cost_uses": INTEGER, "cost_to_date": DECIMAL})
_START = obj({"department_id": OPTIONAL_ID_IN, "reason": text_in(500), "encounter": text_in(200),
              "override_reason": text_in(500)}, required=(), extra=False)
_TRANSFER = obj({"department_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "reason": text_in(500)},
                required=("department_id",), extra=False)
_ENCOUNTER = obj({"encounter": text_in(200, required=True)}, extra=False)
_TRAINING_IN = obj({"user_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                    "category": text_in(100, required=True), "model": text_in(100), "trained_on": _DAY_IN,
                    "expires_on": _DAY_IN, "note": text_in(2000)}, required=("user_id", "category"), extra=False)
_RENTAL_IN = obj({"asset_tag": text_in(64, required=True), "kind": enum(RENTAL_KINDS),
                  "vendor": text_in(200, required=True), "contract_ref": text_in(100), "starts_on": _DAY_IN,
                  "expected_return_on": {"type": "string", "format": "date"}, "rate_per_day": MONEY_IN,
                  "rate_per_use": MONEY_IN, "inspection_required": BOOLEAN},
                 required=("asset_tag", "vendor", "expected_return_on"), extra=False)
_RETURN_IN = obj({"note": text_in(2000), "returned_on": _DAY_IN}, required=(), extra=False)


@bp.errorhandler(UsageRefused)
def _refused(exc: UsageRefused):
    found = exc.readiness
    body = {"error": {"status": 409, "code": "usage_refused", "message": str(exc),
                      "holds": [str(m) for m in found.holds], "refusals": [str(m) for m in found.refusals]}}
    return jsonify(body), 409


def _policy() -> UsagePolicy:
    return UsagePolicy.from_config(state().config)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in values.items()}


def session_json(row: UsageSession) -> dict[str, Any]:
    """Return a session as the API shows it (the encounter only as whether one was given)."""
    snap = sessions.snapshot(row)
    snap.pop("asset_id")
    snap.pop("override_by", None)
    return _plain({**snap, "asset_tag": row.asset.tag})


def knowledge_json(entry: KnowledgeEntry) -> dict[str, Any]:
    """Return a knowledge entry with its procedure rendered."""
    return {**knowledge.snapshot(entry), "procedure_html": procedure.render(entry.procedure)}


def training_json(row: TrainingRecord) -> dict[str, Any]:
    """Return a training record."""
    return {**training.snapshot(row), "username": row.user.username}


def rental_json(rental: Rental) -> dict[str, Any]:
    """Return a rental with its inspection and cost to date."""
    cost = rentals.cost_to_date(db(), rental, rentals.site_today(db(), rental.asset.department_id, state().clock))
    snap = rentals.snapshot(rental)
    snap.pop("asset_id")
    return {**snap, "asset_tag": rental.asset.tag, "inspection_passed": rentals.inspection_passed(db(), rental),
            "cost_days": cost.days, "cost_uses": cost.uses, "cost_to_date": str(cost.amount)}


@bp.get("/assets/<tag>")
@operation(summary="What applies to an asset before use", tag=TAG, permissions=("usage.view",), errors=_GONE,
           description="Its usage status, the procedure and warning, and what holds or refuses a start by the "
                       "caller now (the scan page's content).", response=SCAN)
def scan(tag: str):
    """Return an asset's readiness and knowledge."""
    asset = get_asset(db(), tag, actor=g.actor)
    found = sessions.readiness(db(), asset, user_id=g.actor.user_id, policy=_policy(), clock=state().clock)
    k = found.knowledge
    current = sessions.open_session(db(), asset.id)
    return jsonify({"asset_tag": asset.tag, "status": found.status, "ready": found.ready,
                    "overridable": found.overridable, "holds": [str(m) for m in found.holds],
                    "refusals": [str(m) for m in found.refusals], "warnings": [str(m) for m in found.warnings],
                    "procedure": k.procedure, "procedure_html": procedure.render(k.procedure),
                    "critical_warning": k.critical_warning, "training_required": k.training_required,
                    "max_use_hours": jsonable(k.max_use_hours), "cleaning": k.cleaning,
                    "return_status": k.return_status, "maintenance_interval_days": k.maintenance_interval_days,
                    "open_session": session_json(current) if current is not None else None})


@bp.post("/assets/<tag>/sessions")
@operation(summary="Start using an asset", tag=TAG, permissions=("usage.start",), body=_START, status=201,
           errors=(400, 401, 403, 404, 409), response=SESSION,
           description="For a department (the caller's by default) with a reason. Holds (maintenance, tag-out, "
                       "overdue life-support service) need `override_reason` and `usage.override`; refusals "
                       "answer 409 `usage_refused`. `encounter` is kept only as a keyed hash. Audited.")
def start(tag: str):
    """Start a session."""
    body = json_body()
    row = sessions.start(db(), tag, department_id=body.get("department_id"), reason=body.get("reason") or "",
                         encounter=body.get("encounter") or "", override_reason=body.get("override_reason") or "",
                         policy=_policy(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(session_json(row)), 201


@bp.post("/assets/<tag>/ready")
@operation(summary="Mark an asset cleaned or inspected", tag=TAG, permissions=("usage.start",), errors=_GONE,
           body_required=False, description="An asset waiting for cleaning or inspection becomes available. "
                                            "Audited.", response=obj({"asset_tag": STRING, "status": STRING}))
def ready(tag: str):
    """Mark an asset available."""
    sessions.mark_ready(db(), tag, actor=g.actor, clock=state().clock)
    commit()
    return jsonify({"asset_tag": tag, "status": "available"})


@bp.get("/sessions")
@operation(summary="Usage sessions", tag=TAG, permissions=("usage.view",), response=obj({"items": array(SESSION)}),
           errors=_GONE,
           query=(Param("asset_tag", {"type": "string", "maxLength": 64}, "One asset's sessions."),
                  Param("open", {"type": "boolean"}, "Only sessions in progress.")),
           description="Newest first, at most 200; someone limited to a department sees its sessions. "
                       "An unknown asset answers 404.")
def session_list():
    """List sessions."""
    args = request.args
    rows = sessions.list_sessions(db(), actor=g.actor, asset_tag=text(64)("asset_tag", args.get("asset_tag")) or None,
                                  open_only=boolean("open", args.get("open")))
    return jsonify({"items": [session_json(r) for r in rows]})


@bp.post("/sessions/<int:session_id>/end")
@operation(summary="End a usage session", tag=TAG, permissions=("usage.start",), errors=_GONE, body_required=False,
           response=SESSION, description="The asset becomes what its knowledge says: available, or waiting for "
                                         "cleaning or inspection. Audited.")
def end(session_id: int):
    """End a session."""
    row = sessions.end(db(), session_id, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(session_json(row))


@bp.post("/sessions/<int:session_id>/transfer")
@operation(summary="Transfer a usage session to another department", tag=TAG, permissions=("usage.start",),
           errors=_GONE, body=_TRANSFER, status=201, response=SESSION,
           description="Ends the session and starts the next one in the department at the same instant. Audited.")
def transfer(session_id: int):
    """Transfer a session; returns the new one."""
    body = json_body()
    row = sessions.transfer(db(), session_id, department_id=body.get("department_id"), reason=body.get("reason") or "",
                            actor=g.actor, clock=state().clock)
    commit()
    return jsonify(session_json(row)), 201


@bp.post("/encounters/sessions")
@operation(summary="The sessions of an encounter reference", tag=TAG, permissions=("usage.view",), body=_ENCOUNTER,
           response=obj({"items": array(SESSION)}),
           description="Matched by the reference's keyed hash (the reference travels in the body, never in a URL); "
                       "400 when the site keeps no encounter references.")
def encounter_sessions():
    """Find the sessions of an encounter."""
    rows = sessions.find_by_encounter(db(), json_body()["encounter"], policy=_policy(), actor=g.actor)
    return jsonify({"items": [session_json(r) for r in rows]})


@bp.get("/knowledge")
@operation(summary="Equipment knowledge, searched", tag=TAG, permissions=("usage.view",),
           query=(Param("q", {"type": "string", "maxLength": 200}, "Words the procedure, warning, cleaning, "
                                                                    "category, make or model hold."),),
           response=obj({"items": array(KNOWLEDGE)}))
def knowledge_list():
    """Search the knowledge."""
    rows = knowledge.search(db(), text(200)("q", request.args.get("q")), actor=g.actor)
    return jsonify({"items": [knowledge_json(e) for e in rows]})


@bp.post("/knowledge")
@operation(summary="Add equipment knowledge", tag=TAG, permissions=("knowledge.manage",), status=201,
           body=obj(_KNOWLEDGE_FIELDS, required=("category",), extra=False), response=KNOWLEDGE,
           description="For a category (make and model empty) or a make and model of it, whose filled fields "
                       "override the category's. Audited.")
def knowledge_create():
    """Add a knowledge entry."""
    entry = knowledge.create_entry(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(knowledge_json(entry)), 201


@bp.get("/knowledge/<int:entry_id>")
@operation(summary="A knowledge entry", tag=TAG, permissions=("usage.view",), errors=_GONE, response=KNOWLEDGE)
def knowledge_detail(entry_id: int):
    """Return a knowledge entry."""
    return jsonify(knowledge_json(knowledge.get_entry(db(), entry_id, actor=g.actor)))


@bp.patch("/knowledge/<int:entry_id>")
@operation(summary="Change a knowledge entry", tag=TAG, permissions=("knowledge.manage",), errors=_GONE,
           body=obj(_KNOWLEDGE_FIELDS, required=(), extra=False), response=KNOWLEDGE, description="Audited.")
def knowledge_update(entry_id: int):
    """Change a knowledge entry."""
    entry = knowledge.update_entry(db(), entry_id, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(knowledge_json(entry))


@bp.get("/training")
@operation(summary="Training records", tag=TAG, permissions=("usage.view",), response=obj({"items": array(TRAINING)}),
           description="Newest first; someone limited to a department sees its people's.")
def training_list():
    """List training records."""
    return jsonify({"items": [training_json(r) for r in training.list_records(db(), actor=g.actor)]})


@bp.post("/training")
@operation(summary="Record a training", tag=TAG, permissions=("training.manage",), status=201, body=_TRAINING_IN,
           response=TRAINING, description="`trained_on` defaults to today at the site. Audited.")
def training_create():
    """Record a training."""
    today = rentals.site_today(db(), g.actor.department_id, state().clock)
    row = training.record(db(), json_body(), today=today, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(training_json(row)), 201


@bp.get("/rentals")
@operation(summary="Rentals and loaners", tag=TAG, permissions=("usage.view",),
           query=(Param("state", enum(RENTAL_STATES), "Only rentals in this state."),),
           response=obj({"items": array(RENTAL)}), description="With their incoming inspection and cost to date.")
def rental_list():
    """List rentals."""
    state_arg = request.args.get("state") or None
    rows = rentals.list_rentals(db(), actor=g.actor,
                                state=choice(RENTAL_STATES)("state", state_arg) if state_arg else None)
    return jsonify({"items": [rental_json(r) for r in rows]})


@bp.post("/rentals")
@operation(summary="Register a rental or loaner", tag=TAG, permissions=("rental.manage",), status=201,
           body=_RENTAL_IN, response=RENTAL, errors=_GONE,
           description="Opens its incoming inspection work order unless `inspection_required` is false; no "
                       "session starts until that order is completed accepted. Audited.")
def rental_create():
    """Register a rental."""
    rental = rentals.register(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rental_json(rental)), 201


def _return_body() -> dict[str, Any]:
    return json_body() if request.is_json or request.get_data() else {}


@bp.post("/rentals/<int:rental_id>/returning")
@operation(summary="Start a rental's return", tag=TAG, permissions=("rental.manage",), errors=_GONE,
           body=_RETURN_IN, body_required=False, response=RENTAL,
           description="No new session from now on; refused while one is open. Audited.")
def rental_returning(rental_id: int):
    """Start a rental's return."""
    note = _return_body().get("note") or ""
    rental = rentals.start_return(db(), rental_id, note=note, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rental_json(rental))


@bp.post("/rentals/<int:rental_id>/returned")
@operation(summary="Record the day a rental went back", tag=TAG, permissions=("rental.manage",), errors=_GONE,
           body=_RETURN_IN, body_required=False, response=RENTAL,
           description="`returned_on`: today at the site by default. Audited.")
def rental_returned(rental_id: int):
    """Complete a rental's return."""
    day = _return_body().get("returned_on")
    rental = rentals.complete_return(db(), rental_id, returned_on=day, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rental_json(rental))


guard(bp, declared=True)
