"""Tables written out as CSV or Excel, row by row.

An export is a :class:`Table`: a title, the column headers, how many rows to expect (for
progress) and an iterator of rows that reads the database in batches. :func:`write` streams
the rows into the file as they come: CSV through a text writer, Excel through openpyxl's
write-only workbook (rows go to a temporary file, not a sheet held in memory), so even a
large export holds one batch of records at a time. Every text cell passes through
:func:`~wardlink.hub.services.reports.export.safe_cell`.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.reports.export import CONTENT_TYPES, safe_cell

FORMATS = ("csv", "xlsx")
#: How often (in rows) the writer reports progress.
PROGRESS_EVERY = 200


@dataclass
class Sheet:
    """One sheet of a workbook: its name, header and rows."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]


@dataclass
class Table:
    """What an export writes: the main sheet, notes above it in Excel, further sheets (Excel
    only), a file name without suffix, and the expected row count."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    filename: str
    total: int | None = None
    notes: Sequence[tuple[str, str]] = ()
    extra: list[Sheet] = field(default_factory=list)


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is an export format, else raise :class:`InvalidInput`."""
    if fmt not in FORMATS:
        raise InvalidInput(N_("format: must be one of %(choices)s, got %(fmt)r"), choices=', '.join(FORMATS), fmt=fmt)
    return fmt


def content_type(fmt: str) -> str:
    """Return the MIME type of a format."""
    return CONTENT_TYPES[check_format(fmt)]


def _cell(value: Any, fmt: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if fmt == "xlsx" else value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value if fmt == "xlsx" else value.isoformat()
    return safe_cell(value)


def _counted(rows: Iterable[Sequence[Any]], tick: Callable[[int], None] | None) -> Iterator[Sequence[Any]]:
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if tick is not None and pending >= PROGRESS_EVERY:
            tick(pending)
            pending = 0
    if tick is not None and pending:
        tick(pending)


def write_csv(table: Table, out: io.TextIOBase, tick: Callable[[int], None] | None = None) -> None:
    """Write the main sheet of ``table`` to ``out`` as CSV (RFC 4180 line ends)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in _counted(table.rows, tick):
        writer.writerow([_cell(v, "csv") for v in row])


def csv_chunks(table: Table) -> Iterator[bytes]:
    """Yield ``table`` as UTF-8 CSV in chunks of rows (for a streamed HTTP response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for n, row in enumerate(table.rows, 1):
        writer.writerow([_cell(v, "csv") for v in row])
        if n % PROGRESS_EVERY == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _sheet(book, sheet: Sheet, notes: Sequence[tuple[str, str]], tick, first: bool) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    ws = book.create_sheet(sheet.name[:31])
    for label, value in notes:
        ws.append([label, safe_cell(value)])
    if notes:
        ws.append([])
    bold = Font(bold=True)
    header = []
    for name in sheet.header:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in _counted(sheet.rows, tick if first else None):
        ws.append([_cell(v, "xlsx") for v in row])


def write_xlsx(table: Table, tick: Callable[[int], None] | None = None) -> bytes:
    """Return ``table`` as an Excel workbook: the main sheet (notes, header, rows) and any
    further sheets, written through a temporary file."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    _sheet(book, Sheet(table.name, table.header, table.rows), table.notes, tick, True)
    for extra in table.extra:
        _sheet(book, extra, (), None, False)
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        return handle.read()


def write(table: Table, fmt: str, tick: Callable[[int], None] | None = None) -> bytes:
    """Return ``table`` as a file of format ``fmt`` (``csv`` or ``xlsx``); ``tick(n)`` is
    called as rows are written."""
    if check_format(fmt) == "xlsx":
        return write_xlsx(table, tick)
    with tempfile.TemporaryFile() as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        write_csv(table, text, tick)
        text.flush()
        handle.seek(0)
        data = handle.read()
        text.detach()
        return data
