"""Remote config and commands from the hub, over a real broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wardlink.protocol import Command, GatewayConfig, Kind, encode, topic

from wardlink.edge.config import load_config
from wardlink.edge.gateway import Gateway

from edge_support import GW, write_config

ROOM = """
[[channels]]
id = "room.temp"
driver = "bme280"
quantity = "temperature"
interval = 0.2
[[channels]]
id = "room.humidity"
driver = "bme280"
quantity = "humidity"
interval = 0.2
"""

PUMP = {"id": "pump1.current", "driver": "ina219", "quantity": "current", "interval": 0.2,
        "emulate": {"mean": 0.4}}
TEMP = {"id": "room.temp", "driver": "bme280", "quantity": "temperature", "interval": 0.2}


class Hub:
    """Publishes configs and commands like the hub does."""

    def __init__(self, host, port):
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hub-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv311)
        self.client.connect(host, port)
        self.client.loop_start()

    def config(self, version, channels, alarms=()):
        payload = encode(GatewayConfig(GW, version, tuple(channels), tuple(alarms)))
        self.client.publish(topic(GW, Kind.CONFIG), payload, qos=1, retain=True).wait_for_publish(5)

    def command(self, name, args=None, raw: bytes | None = None) -> str:
        cid = uuid.uuid4().hex
        payload = raw if raw is not None else encode(Command(name, cid, int(time.time() * 1000), args or {}))
        self.client.publish(topic(GW, Kind.CMD, name), payload, qos=1).wait_for_publish(5)
        return cid

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


async def until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def channels_seen_after(sink, ts_ms):
    return {ch for ch, ts in sink.received() if ts > ts_ms}


@pytest.mark.timeout(90)
def test_remote_config_applies_atomically_and_a_bad_one_keeps_the_last_good(tmp_path, mosquitto, sink_factory):
    config = load_config(write_config(tmp_path, mosquitto.port, channels=ROOM))
    sink = sink_factory(mosquitto.host, mosquitto.port)
    hub = Hub(mosquitto.host, mosquitto.port)

    async def first_run():
        gw = Gateway(config)
        await gw.start()
        try:
            await until(lambda: {"room.temp", "room.humidity"} <= channels_seen_after(sink, 0), 10, "local channels")
            hub.config(1, [TEMP, PUMP])
            await until(lambda: sink.events_of("config.applied"), 10, "config.applied")
            applied_at = int(time.time() * 1000)
            await until(lambda: "pump1.current" in channels_seen_after(sink, applied_at), 10, "the added channel")
            assert "room.humidity" not in channels_seen_after(sink, applied_at + 500), "removed without restart"
            await until(lambda: any(s.config_version == 1 for s in sink.statuses), 5, "config_version 1 in status")

            bad = dict(PUMP, driver="ina220", interval=0)
            hub.config(2, [TEMP, bad], alarms=[{"channel": "nowhere", "above": 1}])
            await until(lambda: sink.events_of("config.rejected"), 10, "config.rejected")
            rejected = sink.events_of("config.rejected")[0]
            assert rejected.data["version"] == 2 and rejected.data["kept_version"] == 1
            problems = rejected.data["problems"]
            assert any(p.startswith("channels[1].interval: must be >= 0.1 s, got 0") for p in problems)
            assert any(p.startswith("channels[1].driver: unknown driver 'ina220'") for p in problems)
            assert any(p.startswith("alarms[0].channel: no channel 'nowhere'") for p in problems)
            mark = int(time.time() * 1000)
            await until(lambda: "pump1.current" in channels_seen_after(sink, mark), 10, "the last good config running")
            assert gw.remote.config_version == 1
        finally:
            await gw.stop()

    async def second_run():
        # The saved version 1 is used at start; the retained bad version 2 is rejected again.
        gw = Gateway(config)
        await gw.start()
        try:
            assert [c.id for c in gw.channels] == ["room.temp", "pump1.current"]
            await until(lambda: len(sink.events_of("config.rejected")) >= 2, 10, "the retained bad config")
            assert gw.remote.config_version == 1
        finally:
            await gw.stop()

    try:
        asyncio.run(first_run())
        saved = json.loads((config.data_dir / "remote-config.json").read_text())
        assert saved["version"] == 1
        asyncio.run(second_run())
    finally:
        hub.close()


FRIDGE = """
[[channels]]
id = "fridge1.temp"
driver = "bme280"
quantity = "temperature"
interval = 0.2
emulate = { kind = "constant", value = 9.0 }

