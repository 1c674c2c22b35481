"""Importing parts from a table (CSV or Excel, read by the web layer into rows of text).

A row whose SKU is new adds a part; a row whose SKU exists changes that part (only the columns
given: an empty cell leaves the field as it is). ``preferred_supplier`` names a supplier
(without case), ``models`` lists the equipment the part fits as ``Make/Model; Make/Model``.
With ``bin`` (``LOCATION/BIN``) and ``quantity`` the row also receives that much opening stock
into the bin. Each row runs in its own savepoint: a refused row is reported with its number,
SKU and reason, and every good row is kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.errors import HubError, InvalidInput, Message, Plural
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.inventory import catalogue, ledger, storage, suppliers
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.reports.export import safe_cell
from wardlink.clock import Clock

#: Columns an import file may have, in the order of the template.
COLUMNS = ("sku", "name", "description", "manufacturer", "manufacturer_part_number", "category", "unit",
           "unit_cost", "reorder_level", "reorder_quantity", "preferred_supplier", "models", "active", "bin",
           "quantity")
REQUIRED = ("sku", "name")
MAX_ROWS = 20_000


@dataclass
class ImportReport:
    """What an import did: parts added and changed, and each refused row with its reason."""

    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    #: Each refused row's reason as a message, for pages in the reader's language (same order).
    reasons: list[Message] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """Return one line saying what happened, in English (the JSON API)."""
        return str(self.said)

    @property
    def said(self) -> Message:
        """Return one line saying what happened, as a message for the reader's language."""
        refused = len(self.errors)
        return Message(N_("%(added)s, %(changed)s, %(refused)s."),
                       added=Plural("%(num)s part added", "%(num)s parts added", self.created, num=self.created),
                       changed=Plural("%(num)s changed", "%(num)s changed", self.updated, num=self.updated),
                       refused=Plural("%(num)s row refused", "%(num)s rows refused", refused, num=refused))

    def error_csv(self) -> str:
        """Return the refused rows as CSV: row, sku, error (cells safe to open in a spreadsheet)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row", "sku", "error"])
        for number, sku, message in self.errors:
            writer.writerow([number, safe_cell(sku), safe_cell(message)])
        return out.getvalue()


def template_csv() -> str:
    """Return the header row and one example row of an import file."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(["FLT-100", "Air filter, ventilator intake", "", "Hamilton Medical", "281555", "Filters",
                     "each", "12.50", "4", "20", "Medparts Ltd", "Hamilton/C6; Hamilton/C3", "yes",
                     "BME-STORE/A-1", "12"])
    return out.getvalue()


def _part_data(session: Session, row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in row.items() if k in catalogue.FIELDS and v != ""}
    if row.get("preferred_supplier"):
        supplier = suppliers.find_supplier(session, row["preferred_supplier"])
        if supplier is None:
            raise InvalidInput(N_("preferred_supplier: no supplier named %(preferred_supplier)r"),
                               preferred_supplier=row['preferred_supplier'])
        data["preferred_supplier_id"] = supplier.id
    if row.get("models"):
        data["models"] = row["models"]
    return data


def _row(session: Session, row: dict[str, str], actor: Actor, clock: Clock) -> bool:
    """Add or change the row's part (and receive its opening stock); return True when it was new."""
    data = _part_data(session, row)
    existing = catalogue.find_part(session, row.get("sku", ""))
    if existing is None:
        part = catalogue.create_part(session, data, actor=actor, clock=clock)
    else:
        part = catalogue.update_part(session, existing.id, data, actor=actor, clock=clock)
    if row.get("bin") or row.get("quantity"):
        place = storage.find_bin(session, row.get("bin", ""))
        if place is None:
            raise InvalidInput(N_("bin: no bin %(value)r; write it as LOCATION/BIN, e.g. BME-STORE/A-1"),
                               value=row.get('bin', ''))
        ledger.receive(session, part.id, bin_id=place.id, quantity=row.get("quantity"),
                       reason="Opening stock (import)", actor=actor, clock=clock)
    return existing is None


def import_rows(session: Session, rows: list[dict[str, str]], *, actor: Actor, clock: Clock,
                report: ImportReport | None = None, first_row: int = 2) -> ImportReport:
    """Add or change one part per row, each in a savepoint; return the report (``first_row`` is
    the spreadsheet number of the first row: 2, below the header)."""
    require(actor, "part.manage")
    report = report if report is not None else ImportReport()
    for offset, row in enumerate(rows):
        number = first_row + offset
        try:
            with session.begin_nested():
                new = _row(session, row, actor, clock)
        except HubError as exc:
            report.errors.append((number, row.get("sku", ""), str(exc)))
            report.reasons.append(exc.message)
            continue
        if new:
            report.created += 1
        else:
            report.updated += 1
    return report
