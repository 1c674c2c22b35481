"""A frozen gateway whose retained status still says online is shown as stalled and alerted.

A real `wardlink-edge run` gateway process is stopped with SIGSTOP: its TCP connection stays
open, so the broker publishes no Last Will until its keepalive check fires (Mosquitto: 1.5 x
the keepalive; the demo's embedded amqtt broker: never), and its status stays ``online``. The
hub's clock is injected (ingest, rules and web share one ``ManualClock`` that starts at real
time), so three and a half minutes of silence take no real time: the UI, the JSON API and the
``gateway_offline`` rule must call the gateway stalled, alert once for the episode, and after
SIGCONT, when the gateway is heard again, show it online and resolve the alert. Runs on real
Mosquitto and on the demo broker, with the relational store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from relational_support import GATEWAY, clock, engine, hub_config, login
from rules_support import alerts, install_rules
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import GatewayLink
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.demo import EmbeddedBroker, free_port, gateway_config_toml
from wardlink.hub.ingest import IngestWorker
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.rules import RulesEngine
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.hub.web import create_app
from wardlink.clock import ManualClock
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)

RULE = "gateway-offline"
FROZEN_FOR_S = 210.0  # three and a half minutes, as in the field report


@pytest.fixture(params=["mosquitto", "demo-broker"])
def broker_url(request, tmp_path):
    """The URL of a real Mosquitto, or of the demo's embedded amqtt broker."""
    if request.param == "mosquitto":
        yield request.getfixturevalue("mosquitto").url
        return
    broker = EmbeddedBroker("127.0.0.1", free_port())
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()


class Gateway:
    """A `wardlink-edge run` process with the demo's emulated sensors."""

    def __init__(self, folder: Path, broker_url: str, keepalive: int = 120) -> None:
        folder.mkdir()
        self.folder = folder
        text = gateway_config_toml(gateway_id=GATEWAY, broker_url=broker_url, data_dir=folder)
        # By default a keepalive longer than the test's frozen phase: Mosquitto must not fire
        # the Last Will meanwhile; only the hub's judgement of the silence may call it out.
        text = text.replace("\n[hardware]\n", f"\nkeepalive = {keepalive}\n\n[hardware]\n", 1)
        (folder / "gateway.toml").write_text(text)
        self.log = open(folder / "gateway.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wardlink.edge.cli", "run", "--config", str(folder / "gateway.toml")],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def log_tail(self) -> str:
        return (self.folder / "gateway.log").read_text(errors="replace")[-3000:]


def gateway_json(web) -> dict:
    response = web.get(f"/api/v1/gateways/{GATEWAY}")
    assert response.status_code == 200, response.text[:300]
    return response.get_json()


def quiet(worker, seen: list) -> bool:
    """Return True once the worker has received nothing new and holds nothing for 1.5 s."""
    stats = worker.stats()
    now = time.monotonic()
    mark = (stats.received, stats.acked, stats.pending)
    if not seen or seen[0] != mark or stats.pending:
        seen[:] = [mark, now]
        return False
    return now - seen[1] >= 1.5


def gateway_alerts(db) -> list:
    return [(a, lc) for a, lc in alerts(db, RULE) if a.gateway is not None and a.gateway.gateway_id == GATEWAY]


