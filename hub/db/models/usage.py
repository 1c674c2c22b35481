"""Usage of equipment: sessions of use, each asset's usage status, the knowledge shown before
use (per category, overridden per make and model) with its manuals, people's training records,
and rentals and loaners.

The tables only; the rules (who may start what, what blocks a start, the keyed hash of an
encounter reference, what a rental has cost) live in :mod:`wardlink.hub.services.usage`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, Numeric,
                        String, Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.models.users import User
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import RENTAL_KINDS, RENTAL_STATES, USAGE_MEASURE_MODES, USAGE_SOURCES, USAGE_STATUSES

MONEY = Numeric(12, 2)


class UsageSession(Base):
    """One stretch of use of an asset by a department, from ``started_at`` until ``ended_at``
    (None while it lasts); at most one is open per asset.

    ``source`` says how it was known: ``scanned`` (a person scanned the QR code and started it)
    or ``measured`` (read from telemetry). ``encounter_hash`` is the keyed hash (HMAC-SHA256
    with the site's key) of an encounter reference, never the reference itself. A start that
    needed a manager's override keeps the reason; a transfer ends the session and opens the
    next one, whose ``transferred_from_id`` names it.
    """

    __tablename__ = "usage_sessions"
    __table_args__ = (
        choice_check("source", USAGE_SOURCES),
        choice_check("return_status", USAGE_STATUSES, nullable=True),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index("ix_usage_sessions_asset_started", "asset_id", "started_at"),
        Index("ix_usage_sessions_department_started", "department_id", "started_at"),
        Index("uq_usage_sessions_open_asset", "asset_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    source: Mapped[str] = mapped_column(String(16), default="scanned")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    encounter_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str] = mapped_column(String(100), default="")
    #: What the asset became when the session ended (None while open, or after a transfer).
    return_status: Mapped[str | None] = mapped_column(String(24))
    override_reason: Mapped[str] = mapped_column(Text, default="")
    override_by: Mapped[str] = mapped_column(String(100), default="")
    #: The start went ahead without a valid training record (the site's policy warns only).
    untrained: Mapped[bool] = mapped_column(Boolean, default=False)
    transferred_from_id: Mapped[int | None] = mapped_column(ForeignKey("usage_sessions.id", ondelete="RESTRICT"))

    asset: Mapped[Asset] = relationship()
    department: Mapped[Department] = relationship()
    user: Mapped[User | None] = relationship()


class UsageState(Base):
    """An asset's usage status now: available, in use, or waiting for cleaning or inspection
    before the next use. An asset without a row is available."""

    __tablename__ = "usage_states"
    __table_args__ = (choice_check("status", USAGE_STATUSES),)

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), default="available", index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("usage_sessions.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KnowledgeEntry(Base):
    """What people should know before using equipment of a category (``make`` and ``model``
    empty), or of one make and model of it (an override: each field left None falls back to
    the category's)."""

    __tablename__ = "usage_knowledge"
    __table_args__ = (
        UniqueConstraint("category_key", "make_key", "model_key"),
        choice_check("return_status", USAGE_STATUSES, nullable=True),
        CheckConstraint("max_use_hours IS NULL OR max_use_hours > 0", name="max_use_hours_positive"),
        CheckConstraint("maintenance_interval_days IS NULL OR maintenance_interval_days > 0",
                        name="maintenance_interval_days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(100))
    category_key: Mapped[str] = mapped_column(String(100))
    make: Mapped[str] = mapped_column(String(100), default="")
    make_key: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    model_key: Mapped[str] = mapped_column(String(100), default="")
    #: Operating procedure, Markdown (rendered without raw HTML).
    procedure: Mapped[str | None] = mapped_column(Text)
    critical_warning: Mapped[str | None] = mapped_column(Text)
    training_required: Mapped[bool | None] = mapped_column(Boolean)
    max_use_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    cleaning: Mapped[str | None] = mapped_column(Text)
    #: What the asset becomes when a session ends (None: the category's, or available).
    return_status: Mapped[str | None] = mapped_column(String(24))
    maintenance_interval_days: Mapped[int | None] = mapped_column(Integer)
    #: Category, make, model, procedure, warning and cleaning folded for caseless search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KnowledgeFile(Base):
    """A manual or instruction sheet kept with a knowledge entry, stored by content hash like
    an asset's files."""

    __tablename__ = "usage_knowledge_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_id: Mapped[int] = mapped_column(ForeignKey("usage_knowledge.id", ondelete="RESTRICT"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrainingRecord(Base):
    """A person trained on a category of equipment (or one make and model of it) on a day,
    valid until ``expires_on`` (None: does not expire)."""

    __tablename__ = "usage_training"
    __table_args__ = (
        CheckConstraint("expires_on IS NULL OR expires_on >= trained_on", name="expires_after_training"),
        Index("ix_usage_training_user_category", "user_id", "category_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    category: Mapped[str] = mapped_column(String(100))
    category_key: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100), default="")
    model_key: Mapped[str] = mapped_column(String(100), default="")
    trained_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class Rental(Base):
    """Equipment rented or loaned to the hospital: from whom, under which contract, from when
    until its expected return, at what rate, and whether it must pass an incoming inspection
    (its work order) before first use. At most one rental of an asset is not yet returned."""

    __tablename__ = "rentals"
    __table_args__ = (
        choice_check("kind", RENTAL_KINDS),
        choice_check("state", RENTAL_STATES),
        CheckConstraint("expected_return_on >= starts_on", name="returns_after_start"),
        CheckConstraint("rate_per_day IS NULL OR rate_per_day >= 0", name="rate_per_day_range"),
        CheckConstraint("rate_per_use IS NULL OR rate_per_use >= 0", name="rate_per_use_range"),
        Index("uq_rentals_current_asset", "asset_id", unique=True,
              sqlite_where=text("state <> 'returned'"), postgresql_where=text("state <> 'returned'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="rental")
    vendor: Mapped[str] = mapped_column(String(200))
    contract_ref: Mapped[str] = mapped_column(String(100), default="")
    starts_on: Mapped[date] = mapped_column(Date)
    expected_return_on: Mapped[date] = mapped_column(Date)
    rate_per_day: Mapped[Decimal | None] = mapped_column(MONEY)
    rate_per_use: Mapped[Decimal | None] = mapped_column(MONEY)
    inspection_required: Mapped[bool] = mapped_column(Boolean, default=True)
    inspection_work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(16), default="active")
    returned_on: Mapped[date | None] = mapped_column(Date)
    return_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    asset: Mapped[Asset] = relationship()


class UsageMeasure(Base):
    """A rule that turns one of an asset's channels into measured usage: for every asset of a
    category (``asset_id`` None) or for one asset (which then wins over its category's rule).

    The asset's channel bound with metric ``metric`` is read: under ``above`` the asset is in
    use while a reading is above ``threshold`` (a dock's current); under ``advancing`` while
    the reading grows (a run-hours meter). A stretch counts once it has lasted ``min_s``.
    """

    __tablename__ = "usage_measures"
    __table_args__ = (
        choice_check("mode", USAGE_MEASURE_MODES),
        CheckConstraint("asset_id IS NOT NULL OR category_key <> ''", name="has_subject"),
        CheckConstraint("min_s >= 0", name="min_s_range"),
        CheckConstraint("mode <> 'above' OR threshold IS NOT NULL", name="above_has_threshold"),
        Index("ix_usage_measures_category_key", "category_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(100), default="")
    category_key: Mapped[str] = mapped_column(String(100), default="")
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), unique=True)
    metric: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)
    min_s: Mapped[float] = mapped_column(Float, default=0.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    asset: Mapped[Asset | None] = relationship()


class UsageTrack(Base):
    """Where measuring an asset's usage stands: the channel read, the newest reading seen
    (``tracked_until_ms``) and the detector's state between two runs (JSON)."""

    __tablename__ = "usage_tracks"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("usage_measures.id", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(128))
    tracking: Mapped[str] = mapped_column(Text, default="{}")
    tracked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
