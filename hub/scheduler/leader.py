"""One scheduler leader at a time, chosen by the database.

- :class:`AdvisoryLeader` (PostgreSQL): a session-level ``pg_try_advisory_lock`` held on a
  connection of its own. PostgreSQL releases it the moment that connection ends, so a
  crashed or partitioned leader hands over at once, whatever the clocks say.
- :class:`LeaseLeader` (any database; the choice for SQLite): a row in ``scheduler_leases``
  naming the holder until an expiry time, taken and renewed in a write transaction
  (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). A leader that
  stops renewing loses the lease when it expires; a clean stop expires it at once.

Both are context managers; :meth:`release` is idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.models import SchedulerLease
from wardlink.hub.db.types import utc_now
from wardlink.clock import Clock

log = logging.getLogger(__name__)

# An arbitrary constant naming the scheduler's PostgreSQL advisory lock.
PG_LEADER_KEY = 0x574C_5343_4845_4400
DEFAULT_LEASE_S = 60.0


def default_holder() -> str:
    """Return a name for this process: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class AdvisoryLeader:
    """Leadership as a PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(self, engine: Engine, *, holder: str | None = None, key: int = PG_LEADER_KEY) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("AdvisoryLeader needs PostgreSQL; use LeaseLeader on SQLite")
        self.engine = engine
        self.holder = holder or default_holder()
        self.key = key
        self._conn: Connection | None = None

    @property
    def is_leader(self) -> bool:
        """Return True while this process holds the lock (as of the last :meth:`acquire`)."""
        return self._conn is not None

    def acquire(self) -> bool:
        """Take the lock if free, or confirm this process still holds it; return True if leader."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except (DBAPIError, SQLAlchemyError):
                log.warning("scheduler %s lost its database connection and with it the leadership",
                            self.holder)
                self._drop()
                return False
        conn = None
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        except (DBAPIError, SQLAlchemyError):
            if conn is not None:
                conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except SQLAlchemyError:
                pass

    def release(self) -> None:
        """Give up the lock (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except SQLAlchemyError:
            pass  # closing the connection releases it anyway
        finally:
            conn.close()

    def __enter__(self) -> AdvisoryLeader:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class LeaseLeader:
    """Leadership as a renewable lease row; expiry is judged by the injected clock."""

    def __init__(self, engine: Engine, *, clock: Clock, holder: str | None = None,
                 name: str = "scheduler", lease_s: float = DEFAULT_LEASE_S) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease_s: must be > 0, got {lease_s}")
        self.engine = engine
        self.clock = clock
        self.holder = holder or default_holder()
        self.name = name
        self.lease = timedelta(seconds=lease_s)
        self._held = False

    @property
    def is_leader(self) -> bool:
        """Return True while this process holds the lease (as of the last :meth:`acquire`)."""
        return self._held

    def acquire(self) -> bool:
        """Take the lease if free or expired, or renew it if ours; return True if leader."""
        now = utc_now(self.clock)
        try:
            with session_scope(self.engine) as session:
                row = session.scalar(select(SchedulerLease).where(SchedulerLease.name == self.name)
                                     .with_for_update())
                if row is None:
                    session.add(SchedulerLease(name=self.name, holder=self.holder, acquired_at=now,
                                               renewed_at=now, expires_at=now + self.lease))
                elif row.holder == self.holder or row.expires_at <= now:
                    if row.holder != self.holder:
                        log.info("scheduler %s takes over from %s, whose lease expired at %s",
                                 self.holder, row.holder, row.expires_at.isoformat())
                        row.holder, row.acquired_at = self.holder, now
                    row.renewed_at, row.expires_at = now, now + self.lease
                else:
                    self._held = False
                    return False
        except IntegrityError:
            self._held = False  # another scheduler inserted the first lease row at the same time
            return False
        self._held = True
        return True

    def release(self) -> None:
        """Expire the lease now if this process holds it, so a standby takes over (idempotent)."""
        if not self._held:
            return
        self._held = False
        now = utc_now(self.clock)
        try:
            with session_scope(self.engine) as session:
                row = session.get(SchedulerLease, self.name, with_for_update=True)
                if row is not None and row.holder == self.holder:
                    row.expires_at = min(row.expires_at, now)
        except SQLAlchemyError:
            log.warning("scheduler %s could not expire its lease; a standby takes over when it runs out",
                        self.holder)

    def __enter__(self) -> LeaseLeader:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def leader_for(engine: Engine, *, clock: Clock, holder: str | None = None,
               lease_s: float = DEFAULT_LEASE_S):
    """Return the leader lock that fits the database: advisory lock on PostgreSQL, lease elsewhere."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLeader(engine, holder=holder)
    return LeaseLeader(engine, clock=clock, holder=holder, lease_s=lease_s)
