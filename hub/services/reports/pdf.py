"""The KPI report as a printable PDF (CSV and Excel come from :mod:`wardlink.hub.services.reports.export`).

The reports page exports it on request; the scheduler stores one each month
(:mod:`wardlink.hub.services.reports.monthly`) and mails it to the managers.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fpdf import FPDF, FontFace

from wardlink.hub.i18n import format_date, format_datetime, translate
from wardlink.hub.services.reports import export
from wardlink.hub.services.reports.kpis import KpiReport

#: column -> heading on paper (the labels of the pages); the figures people read first.
PDF_COLUMNS = tuple((name, export.LABELS[name]) for name in (
    "pm_completion_pct", "pm_on_time_pct", "high_risk_on_time_pct", "pm_overdue", "failures", "mtbf_hours",
    "mttr_hours", "downtime_hours", "uptime_pct", "availability_pct", "backlog_total", "work_orders_overdue",
    "resolution_breach_rate_pct"))


#: Letters and signs the PDF's built-in (Latin-1) fonts lack, written the way print did before them.
_LATIN1_STAND_INS = str.maketrans({"\u0153": "oe", "\u0152": "OE", "\u2019": "'", "\u2018": "'", "\u201c": '"',
                                   "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u20ac": "EUR",
                                   "\u202f": " ", "\u2212": "-", "\u2264": "<=", "\u2265": ">="})


def cell_text(value) -> str:
    """Return a figure or a text as the PDF prints it (one decimal for fractions, ``-`` for none;
    "œ" as "oe" and the like, "?" for anything else the Latin-1 fonts lack)."""
    if value is None or value == "":
        return "-"
    return latin1_text(f"{value:.1f}" if isinstance(value, float) else str(value))


def latin1_text(text: str) -> str:
    """Return ``text`` as the PDF's built-in fonts print it: "œ" as "oe" and the like, "?" for
    anything else outside Latin-1 (rather than failing the whole document)."""
    return text.translate(_LATIN1_STAND_INS).encode("latin-1", "replace").decode("latin-1")


def report_pdf(report: KpiReport, *, site_name: str, zone: ZoneInfo | None = None, title: str = "",
               locale: str | None = None) -> bytes:
    """Return the KPI table of ``report`` as an A4 landscape PDF in ``locale``'s language, its time
    in the site's ``zone`` (by default the zone of the report's days; ``title`` replaces the
    heading's "maintenance KPIs")."""
    zone = zone or report.period.zone
    header = export.HEADER
    index = {name: i for i, name in enumerate(header)}
    table = export.rows(report)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    heading = site_name + ": " + (title or translate(locale, "maintenance KPIs"))
    pdf.set_title(cell_text(heading))
    pdf.set_creator("Wardlink")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, cell_text(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    scope = report.department.name if report.department is not None else translate(locale, "all departments")
    pdf.cell(0, 5, cell_text(translate(
        locale, "Period %(start)s to %(end)s (%(zone)s), %(scope)s; figures as of %(time)s",
        start=format_date(report.period.start, locale), end=format_date(report.period.end, locale),
        zone=report.period.zone.key, scope=scope, time=format_datetime(report.as_of, zone, locale, seconds=False))),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    # fpdf2's table wraps each heading within its column (a heading wider than its column
    # would run into its neighbours) and repeats the headings on every page.
    first_w, col_w = 34.0, (pdf.w - pdf.l_margin - pdf.r_margin - 34.0) / len(PDF_COLUMNS)
    pdf.set_font("Helvetica", "", 8)
    with pdf.table(col_widths=(first_w, *[col_w] * len(PDF_COLUMNS)), line_height=4.5, width=pdf.epw,
                   text_align=("LEFT", *["RIGHT"] * len(PDF_COLUMNS)), repeat_headings=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 242), size_pt=7.5)) as grid:
        head_row = grid.row()
        head_row.cell(cell_text(translate(locale, "Department")), align="LEFT")
        for _, label in PDF_COLUMNS:
            head_row.cell(cell_text(translate(locale, label)), align="CENTER")
        for n, row in enumerate(table):
            line = grid.row(style=FontFace(emphasis="BOLD") if n == 0 else None)
            line.cell(cell_text(row[index["department"]]))
            for name, _ in PDF_COLUMNS:
                line.cell(cell_text(row[index[name]]))
    services = export.service_rows(report)
    if services:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, cell_text(translate(locale, "High-risk services not done on time")), new_x="LMARGIN",
                 new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        for row in services:
            pdf.cell(0, 5, cell_text(" | ".join(cell_text(v) for v in row)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
