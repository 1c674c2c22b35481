"""The audit trail page and its integrity check."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from wardlink.hub.services.audit import trail as audit
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db
from wardlink.hub.web.query_args import page_number

bp = Blueprint("audit", __name__, template_folder="templates", url_prefix="/audit")


@bp.get("")
@login_required
def index():
    """List audit rows, newest first."""
    number = page_number(lenient=True)
    page = audit.list_entries(db(), actor=g.actor, entity=request.args.get("entity") or None,
                              entity_id=request.args.get("entity_id") or None, page=number,
                              per_page=50)
    return render_template("audit/list.html", page=page, head=audit.head(db(), actor=g.actor),
                           verified=None)


@bp.get("/verify")
@login_required
def verify():
    """Recompute the keyed hash chain, check its triggers and report what is wrong."""
    result = audit.verify(db(), actor=g.actor)
    page = audit.list_entries(db(), actor=g.actor, page=1, per_page=50)
    return render_template("audit/list.html", page=page, head=audit.head(db(), actor=g.actor),
                           verified=True, broken=result.broken_id, result=result)
