"""The rules generation: one counter row (``rules_generation``) that every change of the rules
bumps in the same transaction, so each rules engine, in any process, notices the change with
one primary-key read per batch or tick and reloads its rules without a restart.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from wardlink.hub.db.models.rules import RulesGeneration

ROW_ID = 1


def bump(session: Session) -> None:
    """Count one change of the rules (call it in the transaction that changes them)."""
    done = session.execute(update(RulesGeneration).where(RulesGeneration.id == ROW_ID)
                           .values(generation=RulesGeneration.generation + 1))
    if not done.rowcount:  # a schema made without the migration's row
        session.add(RulesGeneration(id=ROW_ID, generation=1))
        session.flush()


def current(session: Session) -> int:
    """Return the rules generation (0 before any change)."""
    return session.scalar(select(RulesGeneration.generation).where(RulesGeneration.id == ROW_ID)) or 0


_READ = select(RulesGeneration.generation).where(RulesGeneration.id == ROW_ID)


def read(engine: Engine) -> int:
    """Return the rules generation, read on a pooled connection of its own (no ORM session:
    this runs once per batch and tick, and a plain statement costs a fraction of one)."""
    with engine.connect() as connection:
        return connection.execute(_READ).scalar() or 0
