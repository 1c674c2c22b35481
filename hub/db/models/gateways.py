"""Gateways, their sensor channels, and which asset each channel measured when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.org import Department, Location
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import GATEWAY_STATUSES


class Gateway(Base):
    """A ward gateway, known by the ``gateway_id`` it uses on the wire."""

    __tablename__ = "gateways"
    __table_args__ = (choice_check("status", GATEWAY_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    boot_id: Mapped[str | None] = mapped_column(String(64))
    buffer_depth: Mapped[int | None] = mapped_column(Integer)
    software_version: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department | None] = relationship()
    location: Mapped[Location | None] = relationship()
    channels: Mapped[list[Channel]] = relationship(back_populates="gateway",
                                                   order_by="Channel.channel_id")


class Channel(Base):
    """One sensor input of a gateway, known by its ``channel_id`` on the wire."""

    __tablename__ = "channels"
    __table_args__ = (
        UniqueConstraint("gateway_pk", "channel_id"),
        CheckConstraint("interval_s IS NULL OR interval_s > 0", name="interval_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_pk: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="RESTRICT"))
    channel_id: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32), default="")
    driver: Mapped[str] = mapped_column(String(64), default="")
    interval_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    gateway: Mapped[Gateway] = relationship(back_populates="channels")
    bindings: Mapped[list[ChannelBinding]] = relationship(back_populates="channel",
                                                          order_by="ChannelBinding.valid_from")


class ChannelBinding(Base):
    """Channel -> asset + metric over ``[valid_from, valid_to)``; ``valid_to`` NULL = still bound.

    Intervals of one channel never overlap (the service checks; the partial unique index makes
    two open bindings impossible even under a race).
    """

    __tablename__ = "channel_bindings"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_interval"),
        Index("ix_channel_bindings_one_open", "channel_pk", unique=True,
              sqlite_where=text("valid_to IS NULL"), postgresql_where=text("valid_to IS NULL")),
        Index("ix_channel_bindings_channel_from", "channel_pk", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_pk: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    channel: Mapped[Channel] = relationship(back_populates="bindings")
    asset: Mapped[Asset] = relationship()

    def covers(self, moment: datetime) -> bool:
        """Return True when ``moment`` falls inside this binding's interval."""
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)
