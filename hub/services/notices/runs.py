"""Calendar runs: a job that must happen once per day or month claims its period first.

:func:`claim` inserts the ``(kind, period)`` row of :class:`~wardlink.hub.db.models.ScheduledRun`
in a savepoint of the caller's transaction. The unique key decides: whoever inserts it first
does the work, in the same transaction, so the claim and the work commit together or not at
all. A second scheduler (or the same one after a restart) finds the row and does nothing; one
that tried at the same moment waits for the first transaction and then loses the insert.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wardlink.hub.db.models import ScheduledRun
from wardlink.hub.db.types import utc_now
from wardlink.clock import Clock


def is_done(session: Session, kind: str, period: str) -> bool:
    """Return True when the run of ``kind`` for ``period`` already happened."""
    return session.scalar(select(ScheduledRun.id).where(ScheduledRun.kind == kind,
                                                        ScheduledRun.period == period)) is not None


def claim(session: Session, kind: str, period: str, *, clock: Clock, holder: str = "") -> ScheduledRun | None:
    """Claim the run of ``kind`` for ``period``; return its row, or None if it is someone else's."""
    if is_done(session, kind, period):
        return None
    run = ScheduledRun(kind=kind, period=period[:80], holder=holder[:128], ran_at=utc_now(clock), summary={})
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        return None
    return run


def local_now(clock: Clock, zone: ZoneInfo) -> datetime:
    """Return the clock's time in ``zone``."""
    return utc_now(clock).astimezone(zone)


def is_time(moment: datetime, at: time) -> bool:
    """Return True when the local ``moment`` is at or after the time of day ``at``."""
    return moment.time().replace(tzinfo=None) >= at
