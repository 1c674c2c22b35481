"""Tables of the rules engine, in the hub's relational schema (migration ``0002_rules``).

- ``rules``: rule definitions (kind, selector, parameters, notification targets, escalation).
- ``rule_states``: each rule's persisted evaluator state per channel, gateway or asset, so a
  restart in the middle of a for-duration continues it.
- the engine's own columns of ``gateway_links`` (:class:`wardlink.hub.db.models.gateways.GatewayLink`):
  the status it last applied per gateway (online / offline / buffering), to tell a dead gateway
  from a silent sensor and from delayed data.
- ``alert_lifecycle``: per-alert facts the ``alerts`` table does not hold: the rule and
  subject that raised it (at most one open alert per rule and subject), historical flag,
  shelving, escalation level and the corrective work order.
- ``asset_meters``: accumulated run time per asset (e.g. ``run_hours``), read by meter-based
  preventive maintenance.
- ``notification_outbox``: notifications written in the same transaction as the alert
  change, delivered afterwards with retries (a transactional outbox).
- ``rules_generation`` (migration ``0018_rules_generation``): one row whose counter every change
  of the rules bumps, so each rules engine notices a change with one cheap read per call.

Foreign keys name other tables by string, so importing this module loads no other model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from wardlink.hub.db.base import Base
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import ALERT_SEVERITIES

#: Every rule kind; :data:`wardlink.hub.rules.evaluators.EVALUATORS` has one evaluator per entry.
RULE_KINDS = ("threshold", "rate_of_change", "channel_silent", "gateway_offline",
              "gateway_buffering", "state_duration", "battery_low", "presence_mismatch", "run_hours")
#: Life of an outbox row: waiting (or retrying), delivered, or given up.
OUTBOX_STATES = ("pending", "sent", "failed")
#: What a notification reports about an alert.
NOTIFY_EVENTS = ("opened", "historical", "escalated", "acknowledged", "shelved", "resolved")


class Rule(Base):
    """A rule definition; ``name`` is what alerts carry in their ``rule`` column."""

    __tablename__ = "rules"
    __table_args__ = (
        choice_check("kind", RULE_KINDS),
        choice_check("severity", ALERT_SEVERITIES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    match: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notify: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalate: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    work_order: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(32), default="file")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RulesGeneration(Base):
    """The one row (``id`` 1) counting changes to the ``rules`` table."""

    __tablename__ = "rules_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class RuleState(Base):
    """One rule's evaluator state for one key (a channel, a gateway or an asset)."""

    __tablename__ = "rule_states"
    __table_args__ = (Index("ix_rule_states_rule_subject", "rule_id", "subject"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="RESTRICT"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))  # what alerts are about: asset:, gateway:, channel:
    gateway: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(128))
    asset: Mapped[str | None] = mapped_column(String(64))
    # The live condition holds (an alert is, or was, open for it); queried before auto-resolving
    # a subject that several channels feed.
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    last_ts_ms: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertLifecycle(Base):
    """What the rules engine and people did with an alert beyond its state column."""

    __tablename__ = "alert_lifecycle"
    # ``open_key`` holds the subject while the alert is unresolved and NULL afterwards; NULLs
    # never collide, so this allows one unresolved alert per (rule, subject) even when two
    # ingest workers race. ``episode_ms`` (when the condition began, on the readings' clock)
    # identifies the alert of one episode: two workers finding the same episode open one alert.
    __table_args__ = (UniqueConstraint("rule_id", "open_key"), UniqueConstraint("rule_id", "subject", "episode_ms"))

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="RESTRICT"), primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="RESTRICT"), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    open_key: Mapped[str | None] = mapped_column(String(300))
    episode_ms: Mapped[int | None] = mapped_column(BigInteger)
    episode_end_ms: Mapped[int | None] = mapped_column(BigInteger)  # the reading that ended it
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    condition_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shelved_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shelved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    shelve_note: Mapped[str] = mapped_column(Text, default="")
    shelve_notified: Mapped[bool] = mapped_column(Boolean, default=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AssetMeter(Base):
    """An accumulating meter of an asset, e.g. ``run_hours`` fed by a current sensor."""

    __tablename__ = "asset_meters"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    last_ts_ms: Mapped[int | None] = mapped_column(BigInteger)  # newest reading time counted
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def hours(self) -> float:
        """Return the accumulated time in hours."""
        return self.seconds / 3600.0


class NotificationOutbox(Base):
    """A notification to deliver to one target; retried with backoff until sent or given up."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        choice_check("state", OUTBOX_STATES),
        choice_check("event", NOTIFY_EVENTS),
        Index("ix_notification_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="RESTRICT"), index=True)
    target: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
