"""The page a scanned asset label opens: the asset page for staff, a problem report for anyone.

Without signing in, a visitor sees only the asset's tag and name and may describe a problem,
which becomes a corrective work-order request (state Pending) for the biomedical team to
triage, with one photo if they take one (images only, at most 10 MiB, the type read from the
content). Reports are rate-limited per client address and per asset (a photo comes only with
a report, so it is limited with it), carry the session's CSRF token like every other form,
and expose nothing else about the asset or the hospital. A reporter who gives an e-mail address
hears of each status change of the order, with nothing but the equipment, the status, the time
and the reference.
"""

from __future__ import annotations

import math

from flask import Blueprint, g, redirect, render_template, request, url_for

from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.validate import email_address, text
from wardlink.hub.web import files
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import client_ip
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state
from wardlink.hub.web.maintenance.workorder_link import public_request

bp = Blueprint("public", __name__, template_folder="templates")

DESCRIPTION = text(2000, required=True)
NAME = text(200)
CONTACT = text(200)
MIN_DESCRIPTION = 10
files.upload_limit("public.report")


def _asset(tag: str):
    asset = assets.find_asset(db(), tag)
    if asset is None or asset.equipment_status == "retired":
        raise NotFound(N_("This label does not belong to an asset in service. Please tell the ward's nurse in "
                          "charge."))
    return asset


@bp.route("/a/<tag>", methods=["GET", "POST"])
def report(tag: str):
    """Open the asset page (signed in) or the public problem report form."""
    if g.actor is not None and request.method == "GET":
        return redirect(url_for("assets.detail", tag=tag))
    asset = _asset(tag)
    if request.method == "GET":
        return render_template("public/report.html", asset=asset, values={}, max_file_bytes=files.MAX_ATTACHMENT_BYTES)
    values = {k: request.form.get(k, "") for k in ("description", "name", "contact", "email")}
    values["out_of_use"] = "out_of_use" in request.form
    ip = client_ip() or "?"
    limits = ui_state()
    wait = limits.report_by_address.hit(ip) or limits.report_by_asset.hit(asset.tag)
    if wait is not None:
        return render_template("public/report.html", asset=asset, values=values,
                               max_file_bytes=files.MAX_ATTACHMENT_BYTES,
                               error="Too many reports have been sent from here. Please try again in "
                                     f"{math.ceil(wait / 60)} minutes, or call the biomedical "
                                     "engineering desk."), 429, {"Retry-After": str(math.ceil(wait))}
    try:
        description = DESCRIPTION("description", values["description"])
        if len(description) < MIN_DESCRIPTION:
            raise InvalidInput(N_("description: please say a little more (at least %(min_description)s characters)"),
                               min_description=MIN_DESCRIPTION)
        photo = files.read_upload("photo", required=False)
        reference = public_request(db(), asset, description=description,
                                   reporter=NAME("name", values["name"]),
                                   contact=CONTACT("contact", values["contact"]),
                                   email=email_address("email", values["email"]),
                                   source_ip=client_ip(), clock=state().clock, out_of_use=values["out_of_use"],
                                   photo=photo, store=files.store())
    except InvalidInput as exc:
        db().rollback()
        return render_template("public/report.html", asset=asset, values=values, error=error_message(exc),
                               max_file_bytes=files.MAX_ATTACHMENT_BYTES), 400
    commit()
    return render_template("public/thanks.html", asset=asset, reference=reference,
                           email=values["email"].strip())
