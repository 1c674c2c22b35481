"""Oxygen cylinder manifolds watched through their bank pressures, and the changeovers seen.

The tables only; detecting changeovers, flow and time-to-empty, and the alerts live in
:mod:`wardlink.hub.services.manifolds`.

A manifold is an asset of the register with two banks of cylinders, each read by one gateway
channel (a pressure transducer). ``tracking`` is the detector's state between two runs (JSON),
``tracked_until`` the newest reading it has seen: each run reads only what came after.
Changeover rows are only added, one per switch from an emptied bank to the reserve.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.types import UTCDateTime, choice_check

MANIFOLD_BANKS = ("a", "b")


class Manifold(Base):
    """A two-bank cylinder manifold: where its bank pressures come from and what a bank holds."""

    __tablename__ = "manifolds"
    __table_args__ = (
        CheckConstraint("bank_capacity_l > 0", name="bank_capacity_positive"),
        CheckConstraint("full_bar > changeover_bar AND changeover_bar >= 0", name="pressures_ordered"),
        CheckConstraint("reserve_hours > 0", name="reserve_hours_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), unique=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    bank_a_channel: Mapped[str] = mapped_column(String(128))
    bank_b_channel: Mapped[str] = mapped_column(String(128))
    #: Litres of gas (at NTP) a bank of full cylinders holds, and the pressure it holds them at.
    bank_capacity_l: Mapped[float] = mapped_column(Float)
    full_bar: Mapped[float] = mapped_column(Float)
    #: The pressure at which the manifold switches banks: what is left below it is not usable.
    changeover_bar: Mapped[float] = mapped_column(Float)
    #: Alert when the supply left while the reserve is in use lasts less than this.
    reserve_hours: Mapped[float] = mapped_column(Float)
    tracking: Mapped[str] = mapped_column(Text, default="{}")
    tracked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    asset: Mapped[Asset] = relationship()


class ManifoldChangeover(Base):
    """The manifold switched from bank ``bank`` (emptied, ``litres`` drawn from it) to the other."""

    __tablename__ = "manifold_changeovers"
    __table_args__ = (
        UniqueConstraint("manifold_id", "at"),
        choice_check("bank", MANIFOLD_BANKS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    manifold_id: Mapped[int] = mapped_column(ForeignKey("manifolds.id", ondelete="RESTRICT"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    bank: Mapped[str] = mapped_column(String(1))
    litres: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())

    manifold: Mapped[Manifold] = relationship()
