"""Files kept with an asset, under ``/api/v1/assets/<tag>/attachments``.

The same checks as a work order's files (:mod:`wardlink.hub.web.files`): type read from the
content, size-limited before the body is read, downloads always as attachments with a policy
that runs nothing. The services check the permissions and the department scope.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import AssetAttachment
from wardlink.hub.web.api.serialize import jsonable
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import attachments
from wardlink.hub.services.maintenance.attachments import FILE_TYPES
from wardlink.hub.web import files
from wardlink.hub.web.api.docs import WO
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import array, operation, ref
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("api_asset_files", __name__)
guard(bp)
files.upload_limit("api_asset_files.add")


def attachment_json(row: AssetAttachment, tag: str) -> dict:
    """Return an asset file's metadata and where to download it."""
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "sha256": row.sha256, "uploaded_by": row.uploaded_by, "created_at": jsonable(row.created_at),
            "checklist_item": None, "url": f"/api/v1/assets/{tag}/attachments/{row.id}"}


@bp.get("/assets/<tag>/attachments")
@operation(summary="Files kept with an asset", tag="assets", permissions=("asset.view",),
           errors=(401, 403, 404), response=array(ref("Attachment")))
def index(tag: str):
    """List an asset's files, oldest first."""
    rows = attachments.asset_attachments(db(), tag, actor=g.actor)
    return jsonify([attachment_json(r, tag) for r in rows])


@bp.post("/assets/<tag>/attachments")
@operation(summary="Attach a file to an asset", tag="assets", permissions=("asset.update",),
           description="multipart/form-data with one `file`: JPEG, PNG, WebP, PDF or plain text (the type "
                       "is read from the content; HTML, SVG and XML are refused), at most 10 MiB. Uploading "
                       "the same file again returns the first attachment.",
           form=WO["asset_attachment_form"], status=201, errors=(400, 401, 403, 404, 413),
           response=ref("Attachment"))
def add(tag: str):
    """Attach one uploaded file to an asset."""
    if request.mimetype != "multipart/form-data" or "file" not in request.files:
        raise InvalidInput("file: send one file as multipart/form-data field 'file'")
    unknown = sorted(set(request.form) - {CSRF_FIELD})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: file")
    name, data = files.read_upload("file")
    row = attachments.add_asset_attachment(db(), tag, filename=name, data=data, store=files.store(),
                                           actor=g.actor, clock=state().clock)
    commit()
    return jsonify(attachment_json(row, tag)), 201


@bp.get("/assets/<tag>/attachments/<int:attachment_id>")
@operation(summary="Download a file of an asset", tag="assets", permissions=("asset.view",),
           response_media=tuple(t.content_type for t in FILE_TYPES), errors=(401, 403, 404, 503))
def download(tag: str, attachment_id: int):
    """Send a file of an asset (always as a download, never rendered in the hub's origin)."""
    row = attachments.get_asset_attachment(db(), tag, attachment_id, actor=g.actor)
    return files.send_stored(sha256=row.sha256, content_type=row.content_type, filename=row.filename,
                             download=True)
