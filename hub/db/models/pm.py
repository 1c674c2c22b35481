"""Preventive maintenance: checklist templates and their versions, PM plans, the occurrences
the generator creates from them, meter readings, checklist results, and the scheduler's lease.

An occurrence is one due service of one plan on one asset. Its ``(plan, asset, seq)`` and
``(plan, asset, due_date)`` are unique, so two generators racing can never both create the
same occurrence: the loser's insert fails and it moves on.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.users import User
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import PM_INTERVAL_UNITS, PM_OCCURRENCE_STATES, PM_TRIGGERS, WORK_ORDER_PRIORITIES


class ChecklistTemplate(Base):
    """A named checklist; its items live in immutable versions."""

    __tablename__ = "checklist_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    versions: Mapped[list[ChecklistVersion]] = relationship(
        back_populates="template", order_by="ChecklistVersion.version")


class ChecklistVersion(Base):
    """One frozen list of checklist items; work orders keep the version they were done with."""

    __tablename__ = "checklist_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_templates.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))

    template: Mapped[ChecklistTemplate] = relationship(back_populates="versions")


class PmPlan(Base):
    """What to service, how often, and with which checklist.

    A plan covers one asset, or every asset of one make and model. Calendar plans keep a
    fixed grid counted from ``anchor_date``; meter and whichever-first plans count from the
    last completed service (see :mod:`wardlink.hub.services.maintenance.pm_schedule`).
    """

    __tablename__ = "pm_plans"
    __table_args__ = (
        choice_check("trigger", PM_TRIGGERS),
        choice_check("interval_unit", PM_INTERVAL_UNITS, nullable=True),
        choice_check("priority", WORK_ORDER_PRIORITIES),
        CheckConstraint("(asset_id IS NOT NULL AND make IS NULL AND model IS NULL) OR "
                        "(asset_id IS NULL AND make IS NOT NULL AND model IS NOT NULL)",
                        name="target"),
        CheckConstraint("lead_days >= 0", name="lead_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    make: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(16))
    interval_count: Mapped[int | None] = mapped_column(Integer)
    interval_unit: Mapped[str | None] = mapped_column(String(8))
    meter: Mapped[str | None] = mapped_column(String(64))
    meter_interval: Mapped[float | None] = mapped_column(Float)
    meter_lead: Mapped[float] = mapped_column(Float, default=0.0)
    anchor_date: Mapped[date] = mapped_column(Date)
    anchor_meter: Mapped[float | None] = mapped_column(Float)
    lead_days: Mapped[int] = mapped_column(Integer, default=14)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    checklist_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("checklist_templates.id", ondelete="RESTRICT"))
    instructions: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who does the work: one technician, a team, or a vendor (at most one of the three). The
    # user id carries no foreign key: SQLite cannot add one to a table its services point at
    # without rebuilding it; the plans service checks the user exists, and users are never
    # deleted (they are deactivated).
    assignee_id: Mapped[int | None] = mapped_column(Integer, index=True)
    assignee_team: Mapped[str | None] = mapped_column(String(100))
    assignee_vendor: Mapped[str | None] = mapped_column(String(200))
    # What each service should take: parts ({part_number, description, quantity}) and minutes.
    planned_parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    planned_minutes: Mapped[int | None] = mapped_column(Integer)
    # A retired plan is kept for its history but never schedules again.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    asset: Mapped[Asset | None] = relationship()
    checklist_template: Mapped[ChecklistTemplate | None] = relationship()
    assignee: Mapped[User | None] = relationship(primaryjoin="foreign(PmPlan.assignee_id) == User.id",
                                                 viewonly=True)


class PmOccurrence(Base):
    """One due service of a plan on an asset, and the work order generated for it."""

    __tablename__ = "pm_occurrences"
    __table_args__ = (
        UniqueConstraint("plan_id", "asset_id", "seq"),
        UniqueConstraint("plan_id", "asset_id", "due_date"),
        choice_check("state", PM_OCCURRENCE_STATES),
        Index("ix_pm_occurrences_asset_state", "asset_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("pm_plans.id", ondelete="RESTRICT"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    due_meter: Mapped[float | None] = mapped_column(Float)
    # Frozen when generated, so editing a plan never re-judges services already scheduled.
    window_days: Mapped[int] = mapped_column(Integer)
    meter_tolerance: Mapped[float | None] = mapped_column(Float)
    high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="open")
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="RESTRICT"), unique=True)
    checklist_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("checklist_versions.id", ondelete="RESTRICT"))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_on: Mapped[date | None] = mapped_column(Date)
    completion_meter: Mapped[float | None] = mapped_column(Float)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[PmPlan] = relationship()
    asset: Mapped[Asset] = relationship()
    work_order: Mapped[WorkOrder | None] = relationship()
    checklist_version: Mapped[ChecklistVersion | None] = relationship()


class MeterReading(Base):
    """A meter value read off a device (its own hour or cycle counter), by a person.

    ``telemetry_seconds`` is the telemetry-fed meter of the same name at that moment, so the
    current value is this reading plus whatever telemetry has counted since.
    """

    __tablename__ = "meter_readings"
    __table_args__ = (Index("ix_meter_readings_asset_meter_at", "asset_id", "meter", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    meter: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())
    telemetry_seconds: Mapped[float | None] = mapped_column(Float)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"))
    entered_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class ChecklistResult(Base):
    """The checklist as filled in on a work order, against the version it was generated with."""

    __tablename__ = "checklist_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               unique=True)
    checklist_version_id: Mapped[int] = mapped_column(
        ForeignKey("checklist_versions.id", ondelete="RESTRICT"))
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    complete: Mapped[bool] = mapped_column(Boolean)
    meter_value: Mapped[float | None] = mapped_column(Float)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    checklist_version: Mapped[ChecklistVersion] = relationship()


class SchedulerLease(Base):
    """Who leads the scheduler, until when (the lock where the database has no session lock)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SchedulerJob(Base):
    """The last run of each scheduler job, for operators and the health page."""

    __tablename__ = "scheduler_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
