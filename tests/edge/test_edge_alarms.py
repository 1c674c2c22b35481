"""Local alarm rules: threshold, duration, hysteresis, silence; the buzzer sounds without the hub."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from wardlink.hardware import registry
from wardlink.clock import ManualClock

from wardlink.edge.alarms import AlarmEngine, Output
from wardlink.edge.config import AlarmRule, load_config
from wardlink.edge.gateway import Gateway

from edge_support import write_config

T0 = 1_767_225_600_000
RULE = AlarmRule("fridge1.temp", "fridge1.temp", above=8.0, below=2.0, for_s=300, hysteresis=0.3, output="buzzer")


@pytest.fixture
def buzzer():
    with registry.Backend.emulated(clock=ManualClock(), seed=1) as backend:
        device = registry.open_device("digital_output", {"pin": 27}, backend)
        yield Output("buzzer", device), backend.emulator(device)
        device.close()


def feed(engine, values, start_s=0, step_s=60):
    engine.evaluate([("fridge1.temp", T0 + (start_s + i * step_s) * 1000, v, "good") for i, v in enumerate(values)])


def test_alarm_needs_the_full_duration_and_clears_only_past_the_hysteresis(buzzer):
    output, observer = buzzer
    events = []
    engine = AlarmEngine([RULE], {"buzzer": output}, events.append)
    feed(engine, [8.5, 8.6, 8.7, 7.9])  # back inside at 180 s: the timer restarts
    assert events == [] and not observer.is_on
    feed(engine, [8.5, 8.5, 8.5, 8.5, 8.5, 8.5], start_s=300)  # 300 s .. 600 s above
    assert [e.type for e in events] == ["alarm.raised"]
    raised = events[0]
    assert raised.severity == "critical"
    assert raised.data["condition"] == "high" and raised.data["limit"] == 8.0
    assert raised.ts_ms == T0 + 600 * 1000, "raised after exactly for_s seconds above the limit"
    assert observer.is_on, "the buzzer sounds"
    feed(engine, [7.8], start_s=660)  # inside the limit but not by the hysteresis
    assert len(events) == 1 and observer.is_on
    feed(engine, [7.7], start_s=720)
    assert [e.type for e in events] == ["alarm.raised", "alarm.cleared"]
    assert not observer.is_on


def test_low_limit_with_zero_duration_raises_at_once():
    events = []
    engine = AlarmEngine([AlarmRule("r", "fridge1.temp", below=2.0)], {}, events.append)
    feed(engine, [2.5, 1.9])
    assert [(e.type, e.data["condition"]) for e in events] == [("alarm.raised", "low")]


def test_bad_readings_neither_raise_nor_clear(buzzer):
    output, observer = buzzer
    events = []
    engine = AlarmEngine([RULE], {"buzzer": output}, events.append)
    feed(engine, [9.0] * 6)
    engine.evaluate([("fridge1.temp", T0 + 10_000_000, None, "bad")] * 3)
    assert [e.type for e in events] == ["alarm.raised"]
    assert observer.is_on


def test_silence_stops_the_buzzer_until_the_alarm_clears_and_rises_again(buzzer):
    output, observer = buzzer
    events = []
    engine = AlarmEngine([RULE], {"buzzer": output}, events.append)
    feed(engine, [9.0] * 6)
    assert engine.silence("fridge1.temp", T0 + 1) == ["fridge1.temp"]
    assert not observer.is_on
    assert engine.active()[0]["silenced"] is True
    assert engine.silence(None, T0 + 2) == [], "nothing left to silence"
    feed(engine, [5.0], start_s=1000)
    feed(engine, [9.0] * 6, start_s=2000)
    assert observer.is_on, "a new alarm sounds again"
    assert [e.type for e in events] == ["alarm.raised", "alarm.silenced", "alarm.cleared", "alarm.raised"]


HOT_FRIDGE = """
[[channels]]
id = "fridge1.temp"
driver = "ds18b20"
params = { device_id = "28-0000075a1b2c" }
quantity = "temperature"
interval = 10
emulate = { kind = "constant", value = 9.5 }

[outputs.buzzer]
driver = "digital_output"
params = { pin = 27 }

[[alarms]]
channel = "fridge1.temp"
above = 8.0
for_s = 300
hysteresis = 0.3
output = "buzzer"
"""


@pytest.mark.timeout(60)
def test_fridge_alarm_sounds_in_the_ward_while_the_hub_is_unreachable(tmp_path, mosquitto):
    """No broker at all: the rule still raises, the buzzer sounds and the event is in the buffer."""
    config = load_config(write_config(tmp_path, mosquitto.port, channels=HOT_FRIDGE))
    mosquitto.stop()
    clock = ManualClock()

    async def scenario():
        gw = Gateway(config, clock=clock, sample=False)
        await gw.start()
        try:
            for _ in range(40):  # 400 s of readings at 9.5 degC
                clock.advance(10)
                await asyncio.gather(*gw.sampler.sample_due())
            await gw.commit()
            buzzer = gw.alarms.outputs["buzzer"]
            observer = gw.backend.emulator(buzzer.device)
            assert observer.is_on
            assert not gw.forwarder.connected
        finally:
            await gw.stop()

    asyncio.run(scenario())
    conn = sqlite3.connect(config.data_dir / "buffer.db")
    types = [t for (t,) in conn.execute("SELECT type FROM events ORDER BY id")]
    conn.close()
    assert "alarm.raised" in types, "the alarm event waits in the buffer for the hub"
