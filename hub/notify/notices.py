"""Deliver the e-mail copies of notices (``notice_emails``) to each person's address.

The services queue a row in the transaction that tells someone about the work; this mailer
sends it afterwards, outside any transaction and never in a web request, through the SMTP
server of an e-mail notifier (:class:`~wardlink.hub.notify.smtp.EmailNotifier`). Rows are claimed
in batches with a lease (several hub processes never send one twice) and each batch goes over
one SMTP connection; a backlog is sent over :data:`SENDERS` connections at once. Outcomes are
recorded a few at a time in one transaction (every :data:`SETTLE_EVERY` messages, or
:data:`SETTLE_S` seconds after the oldest one unrecorded), so a crash re-sends at most those.
Failures are retried per message with exponential backoff (:class:`wardlink.retry.Backoff`)
until ``max_attempts``, then the row is ``failed`` with its last error for administrators to
see; a refusal by the server is not retried. A batch the server is too slow for gives its
untried rows back before half the lease is gone, and so does a mailer that is stopping. Each
e-mail carries the link of its notice under the hub's public URL, and the stored monthly report
as a PDF attachment when its row names one; a one-way message to someone without an account
(the reporter of a QR request) carries no link and no pointer to preferences.

A storm of notices must not slow the web: with ``rate_per_s`` the mailer sends at most that
many e-mails a second however deep the backlog (a :class:`~wardlink.hub.notify.pacing.TokenBucket`
shared by its connections), so N queued e-mails leave within about N / ``rate_per_s`` seconds;
with ``nice`` its threads run at a lower CPU priority (Linux).

The web requests that queue mail run in other processes, so the mailer looks at the outbox
every :data:`POLL_S` seconds (and at once when kicked by code in its own process); a pass
sends until nothing is due.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.types import utc_now
from wardlink.hub.i18n import translate
from wardlink.hub.notify.errors import DeliveryRejected
from wardlink.hub.notify.pacing import TokenBucket, lower_priority
from wardlink.hub.notify.passes import PassThread
from wardlink.hub.notify.smtp import EmailNotifier, SmtpSession
from wardlink.hub.services.notices import mail
from wardlink.clock import Clock, SystemClock
from wardlink.retry import Backoff

log = logging.getLogger(__name__)

#: Seconds between looks at the outbox: an indexed query that finds nothing when idle, so it is
#: cheap to look often, and mail queued by another process (a web request) leaves within this.
POLL_S = 2.0

#: Connections a backlog is sent over at once. Each message waits for four replies of the
#: server (MAIL, RCPT, DATA, end of data), so one connection's rate is bound by round trips,
#: not by work; a few in parallel multiply it while any SMTP relay takes that many.
SENDERS = 4

#: How often recording outcomes is tried before the rows are left to their lease.
RECORD_TRIES = 3

#: Outcomes recorded together in one transaction (at most; fewer at the end of a batch).
SETTLE_EVERY = 10

#: Seconds (of the mailer's clock) an outcome may wait for the others of its group.
SETTLE_S = 1.0


@dataclass
class MailReport:
    """What one :meth:`NoticeMailer.run_pending` pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


