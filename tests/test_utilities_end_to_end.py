"""End to end, a pulse meter: emulated meter output -> the real gateway -> real Mosquitto -> hub
ingest -> telemetry store -> the scheduler's roll-up -> the JSON API's daily kWh.

An electricity meter of 1000 imp/kWh carries a steady 2.75 kW load: its pulse output is the
gateway's emulated GPIO line (``pulse_counter`` at the lowest layer, the chip emulator driving
edges on the mock pin), counted by the real driver and sampled every 60 s by the real
:class:`~wardlink.edge.gateway.Gateway` with its SQLite buffer and MQTT forwarder. The gateway
runs on a :class:`~wardlink.clock.ManualClock` the test advances 60 s at a time (the emulated
meter and the readings' timestamps follow that clock), so a whole local day at the site and
the minutes around it pass in seconds. The hub's ingest worker stores what the broker delivers;
one run of the scheduler's ``utility_rollup`` job counts the day; the API must report
2.75 kW x 24 h = 66 kWh within 0.1 %.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from wardlink.clock import ManualClock
from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.ingest import IngestWorker
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.people import users
from wardlink.hub.services.utilities import meters
from wardlink.hub.telemetry import open_store
from wardlink.hub.web import create_app
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)

GATEWAY = "gw-plant-01"
CHANNEL = "main.pulses"
LOAD_KW = 2.75
IMP_PER_KWH = 1000
SITE_ZONE = ZoneInfo("Europe/London")  # the demo site's zone; the day is in summer time (UTC+1)
DAY = dt.date(2026, 6, 15)
STEP_S = 60
MARGIN_S = 600  # the gateway runs from ten minutes before the day to ten minutes after it

GATEWAY_TOML = """\
gateway_id = "{gateway}"
data_dir = "{data_dir}"
[broker]
url = "{broker}"
[hardware]
backend = "emulated"
emulation_seed = 3
[buffer]
commit_interval = 0.2
[forwarder]
batch_max_readings = 500
batch_max_age = 0.2
[health]
interval = 0

[[channels]]
id = "{channel}"
driver = "pulse_counter"
params = {{ pin = 27 }}
quantity = "total"
interval = {step}

[[channels]]
id = "main.rate"
driver = "pulse_counter"
params = {{ pin = 27 }}
quantity = "rate"
interval = {step}
emulate = {{ kind = "constant", value = {pulses_per_hour} }}
"""


def midnight(day: dt.date) -> float:
    """Return local midnight starting ``day`` at the site, in epoch seconds."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=SITE_ZONE).timestamp()


