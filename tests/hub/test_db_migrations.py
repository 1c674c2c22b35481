"""The Alembic migrations build exactly the models' schema on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String,
                        Table, Text, UniqueConstraint, inspect, text)
from sqlalchemy.exc import DBAPIError, IntegrityError

import wardlink.hub.db.models
from wardlink.hub.db import (Base, check_current, current_revision, downgrade, head_revision, open_engine,
                    session_scope, upgrade)
from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.ingest import IngestRecords

TABLES = {"sites", "departments", "locations", "users", "api_tokens", "assets", "gateways",
          "channels", "channel_bindings", "alerts", "work_orders", "audit_log", "ingest_dead_letters",
          "ingest_events", "gateway_links", "ingest_workers", "ingest_batch_sequence"}


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
    _round_trip(f"sqlite:///{tmp_path / 'wardlink.hub.db'}")


@pytest.mark.timeout(120)
def test_postgresql_upgrade_from_empty_then_down_and_up_again(postgres_url):
    _round_trip(postgres_url)


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'wardlink.hub.db'}"
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
    _audit_guard(f"sqlite:///{tmp_path / 'wardlink.hub.db'}")


def test_postgresql_refuses_sql_updates_and_deletes_of_audit_rows(postgres_url):
    _audit_guard(postgres_url)


def test_bad_database_urls_name_the_setting():
    with pytest.raises(ConfigError, match="database_url"):
        open_engine("mysql://somewhere/db")
    with pytest.raises(ConfigError, match="database_url"):
        open_engine("not a url")


def _tables_a_worker_made(metadata: MetaData) -> None:
    """Declare the ingest tables as ingest workers created them before revision 0013, at run
    time with CREATE TABLE IF NOT EXISTS: here as a worker of the first release made them, with
    ``ingest_workers`` lacking its later columns, and before ``ingest_batch_sequence`` existed."""
    big, name = BigInteger, String(64)
    Table("ingest_dead_letters", metadata,
          Column("id", Integer, primary_key=True), Column("digest", String(64), nullable=False, unique=True),
          Column("topic", Text, nullable=False), Column("gateway", name),
          Column("reason", String(32), nullable=False), Column("detail", Text, nullable=False),
          Column("payload", LargeBinary, nullable=False), Column("payload_size", Integer, nullable=False),
          Column("first_received_ms", big, nullable=False), Column("last_received_ms", big, nullable=False),
          Column("count", Integer, nullable=False),
          Index("ix_ingest_dead_letters_last_received_ms", "last_received_ms"))
    Table("ingest_events", metadata,
          Column("id", Integer, primary_key=True), Column("gateway", name, nullable=False),
          Column("boot", name, nullable=False), Column("seq", big, nullable=False),
          Column("idx", Integer, nullable=False), Column("ts_ms", big, nullable=False),
          Column("type", String(64), nullable=False), Column("severity", String(16), nullable=False),
          Column("channel", String(128)), Column("asset", String(256)), Column("data", JSON, nullable=False),
          Column("received_ms", big, nullable=False), UniqueConstraint("gateway", "boot", "seq", "idx"),
          Index("ix_ingest_events_ts_ms", "ts_ms"), Index("ix_ingest_events_gateway_ts", "gateway", "ts_ms"),
          Index("ix_ingest_events_asset_ts", "asset", "ts_ms"))
    Table("ingest_gateway_state", metadata,
          Column("gateway", name, primary_key=True), Column("state", String(16)), Column("state_ts_ms", big),
          Column("state_received_ms", big), Column("status_boot", name), Column("version", name),
          Column("uptime_s", Float), Column("buffer_depth", big), Column("oldest_unsent_ms", big),
          Column("dropped", big), Column("config_version", big), Column("boot", name),
          Column("telemetry_seq", big), Column("events_seq", big),
          *(Column(c, Integer, nullable=False) for c in ("restarts", "gaps")),
          *(Column(c, big, nullable=False) for c in ("missing_batches", "duplicate_batches", "batches", "readings")),
          Column("last_reading_ts_ms", big), Column("last_seen_ms", big))
    Table("ingest_workers", metadata,
          Column("client_id", String(128), primary_key=True), Column("hostname", String(255), nullable=False),
          Column("pid", Integer, nullable=False), Column("started_ms", big, nullable=False),
          Column("updated_ms", big, nullable=False), Column("connected", Boolean, nullable=False),
          *(Column(c, big, nullable=False) for c in ("received", "points_written", "dead_lettered", "acked",
                                                     "store_errors")),
          Column("pending", Integer, nullable=False), Column("last_error", Text), Column("last_error_ms", big))


def _upgrade_over_tables_a_worker_made(url: str) -> None:
    upgrade(url, "0012_alert_episodes")
    engine = open_engine(url)
    try:
        old = MetaData(naming_convention={"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
                                          "pk": "pk_%(table_name)s"})
        _tables_a_worker_made(old)
        old.create_all(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(old.tables["ingest_workers"].insert().values(
                client_id="w1", hostname="h", pid=1, started_ms=1, updated_ms=2, connected=True, received=3,
                points_written=4, dead_lettered=0, acked=3, store_errors=0, pending=0))
            conn.execute(old.tables["ingest_gateway_state"].insert().values(
                gateway="gw-1", state="online", restarts=1, gaps=0, missing_batches=0, duplicate_batches=0,
                batches=7, readings=70))
        with pytest.raises(StoreError, match="wardlink db upgrade"):
            IngestRecords(engine)  # an ingest worker of this version refuses to start before the upgrade

        upgrade(url)
        assert current_revision(engine) == head_revision()
        assert _schema_diff(engine) == []  # every table, column and index as the models declare them
        records = IngestRecords(engine)  # and ingest now starts, keeping what the old worker wrote
        [worker] = records.workers()
        assert (worker.client_id, worker.received, worker.share_group) == ("w1", 3, None)
        [gateway] = records.gateways("gw-1")
        assert (gateway.batches, gateway.readings) == (7, 70)
        assert records.sequences() == []

        downgrade(url, "0012_alert_episodes")
        assert not [n for n in inspect(engine).get_table_names() if n.startswith("ingest_")]
    finally:
        engine.dispose()


def test_sqlite_upgrade_keeps_the_ingest_tables_a_worker_made_and_completes_them(tmp_path):
    _upgrade_over_tables_a_worker_made(f"sqlite:///{tmp_path / 'wardlink.hub.db'}")


@pytest.mark.timeout(120)
def test_postgresql_upgrade_keeps_the_ingest_tables_a_worker_made_and_completes_them(postgres_url):
    _upgrade_over_tables_a_worker_made(postgres_url)


def test_no_table_of_the_relational_store_is_created_outside_the_migrations():
    """Every table of the relational store comes from the migrations: no hub module creates a
    table or adds a column at run time (the SQLite telemetry store is a file of its own)."""
    hub = Path(__file__).resolve().parents[2] / "hub"
    ddl = re.compile(r"create_all\(|\.create\(\s*(bind=)?engine|CREATE\s+TABLE|ADD\s+COLUMN", re.IGNORECASE)
    found = [f"{path.relative_to(hub.parent)}:{n}" for path in sorted(hub.rglob("*.py"))
             if "migrations" not in path.parts and path.parent.name != "telemetry"
             for n, line in enumerate(path.read_text().splitlines(), 1) if ddl.search(line)]
    assert found == []


def _links_from_three_places(url: str) -> None:
    """Revision 0015 merges a gateway's link from the gateway row, ingest's table and the rules
    engine's into ``gateway_links``, and its downgrade puts the three back."""
    from datetime import datetime, timedelta, UTC

    from sqlalchemy import DateTime, column, select, table

    from wardlink.hub.db.models import GatewayLink

    upgrade(url, "0014_equipment_status")
    engine = open_engine(url)
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    t_ms = round(t.timestamp() * 1000)
    gateways = table("gateways", *(column(c) for c in ("gateway_id", "name", "status", "boot_id", "buffer_depth",
                                                      "software_version", "enabled")),
                     *(column(c, DateTime(timezone=True)) for c in ("last_seen_at", "created_at", "updated_at")))
    counters = dict(restarts=2, gaps=1, missing_batches=3, duplicate_batches=4, batches=7, readings=70)
    try:
        with engine.begin() as conn:
            conn.execute(gateways.insert(), [
                # heard by ingest since the row was last updated: ingest's facts win, the row fills gaps
                dict(gateway_id="gw-a", name="A", status="offline", last_seen_at=t - timedelta(minutes=1),
                     boot_id=None, buffer_depth=None, software_version="0.8", enabled=True, created_at=t,
                     updated_at=t),
                # only the row knows it
                dict(gateway_id="gw-b", name="B", status="online", last_seen_at=t, boot_id="bb", buffer_depth=3,
                     software_version="0.9", enabled=True, created_at=t, updated_at=t),
                # never heard
                dict(gateway_id="gw-c", name="C", status="unknown", last_seen_at=None, boot_id=None,
                     buffer_depth=None, software_version=None, enabled=True, created_at=t, updated_at=t)])
            conn.execute(text(
                "INSERT INTO ingest_gateway_state (gateway, state, status_boot, boot, last_seen_ms, restarts, gaps, "
                "missing_batches, duplicate_batches, batches, readings) VALUES "
                "(:g, 'online', 'b1', 'b1', :seen, :restarts, :gaps, :missing_batches, :duplicate_batches, "
                ":batches, :readings)"), [dict(g="gw-a", seen=t_ms, **counters), dict(g="gw-d", seen=t_ms, **counters)])
            conn.execute(text("INSERT INTO rule_gateways (gateway, state, boot, since_ms, status_ms, buffer_depth, "
                              "oldest_unsent_ms, status_ts_ms, clock_offset_ms) "
                              "VALUES ('gw-a', 'online', 'b1', 1, 2, 5, 6000, 3, 500)"))

        upgrade(url)
        assert _schema_diff(engine) == []
        with session_scope(engine) as session:
            links = {r.gateway: r for r in session.scalars(select(GatewayLink))}
            assert sorted(links) == ["gw-a", "gw-b", "gw-d"]
            a, b = links["gw-a"], links["gw-b"]
            assert (a.state, a.last_seen_ms, a.boot, a.version, a.batches, a.readings, a.restarts) == \
                ("online", t_ms, "b1", "0.8", 7, 70, 2)
            assert (a.rules_state, a.rules_boot, a.rules_since_ms, a.rules_status_ms, a.rules_buffer_depth,
                    a.rules_oldest_unsent_ms, a.status_ts_ms, a.clock_offset_ms) == \
                ("online", "b1", 1, 2, 5, 6000, 3, 500)
            assert (b.state, b.last_seen_ms, b.status_boot, b.buffer_depth, b.version, b.batches, b.rules_state) == \
                ("online", t_ms, "bb", 3, "0.9", 0, None)
        assert not {"ingest_gateway_state", "rule_gateways"} & set(inspect(engine).get_table_names())
        assert "status" not in {c["name"] for c in inspect(engine).get_columns("gateways")}

        downgrade(url, "0014_equipment_status")
        assert "gateway_links" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            rows = {r.gateway_id: r for r in conn.execute(select(gateways))}
            assert (rows["gw-a"].status, rows["gw-a"].boot_id, rows["gw-a"].software_version) == ("online", "b1", "0.8")
            assert rows["gw-a"].last_seen_at.replace(tzinfo=UTC) == t
            assert (rows["gw-b"].status, rows["gw-b"].buffer_depth) == ("online", 3)
            assert (rows["gw-c"].status, rows["gw-c"].last_seen_at) == ("unknown", None)
            ingest = conn.execute(text("SELECT gateway, batches, last_seen_ms FROM ingest_gateway_state "
                                       "ORDER BY gateway")).all()
            assert [tuple(r) for r in ingest] == [("gw-a", 7, t_ms), ("gw-b", 0, t_ms), ("gw-d", 7, t_ms)]
            applied = conn.execute(text("SELECT gateway, state, since_ms, clock_offset_ms FROM rule_gateways")).all()
            assert [tuple(r) for r in applied] == [("gw-a", "online", 1, 500)]
        with pytest.raises(IntegrityError), engine.begin() as conn:  # the status check is back
            conn.execute(gateways.update().where(gateways.c.gateway_id == "gw-c").values(status="sleepy"))
        upgrade(url)
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_sqlite_gateway_links_merge_the_three_old_places_and_split_back(tmp_path):
    _links_from_three_places(f"sqlite:///{tmp_path / 'wardlink.hub.db'}")


@pytest.mark.timeout(120)
def test_postgresql_gateway_links_merge_the_three_old_places_and_split_back(postgres_url):
    _links_from_three_places(postgres_url)
