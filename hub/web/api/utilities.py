"""Utility meters in the JSON API under ``/api/v1``: the meters (electricity, water, diesel,
oxygen), hand readings, a pulse meter's rolled-up days, and the monthly use per department
against the same month last year (as JSON, CSV or Excel).

Routes only translate HTTP to the services (:mod:`wardlink.hub.services.utilities`), which
check permissions and department scope and record the audit trail.
"""

from __future__ import annotations

from typing import Any

from flask import Response, Blueprint, g, jsonify, request

from wardlink.hub.db.models import UtilityDay, UtilityMeter, UtilityReading
from wardlink.hub.db.vocab import UTILITY_KINDS, UTILITY_SOURCES, UTILITY_UNITS
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.utilities import baseline, meters, readings, usage
from wardlink.hub.services.validate import boolean, choice, optional_id
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.inventory_json import OPTIONAL_ID_IN, text_in
from wardlink.hub.web.api.openapi import json_body, operation, page_params
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Param, array,
                                                 enum, nullable, obj)
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_utilities", __name__, url_prefix="/api/v1")

TAG = "utilities"
_GONE = (400, 401, 403, 404)
_ID_PARAM = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
_DAY_IN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
_NUMBER_IN = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "maxLength": 32}, {"type": "null"}]}
_METER_FIELDS = {"site_id": OPTIONAL_ID_IN, "department_id": OPTIONAL_ID_IN, "name": text_in(200, required=True),
                 "kind": enum(UTILITY_KINDS), "unit": {"anyOf": [enum(UTILITY_UNITS), {"type": "null"}]},
                 "source": {"anyOf": [enum(UTILITY_SOURCES), {"type": "null"}]}, "units_per_pulse": _NUMBER_IN,
                 "gateway_id": text_in(64), "channel_id": text_in(128),
                 "baseline_weeks": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 52}, {"type": "null"}]},
                 "alert_percent": _NUMBER_IN, "notes": text_in(2000), "active": BOOLEAN}
_METER_NEW = obj(_METER_FIELDS, required=("name", "kind"), extra=False)
_METER_CHANGE = obj(_METER_FIELDS, required=(), extra=False)
_READING_IN = obj({"quantity": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999999},
                                          {"type": "string", "pattern": r"^\s*\d{1,9}(\.\d{1,3})?\s*$"}]},
                   "period_start": _DAY_IN, "period_end": _DAY_IN, "notes": text_in(2000)},
                  required=("quantity",), extra=False)

METER = obj({"id": INTEGER, "site_id": INTEGER, "site": STRING, "department_id": nullable(INTEGER),
             "department": nullable(STRING), "department_name": nullable(STRING), "name": STRING,
             "kind": enum(UTILITY_KINDS), "unit": enum(UTILITY_UNITS), "source": enum(UTILITY_SOURCES),
             "units_per_pulse": nullable(DECIMAL), "gateway_id": nullable(STRING), "channel_id": nullable(STRING),
             "baseline_weeks": INTEGER, "alert_percent": nullable(DECIMAL), "notes": STRING, "active": BOOLEAN})
READING = obj({"id": INTEGER, "meter_id": INTEGER, "quantity": DECIMAL, "period_start": DATE, "period_end": DATE,
               "notes": STRING, "user": STRING, "created_at": DATETIME})
DAY = obj({"day": DATE, "quantity": DECIMAL, "pulses": INTEGER, "points": INTEGER, "rolled_at": DATETIME,
           "alert": nullable(obj({"baseline": DECIMAL, "share_percent": DECIMAL}))})
_PAGE = {"page": INTEGER, "per_page": INTEGER, "total": INTEGER, "total_exact": BOOLEAN,
         "pages": {"type": ["integer", "null"]}, "has_next": BOOLEAN}
USAGE = obj({"kind": enum(UTILITY_KINDS), "unit": enum(UTILITY_UNITS), "months": array(STRING),
             "departments": array(obj({"department_id": nullable(INTEGER), "department": nullable(STRING),
                                       "department_name": nullable(STRING), "quantities": array(DECIMAL),
                                       "same_month_last_year": array(DECIMAL),
                                       "change_percent": array(nullable(DECIMAL))})),
             "totals": array(DECIMAL), "totals_last_year": array(DECIMAL)})
