"""The OpenAPI 3.1 document of the JSON API, built from the routes themselves.

Every ``/api/v1`` view carries an :class:`Operation`: its summary, the permissions the service
layer checks, query parameters, request body and responses. Views declare it with the
:func:`operation` decorator; views of modules that do not use the decorator are declared in
:mod:`wardlink.hub.web.api.docs`. :func:`build_document` walks the app's URL map, so a route without a
declaration shows up as missing (the tests fail on it) instead of silently undocumented.

The ``permissions`` of an operation also drive the RBAC matrix test: a role may call the
route when its entry in :data:`wardlink.hub.services.people.permissions.PERMISSIONS` holds all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from wardlink.hub.errors import InvalidInput
from wardlink.hub.web.api.docs import COMPONENTS, DECLARED
from wardlink.hub.web.api.openapi_schema import (API_PREFIX, CONVERTER_RE, ERROR_SCHEMA, ERROR_TEXT, MAX_URL_INT,
                                    OPENAPI_VERSION, UNDOCUMENTED, Operation, Param, api_routes, operation,
                                    operations_of)
# The vocabulary route modules declare their operations with, importable from here too.
from wardlink.hub.web.api.openapi_schema import allows, array, obj, page_params, ref  # noqa: F401


def lookup(app: Flask, endpoint: str, method: str) -> Operation | None:
    """Return the declared operation of ``endpoint``/``method`` in ``app``, or None."""
    return operations_of(app.view_functions.get(endpoint), endpoint, method, DECLARED)


# ------------------------------------------------------------------ requests checked against it


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value or " " in value


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_is_datetime)
_FORMATS.checks("date")(_is_date)


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": {"schemas": COMPONENTS}}, format_checker=_FORMATS)


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, checked against what the current route's operation
    documents (:func:`check_request`); anything else is refused with :class:`InvalidInput`."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object sent with 'Content-Type: application/json'")
    check_request(body)
    return body


def check_request(payload: Mapping[str, Any], *, form: bool = False) -> None:
    """Raise :class:`InvalidInput` unless ``payload`` (the JSON body, or the multipart fields
    when ``form``) matches what the current route's operation documents.

    The document is the contract: a blank enum value, a null where text is required, an
    unknown field or an over-long value is refused here with the field's name, so the API
    never accepts what its OpenAPI says it refuses.
    """
    rule = request.url_rule
    op = lookup(current_app, rule.endpoint, request.method) if rule is not None else None
    schema = None if op is None else (op.form if form else op.body)
    if schema is None:
        return
    error = best_match(_validator(schema).iter_errors(dict(payload)))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path) or "body"
    if error.validator == "additionalProperties":
        known = ", ".join(sorted(schema.get("properties", {})))
        unknown = sorted(set(payload) - set(schema.get("properties", {})))
        raise InvalidInput(f"{unknown[0] if unknown else where}: unknown field; known: {known}")
    value = error.instance
    if error.validator == "required" and isinstance(value, Mapping):
        missing = next(name for name in error.validator_value if name not in value)
        prefix = "" if where == "body" else f"{where}."
        raise InvalidInput(f"{prefix}{missing}: is required")
    if error.validator == "format":
        wanted = "a date as YYYY-MM-DD" if error.validator_value == "date" else "an ISO 8601 date and time"
        raise InvalidInput(f"{where}: must be {wanted}, got {value!r}")
    if error.validator == "enum":
        raise InvalidInput(f"{where}: must be one of {', '.join(map(str, error.validator_value))}, got {value!r}")
    if error.validator == "maxLength":
        raise InvalidInput(f"{where}: must be at most {error.validator_value} characters, got {len(value)}")
    raise InvalidInput(f"{where}: {error.message}")


def undocumented(app: Flask) -> list[str]:
    """Return ``METHOD path`` of every ``/api/v1`` route without an operation."""
    return [f"{method} {path}" for path, method, endpoint in api_routes(app)
            if lookup(app, endpoint, method) is None]


# ------------------------------------------------------------------ the document


def openapi_path(rule: str) -> tuple[str, list[dict]]:
    params = []

    def repl(match: re.Match) -> str:
        converter = match.group("conv") or "string"
        schema = ({"type": "integer", "minimum": 1, "maximum": MAX_URL_INT} if converter == "int"
                  else {"type": "string", "minLength": 1, "pattern": "^[^/]+$"})
        params.append({"name": match.group("name"), "in": "path", "required": True, "schema": schema})
        return "{" + match.group("name") + "}"

    return CONVERTER_RE.sub(repl, rule)[len(API_PREFIX):], params


def _responses(op: Operation, has_path_params: bool) -> dict:
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": op.response}}
    elif op.response_media:
        success["content"] = {media: {"schema": {"type": "string", "format": "binary"}}
                              for media in op.response_media}
    responses = {str(op.status): success}
    errors = set(op.errors) | ({404} if has_path_params else set())
    if op.public:
        errors -= {401, 403}
    if op.body is not None or op.form is not None:
        errors |= {400, 413}
    if op.query:
        errors |= {400}  # a value out of its schema, or a parameter given twice
    for status in sorted(errors):
        responses[str(status)] = {"description": ERROR_TEXT[status], "content": {
            "application/json": {"schema": ref("Error")}}}
    return responses


#: How an optional query parameter may be left empty (``?state=``): the API reads it as absent.
EMPTY_QUERY_TEXT = "An empty value is the same as leaving the parameter out."


def _query_param(p: Param) -> dict:
    """Return the OpenAPI entry of query parameter ``p``.

    The API (like the HTML forms it shares its parsing with) reads an empty optional value
    as absent, so a constrained parameter (a number, a flag, an enum, a date) also admits the
    empty string, and says so.
    """
    schema, description = p.schema, p.description
    constrained = schema.get("type") != "string" or any(k in schema for k in ("enum", "format", "pattern",
                                                                               "minLength"))
    if not p.required and constrained:
        schema = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
        description = f"{description} {EMPTY_QUERY_TEXT}".strip()
    return {"name": p.name, "in": "query", "required": p.required, "schema": schema,
            **({"description": description} if description else {})}


def _entry(op: Operation, endpoint: str, method: str, params: list[dict]) -> dict:
    description = op.description
    if op.permissions:
        description = (description + "\n\n" if description else "") + (
            "Requires permission " + ", ".join(f"`{p}`" for p in op.permissions) + ".")
    if op.any_of:
        description = (description + "\n\n" if description else "") + (
            "Requires one of the permissions " + ", ".join(f"`{p}`" for p in op.any_of) + ".")
    if op.conditional:
        description += ("\n\n" if description else "") + op.conditional
    entry: dict[str, Any] = {
        "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
        "summary": op.summary, "tags": [op.tag],
        "parameters": params + [_query_param(p) for p in op.query],
        "responses": _responses(op, bool(params)),
        "x-permissions": list(op.permissions),
        **({"x-permissions-any-of": list(op.any_of)} if op.any_of else {}),
    }
    if description:
        entry["description"] = description
    if op.public:
        entry["security"] = []
    content = {}
    if op.body is not None:
        content["application/json"] = {"schema": op.body}
    if op.form is not None:
        content["multipart/form-data"] = {"schema": op.form}
    if content:
        entry["requestBody"] = {"required": op.body_required, "content": content}
    return entry


def build_document(app: Flask) -> dict:
    """Return the OpenAPI 3.1 document of every ``/api/v1`` route of ``app``."""
    paths: dict[str, dict] = {}
    for rule, method, endpoint in api_routes(app):
        # An undeclared route still appears (so clients see it exists); the tests fail on it.
        op = lookup(app, endpoint, method) or UNDOCUMENTED
        path, params = openapi_path(rule)
        paths.setdefault(path, {})[method.lower()] = _entry(op, endpoint, method, params)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Wardlink hub API", "version": "1",
                 "description": "Assets, gateways, readings, alerts, work orders and maintenance of "
                                "the Wardlink hub. Authenticate with `Authorization: Bearer <API token>` "
                                "(tokens are issued on the account page) or a signed-in browser session "
                                "(which must send its CSRF token in `X-CSRF-Token` on writes)."},
        "servers": [{"url": API_PREFIX}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **COMPONENTS},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API token from the account page (wlt_...)."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "wardlink_session"},
            },
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }


bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
@operation(summary="The OpenAPI 3.1 document of this API", tag="meta", public=True, errors=(),
           response={"type": "object", "required": ["openapi", "paths"]})
def document():
    """Serve the OpenAPI document (no sign-in needed: it describes, it holds no data)."""
    return jsonify(build_document(current_app))
