"""BLE drivers through the registry on the emulated radio, and the bleak adapter's edges."""

import json
import subprocess
import sys

import pytest

from wardlink.hardware import registry
from wardlink.hardware.ble.advert import Advertisement
from wardlink.hardware.ble.emulators import BTHomeTagEmulator
from wardlink.hardware.ble.scanner import BleakRadio
from wardlink.hardware.errors import BusError, ConfigError, DeviceClosedError, SensorTimeoutError

KEY_HEX = "231d39c1d7cc1ab1aee224cd096db932"
FRIDGE = {"address": "54:48:E6:8F:80:A5", "bind_key": KEY_HEX}


def test_encrypted_bthome_sensor_end_to_end(backend, clock):
    """The emulated tag encrypts with the bind key; the device decrypts what the radio delivers."""
    emulate = {"temperature": {"kind": "constant", "value": 3.8}, "humidity": {"kind": "constant", "value": 61.0}}
    with registry.open_device("bthome", FRIDGE, backend, emulate=emulate) as fridge:
        tag = backend.emulator(fridge)
        assert isinstance(tag, BTHomeTagEmulator) and tag.key == bytes.fromhex(KEY_HEX)
        assert fridge.read() == {"battery": 90.0, "temperature": 3.8, "humidity": 61.0, "rssi": -62.0}
        assert fridge.quantities == {"battery": "%", "temperature": "degC", "humidity": "%RH", "rssi": "dBm"}
        clock.advance(30)
        fridge.read()
        assert fridge.stats()["accepted"] == 4


def test_tampered_and_replayed_packets_are_counted_not_used(backend, clock):
    with registry.open_device("bthome", FRIDGE, backend) as fridge:
        tag = backend.emulator(fridge)
        clock.advance(20)
        fridge.read()  # counters 1, 2, 3 accepted
        tag.inject("bad_mic")
        clock.advance(10)
        fridge.read()  # the radio delivers (and the tag generates) on the clock, when asked
        tag.inject("replay")
        clock.advance(10)
        fridge.read()
        stats = fridge.stats()
        assert stats["accepted"] == 3
        assert stats["rejected"] == 1 and "MIC check failed" in stats["last_error"]
        assert stats["replays"] == 1  # an older counter, resent 10 s after the last good packet


def test_a_rebooted_sensor_is_believed_after_a_silent_gap(backend, clock):
    with registry.open_device("bthome", {**FRIDGE, "reset_gap_s": 30}, backend) as fridge:
        tag = backend.emulator(fridge)
        clock.advance(50)
        fridge.read()
        tag.inject("silent", count=4)  # 40 s without advertising, then it comes back from 1
        tag.inject("reboot")
        clock.advance(50)
        fridge.read()
        assert fridge.stats()["resets"] == 1 and fridge.stats()["replays"] == 0


def test_a_silent_sensor_times_out(backend, clock):
    with registry.open_device("bthome", {**FRIDGE, "stale_after_s": 60}, backend) as fridge:
        fridge.read()
        backend.emulator(fridge).inject("silent", count=None)
        clock.advance(61)
        with pytest.raises(SensorTimeoutError, match="stale after 60 s"):
            fridge.read()


def test_plain_sensor_is_refused_when_a_key_is_configured(backend, clock):
    """A downgrade: the device holds a key, so plain packets from its address are rejected."""
    radio = backend.bus("ble", "hci0")
    with registry.open_device("bthome", FRIDGE, backend) as fridge:
        backend.emulator(fridge).inject("silent", count=None)
        radio.dispatch(Advertisement.build(FRIDGE["address"], -50, clock.now(), service_data={"fcd2": bytes.fromhex("40 02 ca 09")}))
        assert fridge.stats()["rejected"] == 1
        with pytest.raises(SensorTimeoutError, match="heard never"):
            fridge.read()


def test_ruuvitag_end_to_end(backend, clock):
    with registry.open_device("ruuvitag", {"address": "CB:B8:33:4C:88:4F"}, backend,
                              emulate={"temperature": {"kind": "constant", "value": -18.5}}) as tag:
        values = tag.read()
        assert values["temperature"] == -18.5 and values["pressure"] == 101325 and values["battery_voltage"] == 3.0
        clock.advance(10)
        assert tag.read()["sequence"] == 2


def test_presence_with_a_replay_file_through_the_registry(backend, clock, tmp_path):
    path = tmp_path / "walk.jsonl"
    t0 = clock.now()
    path.write_text("\n".join(
        json.dumps({"ts": t0 + t, "address": "AA:BB:CC:DD:EE:01", "rssi": -58, "gateway": "theatre-2"})
        for t in range(0, 30, 2)))
    params = {"tags": [{"id": "defib-3", "address": "aa:bb:cc:dd:ee:01"}], "dwell_s": 5, "away_timeout_s": 20}
    with registry.open_device("ble_presence", params, backend, emulate={"replay": str(path)}) as presence:
        clock.advance(10)
        events = presence.poll_events()
        assert [(e["type"], e["data"]["gateway"]) for e in events] == [("ble.seen", "theatre-2"),
                                                                      ("presence.changed", "theatre-2")]
        assert presence.read() == {"defib-3.present": 1.0, "defib-3.rssi": -58.0}
        clock.advance(60)
        assert [e["type"] for e in presence.poll_events()] == ["ble.lost", "presence.changed"]
    with pytest.raises(DeviceClosedError):
        presence.poll_events()


