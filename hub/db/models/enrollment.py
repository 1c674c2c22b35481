"""One-time enrollment tokens: what a new gateway exchanges for its broker login and config."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.gateways import Gateway
from wardlink.hub.db.types import UTCDateTime


class EnrollmentToken(Base):
    """A token a gateway may redeem once before ``expires_at``; only its SHA-256 is stored.

    ``used_at`` is set by the one redemption that succeeds; ``revoked_at`` when a newer token,
    a disable or a revocation of the gateway makes it void before use.
    """

    __tablename__ = "enrollment_tokens"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="expires_after_creation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_pk: Mapped[int] = mapped_column(ForeignKey("gateways.id", ondelete="RESTRICT"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so an administrator can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # Gateway TOML keys handed over with the login (channels, hardware, ...), as a JSON object.
    initial_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_from: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    gateway: Mapped[Gateway] = relationship()
