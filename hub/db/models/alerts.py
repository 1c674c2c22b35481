"""Alerts raised by rules: open -> acknowledged -> resolved, and never deleted."""

from __future__ import annotations

from datetime import datetime

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.gateways import Gateway
from wardlink.hub.db.models.users import User
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import ALERT_SEVERITIES, ALERT_STATES


class Alert(Base):
    """Something a rule decided needs a person's attention."""

    __tablename__ = "alerts"
    __table_args__ = (
        choice_check("severity", ALERT_SEVERITIES),
        choice_check("state", ALERT_STATES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(128))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    gateway_pk: Mapped[int | None] = mapped_column(ForeignKey("gateways.id", ondelete="RESTRICT"))
    channel: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    # What the rules engine said, as messages (``Message.to_json()``: an English template and
    # its values) that pages and e-mails write in the reader's language; the English ``title``,
    # ``detail`` and ``resolution_note`` stay for the API, webhooks, the CLI and older alerts.
    # ``detail_message`` is a list of messages, one per line.
    title_message: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail_message: Mapped[list[Any] | None] = mapped_column(JSON)
    resolution_message: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    value: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    ack_note: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    resolution_note: Mapped[str] = mapped_column(Text, default="")

    asset: Mapped[Asset | None] = relationship()
    gateway: Mapped[Gateway | None] = relationship()
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
