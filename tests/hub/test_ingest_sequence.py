"""Gaps in a gateway's batch sequence, found by two workers of a shared group together.

Through a real Mosquitto, on SQLite and on PostgreSQL: the workers are dealt a gateway's
batches round robin, and neither alone sees the whole sequence; the sequence rows they share
in the relational store do. A seq missing past the grace period makes exactly one of them ask
the gateway (``resend-from`` with the lowest and highest missing seq and the boot), at most
once per interval; the re-sent batches fill the row; a status stating a newer ``last_seq``
reveals batches lost while the gateway is quiet; a new boot whose first batch is not seq 0 is
missing the earlier ones; an earlier boot's gaps are given up once a newer boot took over.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.ingest.sequence import SEQUENCE_LOST, SequencePolicy
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import T0, Publisher, hub_config, migrated_engine, status, telemetry, wait_until
from wardlink import protocol
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(120)

GW = "gw-seq"
START = T0 - 3_600_000


class CommandRecorder:
    """Subscribes to the gateway's ``resend-from`` commands, as the gateway would, and keeps them."""

    def __init__(self, host: str, port: int) -> None:
        self.commands: list[protocol.Command] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="seq-recorder", clean_session=True,
                                  protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(protocol.topic(GW, "cmd", "resend-from"), 1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._ready.wait(10), "recorder subscribed"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.commands.append(protocol.decode_command(msg.payload, name="resend-from"))

    def of(self, boot: str) -> list[protocol.Command]:
        with self._lock:
            return [c for c in self.commands if c.args.get("boot") == boot]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def batch(seq: int, boot: str = "b1") -> tuple[str, bytes]:
    return telemetry(GW, seq, [("ch0", START + seq * 1000 + i, float(seq)) for i in range(3)], boot=boot)


def row(records: IngestRecords, boot: str) -> dict | None:
    return next((r for r in records.sequences(GW) if r["boot"] == boot), None)


def test_two_workers_in_a_group_find_gaps_together_and_one_of_them_asks(tmp_path, mosquitto,
                                                                        empty_relational_url):
    engine = migrated_engine(empty_relational_url)
    records = IngestRecords(engine)
    store = SQLiteStore(tmp_path / "telemetry.db")
    # A long interval: whatever the two workers' checks do meanwhile, a gap is asked for once.
    policy = SequencePolicy(grace_s=0.5, interval_s=3600, max_requests=3)
    workers = []
    for client_id in ("hub-seq-a", "hub-seq-b"):
        config = hub_config(tmp_path, mosquitto.url, mqtt_client_id=client_id, mqtt_share_group="ingest")
        worker = IngestWorker(config, store, StaticResolver(), ManualClock(), records=records,
                              sequence_policy=policy)
        workers.append(worker.start())
    recorder = CommandRecorder(mosquitto.host, mosquitto.port)
    pub = Publisher(mosquitto.host, mosquitto.port, "seq-gateway")
    try:
        for w in workers:
            wait_until(lambda: w.stats().subscribed, what="worker subscribed")

        # Batches 5 and 6 never reach the broker; the rest are dealt to both workers.
        pub.publish_all([batch(s) for s in range(20) if s not in (5, 6)])
        wait_until(lambda: sum(w.stats().acked for w in workers) == 18, what="18 batches acknowledged")
        assert all(w.stats().telemetry_batches > 0 for w in workers), "both workers got a share"
        first = wait_until(lambda: recorder.of("b1"), 20, "a resend-from for the gap")[0]
        # From the lowest to the highest seq missing when it was sent: 5..6, or wider if a batch
        # dealt to the slower worker was still on its way then (a loaded machine).
        assert first.args["seq"] <= 5 and first.args["until"] >= 6

        pub.publish_all([batch(5), batch(6)])  # the gateway re-sends them under their own seq
        filled = wait_until(lambda: (r := row(records, "b1")) and r["missing"] == 0 and r, what="the gap filled")
        assert (filled["through"], filled["resend_requests"]) == (19, 1) and filled["recovered"] >= 2
        assert len(recorder.of("b1")) == 1, "two workers, one request"
        assert sum(w.stats().resend_requests for w in workers) == 1

        # A quiet gateway whose status says it published up to 24: 20..24 were lost.
        pub.publish(*status(GW, boot="b1", ts_ms=T0, last_seq=24))
        second = wait_until(lambda: recorder.of("b1")[1:], 20, "a resend-from after the status")[0]
        assert (second.args["seq"], second.args["until"]) == (20, 24)

        # The gateway restarts; its first batch seen is seq 3 of the new boot: 0..2 are missing.
        pub.publish_all([batch(3, "b2"), batch(4, "b2")])
        third = wait_until(lambda: recorder.of("b2"), 20, "a resend-from for the new boot")[0]
        assert third.args["seq"] == 0 and third.args["until"] in (2, 3)  # 3: still on its way then
        pub.publish_all([batch(s, "b2") for s in range(3)])
        wait_until(lambda: (r := row(records, "b2")) and r["missing"] == 0, what="the new boot complete")

        # b1's 20..24 can no longer be re-sent (the gateway is on b2): given up and reported.
        lost = wait_until(lambda: records.events(gateway=GW, types=[SEQUENCE_LOST]), 20, "b1's gap given up")
        assert [(e.boot, e.data["first_missing"], e.data["last_missing"], e.data["count"]) for e in lost] == [
            ("b1", 20, 24, 5)]
        assert row(records, "b1")["given_up"] == 5 and row(records, "b1")["missing"] == 0
        assert len(recorder.of("b1")) == 2
        assert store.count(gateway=GW) == 60  # b1 0..19; b2 0..4 carry the same readings (one key)
    finally:
        pub.close()
        recorder.close()
        for w in workers:
            w.stop()
        store.close()
        engine.dispose()


def test_a_hub_that_starts_tracking_sequences_mid_boot_does_not_ask_for_history(tmp_path, mosquitto,
                                                                               empty_relational_url):
    """Gateways already sending when the hub starts keeping sequence rows (an upgrade) start from
    the newest seq the hub recorded for their boot: no gap, no resend of their whole window."""
    engine = migrated_engine(empty_relational_url)
    records = IngestRecords(engine)
    store = SQLiteStore(tmp_path / "telemetry.db")
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id="hub-seq-upgrade")
    pub = Publisher(mosquitto.host, mosquitto.port, "seq-gateway")

    def run(first: int, count: int) -> None:
        worker = IngestWorker(config, store, StaticResolver(), ManualClock(), records=IngestRecords(engine),
                              sequence_policy=SequencePolicy(grace_s=0.5, interval_s=1)).start()
        try:
            wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
            pub.publish_all([batch(s) for s in range(first, first + count)])
            wait_until(lambda: worker.stats().acked == count, what=f"{count} batches acknowledged")
        finally:
            worker.stop()

    try:
        run(0, 10)
        with engine.begin() as conn:  # the database as a version without sequence tracking left it:
            # gateway links with their newest seq, no sequence rows (revision 0013 creates the
            # missing table empty; tests/hub/test_db_migrations.py covers that upgrade)
            conn.exec_driver_sql("DELETE FROM ingest_batch_sequence")
        run(10, 5)
        rows = records.sequences(GW)
        assert [(r["boot"], r["through"], r["missing"], r["resend_requests"]) for r in rows] == [("b1", 14, 0, 0)]
    finally:
        pub.close()
        store.close()
        engine.dispose()
