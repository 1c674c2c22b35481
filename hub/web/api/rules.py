"""Alert rules in the JSON API under ``/api/v1``: list, read, create, replace, enable, disable,
export and import them.

A rule's definition is the entry of a ``[[rules]]`` table of the rules file, as JSON (the
kind's parameters beside the common keys), validated by the rules file's own validator, so
a refusal carries the same message (``rules[NAME].KEY: ...``) and ``field`` names the key.
Routes only translate HTTP to :mod:`wardlink.hub.rules.editing`, which checks permissions, audits
every change and bumps the rules generation every rules engine watches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from wardlink.hub.db.models.rules import RULE_KINDS, Rule
from wardlink.hub.db.vocab import ALERT_SEVERITIES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.rules import editing
from wardlink.hub.rules import preview as previews
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import operation
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATETIME, INTEGER, NUMBER, STRING, Param, array, enum,
                                                 nullable, obj)
from wardlink.hub.web.api.serialize import jsonable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("api_rules", __name__)
guard(bp)

#: A rule definition: a rules-file entry (parameters of the kind beside the common keys).
DEFINITION = {"type": "object", "description": "One [[rules]] entry of a rules file, as JSON.",
              "properties": {"name": STRING, "kind": enum(RULE_KINDS), "severity": enum(ALERT_SEVERITIES),
                             "title": STRING, "description": STRING, "enabled": BOOLEAN,
                             "match": {"type": "object"}, "notify": {"type": ["string", "array"]},
                             "escalate": array({"type": "object"}), "work_order": {"type": ["boolean", "object"]}},
              "additionalProperties": True}
RULE = obj({"id": INTEGER, "name": STRING, "kind": enum(RULE_KINDS), "severity": enum(ALERT_SEVERITIES),
            "enabled": BOOLEAN, "source": STRING, "created_at": DATETIME, "updated_at": DATETIME,
            "definition": DEFINITION})
SYNC_REPORT = obj({"created": array(STRING), "updated": array(STRING), "disabled": array(STRING),
                   "unchanged": array(STRING)})
DOCUMENT = obj({"rules": array(DEFINITION), "notifiers": {"type": "object"}}, required=("rules",))
RULE_ERRORS = (400, 401, 403, 404)
PREVIEW = obj({"rule": STRING, "days": NUMBER, "start": DATETIME, "end": DATETIME, "fired": INTEGER,
               "series": INTEGER, "points": INTEGER, "by_subject": {"type": "object"},
               "episodes": array(obj({"subject": STRING, "at": DATETIME, "since": DATETIME,
                                      "value": nullable(NUMBER), "message": STRING}))})
DAYS = Param("days", {"type": "number", "exclusiveMinimum": 0, "maximum": previews.MAX_DAYS},
             f"How many days back to replay (7; at most {previews.MAX_DAYS}).")


def rule_json(row: Rule) -> dict[str, Any]:
    """Return a stored rule for the API."""
    return {"id": row.id, "name": row.name, "kind": row.kind, "severity": row.severity, "enabled": row.enabled,
            "source": row.source, "created_at": jsonable(row.created_at), "updated_at": jsonable(row.updated_at),
            "definition": editing.entry_of(row)}


def _iso(ms: int) -> str:
    return jsonable(datetime.fromtimestamp(ms / 1000, UTC))


def preview_json(result: previews.Preview) -> dict[str, Any]:
    """Return a preview for the API."""
    return {"rule": result.rule, "days": result.days, "start": _iso(result.start_ms), "end": _iso(result.end_ms),
            "fired": result.fired, "series": result.series, "points": result.points,
            "by_subject": result.by_subject,
            "episodes": [{"subject": e["subject"], "at": _iso(e["at_ms"]), "since": _iso(e["since_ms"]),
                          "value": e["value"], "message": e["message"]} for e in result.episodes]}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object sent with 'Content-Type: application/json'")
    return body


@bp.errorhandler(editing.RuleInputError)
def _refused(exc: editing.RuleInputError):
    body = {"error": {"status": 400, "code": "invalid_rule", "message": str(exc), "field": exc.field}}
    return jsonify(body), 400


@bp.get("/rules")
@operation(summary="Alert rules, enabled first, by name", tag="rules", permissions=("alert.view",),
           errors=(401, 403), response=obj({"items": array(RULE)}))
def list_rules():
    """List every rule."""
    return jsonify({"items": [rule_json(r) for r in editing.list_rules(db(), actor=g.actor)]})


@bp.get("/rules/kinds")
@operation(summary="Rule kinds with their selector keys and parameters", tag="rules",
           permissions=("alert.view",), errors=(401, 403),
           response=obj({"items": array({"type": "object"})}))
def rule_kinds():
    """Describe every rule kind."""
    return jsonify({"items": editing.kinds(actor=g.actor)})


@bp.post("/rules")
@operation(summary="Create a rule", tag="rules", permissions=("rule.manage",), status=201,
           description="The body is one rules-file entry; it is validated like the rules file, and a "
                       "refusal names the rule and key (`error.field`). Every rules engine applies the "
                       "new rule from its next batch or tick. Audited.",
           body=DEFINITION, errors=(400, 401, 403), response=RULE)
def create_rule():
    """Create a rule."""
    row = editing.create_rule(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rule_json(row)), 201


@bp.get("/rules/<name>")
@operation(summary="One rule", tag="rules", permissions=("alert.view",), errors=(401, 403, 404), response=RULE)
def get_rule(name: str):
    """Return one rule."""
    return jsonify(rule_json(editing.get_rule(db(), name, actor=g.actor)))


@bp.put("/rules/<name>")
@operation(summary="Replace a rule's definition (name and kind stay)", tag="rules", permissions=("rule.manage",),
           description="Validated like the rules file; audited with the keys before and after.",
           body=DEFINITION, errors=RULE_ERRORS, response=RULE)
def update_rule(name: str):
    """Replace a rule's definition."""
    row = editing.update_rule(db(), name, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rule_json(row))


