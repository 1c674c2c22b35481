"""Uploading and serving attached files safely, for every page and API route that does.

Uploads: each upload route declares its own request limit (:func:`upload_limit`), applied
before anything reads the body, so a request larger than that is refused from its
``Content-Length`` without being read (413, with a message naming the limit); the file field
is then read in chunks up to the file limit only (:func:`read_upload`).

Serving (:func:`send_stored`): the bytes come from the content-addressed store (never a path
built from a name), with the type recorded when the file was sniffed, ``X-Content-Type-Options:
nosniff``, a ``Content-Disposition`` naming the cleaned file name, and a policy that lets the
response run nothing (``default-src 'none'; sandbox``). Only photos are ever shown inline
(thumbnails and the viewer); every other type is always a download.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.maintenance.attachments import (IMAGE_CONTENT_TYPES, MAX_ATTACHMENT_BYTES,
                                                           AttachmentStore, read_limited)
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.state import state

#: The policy of every served file: nothing runs, nothing loads, no frame, no form.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'none'; sandbox; frame-ancestors 'self'"
#: Room for the other fields and the multipart framing around the files of one request.
FORM_OVERHEAD = 64 * 1024
#: The largest request any upload route takes (the web server in front must allow it).
MAX_UPLOAD_REQUEST = 5 * MAX_ATTACHMENT_BYTES + FORM_OVERHEAD

_LIMITS: dict[str, int] = {}

bp = Blueprint("files", __name__)


def upload_limit(endpoint: str, files: int = 1) -> None:
    """Let ``endpoint`` take ``files`` attachments of the largest size in one request."""
    _LIMITS[endpoint] = files * MAX_ATTACHMENT_BYTES + FORM_OVERHEAD


@bp.before_app_request
def _raise_upload_limit():
    # Runs before the app reads any form field (the CSRF check does), so an upload route gets
    # its own limit instead of the app-wide one.
    limit = _LIMITS.get(request.endpoint or "")
    if limit is not None:
        request.max_content_length = limit


@bp.app_errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    limit = request.max_content_length
    size = f"{limit / (1024 * 1024):.0f} MiB" if limit and limit >= 1024 * 1024 else f"{limit} bytes"
    return error_response(413, "request_too_large",
                          f"The request is larger than the {size} this form accepts; files may be at most "
                          f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB each. Nothing was saved.")


def init_app(app: Flask) -> None:
    """Register the upload limits and the 413 answer."""
    app.register_blueprint(bp)


def store() -> AttachmentStore:
    """Return the attachment store of this hub (outside any web root: under the data dir)."""
    return AttachmentStore(state().config.attachments_dir)


def read_upload(field: str = "file", *, required: bool = True) -> tuple[str | None, bytes] | None:
    """Return (client file name, bytes) of the form's file ``field`` (None when absent and optional)."""
    upload = request.files.get(field) if request.mimetype == "multipart/form-data" else None
    if upload is None or (not upload.filename and not required):
        if required:
            raise InvalidInput(N_("%(field)s: choose a file to upload (sent as multipart/form-data)"), field=field)
        return None
    data = read_limited(upload.stream)
    if not data and not upload.filename and not required:
        return None
    return upload.filename, data


def is_inline(content_type: str) -> bool:
    """Return True for the types shown inside a page (photos); all else is downloaded."""
    return content_type in IMAGE_CONTENT_TYPES


def send_stored(*, sha256: str, content_type: str, filename: str, download: bool) -> Response:
    """Answer with a stored file; photos inline unless ``download``, everything else as a download."""
    return send_bytes(store().read(sha256), sha256=sha256, content_type=content_type, filename=filename,
                      download=download)


def send_bytes(data: bytes, *, sha256: str, content_type: str, filename: str, download: bool = True) -> Response:
    """Answer with a file's bytes under the same headers as a stored file (see :func:`send_stored`)."""
    inline = is_inline(content_type) and not download
    mimetype = "text/plain; charset=utf-8" if content_type == "text/plain" else content_type
    response = Response(data, headers={"Content-Type": mimetype})
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["ETag"] = f'"{sha256}"'
    return response
