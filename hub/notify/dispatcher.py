"""Deliver the notification outbox: claim due rows, send them, record the outcome.

The rules engine writes ``notification_outbox`` rows in the same transaction as the alert
change they describe, so a notification is never lost and never sent for a change that was
rolled back. The dispatcher sends them afterwards, outside any transaction, so a slow SMTP
server never holds the database's write lock.

Each row is claimed with a conditional UPDATE that also pushes its next attempt ``lease_s``
into the future, so several hub processes may run dispatchers without sending a row twice,
and a process that dies mid-send leaves the row to be retried after the lease. The claim's
attempt number is its token: a dispatcher gives back the rows of a batch it has not tried once
half the lease is gone (a slow receiver cannot make the rest outlive their lease and be sent
again by another process), and records an outcome only while the row is still its claim, so a
late sender never overwrites what the row's next claimant recorded. Failures are
logged, counted and retried with exponential backoff (``retry_initial_s`` doubling up to
``retry_max_s``) until ``max_attempts``; a receiver that refuses a notification outright
(:class:`~wardlink.hub.notify.errors.DeliveryRejected`) is not retried. Nothing here raises into the
caller: a broken notifier cannot stop the engine.

An e-mail notifier writes to people: before it sends, the dispatcher looks up the language of
each of its addresses (:func:`wardlink.hub.services.people.language.address_languages`: the
person's, else the alert's site's, else ``default_locale``). Webhooks and gateway commands get
the same payload whatever the language (codes, not words).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.models.rules import NotificationOutbox
from wardlink.hub.db.types import utc_now
from wardlink.hub.notify.errors import DeliveryRejected
from wardlink.hub.notify.passes import PassThread
from wardlink.hub.services.alerts.notifications import Notification
from wardlink.hub.services.people import language
from wardlink.clock import Clock, SystemClock
from wardlink.retry import Backoff

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one :meth:`Dispatcher.run_pending` pass did."""

    sent: int = 0
    retried: int = 0  # failed now, scheduled again
    failed: int = 0  # given up
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Send due outbox rows through the named notifiers."""

    def __init__(self, engine: Engine, notifiers: Mapping[str, Any], *, clock: Clock | None = None,
                 max_attempts: int = 10, retry_initial_s: float = 30.0, retry_max_s: float = 3600.0,
                 lease_s: float = 300.0, batch: int = 50, default_locale: str = "en") -> None:
        """``default_locale``: the hub's language where neither a recipient nor the alert's site chose one."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts: must be >= 1, got {max_attempts}")
        self._engine = engine
        self.notifiers = dict(notifiers)
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.lease_s = lease_s
        self.batch = batch
        self.default_locale = default_locale
        self.counters: Counter[str] = Counter()  # "<target>.sent", "<target>.retried", "<target>.failed"
        self._passes = PassThread("notify-dispatcher", self.run_pending, log)
        self._run_lock = threading.Lock()

    # ------------------------------------------------------------------ routing

    def wants(self, target: str, event: str) -> bool:
        """Return True when ``target`` exists and reports ``event``."""
        notifier = self.notifiers.get(target)
        return notifier is not None and event in notifier.events

    # ------------------------------------------------------------------ delivery

    def _backoff(self, attempts: int) -> float:
        return Backoff(self.retry_initial_s, self.retry_max_s).ceiling(attempts - 1)

    def _claim(self) -> list[tuple[int, str, dict, int]]:
        now = utc_now(self.clock)
        lease = now + timedelta(seconds=self.lease_s)
        claimed = []
        with session_scope(self._engine) as session:
            due = session.execute(
                select(NotificationOutbox.id).where(NotificationOutbox.state == "pending",
                                                    NotificationOutbox.next_attempt_at <= now)
                .order_by(NotificationOutbox.id).limit(self.batch)).scalars().all()
            for row_id in due:
                won = session.execute(
                    update(NotificationOutbox)
                    .where(NotificationOutbox.id == row_id, NotificationOutbox.state == "pending",
                           NotificationOutbox.next_attempt_at <= now)
                    .values(next_attempt_at=lease, attempts=NotificationOutbox.attempts + 1)).rowcount
                if won:
                    row = session.get(NotificationOutbox, row_id)
                    claimed.append((row.id, row.target, dict(row.payload), row.attempts))
        return claimed

    def _deliver(self, target: str, payload: dict) -> tuple[str, str]:
        """Return (outcome, detail) where outcome is sent, retry or reject."""
        notifier = self.notifiers.get(target)
        if notifier is None:
            return "reject", f"no notifier named {target!r} is configured"
        try:
            note = Notification.from_payload(payload)
            if getattr(notifier, "kind", None) == "email":
                detail = notifier.send(note, self._languages(notifier.to, note))
            else:
                detail = notifier.send(note)
        except DeliveryRejected as exc:
            return "reject", str(exc)
        except Exception as exc:
            return "retry", f"{exc.__class__.__name__}: {exc}"
        return "sent", detail or "sent"

    def _languages(self, addresses: list[str], note: Notification) -> dict[str, str]:
        """Return the language each address reads (the alert's site's, else the hub's, for strangers)."""
        with session_scope(self._engine, readonly=True) as session:
            return language.address_languages(session, addresses, fallback=note.language or self.default_locale)

    def run_pending(self, limit: int | None = None) -> DeliveryReport:
        """Send every due row (at most ``limit``); return what happened."""
        report = DeliveryReport()
        with self._run_lock:
            done = 0
            while limit is None or done < limit:
                try:
                    claimed = self._claim()
                except SQLAlchemyError as exc:
                    log.error("notification outbox unreadable: %s", exc)
                    report.errors.append(f"outbox: {exc.__class__.__name__}")
                    break
                if not claimed:
                    break
                claimed_at = self.clock.now()
                for index, (row_id, target, payload, attempts) in enumerate(claimed):
                    if index and self.clock.now() - claimed_at >= self.lease_s / 2:
                        self._give_back(claimed[index:])
                        break
                    outcome, detail = self._deliver(target, payload)
                    self._record(report, row_id, target, outcome, detail, attempts)
                    done += 1
        return report

    def _give_back(self, rows: list[tuple[int, str, dict, int]]) -> None:
        """Make claimed rows that were not tried due again, undoing their claim's attempt."""
        now = utc_now(self.clock)
        try:
            with session_scope(self._engine) as session:
                for row_id, _target, _payload, attempts in rows:
                    session.execute(update(NotificationOutbox).where(*self._still_mine(row_id, attempts))
                                    .values(next_attempt_at=now, attempts=attempts - 1))
        except SQLAlchemyError as exc:
            # Their lease runs out and they are claimed again: late, never lost.
            log.error("cannot give back %d unsent notification(s): %s", len(rows), exc)

    @staticmethod
    def _still_mine(row_id: int, attempts: int) -> tuple:
        """Conditions under which row ``row_id`` is still the claim that counted ``attempts``."""
        return (NotificationOutbox.id == row_id, NotificationOutbox.state == "pending",
                NotificationOutbox.attempts == attempts)

    def _record(self, report: DeliveryReport, row_id: int, target: str, outcome: str, detail: str,
                attempts: int) -> None:
        now = utc_now(self.clock)
        values: dict[str, Any]
        if outcome == "sent":
            values = {"state": "sent", "sent_at": now, "last_error": ""}
            report.sent += 1
            self.counters[f"{target}.sent"] += 1
            log.info("notification %d to %s: %s", row_id, target, detail)
        elif outcome == "retry" and attempts < self.max_attempts:
            delay = self._backoff(attempts)
            values = {"next_attempt_at": now + timedelta(seconds=delay), "last_error": detail[:2000]}
            report.retried += 1
            report.errors.append(f"{target}: {detail}")
            self.counters[f"{target}.retried"] += 1
            log.warning("notification %d to %s failed (attempt %d of %d), retrying in %.0f s: %s",
                        row_id, target, attempts, self.max_attempts, delay, detail)
        else:
            values = {"state": "failed", "last_error": detail[:2000]}
            report.failed += 1
            report.errors.append(f"{target}: {detail}")
            self.counters[f"{target}.failed"] += 1
            log.error("notification %d to %s given up after %d attempt(s): %s", row_id, target, attempts, detail)
        try:
            with session_scope(self._engine) as session:
                mine = session.execute(update(NotificationOutbox).where(*self._still_mine(row_id, attempts))
                                       .values(**values)).rowcount
            if not mine:
                log.warning("outcome of notification %d not recorded: its lease ran out and another "
                            "dispatcher claimed it", row_id)
        except SQLAlchemyError as exc:
            # The lease runs out and the row is tried again: a duplicate, never a loss.
            log.error("cannot record outcome of notification %d: %s", row_id, exc)
            report.errors.append(f"outbox: {exc.__class__.__name__}")

    def backlog(self) -> dict[str, int]:
        """Return how many outbox rows are pending, sent and failed."""
        with session_scope(self._engine, readonly=True) as session:
            rows = session.execute(select(NotificationOutbox.state, func.count())
                                   .group_by(NotificationOutbox.state)).all()
        counts = {"pending": 0, "sent": 0, "failed": 0}
        counts.update({state: n for state, n in rows})
        return counts

    # ------------------------------------------------------------------ background thread

    def kick(self) -> None:
        """Wake the background thread (after the engine queued notifications)."""
        self._passes.kick()

    def start(self, poll_s: float = 5.0) -> Dispatcher:
        """Deliver in a background thread, every ``poll_s`` seconds or when kicked."""
        self._passes.start(poll_s)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread; idempotent."""
        self._passes.stop(timeout)

    def close(self) -> None:
        """Stop and close every notifier; idempotent."""
        self.stop()
        for notifier in self.notifiers.values():
            try:
                notifier.close()
            except Exception:
                log.exception("closing notifier %s failed", getattr(notifier, "name", "?"))

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
