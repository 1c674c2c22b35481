"""Delivery guarantees end to end: store outages, worker stops and kills, broker restarts.

Every test publishes real QoS 1 messages to a real Mosquitto and checks what the stores hold
afterwards: every reading exactly once, whatever failed in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import T0, Publisher, hub_config, migrated_engine, telemetry, wait_until
from wardlink import protocol
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(120)

START = T0 - 86_400_000  # readings from the day before the clock's "now"


def batches(count: int, per_batch: int, *, gateway: str = "gw-1", first_seq: int = 0) -> list[tuple[str, bytes]]:
    """Return ``count`` telemetry messages of ``per_batch`` distinct readings each."""
    out = []
    for seq in range(first_seq, first_seq + count):
        rows = [(f"ch{i % 5}", START + seq * per_batch * 10 + i, float(seq) + i / 1000) for i in range(per_batch)]
        out.append(telemetry(gateway, seq, rows))
    return out


def expected_points(messages) -> set[tuple[str, int, float]]:

    return {(r.channel, r.ts_ms, r.value) for _, payload in messages
            for r in protocol.decode_telemetry(payload).readings}


def stored_points(store, gateway: str = "gw-1", channels=("ch0", "ch1", "ch2", "ch3", "ch4")) -> list[tuple]:
    """Return every stored point of ``gateway`` as (channel, ts, value), duplicates kept."""
    out = []
    for ch in channels:
        out += [(ch, r.ts_ms, r.value) for r in store.range(gateway=gateway, channel=ch, start_ms=START, end_ms=T0)]
    return out


@pytest.fixture
def records(tmp_path):
    engine = migrated_engine(f"sqlite:///{tmp_path / 'wardlink.db'}")
    yield IngestRecords(engine)
    engine.dispose()


def start_worker(tmp_path, broker, store, records, *, client_id="hub-ingest-1", **kwargs) -> IngestWorker:
    config = hub_config(tmp_path, broker.url, mqtt_client_id=client_id,
                        **{k: kwargs.pop(k) for k in list(kwargs) if k.startswith("mqtt_")})
    kwargs.setdefault("retry_initial_s", 0.05)
    kwargs.setdefault("retry_max_s", 0.2)
    worker = IngestWorker(config, store, StaticResolver(), ManualClock(), records=records, **kwargs)
    worker.start()
    wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
    return worker


def test_nothing_is_acknowledged_while_influxdb_is_down_and_everything_lands_once_after(
        influxd, mosquitto_factory, tmp_path, records):
    """influxd stops; messages pile up unacknowledged (the broker holding most of them, as this
    client's in-flight window is 10); influxd starts; every reading lands exactly once."""
    broker = mosquitto_factory(extra_config=["max_inflight_messages 10"])
    store = InfluxStore(influxd.url, influxd.database, retries=0)
    worker = start_worker(tmp_path, broker, store, records)
    influxd.stop()
    pub = Publisher(broker.host, broker.port)
    messages = batches(40, 50)
    pub.publish_all(messages)
    wait_until(lambda: worker.stats().received == 10 and worker.stats().store_errors >= 2,
               what="the in-flight window filled while the store is down")
    stats = worker.stats()
    assert (stats.acked, stats.points_written, stats.pending) == (0, 0, 10)
    assert "InfluxDB" in stats.last_error
    influxd.start()
    wait_until(lambda: worker.stats().acked == 40, timeout=30, what="all 40 acknowledged")
    points = stored_points(store)
    assert len(points) == 40 * 50
    assert set(points) == expected_points(messages)
    assert worker.stats().received == 40  # each delivered once: nothing was acknowledged early or lost
    worker.stop()
    pub.close()


def test_a_worker_stopped_without_acknowledging_gets_everything_again_on_restart(
        influxd, mosquitto, tmp_path, records):
    store = InfluxStore(influxd.url, influxd.database, retries=0)
    first = start_worker(tmp_path, mosquitto, store, records)
    influxd.stop()
    pub = Publisher(mosquitto.host, mosquitto.port)
    messages = batches(20, 100)
    pub.publish_all(messages)
    wait_until(lambda: first.stats().received == 20)
    first.stop(drain=False)
    assert first.stats().acked == 0
    influxd.start()
    second = start_worker(tmp_path, mosquitto, store, records)  # same client id, same session
    wait_until(lambda: second.stats().acked == 20, timeout=30, what="re-delivery acknowledged")
    assert second.stats().received == 20
    points = stored_points(store)
    assert len(points) == 20 * 100 and set(points) == expected_points(messages)
    second.stop()
    pub.close()


def test_messages_published_while_no_worker_runs_are_delivered_at_its_next_start(
        mosquitto, tmp_path, records):
    store = SQLiteStore(tmp_path / "telemetry.db")
    first = start_worker(tmp_path, mosquitto, store, records)
    first.stop()  # the persistent session stays with the broker
    pub = Publisher(mosquitto.host, mosquitto.port)
    messages = batches(10, 20)
    pub.publish_all(messages)
    second = start_worker(tmp_path, mosquitto, store, records)
    wait_until(lambda: second.stats().acked == 10)
    assert set(stored_points(store)) == expected_points(messages) and store.count() == 200
    second.stop()
    pub.close()
    store.close()


def test_ingest_reconnects_after_a_broker_restart(mosquitto, tmp_path, records):
    store = SQLiteStore(tmp_path / "telemetry.db")
    worker = start_worker(tmp_path, mosquitto, store, records)
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-before")
    pub.publish(*batches(1, 10)[0])
    wait_until(lambda: worker.stats().acked == 1)
    pub.close()
    mosquitto.restart()
    wait_until(lambda: not worker.stats().connected or worker.stats().last_error, what="disconnect noticed")
    wait_until(lambda: worker.stats().connected, timeout=30, what="reconnected")
    pub = Publisher(mosquitto.host, mosquitto.port, "gw-after")
    pub.publish(*batches(1, 10, first_seq=1)[0])
    wait_until(lambda: worker.stats().acked == 2, timeout=30)
    assert store.count() == 20
    worker.stop()
    pub.close()
    store.close()


def test_two_workers_in_a_share_group_split_the_load_and_store_everything_once(mosquitto, tmp_path, records):
    store = SQLiteStore(tmp_path / "telemetry.db")
    a = start_worker(tmp_path, mosquitto, store, records, client_id="hub-a", mqtt_share_group="ingest")
    b = start_worker(tmp_path, mosquitto, store, records, client_id="hub-b", mqtt_share_group="ingest")
    pub = Publisher(mosquitto.host, mosquitto.port)
    messages = batches(40, 10)
    pub.publish_all(messages)
    wait_until(lambda: a.stats().acked + b.stats().acked == 40)
    assert a.stats().received > 0 and b.stats().received > 0
    assert a.stats().received + b.stats().received == 40
    assert store.count() == 400 and set(stored_points(store)) == expected_points(messages)
    a.stop()
    b.stop()
    pub.close()
    store.close()


def test_workers_joining_a_share_group_drop_their_old_plain_subscriptions(mosquitto, tmp_path, records):
    """Persistent sessions remember the plain filters of an earlier run; left in place, every
    worker would still get every message and the group would split nothing."""
    store = SQLiteStore(tmp_path / "telemetry.db")
    for client_id in ("hub-a", "hub-b"):
        start_worker(tmp_path, mosquitto, store, records, client_id=client_id).stop()
    a = start_worker(tmp_path, mosquitto, store, records, client_id="hub-a", mqtt_share_group="ingest")
    b = start_worker(tmp_path, mosquitto, store, records, client_id="hub-b", mqtt_share_group="ingest")
    wait_until(lambda: a.stats().subscribed and b.stats().subscribed, what="both subscriptions in place")
    pub = Publisher(mosquitto.host, mosquitto.port)
    pub.publish_all(batches(40, 5))
    wait_until(lambda: store.count() == 40 * 5, what="all stored")
    wait_until(lambda: a.stats().acked + b.stats().acked == a.stats().received + b.stats().received)
    assert a.stats().received + b.stats().received == 40  # split, not copied
    assert a.stats().received and b.stats().received  # both members of the group took a share
    for worker in (a, b):
        worker.stop()
    pub.close()
    store.close()


# A worker process as production runs it, so that it can be killed for real.
WORKER_PROCESS = textwrap.dedent("""
    import signal, sys, threading
    from wardlink.hub.config import load_config
    from wardlink.hub.db.engine import open_engine
    from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
    from wardlink.hub.telemetry.influx import InfluxStore
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.clock import ManualClock

    broker_url, data_dir, client_id, group, influx_url, influx_db = sys.argv[1:7]
    config = load_config(environ={}, overrides={
        "data_dir": data_dir, "mqtt_url": broker_url, "mqtt_client_id": client_id,
        "mqtt_share_group": group, "database_url": f"sqlite:///{data_dir}/wardlink.db"})
    if influx_url:
        store = InfluxStore(influx_url, influx_db, retries=0)
    else:
        store = SQLiteStore(f"{data_dir}/telemetry.db")
    worker = IngestWorker(config, store, StaticResolver(), ManualClock(),
                          records=IngestRecords(open_engine(config.resolved_database_url)),
                          max_batch_points=2000)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=worker.stop).start())
    worker.run_forever()
    store.close()
""")


def _spawn(broker, data_dir, client_id="hub-proc", *, group="", influx=None) -> subprocess.Popen:
    migrated_engine(f"sqlite:///{data_dir}/wardlink.db").dispose()  # as 'wardlink db upgrade' before ingest starts
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    influx_args = [influx.url, influx.database] if influx is not None else ["", ""]
    return subprocess.Popen([sys.executable, "-c", WORKER_PROCESS, broker.url, str(data_dir), client_id, group,
                             *influx_args], env=env, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(180)
def test_a_killed_worker_process_loses_nothing_and_stores_nothing_twice(mosquitto, tmp_path):
    """SIGKILL the worker mid-stream, start a new process with the same client id: every reading
    is stored once — committed-but-unacknowledged messages are re-delivered and ignored by the key."""
    pub = Publisher(mosquitto.host, mosquitto.port)
    first = _spawn(mosquitto, tmp_path)
    try:
        reader = None
        wait_until(lambda: (tmp_path / "telemetry.db").exists(), what="worker started")
        reader = SQLiteStore(tmp_path / "telemetry.db")
        # Until the worker has subscribed once, the broker drops what is published: re-send
        # a probe until it is stored, so nothing published below can be lost that way.
        probe = telemetry("gw-probe", 0, [("p", START, 1.0)])

        def probe_stored() -> bool:
            pub.publish(*probe)
            return reader.count(gateway="gw-probe") == 1

        wait_until(probe_stored, timeout=30, what="probe stored")
        messages = batches(150, 1000)
        total = 150 * 1000
        pub.publish_all(messages)
        seen = wait_until(lambda: reader.count(gateway="gw-1") >= total // 10 and reader.count(gateway="gw-1"),
                          timeout=60, what="a tenth committed")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = reader.count(gateway="gw-1")
        assert seen <= at_kill < total, "the kill must land mid-stream for this test to mean anything"
        second = _spawn(mosquitto, tmp_path)
        try:
            wait_until(lambda: reader.count(gateway="gw-1") == total, timeout=120, what="everything stored")
            points = stored_points(reader)
            assert len(points) == total and set(points) == expected_points(messages)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        if reader is not None:
            reader.close()
        pub.close()


class Stream:
    """Publishes numbered telemetry batches one after the other from a thread, as a fleet of
    gateways would, until stopped; keeps every message it got a PUBACK for."""

    def __init__(self, broker, *, per_batch: int = 100, pause_s: float = 0.02) -> None:
        self.pub = Publisher(broker.host, broker.port, client_id="stream-gateway")
        self.per_batch, self.pause_s = per_batch, pause_s
        self.sent: list[tuple[str, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            message = batches(1, self.per_batch, first_seq=seq)[0]
            self.pub.publish(*message)
            self.sent.append(message)
            seq += 1
            self._stop.wait(self.pause_s)  # pacing between messages, not a wait for an outcome

    def stop(self) -> list[tuple[str, bytes]]:
        self._stop.set()
        self._thread.join(30)
        self.pub.close()
        return list(self.sent)


#: How long influxd stays down in the mid-stream outage test: 20 s, a minute with ``--slow``.
OUTAGE_S, OUTAGE_SLOW_S = 20.0, 60.0


@pytest.mark.timeout(300)
def test_influxdb_down_mid_stream_loses_nothing_and_duplicates_nothing(
        influxd, mosquitto, tmp_path, records, pytestconfig):
    """Gateways keep publishing before, during and after an influxd outage of 20 s (a minute with
    ``--slow``). While it is down nothing is acknowledged; afterwards the store holds exactly the
    set published, once each."""
    outage_s = OUTAGE_SLOW_S if pytestconfig.getoption("--slow") else OUTAGE_S
    store = InfluxStore(influxd.url, influxd.database, retries=0)
    worker = start_worker(tmp_path, mosquitto, store, records)
    stream = Stream(mosquitto)
    try:
        wait_until(lambda: worker.stats().acked >= 20, timeout=30, what="stream flowing into influxd")
        influxd.stop()
        down_at = time.monotonic()
        acked_at_stop = wait_until(lambda: worker.stats().store_errors and (worker.stats().acked,),
                                   timeout=30, what="the store failure seen")[0]
        # The outage lasts outage_s of wall time by design; the publisher keeps going meanwhile.
        wait_until(lambda: time.monotonic() - down_at >= outage_s, timeout=outage_s + 10,
                   what="the end of the outage")
        during = worker.stats()
        assert during.acked == acked_at_stop, "nothing may be acknowledged while the store is down"
        assert len(stream.sent) * 100 > during.points_written + 1000, "the stream kept flowing during the outage"
        influxd.start()
        sent_at_restart = len(stream.sent)
        wait_until(lambda: len(stream.sent) >= sent_at_restart + 20, timeout=30, what="stream after the restart")
    finally:
        messages = stream.stop()
    total = len(messages) * 100
    wait_until(lambda: store.count(gateway="gw-1") == total and not worker.stats().pending, timeout=120,
               what=f"every reading stored and acknowledged ({total} published)")
    assert worker.stats().connected, "the outage must not cost the broker connection (keep-alive)"
    points = stored_points(store)
    assert len(points) == len(set(points)) == len(messages) * 100
    assert set(points) == expected_points(messages)
    worker.stop()


@pytest.mark.timeout(300)
def test_one_of_two_worker_processes_in_a_share_group_killed_mid_stream(mosquitto, influxd, tmp_path):
    """Two worker processes split the stream through a shared subscription into influxd; one
    is SIGKILLed mid-stream. The survivor keeps storing its share while the other is dead; the
    messages the dead one held come back when it restarts with its client id (its session
    keeps them). Afterwards the store holds exactly the set published, once each."""
    store = InfluxStore(influxd.url, influxd.database, retries=0)
    dirs = {}
    for name in ("hub-a", "hub-b"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
    procs = {name: _spawn(mosquitto, d, name, group="ingest", influx=influxd) for name, d in dirs.items()}
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        # Until both have subscribed the broker may drop or route elsewhere what is published:
        # re-send a probe until stored (its own gateway, not part of the compared set).
        probe = telemetry("gw-probe", 0, [("p", START, 1.0)])
        wait_until(lambda: pub.publish(*probe) and store.count(gateway="gw-probe") == 1, timeout=60,
                   what="probe stored")
        messages = batches(300, 500)
        total = len(messages) * 500
        pub.publish_all(messages)
        wait_until(lambda: store.count(gateway="gw-1") >= total // 10, timeout=60, what="a tenth committed")
        procs["hub-a"].send_signal(signal.SIGKILL)
        procs["hub-a"].wait(10)
        at_kill = store.count(gateway="gw-1")
        assert at_kill < total, "the kill must land mid-stream for this test to mean anything"
        wait_until(lambda: store.count(gateway="gw-1") > at_kill + 5000, timeout=60,
                   what="the survivor storing while the other is dead")
        procs["hub-a"] = _spawn(mosquitto, dirs["hub-a"], "hub-a", group="ingest", influx=influxd)
        wait_until(lambda: store.count(gateway="gw-1") == total, timeout=180, what="everything stored")
        points = stored_points(store)
        assert len(points) == len(set(points)) == total
        assert set(points) == expected_points(messages)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        pub.close()


class ResendingGateway:
    """A gateway's MQTT side as the edge runtime behaves: a persistent session subscribed to its
    commands, QoS 1 telemetry, and ``resend-from`` answered by publishing again, as late
    batches under new sequence numbers, every batch from the asked one on."""

    def __init__(self, broker, gateway: str = "gw-1") -> None:
        self.gateway = gateway
        self.batches: dict[int, tuple] = {}  # seq -> readings, as first published
        self.next_seq = 0
        self.resend_requests: list[int] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt_client(gateway)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_command
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        wait_until(self.connected.is_set, what="gateway connected")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(protocol.subscription("cmd", gateway_id=self.gateway), qos=1)
        self.connected.set()

    def _publish(self, seq: int, readings, *, late: bool) -> None:
        topic, payload = telemetry(self.gateway, seq, readings, late=late)
        self.client.publish(topic, payload, qos=1).wait_for_publish(30)

    def publish_new(self, count: int, per_batch: int = 20) -> None:
        for _ in range(count):
            with self.lock:
                seq = self.next_seq
                self.next_seq += 1
            rows = tuple((f"ch{i % 5}", START + seq * per_batch * 10 + i, float(seq) + i / 1000)
                         for i in range(per_batch))
            self.batches[seq] = rows
            self._publish(seq, rows, late=False)

    def _on_command(self, client, userdata, msg) -> None:
        first = json.loads(msg.payload)["args"]["seq"]
        self.resend_requests.append(first)
        # Off the network thread: the re-published batches wait for their own PUBACKs.
        threading.Thread(target=self._resend, args=(first,), daemon=True).start()

    def _resend(self, first: int) -> None:
        for seq in [s for s in sorted(self.batches) if s >= first]:
            with self.lock:
                new_seq = self.next_seq
                self.next_seq += 1
            self._publish(new_seq, self.batches[seq], late=True)

    def expected(self) -> set:
        return {(ch, ts, value) for rows in self.batches.values() for ch, ts, value in rows}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def mqtt_client(client_id: str):
    return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                       protocol=paho.MQTTv311)


def test_a_broker_restart_loses_nothing_that_gateways_published_before_the_group_subscribed_again(
        mosquitto, tmp_path, records):
    """Mosquitto 2.0 restores persistent sessions after a restart but not their shared
    subscriptions: what a gateway publishes before the group's workers subscribe again matches
    nothing, and the broker acknowledges and drops it. Each worker asks the gateways it had seen
    to re-send from the batch after the newest it had; afterwards the store holds every reading."""
    store = SQLiteStore(tmp_path / "telemetry.db")
    a = start_worker(tmp_path, mosquitto, store, records, client_id="hub-a", mqtt_share_group="ingest")
    b = start_worker(tmp_path, mosquitto, store, records, client_id="hub-b", mqtt_share_group="ingest")
    gateway = ResendingGateway(mosquitto)
    try:
        gateway.publish_new(10)
        wait_until(lambda: store.count(gateway="gw-1") == 10 * 20, what="the first batches stored")
        mosquitto.restart()
        # The gateway reconnects first (its retry is quicker than the workers' one second) and
        # publishes at once: with no shared subscription restored these batches match nothing.
        wait_until(gateway.connected.is_set, timeout=30, what="gateway reconnected")
        gateway.publish_new(10)
        wait_until(lambda: a.stats().subscribed and b.stats().subscribed, timeout=30,
                   what="both workers subscribed again")
        gateway.publish_new(10)
        wait_until(lambda: gateway.resend_requests, timeout=30, what="a resend-from request")
        assert min(gateway.resend_requests) <= 10, "re-send must start at or before the first batch after the restart"
        expected = gateway.expected()
        wait_until(lambda: set(stored_points(store)) >= expected, timeout=60,
                   what="every published reading stored")
        points = stored_points(store)
        assert len(points) == len(set(points)) and set(points) == expected
    finally:
        gateway.close()
        for worker in (a, b):
            worker.stop()
        store.close()
