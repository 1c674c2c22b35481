"""Recalls and field safety notices in the JSON API under ``/api/v1``.

Routes only translate HTTP to :mod:`wardlink.hub.services.compliance`, which checks permissions
and department scope, matches recalls to the register, opens the recall work orders once per
asset and records the audit trail.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import Recall, RecallMatch
from wardlink.hub.db.models.recalls import (RECALL_MATCH_KINDS, RECALL_MATCH_STATES, RECALL_REGULATORS,
                                            RECALL_SOURCES)
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.compliance import recall_review, recalls
from wardlink.hub.services.compliance.openfda import MAX_BYTES
from wardlink.hub.services.maintenance.attachments import read_limited
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import json_body, obj, operation
from wardlink.hub.web.api.openapi_schema import (DATE, DATETIME, INTEGER, NUMBER, STRING, Param, array, enum,
                                                 nullable)
from wardlink.hub.web.api.serialize import jsonable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import current_locale
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("api_recalls", __name__, url_prefix="/api/v1")
guard(bp)

_GONE = (400, 401, 403, 404)
RECALL = obj({
    "id": INTEGER, "regulator": enum(RECALL_REGULATORS), "reference": STRING, "event_number": STRING,
    "source": enum(RECALL_SOURCES), "recalling_firm": STRING, "product_code": STRING, "product_description": STRING,
    "code_info": STRING, "k_numbers": STRING, "classification": STRING, "recall_status": STRING, "reason": STRING,
    "action": STRING, "initiated_on": nullable(DATE), "created_at": DATETIME, "created_by": STRING,
    "linked": INTEGER, "done": INTEGER, "to_review": INTEGER, "completion": nullable(NUMBER),
    "standing": enum(("open", "done", "unmatched")),
})
MATCH = obj({
    "id": INTEGER, "recall_id": INTEGER, "recall": STRING, "asset_tag": STRING, "kind": enum(RECALL_MATCH_KINDS),
    "state": enum(RECALL_MATCH_STATES), "basis": STRING, "work_order_id": nullable(INTEGER),
    "work_order": nullable(STRING), "work_order_state": nullable(STRING), "decided_by": STRING,
    "decided_at": nullable(DATETIME), "note": STRING,
})
DETAIL = obj({**RECALL["properties"], "matches": array(MATCH)})
TALLY = obj({"records": INTEGER, "new_recalls": INTEGER, "known_recalls": INTEGER, "refused": INTEGER,
             "linked": INTEGER, "to_review": INTEGER, "work_orders": INTEGER})
IMPORT = obj({"id": INTEGER, **TALLY["properties"], "refused_records": array(STRING)})
_TEXT = {"type": "string", "maxLength": 5000}
_NOTICE = obj({"regulator": enum(RECALL_REGULATORS), "reference": {"type": "string", "minLength": 1, "maxLength": 64},
               "recalling_firm": {"type": "string", "minLength": 1, "maxLength": 200},
               "product_description": {"type": "string", "minLength": 1, "maxLength": 5000},
               "product_code": {"type": "string", "maxLength": 3}, "code_info": _TEXT,
               "classification": {"type": "string", "maxLength": 32}, "reason": _TEXT, "action": _TEXT,
               "initiated_on": nullable(DATE)},
              required=("reference", "recalling_firm", "product_description"), extra=False)
_NOTE = obj({"note": {"type": "string", "maxLength": 2000}}, required=(), extra=False)
_REASON = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, required=("reason",), extra=False)
_FILE = obj({"file": {"type": "string", "format": "binary"}}, required=("file",), extra=False)


@bp.before_app_request
def _raise_upload_limit():
    # Before anything reads the body, so an openFDA file gets the recall import's own limit.
    if request.endpoint == "api_recalls.recall_import":
        request.max_content_length = MAX_BYTES + 64 * 1024


def recall_json(row: recall_review.RecallProgress, matches: list[RecallMatch] | None = None) -> dict:
    """Return a recall with its figures as the API shows it; with its matches when given."""
    r: Recall = row.recall
    out = {k: jsonable(getattr(r, k)) for k in RECALL["properties"] if hasattr(Recall, k)}
    out.update(linked=row.linked, done=row.done, to_review=row.to_review, completion=row.completion,
               standing=recall_review.standing(row))
    if matches is not None:
        out["matches"] = [match_json(m) for m in matches]
    return out


def match_json(m: RecallMatch) -> dict:
    """Return one match of a recall with an asset."""
    return {"id": m.id, "recall_id": m.recall_id, "recall": m.recall.reference, "asset_tag": m.asset.tag,
            "kind": m.kind, "state": m.state, "basis": m.basis, "work_order_id": m.work_order_id,
            "work_order": m.work_order.code if m.work_order else None,
            "work_order_state": m.work_order.state if m.work_order else None, "decided_by": m.decided_by,
            "decided_at": jsonable(m.decided_at), "note": m.note}


@bp.get("/recalls")
@operation(summary="List recalls", tag="recalls", permissions=("recall.view",),
           description="Newest first, each with its figures: linked assets, those whose recall work order is "
                       "completed or closed, matches waiting for review. A person limited to a department counts "
                       "that department's assets only.",
           query=(Param("status", enum(recall_review.LISTS),
                        "`open` (the default: work or review outstanding), `done`, `unmatched` or `all`."),),
           response=array(RECALL))
def recall_list():
    """List recalls."""
    rows = recall_review.list_recalls(db(), actor=g.actor, status=request.args.get("status") or "open")
    return jsonify([recall_json(r) for r in rows])


@bp.get("/recalls/<int:recall_id>")
@operation(summary="One recall with the assets it concerns", tag="recalls", permissions=("recall.view",),
           errors=_GONE, response=DETAIL)
def recall_detail(recall_id: int):
    """Return a recall."""
    row = recall_review.get_recall(db(), recall_id, actor=g.actor)
    return jsonify(recall_json(row, recall_review.matches_of(db(), recall_id, actor=g.actor)))


@bp.get("/recalls/dashboard")
@operation(summary="The recall dashboard's figures", tag="recalls", permissions=("recall.view",),
           description="Open recalls, the assets they concern, and the share of all recall work done.",
           response=obj({"open_recalls": INTEGER, "affected_assets": INTEGER, "linked": INTEGER, "done": INTEGER,
                         "to_review": INTEGER, "completion": nullable(NUMBER)}))
def recall_dashboard():
    """Return the dashboard's figures."""
    board = recall_review.dashboard(db(), actor=g.actor)
    return jsonify({"open_recalls": len(board.open_recalls), "affected_assets": board.affected_assets,
                    "linked": board.linked, "done": board.done, "to_review": board.to_review,
                    "completion": board.completion})


