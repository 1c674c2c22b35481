"""Notices about the work: what one person is told (in the app and by e-mail), and how they want it.

A :class:`Notice` is written by the services in the transaction of the change it reports, one
row per recipient; a :class:`NoticeEmail` is the e-mail copy the delivery side sends afterwards
(with a stored monthly report attached when it names one);
a :class:`NoticePreference` overrides the default channels of one event for one person.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wardlink.hub.db.base import Base
from wardlink.hub.db.types import UTCDateTime, choice_check

#: Delivery states of a notice's e-mail.
NOTICE_EMAIL_STATES = ("pending", "sent", "failed")


class Notice(Base):
    """One thing one person is told about; ``key`` makes a notice exactly-once per person."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_notices_user_id_key"),
        Index("ix_notices_user_unread", "user_id", "read_at"),
        Index("ix_notices_key", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    event: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(160))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeEmail(Base):
    """The e-mail copy of a notice, retried with backoff until sent or given up; without a
    notice (``notice_id`` None) a one-way message to someone without an account, such as the
    reporter of a problem on the QR page."""

    __tablename__ = "notice_emails"
    __table_args__ = (
        choice_check("state", NOTICE_EMAIL_STATES),
        Index("ix_notice_emails_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="RESTRICT"), index=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: The language subject and body are in, for the lines the mailer adds (None: the hub's default).
    locale: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A stored monthly report sent as the e-mail's attachment, if any.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("monthly_reports.id", ondelete="RESTRICT"))


class NoticePreference(Base):
    """How one person wants one event: in the app, by e-mail, both or neither."""

    __tablename__ = "notice_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True)
    event: Mapped[str] = mapped_column(String(32), primary_key=True)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