def test_presence_synthetic_walk_for_the_demo(backend, clock):
    with registry.open_device("ble_presence", {"tags": [{"id": "pump", "address": "AA:BB:CC:DD:EE:02"}]}, backend) as presence:
        clock.advance(60)
        assert presence.read()["pump.present"] == 1.0


@pytest.mark.parametrize(
    ("driver", "params", "message"),
    [
        ("bthome", {"address": "54:48:E6:8F:80"}, "address: must match"),
        ("bthome", {**FRIDGE, "bind_key": "abcd"}, "bind_key: must be 32 hexadecimal digits"),
        ("bthome", {**FRIDGE, "counter_policy": "trusting"}, "counter_policy: must be one of 'gap', 'strict'"),
        ("ble_presence", {"tags": []}, "tags: must be a non-empty list"),
        ("ble_presence", {"tags": [{"id": "a"}]}, r"tags\[0\]: give either address or uuid"),
        ("ble_presence", {"tags": [{"id": "a", "uuid": "x", "major": 1, "minor": 2}]}, r"tags\[0\].uuid: not a UUID"),
        ("ble_presence", {"tags": [{"id": "a", "address": "AA:BB:CC:DD:EE:FF"}] * 2}, r"tags\[1\].id: 'a' is used twice"),
        ("ble_presence", {"tags": [{"id": "a", "address": "AA:BB:CC:DD:EE:FF"}], "smoothing": "mean"}, "smoothing: must be one of"),
    ],
)
def test_bad_ble_configuration_names_the_key(driver, params, message):
    with pytest.raises(ConfigError, match=message):
        registry.validate_params(driver, params)


def test_unknown_emulate_keys_for_presence(backend):
    with pytest.raises(ConfigError, match="emulate.file: unknown; allowed: replay, loop"):
        registry.open_device("ble_presence", {"tags": [{"id": "a", "address": "AA:BB:CC:DD:EE:FF"}]}, backend,
                             emulate={"file": "x.jsonl"})


def test_decoders_never_import_bleak():
    """Code that needs no radio never loads bleak (nor BlueZ and D-Bus behind it)."""
    code = ("import sys, wardlink.hardware.ble.bthome, wardlink.hardware.ble.devices, wardlink.hardware.ble.emulators, hardware.registry; "
            "print('bleak' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_bleak_callback_feeds_the_same_dispatch_path(clock):
    """bleak's own types, as its detection callback passes them, become Advertisements."""
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    radio = BleakRadio("hci1", clock=clock)
    heard = []
    radio._listeners.append(heard.append)  # listen without starting a scan: no adapter here
    data = AdvertisementData(
        local_name="SBHT-003C", manufacturer_data={}, rssi=-67, tx_power=None, platform_data=(),
        service_data={"0000fcd2-0000-1000-8000-00805f9b34fb": bytes.fromhex("40 02 c4 09")},
        service_uuids=["0000fcd2-0000-1000-8000-00805f9b34fb"],
    )
    radio._on_detect(BLEDevice("54:48:e6:8f:80:a5", "SBHT-003C", None), data)
    radio._on_detect(BLEDevice("not-a-mac", None, None), data)
    assert heard == [Advertisement.build("54:48:E6:8F:80:A5", -67, clock.now(), name="SBHT-003C", gateway="hci1",
                                         service_data={"fcd2": bytes.fromhex("40 02 c4 09")})]
    assert radio.malformed == 1
    radio.close()


def test_a_failed_scanner_surfaces_as_a_bus_error(clock):
    """Without a Bluetooth adapter (as on CI), scanning fails and read() says so."""
    radio = BleakRadio("hci9", clock=clock)
    radio.subscribe(lambda adv: None)
    radio._thread.join(timeout=20)
    with pytest.raises(BusError, match="BLE scanning on hci9 failed"):
        radio.check()
    radio.close()


@pytest.mark.parametrize(
    ("driver", "params"),
    [
        ("bthome", FRIDGE),
        ("ble_presence", {"tags": [{"id": "a", "address": "aa:bb:cc:dd:ee:ff"},
                                   {"id": "b", "uuid": "41424344-4546-4748-4940-414243444546", "major": 1, "minor": 2}]}),
        ("ruuvitag", {"address": "CB:B8:33:4C:88:4F"}),
    ],
)
def test_validated_parameters_validate_again_unchanged(driver, params):
    once = registry.validate_params(driver, params)
    assert registry.validate_params(driver, once) == once


def test_quantities_follow_the_configuration():
    tags = registry.validate_params("ble_presence", {"tags": [{"id": "pump-17", "address": "AA:BB:CC:DD:EE:01"}]})
    assert registry.quantities("ble_presence", tags) == {"pump-17.present": "bool", "pump-17.rssi": "dBm"}
    bthome = registry.quantities("bthome", registry.validate_params("bthome", FRIDGE))
    assert {"temperature": "degC", "humidity": "%RH", "door": "", "rssi": "dBm"}.items() <= bthome.items()
