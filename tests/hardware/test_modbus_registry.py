"""The modbus_rtu driver through the registry: emulated units on a shared pty line."""

import pytest

from wardlink.hardware import registry
from wardlink.hardware.errors import ConfigError, SensorTimeoutError
from wardlink.hardware.serial.modbus import ModbusExceptionError

pytestmark = pytest.mark.timeout(60)

CHILLER = {
    "port": "/dev/ttyUSB0",
    "baudrate": 19200,
    "unit": 3,
    "timeout_s": 0.2,
    "retries": 0,
    "points": [
        {"quantity": "supply_temperature", "address": 0x10, "kind": "input", "type": "float32", "unit": "degC"},
        {"quantity": "return_temperature", "address": 0x12, "kind": "input", "type": "float32", "unit": "degC"},
        {"quantity": "flow", "address": 0x20, "type": "int16", "scale": 0.1, "unit": "L/min"},
        {"quantity": "run_hours", "address": 0x30, "type": "uint32", "word_order": "little", "unit": "h"},
    ],
}


def test_points_are_read_decoded_and_scaled(backend):
    """Values set on the emulated unit come back through real RTU frames, scaled."""
    with registry.open_device("modbus_rtu", CHILLER, backend) as chiller:
        unit = backend.emulator(chiller)
        unit.set("supply_temperature", 6.5)
        unit.set("return_temperature", 11.25)
        unit.set("flow", -12.3)
        unit.set("run_hours", 70000)
        assert chiller.read() == {
            "supply_temperature": 6.5, "return_temperature": 11.25, "flow": pytest.approx(-12.3), "run_hours": 70000,
        }
        assert chiller.quantities == {
            "supply_temperature": "degC", "return_temperature": "degC", "flow": "L/min", "run_hours": "h",
        }
        # Three blocks: input 0x10..0x13, holding 0x20, holding 0x30..0x31.
        assert [frame[1] for frame in unit.line.requests] == [0x03, 0x03, 0x04]


def test_signals_drive_the_emulated_registers(backend, clock):
    emulate = {"supply_temperature": {"kind": "constant", "value": 7.25}}
    with registry.open_device("modbus_rtu", CHILLER, backend, emulate=emulate) as chiller:
        assert chiller.read()["supply_temperature"] == 7.25


def test_two_units_share_one_port(backend):
    """RS-485 is multi-drop: two devices on one port talk through one line, one at a time."""
    meter = {"port": "/dev/ttyUSB0", "baudrate": 19200, "unit": 7,
             "points": [{"quantity": "energy", "address": 0, "type": "uint32", "unit": "kWh"}]}
    with registry.open_device("modbus_rtu", CHILLER, backend) as chiller, \
            registry.open_device("modbus_rtu", meter, backend) as power:
        backend.emulator(power).set("energy", 123456)
        backend.emulator(chiller).set("flow", 3.0)
        assert power.read() == {"energy": 123456}
        assert chiller.read()["flow"] == pytest.approx(3.0)
        assert chiller.line is power.line
        assert {frame[0] for frame in backend.emulator(power).line.requests} == {3, 7}


def test_faults_surface_as_typed_errors(backend):
    with registry.open_device("modbus_rtu", CHILLER, backend) as chiller:
        unit = backend.emulator(chiller)
        unit.inject("no_reply")
        with pytest.raises(SensorTimeoutError):
            chiller.read()
        unit.inject("exception", code=0x02)
        with pytest.raises(ModbusExceptionError, match="ILLEGAL DATA ADDRESS"):
            chiller.read()
        assert set(chiller.read()) == {"supply_temperature", "return_temperature", "flow", "run_hours"}


def test_non_finite_floats_are_left_out_and_counted(backend):
    with registry.open_device("modbus_rtu", CHILLER, backend) as chiller:
        backend.emulator(chiller).set("supply_temperature", float("nan"))
        values = chiller.read()
        assert "supply_temperature" not in values and "return_temperature" in values
        assert chiller.non_finite == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": 0}, "unit: must be >= 1, got 0"),
        ({"parity": "X"}, "parity: must be one of 'N', 'E', 'O', got 'X'"),
        ({"points": [{"quantity": "x", "address": 1, "type": "double"}]}, r"points\[0\].type: must be one of"),
        ({"baudrate": 12345}, "baudrate: must be one of 1200"),
    ],
)
def test_bad_configuration_names_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        registry.validate_params("modbus_rtu", {**CHILLER, **change})


def test_modbus_defaults_to_8e1_as_the_serial_line_spec_requires():
    params = registry.validate_params("modbus_rtu", {"port": "/dev/ttyUSB0", "unit": 1, "points": [{"quantity": "x", "address": 0}]})
    assert (params["bytesize"], params["parity"], params["stopbits"]) == (8, "E", 1)


def test_closing_the_backend_stops_the_emulated_line(clock, tmp_path):
    backend = registry.Backend.emulated(clock=clock, root=tmp_path)
    device = registry.open_device("modbus_rtu", CHILLER, backend)
    line = backend.emulator(device).line
    device.close()
    device.close()
    assert line.running
    backend.close()
    assert not line.running and line.pty.closed


@pytest.mark.parametrize(
    ("driver", "params"),
    [
        ("modbus_rtu", CHILLER),
        ("sterilizer_printer", {"port": "/dev/ttyS0", "framing": {"terminator": "crlf"}}),
        ("serial_lines", {"port": "/dev/ttyS0", "profile": "keyvalue",
                          "profile_options": {"fields": {"T": {"quantity": "temperature", "unit": "degC"}}}}),
    ],
)
def test_validated_parameters_validate_again_unchanged(driver, params):
    """The gateway validates its configuration, then passes the result to open_device."""
    once = registry.validate_params(driver, params)
    assert registry.validate_params(driver, once) == once


def test_quantities_follow_the_configuration():
    params = registry.validate_params("modbus_rtu", CHILLER)
    assert registry.quantities("modbus_rtu", params) == {
        "supply_temperature": "degC", "return_temperature": "degC", "flow": "L/min", "run_hours": "h"}
    lines = registry.validate_params("serial_lines", {
        "port": "/dev/ttyS0", "profile": "csv",
        "profile_options": {"columns": ["t"], "fields": {"t": {"quantity": "temperature", "unit": "degC"}}}})
    assert registry.quantities("serial_lines", lines) == {"temperature": "degC"}
    assert registry.quantities("sterilizer_printer", registry.validate_params("sterilizer_printer", {"port": "/dev/ttyS0"})) == {
        "chamber_temperature": "degC", "chamber_pressure": "kPa"}
