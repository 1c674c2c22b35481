"""The e-mail copies of notices, as the delivery side reads and settles them.

Rows are claimed a batch at a time with a conditional UPDATE that pushes the next attempt a
lease into the future, so two delivery processes never send one e-mail twice and a process
that dies mid-send leaves the row to be retried after the lease. Each claim counts an attempt;
the outcome is recorded only while the claim is still the sender's (same attempt count), and
rows a sender could not try are given back (:func:`release`). Failures are retried with
exponential backoff (:class:`wardlink.retry.Backoff`) until the attempts run out, then the row
is ``failed`` with its last error: a row ends sent or failed, never vanishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wardlink.hub.db.models import NoticeEmail
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound, Term
from wardlink.hub.i18n import N_
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
    #: The language subject and body are in, for the lines the mailer adds.
    locale: str | None = None


def claim_due(session: Session, *, clock: Clock, lease_s: float, batch: int = 50) -> list[Claimed]:
    """Claim up to ``batch`` due pending e-mails for this process and return them, oldest first.

    One conditional UPDATE claims them all: a row another process claimed meanwhile no longer
    matches (its next attempt is a lease away), so it is left out rather than sent twice.
    """
    from wardlink.hub.db.models import MonthlyReport, Notice

    now = utc_now(clock)
    lease = now + timedelta(seconds=lease_s)
    won: list = []
    while not won:  # rows another process claimed first are skipped; look at the next ones
        # PostgreSQL: rows another claimer is taking right now are skipped, not waited for (no
        # lock waits, no deadlock between claimers); SQLite has one writer at a time anyway.
        due = session.scalars(select(NoticeEmail.id).where(NoticeEmail.state == "pending",
                                                           NoticeEmail.next_attempt_at <= now)
                              .order_by(NoticeEmail.id).limit(batch).with_for_update(skip_locked=True)).all()
        if not due:
            return []
        won = session.execute(
            update(NoticeEmail)
            .where(NoticeEmail.id.in_(due), NoticeEmail.state == "pending", NoticeEmail.next_attempt_at <= now)
            .values(next_attempt_at=lease, attempts=NoticeEmail.attempts + 1)
            .returning(NoticeEmail.id, NoticeEmail.notice_id, NoticeEmail.to_addr, NoticeEmail.subject,
                       NoticeEmail.body, NoticeEmail.attempts, NoticeEmail.report_id, NoticeEmail.locale)
            .execution_options(synchronize_session=False)).all()
    links = dict(session.execute(select(Notice.id, Notice.link).where(
        Notice.id.in_({row.notice_id for row in won if row.notice_id is not None}))).all())
    reports = {r.id: Attachment(r.filename, "application/pdf", bytes(r.content)) for r in session.scalars(
        select(MonthlyReport).where(MonthlyReport.id.in_({row.report_id for row in won if row.report_id})))}
    return [Claimed(row.id, row.to_addr, row.subject, row.body, links.get(row.notice_id) or "", row.attempts,
                    reports.get(row.report_id) if row.report_id is not None else None,
                    personal=row.notice_id is not None, locale=row.locale)
            for row in sorted(won, key=lambda r: r.id)]


def release(session: Session, rows: Iterable[Claimed], *, clock: Clock) -> int:
    """Give back claimed e-mails that were not tried (the sender is stopping, or its lease is
    running out): due again now, the attempt not counted. A row whose lease another process has
    taken since is left alone. Return how many were given back."""
    now = utc_now(clock)
    done = 0
    for row in rows:
        done += session.execute(
            update(NoticeEmail)
            .where(NoticeEmail.id == row.id, NoticeEmail.state == "pending", NoticeEmail.attempts == row.attempts)
            .values(next_attempt_at=now, attempts=row.attempts - 1)
            .execution_options(synchronize_session=False)).rowcount or 0
    return done


def record(session: Session, email_id: int, outcome: str, detail: str, *, attempts: int, clock: Clock,
           max_attempts: int, backoff: Backoff, at: datetime | None = None) -> str | None:
    """Settle one send made at ``at`` (default: now): ``sent``, ``retry`` (again after the backoff,
    until attempts run out) or ``reject`` (never again). Return the row's new state, or None when
    the claim was no longer this sender's (its lease ran out and another process claimed the row:
    that one settles it)."""
    now = at if at is not None else utc_now(clock)
    values: dict[str, object]
    if outcome == "sent":
        values = {"state": "sent", "sent_at": now, "last_error": ""}
    elif outcome == "retry" and attempts < max_attempts:
        values = {"next_attempt_at": now + timedelta(seconds=backoff.ceiling(attempts - 1)),
                  "last_error": detail[:2000]}
    else:
        values = {"state": "failed", "last_error": detail[:2000]}
    done = session.execute(
        update(NoticeEmail)
        .where(NoticeEmail.id == email_id, NoticeEmail.state == "pending", NoticeEmail.attempts == attempts)
        .values(**values).execution_options(synchronize_session=False)).rowcount
    return str(values.get("state", "pending")) if done else None


@dataclass(frozen=True)
class Outcome:
    """How one claimed e-mail's send went, waiting to be recorded."""

    row: Claimed
    outcome: str  # sent, retry or reject
    detail: str
    at: datetime


def record_all(session: Session, outcomes: Sequence[Outcome], *, clock: Clock, max_attempts: int,
               backoff: Backoff) -> list[str | None]:
    """Settle several sends in the caller's one transaction (:func:`record` each); return their
    new states in order. One commit for a handful of e-mails instead of one each: the database
    does a fraction of the work, and on SQLite the sender waits for the single write lock once."""
    return [record(session, o.row.id, o.outcome, o.detail, attempts=o.row.attempts, clock=clock,
                   max_attempts=max_attempts, backoff=backoff, at=o.at) for o in outcomes]


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


def retry(session: Session, *, actor: Actor, clock: Clock, email_id: int | None = None) -> int:
    """Send failed e-mails again: the one ``email_id``, or every failed one. Their attempts start
    over and they are due at once; the last error stays until the next attempt replaces it.
    Audited; return how many were queued again."""
    from wardlink.hub.services.audit import trail as audit

    require(actor, "notice.manage")
    stmt = select(NoticeEmail.id).where(NoticeEmail.state == "failed")
    if email_id is not None:
        row = session.get(NoticeEmail, email_id)
        if row is None:
            raise NotFound(N_("notice e-mail %(email_id)s not found"), email_id=email_id)
        if row.state != "failed":
            raise InvalidInput(N_("notice e-mail %(email_id)s: only a failed e-mail is sent again; this one is "
                                  "%(state)s"), email_id=email_id, state=Term(row.state))
        stmt = stmt.where(NoticeEmail.id == email_id)
    ids = list(session.scalars(stmt.order_by(NoticeEmail.id)))
    now = utc_now(clock)
    for start in range(0, len(ids), 500):
        session.execute(update(NoticeEmail).where(NoticeEmail.id.in_(ids[start:start + 500]),
                                                  NoticeEmail.state == "failed")
                        .values(state="pending", attempts=0, next_attempt_at=now)
                        .execution_options(synchronize_session=False))
    if email_id is not None:
        session.expire(row)
    if ids:
        audit.record(session, actor=actor, action="notice_email.retry", entity="notice_email",
                     entity_id=email_id if email_id is not None else "failed",
                     before={"state": "failed", "emails": len(ids)}, after={"state": "pending"}, clock=clock)
    return len(ids)
