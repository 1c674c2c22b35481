"""KPI reports as CSV and Excel (openpyxl) files.

One row per department plus a first row for the whole selection; the columns are the
:data:`COLUMNS` table. Text cells that a spreadsheet would run as a formula (starting with
``= + - @``, a tab or a carriage return) are prefixed with an apostrophe, so a department named
``=HYPERLINK(...)`` stays text: :func:`safe_cell` is the one place that rule lives, for every
spreadsheet the hub writes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.people import local_time
from wardlink.hub.services.reports.kpis import Kpis, KpiReport

#: column header -> how to read it from a Kpis object.
COLUMNS: tuple[tuple[str, Callable[[Kpis], Any]], ...] = (
    ("pm_judged", lambda k: k.pm.judged),
    ("pm_on_time", lambda k: k.pm.on_time),
    ("pm_late", lambda k: k.pm.late),
    ("pm_missed", lambda k: k.pm.missed),
    ("pm_pending", lambda k: k.pm.pending),
    ("pm_completion_pct", lambda k: k.pm.completion_pct),
    ("pm_on_time_pct", lambda k: k.pm.on_time_pct),
    ("high_risk_judged", lambda k: k.pm_high_risk.judged),
    ("high_risk_on_time", lambda k: k.pm_high_risk.on_time),
    ("high_risk_on_time_pct", lambda k: k.pm_high_risk.on_time_pct),
    ("high_risk_target_met", lambda k: "yes" if k.high_risk_target_met else "no"),
    ("pm_overdue", lambda k: k.pm_overdue),
    ("work_orders_overdue", lambda k: k.work_orders_overdue),
    ("failures", lambda k: k.failures),
    ("mtbf_hours", lambda k: k.mtbf_hours),
    ("repairs", lambda k: k.repairs),
    ("mttr_hours", lambda k: k.mttr_hours),
    ("asset_hours", lambda k: round(k.asset_hours, 2)),
    ("downtime_hours", lambda k: round(k.downtime_hours, 2)),
    ("uptime_pct", lambda k: k.uptime_pct),
    ("fault_hours", lambda k: round(k.fault_hours, 2)),
    ("availability_pct", lambda k: k.availability_pct),
    ("backlog_total", lambda k: sum(k.backlog.values())),
    ("backlog_pm", lambda k: k.backlog.get("pm", 0)),
    ("backlog_corrective", lambda k: k.backlog.get("corrective", 0)),
    ("backlog_inspection", lambda k: k.backlog.get("inspection", 0)),
    ("backlog_recall", lambda k: k.backlog.get("recall", 0)),
    ("response_due", lambda k: k.response_due),
    ("response_breached", lambda k: k.response_breached),
    ("resolution_due", lambda k: k.resolution_due),
    ("resolution_breached", lambda k: k.resolution_breached),
    ("resolution_breach_rate_pct", lambda k: Kpis._rate(k.resolution_breached, k.resolution_due)),
)
HEADER = ("department", *(name for name, _ in COLUMNS))
#: column -> what people read as its heading (pages, PDF); files keep the names of HEADER.
LABELS: dict[str, str] = {
    "department": "Department",
    "pm_judged": "PM judged", "pm_on_time": "PM on time", "pm_late": "PM late", "pm_missed": "PM missed",
    "pm_pending": "PM pending", "pm_completion_pct": "PM done (%)", "pm_on_time_pct": "PM on time (%)",
    "high_risk_judged": "High-risk PM judged", "high_risk_on_time": "High-risk PM on time",
    "high_risk_on_time_pct": "High-risk on time (%)", "high_risk_target_met": "High-risk target met",
    "pm_overdue": "PM overdue", "work_orders_overdue": "WO overdue", "failures": "Failures",
    "mtbf_hours": "MTBF (h)", "repairs": "Repairs", "mttr_hours": "MTTR (h)", "asset_hours": "Asset hours (h)",
    "downtime_hours": "Downtime (h)", "uptime_pct": "Uptime (%)", "fault_hours": "Down for a fault (h)",
    "availability_pct": "Availability (%)", "backlog_total": "Backlog", "backlog_pm": "Backlog PM",
    "backlog_corrective": "Backlog corrective", "backlog_inspection": "Backlog inspection",
    "backlog_recall": "Backlog recall", "response_due": "Response due", "response_breached": "Response late",
    "resolution_due": "Resolution due", "resolution_breached": "Resolution late",
    "resolution_breach_rate_pct": "SLA breach (%)",
}
#: The columns a KPI table shows unless the reader chooses others; the figures read first.
DEFAULT_COLUMNS = ("pm_completion_pct", "pm_on_time_pct", "high_risk_on_time_pct", "pm_overdue", "failures",
                   "mtbf_hours", "mttr_hours", "downtime_hours", "uptime_pct", "availability_pct", "backlog_total",
                   "work_orders_overdue", "resolution_breach_rate_pct")
#: The most columns one table shows (more do not fit a 1280-pixel screen or an A4 page).
MAX_COLUMNS = 14


def choose_columns(names: list[str]) -> tuple[str, ...]:
    """Return the KPI columns ``names`` asks for, in table order (the defaults when empty);
    raise :class:`InvalidInput` for an unknown column or too many."""
    if not names:
        return DEFAULT_COLUMNS
    unknown = [n for n in names if n not in LABELS or n == "department"]
    if unknown:
        raise InvalidInput(N_("col: no column %(unknown)r; known: %(choices)s"),
                           unknown=unknown[0], choices=', '.join(HEADER[1:]))
    chosen = tuple(name for name in HEADER[1:] if name in names)
    if len(chosen) > MAX_COLUMNS:
        raise InvalidInput(N_("col: choose at most %(max_columns)s columns, got %(count)s"),
                           max_columns=MAX_COLUMNS, count=len(chosen))
    return chosen
SERVICE_HEADER = ("asset", "department", "plan", "due_date", "due_meter", "completed_on", "judgement")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


#: First characters that make a spreadsheet read a cell as a formula (or hide one behind them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


#: Control characters a spreadsheet cell cannot hold (XML 1.0 forbids them in a workbook).
UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: Any) -> Any:
    """Return ``value`` as a spreadsheet shows it as text: a string a spreadsheet would run as
    a formula gets a leading apostrophe, and control characters no workbook can hold become
    U+FFFD (a filter typed with one still exports); everything else is returned unchanged."""
    if not isinstance(value, str):
        return value
    value = UNWRITABLE.sub("\ufffd", value)
    return "'" + value if value[:1] in FORMULA_STARTS else value



def rows(report: KpiReport) -> list[list[Any]]:
    """Return the table: the selection first (department ``all``, or its code), then each department."""
    label = report.department.code if report.department is not None else "all"
    out = [[label, *(get(report.total) for _, get in COLUMNS)]]
    if report.department is None:
        for dept, kpis in report.departments:
            out.append([dept.code if dept else "(none)", *(get(kpis) for _, get in COLUMNS)])
    return [[safe_cell(v) for v in row] for row in out]


def service_rows(report: KpiReport) -> list[list[Any]]:
    """Return the high-risk services that were not done on time, one per row."""
    return [[safe_cell(s.asset), safe_cell(s.department or ""), safe_cell(s.plan),
             s.due_date.isoformat() if s.due_date else "", s.due_meter,
             s.completed_on.isoformat() if s.completed_on else "", s.judgement]
            for s in report.high_risk_services]


def to_csv(report: KpiReport, *, zone: ZoneInfo | None = None) -> str:
    """Return the KPI table as CSV text (it holds no times; ``zone`` is accepted like the others)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([["" if v is None else v for v in row] for row in rows(report)])
    return buffer.getvalue()


def to_xlsx(report: KpiReport, *, zone: ZoneInfo | None = None) -> bytes:
    """Return an Excel workbook: the KPI table, and the high-risk services to follow up;
    its time in the site's ``zone`` (by default the zone of the report's days)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "KPIs"
    sheet.append(["Period", report.period.start.isoformat(), report.period.end.isoformat(), report.period.zone.key])
    sheet.append(["As of", local_time.local_text(report.as_of, zone or report.period.zone)])
    sheet.append([])
    sheet.append(list(HEADER))
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for row in rows(report):
        sheet.append(row)
    follow = book.create_sheet("High-risk PM")
    follow.append(list(SERVICE_HEADER))
    for cell in follow[1]:
        cell.font = Font(bold=True)
    for row in service_rows(report):
        follow.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


#: format -> writer returning bytes
WRITERS: dict[str, Callable[..., bytes]] = {
    "csv": lambda r, zone=None: to_csv(r, zone=zone).encode("utf-8"),
    "xlsx": to_xlsx,
}
