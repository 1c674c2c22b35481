"""The audit trail page and its integrity check.

The page filters by who, entity type, entity, action and local days (the site's time zone),
pages through the result and offers it as CSV or Excel (the export posts the same filters to
:mod:`wardlink.hub.web.reports.exports`). Rows are shown as readable field changes
(:mod:`wardlink.hub.services.audit.readable`), not as JSON.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.audit import readable
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.audit.fields import action_label, entity_label
from wardlink.hub.services.pagination import Page
from wardlink.hub.services.people.site_time import zone_for
from wardlink.hub.web.db import db
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number

bp = Blueprint("audit", __name__, template_folder="templates", url_prefix="/audit")

#: The query names of the page's filters (the export form posts the same names).
FILTERS = ("actor", "entity", "entity_id", "action", "date_from", "date_to")


def _page(*, verified: bool | None = None, result=None):
    criteria = {name: request.args.get(name) or None for name in FILTERS}
    error = None
    try:
        page = audit.list_entries(db(), actor=g.actor, page=page_number(lenient=True), per_page=50,
                                  **audit.criteria_from(request.args, FILTERS))
    except InvalidInput as exc:
        error, page = error_message(exc), Page([], 1, 50, 0)
    active = sum(1 for value in criteria.values() if value)
    return render_template(
        "audit/list.html", page=page, entries=readable.describe(db(), page.items, display_zone()),
        head=audit.head(db(), actor=g.actor), choices=audit.filter_choices(db(), actor=g.actor),
        criteria=criteria, active=active, export_fields=[(k, v) for k, v in criteria.items() if v],
        date_zone=zone_for(db(), g.actor), filter_error=error, entity_label=entity_label,
        action_label=action_label, verified=verified, broken=result.broken_id if result else None,
        result=result), 400 if error else 200


@bp.get("")
@login_required
def index():
    """List audit rows, newest first, filtered by the query string."""
    return _page()


@bp.get("/verify")
@login_required
def verify():
    """Recompute the keyed hash chain, check its triggers and report what is wrong."""
    result = audit.verify(db(), actor=g.actor)
    return _page(verified=True, result=result)
