"""Sites, departments and locations in the JSON API under ``/api/v1``.

Routes only translate HTTP to the services (:mod:`wardlink.hub.services.people.org_admin` and
:mod:`~wardlink.hub.services.people.org_lookup`), which check permissions and department scope
and record the audit trail. A department-limited caller sees only their department, its site
and its locations.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import LANGUAGES
from wardlink.hub.services.people import language, org_admin, org_lookup, users
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import obj, operation, json_body
from wardlink.hub.web.api.openapi_schema import INTEGER, STRING, array, nullable
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("api_org", __name__, url_prefix="/api/v1")
guard(bp)

_CODE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
SITE = obj({"id": INTEGER, "code": STRING, "name": STRING, "timezone": STRING, "language": nullable(STRING)})
DEPARTMENT = obj({"id": INTEGER, "site_id": INTEGER, "code": STRING, "name": STRING})
LOCATION = obj({"id": INTEGER, "site_id": INTEGER, "department_id": nullable(INTEGER), "building": STRING,
                "floor": STRING, "room": STRING, "label": STRING})


def _text(max_len: int, *, required: bool = True) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_len} if required else \
        {"type": ["string", "null"], "maxLength": max_len}


def _code(*, blank: bool) -> dict:
    return ({"type": ["string", "null"], "maxLength": 32, "pattern": f"^({_CODE})?$"} if blank
            else {"type": "string", "maxLength": 32, "pattern": f"^{_CODE}$"})


_ZONE = {"type": "string", "minLength": 1, "maxLength": 64,
         "description": "IANA time zone, e.g. Europe/London (default: the server's)"}
_LANGUAGE = {"type": ["string", "null"], "enum": [*LANGUAGES, "", None],
             "description": "language of the site's pages and e-mails; blank or null: the hub's default_locale"}
_SITE_NEW = obj({"name": _text(200), "code": _code(blank=True), "timezone": _ZONE, "language": _LANGUAGE},
                required=("name",), extra=False)
_SITE_CHANGE = obj({"name": _text(200), "code": _code(blank=False), "timezone": _ZONE, "language": _LANGUAGE},
                   required=(), extra=False)
_DEPT_NEW = obj({"site_id": _ID, "name": _text(200), "code": _code(blank=True)}, required=("site_id", "name"),
                extra=False)
_DEPT_CHANGE = obj({"name": _text(200), "code": _code(blank=False)}, required=(), extra=False)
_PLACE = {"building": _text(100), "floor": _text(32, required=False), "room": _text(100, required=False),
          "department_id": nullable(_ID)}
_LOC_NEW = obj({"site_id": _ID, **_PLACE}, required=("site_id", "building"), extra=False)
_LOC_CHANGE = obj(_PLACE, required=(), extra=False)
_GONE = (400, 401, 403, 404)


_body = json_body


def _listing(rows, snapshot):
    return jsonify({"items": [snapshot(r) for r in rows]})


# ------------------------------------------------------------------ sites


@bp.get("/sites")
@operation(summary="The sites (hospitals) the caller may see", tag="organisation", permissions=("asset.view",),
           response=obj({"items": array(SITE)}))
def site_list():
    """List the sites."""
    return _listing(org_lookup.visible_sites(db(), actor=g.actor), org_lookup.site_snapshot)


@bp.post("/sites")
@operation(summary="Add a site", tag="organisation", permissions=("site.manage",),
           description="Administrators only. Names and codes are unique without case; a blank code is made "
                       "from the name. Audited.", body=_SITE_NEW, status=201, response=SITE)
def site_create():
    """Add a site."""
    site = org_admin.create_site(db(), _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.site_snapshot(site)), 201


@bp.patch("/sites/<int:site_id>")
@operation(summary="Rename a site or change its code or time zone", tag="organisation",
           permissions=("site.manage",), description="Administrators only. Audited.", body=_SITE_CHANGE,
           errors=_GONE, response=SITE)
def site_update(site_id: int):
    """Change a site."""
    site = org_admin.update_site(db(), site_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.site_snapshot(site))


@bp.delete("/sites/<int:site_id>")
@operation(summary="Delete a site without departments or locations", tag="organisation",
           permissions=("site.manage",), description="Administrators only; a site still in use is refused "
                                                     "with what uses it. Audited.", status=204, errors=_GONE)
def site_delete(site_id: int):
    """Delete a site."""
    org_admin.delete_site(db(), site_id, actor=g.actor, clock=state().clock)
    commit()
    return "", 204


# ------------------------------------------------------------------ the caller's own language


_MY_LANGUAGE = obj({"locale": nullable({"type": "string", "enum": list(LANGUAGES)}),
                    "effective": {"type": "string", "enum": list(LANGUAGES)}})
_LANGUAGE_CHANGE = obj({"locale": {"type": ["string", "null"], "enum": [*LANGUAGES, "", None],
                                   "description": "a language, or blank or null for the site's"}},
                       required=("locale",), extra=False)


def _my_language() -> dict[str, Any]:
    mine = users.get_user(db(), g.actor.user_id).locale
    effective = language.user_language(db(), g.actor.user_id, default=state().config.default_locale)
    return {"locale": mine, "effective": effective}


@bp.get("/account/language")
@operation(summary="My language", tag="organisation", errors=(401, 403), response=_MY_LANGUAGE,
           description="``locale`` is the caller's own choice (null: their site's); ``effective`` is the "
                       "language their pages and e-mails are in.")
def my_language():
    """Return the caller's chosen and effective language."""
    if g.actor.user_id is None:
        raise InvalidInput("locale: only a person with an account has a language")
    return jsonify(_my_language())


