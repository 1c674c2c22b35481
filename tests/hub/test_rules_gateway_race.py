"""Two ingest workers apply a gateway's first status at once (status is not a shared subscription).

Both find no ``rule_gateways`` row and insert one; the second insert must wait for the first
and then use its row, not fail the batch with a unique violation (which made the worker retry
the whole batch).
"""

from __future__ import annotations

import threading

import pytest

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models.rules import RuleGateway
from wardlink.clock import ManualClock
from wardlink.protocol import Status

from rules_support import make_engine

pytestmark = pytest.mark.timeout(60)


def test_a_first_status_racing_another_workers_insert_is_applied(postgres_db):
    upgrade(postgres_db.url)
    db = open_engine(postgres_db.url)
    clock = ManualClock()
    rules = make_engine(db, clock, [{"name": "gateway-down", "kind": "gateway_offline", "for_s": 60}])
    other = postgres_db.connect(autocommit=False)
    try:
        # The other worker has inserted the row in a transaction it has not committed yet.
        other.execute("INSERT INTO rule_gateways (gateway, state, boot, since_ms, status_ms) "
                      "VALUES ('gw-race', 'online', 'boot-a', 1, 1)")
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(
            result=rules.on_status("gw-race", Status("gw-race", "online", "boot-a", buffer_depth=7,
                                                     oldest_unsent_ms=0))))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the second insert waits for the first transaction"
        other.commit()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        other.close()
    assert outcome["result"].errors == 0, outcome
    with session_scope(db) as session:
        row = session.get(RuleGateway, "gw-race")
        assert (row.state, row.boot, row.buffer_depth) == ("online", "boot-a", 7)
    rules.close()
    db.dispose()
