"""BME280: Bosch compensation vectors, decoder robustness, the driver against its emulator."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardlink.hardware import registry
from wardlink.hardware.errors import (
    DeviceAbsentError,
    HardwareError,
    InvalidReadingError,
    NackError,
    NotModelledError,
    OutOfRangeError,
    SensorTimeoutError,
)
from wardlink.hardware.i2c import bme280
from wardlink.hardware.i2c.bme280 import (
    BME280,
    Calibration,
    compensate_humidity,
    compensate_pressure,
    compensate_temperature,
    decode,
)

# BMP280 datasheet section 3.12 (identical T/P trimming and formulas in the BME280).
DATASHEET = Calibration(27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)


def test_datasheet_3_12_temperature_gives_t_fine_128422_and_25_08_degc():
    assert compensate_temperature(519888, DATASHEET) == (2508, 128422)


def test_datasheet_3_12_pressure_matches_bosch_64_bit_reference_code_exactly():
    # Bosch's 64-bit routine yields 25767233 (100653.25 Pa) for the example inputs.
    assert compensate_pressure(415148, 128422, DATASHEET) == 25767233


def test_datasheet_3_12_pressure_is_within_a_few_lsb_of_the_printed_figure():
    # The datasheet prints 25767236 (Q24.8); the printed example rounds intermediate steps.
    assert abs(compensate_pressure(415148, 128422, DATASHEET) - 25767236) <= 4


# A real chip's NVM dump, 0x88..0xA1 then 0xE1..0xE7, from the bme280-rs driver's unit tests.
REAL_CHIP_NVM = bytes.fromhex(
    "b1 6f 2e 6a 32 00 e2 8f 0a d7 d0 0b 75 1f c5 ff f9 ff ac 26 0a d8 bd 10 00 4b"
    "77 01 00 12 20 03 1e"
)


def test_real_chip_nvm_dump_parses_to_the_published_coefficients():
    cal = Calibration.from_registers(REAL_CHIP_NVM[:26], REAL_CHIP_NVM[26:])
    assert cal == Calibration(
        0x6FB1, 0x6A2E, 0x32, 0x8FE2, -10486, 0x0BD0, 0x1F75, -59, -7, 0x26AC, -10230, 0x10BD,
        H1=0x4B, H2=0x0177, H3=0, H4=0x0120, H5=0x0032, H6=0x1E,
    )


def test_real_chip_vectors_from_bme280_rs_for_all_three_compensations():
    cal = Calibration.from_registers(REAL_CHIP_NVM[:26], REAL_CHIP_NVM[26:])
    assert compensate_temperature(0x84510, cal)[1] == 0x22391
    assert compensate_pressure(0x4F570, 0x22391, cal) == 0x018B663F
    assert compensate_humidity(0x5EB4, 0x22391, cal) == 0x8399


def test_calibration_registers_round_trip_including_the_packed_h4_h5_nibbles():
    cal = Calibration(*range(1, 13), H1=75, H2=-362, H3=7, H4=-313, H5=1234, H6=-30)
    assert Calibration.from_registers(*cal.to_registers()) == cal


def test_h4_and_h5_share_register_0xe5():
    # 0xE4=0x14, 0xE5=0xA9, 0xE6=0x03 -> H4 = 0x14<<4 | 0x9 = 329, H5 = 0x03<<4 | 0xA = 58
    tp = bytes(26)
    h = bytes([0x6A, 0x01, 0x00, 0x14, 0xA9, 0x03, 0x1E])
    cal = Calibration.from_registers(tp, h)
    assert (cal.H2, cal.H4, cal.H5, cal.H6) == (362, 329, 58, 30)


def test_reset_values_in_data_registers_mean_no_measurement():
    with pytest.raises(InvalidReadingError):
        decode(bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0]), bme280.EXAMPLE_CALIBRATION)


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=26, max_size=26), st.binary(min_size=7, max_size=7))
def test_decoder_on_any_bytes_returns_values_in_range_or_raises_hardware_error(frame, tp, h):
    try:
        values = decode(frame, Calibration.from_registers(tp, h))
    except HardwareError:
        return
    assert set(values) == {"temperature", "humidity", "pressure"}
    assert 0.0 <= values["humidity"] <= 100.0


def open_sensor(backend, params=None, **emulate):
    return registry.open_device("bme280", params or {}, backend, emulate=emulate or None)


def test_driver_reads_the_emulated_environment(backend):
    with open_sensor(backend) as sensor:
        chip = backend.emulator(sensor)
        chip.temperature, chip.humidity, chip.pressure = 24.37, 52.0, 99500.0
        values = sensor.read()
    assert values["temperature"] == pytest.approx(24.37, abs=0.011)
    assert values["humidity"] == pytest.approx(52.0, abs=0.01)
    # 1x oversampling leaves 16 of 20 bits: a few pascals of quantisation.
    assert values["pressure"] == pytest.approx(99500.0, abs=5.0)


def test_sixteen_times_oversampling_resolves_pressure_to_a_fraction_of_a_pascal(backend):
    with open_sensor(backend, {"oversampling": 16, "address": 0x77}) as sensor:
        backend.emulator(sensor).pressure = 99500.0
        assert sensor.read()["pressure"] == pytest.approx(99500.0, abs=0.5)


def test_forced_measurement_waits_the_datasheet_maximum_on_the_bus_clock(backend, clock):
    with open_sensor(backend) as sensor:
        sensor.read()
    assert backend.bus_clock.monotonic() == pytest.approx(bme280.measurement_time_s(1, 1, 1))
    assert clock.monotonic() == 0.0  # the program's own clock does not move


def test_signals_drive_temperature_and_humidity(backend, clock):
    emulate = {
        "temperature": {"mean": 22.0, "amplitude": 2.0, "period_s": 3600},
        "humidity": {"mean": 40.0, "amplitude": 5.0, "period_s": 3600},
    }
    with open_sensor(backend, **emulate) as sensor:
        start = sensor.read()
        clock.advance(900)
        quarter = sensor.read()
    assert start["temperature"] == pytest.approx(22.0, abs=0.02)
    assert quarter["temperature"] == pytest.approx(24.0, abs=0.02)
    assert quarter["humidity"] == pytest.approx(45.0, abs=0.02)


def test_reading_before_the_conversion_ends_sees_the_measuring_bit(backend):
    bus = backend.i2c(1)
    with open_sensor(backend):
        bus.write_byte_data(0x76, bme280.CTRL_HUM, 1)
        bus.write_byte_data(0x76, bme280.CTRL_MEAS, 0b00100101)
        assert bus.read_byte_data(0x76, bme280.STATUS) & bme280.STATUS_MEASURING
        # The data registers still hold the power-on value until the measurement completes.
        assert bus.read_i2c_block_data(0x76, bme280.DATA, 8) == [0x80, 0, 0, 0x80, 0, 0, 0x80, 0]


def test_driver_that_never_waits_times_out_on_the_measuring_bit(backend):
    backend.i2c(1).attach(0x76, bme280.BME280Emulator(backend.bus_clock))
    sensor = BME280(backend.i2c(1), 0x76, sleep=lambda seconds: None)
    with pytest.raises(SensorTimeoutError):
        sensor.read()


def test_ctrl_hum_takes_effect_only_after_ctrl_meas_is_written(backend):
    chip = bme280.BME280Emulator(backend.bus_clock)
    backend.i2c(1).attach(0x76, chip)
    backend.i2c(1).write_byte_data(0x76, bme280.CTRL_HUM, 0b101)
    assert backend.i2c(1).read_byte_data(0x76, bme280.CTRL_HUM) == 0
    backend.i2c(1).write_byte_data(0x76, bme280.CTRL_MEAS, 0)
    assert backend.i2c(1).read_byte_data(0x76, bme280.CTRL_HUM) == 0b101


def test_soft_reset_returns_data_registers_to_power_on_values(backend):
    with open_sensor(backend) as sensor:
        sensor.read()
        backend.i2c(1).write_byte_data(0x76, bme280.RESET, bme280.RESET_WORD)
        assert backend.i2c(1).read_i2c_block_data(0x76, bme280.DATA, 8) == [0x80, 0, 0, 0x80, 0, 0, 0x80, 0]
        assert sensor.read()["temperature"] == pytest.approx(21.0, abs=0.01)


def test_a_bmp280_at_the_address_is_refused_by_chip_id(backend):
    chip = bme280.BME280Emulator(backend.bus_clock)
    chip.regs[bme280.CHIP_ID] = 0x58
    chip.reset = lambda: None  # keep the substituted id
    backend.i2c(1).attach(0x76, chip)
    with pytest.raises(DeviceAbsentError, match="BMP280"):
        BME280(backend.i2c(1), 0x76, sleep=backend.sleep).read()


def test_nack_is_a_typed_error_and_the_next_read_succeeds(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).inject("nack")
        with pytest.raises(NackError) as caught:
            sensor.read()
        assert isinstance(caught.value, OSError) and caught.value.errno == 121
        assert sensor.read()["temperature"] == pytest.approx(21.0, abs=0.01)


def test_absent_chip_is_device_absent(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).inject("absent", count=None)
        with pytest.raises(DeviceAbsentError):
            sensor.read()


def test_stuck_sensor_repeats_its_frozen_values(backend, clock):
    with open_sensor(backend, temperature={"mean": 22.0, "amplitude": 2.0, "period_s": 3600}) as sensor:
        backend.emulator(sensor).stuck = True
        frozen = sensor.read()
        clock.advance(900)
        assert sensor.read() == frozen


def test_temperature_outside_the_operating_range_is_out_of_range(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).temperature = 95.0
        with pytest.raises(OutOfRangeError):
            sensor.read()


def test_normal_mode_is_not_modelled_rather_than_silently_ignored(backend):
    backend.i2c(1).attach(0x76, bme280.BME280Emulator(backend.bus_clock))
    with pytest.raises(NotImplementedError):
        backend.i2c(1).write_byte_data(0x76, bme280.CTRL_MEAS, 0b00100111)


def test_crc_fault_is_refused_because_the_bme280_sends_no_crc(backend):
    with open_sensor(backend) as sensor:
        with pytest.raises(NotModelledError):
            backend.emulator(sensor).inject("crc")
