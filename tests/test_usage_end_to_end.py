"""A pump on its dock for 40 minutes: emulated INA219 -> real gateway -> Mosquitto -> hub -> one measured session.

The gateway runs in this process on a manual clock (its sampler, buffer and forwarder are the
real ones; the INA219 emulator answers on the emulated I2C bus with a square current: 0.01 A,
then 0.8 A for the last 40 minutes of every 100). A real ingest worker stores what the broker
brings into the SQLite telemetry store, and the scheduler's ``measured_usage`` job follows it
every ten simulated minutes. The first period's current flows while a person's scanned session
covers the pump, so it is not measured; the second period's gives the one measured session.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from wardlink.clock import ManualClock
from wardlink.edge.config import load_config as load_edge_config
from wardlink.edge.gateway import Gateway
from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import UsageSession
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.db.types import to_ms
from wardlink.hub.ingest import IngestWorker
from wardlink.hub.scheduler.jobs import JobContext, measured_usage
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.usage import measured, sessions
from wardlink.hub.telemetry import open_store
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)

GATEWAY = "gw-dock-01"
CHANNEL = "dock.current"
INTERVAL_S = 60
PERIOD_MIN, HIGH_MIN = 100, 40
STEPS = 2 * PERIOD_MIN + 10  # two periods and ten quiet minutes
SCAN_FROM, SCAN_TO = 50, 105  # minutes: a person's session covers the first period's current


def gateway_toml(data_dir, broker_url: str) -> str:
    return "\n".join([
        f'gateway_id = "{GATEWAY}"', f'data_dir = "{data_dir}"', "[broker]", f'url = "{broker_url}"',
        "[hardware]", 'backend = "emulated"', "[forwarder]", "batch_max_readings = 1000", "batch_max_age = 0.2",
        "[health]", "interval = 0", "[[channels]]", f'id = "{CHANNEL}"', 'driver = "ina219"',
        'quantity = "current"', f"interval = {INTERVAL_S}",
        f'emulate = {{ kind = "square", period_s = {PERIOD_MIN * 60}, duty = {HIGH_MIN / PERIOD_MIN}, '
        'low = 0.01, high = 0.8 }']) + "\n"


async def run_gateway(gateway: Gateway, clock: ManualClock, on_minute) -> None:
    """Sample every interval, committing each round, as the gateway's loop does; call ``on_minute`` after each."""
    for step in range(STEPS + 1):
        if step:
            clock.advance(INTERVAL_S)
        tasks = gateway.sampler.sample_due()
        if tasks:
            await asyncio.gather(*tasks)
        await gateway.commit()
        await asyncio.to_thread(on_minute, step)


def test_forty_minutes_of_dock_current_give_one_measured_session_and_none_under_a_scan(tmp_path, mosquitto):
    start = math.floor(time.time() / 3600) * 3600 - 86400  # in the past: nothing is "future"
    clock = ManualClock(start)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path / "hub"), "mqtt_url": mosquitto.url,
                                                 "mqtt_client_id": "usage-ingest"})
    config.data_dir.mkdir(parents=True)
    upgrade(config.resolved_database_url)
    engine = open_engine(config.resolved_database_url)
    with session_scope(engine) as session:
        seed_demo_site(session, gateway_id=GATEWAY, clock=ManualClock(start - 3600), channels=[
            {"channel_id": CHANNEL, "metric": "current", "unit": "A", "driver": "ina219", "asset_tag": "IP-0101",
             "interval": INTERVAL_S}])
        measured.create_measure(session, {"category": "Infusion pump", "asset_tag": "", "metric": "current",
                                          "mode": "above", "threshold": "0.2", "min_s": 120}, actor=None, clock=clock)
    store = open_store(config)
    worker = IngestWorker(config, store, DbResolver(engine))
    (tmp_path / "gw").mkdir()
    (tmp_path / "gw" / "gateway.toml").write_text(gateway_toml(tmp_path / "gw" / "data", mosquitto.url))
    gateway = Gateway(load_edge_config(tmp_path / "gw" / "gateway.toml"), clock=clock, sample=False)
    runs, scan = [], {}

    def on_minute(step: int) -> None:
        with session_scope(engine) as session:
            if step == SCAN_FROM:
                scan["id"] = sessions.start(session, "IP-0101", reason="Bed 4", actor=None, clock=clock).id
            elif step == SCAN_TO:
                sessions.end(session, scan["id"], actor=None, clock=clock)
        if step and step % 10 == 0:
            # Wait until the hub has stored every reading so far, then run the scheduler's job.
            wait_for(lambda: len(store.range(gateway=GATEWAY, channel=CHANNEL, start_ms=start * 1000,
                                             end_ms=to_ms(datetime.now(UTC)))) >= step, 60,
                     f"the hub to store {step} readings")
            runs.append(measured_usage(JobContext(engine=engine, clock=clock, telemetry=store)))

    wall = time.monotonic()
    try:
        worker.start()
        wait_for(lambda: worker.stats().subscribed, 20, "the ingest worker to subscribe")

        async def scenario() -> None:
            await gateway.start()
            try:
                await run_gateway(gateway, clock, on_minute)
            finally:
                await gateway.stop()

        asyncio.run(scenario())
        wall = time.monotonic() - wall
    finally:
        worker.stop()
    print(f"{STEPS} simulated minutes in {wall:.1f} s of wall time; job runs: {runs}")
    assert wall < 60, "three and a half simulated hours run in well under a minute"

    readings = store.range(gateway=GATEWAY, channel=CHANNEL, start_ms=0, end_ms=2**62)
    assert len(readings) == STEPS, "every reading reached the hub"
    origin = readings[0].ts_ms / 1000  # the first read opens the device: the emulated signal starts there
    high = [r.ts_ms for r in readings if r.value > 0.2]
    assert len(high) == 2 * HIGH_MIN, "the emulated dock drew current for 40 minutes in each period"
    with session_scope(engine) as session:
        rows = session.scalars(select(UsageSession).order_by(UsageSession.started_at)).all()
        found = [(r.source, r.started_at.timestamp(), r.ended_at.timestamp() if r.ended_at else None) for r in rows]
    print(f"sessions (source, start, end) from the origin: "
          f"{[(s, a - origin, b - origin if b else None) for s, a, b in found]}")
    assert [source for source, _, _ in found] == ["scanned", "measured"], "none measured under the scan"
    _, began, ended = found[1]
    assert ended is not None, "the fall closed it"
    assert abs((ended - began) - HIGH_MIN * 60) <= INTERVAL_S, f"{(ended - began) / 60:.1f} min, not 40 ± 1"
    assert abs(began - (origin + (2 * PERIOD_MIN - HIGH_MIN) * 60)) <= INTERVAL_S, "it began when the current rose"
    assert sum(run["opened"] for run in runs) == 1 and sum(run["recorded"] for run in runs) == 0
