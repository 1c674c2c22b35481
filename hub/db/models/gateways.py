"""Gateways, their link state, their sensor channels, and which asset each channel measured when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.org import Department, Location
from wardlink.hub.db.types import UTCDateTime


class Gateway(Base):
    """A ward gateway, known by the ``gateway_id`` it uses on the wire (its link: :class:`GatewayLink`)."""

    __tablename__ = "gateways"

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department | None] = relationship()
    location: Mapped[Location | None] = relationship()
    channels: Mapped[list[Channel]] = relationship(back_populates="gateway",
                                                   order_by="Channel.channel_id")


def _count() -> Mapped[int]:
    return mapped_column(BigInteger, default=0, server_default=text("0"))


class GatewayLink(Base):
    """The hub's one record of a gateway's link, one row per gateway id heard on the wire
    (registered or not; migration ``0015_gateway_links``). All times are integer milliseconds
    since the epoch.

    Two writers share the row and each owns its own columns, so neither overwrites the other's
    facts; each inserts the row when missing (``ON CONFLICT DO NOTHING`` / ``DO UPDATE`` of its
    own columns only), so racing writers never fail on the primary key:

    - **ingest** (:mod:`wardlink.hub.ingest.gateways`) owns every column up to ``last_seen_ms``:
      the newest retained status or Last Will it accepted (``state``, its ``state_ts_ms`` on the
      gateway's clock and when it was received, its boot and figures: version, uptime, buffer
      depth and age, dropped, config version), the boot id and newest sequence numbers of the
      telemetry and events batches, the restart / gap / duplicate counters, batches and
      readings received, and when anything was last heard (``last_seen_ms``). It writes them
      as absolute values on the hot path, for the gateways a committed batch touched.
    - **the rules engine** (:mod:`wardlink.hub.rules.links`) owns the ``rules_*`` columns and
      ``status_ts_ms`` / ``clock_offset_ms``: the status it applied, in its own transaction and
      order (its alerts follow it: since when the gateway is online or offline, whether it is
      buffering, the boot whose Last Will is stale), and the gateway clock's offset from the
      hub's, measured on fresh online statuses. It changes only those of its fields that moved.

    Readers (the services, web UI, JSON API, health check and the engine's stall judgement)
    take ``state`` and ``last_seen_ms`` from ingest; the rules engine judges gateway rules on
    its own ``rules_state``. ``rules_state`` is NULL until the engine applied a status.
    """

    __tablename__ = "gateway_links"

    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    # -- ingest's
    state: Mapped[str | None] = mapped_column(String(16))  # online / offline, from the retained status
    state_ts_ms: Mapped[int | None] = mapped_column(BigInteger)
    state_received_ms: Mapped[int | None] = mapped_column(BigInteger)
    status_boot: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(64))
    uptime_s: Mapped[float | None] = mapped_column(Float)
    buffer_depth: Mapped[int | None] = mapped_column(BigInteger)
    oldest_unsent_ms: Mapped[int | None] = mapped_column(BigInteger)
    dropped: Mapped[int | None] = mapped_column(BigInteger)
    config_version: Mapped[int | None] = mapped_column(BigInteger)
    boot: Mapped[str | None] = mapped_column(String(64))  # boot id of the newest telemetry or event batch
    telemetry_seq: Mapped[int | None] = mapped_column(BigInteger)
    events_seq: Mapped[int | None] = mapped_column(BigInteger)
    restarts: Mapped[int] = _count()
    gaps: Mapped[int] = _count()
    missing_batches: Mapped[int] = _count()
    duplicate_batches: Mapped[int] = _count()
    batches: Mapped[int] = _count()
    readings: Mapped[int] = _count()
    last_reading_ts_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int | None] = mapped_column(BigInteger)  # receipt of its newest message of any kind
    # -- the rules engine's
    rules_state: Mapped[str | None] = mapped_column(String(16))  # online / offline as the engine applied it
    rules_boot: Mapped[str | None] = mapped_column(String(64))
    rules_since_ms: Mapped[int | None] = mapped_column(BigInteger)  # when it entered ``rules_state`` (hub time)
    rules_status_ms: Mapped[int | None] = mapped_column(BigInteger)  # receipt of the newest status applied
    rules_buffer_depth: Mapped[int | None] = mapped_column(BigInteger)
    rules_oldest_unsent_ms: Mapped[int | None] = mapped_column(BigInteger)  # age of the oldest unsent reading
    status_ts_ms: Mapped[int | None] = mapped_column(BigInteger)  # the newest online status's own ts
    clock_offset_ms: Mapped[int | None] = mapped_column(BigInteger)  # hub time - gateway time at that status


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
