"""Gas cylinders in the JSON API under ``/api/v1``: the register, movements (filled in, empty
out, transfer, in use, quarantine), storage places with what they hold against NFPA 99's
limits, and consumption per department and month (as JSON, CSV or Excel).

A movement the cylinder's status does not allow answers 409 ``invalid_transition`` and writes
nothing. Routes only translate HTTP to the services (:mod:`wardlink.hub.services.oxygen`),
which check permissions and department scope and record the audit trail.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from wardlink.hub.db.models import Cylinder, CylinderMovement
from wardlink.hub.db.vocab import CYLINDER_GASES, CYLINDER_MOVEMENT_KINDS, CYLINDER_STATUSES, GAS_STORAGE_KINDS
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.oxygen import consumption, cylinders, movements, storage
from wardlink.hub.services.oxygen.movements import MoveRefused
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.validate import boolean, optional_id, text
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import OPTIONAL_ID_IN, text_in
from wardlink.hub.web.api.openapi import json_body, operation, page_params
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable, obj)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_oxygen", __name__, url_prefix="/api/v1")

TAG = "oxygen"
_GONE = (400, 401, 403, 404)
_MOVE = (400, 401, 403, 404, 409)
_ID_PARAM = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
_LITRES_IN = {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
                        {"type": "string", "pattern": r"^\s*\d{1,6}(\.\d{1,3})?\s*$"}]}
_CYLINDER_FIELDS = {"tag": text_in(40, required=True), "gas": {"anyOf": [enum(CYLINDER_GASES), {"type": "null"}]},
                    "size": text_in(16), "capacity_l": _LITRES_IN, "notes": text_in(2000)}
_CYLINDER_NEW = obj({**_CYLINDER_FIELDS, "status": enum(cylinders.START_STATUSES), "department_id": OPTIONAL_ID_IN,
                     "storage_area_id": OPTIONAL_ID_IN}, required=("tag", "capacity_l", "status"), extra=False)
_CYLINDER_CHANGE = obj(_CYLINDER_FIELDS, required=(), extra=False)
_MOVEMENT_IN = obj({"kind": enum(CYLINDER_MOVEMENT_KINDS), "to_department_id": OPTIONAL_ID_IN,
                    "to_area_id": OPTIONAL_ID_IN, "notes": text_in(2000)}, required=("kind",), extra=False)
_AREA_FIELDS = {"code": text_in(40, required=True), "name": text_in(200, required=True),
                "kind": enum(GAS_STORAGE_KINDS), "department_id": OPTIONAL_ID_IN, "notes": text_in(2000)}
_AREA_NEW = obj(_AREA_FIELDS, required=("code", "name", "kind"), extra=False)
_AREA_CHANGE = obj(_AREA_FIELDS, required=(), extra=False)

AREA = obj({"id": INTEGER, "code": STRING, "name": STRING, "kind": enum(GAS_STORAGE_KINDS), "department_id": INTEGER,
            "department": STRING, "department_name": STRING, "notes": STRING, "held_l": DECIMAL, "held_ft3": DECIMAL,
            "limit_l": DECIMAL, "limit_ft3": DECIMAL, "cylinders": INTEGER, "over_limit": BOOLEAN,
            "reference": STRING})
CYLINDER = obj({"id": INTEGER, "tag": STRING, "gas": enum(CYLINDER_GASES), "size": STRING, "capacity_l": DECIMAL,
                "status": enum(CYLINDER_STATUSES), "department_id": nullable(INTEGER),
                "department": nullable(STRING), "storage_area_id": nullable(INTEGER), "storage_area": nullable(STRING),
                "notes": STRING, "updated_at": DATETIME, "allowed_movements": array(enum(CYLINDER_MOVEMENT_KINDS))})
MOVEMENT = obj({"id": INTEGER, "cylinder_id": INTEGER, "tag": STRING, "kind": enum(CYLINDER_MOVEMENT_KINDS),
                "status_before": enum(CYLINDER_STATUSES), "status_after": enum(CYLINDER_STATUSES),
                "from_department_id": nullable(INTEGER), "from_department": nullable(STRING),
                "from_area_id": nullable(INTEGER), "to_department_id": nullable(INTEGER),
                "to_department": nullable(STRING), "to_area_id": nullable(INTEGER), "volume_l": DECIMAL,
                "moved_at": DATETIME, "local_day": DATE, "notes": STRING, "user": STRING})
_RECORDED = obj({"movement": MOVEMENT, "cylinder": CYLINDER, "storage_area": nullable(AREA)})
_PAGE = {"page": INTEGER, "per_page": INTEGER, "total": INTEGER, "total_exact": BOOLEAN,
         "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}
CONSUMPTION = obj({"months": array(STRING),
                   "departments": array(obj({"department_id": INTEGER, "department": STRING,
                                             "department_name": STRING, "cylinders_emptied": array(INTEGER),
                                             "litres": array(DECIMAL), "total_litres": DECIMAL}))})
_PERIOD = (Param("department_id", _ID_PARAM, "One department (someone limited to a department: their own)."),
           Param("from", _MONTH, "First month, YYYY-MM (default: eleven months before `to`)."),
           Param("to", _MONTH, "Last month, YYYY-MM (default: this month at the site)."))
FORMATS = {"csv": (consumption.CONTENT_TYPES["csv"], consumption.to_csv),
           "xlsx": (consumption.CONTENT_TYPES["xlsx"], consumption.to_xlsx)}


@bp.errorhandler(MoveRefused)
def _refused(exc: MoveRefused):
    return error_response(409, "invalid_transition", str(exc))


def cylinder_json(row: Cylinder) -> dict[str, Any]:
    """Return a cylinder as the API shows it, with the movements it may take now."""
    return jsonable({**cylinders.snapshot(row), "department": row.department.code if row.department else None,
                     "storage_area": row.storage_area.code if row.storage_area else None,
                     "updated_at": row.updated_at, "allowed_movements": movements.allowed(row)})


def movement_json(row: CylinderMovement) -> dict[str, Any]:
    """Return a movement as the API shows it."""
    return jsonable({**movements.movement_snapshot(row), "tag": row.cylinder.tag,
                     "from_department": row.from_department.code if row.from_department else None,
                     "to_department": row.to_department.code if row.to_department else None})


@bp.get("/oxygen/cylinders")
@operation(summary="Gas cylinders", tag=TAG, permissions=("oxygen.view",),
           description="Every cylinder by tag with its status and where it is.",
           query=page_params(Param("department_id", _ID_PARAM, "Cylinders at one department."),
                             Param("status", enum(CYLINDER_STATUSES), "Cylinders in one status."),
                             Param("storage_area_id", _ID_PARAM, "Cylinders in one storage place."),
                             Param("q", {"type": "string", "maxLength": 40}, "Part of the tag.")),
           response=obj({"items": array(CYLINDER), **_PAGE}))
def cylinder_list():
    """List cylinders."""
    args = request.args
    page = cylinders.list_cylinders(db(), actor=g.actor,
                                    department_id=optional_id("department_id", args.get("department_id")),
                                    status=args.get("status") or None,
                                    area_id=optional_id("storage_area_id", args.get("storage_area_id")),
                                    search=text(40)("q", args.get("q")), **paging())
    return jsonify(page_json(page, cylinder_json))


@bp.post("/oxygen/cylinders")
@operation(summary="Register a gas cylinder", tag=TAG, permissions=("oxygen.manage",),
           description="Tag (unique, stored in capitals), gas, size, `capacity_l` (litres of gas at normal "
                       "temperature and pressure when full), `status` (`filled` or `empty`) and where it is: "
                       "`department_id` (default the caller's) or `storage_area_id`. Audited.",
           body=_CYLINDER_NEW, status=201, response=CYLINDER)
def cylinder_create():
    """Register a cylinder."""
    row = cylinders.create_cylinder(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(cylinder_json(row)), 201


@bp.get("/oxygen/cylinders/<cylinder>")
@operation(summary="A gas cylinder", tag=TAG, permissions=("oxygen.view",), errors=_GONE, response=CYLINDER)
def cylinder_detail(cylinder: str):
    """Return a cylinder."""
    return jsonify(cylinder_json(cylinders.get_cylinder(db(), cylinder, actor=g.actor)))


@bp.patch("/oxygen/cylinders/<cylinder>")
@operation(summary="Change a gas cylinder", tag=TAG, permissions=("oxygen.manage",),
           description="Tag, gas, size, capacity or notes; only movements change its status and place. Audited.",
           body=_CYLINDER_CHANGE, errors=_GONE, response=CYLINDER)
def cylinder_update(cylinder: str):
    """Change a cylinder."""
    row = cylinders.update_cylinder(db(), cylinder, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(cylinder_json(row))


@bp.get("/oxygen/cylinders/<cylinder>/movements")
@operation(summary="A gas cylinder's movements", tag=TAG, permissions=("oxygen.view",),
           description="Last recorded first.", query=page_params(), errors=_GONE,
           response=obj({"items": array(MOVEMENT), **_PAGE}))
def cylinder_movements(cylinder: str):
    """List a cylinder's movements."""
    return jsonify(page_json(movements.history(db(), cylinder, actor=g.actor, **paging()), movement_json))