class SteppedGateway:
    """The real Gateway on its own event loop thread, on a clock the test moves a step at a time."""

    def __init__(self, config_path, clock: ManualClock, until: float) -> None:
        self.config_path, self.clock, self.until = config_path, clock, until
        self.error: BaseException | None = None
        self.steps = 0
        self.thread = threading.Thread(target=self._main, name="stepped-gateway", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _run(self) -> None:
        from wardlink.edge.config import load_config as load_gateway_config
        from wardlink.edge.gateway import Gateway

        gateway = Gateway(load_gateway_config(self.config_path), clock=self.clock, sample=False)
        await gateway.start()
        try:
            while self.clock.now() + STEP_S <= self.until:
                self.clock.advance(STEP_S)
                tasks = gateway.sampler.sample_due()
                if tasks:
                    await asyncio.gather(*tasks)
                self.steps += 1
                if self.steps % 30 == 0:
                    await gateway.commit()
                    await asyncio.sleep(0)  # let the forwarder publish as the day goes
        finally:
            await gateway.stop()  # commits, flushes to the broker and says offline


def test_a_day_of_emulated_pulses_gives_the_hub_its_daily_kwh_within_a_tenth_of_a_percent(tmp_path, mosquitto):
    config = load_config(environ={}, overrides={
        "data_dir": str(tmp_path / "hub"), "mqtt_url": mosquitto.url, "secure_cookies": False,
        "two_factor_roles": ""})
    config.data_dir.mkdir(parents=True)
    upgrade(config.resolved_database_url)
    engine = open_engine(config.resolved_database_url)
    start = midnight(DAY) - MARGIN_S
    with session_scope(engine) as session:
        seed_demo_site(session, gateway_id="gw-icu-01", clock=ManualClock(start - 86_400), channels=[])
        meter = meters.create_meter(session, {
            "name": "Plant room main supply", "kind": "electricity", "source": "pulse",
            "units_per_pulse": str(1 / IMP_PER_KWH), "gateway_id": GATEWAY, "channel_id": CHANNEL},
            actor=None, clock=ManualClock(start - 86_400))
        meter_id = meter.id
    store = open_store(config)
    worker = IngestWorker(config.with_overrides(mqtt_client_id="utilities-e2e-ingest"), store, DbResolver(engine))
    gw_dir = tmp_path / "gateway"
    gw_dir.mkdir()
    (gw_dir / "gateway.toml").write_text(GATEWAY_TOML.format(
        gateway=GATEWAY, data_dir=gw_dir, broker=mosquitto.url, channel=CHANNEL, step=STEP_S,
        pulses_per_hour=LOAD_KW * IMP_PER_KWH))
    gateway = SteppedGateway(gw_dir / "gateway.toml", ManualClock(start), until=midnight(DAY + dt.timedelta(1)) + MARGIN_S)
    try:
        worker.start()
        wait_for(lambda: worker.stats().subscribed, 20, "the ingest worker to subscribe")
        began = time.monotonic()
        gateway.thread.start()
        gateway.thread.join(120)
        assert not gateway.thread.is_alive() and gateway.error is None, gateway.error
        day_end_ms = int(midnight(DAY + dt.timedelta(1)) * 1000)
        expected_points = (MARGIN_S * 2 + 86_400) // STEP_S  # one reading per step, none at the start
        wait_for(lambda: len(store.range(gateway=GATEWAY, channel=CHANNEL, start_ms=int(start * 1000),
                                         end_ms=day_end_ms + MARGIN_S * 1000 + 1)) == expected_points,
                 60, "the hub to store every reading of the day")
        elapsed = time.monotonic() - began
        assert gateway.steps == expected_points

        # One scheduler round an hour after the day ended rolls it up (the other jobs left out).
        hub_clock = ManualClock(day_end_ms / 1000 + 3600)
        job = [j for j in JOBS if j.name == "utility_rollup"]
        report = Scheduler(engine, clock=hub_clock, holder="e2e", jobs=job, telemetry=store).run_once()
        assert report.leader and not report.failed and report.ran["utility_rollup"]["ran"], report

        app = create_app(config, telemetry=store)
        body = _api_days(app.test_client(), engine, meter_id)
        (row,) = [d for d in body["days"] if d["day"] == DAY.isoformat()]
        expected_kwh = LOAD_KW * 24
        assert abs(float(row["quantity"]) - expected_kwh) <= expected_kwh * 0.001, (row, expected_kwh)
        assert row["points"] == 86_400 // STEP_S
        print(f"\nday {DAY}: hub {row['quantity']} kWh, emulated {expected_kwh} kWh, {row['pulses']} pulses, "
              f"{gateway.steps} steps in {elapsed:.1f} s of wall time")
        assert elapsed < 60, f"a day of pulses took {elapsed:.1f} s of wall time"
    finally:
        if gateway.thread.is_alive():
            gateway.until = 0
            gateway.thread.join(30)
        worker.stop()
        store.close()
        engine.dispose()


def _api_days(client, engine, meter_id: int) -> dict:
    """Sign in as the administrator and read the meter's day from the JSON API."""
    with session_scope(engine) as session:
        password = users.ensure_admin_with_fresh_password(session, username="admin")
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"username": "admin", "password": password, "csrf_token": token})
    assert response.status_code in (302, 303)
    response = client.get(f"/api/v1/utilities/meters/{meter_id}/days",
                          query_string={"from": DAY.isoformat(), "to": DAY.isoformat()})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()
