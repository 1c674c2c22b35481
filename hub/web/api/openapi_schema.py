"""The vocabulary of the JSON API's OpenAPI description: operations, parameters, schema helpers.

Route modules (and :mod:`wardlink.hub.web.api.docs`) declare their operations with these; the document
itself, and the check of a request against it, are built in :mod:`wardlink.hub.web.api.openapi` from the
declarations, so this module imports none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter


API_PREFIX = "/api/v1"
OPENAPI_VERSION = "3.1.0"
CONVERTER_RE = re.compile(r"<(?:(?P<conv>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
#: Largest integer an ``<int:...>`` URL part accepts: the range of a database id.
MAX_URL_INT = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` bounded to a database id, so ``/x/99999999999999999999`` is a 404 rather
    than an overflow deep in the database driver."""

    def to_python(self, value: str) -> int:
        """Return the id, or answer 404 at once for a number no row can have."""
        number = super().to_python(value)
        if isinstance(number, int) and number > MAX_URL_INT:
            # Not a ValidationError: werkzeug would then report 405 when another method's
            # rule shares the path. A number this large names nothing, whatever the method.
            raise NotFound(f"no entity has the id {value}")
        return number


# ------------------------------------------------------------------ schema helpers


def ref(name: str) -> dict:
    """Return a reference to component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """Return ``schema`` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: Mapping[str, dict], required: tuple[str, ...] | None = None, *,
        extra: bool = True) -> dict:
    """Return an object schema; every property is required unless ``required`` says otherwise."""
    schema = {"type": "object", "properties": dict(properties),
              "required": list(properties if required is None else required)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def array(items: dict) -> dict:
    """Return an array schema of ``items``."""
    return {"type": "array", "items": items}


def enum(values) -> dict:
    """Return a string schema limited to ``values``."""
    return {"type": "string", "enum": list(values)}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
DATETIME = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}

ERROR_SCHEMA = obj({"error": obj({"status": INTEGER, "code": STRING, "message": STRING})})

#: What each error status means, for every operation that lists it.
ERROR_TEXT = {
    400: "Invalid input; the message names the field and what is allowed.",
    401: "Not signed in, or the API token is missing, invalid or revoked.",
    403: "The role may not do this (the message names the role and the action).",
    404: "No such entity, or it lies outside what this user may see.",
    409: "The entity's state does not allow this (e.g. a refused work-order transition).",
    413: "The request body is too large.",
    503: "A store (database, telemetry, files) is unavailable.",
}


# ------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: dict
    description: str = ""
    required: bool = False


def page_params(*extra: Param) -> tuple[Param, ...]:
    """Return ``extra`` plus the page and per_page parameters every list takes."""
    return (*extra,
            Param("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}, "Page number, from 1."),
            Param("per_page", {"type": "integer", "minimum": 1, "maximum": 200}, "Items per page (1-200)."))


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document and the RBAC matrix know about one route and method."""

    summary: str
    tag: str
    #: Permissions the service layer requires (all of them); empty for any signed-in user.
    permissions: tuple[str, ...] = ()
    #: Further permissions of which the role needs at least one.
    any_of: tuple[str, ...] = ()
    public: bool = False
    description: str = ""
    query: tuple[Param, ...] = ()
    #: JSON Schema of an ``application/json`` body.
    body: dict | None = None
    #: JSON Schema of a ``multipart/form-data`` body (file uploads).
    form: dict | None = None
    body_required: bool = True
    status: int = 200
    #: JSON Schema of the success response (``None``: no JSON body).
    response: dict | None = None
    #: Media types of a non-JSON success response, e.g. a file download.
    response_media: tuple[str, ...] = ()
    errors: tuple[int, ...] = (400, 401, 403)
    #: Extra permissions that depend on the request (e.g. the transition asked for).
    conditional: str = ""
    path_params: Mapping[str, dict] = field(default_factory=dict)


UNDOCUMENTED = Operation(summary="Not yet documented", tag="undocumented", errors=(400, 401, 403, 409))


def allows(op: Operation, held: frozenset[str] | set[str]) -> bool:
    """Return True when a role holding permissions ``held`` may call ``op``."""
    return op.public or (set(op.permissions) <= set(held)
                         and (not op.any_of or any(p in held for p in op.any_of)))


def operation(**kwargs: Any) -> Callable:
    """Attach an :class:`Operation` to a view function (``@operation(summary=..., tag=...)``).

    A view serving several methods may pass ``methods={"GET": Operation(...), ...}`` instead.
    """
    methods = kwargs.pop("methods", None)

    def decorate(view: Callable) -> Callable:
        view.openapi = methods if methods is not None else Operation(**kwargs)
        return view
    return decorate


def operations_of(view: Callable | None, endpoint: str, method: str,
                  declared: Mapping[str, Operation | Mapping[str, Operation]]) -> Operation | None:
    """Return the operation of ``endpoint`` for ``method``: from the view, else from ``declared``."""
    found = getattr(view, "openapi", None) if view is not None else None
    if found is None:
        found = declared.get(endpoint)
    if isinstance(found, Mapping):
        found = found.get(method)
    return found


def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    """Return (path, method, endpoint) for every ``/api/v1`` route of ``app``."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            out.append((rule.rule, method, rule.endpoint))
    return sorted(out)
