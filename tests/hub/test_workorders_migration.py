"""Revision 0003_work_orders upgrades a store that already holds work orders, keeps every
reference to them, and undoes itself (cancelled orders come back as closed)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from wardlink.hub.db import downgrade, open_engine, upgrade

AT = "2026-01-01 00:00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wardlink.hub.db'}"
    return request.getfixturevalue("postgres_url")


def _seed_before(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alerts (id, rule, severity, state, title, detail, opened_at, "
                          "ack_note, resolution_note) VALUES (1, 'r', 'warning', 'open', 'Fridge warm', "
                          "'', :at, '', '')"), {"at": AT})
        conn.execute(text("INSERT INTO work_orders (id, kind, state, priority, alert_id, title, "
                          "description, created_at, updated_at) VALUES (7, 'corrective', 'pending', "
                          "'high', 1, 'Fridge warm', '', :at, :at)"), {"at": AT})
        conn.execute(text("INSERT INTO work_orders (id, kind, state, priority, title, description, "
                          "created_at, updated_at) VALUES (8, 'pm', 'assigned', 'low', 'Annual PM', '', "
                          ":at, :at)"), {"at": AT})
        conn.execute(text("INSERT INTO alert_lifecycle (alert_id, historical, shelve_note, "
                          "shelve_notified, escalation_level, ack_notified, work_order_id, updated_at) "
                          "VALUES (1, false, '', false, 0, false, 7, :at)"), {"at": AT})


@pytest.mark.timeout(120)
def test_upgrade_keeps_orders_and_references_then_downgrade_restores_the_old_states(url):
    upgrade(url, "0002_rules")
    engine = open_engine(url)
    try:
        _seed_before(engine)
        upgrade(engine, "0003_work_orders")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, source, escalation_level, hold_reason, resolution_note "
                                     "FROM work_orders ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(7, "alert", 0, "", ""), (8, "manual", 0, "", "")]
            assert conn.execute(text("SELECT work_order_id FROM alert_lifecycle")).scalar_one() == 7
        with engine.begin() as conn:
            conn.execute(text("UPDATE work_orders SET state = 'cancelled' WHERE id = 8"))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE work_orders SET source = 'fax' WHERE id = 8"))
        assert {"work_order_notes", "work_order_signatures"} <= set(inspect(engine).get_table_names())

        downgrade(engine, "0002_rules")
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text("SELECT id, state FROM work_orders ORDER BY id"))] == [
                (7, "pending"), (8, "closed")]
            assert conn.execute(text("SELECT work_order_id FROM alert_lifecycle")).scalar_one() == 7
        inspector = inspect(engine)
        assert "work_order_notes" not in inspector.get_table_names()
        assert "source" not in {c["name"] for c in inspector.get_columns("work_orders")}
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE work_orders SET state = 'cancelled' WHERE id = 7"))
    finally:
        engine.dispose()
