"""An oxygen manifold for three simulated days: emulated transducers -> real gateway -> Mosquitto -> hub.

The gateway runs in this process on a manual clock (its sampler, buffer and forwarder are the
real ones; the ADS1115 emulator answers on the emulated I2C bus with the manifold model's
pressures through 0.5-4.5 V transducers). A real ingest worker stores what the broker brings
into the SQLite telemetry store, and the scheduler's ``manifold_supply`` job follows it every
simulated six hours, as it would every minute in production. The model's own changeover times
and flow are the truth the hub must find.
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
from wardlink.hardware.supply import ATM_BAR, Manifold as ManifoldModel
from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import Alert
from wardlink.hub.db.models.manifolds import ManifoldChangeover
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.db.types import to_ms
from wardlink.hub.ingest import IngestWorker
from wardlink.hub.scheduler.jobs import JobContext, manifold_supply
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.manifolds import register
from wardlink.hub.telemetry import open_store
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)

GATEWAY = "gw-o2-01"
INTERVAL_S = 60
DAYS = 3
FLOW_LPM = 20.0
# Bank A starts at 60 bar: the first changeover comes after about 10 h, the second 39 h later.
MODEL = {"cylinders": 5, "water_l": 50, "fill_bar": 200, "changeover_bar": 10, "flow_lpm": FLOW_LPM,
         "start_bar": 60, "replace_after_s": 4 * 3600}
BANK_LITRES = 5 * 50 * 200 / ATM_BAR
RESERVE_HOURS = 36.0
PARAMS = ('{ channel = "%s", transducer = "0.5-4.5V", fsr_v = 6.144, scale_to = [0, 250], '
          'quantity = "pressure", unit = "bar" }')


def gateway_toml(data_dir, broker_url: str) -> str:
    lines = [f'gateway_id = "{GATEWAY}"', f'data_dir = "{data_dir}"', "[broker]", f'url = "{broker_url}"',
             "[hardware]", 'backend = "emulated"', "[forwarder]", "batch_max_readings = 1000",
             "batch_max_age = 0.2", "[health]", "interval = 0"]
    emulate = ", ".join(f"{k} = {v}" for k, v in MODEL.items())
    for bank, ain in (("a", "a0"), ("b", "a1")):
        lines += ["[[channels]]", f'id = "o2.bank_{bank}"', 'driver = "ads1115"', f"params = {PARAMS % ain}",
                  'quantity = "pressure"', f"interval = {INTERVAL_S}",
                  f'emulate = {{ kind = "manifold", bank = "{bank}", {emulate} }}']
    return "\n".join(lines) + "\n"


def stored_count(store, start_ms: int, end_ms: int) -> int:
    return sum(len(store.range(gateway=GATEWAY, channel=f"o2.bank_{bank}", start_ms=start_ms, end_ms=end_ms))
               for bank in "ab")


async def run_gateway(gateway: Gateway, clock: ManualClock, steps: int, on_hour) -> None:
    """Sample every interval for ``steps`` intervals, committing each round, as the gateway's loop does."""
    for step in range(steps + 1):
        if step:
            clock.advance(INTERVAL_S)
        tasks = gateway.sampler.sample_due()
        if tasks:
            await asyncio.gather(*tasks)
        await gateway.commit()
        if step and step % 360 == 0:
            await asyncio.to_thread(on_hour, step)


