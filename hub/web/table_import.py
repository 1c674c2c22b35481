"""Reading an uploaded table (CSV or Excel) into rows, for the bulk imports (assets, parts).

Rows are dicts keyed by the header row (case and spaces ignored: ``Unit cost`` is
``unit_cost``); cells are text as people typed them (Excel dates as ``YYYY-MM-DD``, whole
numbers without ``.0``). Blank rows are skipped. A file that cannot be read, names unknown
columns, lacks a required one or holds too many rows raises :class:`ImportFileError` naming
the problem; what each row means is the importing area's business.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator

from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.i18n import N_

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


class ImportFileError(InvalidInput):
    """The uploaded file cannot be read as the table an import expects."""


def column_key(name: object) -> str:
    """Return the key of a header cell: trimmed, lower case, spaces as underscores."""
    return str(name or "").strip().lower().replace(" ", "_")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]  # Excel dates arrive as datetimes; imports take dates
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(filename: str, content: bytes, *, columns: Collection[str], required: Collection[str],
               max_rows: int, what: str) -> list[dict[str, str]]:
    """Return the data rows of a CSV or Excel file as dicts keyed by column; ``what`` names a row
    in messages (``assets``)."""
    table = _excel_rows(content) if filename.lower().endswith(EXCEL_SUFFIXES) else _csv_rows(content)
    try:
        header = [column_key(h) for h in next(table)]
    except StopIteration:
        raise ImportFileError(N_("file: is empty; the first row must name the columns")) from None
    if not set(required) <= set(header):
        named = " and ".join(f"'{c}'" for c in required)
        raise ImportFileError(N_("file: the header row must have at least %(named)s, got %(header)s"),
                              named=named, header=header[:8])
    unknown = [h for h in header if h and h not in columns]
    if unknown:
        raise ImportFileError(N_("file: unknown column(s) %(choices)s; known: %(choices2)s"),
                              choices=', '.join(unknown), choices2=', '.join(columns))
    rows = []
    for values in table:
        cells = [_cell(v) for v in values]
        if not any(cells):
            continue
        rows.append({h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h})
        if len(rows) > max_rows:
            raise ImportFileError(N_("file: more than %(max_rows)s %(what)s; split it into smaller files"),
                                  max_rows=max_rows, what=Message(what))
    return rows


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(N_("file: is not UTF-8 text; save the CSV as UTF-8 (or upload .xlsx)")) from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return iter(list(csv.reader(io.StringIO(text), dialect)))


def _excel_rows(content: bytes) -> Iterator[tuple]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises a zoo of zip/XML errors for damaged files
        raise ImportFileError(N_("file: cannot be read as an Excel workbook (%(type)s)"),
                              type=type(exc).__name__) from None
    return iter(list(book.worksheets[0].iter_rows(values_only=True)))
