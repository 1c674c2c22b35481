"""The monthly repairs list as files: an Excel workbook (the repairs, the parts used and the cost
per asset, one sheet each) through :mod:`wardlink.hub.services.reports.tables`, and a printable
A4 PDF. Times are the site's local time; headings are in the reader's language."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fpdf import FPDF, FontFace

from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_, format_date, format_datetime, translate
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.reports.export import CONTENT_TYPES
from wardlink.hub.services.reports.pdf import cell_text
from wardlink.hub.services.reports.repairs import Repair, RepairsReport
from wardlink.hub.services.reports.tables import Sheet, Table, write

REPAIR_COLUMNS = ("department", "work_order", "asset", "asset_name", "title", "completed", "outcome", "parts",
                  "delays", "parts_cost", "labour_cost", "vendor_cost", "total_cost")
PART_COLUMNS = ("part", "name", "quantity", "unit", "repairs", "cost")
ASSET_COLUMNS = ("asset", "name", "department", "repairs", "parts_cost", "labour_cost", "vendor_cost",
                 "total_cost")

#: Headings of the PDF's tables (translated when written).
REPAIR_HEAD = (N_("Work order"), N_("Asset"), N_("Title"), N_("Completed"), N_("Parts and consumables"),
               N_("Reasons for delay"), N_("Cost"))
PART_HEAD = (N_("Part"), N_("Name"), N_("Quantity"), N_("Repairs"), N_("Cost"))
ASSET_HEAD = (N_("Asset"), N_("Name"), N_("Department"), N_("Repairs"), N_("Parts"), N_("Labour"), N_("Total"))


def parts_text(repair: Repair) -> str:
    """Return the parts of a repair in one line: ``2 x FLT-100 Air filter; 1 x GASK-1 Door gasket``."""
    return "; ".join(f"{number(p.quantity)} x {p.number} {p.name}".strip() for p in repair.parts)


def delays_text(repair: Repair, report: RepairsReport, locale: str | None = None) -> str:
    """Return the reasons for delay of a repair in one line, with when each began (local time)."""
    zone = report.period.zone
    return "; ".join(f"{translate(locale, label(d.kind))} {format_datetime(d.started_at, zone, locale, seconds=False)}"
                     f": {d.reason}" for d in repair.delays)


def _repair_row(repair: Repair, report: RepairsReport) -> list[Any]:
    order, cost = repair.order, repair.cost
    return [order.department.name if order.department else "", repair.code, order.asset.tag if order.asset else "",
            order.asset.name if order.asset else "", order.title,
            order.completed_at.astimezone(report.period.zone), label(order.resolution_category or ""),
            parts_text(repair), delays_text(repair, report), cost.parts, cost.labour, cost.vendor, cost.total]


def repairs_table(report: RepairsReport) -> Table:
    """Return the repairs list as a table (the Excel export): repairs first, then two sheets."""
    scope = report.department.name if report.department else "all departments"
    parts = [[p.number, p.name, p.quantity, p.unit, p.repairs, p.cost] for p in report.parts()]
    assets = [[a.tag, a.name, a.department, a.repairs, a.parts, a.labour, a.vendor, a.total] for a in report.assets()]
    rows = [_repair_row(r, report) for r in report.repairs]
    return Table(name="Monthly repairs", header=REPAIR_COLUMNS, rows=rows,
                 filename=f"repairs-{report.key}" + (f"-{report.department.code}" if report.department else ""),
                 total=len(rows),
                 notes=(("Month", report.key), ("Scope", scope), ("Time zone", report.period.zone.key),
                        ("Total cost", amount(report.total) or "0.00")),
                 extra=[Sheet("Parts used", PART_COLUMNS, parts), Sheet("Cost per asset", ASSET_COLUMNS, assets)])


def _money(value: Decimal | None) -> str:
    return "-" if value is None else amount(value) or "-"


def _table(pdf: FPDF, widths: tuple[float, ...], head: list[str], rows: list[list[str]]) -> None:
    pdf.set_font("Helvetica", "", 7.5)
    with pdf.table(col_widths=widths, line_height=4, width=pdf.epw, repeat_headings=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 242))) as grid:
        line = grid.row()
        for text in head:
            line.cell(cell_text(text))
        for row in rows:
            line = grid.row()
            for text in row:
                line.cell(cell_text(text))


def _heading(pdf: FPDF, text: str, size: float = 11) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", size)
    pdf.cell(0, 7, cell_text(text), new_x="LMARGIN", new_y="NEXT")


def repairs_pdf(report: RepairsReport, *, site_name: str, month_name: str, locale: str | None = None) -> bytes:
    """Return the repairs list as an A4 landscape PDF in ``locale``'s language."""
    t = lambda text, **kw: translate(locale, text, **kw)  # noqa: E731
    zone = report.period.zone
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    title = f"{site_name}: {t(N_('repairs of %(month)s'), month=month_name)}"
    pdf.set_title(cell_text(title))
    pdf.set_creator("Wardlink")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, cell_text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    scope = report.department.name if report.department else t(N_("all departments"))
    pdf.cell(0, 5, cell_text(t(N_("%(scope)s; %(count)s repairs; total cost %(total)s; times in %(zone)s"),
                               scope=scope, count=len(report.repairs), total=_money(report.total), zone=zone.key)),
             new_x="LMARGIN", new_y="NEXT")
    head = [t(h) for h in REPAIR_HEAD]
    for group in report.departments:
        _heading(pdf, (group.department.name if group.department else t(N_("No department")))
                 + f" ({_money(group.total)})")
        _table(pdf, (22, 30, 45, 26, 60, 65, 18), head, [
            [r.code, f"{r.order.asset.tag if r.order.asset else ''}", r.order.title,
             format_datetime(r.order.completed_at, zone, locale, seconds=False), parts_text(r),
             delays_text(r, report, locale) or "-", _money(r.cost.total)] for r in group.repairs])
    if not report.repairs:
        pdf.cell(0, 6, cell_text(t(N_("No repair was completed in the month."))), new_x="LMARGIN", new_y="NEXT")
    _heading(pdf, t(N_("Parts and consumables used")))
    _table(pdf, (40, 120, 30, 30, 46), [t(h) for h in PART_HEAD],
           [[p.number, p.name, f"{number(p.quantity)} {t(label(p.unit))}", str(p.repairs), _money(p.cost)]
            for p in report.parts()])
    _heading(pdf, t(N_("Cost per asset")))
    _table(pdf, (30, 80, 50, 20, 28, 28, 30), [t(h) for h in ASSET_HEAD],
           [[a.tag, a.name, a.department, str(a.repairs), _money(a.parts), _money(a.labour), _money(a.total)]
            for a in report.assets()])
    pdf.set_font("Helvetica", "", 7)
    pdf.cell(0, 6, cell_text(t(N_("Period %(start)s to %(end)s"), start=format_date(report.period.start, locale),
                               end=format_date(report.period.end, locale))), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


#: Formats the repairs list is written in, with their MIME types.
FILE_TYPES = {"pdf": "application/pdf", "xlsx": CONTENT_TYPES["xlsx"], "csv": CONTENT_TYPES["csv"]}


def repairs_file(report: RepairsReport, fmt: str, *, site_name: str, month_name: str,
                 locale: str | None = None) -> tuple[bytes, str, str]:
    """Return (content, file name, MIME type) of the repairs list as ``pdf``, ``xlsx`` or ``csv`` (the
    repairs sheet alone)."""
    if fmt not in FILE_TYPES:
        raise InvalidInput(f"format: must be one of {', '.join(FILE_TYPES)}, got {fmt!r}")
    table = repairs_table(report)
    content = (repairs_pdf(report, site_name=site_name, month_name=month_name, locale=locale) if fmt == "pdf"
               else write(table, fmt))
    return content, f"{table.filename}.{fmt}", FILE_TYPES[fmt]
