"""The Alembic migrations build exactly the models' schema on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

import hub.db.models  # noqa: F401 - registers the tables
from hub.db import (Base, check_current, current_revision, downgrade, head_revision, open_engine,
                    session_scope, upgrade)
from hub.errors import ConfigError, StoreError

TABLES = {"sites", "departments", "locations", "users", "api_tokens", "assets", "gateways",
          "channels", "channel_bindings", "alerts", "work_orders", "audit_log"}


def _schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def _round_trip(url: str) -> None:
    engine = open_engine(url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(StoreError, match="wardlink db upgrade"):
            check_current(engine)

        upgrade(url)
        assert current_revision(engine) == head_revision()
        assert TABLES <= set(inspect(engine).get_table_names())
        assert _schema_diff(engine) == []
        check_current(engine)

        downgrade(url, "base")
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())

        upgrade(url)
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_sqlite_upgrade_from_empty_then_down_and_up_again(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.mark.timeout(120)
def test_postgresql_upgrade_from_empty_then_down_and_up_again(postgres_url):
    _round_trip(postgres_url)


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'hub.db'}"
    upgrade(url)  # the parent directory is created on the way
    engine = open_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.execute(text("INSERT INTO departments (site_id, code, name, created_at) "
                             "VALUES (999, 'X', 'Nowhere', '2026-01-01 00:00:00')"))
    engine.dispose()


def _audit_guard(url: str) -> None:
    upgrade(url)
    engine = open_engine(url)
    try:
        with session_scope(engine) as session:
            session.execute(text(
                "INSERT INTO audit_log (seq, at, actor, action, entity, entity_id, prev_hash, row_hash) "
                "VALUES (1, :at, 'x', 'y', 'z', '1', :h, :h)"), {"at": "2026-01-01 00:00:00", "h": "0" * 64})
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), session_scope(engine) as session:
                session.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "x"
    finally:
        engine.dispose()


def test_sqlite_refuses_sql_updates_and_deletes_of_audit_rows(tmp_path):
    _audit_guard(f"sqlite:///{tmp_path / 'hub.db'}")


def test_postgresql_refuses_sql_updates_and_deletes_of_audit_rows(postgres_url):
    _audit_guard(postgres_url)


def test_bad_database_urls_name_the_setting():
    with pytest.raises(ConfigError, match="database_url"):
        open_engine("mysql://somewhere/db")
    with pytest.raises(ConfigError, match="database_url"):
        open_engine("not a url")


def test_autogenerate_leaves_the_ingest_tables_alone(tmp_path):
    """Ingest workers create their own tables; a new revision must neither drop nor create them."""
    from alembic.autogenerate import produce_migrations

    from hub.db.migrate import include_name
    from hub.ingest.records import IngestRecords

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    engine = open_engine(url)
    IngestRecords(engine)  # creates the ingest tables, as a worker does on start

    def diffs(**opts):
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, **opts})
            return produce_migrations(context, Base.metadata).upgrade_ops.as_diffs()

    try:
        assert "remove_table" in {d[0] for d in diffs()}  # what would happen without the filter
        assert diffs(include_name=include_name) == []
    finally:
        engine.dispose()
