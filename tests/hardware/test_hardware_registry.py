"""The driver registry: parameter validation, listing, backends and emulator lookup."""

from pathlib import Path

import pytest

from wardlink.hardware import registry
from wardlink.hardware.errors import BusError, ConfigError, DeviceClosedError, HardwareError, NotEmulatedError
from wardlink.clock import ManualClock
from wardlink.errors import WardlinkError


def test_every_driver_names_a_known_bus_and_its_quantities():
    for spec in registry.DRIVERS.values():
        assert spec.bus in {"i2c", "w1", "gpio", "serial", "ble"}
        # Drivers whose quantities come from parameters say so in their notes.
        assert spec.driver and (spec.quantities or spec.notes), spec.name


def test_defaults_are_filled_in():
    expected = {"bus": 1, "address": 0x44, "repeatability": "high", "heater": False}
    assert registry.validate_params("sht3x", {}) == expected


def test_hex_strings_are_accepted_for_integer_parameters():
    assert registry.validate_params("bme280", {"address": "0x77"})["address"] == 0x77


@pytest.mark.parametrize(
    ("driver", "params", "message"),
    [
        ("sht3x", {"address": 0x40}, "address: must be one of 0x44, 0x45, got 0x40"),
        ("sht3x", {"adress": 0x44}, "adress: unknown parameter for sht3x; allowed: bus, address"),
        ("sht3x", {"bus": -1}, "bus: must be >= 0, got -1"),
        ("sht3x", {"heater": "maybe"}, "heater: must be true or false, got 'maybe'"),
        ("bme280", {"oversampling": 3}, "oversampling: must be one of 1, 2, 4, 8, 16, got 3"),
        ("ds18b20", {}, "device_id: required by ds18b20"),
        ("ds18b20", {"device_id": "28-0316a2796fff", "retries": 11}, "retries: must be <= 10, got 11"),
        ("ina219", {"shunt_ohms": True}, "shunt_ohms: must be a number, got True"),
    ],
)
def test_bad_parameters_name_the_key_and_the_allowed_values(driver, params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.validate_params(driver, params)


def test_unknown_driver_lists_the_known_ones():
    with pytest.raises(ConfigError, match="driver: must be one of .*bme280.*sht3x"):
        registry.validate_params("dht22", {})


def test_config_errors_are_also_value_errors_and_wardlink_errors():
    with pytest.raises(ValueError):
        registry.validate_params("sht3x", {"address": 1})
    assert issubclass(ConfigError, HardwareError) and issubclass(HardwareError, WardlinkError)


def test_list_drivers_describes_params_and_quantities():
    listing = {entry["name"]: entry for entry in registry.list_drivers()}
    assert [entry["name"] for entry in registry.list_drivers()] == sorted(listing)
    sht = listing["sht3x"]
    assert sht["bus"] == "i2c"
    assert sht["quantities"] == {"temperature": "degC", "humidity": "%RH"}
    assert sht["params"]["address"] == {
        "type": "int", "required": False, "help": "7-bit I2C address", "default": "0x44", "choices": ["0x44", "0x45"],
    }
    assert listing["ds18b20"]["params"]["device_id"]["required"] is True
    for entry in listing.values():
        for param in entry["params"].values():
            assert param["help"], f"{entry['name']} has a parameter without help"


def test_emulate_on_the_real_backend_is_refused(tmp_path):
    with registry.Backend.real(w1_root=tmp_path) as real:
        with pytest.raises(ConfigError, match="emulate: only valid with the emulated backend"):
            registry.open_device("ds18b20", {"device_id": "28-0316a2796fff"}, real,
                                 emulate={"temperature": {"mean": 1}})


def test_real_backend_reads_a_w1_tree_and_has_no_emulators(tmp_path):
    # The real backend only reads files: point it at a directory laid out like sysfs.
    device = tmp_path / "28-0316a2796fff"
    device.mkdir()
    (device / "w1_slave").write_text("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n")
    with registry.Backend.real(w1_root=tmp_path) as real:
        with registry.open_device("ds18b20", {"device_id": "28-0316a2796fff"}, real) as sensor:
            assert sensor.read() == {"temperature": 23.125}
            with pytest.raises(NotEmulatedError):
                real.emulator(sensor)


def test_emulate_keys_must_be_quantities_of_the_emulator(backend):
    with pytest.raises(ConfigError, match="emulate.pressure: not a quantity .*allowed: temperature, humidity"):
        registry.open_device("sht3x", {}, backend, emulate={"pressure": {"mean": 1000}})


def test_emulate_signal_fields_are_checked(backend):
    with pytest.raises(ConfigError, match="emulate.temperature.period_s: must be > 0"):
        registry.open_device("sht3x", {}, backend, emulate={"temperature": {"mean": 20, "period_s": 0}})


def test_devices_of_different_types_cannot_share_an_address(backend):
    registry.open_device("ina219", {"address": 0x44}, backend)
    with pytest.raises(ConfigError, match="0x44 on i2c-1 is taken by INA219Emulator"):
        registry.open_device("sht3x", {"address": 0x44}, backend)


def test_reopening_a_device_finds_the_same_chip(backend):
    first = registry.open_device("sht3x", {}, backend)
    backend.emulator(first).temperature = 30.0
    first.close()
    with registry.open_device("sht3x", {}, backend) as second:
        assert second.read()["temperature"] == pytest.approx(30.0, abs=0.003)


def test_emulator_lookup_for_a_foreign_device_is_refused(backend, clock, tmp_path):
    with registry.Backend.emulated(clock=clock, root=tmp_path / "other") as other:
        device = registry.open_device("sht3x", {}, other)
        with pytest.raises(NotEmulatedError):
            backend.emulator(device)


def test_closing_the_backend_closes_its_buses(backend):
    device = registry.open_device("sht3x", {}, backend)
    backend.close()
    with pytest.raises(HardwareError):
        device.read()


def test_devices_are_context_managers_with_idempotent_close(backend):
    with registry.open_device("bme280", {}, backend) as sensor:
        pass
    sensor.close()
    assert sensor.closed
    with pytest.raises(DeviceClosedError):
        sensor.read()


def test_same_seed_gives_the_same_noise(tmp_path):
    emulate = {"temperature": {"mean": 21.0, "noise": 0.5}}
    readings = []
    for run in range(2):
        with registry.Backend.emulated(clock=ManualClock(), seed=7, root=tmp_path / str(run)) as emulated:
            with registry.open_device("sht3x", {}, emulated, emulate=emulate) as sensor:
                readings.append(sensor.read())
    assert readings[0] == readings[1]
    assert readings[0]["temperature"] != pytest.approx(21.0, abs=0.003)  # noise is really there


def test_every_i2c_w1_and_gpio_driver_is_documented():
    text = (Path(__file__).parents[2] / "docs" / "hardware.md").read_text()
    for spec in registry.DRIVERS.values():
        if spec.bus in {"i2c", "w1", "gpio"}:
            assert f"| `{spec.name}` |" in text, f"{spec.name} missing from docs/hardware.md"


def test_missing_i2c_adapter_on_the_real_backend_is_a_bus_error_with_a_hint(tmp_path):
    with registry.Backend.real(w1_root=tmp_path) as real:
        with pytest.raises(BusError, match="/dev/i2c-250: I2C is not enabled"):
            registry.open_device("sht3x", {"bus": 250}, real)
