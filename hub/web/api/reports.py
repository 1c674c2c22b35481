"""The stored monthly KPI reports under ``/api/v1/reports/monthly``: the same list and download
as the reports page's history (managers and administrators; a department's manager sees that
department's reports only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.models import MonthlyReport
from wardlink.hub.services.reports import monthly
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web import files
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import Param, array, obj, operation, page_params
from wardlink.hub.web.api.openapi_schema import BOOLEAN, DATETIME, INTEGER, STRING, nullable
from wardlink.hub.web.api.serialize import jsonable, page_json
from wardlink.hub.web.db import commit, db
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