def test_three_days_of_a_manifold_give_both_changeovers_the_flow_and_one_alert_each(tmp_path, mosquitto):
    start = math.floor(time.time() / 3600) * 3600 - (DAYS + 1) * 86400  # in the past: nothing is "future"
    clock = ManualClock(start)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path / "hub"), "mqtt_url": mosquitto.url,
                                                 "mqtt_client_id": "manifold-ingest"})
    config.data_dir.mkdir(parents=True)
    upgrade(config.resolved_database_url)
    engine = open_engine(config.resolved_database_url)
    with session_scope(engine) as session:
        seed_demo_site(session, gateway_id=GATEWAY, clock=ManualClock(start - 3600), channels=[
            {"channel_id": f"o2.bank_{bank}", "metric": "pressure", "unit": "bar", "driver": "ads1115",
             "asset_tag": "O2-MAN-01", "interval": INTERVAL_S} for bank in "ab"])
        register.create_manifold(session, {
            "asset_tag": "O2-MAN-01", "gateway_id": GATEWAY, "bank_a_channel": "o2.bank_a",
            "bank_b_channel": "o2.bank_b", "bank_capacity_l": BANK_LITRES, "full_bar": 200,
            "changeover_bar": 10, "reserve_hours": RESERVE_HOURS}, actor=None, clock=clock)
    store = open_store(config)
    worker = IngestWorker(config, store, DbResolver(engine))
    (tmp_path / "gw").mkdir()
    (tmp_path / "gw" / "gateway.toml").write_text(gateway_toml(tmp_path / "gw" / "data", mosquitto.url))
    gateway = Gateway(load_edge_config(tmp_path / "gw" / "gateway.toml"), clock=clock, sample=False)
    steps = DAYS * 86400 // INTERVAL_S
    runs = []

    def follow(step: int) -> None:
        # Wait until the hub has stored every reading so far, then run the scheduler's job.
        # The sampler's first round is one interval after the start: ``step`` rounds so far.
        expected = 2 * step
        wait_for(lambda: stored_count(store, start * 1000, to_ms(datetime.now(UTC))) >= expected, 60,
                 f"the hub to store {expected} readings")
        runs.append(manifold_supply(JobContext(engine=engine, clock=clock, telemetry=store)))

    wall = time.monotonic()
    try:
        worker.start()
        wait_for(lambda: worker.stats().subscribed, 20, "the ingest worker to subscribe")

        async def scenario() -> None:
            await gateway.start()
            try:
                await run_gateway(gateway, clock, steps, follow)
            finally:
                await gateway.stop()

        asyncio.run(scenario())
        wall = time.monotonic() - wall
    finally:
        worker.stop()
    print(f"{DAYS} simulated days in {wall:.1f} s of wall time; job runs: {runs}")
    assert wall < 60, "three simulated days run in well under a minute"

    # The first read opens the devices: the emulated manifold's time starts there.
    stamps = [r.ts_ms for r in store.range(gateway=GATEWAY, channel="o2.bank_a", start_ms=0, end_ms=2**62)]
    assert len(stamps) == steps, "every reading reached the hub"
    origin, minutes = stamps[0] / 1000, (stamps[-1] - stamps[0]) / 60_000
    model = ManifoldModel(bank="a", **MODEL)
    truth = [origin + at for at in model.changeovers(steps * INTERVAL_S)]
    assert len(truth) == 2
    with session_scope(engine) as session:
        manifold = register.list_manifolds(session, actor=None)[0]
        found = register.changeovers(session, manifold)[::-1]
        supply = register.supply(manifold)
        alerts = session.scalars(select(Alert).order_by(Alert.opened_at)).all()
        seen = [(c.bank, c.at.timestamp(), c.litres) for c in found]
        assert session.scalar(select(ManifoldChangeover.id).limit(1)) is not None
        reserve = [a for a in alerts if a.rule == "manifold.reserve_in_use"]
        low = [a for a in alerts if a.rule == "manifold.reserve_low"]
        states = [(a.state, a.resolution_note) for a in reserve + low]
    print(f"changeovers (bank, at, litres): {seen}; truth: {truth}")
    assert [bank for bank, _, _ in seen] == ["a", "b"]
    for (_, at, _), real in zip(seen, truth):
        assert abs(at - real) <= INTERVAL_S, f"changeover found at {at}, happened at {real}"
    # Bank A gave 60 -> 10 bar; bank B a whole bank, 200 -> 10 bar.
    assert seen[0][2] == pytest.approx(BANK_LITRES * 50 / 200, rel=0.01)
    assert seen[1][2] == pytest.approx(BANK_LITRES * 190 / 200, rel=0.01)

    consumed = supply.consumed_l / minutes
    print(f"consumption {consumed:.3f} L/min over the run, flow now {supply.flow_lpm:.3f} L/min "
          f"(emulated {FLOW_LPM}); hours left {supply.hours_left:.1f}")
    assert consumed == pytest.approx(FLOW_LPM, rel=0.02)
    assert supply.flow_lpm == pytest.approx(FLOW_LPM, rel=0.02)
    assert supply.active == "a" and not supply.reserve_in_use, "bank B was replaced 4 h after it emptied"

    assert len(reserve) == 2, "the reserve alert fires once per changeover"
    for alert, real in zip(reserve, truth):
        assert 0 <= alert.opened_at.timestamp() - real <= 6 * 3600, "raised by the job run after the changeover"
    assert len(low) == 2, "reserve below 36 h once per episode: each ends when the empty bank is replaced"
    assert all(state == "resolved" for state, _ in states), states