@bp.post("/oxygen/cylinders/<cylinder>/movements")
@operation(summary="Record a gas cylinder's movement", tag=TAG, permissions=("oxygen.move",),
           description="`kind`: `filled_in` (from empty, in transit or quarantined; needs `to_department_id` or "
                       "`to_area_id`), `empty_out` (from filled or in use: counts its capacity into the consumption "
                       "of the department it leaves), `transfer` (status kept; without a destination it is in "
                       "transit), `in_use` (from filled), `quarantine` (`notes` say why). A movement the status "
                       "does not allow answers 409 `invalid_transition` and writes nothing. The answer has the "
                       "cylinder after it and the storage place it went to, with whether that place is now over "
                       "its NFPA 99 limit. Audited.",
           body=_MOVEMENT_IN, status=201, errors=_MOVE, response=_RECORDED)
def movement_create(cylinder: str):
    """Record a movement."""
    row = movements.record(db(), cylinder, **json_body(), actor=g.actor, clock=state().clock)
    area = storage.standing(db(), row.to_area) if row.to_area is not None else None
    body = {"movement": movement_json(row), "cylinder": cylinder_json(row.cylinder),
            "storage_area": jsonable(storage.standing_json(area)) if area else None}
    commit()
    return jsonify(body), 201


@bp.get("/oxygen/movements")
@operation(summary="Every gas cylinder's movements", tag=TAG, permissions=("oxygen.view",),
           description="Last recorded first. Someone limited to a department sees those from or to it.",
           query=page_params(Param("department_id", _ID_PARAM, "Movements from or to one department."),
                             Param("kind", enum(CYLINDER_MOVEMENT_KINDS), "One kind of movement.")),
           response=obj({"items": array(MOVEMENT), **_PAGE}))