[outputs.buzzer]
driver = "digital_output"
params = { pin = 27 }

[[alarms]]
channel = "fridge1.temp"
above = 8.0
output = "buzzer"
"""


@pytest.mark.timeout(60)
def test_commands_are_carried_out_and_answered(tmp_path, mosquitto, sink_factory):
    config = load_config(write_config(tmp_path, mosquitto.port, channels=FRIDGE))
    sink = sink_factory(mosquitto.host, mosquitto.port)
    hub = Hub(mosquitto.host, mosquitto.port)

    def result(cid):
        return next((r for r in sink.results if r.id == cid), None)

    async def scenario():
        gw = Gateway(config)
        await gw.start()
        try:
            await until(lambda: sink.events_of("alarm.raised"), 10, "the local alarm")
            buzzer = gw.alarms.outputs["buzzer"]
            observer = gw.backend.emulator(buzzer.device)
            assert observer.is_on

            cid = hub.command("silence-alarm", {"channel": "fridge1.temp"})
            await until(lambda: result(cid), 10, "the silence result")
            assert result(cid).ok and "fridge1.temp" in result(cid).detail
            assert not observer.is_on, "silenced from the hub"
            await until(lambda: sink.events_of("alarm.silenced"), 10, "alarm.silenced")

            cid = hub.command("silence-alarm")
            await until(lambda: result(cid), 10, "the second silence result")
            assert not result(cid).ok and "no sounding alarm" in result(cid).detail

            cid = hub.command("identify", {"seconds": 2})
            await until(lambda: result(cid), 10, "the identify result")
            assert result(cid).ok and "buzzer" in result(cid).detail

            await until(lambda: sink.batches, 10, "telemetry")
            seq = sink.batches[-1].seq
            cid = hub.command("resend-from", {"seq": seq + 1000})
            await until(lambda: result(cid), 10, "the resend result")
            assert result(cid).ok and "nothing to re-send" in result(cid).detail  # nothing sent since

            first = sink.batches[0]
            cid = hub.command("resend-from", {"seq": first.seq})
            await until(lambda: result(cid), 10, "the resend result")
            assert result(cid).ok and result(cid).detail.startswith("re-sent ")
            again = {(r.channel, r.ts_ms) for r in first.readings}
            await until(lambda: all(sink.readings[k] >= 2 for k in again), 10, "the re-sent readings")
            copies = [b for b in sink.batches if b.seq == first.seq and b.boot == first.boot]
            assert len(copies) >= 2 and copies[-1].late, "re-sent under its original boot and seq, marked late"

            cid = hub.command("resend-from", {"seq": first.seq, "until": first.seq, "boot": first.boot})
            await until(lambda: result(cid), 10, "the bounded resend result")
            assert result(cid).ok and result(cid).detail.endswith("in 1 batches")
            cid = hub.command("resend-from", {"seq": first.seq, "boot": "an-earlier-boot"})
            await until(lambda: result(cid), 10, "the refusal for another boot")
            assert not result(cid).ok and "not this gateway's current boot" in result(cid).detail

            cid = hub.command("reload")
            await until(lambda: result(cid), 10, "the reload result")
            assert result(cid).ok and "reloaded" in result(cid).detail
            mark = int(time.time() * 1000)
            await until(lambda: "fridge1.temp" in channels_seen_after(sink, mark), 10, "readings after reload")

            cid = uuid.uuid4().hex
            hub.command("identify", raw=json.dumps({"v": 1, "id": cid}).encode())
            await until(lambda: result(cid), 10, "the rejection")
            assert not result(cid).ok and "rejected" in result(cid).detail and "ts" in result(cid).detail
        finally:
            await gw.stop()

    try:
        asyncio.run(scenario())
    finally:
        hub.close()
