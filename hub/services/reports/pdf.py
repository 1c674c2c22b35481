"""The KPI report as a printable PDF (CSV and Excel come from :mod:`wardlink.hub.services.reports.export`).

The reports page exports it on request; the scheduler stores one each month
(:mod:`wardlink.hub.services.reports.monthly`) and mails it to the managers.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fpdf import FPDF

from wardlink.hub.services.people import local_time
from wardlink.hub.services.reports import export
from wardlink.hub.services.reports.kpis import KpiReport

#: column -> heading on paper; the figures people read first.
PDF_COLUMNS = (
    ("pm_completion_pct", "PM done %"), ("pm_on_time_pct", "PM on time %"),
    ("high_risk_on_time_pct", "High-risk on time %"), ("pm_overdue", "PM overdue"),
    ("failures", "Failures"), ("mtbf_hours", "MTBF h"), ("mttr_hours", "MTTR h"),
    ("downtime_hours", "Downtime h"), ("uptime_pct", "Uptime %"), ("availability_pct", "Availability %"),
    ("backlog_total", "Backlog"),
    ("work_orders_overdue", "WO overdue"), ("resolution_breach_rate_pct", "SLA breach %"),
)


def cell_text(value) -> str:
    """Return a figure as the PDF prints it (one decimal for fractions, ``-`` for none)."""
    if value is None or value == "":
        return "-"
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return text.encode("latin-1", "replace").decode("latin-1")


def report_pdf(report: KpiReport, *, site_name: str, zone: ZoneInfo | None = None, title: str = "") -> bytes:
    """Return the KPI table of ``report`` as an A4 landscape PDF, its time in the site's ``zone``
    (``title`` replaces the heading's "maintenance KPIs")."""
    header = export.HEADER
    index = {name: i for i, name in enumerate(header)}
    table = export.rows(report)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    heading = f"{site_name}: {title or 'maintenance KPIs'}"
    pdf.set_title(cell_text(heading))
    pdf.set_creator("Wardlink")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, cell_text(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    scope = report.department.name if report.department is not None else "all departments"
    pdf.cell(0, 5, cell_text(f"Period {report.period.start.isoformat()} to {report.period.end.isoformat()}, "
                         f"{scope}; figures as of "
                         f"{local_time.local_text(report.as_of, zone or local_time.UTC_ZONE, seconds=False)}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    first_w, col_w = 34.0, (pdf.w - pdf.l_margin - pdf.r_margin - 34.0) / len(PDF_COLUMNS)
    pdf.set_font("Helvetica", "B", 7.5)
    pdf.set_fill_color(234, 238, 242)
    pdf.cell(first_w, 9, "Department", border=1, fill=True)
    for _, heading in PDF_COLUMNS:
        pdf.cell(col_w, 9, heading, border=1, fill=True, align="C")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for n, row in enumerate(table):
        pdf.set_font("Helvetica", "B" if n == 0 else "", 8)
        pdf.cell(first_w, 7, cell_text(row[index["department"]]), border=1)
        for name, _ in PDF_COLUMNS:
            pdf.cell(col_w, 7, cell_text(row[index[name]]), border=1, align="R")
        pdf.ln()
    services = export.service_rows(report)
    if services:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, "High-risk services not done on time", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        for row in services:
            pdf.cell(0, 5, cell_text(" | ".join(cell_text(v) for v in row)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