@bp.put("/account/language")
@operation(summary="Choose my language", tag="organisation", body=_LANGUAGE_CHANGE, response=_MY_LANGUAGE,
           description="The same as the account page's language form. Audited.")
def my_language_change():
    """Set the caller's own language (blank or null: their site's)."""
    users.set_language(db(), _body().get("locale"), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(_my_language())


# ------------------------------------------------------------------ departments


@bp.get("/departments")
@operation(summary="The departments (wards) the caller may see", tag="organisation", permissions=("asset.view",),
           response=obj({"items": array(DEPARTMENT)}))
def department_list():
    """List the departments."""
    return _listing(org_lookup.visible_departments(db(), actor=g.actor), org_lookup.department_snapshot)


@bp.post("/departments")
@operation(summary="Add a department to a site", tag="organisation", permissions=("site.manage",),
           description="Administrators only. Names and codes are unique per site without case; a blank code "
                       "is made from the name. Audited.", body=_DEPT_NEW, status=201, errors=_GONE,
           response=DEPARTMENT)
def department_create():
    """Add a department."""
    body = dict(_body())
    dept = org_admin.create_department(db(), body.pop("site_id"), body, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.department_snapshot(dept)), 201


@bp.patch("/departments/<int:department_id>")
@operation(summary="Rename a department or change its code", tag="organisation", permissions=("site.manage",),
           description="A manager limited to a department may change only that one. Audited.",
           body=_DEPT_CHANGE, errors=_GONE, response=DEPARTMENT)
def department_update(department_id: int):
    """Change a department."""
    dept = org_admin.update_department(db(), department_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.department_snapshot(dept))


@bp.delete("/departments/<int:department_id>")
@operation(summary="Delete a department nothing refers to", tag="organisation", permissions=("site.manage",),
           description="Administrators only; a department still used by assets, users, gateways, locations "
                       "or work orders is refused with what uses it. Audited.", status=204, errors=_GONE)
def department_delete(department_id: int):
    """Delete a department."""
    org_admin.delete_department(db(), department_id, actor=g.actor, clock=state().clock)
    commit()
    return "", 204


# ------------------------------------------------------------------ locations


@bp.get("/locations")
@operation(summary="The locations (building, floor, room) the caller may see", tag="organisation",
           permissions=("asset.view",), response=obj({"items": array(LOCATION)}))
def location_list():
    """List the locations."""
    return _listing(org_lookup.visible_locations(db(), actor=g.actor), org_lookup.location_snapshot)


@bp.post("/locations")
@operation(summary="Add a location to a site", tag="organisation", permissions=("site.manage",),
           description="Building, floor and room are unique per site without case; the department, when "
                       "given, must be of the same site (a department-limited manager must give their own). "
                       "Audited.", body=_LOC_NEW, status=201, errors=_GONE, response=LOCATION)
def location_create():
    """Add a location."""
    body = dict(_body())
    loc = org_admin.create_location(db(), body.pop("site_id"), body, actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.location_snapshot(loc)), 201


@bp.patch("/locations/<int:location_id>")
@operation(summary="Change a location", tag="organisation", permissions=("site.manage",),
           description="Audited.", body=_LOC_CHANGE, errors=_GONE, response=LOCATION)
def location_update(location_id: int):
    """Change a location."""
    loc = org_admin.update_location(db(), location_id, _body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(org_lookup.location_snapshot(loc))


@bp.delete("/locations/<int:location_id>")
@operation(summary="Delete a location nothing refers to", tag="organisation", permissions=("site.manage",),
           description="A location still used by assets or gateways is refused with what uses it. Audited.",
           status=204, errors=_GONE)
def location_delete(location_id: int):
    """Delete a location."""
    org_admin.delete_location(db(), location_id, actor=g.actor, clock=state().clock)
    commit()
    return "", 204
