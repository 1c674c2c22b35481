"""Photos and documents kept with an asset: upload from the asset page, view and download.

Checks and storage are the attachment services'; serving is :mod:`wardlink.hub.web.files`
(photos inline for thumbnails and the viewer, everything else a download).
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_babel import gettext

from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.assets import attachments
from wardlink.hub.web import files
from wardlink.hub.web.assets.pages import _detail_page
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state

bp = Blueprint("asset_files", __name__, url_prefix="/assets")
files.upload_limit("asset_files.upload")


@bp.post("/<tag>/files")
@login_required
def upload(tag: str):
    """Attach a photo or document to an asset."""
    try:
        name, data = files.read_upload("file")
        attachments.add_asset_attachment(db(), tag, filename=name, data=data, store=files.store(),
                                         actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _detail_page(tag, error=error_message(exc), status=400)
    except PermissionDenied:
        db().rollback()
        raise
    commit()
    flash(gettext("File attached."), "success")
    return redirect(url_for("assets.detail", tag=tag) + "#files", 303)


@bp.get("/<tag>/files/<int:file_id>")
@login_required
def file(tag: str, file_id: int):
    """Send a file of an asset: photos inline (``?download=1`` to save), all else as a download."""
    row = attachments.get_asset_attachment(db(), tag, file_id, actor=g.actor)
    return files.send_stored(sha256=row.sha256, content_type=row.content_type, filename=row.filename,
                             download=request.args.get("download") == "1")
