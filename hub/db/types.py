"""Column types and time helpers shared by every table.

All times in the relational store are timezone-aware UTC ``datetime`` objects in Python.
PostgreSQL keeps them as ``timestamp with time zone``; SQLite has no such type, so they are
stored as naive UTC text and the zone is put back on read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime
from sqlalchemy.types import TypeDecorator

from wardlink.clock import Clock


class UTCDateTime(TypeDecorator):
    """A ``DateTime(timezone=True)`` that accepts and returns only aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Refuse naive datetimes; store UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now(clock: Clock) -> datetime:
    """Return ``clock``'s wall time as an aware UTC datetime with microsecond precision."""
    return datetime.fromtimestamp(clock.now(), UTC)


def from_ms(ts_ms: int) -> datetime:
    """Return the aware UTC datetime of a millisecond epoch timestamp."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


def to_ms(moment: datetime) -> int:
    """Return the millisecond epoch timestamp of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    return round(moment.timestamp() * 1000)


def choice_check(column: str, values: tuple[str, ...], *, nullable: bool = False) -> CheckConstraint:
    """Return a named CHECK constraint limiting ``column`` to ``values``."""
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_choice")


def range_check(column: str, low: int, high: int) -> CheckConstraint:
    """Return a named CHECK constraint limiting a nullable integer ``column`` to ``low..high``."""
    return CheckConstraint(f"{column} IS NULL OR ({column} BETWEEN {low} AND {high})",
                           name=f"{column}_range")