def movement_list():
    """List movements."""
    args = request.args
    page = movements.list_movements(db(), actor=g.actor,
                                    department_id=optional_id("department_id", args.get("department_id")),
                                    kind=args.get("kind") or None, **paging())
    return jsonify(page_json(page, movement_json))


@bp.get("/oxygen/storage-areas")
@operation(summary="Gas storage places and what they hold", tag=TAG, permissions=("oxygen.view",),
           description="Each place with the gas of its filled and in-use cylinders (litres at NTP and cubic "
                       "feet) against the NFPA 99 limit of its kind (300 ft³ in a smoke compartment, 3,000 ft³ "
                       "in a storage room), and whether it is over it.",
           query=(Param("department_id", _ID_PARAM, "One department's places."),
                  Param("over_limit", {"type": "boolean"}, "Only places over their limit.")),
           response=obj({"items": array(AREA)}))
def area_list():
    """List storage places with their standing."""
    args = request.args
    rows = storage.list_areas(db(), actor=g.actor,
                              department_id=optional_id("department_id", args.get("department_id")),
                              over_only=boolean("over_limit", args.get("over_limit")))
    return jsonify({"items": [jsonable(storage.standing_json(r)) for r in rows]})


@bp.post("/oxygen/storage-areas")
@operation(summary="Add a gas storage place", tag=TAG, permissions=("oxygen.manage",),
           description="Code (unique), name, `kind` (`smoke_compartment` or `storage_room`) and the department "
                       "it belongs to (default the caller's). Audited.", body=_AREA_NEW, status=201, response=AREA)
