"""What the scheduler made on a calendar: the daily digests and the monthly KPI reports.

A :class:`ScheduledRun` marks one run of a calendar job done (``kind`` and ``period``, e.g.
``digest`` and ``2026-03-29@Europe/Berlin``, or ``monthly_report`` and ``2026-02``); its unique
key makes the run happen once however many schedulers there are or how often they restart.
A :class:`MonthlyReport` is one stored KPI report (PDF) of one month, hospital-wide or for one
department. The file is kept in the database with its row: it is small, and every hub
process (scheduler, web, mailer) can then read it wherever it runs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.types import UTCDateTime


class ScheduledRun(Base):
    """One run of a calendar job, done once per ``(kind, period)``."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_scheduled_runs_kind_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(80))
    holder: Mapped[str] = mapped_column(String(128), default="")
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MonthlyReport(Base):
    """The KPI report of one month as a PDF, for the whole hospital (``scope`` ``all``) or one
    department (``scope`` ``dept:<id>``)."""

    __tablename__ = "monthly_reports"
    __table_args__ = (UniqueConstraint("month", "scope", name="uq_monthly_reports_month_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    scope: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"),
                                                      index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department | None] = relationship()
