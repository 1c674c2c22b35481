"""A broker crash loses nothing: readings the broker acknowledged, then lost, are asked for again.

A real ``wardlink-edge run`` process samples emulated sensors and forwards them through a real
Mosquitto with persistence. The hub's ingest worker has a persistent session on the broker (saved
to disk, as any earlier autosave would have done) and is down. The gateway deletes each reading
from its buffer on the broker's PUBACK; once 2,000 readings are acknowledged, Mosquitto is
killed with SIGKILL (a crash, an OOM kill or a power cut between two saves of its persistence)
and started again on the same port and persistence directory: every message it queued for the
worker since its last save is gone. The worker starts, sees the gateway's batch sequence begin
after the lost batches, asks the gateway to re-send them (``resend-from``), and every reading
the gateway ever committed ends up stored.
"""

from __future__ import annotations

import subprocess

import paho.mqtt.subscribe as subscribe
import pytest

from wardlink.hub.config import load_config as load_hub_config
from wardlink.hub.db import open_engine, upgrade
from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.ingest.sequence import SequencePolicy
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink import protocol
from wardlink.clock import SystemClock

from wardlink.edge.buffer import read_stats

from edge_support import GW, PYTHON, ROOT, edge_env, journal, wait_until, write_config

ACKNOWLEDGED = 2_000
#: Twenty emulated GPIO inputs sampled at 10 Hz: 200 readings/s, so 2,000 in about ten seconds.
CHANNELS = "".join(f"""
[[channels]]
id = "door{pin}"
driver = "digital_input"
params = {{ pin = {pin} }}
quantity = "state"
interval = 0.1
emulate = {{ kind = "square", period_s = {pin % 7 + 2}, duty = 0.5 }}
""" for pin in range(4, 24))


def stored(store: SQLiteStore, wanted: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Return the (channel, ts) of ``wanted`` that ``store`` holds."""
    start = min(ts for _, ts in wanted)
    end = max(ts for _, ts in wanted) + 1
    out = set()
    for channel in {c for c, _ in wanted}:
        out.update((channel, p.ts_ms) for p in store.range(gateway=GW, channel=channel, start_ms=start, end_ms=end))
    return out & wanted


def published(data_dir) -> int:
    try:
        return read_stats(data_dir).published
    except Exception:
        return 0


@pytest.mark.timeout(150)
def test_readings_the_broker_acknowledged_survive_its_kill_9(tmp_path, mosquitto):
    hub_dir = tmp_path / "hub"
    config = load_hub_config(environ={}, overrides={
        "data_dir": str(hub_dir), "mqtt_url": mosquitto.url, "mqtt_client_id": "hub-ingest-crash",
        "database_url": f"sqlite:///{hub_dir / 'wardlink.db'}"})
    upgrade(config.resolved_database_url)  # as 'wardlink db upgrade' before ingest starts
    engine = open_engine(config.resolved_database_url)
    records = IngestRecords(engine)
    store = SQLiteStore(hub_dir / "telemetry.db")
    policy = SequencePolicy(grace_s=1.0, interval_s=3.0)

    def worker() -> IngestWorker:
        started = IngestWorker(config, store, StaticResolver(), SystemClock(), records=records,
                               sequence_policy=policy).start()
        wait_until(lambda: started.stats().subscribed, 15, "the worker subscribed")
        return started

    # The worker's persistent session exists and is on disk; then the worker goes down.
    worker().stop()
    mosquitto.restart()

    path = write_config(tmp_path, mosquitto.port, channels=CHANNELS)  # 200 readings/s
    data_dir = tmp_path / "data"
    log = open(tmp_path / "gateway.log", "wb")
    gateway = subprocess.Popen([PYTHON, "-m", "wardlink.edge.cli", "run", "--config", str(path)], env=edge_env(), cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    hub = None
    try:
        wait_until(lambda: published(data_dir) >= ACKNOWLEDGED, 60,
                   f"{ACKNOWLEDGED} readings acknowledged by the broker", interval=0.05)
        mosquitto.kill()
        acknowledged = read_stats(data_dir).published
        sampled_before_kill = journal(data_dir)
        assert acknowledged >= ACKNOWLEDGED and len(sampled_before_kill) >= acknowledged
        mosquitto.start()
        hub = worker()

        try:
            wait_until(lambda: stored(store, sampled_before_kill) == sampled_before_kill, 60,
                       "every reading sampled before the crash stored", interval=0.2)
        except AssertionError:
            missing = sampled_before_kill - stored(store, sampled_before_kill)
            raise AssertionError(f"{len(missing)} of {len(sampled_before_kill)} readings sampled before the crash "
                                 f"({acknowledged} of them acknowledged by the broker) were never stored") from None
        stats = hub.stats()
        assert stats.resend_requests >= 1, "the lost batches came back because the hub asked for them"
        # Re-sent under their original boot and seq, they filled the hub's record of the sequence.
        wait_until(lambda: [r for r in records.sequences(GW) if r["recovered"] and r["missing"] == 0], 30,
                   "the gateway's batch sequence complete again", interval=0.2)
        assert [r["given_up"] for r in records.sequences(GW)] == [0], "one boot, nothing given up"
        # The status the gateway published on reconnecting states its newest batch, so a gateway
        # that fell quiet after the lost batches would have shown the gap all the same.
        retained = subscribe.simple(protocol.topic(GW, "status"), hostname=mosquitto.host, port=mosquitto.port,
                                    retained=True, msg_count=1, keepalive=10)
        status = protocol.decode_status(retained.payload)
        assert status.state == "online" and status.last_seq is not None and status.last_seq >= 1
        print(f"{acknowledged} acknowledged before the kill, {len(sampled_before_kill)} sampled; "
              f"all stored after {stats.resend_requests} resend-from request(s)")
    finally:
        if gateway.poll() is None:
            gateway.terminate()
            try:
                gateway.wait(20)
            except subprocess.TimeoutExpired:
                gateway.kill()
        log.close()
        if hub is not None:
            hub.stop()
        store.close()
        engine.dispose()
