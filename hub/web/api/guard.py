"""The one guard of every module of the JSON API under ``/api/v1``.

The guard (:func:`guard`) runs before each view of a blueprint:

* the caller must be known: a valid ``Authorization: Bearer <API token>`` or a signed-in
  session (``wardlink.hub.web.people.auth.load_identity`` sets ``g.actor``); otherwise 401
  ``authentication_required`` with ``WWW-Authenticate: Bearer``. Only the endpoints a
  blueprint names as public (the health check) are answered without one;
* a state-changing request from a session cookie carries the session's CSRF token (form field
  or ``X-CSRF-Token``): the app checks that for every request before any blueprint runs
  (``wardlink.hub.web.people.auth.check_csrf``), token callers and anonymous API calls excepted, so the API
  needs no check of its own;
* where a blueprint has a route table (:class:`Needs` per endpoint), the role must hold what
  the route needs, and a route missing from the table is refused (403 ``permission_denied``).
  A blueprint whose views all declare their OpenAPI operation may take the table from those
  declarations (``declared=True``), so a role without the permissions is refused before its
  request body is even read;
  The services check permissions and department scope again on every call, so a table
  documents and narrows what a route allows, never widens it;
* every query parameter is given at most once (400 ``invalid_input`` otherwise).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from flask import Blueprint, g, request

from wardlink.hub.services.people.permissions import ACTION_TEXT, can
from wardlink.hub.web.errors import error_response

SIGN_IN_MESSAGE = "sign in, or send 'Authorization: Bearer <API token>'"


@dataclass(frozen=True)
class Needs:
    """What a route needs: every permission of ``all_of`` and one of ``any_of`` (when given)."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()

    def allows(self, actor) -> bool:
        """Return True when ``actor``'s role has what the route needs."""
        return (all(can(actor, a) for a in self.all_of)
                and (not self.any_of or any(can(actor, a) for a in self.any_of)))

    def refusal(self, actor) -> str:
        """Return why ``actor`` is refused."""
        missing = [a for a in self.all_of if not can(actor, a)] or [self.any_of[0]]
        return f"role '{actor.role}' may not {ACTION_TEXT[missing[0]]} (user '{actor.username}')"


def check_request(public: Collection[str] = (), needs: Mapping[str, Needs] | None = None):
    """Return the refusal of the current request (a response), or None when it may go on."""
    if request.endpoint in public:
        return None
    actor = g.get("actor")
    if actor is None:
        message = g.get("auth_error") or SIGN_IN_MESSAGE
        return error_response(401, "authentication_required", message, {"WWW-Authenticate": "Bearer"})
    if needs is not None:
        wanted = needs.get(request.endpoint or "")
        if wanted is None:
            return error_response(403, "permission_denied", "this route has no permission entry")
        if not wanted.allows(actor):
            return error_response(403, "permission_denied", wanted.refusal(actor))
    return repeated_query()


def repeated_query():
    """Return the refusal of a query parameter given more than once (``?page=1&page=2``), or None.

    Every query parameter of the API is one value; reading only the first of several would
    answer a question the caller did not ask.
    """
    for name in request.args:
        count = len(request.args.getlist(name))
        if count > 1:
            return error_response(400, "invalid_input", f"{name}: given {count} times; give it once")
    return None


def guard(bp: Blueprint, *, public: Collection[str] = (), needs: Mapping[str, Needs] | None = None,
          declared: bool = False) -> None:
    """Run :func:`check_request` before every view of ``bp``; with ``declared``, the route table is
    read from the permissions each view's operation declares (call it after the routes)."""
    public = frozenset(public)
    if declared:
        table: dict[str, Needs] = {}
        needs = table

        @bp.record_once
        def _read_declarations(setup) -> None:
            # Recorded after the routes, so it runs once they are in the app's view table.
            prefix = f"{bp.name}."
            for endpoint, view in setup.app.view_functions.items():
                op = getattr(view, "openapi", None)
                if endpoint.startswith(prefix) and op is not None and not isinstance(op, Mapping):
                    table[endpoint] = Needs(tuple(op.permissions), tuple(op.any_of))

    @bp.before_request
    def _require_identity():
        return check_request(public, needs)
