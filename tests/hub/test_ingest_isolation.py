"""One message never stops the others: through a real Mosquitto, on SQLite and on PostgreSQL.

A gateway publishing strings no database can keep (a lone surrogate, NUL), as telemetry or as a
retained status, gets a dead letter; every other gateway's readings are still stored and
acknowledged, and a restarted worker (persistent session, retained status delivered again)
does not stall. Independently of the protocol's checks, a message the protocol accepts but the
database refuses (a real constraint of the database) is dead-lettered alone while the rest of
its batch commits.
"""

from __future__ import annotations

import contextlib
import pytest
from sqlalchemy import text

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.ingest.deadletter import STORE_REJECTED
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import T0, Publisher, hub_config, migrated_engine, status, telemetry, wait_until
from wardlink import protocol
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)

GOOD, BAD = "gw-good", "gw-bad"


@pytest.fixture
def rig(tmp_path, mosquitto, empty_relational_url):
    """A relational store (SQLite or PostgreSQL), a telemetry store, a broker and workers on them."""
    with make_rig(tmp_path, mosquitto, empty_relational_url) as made:
        yield made


@contextlib.contextmanager
def make_rig(tmp_path, mosquitto, url):
    engine = migrated_engine(url)
    records = IngestRecords(engine)
    store = SQLiteStore(tmp_path / "telemetry.db")
    made: list[IngestWorker] = []

    class Rig:
        def __init__(self):
            self.engine, self.records, self.store = engine, records, store
            self.publisher = Publisher(mosquitto.host, mosquitto.port, "rig-gateways")

        def worker(self, client_id: str = "hub-isolation", listeners=()) -> IngestWorker:
            config = hub_config(tmp_path, mosquitto.url, mqtt_client_id=client_id)
            worker = IngestWorker(config, store, StaticResolver(), ManualClock(), records=records,
                                  retry_initial_s=0.05, retry_max_s=0.2, listeners=listeners)
            made.append(worker)
            worker.start()
            wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
            return worker

        def good_readings(self) -> int:
            return store.count(gateway=GOOD)

    rig = Rig()
    try:
        yield rig
    finally:
        _close(rig, made)


def _close(rig, made) -> None:
    store, engine = rig.store, rig.engine
    for worker in made:
        worker.stop(drain=False, timeout=5)
    rig.publisher.close()
    store.close()
    engine.dispose()


def raw_telemetry(boot_json: str, seq: int = 0) -> bytes:
    """A telemetry batch whose boot is written as raw JSON text (bypassing our encoder)."""
    return (f'{{"v":1,"gateway":"{BAD}","boot":{boot_json},"seq":{seq},'
            f'"readings":[["t1",{T0},1.5]]}}').encode()


def raw_status(boot_json: str) -> bytes:
    return f'{{"v":1,"gateway":"{BAD}","state":"online","boot":{boot_json},"ts":{T0}}}'.encode()


def good_batch(seq: int, count: int = 5):
    return telemetry(GOOD, seq, [("t1", T0 - 60_000 * seq - i, 20.0 + i) for i in range(count)])


def dead_letters_of(records, payload: bytes):
    return [d for d in records.dead_letters(limit=1000) if d.payload == payload]


@pytest.mark.parametrize("boot_json", [r'"\ud800"', r'"\u0000"', r'"ok\udfff"', r'"a\u0000b"'])
def test_a_gateway_sending_unstorable_text_never_stops_another_gateways_data(rig, boot_json):
    worker = rig.worker()
    poison = raw_telemetry(boot_json)
    rig.publisher.publish_all([good_batch(0), (protocol.topic(BAD, "telemetry"), poison), good_batch(1)])
    wait_until(lambda: worker.stats().acked == 3, what="all three messages acknowledged")
    assert rig.good_readings() == 10
    [letter] = dead_letters_of(rig.records, poison)
    assert letter.gateway == BAD and letter.payload == poison
    assert worker.stats().pending == 0

    # The worker restarts on its persistent session: nothing is left to stall it.
    worker.stop()
    again = rig.worker()
    rig.publisher.publish_all([good_batch(2), (protocol.topic(BAD, "telemetry"), poison)])
    wait_until(lambda: again.stats().acked == 2, what="both acknowledged after the restart")
    assert rig.good_readings() == 15
    assert dead_letters_of(rig.records, poison)[0].count == 2
    assert [g.gateway for g in rig.records.gateways()] == [GOOD]


@pytest.mark.parametrize("boot_json", [r'"\ud800"', r'"\u0000"'])
def test_a_retained_unstorable_status_does_not_stall_a_new_worker(rig, boot_json):
    poison = raw_status(boot_json)
    rig.publisher.publish(protocol.topic(BAD, "status"), poison, retain=True)
    for n, client_id in enumerate(("hub-first", "hub-second")):  # every new worker gets the retained status
        worker = rig.worker(client_id)
        rig.publisher.publish_all([good_batch(n)])
        wait_until(lambda: worker.stats().acked == 2, what="the retained status and the batch acknowledged")
        assert rig.good_readings() == 5 * (n + 1)
        assert dead_letters_of(rig.records, poison)[0].count == n + 1
        assert worker.stats().pending == 0


# ------------------------------------------------------------------ the store refuses, the protocol accepts