@bp.post("/recalls/imports")
@operation(summary="Import an openFDA device recall or enforcement file", tag="recalls",
           permissions=("recall.manage", "workorder.create"),
           description="multipart/form-data with one `file`: the JSON file openFDA serves, or its zip archive. "
                       "Recalls already held (same regulator and number) are not stored again and an asset a "
                       "recall already concerns gets no second match or work order, so importing a file twice "
                       "changes nothing. Exact matches open a recall work order each; close ones wait for review. "
                       "Records that cannot be read are listed with the reason; the rest are imported. Only a "
                       "person without a department may import. Audited.",
           form=_FILE, status=201, errors=(400, 401, 403, 413), response=IMPORT)
def recall_import():
    """Import an openFDA file."""
    if request.mimetype != "multipart/form-data" or "file" not in request.files:
        raise InvalidInput("file: send one file as multipart/form-data field 'file'")
    unknown = sorted(set(request.form) - {CSRF_FIELD})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: file")
    upload = request.files["file"]
    content = read_limited(upload.stream, MAX_BYTES)
    row, tally = recalls.import_file(state().engine, upload.filename or "upload.json", content, actor=g.actor,
                                     clock=state().clock)
    return jsonify({"id": row.id, **tally.as_dict(),
                    "refused_records": [recalls.describe(r, current_locale()) for r in tally.refused]}), 201


@bp.post("/recalls/notices")
@operation(summary="Enter a field safety notice", tag="recalls", permissions=("recall.manage", "workorder.create"),
           description="A notice of a regulator without a feed (MHRA, the default; ANSM, BfArM, TGA, Health Canada), "
                       "matched to the register like an imported recall; a notice without a product code is matched "
                       "on manufacturer and model. The same regulator and reference twice is refused. Audited.",
           body=_NOTICE, status=201, response=DETAIL)
def recall_notice():
    """Enter a notice."""
    recall, _ = recalls.create_notice(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(recall_json(recall_review.get_recall(db(), recall.id, actor=g.actor),
                               recall_review.matches_of(db(), recall.id, actor=g.actor))), 201


@bp.get("/recalls/review")
@operation(summary="Matches waiting for review", tag="recalls", permissions=("recall.view",),
           description="Close matches, oldest first (the caller's department only, when limited to one).",
           response=array(MATCH))
def recall_review_queue():
    """List the review queue."""
    return jsonify([match_json(m) for m in recall_review.review_queue(db(), actor=g.actor)])


@bp.post("/recall-matches/<int:match_id>/confirm")
@operation(summary="Confirm a close match", tag="recalls", permissions=("recall.manage", "workorder.create"),
           description="The recall concerns the asset: the match is linked and its recall work order opened. "
                       "A match already decided is refused. Audited.",
           body=_NOTE, body_required=False, errors=_GONE, response=MATCH)
def recall_confirm(match_id: int):
    """Confirm a match."""
    body = json_body() if request.content_length else {}
    match = recall_review.confirm(db(), match_id, actor=g.actor, clock=state().clock, note=body.get("note", ""))
    commit()
    return jsonify(match_json(match))


@bp.post("/recall-matches/<int:match_id>/reject")
@operation(summary="Reject a close match", tag="recalls", permissions=("recall.manage",),
           description="The recall does not concern the asset; `reason` is required. A match already decided is "
                       "refused. Audited.",
           body=_REASON, errors=_GONE, response=MATCH)
def recall_reject(match_id: int):
    """Reject a match."""
    match = recall_review.reject(db(), match_id, actor=g.actor, clock=state().clock, reason=json_body()["reason"])
    commit()
    return jsonify(match_json(match))
