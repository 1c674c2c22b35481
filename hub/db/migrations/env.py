"""Alembic environment: runs online against the engine handed over by :mod:`wardlink.hub.db.migrate`."""

from __future__ import annotations

from alembic import context

import wardlink.hub.db.models  # noqa: F401 - registers every table on the metadata
from wardlink.hub.db.base import Base
from wardlink.hub.db.engine import open_engine
from wardlink.hub.db.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj, autogen_context):
    """Render our column types as plain SQLAlchemy types, so revisions never import hub code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    """Run the migrations in one transaction on the configured engine."""
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        engine = open_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
                # SQLite can roll back DDL too (the engine issues BEGIN itself), so a failed
                # migration leaves the schema as it was on both databases.
                transactional_ddl=True,
                compare_type=True,
                render_item=render_item,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
