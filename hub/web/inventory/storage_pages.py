"""Stock locations and their bins, printable bin labels with a QR code, and kits of parts.

A bin label names a part in a bin. Its QR code encodes the part's page with the bin chosen
(``<public_url>/inventory/parts/<part>?bin=<bin>``): a technician who scans it on a phone
lands on the part, signed in, with that bin already picked in "Add to a work order".
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.inventory import catalogue, kits, storage
from wardlink.hub.services.people import org
from wardlink.hub.web.assets.labels import qr_svg
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("storage", __name__, template_folder="templates", url_prefix="/inventory")


def label_url(part_id: int, bin_id: int) -> str:
    """Return the URL a bin label's QR code encodes."""
    return f"{state().config.resolved_public_url}/inventory/parts/{part_id}?bin={bin_id}"


def _page(error: str | None = None, status: int = 200):
    return render_template("inventory/locations.html", locations=storage.list_locations(db(), actor=g.actor),
                           sites=org.list_sites(db()), places=org.list_locations(db()), error=error), status


@bp.get("/locations")
@login_required
def index():
    """List stock locations and their bins; forms to add and change them."""
    return _page()


@bp.post("/locations", defaults={"location_id": None, "action": "add"})
@bp.post("/locations/<int:location_id>/<action>")
@login_required
def change(location_id: int | None, action: str):
    """Add a location, change one, or add a bin to one."""
    form = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    calls = {
        "add": lambda: storage.create_location(db(), form, actor=g.actor, clock=state().clock),
        "update": lambda: storage.update_location(db(), location_id, form, actor=g.actor, clock=state().clock),
        "bin": lambda: storage.create_bin(db(), location_id, form, actor=g.actor, clock=state().clock),
    }
    if action not in calls or (action == "add") != (location_id is None):
        abort(404)
    try:
        calls[action]()
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _page(error_message(exc), 403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash({"add": gettext("Stock location added."), "update": gettext("Stock location saved."),
           "bin": gettext("Bin added.")}[action], "success")
    return redirect(url_for("storage.index"), 303)


@bp.post("/bins/<int:bin_id>")
@login_required
def bin_update(bin_id: int):
    """Rename a bin or set it (in)active."""
    form = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    try:
        storage.update_bin(db(), bin_id, form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _page(error_message(exc), 403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("Bin saved."), "success")
    return redirect(url_for("storage.index"), 303)


# ------------------------------------------------------------------ labels


@bp.get("/labels/<int:part_id>/<int:bin_id>")
@login_required
def label(part_id: int, bin_id: int):
    """Show a printable label of a part in a bin, with its QR code."""
    part = catalogue.get_part(db(), part_id, actor=g.actor)
    place = storage.get_bin(db(), bin_id, actor=g.actor)
    return render_template("inventory/labels.html", labels=[(part, place, label_url(part.id, place.id))])


@bp.get("/locations/<int:location_id>/labels")
@login_required
def location_labels(location_id: int):
    """Show the labels of every part kept in a location's bins, to print as one sheet."""
    place = storage.get_location(db(), location_id, actor=g.actor)
    rows = [(part, b, label_url(part.id, b.id)) for b in place.bins
            for part in storage.parts_in_bin(db(), b.id)]
    return render_template("inventory/labels.html", labels=rows, location=place)


@bp.get("/labels/<int:part_id>/<int:bin_id>/qr.svg")
@login_required
def label_qr(part_id: int, bin_id: int):
    """Return the QR code of a bin label as SVG."""
    part = catalogue.get_part(db(), part_id, actor=g.actor)
    place = storage.get_bin(db(), bin_id, actor=g.actor)
    return Response(qr_svg(label_url(part.id, place.id)), mimetype="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="{part.sku}-{place.code}-qr.svg"'})


# ------------------------------------------------------------------ kits


def _kits_page(error: str | None = None, status: int = 200):
    return render_template("inventory/kits.html", kits=kits.list_kits(db(), actor=g.actor), error=error), status


@bp.get("/kits")
@login_required
def kits_index():
    """List kits of parts; a form to add one."""
    return _kits_page()


def _kit_items(text: str) -> list[dict]:
    """Read kit items typed one per line as ``SKU quantity`` (``FLT-100 2``)."""
    items = []
    for n, line in enumerate(row for row in text.splitlines() if row.strip()):
        sku, _, qty = line.strip().rpartition(" ")
        part = catalogue.find_part(db(), sku.strip() or qty)
        if part is None:
            raise InvalidInput(N_("items: line %(n)s: no part with SKU %(value)r"),
                               n=n + 1, value=(sku or qty).strip())
        items.append({"part_id": part.id, "quantity": qty if sku else "1"})
    return items


@bp.post("/kits", defaults={"kit_id": None})
@bp.post("/kits/<int:kit_id>")
@login_required
def kit_save(kit_id: int | None):
    """Add or change a kit: a name, a description and items typed as ``SKU quantity`` lines."""
    try:
        data = {"name": request.form.get("name", ""), "description": request.form.get("description", ""),
                "items": _kit_items(request.form.get("items", ""))}
        if kit_id is None:
            kits.create_kit(db(), data, actor=g.actor, clock=state().clock)
        else:
            kits.update_kit(db(), kit_id, data, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _kits_page(error_message(exc), 403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("Kit saved."), "success")
    return redirect(url_for("storage.kits_index"), 303)

