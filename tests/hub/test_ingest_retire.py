"""Retiring an ingest worker of a shared group, and readings that reach the hub late, through a
real Mosquitto: a retired worker's session is drained and removed (nothing lost, the group's
share no longer stranded), and an excursion in late readings raises one historical alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from relational_support import GATEWAY, T0_S, clock, engine, login, web
from rules_support import alerts, install_rules

from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.ingest.retire import retire
from wardlink.hub.rules import RulesEngine
from wardlink.hub.services.gateways.ingest_status import ingest_health
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import Publisher, hub_config, migrated_engine, telemetry, wait_until
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)

NOW_MS = int(T0_S * 1000) + 3_600_000  # the rules' clock: an hour after the seeded site's start
DOOR = "fridge1.door"
DOOR_OPEN = {"name": "door-open", "kind": "threshold", "severity": "warning", "match": {"channel": DOOR},
             "above": 0.5}


def make_worker(tmp_path, broker, store, records, client_id, *, resolver=None, listeners=()) -> IngestWorker:
    config = hub_config(tmp_path, broker.url, mqtt_client_id=client_id, mqtt_share_group="ingest")
    return IngestWorker(config, store, resolver or StaticResolver(), ManualClock(NOW_MS / 1000), records=records,
                        retry_initial_s=0.05, retry_max_s=0.2, listeners=listeners)


def started(worker: IngestWorker) -> IngestWorker:
    worker.start()
    wait_until(lambda: worker.stats().subscribed, what=f"{worker.client_id} subscribed")
    return worker


def session_present(broker, client_id: str) -> bool:
    """Connect as ``client_id`` keeping its session; return whether the broker still had one."""
    flags = {}
    done = threading.Event()

    def on_connect(client, userdata, f, rc, props):
        flags["present"] = f.session_present
        done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                         protocol=paho.MQTTv311)
    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
        return flags["present"]
    finally:
        client.disconnect()
        client.loop_stop()


def door_batches(values: dict[int, float], start_ms: int) -> dict[int, tuple[str, bytes]]:
    """Return one telemetry message per second of the door channel: {second: message}."""
    return {s: telemetry(GATEWAY, s, [(DOOR, start_ms + s * 1000, v)]) for s, v in values.items()}


def door_alerts(db):
    return [(round(lc.condition_since.timestamp() * 1000), a.state, lc.historical)
            for a, lc in alerts(db, "door-open")]


def test_a_retired_worker_is_drained_and_leaves_the_group_so_nothing_is_stranded(mosquitto, tmp_path):
    store = SQLiteStore(tmp_path / "telemetry.db")
    records = IngestRecords(migrated_engine(f"sqlite:///{tmp_path / 'wardlink.db'}"))
    a = started(make_worker(tmp_path, mosquitto, store, records, "hub-a"))
    b = started(make_worker(tmp_path, mosquitto, store, records, "hub-b"))
    b.stop()  # shut down without retiring: its session stays in the group, offline
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-1")
    first = [telemetry("gw-1", seq, [(f"ch{i}", NOW_MS - 600_000 + seq * 10 + i, float(seq)) for i in range(5)])
             for seq in range(40)]
    pub.publish_all(first)  # every PUBACK: each message is with hub-a or queued in hub-b's session
    wait_until(lambda: a.stats().received and a.stats().acked == a.stats().received and a.stats().pending == 0,
               what="hub-a's share stored")
    assert 0 < a.stats().received < 40, "the offline member kept part of the share"
    stranded = 40 - a.stats().received
    health = ingest_health(records.engine, NOW_MS)
    assert health.status == "stalled" and [w.state for w in health.workers] == ["running", "offline"]
    assert [w.lag_ms for w in health.workers] == [0, 0]  # nothing waits unacknowledged in a worker
    assert health.reasons == ("hub-b is offline but still in group ingest: its share of the readings waits in its "
                              "session (start it again, or retire it with wardlink hub ingest --retire)",)

    report = retire(make_worker(tmp_path, mosquitto, store, records, "hub-b"), quiet_s=1.0)
    assert (report.drained, report.points_written, report.session_removed) == (stranded, stranded * 5, True)
    assert store.count() == 40 * 5  # nothing lost
    assert not session_present(mosquitto, "hub-b")
    assert "hub-b" not in {w.client_id for w in records.workers()}
    health = ingest_health(records.engine, NOW_MS)
    assert (health.status, [w.row.client_id for w in health.workers]) == ("ok", ["hub-a"])

    c = started(make_worker(tmp_path, mosquitto, store, records, "hub-c"))  # the replacement
    before = a.stats().received
    second = [telemetry("gw-1", seq, [(f"ch{i}", NOW_MS - 300_000 + seq * 10 + i, float(seq)) for i in range(5)])
              for seq in range(40, 80)]
    pub.publish_all(second)
    wait_until(lambda: store.count() == 80 * 5, what="the second round stored in full by hub-a and hub-c")
    wait_until(lambda: a.stats().pending == 0 and c.stats().pending == 0, what="all acknowledged")
    assert (a.stats().received - before) + c.stats().received == 40
    assert c.stats().received > 0
    for worker in (a, c):
        worker.stop()
    pub.close()
    store.close()
    records.engine.dispose()


def test_door_readings_stranded_in_a_retired_workers_session_get_one_alert_per_episode(
        mosquitto, tmp_path, engine):
    install_rules(engine, ManualClock(NOW_MS / 1000), [DOOR_OPEN])
    store = SQLiteStore(tmp_path / "telemetry.db")
    records = IngestRecords(engine)

    def worker(client_id):
        rules = RulesEngine(engine, clock=ManualClock(NOW_MS / 1000))
        return make_worker(tmp_path, mosquitto, store, records, client_id, resolver=DbResolver(engine),
                           listeners=[rules])

    a = started(worker("hub-a"))
    started(worker("hub-b")).stop()
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-door")
    start = NOW_MS - 300_000
    # the door: open 4 s of every 15 (a square wave), one reading a second for two minutes
    values = {s: 1.0 if s % 15 in (5, 6, 7, 8) else 0.0 for s in range(120)}
    pub.publish_all(door_batches(values, start).values())
    wait_until(lambda: a.stats().received and a.stats().pending == 0, what="hub-a's share evaluated")
    report = retire(worker("hub-b"), quiet_s=1.0)
    assert report.drained > 0
    assert store.count() == 120
    want = [start + s * 1000 for s in range(120) if values[s] and not values.get(s - 1)]
    found = door_alerts(engine)
    assert [since for since, _, _ in found] == want  # one alert per episode, from its first reading
    assert all(state == "resolved" for _, state, _ in found)
    a.stop()
    pub.close()
    store.close()


def test_a_late_batch_with_an_excursion_raises_exactly_one_historical_alert(mosquitto, tmp_path, engine):
    install_rules(engine, ManualClock(NOW_MS / 1000), [DOOR_OPEN])
    store = SQLiteStore(tmp_path / "telemetry.db")
    rules = RulesEngine(engine, clock=ManualClock(NOW_MS / 1000))
    a = started(make_worker(tmp_path, mosquitto, store, IngestRecords(engine), "hub-a",
                            resolver=DbResolver(engine), listeners=[rules]))
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-door")
    start = NOW_MS - 300_000
    values = {s: 1.0 if s == 41 else 0.0 for s in range(120)}  # the door opened for one reading
    batches = door_batches(values, start)
    pub.publish_all(m for s, m in batches.items() if s != 41)  # that one sat in a stranded session
    wait_until(lambda: a.stats().acked == 119, what="the live readings evaluated")
    assert door_alerts(engine) == []
    pub.publish_all([batches[41], batches[41]])  # two minutes late, and delivered twice
    wait_until(lambda: a.stats().acked == 121, what="the late batch evaluated")
    assert door_alerts(engine) == [(start + 41_000, "resolved", True)]
    [(alert, lc)] = alerts(engine, "door-open")
    assert alert.title.startswith("Historical: ") and (lc.episode_ms, lc.episode_end_ms) == (start + 41_000,
                                                                                             start + 42_000)
    a.stop()
    pub.close()
    store.close()


def test_the_retire_command_stores_what_the_session_held_and_removes_it(mosquitto, tmp_path, engine):
    records = IngestRecords(engine)
    store_path = tmp_path / "telemetry.db"
    store = SQLiteStore(store_path)
    started(make_worker(tmp_path, mosquitto, store, records, "hub-old")).stop()  # its session: the group's only one
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-1")
    messages = [telemetry("gw-1", seq, [(f"ch{i}", NOW_MS - 60_000 + seq * 10 + i, float(seq)) for i in range(5)])
                for seq in range(10)]
    pub.publish_all(messages)
    assert store.count() == 0  # all ten wait in the offline session
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "WARDLINK_DATA_DIR": str(tmp_path),
           "WARDLINK_MQTT_URL": mosquitto.url, "WARDLINK_DATABASE_URL": engine.url.render_as_string(False),
           "WARDLINK_TELEMETRY_SQLITE_PATH": str(store_path)}
    done = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "hub", "ingest", "--client-id", "hub-old", "--group",
                           "ingest", "--retire", "--drained-after", "1"], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"client_id": "hub-old", "drained": 10,
                                                                "points_written": 50, "session_removed": True}
    assert store.count() == 50
    assert not session_present(mosquitto, "hub-old")
    pub.close()
    store.close()


def test_health_is_degraded_while_a_stopped_member_still_holds_a_share_and_ok_once_it_is_retired(
        mosquitto, tmp_path, web):
    records = IngestRecords(web.engine)
    store = SQLiteStore(tmp_path / "share.db")
    client = web.app.test_client()
    a = started(make_worker(tmp_path, mosquitto, store, records, "hub-a"))
    started(make_worker(tmp_path, mosquitto, store, records, "hub-b")).stop()
    wait_until(lambda: {w.client_id for w in records.workers()} == {"hub-a", "hub-b"}, what="both workers' rows")
    status, body = client.get("/api/v1/health").status_code, client.get("/api/v1/health").json
    assert (status, body["status"], body["ingest"]) == (200, "degraded", "stalled")
    assert any("hub-b is offline but still in group ingest" in r for r in body["reasons"])
    login(client, "viewer")
    workers = {w["client_id"]: w for w in client.get("/api/v1/ingest").json["workers"]}
    assert (workers["hub-b"]["state"], workers["hub-b"]["share_group"], workers["hub-a"]["state"]) == (
        "offline", "ingest", "running")
    assert workers["hub-b"]["updated_ms"] > 0 and workers["hub-a"]["lag_ms"] == 0  # last seen; nothing waiting

    retire(make_worker(tmp_path, mosquitto, store, records, "hub-b"), quiet_s=1.0)
    assert client.get("/api/v1/health").json["ingest"] == "ok"
    assert [w["client_id"] for w in client.get("/api/v1/ingest").json["workers"]] == ["hub-a"]
    a.stop()
    store.close()
