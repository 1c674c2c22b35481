"""The audit trail is a hash chain: any changed, deleted or reordered row is found by verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.audit import GENESIS_HASH, append, chain_head, row_digest, verify_chain
from wardlink.hub.db.models import AuditLog
from wardlink.hub.errors import StoreError

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
        except Exception as exc:
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
        return subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "--config", str(config), "audit", "verify"],
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


# ------------------------------------------------------------------ the keyed chain

#: Every append-only trigger, as an attacker would drop it, per dialect.
_DROP_ALL = {"sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete",
                        "DROP TRIGGER audit_chain_keys_no_update", "DROP TRIGGER audit_chain_keys_no_delete"],
             "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log",
                            "DROP TRIGGER audit_log_no_truncate ON audit_log",
                            "DROP TRIGGER audit_chain_keys_append_only ON audit_chain_keys",
                            "DROP TRIGGER audit_chain_keys_no_truncate ON audit_chain_keys"]}


@pytest.fixture
def keyed(audit_engine, tmp_path):
    """A hub config whose data dir holds the audit key, registered for ``audit_engine``'s
    database as a hub service registers it; forgotten afterwards."""
    from wardlink.hub.config import load_config
    from wardlink.hub.db.audit import register_key
    from wardlink.hub.db.audit_key import use_audit_key

    url = audit_engine.url.render_as_string(hide_password=False)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path / "data"), "database_url": url})
    key = use_audit_key(config, audit_engine)
    toml = tmp_path / "hub.toml"
    toml.write_text(f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{url}"\n')
    yield config, key, toml
    register_key(url, None)


def _cli(toml, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "--config", str(toml), "audit", *args],
                          capture_output=True, text=True, timeout=120)


def _rewrite(engine, victim_seq: int, digest) -> None:
    """Drop the triggers, change one row and recompute every later hash with ``digest``."""
    with engine.begin() as conn:
        for statement in _DROP_ALL[engine.dialect.name]:
            conn.exec_driver_sql(statement)
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = :seq"), {"seq": victim_seq})
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.seq >= victim_seq).order_by(AuditLog.seq)).all()
        session.expunge_all()
    prev = None
    with engine.begin() as conn:
        for row in rows:
            if prev is not None:
                row.prev_hash = prev
            row.row_hash = prev = digest(row)
            conn.execute(text("UPDATE audit_log SET prev_hash = :p, row_hash = :h WHERE id = :id"),
                         {"p": row.prev_hash, "h": row.row_hash, "id": row.id})


def test_the_key_file_is_generated_private_and_the_chain_is_keyed_from_the_next_row(audit_engine, keyed):
    from wardlink.hub.db.audit import check_chain, keyed_start

    config, key, toml = keyed
    assert (tmp := config.data_dir / "audit_key").exists() and (tmp.stat().st_mode & 0o777) == 0o600
    ids = _fill(audit_engine)
    with session_scope(audit_engine, readonly=True) as session:
        assert keyed_start(session).from_seq == 1
        rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
        assert all(row.row_hash == row_digest(row, key) != row_digest(row) for row in rows)
        result = check_chain(session)
        assert result.intact and result.rows == 5 and result.broken_id is None, result
    ok = _cli(toml, "verify")
    assert ok.returncode == 0, ok.stderr
    assert f"chain head: row 5 hash {rows[-1].row_hash}" in ok.stdout
    assert "audit trail intact: 5 rows, keyed from row 1" in ok.stdout
    assert ids


@pytest.mark.parametrize("recompute", ["plain sha-256", "hmac without the key"])
def test_a_rewritten_chain_is_detected_without_the_key(audit_engine, keyed, recompute):
    import hashlib
    import hmac

    from wardlink.hub.db.audit import canonical_json, check_chain

    config, key, toml = keyed
    ids = _fill(audit_engine, 6)

    def forged(row):
        content = json_content(row)
        if recompute == "plain sha-256":
            return hashlib.sha256(content).hexdigest()
        return hmac.new(b"a guess at the key, not the key itself", content, hashlib.sha256).hexdigest()

    def json_content(row):
        return canonical_json({"seq": row.seq, "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
                               "actor_id": row.actor_id, "actor": row.actor, "action": row.action,
                               "entity": row.entity, "entity_id": row.entity_id, "before": row.before_json,
                               "after": row.after_json, "source_ip": row.source_ip,
                               "prev_hash": row.prev_hash}).encode()

    _rewrite(audit_engine, 3, forged)
    with session_scope(audit_engine, readonly=True) as session:
        result = check_chain(session)
        assert result.broken_id == ids[2], result
    broken = _cli(toml, "verify")
    assert broken.returncode == 1
    assert f"BROKEN at row {ids[2]}" in broken.stderr
    assert "append-only trigger(s) missing" in broken.stderr


def test_a_missing_or_disabled_trigger_is_reported_on_an_intact_chain(audit_engine, keyed):
    config, key, toml = keyed
    _fill(audit_engine)
    with audit_engine.begin() as conn:
        if audit_engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            name = "audit_log.audit_log_append_only"
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_chain_keys_no_delete")
            name = "audit_chain_keys.audit_chain_keys_no_delete"
    result = _cli(toml, "verify")
    assert result.returncode == 1
    assert f"append-only trigger(s) missing or disabled: {name}" in result.stderr
    assert "BROKEN at row" not in result.stderr  # the rows themselves still verify
    assert "chain head: row 5" in result.stdout


def test_rows_from_before_the_key_verify_as_before_and_a_wrong_or_missing_key_is_refused(audit_engine, tmp_path):
    from wardlink.hub.config import load_config
    from wardlink.hub.db.audit import check_chain, register_key
    from wardlink.hub.db.audit_key import use_audit_key

    _fill(audit_engine, 3)  # written before the upgrade keyed the chain
    url = audit_engine.url.render_as_string(hide_password=False)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path / "a"), "database_url": url})
    try:
        key = use_audit_key(config, audit_engine)
        _fill(audit_engine, 2)
        with session_scope(audit_engine, readonly=True) as session:
            result = check_chain(session)
            assert result.intact and result.keyed_from == 4 and result.rows == 5, result
            rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
            assert [r.row_hash == row_digest(r, key) for r in rows] == [False, False, False, True, True]
            wrong = check_chain(session, b"x" * 64)
            assert wrong.broken_id == rows[3].id
            assert any("not the key the chain is keyed with" in p for p in wrong.problems)
        other = load_config(environ={}, overrides={"data_dir": str(tmp_path / "b"), "database_url": url})
        use_audit_key(other)  # another data dir: another generated key
        with pytest.raises(StoreError, match="not the key the audit chain is keyed with"):
            _fill(audit_engine, 1)
        register_key(url, None)
        with pytest.raises(StoreError, match="no audit key"):
            _fill(audit_engine, 1)
        with session_scope(audit_engine, readonly=True) as session:
            assert any("no audit key is available" in p for p in check_chain(session).problems)
    finally:
        register_key(url, None)


def test_the_head_command_appends_one_line_per_run_for_a_copy_kept_elsewhere(audit_engine, keyed, tmp_path):
    import json

    config, key, toml = keyed
    _fill(audit_engine, 2)
    anchor = tmp_path / "anchors.jsonl"
    assert _cli(toml, "head", "--append", str(anchor)).returncode == 0
    _fill(audit_engine, 1)
    assert _cli(toml, "head", "--append", str(anchor)).returncode == 0
    lines = [json.loads(line) for line in anchor.read_text().splitlines()]
    with session_scope(audit_engine, readonly=True) as session:
        head = chain_head(session)
    assert [line["seq"] for line in lines] == [2, 3]
    assert lines[-1]["row_hash"] == head.row_hash