_PERIOD = (Param("kind", enum(UTILITY_KINDS), "What the meters measure (default: electricity)."),
           Param("from", _MONTH, "First month, YYYY-MM (default: eleven months before `to`)."),
           Param("to", _MONTH, "Last month, YYYY-MM (default: this month)."))


def meter_json(meter: UtilityMeter) -> dict[str, Any]:
    """Return a meter as the API shows it."""
    dept = meter.department
    return jsonable({**meters.snapshot(meter), "site": meter.site.code, "department": dept.code if dept else None,
                     "department_name": dept.name if dept else None})


def reading_json(row: UtilityReading) -> dict[str, Any]:
    """Return a hand reading as the API shows it."""
    return jsonable(readings.reading_snapshot(row))


def day_json(row: UtilityDay, alert) -> dict[str, Any]:
    """Return a rolled-up day (with its baseline alert, if any) as the API shows it."""
    return jsonable({"day": row.day.isoformat(), "quantity": number(row.quantity), "pulses": row.pulses,
                     "points": row.points, "rolled_at": row.rolled_at,
                     "alert": None if alert is None else {"baseline": number(alert.baseline),
                                                          "share_percent": number(alert.share * 100)}})


@bp.get("/utilities/meters")
@operation(summary="Utility meters", tag=TAG, permissions=("utility.view",),
           description="Meters by kind and name. Someone limited to a department sees only its meters.",
           query=page_params(Param("kind", enum(UTILITY_KINDS), "Only meters of this kind."),
                             Param("department_id", _ID_PARAM, "One department's meters."),
                             Param("active", {"type": "boolean"}, "Meters in use (default) or not.")),
           response=obj({"items": array(METER), **_PAGE}))
def meter_list():
    """List meters."""
    args = request.args
    active = boolean("active", args["active"]) if args.get("active") not in (None, "") else True
    page = meters.list_meters(db(), actor=g.actor, kind=args.get("kind") or None,
                              department_id=optional_id("department_id", args.get("department_id")), active=active,
                              **paging())
    return jsonify(page_json(page, meter_json))


@bp.post("/utilities/meters")
@operation(summary="Add a utility meter", tag=TAG, permissions=("utility.manage",),
           description="A meter read by hand (`source` manual, the default) or by a gateway from its pulse output "
                       "(`source` pulse: `units_per_pulse`, `gateway_id` and `channel_id` of the pulse counter "
                       "channel, which counts pulses). Without `department_id`, a meter of the whole site. "
                       "`alert_percent`: alert when a day exceeds its baseline (the mean of the same weekday "
                       "over `baseline_weeks` weeks) by this share. Audited.",
           body=_METER_NEW, status=201, response=METER)