def test_a_frozen_gateway_is_stalled_and_alerted_until_it_is_heard_again(tmp_path, broker_url, relational_url):
    clock = ManualClock(start=time.time())
    config = hub_config(tmp_path / "hub", database_url=relational_url, mqtt_url=broker_url,
                        mqtt_client_id="stall-ingest")
    db = open_engine(relational_url)
    install_rules(db, clock, [{"name": RULE, "kind": "gateway_offline", "severity": "critical"}])
    rules = RulesEngine(db, clock=clock, stall_min_s=config.gateway_stall_s)
    store = SQLiteStore(tmp_path / "telemetry.db")
    worker = IngestWorker(config, store, DbResolver(db), clock, listeners=[rules])
    app = create_app(config, telemetry=store, clock=clock)
    gateway = None
    try:
        web = app.test_client()
        assert login(web, "admin").status_code == 302
        worker.start()
        wait_for(lambda: worker.stats().subscribed, 20, "the ingest worker's subscriptions")
        gateway = Gateway(tmp_path / "gateway", broker_url)

        def running():
            assert gateway.proc.poll() is None, gateway.log_tail()
            with session_scope(db, readonly=True) as session:
                applied = session.scalar(select(GatewayLink.rules_state).where(GatewayLink.gateway == GATEWAY))
            return applied == "online" and store.latest(gateway=GATEWAY) and gateway_json(web)["status"] == "online"

        wait_for(running, 60, "the gateway's online status and readings at the hub")
        rules.tick()
        assert gateway_alerts(db) == []

        gateway.signal(signal.SIGSTOP)
        seen: list = []
        wait_for(lambda: quiet(worker, seen), 30, "ingest to finish what the gateway sent before it froze")
        last_seen = gateway_json(web)["last_seen"]
        clock.advance(FROZEN_FOR_S)
        # The hub itself still hears (else no gateway may be called stalled): its worker's next
        # counters row is stamped with the new time.
        frozen_at = clock.now_ms()
        wait_for(lambda: any(w.updated_ms >= frozen_at and w.connected for w in IngestRecords(db).workers()),
                 20, "the ingest worker's counters at the new time")

        # The JSON API: stalled, though the gateway's own status still says online.
        link = gateway_json(web)
        assert link["status"] == "stalled", link
        assert link["reported_status"] == "online", link
        assert link["stalled_since"] == last_seen and link["stall_after_s"] == 90.0
        listed = {g["gateway_id"]: g["status"] for g in web.get("/api/v1/gateways").get_json()["items"]}
        assert listed[GATEWAY] == "stalled"
        # The pages: "Stalled", with since when as a <time> the browser shows in local time.
        since_iso = link["stalled_since"]
        for url in ("/gateways", f"/gateways/{GATEWAY}"):
            page = web.get(url).text
            assert "gateway-stalled" in page and ">Stalled<" in page, url
            shown = re.search(r'class="stalled-since">[^<]*<time datetime="([^"]+)"', page)
            assert shown, url
            assert datetime.fromisoformat(shown.group(1)) == datetime.fromisoformat(since_iso), url
            assert "nothing heard since" in page and "data-local" in page, url
            assert "gateway-online" not in page, url
        dashboard = web.get("/").text
        assert "gateways stalled" in dashboard

        # The rule: one alert for the episode, however many ticks see it.
        rules.tick()
        clock.advance(30)
        rules.tick()
        found = gateway_alerts(db)
        assert len(found) == 1, [a.detail for a, _ in found]
        alert, lifecycle = found[0]
        assert alert.state == "open" and alert.severity == "critical"
        assert "stalled" in (alert.title + alert.detail).lower()

        # Heard again: online, and the alert resolves.
        gateway.signal(signal.SIGCONT)
        wait_for(lambda: gateway_json(web)["status"] == "online", 30, "the gateway to be heard again")
        rules.tick()
        found = gateway_alerts(db)
        assert len(found) == 1 and found[0][0].state == "resolved", [(a.state, a.detail) for a, _ in found]
        assert "Stalled" not in web.get("/gateways").text
    finally:
        if gateway is not None:
            gateway.stop()
        worker.stop()
        app.extensions["wardlink"].close()
        store.close()
        db.dispose()


