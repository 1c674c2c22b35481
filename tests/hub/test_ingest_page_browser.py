"""A real headless Chromium opens the ingest page: a stalled worker is announced, and a dead
letter's payload (a lone surrogate escape, markup) is shown as text, without a CSP complaint."""

from __future__ import annotations

import pytest
from browser_support import served_hub, signed_in_browser
from relational_support import clock, hub_config

from wardlink.hub.db.engine import open_engine
from wardlink.hub.ingest import IngestRecords
from wardlink.hub.ingest.deadletter import DeadLetter
from wardlink.hub.telemetry.sqlite import SQLiteStore

POISON = b'{"v":1,"gateway":"gw-bad","state":"online","boot":"\\ud800","note":"<b>bold</b>"}'


@pytest.mark.timeout(90)
def test_the_ingest_page_shows_a_stalled_worker_and_dead_letters_in_a_real_browser(tmp_path, clock,
                                                                                     relational_url):
    now_ms = round(clock.now() * 1000)
    engine = open_engine(relational_url)
    records = IngestRecords(engine)  # what a worker would have written
    records.commit(dead=[DeadLetter.of("wardlink/v1/gw-bad/status", POISON, reason="invalid_text",
                                       detail="boot: contains a lone surrogate (U+D800)", received_ms=now_ms,
                                       gateway="gw-bad")],
                   worker={"client_id": "hub-ingest-1", "hostname": "hub", "pid": 42, "started_ms": now_ms,
                           "updated_ms": now_ms, "connected": True, "received": 10, "points_written": 9,
                           "dead_lettered": 1, "acked": 9, "store_errors": 30, "pending": 1,
                           "last_error": "telemetry store: connection refused", "last_error_ms": now_ms,
                           "oldest_pending_ms": now_ms - 600_000, "retrying_since_ms": now_ms - 600_000})
    store = SQLiteStore(tmp_path / "telemetry.db")
    try:
        with served_hub(hub_config(tmp_path, database_url=relational_url), telemetry=store, clock=clock) as base, \
                signed_in_browser(tmp_path, base, "viewer") as browser:
            browser.open(f"{base}/ingest", "document.querySelector('table.dead-letters') !== null",
                         "the ingest page")
            banner = browser.js("document.querySelector('[role=alert].ingest-stalled').innerText")
            assert "Ingest is stalled" in banner and "retrying a store write for 600 s" in banner
            assert browser.js("document.querySelector('tr.worker-stalled th').textContent") == "hub-ingest-1"
            assert browser.js("document.querySelector('table.dead-letters code.reason').textContent") == "invalid_text"
            browser.js("document.querySelector('table.dead-letters details').open = true")
            shown = browser.js("document.querySelector('pre.payload').innerText")
            assert shown == POISON.decode()  # the escape as sent, the markup as text
            assert browser.js("document.querySelector('pre.payload b')") is None
            assert browser.js("document.querySelector('nav a[href=\"/ingest\"]') !== null")  # in the main navigation
            assert not browser.csp_complaints()
    finally:
        store.close()
        engine.dispose()