def meter_create():
    """Add a meter."""
    meter = meters.create_meter(db(), json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(meter_json(meter)), 201


@bp.get("/utilities/meters/<int:meter_id>")
@operation(summary="A utility meter", tag=TAG, permissions=("utility.view",), errors=_GONE, response=METER)
def meter_detail(meter_id: int):
    """Return a meter."""
    return jsonify(meter_json(meters.get_meter(db(), meter_id, actor=g.actor)))


@bp.patch("/utilities/meters/<int:meter_id>")
@operation(summary="Change a utility meter", tag=TAG, permissions=("utility.manage",), body=_METER_CHANGE,
           errors=_GONE, response=METER, description="Audited.")
def meter_update(meter_id: int):
    """Change a meter."""
    meter = meters.update_meter(db(), meter_id, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(meter_json(meter))


@bp.get("/utilities/meters/<int:meter_id>/readings")
@operation(summary="A meter's hand readings", tag=TAG, permissions=("utility.view",), errors=_GONE,
           query=page_params(), response=obj({"items": array(READING), **_PAGE}),
           description="Newest period first.")
def reading_list(meter_id: int):
    """List a meter's hand readings."""
    return jsonify(page_json(readings.list_readings(db(), meter_id, actor=g.actor, **paging()), reading_json))


@bp.post("/utilities/meters/<int:meter_id>/readings")
@operation(summary="Enter a hand reading", tag=TAG, permissions=("utility.record",), errors=_GONE,
           body=_READING_IN, status=201, response=READING,
           description="What was used over a period (days at the site, first and last included; by default "
                       "today). Not for pulse meters, whose use comes from their gateway. Audited.")
def reading_create(meter_id: int):
    """Enter a hand reading."""
    row = readings.record_reading(db(), meter_id, json_body(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(reading_json(row)), 201


@bp.get("/utilities/meters/<int:meter_id>/days")
@operation(summary="A pulse meter's daily use", tag=TAG, permissions=("utility.view",), errors=_GONE,
           query=(Param("from", {"type": "string", "format": "date"}, "First day (default: 30 days before `to`)."),
                  Param("to", {"type": "string", "format": "date"}, "Last day (default: yesterday at the site).")),
           response=obj({"meter_id": INTEGER, "unit": enum(UTILITY_UNITS), "days": array(DAY)}),
           description="Days at the meter's site rolled up from the gateway's pulse counts, each with the alert "
                       "raised when it exceeded its baseline. At most 400 days.")
def day_list(meter_id: int):
    """Return a pulse meter's rolled-up days."""
    meter = meters.get_meter(db(), meter_id, actor=g.actor)
    first, last = usage.day_range(meter, request.args.get("from"), request.args.get("to"), state().clock)
    alerts = {a.day: a for a in baseline.recent_alerts(db(), meter, limit=usage.MAX_DAYS)}
    return jsonify({"meter_id": meter.id, "unit": meter.unit,
                    "days": [day_json(row, alerts.get(row.day)) for row in usage.meter_days(db(), meter, first, last)]})


def _usage() -> usage.Usage:
    args = request.args
    kind = choice(UTILITY_KINDS)("kind", args.get("kind") or "electricity")
    return usage.compute(db(), kind, actor=g.actor, clock=state().clock, start=args.get("from"), end=args.get("to"))


def usage_json(report: usage.Usage) -> dict[str, Any]:
    """Return the monthly use per department as the API shows it."""
    def department(row: usage.DepartmentMonths) -> dict[str, Any]:
        dept = row.department
        return {"department_id": dept.id if dept else None, "department": dept.code if dept else None,
                "department_name": dept.name if dept else None, "quantities": [number(q) for q in row.quantities],
                "same_month_last_year": [number(q) for q in row.last_year],
                "change_percent": [number(usage.change_percent(a, b)) for a, b in zip(row.quantities, row.last_year,
                                                                                       strict=True)]}
    return {"kind": report.kind, "unit": report.unit, "months": report.labels,
            "departments": [department(r) for r in report.rows], "totals": [number(t) for t in report.totals()],
            "totals_last_year": [number(t) for t in report.totals(last_year=True)]}


@bp.get("/utilities/usage")
@operation(summary="Monthly use per department against the same month last year", tag=TAG,
           permissions=("utility.view",), query=_PERIOD, response=USAGE,
           description="Per department (null: meters of the whole site) and calendar month, in the kind's unit "
                       "(kWh, m3 or L): pulse meters' days and hand readings spread over their periods. At most 36 "
                       "months.")
def usage_report():
    """Return the monthly use per department."""
    return jsonify(usage_json(_usage()))


@bp.get("/utilities/usage/export")
@operation(summary="Download the monthly use per department as CSV or Excel", tag=TAG,
           permissions=("utility.view",),
           query=(Param("format", {"type": "string", "enum": list(tables.FORMATS)}, "`csv` (the default) or `xlsx`."),
                  *_PERIOD),
           response_media=tuple(tables.content_type(f).split(";")[0] for f in tables.FORMATS),
           description="One row per department and month: department, kind, unit, month, quantity, the same month "
                       "last year and the change in percent. Recorded in the audit trail.")
def usage_export():
    """Send the monthly use as a file."""
    return send_usage(_usage(), tables.check_format(request.args.get("format") or "csv"))


def send_usage(report: usage.Usage, fmt: str) -> Response:
    """Record the export in the audit trail and send the file (pages use it too)."""
    exports.record(db(), actor=g.actor, kind="utilities", fmt=fmt, rows=len(report.rows) * len(report.months),
                   filters={"kind": report.kind, "from": report.labels[0], "to": report.labels[-1]},
                   clock=state().clock)
    content = usage.to_file(report, fmt)
    commit()
    name = f"utilities-{report.kind}-{report.labels[0]}-{report.labels[-1]}.{fmt}"
    return Response(content, content_type=tables.content_type(fmt),
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


guard(bp, declared=True)