class NoticeMailer:
    """Send due notice e-mails through ``server`` (its host, port, TLS, login and sender)."""

    def __init__(self, engine: Engine, server: EmailNotifier, *, public_url: str, site_name: str = "Wardlink",
                 clock: Clock | None = None, max_attempts: int = 8, retry_initial_s: float = 60.0,
                 retry_max_s: float = 3600.0, lease_s: float = 300.0, batch: int = 50,
                 senders: int = SENDERS, rate_per_s: float | None = None, nice: int = 0,
                 settle_every: int = SETTLE_EVERY, pause: Callable[[float], bool] | None = None) -> None:
        """``rate_per_s``: e-mails a second at most (None: as fast as the server takes them);
        ``nice``: the CPU niceness of the mailer's threads (0: unchanged); ``pause``: how a
        sender waits for its turn under the rate (default: sleeps, cut short when stopping;
        returns False to stop)."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts: must be >= 1, got {max_attempts}")
        if senders < 1:
            raise ValueError(f"senders: must be >= 1, got {senders}")
        if settle_every < 1:
            raise ValueError(f"settle_every: must be >= 1, got {settle_every}")
        self._engine = engine
        self.server = server
        self.public_url = public_url.rstrip("/")
        self.site_name = site_name
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.backoff = Backoff(retry_initial_s, retry_max_s)
        self.lease_s = lease_s
        self.batch = batch
        if rate_per_s:  # each connection's share of the rate sends its batch within a quarter of the lease
            senders = max(1, min(senders, int(rate_per_s * lease_s / (4 * batch))))
        self.senders = senders
        self.settle_every = settle_every
        self.nice = nice
        self.bucket = TokenBucket(rate_per_s, clock=self.clock) if rate_per_s else None
        self.counters: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._passes = PassThread("notice-mailer", self.run_pending, log, nice=nice)
        self._pause = pause or self._passes.sleep
        self._lock = threading.Lock()

    def message(self, row: mail.Claimed) -> EmailMessage:
        """Return the e-mail of one claimed row: subject, body and the link to the thing."""
        msg = EmailMessage()
        msg["Subject"] = f"[{self.site_name}] {row.subject}"[:300]
        msg["From"] = self.server.sender
        msg["To"] = row.to_addr
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.server.sender.rpartition("@")[2] or None)
        msg["X-Wardlink-Notice-Email"] = str(row.id)  # the outbox row, to trace a message back
        body = row.body.rstrip("\n")
        link, account = self.public_url + row.link, self.public_url + "/account"
        if row.link:
            body += "\n\n" + translate(row.locale, "Open: %(url)s", url=link)
        if row.personal:
            body += "\n\n" + translate(row.locale, "Choose which notices you receive by e-mail on your account page: "
                                                   "%(url)s", url=account) + "\n"
        else:
            body += "\n\n" + translate(row.locale, "This message was sent automatically because this address was "
                                                   "given with the report; replies are not read.") + "\n"
        msg.set_content(body)
        if row.attachment is not None:
            maintype, _, subtype = row.attachment.content_type.partition("/")
            msg.add_attachment(row.attachment.content, maintype=maintype, subtype=subtype,
                               filename=row.attachment.filename)
        return msg

    def _send(self, smtp: SmtpSession, row: mail.Claimed) -> tuple[str, str]:
        try:
            return "sent", smtp.deliver(self.message(row))
        except DeliveryRejected as exc:
            return "reject", str(exc)
        except Exception as exc:
            return "retry", f"{exc.__class__.__name__}: {exc}"

    def run_pending(self) -> MailReport:
        """Send every due e-mail now and say how it went; never raises.

        A full first batch means more may be due: then ``senders - 1`` more threads claim and
        send batches of their own alongside, each over its own connection, so a backlog drains
        at several times the rate one connection's round trips allow.
        """
        report = MailReport()
        with self._lock:
            claimed = self._claim()
            if not claimed:
                return report
            helpers = []
            if len(claimed) == self.batch:
                helpers = [threading.Thread(target=self._helper, args=(report,), daemon=True,
                                            name=f"notice-mailer-{n}") for n in range(1, self.senders)]
            for helper in helpers:
                helper.start()
            self._send_batch(claimed, report)
            self._send_until_done(report)
            for helper in helpers:
                helper.join()
        return report

    def _claim(self) -> list[mail.Claimed]:
        if self._passes.stopping:
            return []
        try:
            with session_scope(self._engine) as session:
                return mail.claim_due(session, clock=self.clock, lease_s=self.lease_s, batch=self.batch)
        except SQLAlchemyError as exc:
            log.error("notice e-mails unreadable: %s", exc)
            return []

    def _helper(self, report: MailReport) -> None:
        if self.nice > 0:
            lower_priority(self.nice)
        self._send_until_done(report)

    def _send_until_done(self, report: MailReport) -> None:
        while claimed := self._claim():
            self._send_batch(claimed, report)

    def _count(self, report: MailReport | None, kind: str, n: int = 1) -> None:
        with self._count_lock:
            if report is not None:
                setattr(report, kind, getattr(report, kind) + n)
            self.counters[kind] += n

    def _send_batch(self, claimed: list[mail.Claimed], report: MailReport) -> None:
        """Send one claimed batch over one connection; give back what cannot be sent within half
        the lease (a slow server) or before the mailer stops, so no row is sent twice."""
        deadline = self.clock.monotonic() + self.lease_s / 2
        with self.server.session() as smtp:
            try:
                self._send_each(claimed, report, smtp, deadline)
            finally:
                self._count(None, "connections", smtp.connections)

    def _send_each(self, claimed: list[mail.Claimed], report: MailReport, smtp: SmtpSession,
                   deadline: float) -> None:
        done: list[mail.Outcome] = []
        try:
            for n, row in enumerate(claimed):
                if not self._may_send(deadline):
                    self._give_back(claimed[n:])
                    return
                outcome, detail = self._send(smtp, row)
                done.append(mail.Outcome(row, outcome, detail, utc_now(self.clock)))
                if len(done) >= self.settle_every or self._age_s(done[0]) >= SETTLE_S:
                    self._settle(done, report)
                    done = []
        finally:
            if done:
                self._settle(done, report)

    def _may_send(self, deadline: float) -> bool:
        """Wait for this message's turn under the rate; return False when the sender must stop
        instead (the mailer is stopping, or half the lease is gone)."""
        if self._passes.stopping or self.clock.monotonic() > deadline:
            return False
        if self.bucket is None:
            return True
        wait = self.bucket.reserve()
        if wait > 0 and (not self._pause(wait) or self.clock.monotonic() > deadline):
            self.bucket.refund()
            return False
        return True

    def _age_s(self, outcome: mail.Outcome) -> float:
        return (utc_now(self.clock) - outcome.at).total_seconds()

    def _settle(self, done: list[mail.Outcome], report: MailReport) -> None:
        """Record outcomes in one transaction (a few tries: an unrecorded send would go out again
        after the lease) and count them."""
        states: list[str | None] | None = None
        for attempt in range(RECORD_TRIES):
            try:
                with session_scope(self._engine) as session:
                    states = mail.record_all(session, done, clock=self.clock, max_attempts=self.max_attempts,
                                             backoff=self.backoff)
                break
            except SQLAlchemyError as exc:
                log.error("cannot record %d notice e-mail outcome(s) (try %d of %d): %s", len(done), attempt + 1,
                          RECORD_TRIES, exc)
        if states is None:
            return
        for item, state in zip(done, states):
            if state is None:
                log.warning("notice e-mail %d: the claim ran out before its outcome (%s) was recorded; "
                            "the process that holds it now settles it", item.row.id, item.outcome)
                continue
            kind = {"sent": "sent", "failed": "failed"}.get(state, "retried")
            self._count(report, kind)
            if kind != "sent":
                log.warning("notice e-mail %d to %s: %s (%s)", item.row.id, item.row.to_addr, item.detail, kind)

    def _give_back(self, rows: list[mail.Claimed]) -> None:
        try:
            with session_scope(self._engine) as session:
                mail.release(session, rows, clock=self.clock)
        except SQLAlchemyError as exc:  # the lease runs out and they are claimed again
            log.error("cannot give back %d notice e-mail(s): %s", len(rows), exc)
        self._count(None, "given_back", len(rows))

    @property
    def native_id(self) -> int | None:
        """Return the operating system's id of the background thread (None when not started)."""
        return self._passes.native_id

    def kick(self) -> None:
        """Deliver soon (new rows were committed)."""
        self._passes.kick()

    def start(self, poll_s: float = POLL_S) -> NoticeMailer:
        """Deliver in a background thread, every ``poll_s`` seconds or when kicked."""
        self._passes.start(poll_s)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread; idempotent."""
        self._passes.stop(timeout)
