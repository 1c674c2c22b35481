"""SHT3x: datasheet CRC and conversion, decoder robustness, the driver on its emulator."""

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from wardlink.hardware import registry
from wardlink.hardware.errors import (
    ConfigError,
    CRCError,
    DeviceAbsentError,
    HardwareError,
    NackError,
    NotModelledError,
    SensorTimeoutError,
)
from wardlink.hardware.i2c import sht3x
from wardlink.hardware.i2c.sht3x import SHT3x, crc8, decode, decode_status


def test_crc_of_0xbeef_is_0x92_as_in_datasheet_section_4_12():
    assert crc8(b"\xbe\xef") == 0x92


def test_datasheet_4_13_conversion_formulas_at_the_end_points():
    # S_T = 0 -> -45 degC, S_T = 0xFFFF -> 130 degC; S_RH = 0xFFFF -> 100 %RH.
    low = bytes([0x00, 0x00, crc8(b"\x00\x00"), 0x00, 0x00, crc8(b"\x00\x00")])
    high = bytes([0xFF, 0xFF, crc8(b"\xff\xff"), 0xFF, 0xFF, crc8(b"\xff\xff")])
    assert decode(low) == {"temperature": -45.0, "humidity": 0.0}
    assert decode(high) == {"temperature": 130.0, "humidity": 100.0}


def test_frame_with_the_datasheet_crc_example_decodes():
    # 0xBEEF with its CRC 0x92 for both words: T = -45 + 175 * 48879 / 65535.
    values = decode(bytes([0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x92]))
    assert values["temperature"] == pytest.approx(85.5230, abs=1e-4)
    assert values["humidity"] == pytest.approx(74.5846, abs=1e-4)


def test_corrupted_humidity_crc_is_a_crc_error():
    with pytest.raises(CRCError, match="humidity"):
        decode(bytes([0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x93]))


def test_status_frame_is_crc_checked():
    assert decode_status(bytes([0x80, 0x10, crc8(b"\x80\x10")])) == 0x8010
    with pytest.raises(CRCError):
        decode_status(bytes([0x80, 0x10, 0x00]))


@given(st.binary(max_size=8))
def test_decoder_on_any_bytes_returns_values_or_raises_hardware_error(frame):
    try:
        values = decode(frame)
    except HardwareError:
        return
    assert -45.0 <= values["temperature"] <= 130.0 and 0.0 <= values["humidity"] <= 100.0


def open_sensor(backend, params=None, **emulate):
    return registry.open_device("sht3x", {"bus": 1, "address": 0x44, **(params or {})}, backend,
                                emulate=emulate or None)


def test_driver_reads_the_emulated_climate(backend):
    with open_sensor(backend) as sensor:
        chip = backend.emulator(sensor)
        chip.temperature, chip.humidity = 4.5, 62.0
        values = sensor.read()
    # 16-bit resolution: 175 / 65535 degC and 100 / 65535 %RH per step.
    assert values["temperature"] == pytest.approx(4.5, abs=0.003)
    assert values["humidity"] == pytest.approx(62.0, abs=0.002)


def test_high_repeatability_measurement_waits_15_5_ms_on_the_bus_clock(backend, clock):
    with open_sensor(backend) as sensor:
        sensor.read()
    assert backend.bus_clock.monotonic() == pytest.approx(0.0155)
    assert clock.monotonic() == 0.0


def test_reading_before_the_conversion_ends_is_nacked_like_the_chip(backend, clock):
    bus = backend.i2c(1)
    with open_sensor(backend):
        bus.i2c_rdwr(i2c_msg.write(0x44, [0x24, 0x00]))
        early = i2c_msg.read(0x44, 6)
        with pytest.raises(OSError) as caught:
            bus.i2c_rdwr(early)
        assert caught.value.errno == errno.EREMOTEIO
        clock.advance(0.0155)
        late = i2c_msg.read(0x44, 6)
        bus.i2c_rdwr(late)
        assert decode(bytes(late))["temperature"] == pytest.approx(21.0, abs=0.003)


def test_driver_that_never_waits_gives_a_timeout_not_a_nack(backend):
    backend.i2c(1).attach(0x44, sht3x.SHT3xEmulator(backend.bus_clock))
    sensor = SHT3x(backend.i2c(1), 0x44, sleep=lambda seconds: None)
    with pytest.raises(SensorTimeoutError):
        sensor.read()


def test_data_is_cleared_after_it_is_read(backend, clock):
    bus = backend.i2c(1)
    with open_sensor(backend) as sensor:
        sensor.read()
        with pytest.raises(OSError):
            bus.i2c_rdwr(i2c_msg.read(0x44, 6))


def test_crc_fault_in_the_frame_is_reported(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).inject("crc")
        with pytest.raises(CRCError, match="sht3x@0x44"):
            sensor.read()
        assert sensor.read()["temperature"] == pytest.approx(21.0, abs=0.003)


def test_nack_and_absent_are_typed(backend):
    with open_sensor(backend) as sensor:
        chip = backend.emulator(sensor)
        chip.inject("nack")
        with pytest.raises(NackError):
            sensor.read()
        chip.inject("absent", count=None)
        with pytest.raises(DeviceAbsentError):
            sensor.read()


def test_stuck_sensor_repeats_its_values(backend, clock):
    with open_sensor(backend, temperature={"mean": 21.0, "amplitude": 2.0, "period_s": 600}) as sensor:
        backend.emulator(sensor).stuck = True
        frozen = sensor.read()
        clock.advance(150)
        assert sensor.read() == frozen


def test_heater_and_reset_show_in_the_status_register(backend):
    with open_sensor(backend, {"heater": True}) as sensor:
        sensor.read()
        status = sensor.status()
        assert status & sht3x.STATUS_HEATER
        assert status & sht3x.STATUS_RESET  # still set from power-on until cleared
        sensor.soft_reset()
        assert not sensor.status() & sht3x.STATUS_HEATER
        sensor.read()  # the driver switches the heater back on after the reset
        assert sensor.status() & sht3x.STATUS_HEATER


def test_periodic_mode_is_not_modelled(backend):
    with open_sensor(backend):
        with pytest.raises(NotModelledError):
            backend.i2c(1).i2c_rdwr(i2c_msg.write(0x44, [0x21, 0x30]))


def test_address_outside_the_two_choices_names_the_allowed_values():
    with pytest.raises(ConfigError, match="address: must be one of 0x44, 0x45, got 0x40"):
        registry.validate_params("sht3x", {"bus": 1, "address": 0x40})
