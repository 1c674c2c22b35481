"""The sampler: shared devices read once per tick, stuck sensors isolated, failures flagged."""

from __future__ import annotations

import asyncio
import threading
import time
import tomllib

import pytest

from wardlink.hardware import registry
from wardlink.hardware.errors import SensorTimeoutError
from wardlink.clock import ManualClock, SystemClock

from wardlink.edge.config import parse_channels
from wardlink.edge.sampler import Sampler


def channels(text: str, backend: str = "emulated"):
    problems: list[str] = []
    result = parse_channels(tomllib.loads(text)["channels"], backend=backend, problems=problems)
    assert not problems, problems
    return result


BME = """
[[channels]]
id = "room.temp"
driver = "bme280"
quantity = "temperature"
interval = {fast}
calibration = {{ offset = -0.5, scale = 2.0 }}
emulate = {{ kind = "constant", value = 20.0 }}
[[channels]]
id = "room.humidity"
driver = "bme280"
quantity = "humidity"
interval = {fast}
[[channels]]
id = "room.pressure"
driver = "bme280"
quantity = "pressure"
interval = {slow}
"""


class CountingOpener:
    """Open real (emulated-backend) devices and count each device's read() calls."""

    def __init__(self, backend):
        self.backend = backend
        self.reads: dict[str, int] = {}
        self.devices = []

    def __call__(self, driver, params, emulate):
        device = registry.open_device(driver, params, self.backend, emulate=emulate)
        self.devices.append(device)
        original = device.read

        def read():
            self.reads[driver] = self.reads.get(driver, 0) + 1
            return original()

        device.read = read
        return device


class Recorder:
    def __init__(self):
        self.readings = []
        self.events = []

    def of(self, channel):
        return [r for r in self.readings if r[0] == channel]


def make(chs, opener, clock, rec=None):
    rec = rec or Recorder()
    sampler = Sampler(chs, opener=opener, clock=clock, emit_readings=rec.readings.extend,
                      emit_event=rec.events.append)
    return sampler, rec


def step(sampler, clock, seconds: float, times: int):
    async def run():
        for _ in range(times):
            clock.advance(seconds)
            tasks = sampler.sample_due()
            if tasks:
                await asyncio.gather(*tasks)
    asyncio.run(run())


def test_channels_of_one_device_share_one_read_per_tick_and_apply_calibration():
    clock = ManualClock()
    with registry.Backend.emulated(clock=clock, seed=3) as backend:
        opener = CountingOpener(backend)
        sampler, rec = make(channels(BME.format(fast=1.0, slow=2.0)), opener, clock)
        try:
            step(sampler, clock, 1.0, 10)
        finally:
            sampler.close()
    assert len(rec.of("room.temp")) == 10
    assert len(rec.of("room.pressure")) == 5, "pressure every 2 s, on the even ticks"
    assert opener.reads == {"bme280": 10}, "one conversion per tick serves all three channels"
    assert len(opener.devices) == 1, "the BME280 is opened once"
    assert {r[2] for r in rec.of("room.temp")} == {20.0 * 2.0 - 0.5}, "value * scale + offset"
    # Readings of one tick carry the same timestamp.
    ts_temp = [r[1] for r in rec.of("room.temp")]
    assert set(r[1] for r in rec.of("room.pressure")) <= set(ts_temp)
    assert all(b - a == 1000 for a, b in zip(ts_temp, ts_temp[1:]))


DS = """
[[channels]]
id = "fridge1.temp"
driver = "ds18b20"
params = { device_id = "28-0000075a1b2c" }
interval = 5
emulate = { kind = "constant", value = 4.0 }
"""


