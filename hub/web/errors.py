"""Error pages and JSON errors: each domain error maps to one HTTP status."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from wardlink.hub.errors import HubError, InvalidInput, NotFound, PermissionDenied, StoreError
from wardlink.hub.services.errors import AuthenticationFailed
from wardlink.hub.web.i18n import error_message

log = logging.getLogger("wardlink.web")

#: domain error -> (HTTP status, stable code); the first matching class wins.
STATUS = (
    (AuthenticationFailed, 401, "authentication_failed"),
    (PermissionDenied, 403, "permission_denied"),
    (NotFound, 404, "not_found"),
    (InvalidInput, 400, "invalid_input"),
    (StoreError, 503, "store_unavailable"),
    (HubError, 500, "hub_error"),
)


def wants_json() -> bool:
    """Return True when the client should get JSON rather than an HTML page."""
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json")


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    """Return a JSON or HTML error response."""
    if wants_json():
        response = jsonify({"error": {"status": status, "code": code, "message": message}})
    else:
        response = render_template("errors/error.html", status=status, message=message)
    return response, status, headers or {}


def _domain(exc: HubError):
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            if status >= 500:
                log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return error_response(status, code, str(exc) if wants_json() else error_message(exc), headers)
    raise exc


def _http(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or exc.name, dict(exc.get_headers()
                          if exc.code == 405 else {}))


def _unexpected(exc: Exception):
    log.exception("unexpected error on %s %s (user %s)", request.method, request.path,
                  getattr(g.get("actor"), "username", None))
    return error_response(500, "internal_error", "Something went wrong on the server; "
                                                 "the error has been logged.")


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(HubError, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)
