"""Bulk import of assets from CSV or Excel, row by row, with a report of the rows refused.

Rows are read into dicts keyed by the header row (case and spaces ignored). ``department``
may be given as a department code or name; ``location_id``/``department_id`` as numbers.
Each row is created in its own savepoint through :func:`wardlink.hub.services.assets.register.create_asset`,
so a bad row is reported with its number and the reason, and every good row is kept.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy.orm import Session

from wardlink.hub.db import session_scope
from wardlink.hub.errors import HubError, InvalidInput, Message, Plural
from wardlink.hub.i18n import N_
from wardlink.hub.web.table_import import read_table
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.reports.export import safe_cell
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.clock import Clock

#: Columns the import understands, in the order of the template file.
COLUMNS = ("tag", "name", "category", "make", "model", "serial", "product_code", "department", "location_id",
           "owner_type", "purchase_date", "purchase_cost", "warranty_end", "install_date",
           "useful_life_years", "salvage_value", "replacement_cost", "lifecycle_stage", "equipment_status",
           "maintenance_status", "life_support",
           "equipment_function", "physical_risk", "maintenance_requirement", "incident_history", "notes")
MAX_ROWS = 20_000
#: Rows committed together; a crash loses at most one batch, never a half-written row.
BATCH = 250


def template_csv() -> str:
    """Return the header row (and one example row) of an import file."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(["IP-0100", "Infusion pump", "infusion_pump", "Acme", "IP-5", "SN12345", "FRN", "ICU", "",
                     "hospital", "2024-03-01", "1850.00", "2027-03-01", "2024-03-10", "in_use",
                     "in_service", "compliant", "no", "8", "4", "3", "0", ""])
    return out.getvalue()


def read_rows(filename: str, content: bytes) -> list[dict[str, str]]:
    """Return the data rows of a CSV or Excel file as dicts keyed by lower-case header."""
    return read_table(filename, content, columns=(*COLUMNS, "department_id"), required=("tag", "name"),
                      max_rows=MAX_ROWS, what=N_("rows"))


def _departments(session: Session) -> dict[str, int]:
    out = {}
    for d in org.list_departments(session):
        out[d.code.lower()] = d.id
        out[d.name.lower()] = d.id
    return out


def _asset_data(row: dict[str, str], departments: dict[str, int]) -> dict:
    data = {k: v for k, v in row.items() if k != "department" and v != ""}
    name = row.get("department", "")
    if name:
        if name.lower() not in departments:
            raise InvalidInput(N_("department: no department with code or name %(name)r"), name=name)
        data["department_id"] = departments[name.lower()]
    return data


def import_job(engine, actor: Actor, clock: Clock, rows: list[dict[str, str]]):
    """Return the job function that creates one asset per row."""
    def run(progress: Progress) -> JobResult:
        progress.total(len(rows))
        problems: list[str] = []
        report = io.StringIO()
        writer = csv.writer(report)
        writer.writerow(["row", "tag", "error"])
        created = 0
        for start in range(0, len(rows), BATCH):
            with session_scope(engine) as session:
                departments = _departments(session)
                for offset, row in enumerate(rows[start:start + BATCH]):
                    number = start + offset + 2  # spreadsheet row: 1 is the header
                    try:
                        with session.begin_nested():
                            assets.create_asset(session, _asset_data(row, departments), actor=actor, clock=clock)
                        created += 1
                    except HubError as exc:
                        problems.append(Message(N_("row %(row)s (%(tag)s): %(error)s"), row=number,
                                                error=exc.message,
                                                tag=row.get("tag") or Message(N_("no tag"))))
                        writer.writerow([number, safe_cell(row.get("tag", "")), safe_cell(str(exc))])
                    progress.advance(message=Message(N_("row %(row)s"), row=number))
        summary = Message(N_("%(imported)s, %(refused)s."),
                          imported=Plural("%(num)s asset imported", "%(num)s assets imported", created, num=created),
                          refused=Plural("%(num)s row refused", "%(num)s rows refused", len(problems),
                                         num=len(problems)))
        if not problems:
            return JobResult(summary=summary)
        return JobResult(summary=summary, filename="asset-import-errors.csv", mimetype="text/csv",
                         content=report.getvalue().encode(), problems=tuple(problems[:500]))
    return run