def test_driver_failures_become_bad_readings_with_rate_limited_events():
    clock = ManualClock()
    with registry.Backend.emulated(clock=clock, seed=3) as backend:
        opener = CountingOpener(backend)
        sampler, rec = make(channels(DS), opener, clock)
        try:
            step(sampler, clock, 5.0, 2)
            emulator = backend.emulator(opener.devices[0])
            emulator.inject("absent", count=None)
            step(sampler, clock, 5.0, 30)
            emulator.clear()
            step(sampler, clock, 5.0, 2)
        finally:
            sampler.close()
    values = [(r[2], r[3]) for r in rec.of("fridge1.temp")]
    assert values[:2] == [(4.0, "good")] * 2
    assert values[2:32] == [(None, "bad")] * 30
    assert values[32:] == [(4.0, "good")] * 2
    types = [e.type for e in rec.events]
    assert types == ["sensor.error", "sensor.recovered"], "one error event for a run of failures"
    assert "DeviceAbsentError" in rec.events[0].data["error"]
    assert rec.events[1].data["failures"] == 30


class HangingDevice:
    """A sensor whose bus hangs until released: the failure no emulator can produce on demand."""

    quantities = {"temperature": "degC"}

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def read(self):
        self.calls += 1
        if not self.release.wait(30):
            raise SensorTimeoutError("released by the test teardown")
        return {"temperature": 5.0}

    def close(self):
        self.release.set()


@pytest.mark.timeout(30)
def test_a_stuck_sensor_never_delays_the_others():
    clock = SystemClock()
    hanging = HangingDevice()
    with registry.Backend.emulated(clock=clock, seed=3) as backend:
        real = CountingOpener(backend)

        def opener(driver, params, emulate):
            return hanging if driver == "ds18b20" else real(driver, params, emulate)

        chs = channels(BME.format(fast=0.2, slow=0.2) + DS.replace("interval = 5", "interval = 0.2\ntimeout = 0.15"))
        sampler, rec = make(chs, opener, clock)

        async def run():
            task = asyncio.create_task(sampler.run())
            deadline = time.monotonic() + 10
            while len(rec.of("room.temp")) < 15 or not rec.of("fridge1.temp"):
                assert time.monotonic() < deadline, "sampling stalled"
                await asyncio.sleep(0.02)
            hanging.release.set()
            while not any(e.type == "sensor.recovered" for e in rec.events):
                assert time.monotonic() < deadline + 5, "the sensor never recovered"
                await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sampler.drain()

        try:
            asyncio.run(run())
        finally:
            sampler.close()
    ts = [r[1] for r in rec.of("room.temp")]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert max(gaps) <= 400, f"room.temp skipped ticks while the fridge sensor hung: {gaps}"
    stuck = rec.of("fridge1.temp")
    assert stuck[0][2:] == (None, "bad")
    assert hanging.calls == 1 or all(r[3] == "bad" for r in stuck[:-1]), "no second thread piles onto a stuck bus"
    errors = [e for e in rec.events if e.type == "sensor.error"]
    assert errors and "timed out after 0.15 s" in errors[0].data["error"]
    assert len(errors) <= 2, "errors are rate-limited (timeout, then busy)"


def test_channel_changes_keep_unchanged_devices_open_and_close_removed_ones():
    clock = ManualClock()
    with registry.Backend.emulated(clock=clock, seed=3) as backend:
        opener = CountingOpener(backend)
        bme = channels(BME.format(fast=1.0, slow=1.0))
        sampler, rec = make(bme, opener, clock)
        try:
            step(sampler, clock, 1.0, 1)
            both = channels(BME.format(fast=1.0, slow=1.0) + DS.replace("interval = 5", "interval = 1"))
            sampler.set_channels(both)
            step(sampler, clock, 1.0, 1)
            assert len(opener.devices) == 2, "the BME280 stayed open; only the DS18B20 was opened"
            sampler.set_channels(both[3:])
            step(sampler, clock, 1.0, 2)
            assert opener.devices[0].closed, "the removed BME280 is closed"
        finally:
            sampler.close()
    assert len(rec.of("room.temp")) == 2
    assert len(rec.of("fridge1.temp")) == 3
