"""The stored monthly KPI reports under ``/api/v1/reports/monthly``: the same list and download
as the reports page's history (managers and administrators; a department's manager sees that
department's reports only); and the monthly repairs list under ``/api/v1/reports/repairs``, as
JSON or as the page's PDF and Excel files."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import MonthlyReport
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.reports import exports as export_audit
from wardlink.hub.services.reports import monthly, repairs, repairs_files
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web import files
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import Param, array, obj, operation, page_params
from wardlink.hub.web.api.openapi_schema import BOOLEAN, DATETIME, DECIMAL, INTEGER, STRING, enum, nullable
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import current_locale
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("api_reports", __name__)
guard(bp)

_DATE = {"type": "string", "format": "date"}
_REPORT = obj({"id": INTEGER, "month": STRING, "start": _DATE, "end": _DATE,
               "department": nullable(obj({"id": INTEGER, "code": STRING, "name": STRING})),
               "filename": STRING, "size": INTEGER, "sha256": STRING, "created_at": DATETIME, "url": STRING})
_PAGE = obj({"items": array(_REPORT), "page": INTEGER, "per_page": INTEGER, "total": INTEGER,
             "total_exact": BOOLEAN, "pages": nullable(INTEGER), "has_next": BOOLEAN})


def report_json(row: MonthlyReport) -> dict[str, Any]:
    """Return a stored report's description and where to download it."""
    department = row.department
    return {"id": row.id, "month": row.month, "start": row.start.isoformat(), "end": row.end.isoformat(),
            "department": None if department is None else {"id": department.id, "code": department.code,
                                                           "name": department.name},
            "filename": row.filename, "size": row.size, "sha256": row.sha256,
            "created_at": jsonable(row.created_at), "url": f"/api/v1/reports/monthly/{row.id}"}


@bp.get("/reports/monthly")
@operation(summary="Stored monthly KPI reports", tag="reports", permissions=("report.monthly",),
           description="Newest month first, the hospital-wide report before the departments'. A manager "
                       "with a department sees that department's reports only.",
           query=page_params(Param("department", INTEGER, "Only this department's reports.")),
           errors=(400, 401, 403), response=_PAGE)
def index():
    """List the stored monthly reports the caller may read."""
    department = optional_id("department", request.args.get("department"))
    page = monthly.list_reports(db(), actor=g.actor, department_id=department, **paging())
    return jsonify(page_json(page, report_json))


@bp.get("/reports/monthly/<int:report_id>")
@operation(summary="Download a monthly KPI report (PDF)", tag="reports", permissions=("report.monthly",),
           response_media=("application/pdf",), errors=(401, 403, 404))
def download(report_id: int):
    """Send one stored report as a PDF download (the download is recorded in the audit trail)."""
    row = monthly.get_report(db(), report_id, actor=g.actor, clock=state().clock)
    data, sha256, filename = bytes(row.content), row.sha256, row.filename
    commit()
    return files.send_bytes(data, sha256=sha256, content_type="application/pdf", filename=filename)


# ------------------------------------------------------------------ the monthly repairs list

_COST = obj({"parts": DECIMAL, "labour": DECIMAL, "vendor": DECIMAL, "total": DECIMAL})
_REPAIR = obj({
    "work_order": obj({"id": INTEGER, "code": STRING, "title": STRING}), "asset": nullable(STRING),
    "completed_at": DATETIME, "resolution_category": nullable(STRING),
    "parts": array(obj({"part": STRING, "name": STRING, "quantity": DECIMAL, "unit": STRING,
                        "cost": nullable(DECIMAL), "from_stock": BOOLEAN})),
    "delays": array(obj({"kind": enum(("hold", "sla_breach")), "reason": STRING, "started_at": DATETIME,
                         "ended_at": nullable(DATETIME), "recorded_by": STRING})),
    "cost": _COST})
_REPAIRS = obj({
    "month": STRING, "start": _DATE, "end": _DATE, "time_zone": STRING, "total": DECIMAL,
    "department": nullable(obj({"id": INTEGER, "code": STRING, "name": STRING})),
    "departments": array(obj({"department": nullable(obj({"id": INTEGER, "code": STRING, "name": STRING})),
                              "total": DECIMAL, "repairs": array(_REPAIR)})),
    "parts": array(obj({"part": STRING, "name": STRING, "unit": STRING, "quantity": DECIMAL, "repairs": INTEGER,
                        "cost": nullable(DECIMAL)})),
    "assets": array(obj({"asset": STRING, "name": STRING, "department": STRING, "repairs": INTEGER, **{
        k: DECIMAL for k in ("parts", "labour", "vendor", "total")}}))})
