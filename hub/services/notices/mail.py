"""The e-mail copies of notices, as the delivery side reads and settles them.

Rows are claimed with a conditional UPDATE that pushes the next attempt a lease into the
future, so two delivery processes never send one e-mail twice and a process that dies
mid-send leaves the row to be retried after the lease. Failures are retried with exponential
backoff (:class:`wardlink.retry.Backoff`) until the attempts run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wardlink.hub.db.models import NoticeEmail
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.clock import Clock
from wardlink.retry import Backoff


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Claimed:
    """One e-mail to send now."""

    id: int
    to_addr: str
    subject: str
    body: str
    link: str
    attempts: int
    attachment: Attachment | None = None
    #: False for a one-way message to someone without an account (no notice, no preferences).
    personal: bool = True


def claim_due(session: Session, *, clock: Clock, lease_s: float, batch: int = 50) -> list[Claimed]:
    """Claim up to ``batch`` due pending e-mails for this process and return them."""
    from wardlink.hub.db.models import MonthlyReport, Notice

    now = utc_now(clock)
    lease = now + timedelta(seconds=lease_s)
    out = []
    due = session.scalars(select(NoticeEmail.id).where(NoticeEmail.state == "pending",
                                                       NoticeEmail.next_attempt_at <= now)
                          .order_by(NoticeEmail.id).limit(batch)).all()
    for row_id in due:
        won = session.execute(update(NoticeEmail).where(
            NoticeEmail.id == row_id, NoticeEmail.state == "pending", NoticeEmail.next_attempt_at <= now)
            .values(next_attempt_at=lease, attempts=NoticeEmail.attempts + 1)).rowcount
        if won:
            row = session.get(NoticeEmail, row_id)
            personal = row.notice_id is not None
            link = (session.scalar(select(Notice.link).where(Notice.id == row.notice_id)) or "") if personal else ""
            report = session.get(MonthlyReport, row.report_id) if row.report_id is not None else None
            attachment = (None if report is None
                          else Attachment(report.filename, "application/pdf", bytes(report.content)))
            out.append(Claimed(row.id, row.to_addr, row.subject, row.body, link, row.attempts, attachment,
                               personal))
    return out


def record(session: Session, email_id: int, outcome: str, detail: str, *, attempts: int, clock: Clock,
           max_attempts: int, backoff: Backoff) -> str:
    """Settle one send: ``sent``, ``retry`` (again after the backoff, until attempts run out) or
    ``reject`` (never again). Return the row's new state."""
    now = utc_now(clock)
    if outcome == "sent":
        values = {"state": "sent", "sent_at": now, "last_error": ""}
    elif outcome == "retry" and attempts < max_attempts:
        values = {"next_attempt_at": now + timedelta(seconds=backoff.ceiling(attempts - 1)),
                  "last_error": detail[:2000]}
    else:
        values = {"state": "failed", "last_error": detail[:2000]}
    session.execute(update(NoticeEmail).where(NoticeEmail.id == email_id).values(**values))
    return str(values.get("state", "pending"))


def counts(session: Session, *, actor: Actor) -> dict[str, int]:
    """Return how many notice e-mails are pending, sent and failed."""
    require(actor, "notice.manage")
    rows = session.execute(select(NoticeEmail.state, func.count()).group_by(NoticeEmail.state)).all()
    out = {"pending": 0, "sent": 0, "failed": 0}
    out.update({state: n for state, n in rows})
    return out


def list_emails(session: Session, *, actor: Actor, state: str | None = None, page: int = 1,
                per_page: int = 50) -> Page:
    """Return notice e-mails, newest first, optionally of one state."""
    require(actor, "notice.manage")
    stmt = select(NoticeEmail)
    if state:
        from wardlink.hub.db.models.notices import NOTICE_EMAIL_STATES
        from wardlink.hub.services.validate import choice

        choice(NOTICE_EMAIL_STATES)("state", state)
        stmt = stmt.where(NoticeEmail.state == state)
    return paginate(session, stmt.order_by(NoticeEmail.id.desc()), page=page, per_page=per_page)