def test_a_stall_that_turns_into_a_last_will_is_one_alert_resolved_when_the_gateway_returns(engine, clock):
    """The rule alone: stalled after the threshold, kept (not doubled) through the Last Will."""
    from wardlink.protocol import Status

    install_rules(engine, clock, [{"name": RULE, "kind": "gateway_offline", "severity": "critical", "for_s": 60}])
    rules = RulesEngine(engine, clock=clock, stall_min_s=90)

    def at(seconds: float) -> int:
        clock.advance(seconds - (clock.now() - start))
        return clock.now_ms()

    start = clock.now()
    rules.on_status(GATEWAY, Status(GATEWAY, "online", "boot-1", clock.now_ms()), at(0))
    at(90)
    rules.tick()
    assert gateway_alerts(engine) == []  # silent for 90 s: not yet longer than the threshold
    at(91)
    rules.tick()
    (alert, _), = gateway_alerts(engine)
    assert alert.state == "open" and "stalled" in alert.detail and "91 s" in alert.detail
    rules.on_status(GATEWAY, Status(GATEWAY, "offline", "boot-1"), at(135))  # the broker's keepalive fired
    at(300)
    rules.tick()
    assert [a.state for a, _ in gateway_alerts(engine)] == ["open"]
    rules.on_status(GATEWAY, Status(GATEWAY, "online", "boot-2", clock.now_ms()), at(310))
    (alert, _), = gateway_alerts(engine)
    assert alert.state == "resolved"
    at(330)
    rules.tick()
    assert len(gateway_alerts(engine)) == 1


def test_no_gateway_is_called_stalled_while_the_hub_itself_hears_nothing(engine, clock):
    """Silence means nothing when no ingest worker is hearing: no alert storm when ingest is down."""
    from sqlalchemy import insert

    from wardlink.hub.db.models import Gateway
    from wardlink.hub.db.models import ingest as tables
    from wardlink.hub.services.gateways import registry as gateways

    now = clock.now_ms()
    with engine.begin() as conn:
        conn.execute(insert(GatewayLink).values(gateway=GATEWAY, state="online", last_seen_ms=now))
        conn.execute(insert(tables.workers).values(
            client_id="w1", hostname="h", pid=1, started_ms=now, updated_ms=now, connected=True, received=1,
            points_written=0, dead_lettered=0, acked=1, store_errors=0, pending=0))

    def state() -> str:
        with session_scope(engine) as session:
            gw = session.scalar(select(Gateway).where(Gateway.gateway_id == GATEWAY))
            return gateways.gateway_states(engine, [gw], now=gateways.utc_now(clock))[GATEWAY].status

    clock.advance(FROZEN_FOR_S)
    assert state() == "online"  # the worker's row is as old as the gateway's last word: ingest is down
    with engine.begin() as conn:
        conn.execute(tables.workers.update().values(updated_ms=clock.now_ms()))
    assert state() == "stalled"
    with engine.begin() as conn:  # connected, but retrying a write for minutes: its records lag
        conn.execute(tables.workers.update().values(retrying_since_ms=now))
    assert state() == "online"


def test_a_short_keepalive_makes_mosquitto_publish_a_frozen_gateways_last_will(tmp_path, mosquitto):
    """The other way out of a freeze: the broker's keepalive check (1.5 x the gateway's keepalive)."""
    from wardlink.hub.db import upgrade

    url = f"sqlite:///{tmp_path / 'wardlink.hub.db'}"
    upgrade(url)
    config = hub_config(tmp_path / "hub", database_url=url, mqtt_url=mosquitto.url, mqtt_client_id="will-ingest")
    db = open_engine(url)
    store = SQLiteStore(tmp_path / "telemetry.db")
    worker = IngestWorker(config, store, DbResolver(db))
    records = IngestRecords(db)
    gateway = None
    try:
        worker.start()
        wait_for(lambda: worker.stats().subscribed, 20, "the ingest worker's subscriptions")
        gateway = Gateway(tmp_path / "gateway", mosquitto.url, keepalive=5)

        def state():
            assert gateway.proc.poll() is None, gateway.log_tail()
            return {r.gateway: r.state for r in records.gateways()}.get(GATEWAY)

        wait_for(lambda: state() == "online", 60, "the gateway's online status")
        gateway.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        wait_for(lambda: state() == "offline", 30, "the Last Will of the frozen gateway")
        assert 5 <= time.monotonic() - frozen < 20  # 7.5 s after its last packet
    finally:
        if gateway is not None:
            gateway.stop()
        worker.stop()
        store.close()
        db.dispose()
