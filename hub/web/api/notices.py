"""The signed-in person's notices under ``/api/v1/notices``, their preferences, and (for
administrators) the delivery of notice e-mails: the same operations as the inbox page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models.notices import NOTICE_EMAIL_STATES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import mail
from wardlink.hub.services.validate import boolean
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import Param, array, obj, operation, page_params
from wardlink.hub.web.api.openapi_schema import BOOLEAN, DATETIME, INTEGER, STRING, nullable
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_notices", __name__, url_prefix="/api/v1")
guard(bp)

_NOTICE = obj({"id": INTEGER, "event": STRING, "subject": STRING, "body": STRING, "link": STRING,
               "created_at": DATETIME, "read_at": nullable(DATETIME)})
_PAGE = obj({"items": array(_NOTICE), "page": INTEGER, "per_page": INTEGER, "total": INTEGER,
             "total_exact": BOOLEAN, "pages": nullable(INTEGER), "has_next": BOOLEAN})
_CHANNELS = obj({"in_app": BOOLEAN, "email": BOOLEAN}, required=(), extra=False)
_PREFS = {"type": "object", "properties": {name: _CHANNELS for name in notices.EVENTS},
          "additionalProperties": False}
_EMAIL = obj({"id": INTEGER, "to": STRING, "subject": STRING, "state": STRING, "attempts": INTEGER,
              "next_attempt_at": DATETIME, "sent_at": nullable(DATETIME), "last_error": STRING,
              "created_at": DATETIME})


def notice_json(n) -> dict[str, Any]:
    """Return one notice as the API shows it."""
    return {"id": n.id, "event": n.event, "subject": n.subject, "body": n.body, "link": n.link,
            "created_at": jsonable(n.created_at), "read_at": jsonable(n.read_at)}


@bp.get("/notices")
@operation(summary="My notices", tag="notices", description="In-app notices of the caller, newest first.",
           query=page_params(Param("unread", BOOLEAN, "Only unread notices.")),
           response=obj({**_PAGE["properties"], "unread": INTEGER}))
def index():
    """List the caller's notices with the unread count."""
    raw = request.args.get("unread")
    unread = False if raw in (None, "") else boolean("unread", raw)
    page = notices.list_notices(db(), actor=g.actor, unread=unread, **paging())
    return jsonify({**page_json(page, notice_json), "unread": notices.unread_count(db(), actor=g.actor)})


@bp.post("/notices/<int:notice_id>/read")
@operation(summary="Mark a notice read", tag="notices", body_required=False, errors=(401, 403, 404),
           response=_NOTICE)
def read(notice_id: int):
    """Mark one of the caller's notices read."""
    notice = notices.mark_read(db(), notice_id, actor=g.actor, clock=state().clock)
    out = notice_json(notice)
    commit()
    return jsonify(out)


@bp.post("/notices/read-all")
@operation(summary="Mark all my notices read", tag="notices", body_required=False, errors=(401, 403),
           response=obj({"marked": INTEGER}))
def read_all():
    """Mark every unread notice of the caller read."""
    done = notices.mark_all_read(db(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify({"marked": done})


@bp.get("/notices/preferences")
@operation(summary="My notice preferences", tag="notices", errors=(401, 403), response=_PREFS)
def get_preferences():
    """Return, per event, whether the caller is told in the app and by e-mail."""
    return jsonify(notices.preferences(db(), _user_id()))


@bp.put("/notices/preferences")
@operation(summary="Change my notice preferences", tag="notices", body=_PREFS, response=_PREFS,
           description="Events left out keep their channels; channels left out keep their value.")
def put_preferences():
    """Change the caller's channels per event."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object sent with 'Content-Type: application/json'")
    out = notices.set_preferences(db(), body, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(out)


@bp.get("/notices/emails")
@operation(summary="Notice e-mails and their delivery", tag="notices", permissions=("notice.manage",),
           query=page_params(Param("state", {"type": "string", "enum": list(NOTICE_EMAIL_STATES)})),
           response=obj({"counts": obj({s: INTEGER for s in NOTICE_EMAIL_STATES}), "items": array(_EMAIL),
                         "page": INTEGER, "per_page": INTEGER, "total": INTEGER, "total_exact": BOOLEAN,
                         "pages": nullable(INTEGER), "has_next": BOOLEAN}))
def emails():
    """List notice e-mails, newest first, with counts per state."""
    page = mail.list_emails(db(), actor=g.actor, state=request.args.get("state") or None, **paging())
    return jsonify({"counts": mail.counts(db(), actor=g.actor), **page_json(page, lambda e: {
        "id": e.id, "to": e.to_addr, "subject": e.subject, "state": e.state, "attempts": e.attempts,
        "next_attempt_at": jsonable(e.next_attempt_at), "sent_at": jsonable(e.sent_at),
        "last_error": e.last_error, "created_at": jsonable(e.created_at)})})


@bp.post("/notices/emails/<int:email_id>/retry")
@operation(summary="Send a failed notice e-mail again", tag="notices", permissions=("notice.manage",),
           body_required=False, errors=(400, 401, 403, 404), response=obj({"queued": INTEGER}),
           description="Its attempts start over and it is due at once; audited (notice_email.retry).")
def retry_email(email_id: int):
    """Queue one failed notice e-mail again."""
    done = mail.retry(db(), actor=g.actor, clock=state().clock, email_id=email_id)
    commit()
    return jsonify({"queued": done})


@bp.post("/notices/emails/retry-failed")
@operation(summary="Send every failed notice e-mail again", tag="notices", permissions=("notice.manage",),
           body_required=False, errors=(401, 403), response=obj({"queued": INTEGER}),
           description="Their attempts start over and they are due at once; audited (notice_email.retry).")
def retry_failed():
    """Queue every failed notice e-mail again."""
    done = mail.retry(db(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify({"queued": done})


def _user_id() -> int:
    if g.actor.user_id is None:
        raise InvalidInput("preferences: only a person with an account has notice preferences")
    return g.actor.user_id
