"""Asset QR codes and printable label sheets (PDF).

Every asset's QR code encodes its public URL, ``<public_url>/a/<tag>``: a phone that scans it
opens the asset page for a signed-in user, or the "report a problem" page for anyone else.
Label sheets are A4 pages of 3 x 7 labels (63.5 x 38.1 mm, the common laser-label layout),
each with the QR code drawn as vector squares, so it stays sharp at any printer resolution.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import segno
from fpdf import FPDF

from wardlink.hub.config import HubConfig
from wardlink.hub.services.reports.pdf import latin1_text


@dataclass(frozen=True)
class Label:
    """What one label shows."""

    tag: str
    name: str
    url: str


@dataclass(frozen=True)
class SheetLayout:
    """Label stock geometry in millimetres."""

    columns: int = 3
    rows: int = 7
    label_w: float = 63.5
    label_h: float = 38.1
    left: float = 7.2
    top: float = 15.15
    pitch_x: float = 66.0
    pitch_y: float = 38.1
    padding: float = 2.5

    @property
    def per_page(self) -> int:
        """Return how many labels fit on one sheet."""
        return self.columns * self.rows


A4_3X7 = SheetLayout()


def asset_public_url(config: HubConfig, tag: str) -> str:
    """Return the URL an asset's QR code encodes."""
    return f"{config.resolved_public_url}/a/{quote(tag, safe='')}"


def qr_code(url: str) -> segno.QRCode:
    """Return the QR code of ``url`` (error correction M or better, so a scuffed label still scans)."""
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, *, scale: int = 6) -> bytes:
    """Return the QR code of ``url`` as a standalone SVG document."""
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="svg", scale=scale, border=4, xmldecl=True, svgns=True,
                      title=url, dark="#000", light="#fff")
    return buffer.getvalue()


# The PDF core fonts (Helvetica) cover Latin-1 only.
_latin1 = latin1_text


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    code = qr_code(url)
    rows = [list(row) for row in code.matrix_iter(scale=1, border=0)]
    # Keep two modules of quiet zone inside the square; the label padding adds the rest.
    module = size / (len(rows) + 4)
    x, y = x + 2 * module, y + 2 * module
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # One rectangle per horizontal run keeps the file small; a hair of overlap
                # avoids white seams between runs in some PDF viewers.
                pdf.rect(x + start * module, y + r * module, (c - start) * module + 0.01,
                         module + 0.01, style="F")
            else:
                c += 1


def _wrap(pdf: FPDF, text: str, width: float, max_lines: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if pdf.get_string_width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while pdf.get_string_width(line) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and pdf.get_string_width(line[:cut]) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, len(lines[-1]) - 1)] + "..."
    return lines


def label_sheet_pdf(labels: Sequence[Label], *, site_name: str, layout: SheetLayout = A4_3X7,
                    progress: Callable[[int], None] | None = None) -> bytes:
    """Return a PDF of label sheets for ``labels``; ``progress(n)`` is called per label."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_creator("Wardlink")
    pdf.set_title(_latin1(f"{site_name}: asset labels"))
    pad = layout.padding
    for index, label in enumerate(labels):
        slot = index % layout.per_page
        if slot == 0:
            pdf.add_page()
        x = layout.left + (slot % layout.columns) * layout.pitch_x
        y = layout.top + (slot // layout.columns) * layout.pitch_y
        qr_size = layout.label_h - 2 * pad
        _draw_qr(pdf, label.url, x + pad, y + pad, qr_size)
        text_x = x + pad + qr_size + 2
        text_w = layout.label_w - (text_x - x) - pad
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "B", 11)
        pdf.set_xy(text_x, y + pad + 1)
        tag_size = 11
        while pdf.get_string_width(_latin1(label.tag)) > text_w and tag_size > 6:
            tag_size -= 0.5
            pdf.set_font("Helvetica", "B", tag_size)
        pdf.cell(text_w, 5, _latin1(label.tag))
        pdf.set_font("Helvetica", "", 8)
        line_y = y + pad + 8
        for line in _wrap(pdf, _latin1(label.name), text_w, 4):
            pdf.set_xy(text_x, line_y)
            pdf.cell(text_w, 3.6, line)
            line_y += 3.6
        pdf.set_font("Helvetica", "", 6)
        pdf.set_text_color(60, 60, 60)
        pdf.set_xy(text_x, y + layout.label_h - pad - 6)
        pdf.cell(text_w, 3, _latin1(_wrap(pdf, site_name, text_w, 1)[0] if site_name else ""))
        pdf.set_xy(text_x, y + layout.label_h - pad - 3)
        pdf.cell(text_w, 3, "Scan to report a problem")
        if progress is not None:
            progress(1)
    if not labels:
        pdf.add_page()
    return bytes(pdf.output())
