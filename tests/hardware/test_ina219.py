"""INA219: calibration arithmetic from the datasheet, decoding, the driver on its emulator."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardlink.hardware import registry
from wardlink.hardware.errors import (
    ConfigError,
    DeviceAbsentError,
    HardwareError,
    NackError,
    OutOfRangeError,
    SensorTimeoutError,
)
from wardlink.hardware.i2c import ina219
from wardlink.hardware.i2c.ina219 import INA219, calibration, config_word, decode, default_current_lsb


@pytest.mark.parametrize(
    ("current_lsb", "expected"),
    [  # INA219 datasheet 8.5 programming examples with a 0.1 ohm shunt
        ("0.0001", 4096),  # 32 V, 2 A
        ("0.00004", 10240),  # 32 V, 1 A
        ("0.00005", 8192),  # 16 V, 400 mA
    ],
)
def test_calibration_register_matches_the_datasheet_examples(current_lsb, expected):
    assert calibration(float(current_lsb), 0.1) == expected


def test_calibration_truncates_toward_zero_as_the_datasheet_formula_says():
    # 0.04096 / (30 uA x 0.1 ohm) = 13653.33...; the register takes the integer part.
    assert calibration(0.00003, 0.1) == 13653


def test_calibration_is_exact_for_decimal_inputs_given_as_fractions():
    assert calibration(Fraction("0.00004"), Fraction("0.1")) == 10240


def test_default_current_lsb_for_2_a_is_100_ua():
    assert default_current_lsb(2.0) == Fraction(1, 10000)


def test_power_on_config_is_0x399f_and_equals_32_v_320_mv_12_bit_continuous():
    # INA219 datasheet, configuration register reset value.
    assert config_word(32, 3) == 0x399F == ina219.CONFIG_RESET


def test_decode_scales_each_register_by_its_lsb():
    # shunt 0x0FA0 = 4000 x 10 uV = 40 mV; bus 0x5DC0 >> 3 = 3000 x 4 mV = 12 V (CNVR clear);
    # power 0x12C0 = 4800 x 2 mW = 9.6 W; current 0x0FA0 = 4000 x 100 uA = 0.4 A... at Cal 4096
    values = decode(bytes.fromhex("0fa0 5dc0 12c0 0fa0"), current_lsb_a=0.0001)
    assert values == {"current": 0.4, "bus_voltage": 12.0, "power": 9.6, "shunt_voltage": 0.04}


def test_negative_shunt_voltage_is_twos_complement():
    values = decode(bytes.fromhex("ff38 5dc2 0000 ff38"), current_lsb_a=0.0001)
    assert values["shunt_voltage"] == pytest.approx(-0.002)
    assert values["current"] == pytest.approx(-0.02)


def test_math_overflow_flag_is_out_of_range():
    with pytest.raises(OutOfRangeError, match="overflow"):
        decode(bytes.fromhex("0fa0 5dc3 12c0 0fa0"), current_lsb_a=0.0001)


@given(st.binary(min_size=0, max_size=10), st.sampled_from([0, 1, 2, 3]))
def test_decoder_on_any_bytes_returns_values_or_raises_hardware_error(frame, pga):
    try:
        values = decode(frame, current_lsb_a=0.0001, pga=pga)
    except HardwareError:
        return
    assert 0.0 <= values["bus_voltage"] <= 32.76


def open_monitor(backend, params=None, **emulate):
    return registry.open_device("ina219", {"address": 0x40, **(params or {})}, backend, emulate=emulate or None)


def test_driver_programs_calibration_and_reads_current_voltage_power(backend):
    with open_monitor(backend) as monitor:
        chip = backend.emulator(monitor)
        chip.current, chip.bus_voltage = 1.25, 11.8
        values = monitor.read()
        assert chip.registers[ina219.CALIBRATION] == 4096
    assert values == pytest.approx({"current": 1.25, "bus_voltage": 11.8, "power": 14.75, "shunt_voltage": 0.125})


def test_16_v_400_ma_configuration_from_the_datasheet(backend):
    params = {"max_current_a": 0.4, "current_lsb_a": 0.00005, "bus_voltage_range": 16}
    with open_monitor(backend, params) as monitor:
        backend.emulator(monitor).current = 0.3
        values = monitor.read()
        assert backend.emulator(monitor).registers[ina219.CALIBRATION] == 8192
        assert monitor.pga == 1  # 40 mV needs the 80 mV range
    assert values["current"] == pytest.approx(0.3)


def test_driver_reprograms_the_chip_after_a_brown_out_reset(backend):
    with open_monitor(backend) as monitor:
        chip = backend.emulator(monitor)
        chip.current = 0.8
        monitor.read()
        chip.reset()  # calibration back to 0: current would read 0 without reprogramming
        assert monitor.read()["current"] == pytest.approx(0.8)


def test_conversion_ready_flag_is_waited_for_on_the_clock(backend, clock):
    with open_monitor(backend) as monitor:
        monitor.read()
        after_first = backend.bus_clock.monotonic()
        monitor.read()  # power was read, CNVR is clear: the driver waits one conversion
    assert after_first >= monitor.conversion_s
    assert backend.bus_clock.monotonic() - after_first == pytest.approx(monitor.conversion_s)


def test_driver_that_never_waits_times_out_on_conversion_ready(backend):
    backend.i2c(1).attach(0x40, ina219.INA219Emulator(backend.bus_clock))
    monitor = INA219(backend.i2c(1), 0x40, shunt_ohms=0.1, max_current_a=2.0, sleep=lambda s: None)
    with pytest.raises(SensorTimeoutError):
        monitor.read()


def test_early_read_of_data_registers_returns_zero_until_the_first_conversion(backend, clock):
    backend.i2c(1).attach(0x40, ina219.INA219Emulator(backend.bus_clock))
    bus = backend.i2c(1)
    bus.write_i2c_block_data(0x40, ina219.CONFIG, [0x39, 0x9F])
    assert bus.read_i2c_block_data(0x40, ina219.SHUNT, 2) == [0, 0]
    clock.advance(0.002)
    assert bus.read_i2c_block_data(0x40, ina219.SHUNT, 2) == list((5000).to_bytes(2, "big"))


def test_current_beyond_the_shunt_range_is_out_of_range(backend):
    with open_monitor(backend) as monitor:
        backend.emulator(monitor).current = 3.5  # 350 mV across 0.1 ohm saturates the 320 mV range
        with pytest.raises(OutOfRangeError, match="full scale"):
            monitor.read()


def test_calibration_that_overflows_the_current_register_sets_ovf(backend):
    # A deliberately tiny LSB: 3 A would need a current register value above 32767.
    params = {"max_current_a": 0.5, "current_lsb_a": 0.00002, "shunt_ohms": 0.1}
    with open_monitor(backend, params) as monitor:
        backend.emulator(monitor).current = 3.0
        with pytest.raises(OutOfRangeError, match="overflow"):
            monitor.read()


def test_nack_and_absent_are_typed_bus_errors(backend):
    with open_monitor(backend) as monitor:
        chip = backend.emulator(monitor)
        chip.inject("nack")
        with pytest.raises(NackError):
            monitor.read()
        chip.inject("absent", count=None)
        with pytest.raises(DeviceAbsentError) as caught:
            monitor.read()
        assert caught.value.errno == 6  # ENXIO
        chip.clear()
        assert monitor.read()["bus_voltage"] == pytest.approx(12.0)


def test_stuck_sensor_repeats_its_reading(backend, clock):
    with open_monitor(backend, current={"mean": 1.0, "amplitude": 0.5, "period_s": 60}) as monitor:
        backend.emulator(monitor).stuck = True
        frozen = monitor.read()
        clock.advance(15)
        assert monitor.read() == frozen


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_current_a": 5.0}, "max_current_a: .*0.32 V"),
        ({"current_lsb_a": 0.00001}, "current_lsb_a: must be >="),
        ({"shunt_ohms": 0.001, "max_current_a": 1.0, "current_lsb_a": 0.0001}, "calibration above 65534"),
        ({"address": 0x50}, r"address: must be one of 0x40, .*0x4F, got 0x50"),
    ],
)
def test_impossible_configurations_are_refused_naming_the_key(params, message):
    with pytest.raises(ConfigError, match=message):
        registry.validate_params("ina219", params)
