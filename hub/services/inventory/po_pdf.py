"""A purchase order as a PDF to send to the supplier, in the reader's language, with the
report PDFs' helper for text on paper (:func:`wardlink.hub.services.reports.pdf.cell_text`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fpdf import FPDF, FontFace

from wardlink.hub.db.models import PurchaseOrder
from wardlink.hub.db.vocab import label
from wardlink.hub.i18n import format_date, format_datetime, format_decimal, translate
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.inventory.purchasing import total
from wardlink.hub.services.reports.pdf import cell_text


def _figure(value, locale: str | None) -> str:
    return "-" if value is None else format_decimal(value, locale)


def order_pdf(order: PurchaseOrder, *, site_name: str, zone: ZoneInfo, locale: str | None = None) -> bytes:
    """Return ``order`` as an A4 PDF: the supplier, the number, dates and the lines with their cost."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    heading = translate(locale, "Purchase order %(number)s", number=order.number)
    pdf.set_title(cell_text(heading))
    pdf.set_creator("Wardlink")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, cell_text(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    supplier = order.supplier
    facts = [
        (translate(locale, "From"), site_name),
        (translate(locale, "To"), supplier.name),
        (translate(locale, "Address"), supplier.address.replace("\n", ", ")),
        (translate(locale, "E-mail"), supplier.email),
        (translate(locale, "Phone"), supplier.phone),
        (translate(locale, "Payment terms"), supplier.payment_terms),
        (translate(locale, "Sent"),
         format_datetime(order.sent_at, zone, locale, seconds=False) if order.sent_at else ""),
        (translate(locale, "Delivery expected"), format_date(order.expected_on, locale) if order.expected_on else ""),
    ]
    for name, value in facts:
        if value:
            pdf.set_font("Helvetica", "B", 10)
            pdf.cell(45, 6, cell_text(name))
            pdf.set_font("Helvetica", "", 10)
            pdf.multi_cell(0, 6, cell_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=(28, 62, 30, 22, 24, 24), line_height=5, width=pdf.epw,
                   text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"), repeat_headings=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 242))) as grid:
        head = grid.row()
        for text in (translate(locale, "SKU"), translate(locale, "Part"), translate(locale, "Manufacturer part number"),
                     translate(locale, "Quantity"), translate(locale, "Unit cost"), translate(locale, "Amount")):
            head.cell(cell_text(text), align="CENTER")
        for line in order.lines:
            row = grid.row()
            part = line.part
            row.cell(cell_text(part.sku))
            row.cell(cell_text(part.name))
            row.cell(cell_text(part.manufacturer_part_number))
            quantity = format_decimal(number(line.quantity) or "0", locale)
            row.cell(cell_text(f"{quantity} {translate(locale, label(part.unit))}"))
            row.cell(cell_text(_figure(amount(line.unit_cost), locale)))
            cost = amount(line.quantity * line.unit_cost) if line.unit_cost is not None else None
            row.cell(cell_text(_figure(cost, locale)))
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, cell_text(translate(locale, "Total: %(total)s", total=_figure(amount(total(order)), locale))),
             align="R", new_x="LMARGIN", new_y="NEXT")
    if order.notes:
        pdf.ln(3)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, cell_text(order.notes), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
