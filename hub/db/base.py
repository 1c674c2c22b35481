"""The declarative base every table derives from.

Constraint names follow one convention so that Alembic can alter and drop them by name on
PostgreSQL and in SQLite batch mode alike.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the hub's relational store."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