@bp.post("/rules/<name>/enable")
@operation(summary="Enable a rule", tag="rules", permissions=("rule.manage",), body_required=False,
           errors=RULE_ERRORS, response=RULE)
def enable_rule(name: str):
    """Enable a rule."""
    row = editing.set_enabled(db(), name, True, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rule_json(row))


@bp.post("/rules/<name>/disable")
@operation(summary="Disable a rule (rules are never deleted: alerts refer to them)", tag="rules",
           permissions=("rule.manage",), body_required=False, errors=RULE_ERRORS, response=RULE)
def disable_rule(name: str):
    """Disable a rule."""
    row = editing.set_enabled(db(), name, False, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(rule_json(row))


@bp.get("/rules/export")
@operation(summary="Every rule as a rules file (TOML)", tag="rules", permissions=("alert.view",),
           errors=(401, 403), response_media=("application/toml",))
def export_rules():
    """Download the rules as a rules file."""
    text = editing.export_rules(db(), actor=g.actor)
    return Response(text, mimetype="application/toml",
                    headers={"Content-Disposition": 'attachment; filename="wardlink-rules.toml"'})


@bp.post("/rules/import")
@operation(summary="Apply a rules file (as JSON) as one change", tag="rules", permissions=("rule.manage",),
           description="Like `wardlink rules sync`: every rule is validated first and nothing is applied "
                       "when one is refused; listed rules are created or updated, rules of earlier files "
                       "missing from it are disabled. Audited per rule and once for the file.",
           body=DOCUMENT, errors=(400, 401, 403), response=SYNC_REPORT)
def import_rules():
    """Apply a rules document."""
    report = editing.import_rules(db(), _body(), actor=g.actor, clock=state().clock, filename="api")
    commit()
    return jsonify({"created": report.created, "updated": report.updated, "disabled": report.disabled,
                    "unchanged": report.unchanged})


_PREVIEW_TEXT = ("Runs the rule's evaluator over the stored readings of every channel it selects (by their "
                 "current bindings) and counts the alerts it would have opened; nothing is written. Bounded: "
                 f"at most {previews.MAX_DAYS} days, {previews.MAX_SERIES} channels and {previews.MAX_POINTS} "
                 "readings, beyond which it answers 400 saying how to narrow it.")


@bp.get("/rules/<name>/preview")
@operation(summary="How often a stored rule would have fired over the last days", tag="rules",
           permissions=("alert.view", "telemetry.view"), description=_PREVIEW_TEXT, query=(DAYS,),
           errors=RULE_ERRORS, response=PREVIEW)
def preview_rule(name: str):
    """Preview a stored rule against history."""
    result = previews.preview_rule(db(), state().telemetry, name, days=previews.parse_days(request.args.get("days")),
                                   actor=g.actor, clock=state().clock)
    return jsonify(preview_json(result))


@bp.post("/rules/preview")
@operation(summary="How often a rule definition (not saved) would have fired over the last days", tag="rules",
           permissions=("alert.view", "telemetry.view"), description=_PREVIEW_TEXT, query=(DAYS,),
           body=DEFINITION, errors=(400, 401, 403), response=PREVIEW)
def preview_definition():
    """Preview an unsaved rule definition against history."""
    result = previews.preview_entry(db(), state().telemetry, _body(),
                                    days=previews.parse_days(request.args.get("days")),
                                    actor=g.actor, clock=state().clock)
    return jsonify(preview_json(result))