def area_create():
    """Add a storage place."""
    area = storage.create_area(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(jsonable(storage.standing_json(storage.standing(db(), area)))), 201


@bp.patch("/oxygen/storage-areas/<int:area_id>")
@operation(summary="Change a gas storage place", tag=TAG, permissions=("oxygen.manage",), body=_AREA_CHANGE,
           description="Audited.", errors=_GONE, response=AREA)
def area_update(area_id: int):
    """Change a storage place."""
    area = storage.update_area(db(), area_id, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(jsonable(storage.standing_json(storage.standing(db(), area))))


def _consumption() -> consumption.OxygenConsumption:
    args = request.args
    return consumption.compute(db(), actor=g.actor,
                               department_id=optional_id("department_id", args.get("department_id")),
                               start=args.get("from"), end=args.get("to"), clock=state().clock)


@bp.get("/oxygen/consumption")
@operation(summary="Gas used per department and month", tag=TAG, permissions=("oxygen.view",),
           description="Per department and calendar month: cylinders emptied (empty-out movements from it) and "
                       "their capacity in litres at NTP. At most 36 months.", query=_PERIOD, response=CONSUMPTION)
def consumption_report():
    """Return consumption per department and month."""
    report = _consumption()
    return jsonify({"months": report.labels,
                    "departments": [{"department_id": r.department.id, "department": r.department.code,
                                     "department_name": r.department.name, "cylinders_emptied": r.cylinders,
                                     "litres": [number(v) for v in r.litres], "total_litres": number(r.total)}
                                    for r in report.departments]})


@bp.get("/oxygen/consumption/export")
@operation(summary="Download gas used per department and month as CSV or Excel", tag=TAG,
           permissions=("oxygen.view",),
           description="One row per department and month: department, name, month, cylinders emptied, litres, "
                       "cubic metres. Recorded in the audit trail.",
           query=(Param("format", {"type": "string", "enum": list(FORMATS)}, "`csv` (the default) or `xlsx`."),
                  *_PERIOD),
           response_media=tuple(media.split(";")[0] for media, _ in FORMATS.values()))
def consumption_export():
    """Send consumption as a file."""
    return send_consumption(_consumption(), tables.check_format(request.args.get("format") or "csv"))


def send_consumption(report: consumption.OxygenConsumption, fmt: str) -> Response:
    """Record the export in the audit trail and send the file (pages use it too)."""
    media, write = FORMATS[fmt]
    exports.record(db(), actor=g.actor, kind="oxygen", fmt=fmt, rows=len(report.departments) * len(report.months),
                   filters={"department": report.department_id, "from": report.labels[0], "to": report.labels[-1]},
                   clock=state().clock)
    content = write(report)
    commit()
    name = f"oxygen-consumption-{report.labels[0]}-{report.labels[-1]}.{fmt}"
    return Response(content, content_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


guard(bp, declared=True)
