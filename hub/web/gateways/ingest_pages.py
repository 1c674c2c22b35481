"""The ingest page: each ingest worker's state (stalled or not, its last error) and the dead
letters, the messages ingest refused, with their reason and payload."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from wardlink.hub.db.types import from_ms, to_ms, utc_now
from wardlink.hub.services.gateways import ingest_status
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state

bp = Blueprint("ingest", __name__, template_folder="templates", url_prefix="/ingest")
PER_PAGE = 50


@bp.get("")
@login_required
def index():
    """Workers and dead letters (filters: reason, gateway; page)."""
    now_ms = to_ms(utc_now(state().clock))
    report = ingest_status.ingest_report(state().engine, now_ms, actor=g.actor,
                                         stall_after_s=state().config.ingest_stall_s)
    reason = (request.args.get("reason") or "").strip()[:32] or None
    gateway = (request.args.get("gateway") or "").strip()[:64] or None
    page = page_number(high=1_000_000)
    letters = ingest_status.dead_letter_page(state().engine, actor=g.actor, reason=reason, gateway=gateway,
                                             page=page, per_page=PER_PAGE)
    return render_template("ingest/index.html", report=report, letters=letters, reason=reason or "",
                           gateway=gateway or "", page=page, has_next=len(letters) == PER_PAGE,
                           payload_text=ingest_status.payload_text, from_ms=from_ms)
