"""Change counters kept at commit: which changes make the hub's kept answers stale.

The PM calendar (:mod:`wardlink.hub.services.maintenance.pm_calendar`) keeps the services of a
range in memory for as long as nothing they derive from has changed: the plans, their
generated services, and the asset columns the calendar reads (which assets a plan covers, and
how a service is labelled and filtered). Every session that changes one of these, through the
ORM's unit of work or an ORM ``update()``/``delete()``, raises the ``pm_calendar`` counter of
:class:`~wardlink.hub.db.models.DataStamp` as the last statement before its outermost
commit, so the counter's order is the commits' order and a reader that reads the counter
before the data never keeps data older than the counter it files them under. A rolled back
transaction raises nothing. Raising it at commit also holds the counter's row lock for the
commit alone, so writers queue on it for no longer than that.

The listeners are on every :class:`~sqlalchemy.orm.Session`, registered when the hub's
database package is imported, so every hub process (web, scheduler, ingest, CLI) keeps the
counter. Statements that bypass the ORM (``connection.execute`` of a Core ``update``) are not
seen: the hub's services do not write these tables that way.
"""

from __future__ import annotations

import secrets

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from wardlink.hub.db.models import Asset, PmOccurrence, PmPlan
from wardlink.hub.db.models.stamps import DataStamp

PM_CALENDAR = "pm_calendar"
#: Every change of these tables touches the calendar.
_WHOLE = (PmPlan, PmOccurrence)
#: The asset columns the calendar reads: a change of any other leaves it as it was.
ASSET_COLUMNS = ("id", "tag", "department_id", "category", "make", "model", "equipment_status", "lifecycle_stage")
_FLAG = "wardlink_stamps"


def read(session: Session, name: str = PM_CALENDAR) -> int | None:
    """Return the counter ``name`` as the database has it now (None when it has no row yet)."""
    return session.execute(select(DataStamp.version).where(DataStamp.name == name)).scalar()


def unsettled(session: Session, name: str = PM_CALENDAR) -> bool:
    """Return True when ``session`` has changed what counter ``name`` counts and not committed
    yet: what it reads then is newer than the counter says."""
    return name in session.info.get(_FLAG, ()) or (name == PM_CALENDAR and _touches_calendar(session))


def _touches_calendar(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, (*_WHOLE, Asset)):
            return True
    for obj in session.dirty:
        if isinstance(obj, _WHOLE):
            return True
        if isinstance(obj, Asset):
            attrs = inspect(obj).attrs
            if any(attrs[column].history.has_changes() for column in ASSET_COLUMNS):
                return True
    return False


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context, _instances) -> None:
    if _touches_calendar(session):
        session.info.setdefault(_FLAG, set()).add(PM_CALENDAR)


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in (*_WHOLE, Asset):
        state.session.info.setdefault(_FLAG, set()).add(PM_CALENDAR)


@event.listens_for(Session, "before_commit")
def _raise_counters(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.flush()  # what is still pending is flushed by the commit after this hook: see it now
    names = session.info.pop(_FLAG, None)
    for name in sorted(names or ()):
        connection = session.connection()
        raised = connection.execute(update(DataStamp).where(DataStamp.name == name)
                                    .values(version=DataStamp.version + 1 + secrets.randbelow(2**20)))
        if raised.rowcount == 0:
            connection.execute(DataStamp.__table__.insert().values(name=name, version=secrets.randbits(48)))


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one: committed (counters raised) or rolled back
        session.info.pop(_FLAG, None)
