"""Utility meters: electricity, water, diesel and oxygen, per site or department.

The tables only; the rules (who may add a meter or a reading, how a day's use is counted from
a pulse meter's telemetry, when a day is far above its baseline) live in
:mod:`wardlink.hub.services.utilities`.

A meter is read by hand (``source = 'manual'``: people enter what was used over a period) or
by a gateway from the meter's pulse output (``source = 'pulse'``: the gateway's pulse counter
channel reports the pulses counted, the meter says how many units one pulse is). Pulse
meters' days are rolled up from the telemetry store into ``utility_days`` by the scheduler,
one row per meter and local day, rewritten with the same value when a roll-up runs again.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.org import Department, Site
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import UTILITY_KINDS, UTILITY_SOURCES, UTILITY_UNITS

#: Quantities of a utility: up to a billion units with four decimals (a pulse of 0.0001 m³).
USAGE = Numeric(16, 4)


class UtilityMeter(Base):
    """One meter: what it measures, in which unit, where, and how it is read."""

    __tablename__ = "utility_meters"
    __table_args__ = (
        UniqueConstraint("site_id", "name_key"),
        choice_check("kind", UTILITY_KINDS),
        choice_check("unit", UTILITY_UNITS),
        choice_check("source", UTILITY_SOURCES),
        CheckConstraint("source = 'manual' OR (units_per_pulse > 0 AND gateway_id IS NOT NULL "
                        "AND channel_id IS NOT NULL)", name="pulse_binding"),
        CheckConstraint("baseline_weeks BETWEEN 1 AND 52", name="baseline_weeks_range"),
        CheckConstraint("alert_share IS NULL OR alert_share > 0", name="alert_share_positive"),
        Index("ix_utility_meters_gateway_channel", "gateway_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    #: The department the meter serves; None: the whole site.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    #: The name compared without case and repeated spaces: unique in its site.
    name_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8), default="manual")
    #: Units one pulse of the meter's output is worth (0.001 kWh for a 1000 imp/kWh meter).
    units_per_pulse: Mapped[Decimal | None] = mapped_column(Numeric(16, 8))
    #: The gateway channel counting the pulses (a pulse_counter channel's ``total``).
    gateway_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(128))
    #: The baseline of a day is the mean of the same weekday over this many weeks before it.
    baseline_weeks: Mapped[int] = mapped_column(Integer, default=4)
    #: Alert when a day's use exceeds its baseline by this share (0.25: 25 %); None: never.
    alert_share: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship()
    department: Mapped[Department | None] = relationship()


class UtilityReading(Base):
    """What a meter read by hand says was used over a period (first and last day included)."""

    __tablename__ = "utility_readings"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_range"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        Index("ix_utility_readings_meter_id_period_end", "meter_id", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("utility_meters.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(USAGE)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: Who read the meter.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    meter: Mapped[UtilityMeter] = relationship()


class UtilityDay(Base):
    """A pulse meter's use on one local day at its site, rolled up from the telemetry store."""

    __tablename__ = "utility_days"
    __table_args__ = (
        UniqueConstraint("meter_id", "day"),
        Index("ix_utility_days_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("utility_meters.id", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(USAGE)
    #: Pulses counted that day (the sum of the counter's rises).
    pulses: Mapped[int] = mapped_column(Integer)
    #: Readings of the counter that day; 0 means the gateway sent nothing.
    points: Mapped[int] = mapped_column(Integer)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UtilityAlert(Base):
    """A day whose use exceeded its baseline by more than the meter's share: one per meter and day."""

    __tablename__ = "utility_alerts"
    __table_args__ = (UniqueConstraint("meter_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("utility_meters.id", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(USAGE)
    baseline: Mapped[Decimal] = mapped_column(USAGE)
    share: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    meter: Mapped[UtilityMeter] = relationship()
