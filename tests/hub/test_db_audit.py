"""The audit trail is a hash chain: any changed, deleted or reordered row is found by verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hub.db import open_engine, session_scope, upgrade
from hub.db.audit import GENESIS_HASH, append, chain_head, row_digest, verify_chain
from hub.db.models import AuditLog
from hub.errors import StoreError

AT = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)


def _fill(engine, count: int = 5) -> list[int]:
    with session_scope(engine) as session:
        rows = [append(session, at=AT + timedelta(seconds=i), actor="alice", actor_id=None,
                       action="asset.update", entity="asset", entity_id=f"VF-{i:04d}",
                       before={"equipment_status": "in_service"},
                       after={"equipment_status": "faulty", "cost": i * 1.5}, source_ip="192.0.2.7")
                for i in range(count)]
        return [r.id for r in rows]


def _drop_guard(engine) -> None:
    # An attacker with database access can remove the triggers; the chain still tells.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = open_engine(url)
    yield engine
    engine.dispose()


def test_an_untouched_chain_verifies_and_links_each_row_to_its_parent(audit_engine):
    ids = _fill(audit_engine)
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) is None
        rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
        assert [r.id for r in rows] == ids
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == GENESIS_HASH
        for parent, child in zip(rows, rows[1:], strict=False):
            assert child.prev_hash == parent.row_hash
        head = chain_head(session)
        assert (head.seq, head.row_hash) == (5, rows[-1].row_hash)


def test_a_value_changed_with_raw_sql_is_found_at_that_row(audit_engine):
    ids = _fill(audit_engine)
    _drop_guard(audit_engine)
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET after_json = :j WHERE id = :id"),
                     {"j": '{"equipment_status":"in_service"}', "id": ids[2]})
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) == ids[2]


def test_a_row_rehashed_after_tampering_breaks_the_link_to_the_next_row(audit_engine):
    ids = _fill(audit_engine)
    _drop_guard(audit_engine)
    with session_scope(audit_engine) as session:
        row = session.get(AuditLog, ids[1])
        forged = AuditLog(seq=row.seq, at=row.at, actor="mallory", actor_id=None, action=row.action,
                          entity=row.entity, entity_id=row.entity_id, before_json=row.before_json,
                          after_json=row.after_json, source_ip=row.source_ip, prev_hash=row.prev_hash)
        new_hash = row_digest(forged)
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory', row_hash = :h WHERE id = :id"),
                     {"h": new_hash, "id": ids[1]})
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) == ids[2]


def test_a_deleted_row_is_found_at_the_row_after_it(audit_engine):
    ids = _fill(audit_engine)
    _drop_guard(audit_engine)
    with audit_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[3]})
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) == ids[4]


def test_deleting_the_first_row_is_found(audit_engine):
    ids = _fill(audit_engine, 3)
    _drop_guard(audit_engine)
    with audit_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[0]})
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) == ids[1]


def test_truncating_the_newest_rows_is_visible_only_against_a_recorded_head(audit_engine):
    _fill(audit_engine, 4)
    with session_scope(audit_engine, readonly=True) as session:
        recorded = chain_head(session)
    _drop_guard(audit_engine)
    with audit_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) is None  # a chain cannot see its own missing tail...
        assert chain_head(session).seq < recorded.seq  # ...an anchor kept elsewhere can


def test_the_orm_refuses_to_change_or_delete_audit_rows(audit_engine):
    ids = _fill(audit_engine, 1)
    with pytest.raises(StoreError, match="append-only"), session_scope(audit_engine) as session:
        session.get(AuditLog, ids[0]).actor = "mallory"
    with pytest.raises(StoreError, match="append-only"), session_scope(audit_engine) as session:
        session.delete(session.get(AuditLog, ids[0]))


@pytest.mark.timeout(60)
def test_concurrent_writers_never_fork_the_chain(audit_engine):
    """Four threads append at once; the chain stays one line with no gaps."""
    import threading

    errors = []

    def writer(n):
        try:
            for i in range(15):
                with session_scope(audit_engine) as session:
                    append(session, at=AT, actor=f"w{n}", actor_id=None, action="x", entity="e",
                           entity_id=str(i))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert errors == []
    with session_scope(audit_engine, readonly=True) as session:
        assert verify_chain(session) is None
        assert list(session.scalars(select(AuditLog.seq).order_by(AuditLog.seq))) == list(range(1, 61))


def test_wardlink_audit_verify_command_names_the_tampered_row(audit_engine, tmp_path):
    """The operator's command, run as a program, passes an intact chain and names a changed row."""
    import subprocess
    import sys

    ids = _fill(audit_engine)
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "{audit_engine.url.render_as_string(hide_password=False)}"\n')

    def verify():
        return subprocess.run([sys.executable, "-m", "hub.cli", "--config", str(config), "audit", "verify"],
                              capture_output=True, text=True, timeout=120)

    intact = verify()
    assert intact.returncode == 0, intact.stderr
    assert "audit trail intact" in intact.stdout
    _drop_guard(audit_engine)
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[2]})
    broken = verify()
    assert broken.returncode == 1
    assert f"BROKEN at row {ids[2]}" in broken.stderr
