"""Recorded advertisements replayed on the injected clock, through decoders to devices and presence."""

import json

import pytest

from wardlink.hardware.ble.advert import Advertisement
from wardlink.hardware.ble.devices import BTHomeDevice, PresenceDevice, RuuviDevice
from wardlink.hardware.ble.presence import PresenceConfig
from wardlink.hardware.ble.radio import ReplayRadio, dump_record, load_replay
from wardlink.hardware.errors import DecodeError, SensorTimeoutError

KEY_HEX = "231d39c1d7cc1ab1aee224cd096db932"
T0 = 1_767_225_600.0  # the ManualClock's default start

# Published payloads: bthome-ble's bind-key vector and the Ruuvi format-5 "valid data" vector.
BTHOME_ENCRYPTED = "41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"
RUUVI_VALID = "05 12 FC 53 94 C3 7C 00 04 FF FC 04 0C AC 36 42 00 CD CB B8 33 4C 88 4F"
BEACON = "02 15 41 42 43 44 45 46 47 48 49 40 41 42 43 44 45 46 00 01 00 02 F8"


def write_jsonl(path, records):
    path.write_text("# recorded on ward 3\n\n" + "\n".join(json.dumps(r) for r in records) + "\n")
    return path


def recording(tmp_path):
    """Twelve minutes of a ward: a fridge sensor, a Ruuvi, and an infusion pump's beacon moving rooms."""
    records = [
        {"ts": T0, "address": "54:48:E6:8F:80:A5", "rssi": -58, "service_data": {"fcd2": BTHOME_ENCRYPTED}},
        {"ts": T0 + 1, "address": "54:48:E6:8F:80:A5", "rssi": -59, "service_data": {"fcd2": BTHOME_ENCRYPTED}},
        {"ts": T0 + 2, "address": "CB:B8:33:4C:88:4F", "rssi": -71, "manufacturer_data": {"0x0499": RUUVI_VALID}},
    ]
    for t in range(0, 120, 2):  # pump in ward 3, heard faintly in ward 4
        records.append({"ts": T0 + t, "address": "11:22:33:44:55:66", "rssi": -62, "gateway": "ward-3",
                        "manufacturer_data": {"76": BEACON}})
        records.append({"ts": T0 + t + 1, "address": "11:22:33:44:55:66", "rssi": -84, "gateway": "ward-4",
                        "manufacturer_data": {"76": BEACON}})
    for t in range(120, 240, 2):  # wheeled to ward 4
        records.append({"ts": T0 + t, "address": "11:22:33:44:55:66", "rssi": -88, "gateway": "ward-3",
                        "manufacturer_data": {"76": BEACON}})
        records.append({"ts": T0 + t + 1, "address": "11:22:33:44:55:66", "rssi": -60, "gateway": "ward-4",
                        "manufacturer_data": {"76": BEACON}})
    return write_jsonl(tmp_path / "ward3.jsonl", records)


def test_replay_files_are_read_sorted_and_round_trip(tmp_path):
    records = load_replay(recording(tmp_path))
    assert len(records) == 243
    assert [r.ts for r in records] == sorted(r.ts for r in records)
    first = records[0]
    assert first.service_data == {"0000fcd2-0000-1000-8000-00805f9b34fb": bytes.fromhex(BTHOME_ENCRYPTED)}
    line = dump_record(first)
    assert load_replay(write_jsonl(tmp_path / "again.jsonl", [json.loads(line)]))[0] == first


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"ts": 1, "rssi": -60}', "bad.jsonl:3: missing field 'address'"),
        ('{"ts": 1, "address": "nope", "rssi": -60}', "bad.jsonl:3: not a MAC address"),
        ('{"ts": 1, "address": "AA:BB:CC:DD:EE:FF", "rssi": -60, "service_data": {"fcd2": "zz"}}', "bad.jsonl:3:"),
        ('[1, 2]', "bad.jsonl:3: must be a JSON object"),
        ("{not json", "bad.jsonl:3: not JSON"),
    ],
)
def test_bad_replay_lines_are_named(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("# header\n\n" + line + "\n")
    with pytest.raises(DecodeError, match=message):
        load_replay(path)


def test_records_play_only_when_the_clock_reaches_them(clock):
    radio = ReplayRadio(clock)
    heard = []
    radio.subscribe(heard.append)
    radio.play([Advertisement.build("AA:BB:CC:DD:EE:FF", -60, 100.0 + t) for t in (0, 5, 10)])
    radio.pump()
    assert [a.ts for a in heard] == [clock.now()]  # shifted: the first record plays at once
    clock.advance(5)
    radio.pump()
    clock.advance(4.9)
    radio.pump()
    assert len(heard) == 2
    clock.advance(0.1)
    radio.pump()
    assert [a.ts - T0 for a in heard] == [0, 5, 10]


def test_replay_drives_decoders_devices_and_presence(tmp_path, clock):
    """One recording through one radio: sensor values, duplicates dropped, presence events."""
    radio = ReplayRadio(clock, name="hci0")
    fridge = BTHomeDevice("54:48:E6:8F:80:A5", radio, clock, key=bytes.fromhex(KEY_HEX))
    ruuvi = RuuviDevice("CB:B8:33:4C:88:4F", radio, clock)
    presence = PresenceDevice(
        ({"id": "pump-17", "uuid": "41424344-4546-4748-4940-414243444546", "major": 1, "minor": 2},),
        radio, clock, config=PresenceConfig(enter_dbm=-75, margin_db=6, dwell_s=10, away_timeout_s=60, alpha=0.5),
    )
    radio.play(load_replay(recording(tmp_path)))

    assert fridge.read() == {"temperature": 25.06, "humidity": 50.55, "rssi": -58.0}
    clock.advance(2)
    assert ruuvi.read()["temperature"] == 24.3
    # The second BTHome packet repeats the counter: a duplicate, not new data.
    assert fridge.stats()["duplicates"] == 1 and fridge.stats()["accepted"] == 1

    events = []
    for _ in range(40):
        clock.advance(10)
        events += presence.poll_events()
    changes = [(e["data"]["previous"], e["data"]["gateway"]) for e in events if e["type"] == "presence.changed"]
    assert changes == [(None, "ward-3"), ("ward-3", "ward-4"), ("ward-4", None)]
    seen = [e["data"]["gateway"] for e in events if e["type"] == "ble.seen"]
    assert seen == ["ward-3", "ward-4"]
    lost = [(e["data"]["gateway"], e["data"]["reason"]) for e in events if e["type"] == "ble.lost"]
    assert lost == [("ward-3", "weak"), ("ward-4", "timeout")]
    assert presence.read() == {"pump-17.present": 0.0}

    assert fridge.read()["temperature"] == 25.06  # last heard 402 s ago, within the 600 s default
    clock.advance(300)
    with pytest.raises(SensorTimeoutError, match="heard not for 702 s"):
        fridge.read()