REFUSED = "refused-by-the-database"


def refuse_in_database(engine) -> None:
    """Make the database itself refuse gateway state naming REFUSED (a constraint, as a real
    schema rule would): the protocol accepts the message, the records commit does not."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE gateway_links ADD CONSTRAINT no_refused CHECK "
                              f"(version IS DISTINCT FROM '{REFUSED}' AND boot IS DISTINCT FROM '{REFUSED}')"))
        else:
            for when in ("INSERT", "UPDATE"):
                conn.execute(text(
                    f"CREATE TRIGGER no_refused_{when.lower()} BEFORE {when} ON gateway_links "
                    f"WHEN NEW.version = '{REFUSED}' OR NEW.boot = '{REFUSED}' "
                    f"BEGIN SELECT RAISE(ABORT, 'no_refused'); END"))


def test_a_message_the_database_refuses_is_dead_lettered_alone_and_the_batch_commits(rig):
    refuse_in_database(rig.engine)
    worker = rig.worker()
    refused_status = status(BAD, boot="b1", version=REFUSED)
    refused_batch = telemetry(BAD, 0, [("t1", T0, 1.0)], boot=REFUSED)
    later_status = status(BAD, boot="b1", version="1.2.0")
    messages = [good_batch(0), refused_status, good_batch(1), refused_batch, good_batch(2), later_status]
    rig.publisher.publish_all(messages)
    wait_until(lambda: worker.stats().acked == len(messages), what="every message acknowledged")
    assert rig.good_readings() == 15
    for _, payload in (refused_status, refused_batch):
        [letter] = dead_letters_of(rig.records, payload)
        assert letter.reason == STORE_REJECTED and letter.gateway == BAD
    # The refused messages left nothing behind: the gateway's state is what the valid ones said.
    bad = rig.records.gateways(BAD)[0]
    assert (bad.version, bad.status_boot, bad.boot, bad.batches) == ("1.2.0", "b1", None, 0)
    good = rig.records.gateways(GOOD)[0]
    assert (good.batches, good.readings, good.telemetry_seq) == (3, 15, 2)
    assert worker.stats().pending == 0 and worker.stats().dead_lettered == 2


def test_a_database_outage_is_retried_not_dead_lettered(tmp_path, mosquitto, postgres_db):
    """The opposite case: a database that does not answer is waited for; nothing is dead-lettered
    (PostgreSQL: SQLite has no server to stop)."""
    with make_rig(tmp_path, mosquitto, postgres_db.url) as rig:
        outage(rig, postgres_db)


def outage(rig, server) -> None:
    worker = rig.worker()
    rig.publisher.publish_all([good_batch(0)])
    wait_until(lambda: worker.stats().acked == 1, what="first batch acknowledged")
    server.stop()
    try:
        rig.publisher.publish_all([good_batch(1), status(BAD, boot="b1")])
        wait_until(lambda: worker.stats().store_errors >= 2, what="the outage noticed and retried")
        assert worker.stats().acked == 1 and worker.stats().dead_lettered == 0
    finally:
        server.start()
    wait_until(lambda: worker.stats().acked == 3, timeout=60, what="both acknowledged once the database is back")
    assert worker.stats().dead_lettered == 0 and rig.records.dead_letters() == []
    assert rig.good_readings() == 10


class TableListener:
    """A listener that writes what it is handed to its own table in the same database and wraps a
    database error the way the rules engine does (RuleStoreError, caused by SQLAlchemy's)."""

    def __init__(self, engine):
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE listener_seen (gateway VARCHAR(64) NOT NULL "
                              f"CHECK (gateway <> '{BAD}'), ts_ms BIGINT NOT NULL)"))

    def on_points(self, points):
        from sqlalchemy.exc import SQLAlchemyError

        from wardlink.hub.rules.errors import RuleStoreError

        try:
            with self.engine.begin() as conn:
                conn.execute(text("INSERT INTO listener_seen (gateway, ts_ms) VALUES (:g, :t)"),
                             [{"g": dict(p.tags)["gateway"], "t": p.ts_ms} for p in points])
        except SQLAlchemyError as exc:
            raise RuleStoreError(f"rules engine transaction failed: {exc}") from exc

    def on_events(self, gateway, events):
        pass  # only readings go to its table

    def on_status(self, gateway, status, received_ms):
        pass

    def seen(self) -> list[str]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT gateway FROM listener_seen"))]


def test_a_message_a_listeners_database_refuses_is_dead_lettered_and_the_others_reach_it(rig):
    listener = TableListener(rig.engine)
    worker = rig.worker(listeners=[listener])
    refused = telemetry(BAD, 0, [("t1", T0, 1.0)])
    rig.publisher.publish_all([good_batch(0), refused, good_batch(1)])
    wait_until(lambda: worker.stats().acked == 3, what="all three acknowledged")
    assert sorted(listener.seen()) == [GOOD] * 10  # the good readings reached the listener
    assert rig.good_readings() == 10 and rig.store.count(gateway=BAD) == 1  # the store took all
    [letter] = dead_letters_of(rig.records, refused[1])
    assert letter.reason == "listener_rejected" and "TableListener" in letter.detail
    assert worker.stats().pending == 0