_MONTH_QUERY = (Param("month", {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                      "The month as YYYY-MM (local dates at the site); default the last complete month."),
                Param("department", INTEGER, "Only this department's repairs."))


def _department_json(department) -> dict | None:
    return None if department is None else {"id": department.id, "code": department.code, "name": department.name}


def _cost_json(cost) -> dict[str, Any]:
    return {"parts": amount(cost.parts), "labour": amount(cost.labour), "vendor": amount(cost.vendor),
            "total": amount(cost.total)}


def _repair_json(r: repairs.Repair) -> dict[str, Any]:
    order = r.order
    return {"work_order": {"id": order.id, "code": r.code, "title": order.title},
            "asset": order.asset.tag if order.asset else None, "completed_at": jsonable(order.completed_at),
            "resolution_category": order.resolution_category,
            "parts": [{"part": p.number, "name": p.name, "quantity": number(p.quantity), "unit": p.unit,
                       "cost": amount(p.cost), "from_stock": p.from_stock} for p in r.parts],
            "delays": [{"kind": d.kind, "reason": d.reason, "started_at": jsonable(d.started_at),
                        "ended_at": jsonable(d.ended_at), "recorded_by": d.recorded_by} for d in r.delays],
            "cost": _cost_json(r.cost)}


def repairs_json(report: repairs.RepairsReport) -> dict[str, Any]:
    """Return the repairs list of a month."""
    return {"month": report.key, "start": report.period.start.isoformat(), "end": report.period.end.isoformat(),
            "time_zone": report.period.zone.key, "total": amount(report.total),
            "department": _department_json(report.department),
            "departments": [{"department": _department_json(d.department), "total": amount(d.total),
                             "repairs": [_repair_json(r) for r in d.repairs]} for d in report.departments],
            "parts": [{"part": p.number, "name": p.name, "unit": p.unit, "quantity": number(p.quantity),
                       "repairs": p.repairs, "cost": amount(p.cost)} for p in report.parts()],
            "assets": [{"asset": a.tag, "name": a.name, "department": a.department, "repairs": a.repairs,
                        "parts": amount(a.parts), "labour": amount(a.labour), "vendor": amount(a.vendor),
                        "total": amount(a.total)} for a in report.assets()]}


def _report() -> repairs.RepairsReport:
    return repairs.repairs_report(db(), actor=g.actor, clock=state().clock, month=request.args.get("month"),
                                  department_id=request.args.get("department"))


@bp.get("/reports/repairs")
@operation(summary="The monthly repairs list", tag="reports", permissions=("kpi.view",),
           description="Corrective work orders completed in the month (local dates at the site), per department, "
                       "with the parts and consumables used, the reasons for delay (holds and SLA-breach reasons) "
                       "and the cost of each (parts, labour, vendor charges); the parts used and the cost per asset "
                       "over the month. A department's people see their department only.",
           query=_MONTH_QUERY, errors=(400, 401, 403), response=_REPAIRS)
def repairs_list():
    """Return the repairs list of a month."""
    return jsonify(repairs_json(_report()))


@bp.get("/reports/repairs/export")
@operation(summary="Download the monthly repairs list as PDF or Excel", tag="reports", permissions=("kpi.view",),
           description="The same list as a PDF (A4 landscape) or an Excel workbook (the repairs, the parts used and "
                       "the cost per asset); recorded in the audit trail.",
           query=(Param("format", enum(tuple(repairs_files.FILE_TYPES)), "pdf, xlsx or csv (the repairs alone).",
                        required=True),
                  *_MONTH_QUERY),
           response_media=tuple(repairs_files.FILE_TYPES.values()), errors=(400, 401, 403))
def repairs_export():
    """Send the repairs list as a file."""
    report, fmt = _report(), request.args.get("format", "")
    content, filename, mimetype = repairs_files.repairs_file(
        report, fmt, site_name=state().config.site_name,
        month_name=monthly.month_name(report.month, current_locale()), locale=current_locale())
    export_audit.record(db(), actor=g.actor, kind="repairs", fmt=fmt, rows=len(report.repairs), clock=state().clock,
                        filters={"month": report.key,
                                 "department": report.department.code if report.department else None})
    commit()
    return files.send_bytes(content, sha256=hashlib.sha256(content).hexdigest(), content_type=mimetype,
                            filename=filename)
