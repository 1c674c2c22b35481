"""Writers of one gateway's ``gateway_links`` row on PostgreSQL: none fails, none loses the others' facts.

Two ingest workers apply a gateway's first status at once (status is not a shared
subscription): both find no row and insert one; the second insert must wait for the first and
then use its row, not fail the batch with a unique violation (which made the worker retry the
whole batch). Ingest and the rules engine write the same row in their own transactions, each
only its own columns: whichever commits last keeps the other's.
"""

from __future__ import annotations

import threading
from dataclasses import asdict

import pytest

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import GatewayLink
from wardlink.hub.ingest import GatewayRecord, IngestRecords
from wardlink.clock import ManualClock
from wardlink.protocol import Status

from rules_support import make_engine

pytestmark = pytest.mark.timeout(60)


def _waits_for(other, call) -> dict:
    """Run ``call`` in a thread while ``other`` holds its transaction; it must wait, then finish."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=call()))
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the second writer waits for the first transaction"
    other.commit()
    thread.join(30)
    assert not thread.is_alive()
    return outcome


def test_a_first_status_racing_another_workers_insert_is_applied(postgres_db):
    upgrade(postgres_db.url)
    db = open_engine(postgres_db.url)
    clock = ManualClock()
    rules = make_engine(db, clock, [{"name": "gateway-down", "kind": "gateway_offline", "for_s": 60}])
    other = postgres_db.connect(autocommit=False)
    try:
        # The other worker has inserted the row in a transaction it has not committed yet.
        other.execute("INSERT INTO gateway_links (gateway, rules_state, rules_boot, rules_since_ms, rules_status_ms) "
                      "VALUES ('gw-race', 'online', 'boot-a', 1, 1)")
        outcome = _waits_for(other, lambda: rules.on_status(
            "gw-race", Status("gw-race", "online", "boot-a", buffer_depth=7, oldest_unsent_ms=0)))
    finally:
        other.close()
    assert outcome["result"].errors == 0, outcome
    with session_scope(db) as session:
        row = session.get(GatewayLink, "gw-race")
        assert (row.rules_state, row.rules_boot, row.rules_buffer_depth) == ("online", "boot-a", 7)
    rules.close()
    db.dispose()


def test_ingest_and_the_rules_engine_keep_each_others_columns_of_one_row(postgres_db):
    upgrade(postgres_db.url)
    db = open_engine(postgres_db.url)
    clock = ManualClock()
    rules = make_engine(db, clock, [{"name": "gateway-down", "kind": "gateway_offline", "for_s": 60}])
    records = IngestRecords(db)
    heard = GatewayRecord("gw-both", state="online", status_boot="b1", boot="b1", batches=3, readings=30,
                          last_seen_ms=1_000, version="1.0")
    records.commit(gateway_rows=[asdict(heard)])
    other = postgres_db.connect(autocommit=False)
    try:
        # Ingest's next commit holds the row while the engine applies a status: the engine waits,
        # then writes its own columns on the row ingest committed.
        other.execute("UPDATE gateway_links SET batches = 4, readings = 40, last_seen_ms = 2000 "
                      "WHERE gateway = 'gw-both'")
        outcome = _waits_for(other, lambda: rules.on_status(
            "gw-both", Status("gw-both", "online", "b1", ts_ms=1_500, buffer_depth=9, oldest_unsent_ms=0),
            received_ms=2_000))
        assert outcome["result"].errors == 0, outcome
        # And the other way round: the engine's change waits for nothing of ingest's, and
        # ingest's upsert keeps the engine's columns.
        records.commit(gateway_rows=[asdict(GatewayRecord("gw-both", state="offline", status_boot="b1",
                                                          boot="b1", batches=5, readings=50, last_seen_ms=3_000))])
    finally:
        other.close()
    with session_scope(db) as session:
        row = session.get(GatewayLink, "gw-both")
        assert (row.state, row.batches, row.readings, row.last_seen_ms) == ("offline", 5, 50, 3_000)
        assert (row.rules_state, row.rules_boot, row.rules_buffer_depth, row.rules_status_ms) == \
            ("online", "b1", 9, 2_000)
        assert (row.status_ts_ms, row.clock_offset_ms) == (1_500, 500)
    [record] = records.gateways("gw-both")
    assert (record.state, record.batches) == ("offline", 5)
    rules.close()
    db.dispose()
