"""Signed-in browser sessions (revocable) and the log of failed sign-ins (rate limits).

Both live in the database so that every web process sees the same sessions and counts the
same failures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wardlink.hub.db.base import Base
from wardlink.hub.db.types import UTCDateTime


class WebSession(Base):
    """One signed-in browser session; the cookie carries its id, only the SHA-256 is stored.

    Deleting the row ends the session at once: signing out deletes it, and a password change,
    a password reset, a disable or a role change deletes the user's sessions.
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source_ip: Mapped[str | None] = mapped_column(String(45))


class LoginFailure(Base):
    """One failed sign-in: the user name as typed (normalised) and the client's address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_address_at", "source_ip", "at"),
        Index("ix_login_failures_username_address_at", "username", "source_ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    source_ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
