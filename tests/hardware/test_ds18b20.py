"""DS18B20 through w1-therm: published vectors, the decoder on any bytes, the driver on its emulator."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardlink.hardware import registry
from wardlink.hardware.errors import (
    ConfigError,
    CRCError,
    DecodeError,
    DeviceAbsentError,
    HardwareError,
    InvalidReadingError,
    OutOfRangeError,
    ResetValueError,
)
from wardlink.hardware.onewire.ds18b20 import dallas_crc8, decode_scratchpad, decode_w1_slave

DEVICE = "28-0316a2796fff"

# Linux kernel Documentation/w1/slaves/w1_therm and the project's hardware references.
KERNEL_EXAMPLE = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


def scratchpad(raw: int, config: int = 0x7F) -> bytes:
    """Build a scratchpad around a raw temperature word, with its CRC."""
    data = raw.to_bytes(2, "little", signed=True) + bytes([0x4B, 0x46, config, 0xFF, 0x0C, 0x10])
    return data + bytes([dallas_crc8(data)])


def test_dallas_crc_matches_maxim_application_note_27_rom_example():
    # Maxim AN27 worked example: family 0x02, serial 0x000000001B81C -> CRC 0xA2.
    assert dallas_crc8(bytes.fromhex("021cb801000000")) == 0xA2


def test_dallas_crc_matches_datasheet_power_on_scratchpad():
    # DS18B20 datasheet, memory map: power-on scratchpad 50 05 4B 46 7F FF 0C 10, CRC 1C.
    assert dallas_crc8(bytes.fromhex("50054b467fff0c10")) == 0x1C


def test_kernel_w1_therm_example_decodes_to_23_125_degc():
    assert decode_w1_slave(KERNEL_EXAMPLE) == 23.125


@pytest.mark.parametrize(
    ("word", "celsius"),
    [  # DS18B20 datasheet Table 1, temperature/data relationship
        (0x07D0, 125.0),
        (0x0550, None),  # +85: the power-on value, reported as such
        (0x0191, 25.0625),
        (0x00A2, 10.125),
        (0x0008, 0.5),
        (0x0000, 0.0),
        (0xFFF8, -0.5),
        (0xFF5E, -10.125),
        (0xFE6F, -25.0625),
        (0xFC90, -55.0),
    ],
)
def test_datasheet_table_1_words_decode_to_their_temperatures(word, celsius):
    raw = word - 0x10000 if word & 0x8000 else word
    if celsius is None:
        with pytest.raises(ResetValueError):
            decode_scratchpad(scratchpad(raw))
    else:
        assert decode_scratchpad(scratchpad(raw)) == celsius


def test_kernel_crc_no_is_a_crc_error():
    text = KERNEL_EXAMPLE.replace("crc=57 YES", "crc=57 NO")
    with pytest.raises(CRCError):
        decode_w1_slave(text)


def test_scratchpad_crc_is_rechecked_even_when_the_kernel_says_yes():
    text = KERNEL_EXAMPLE.replace("72 01", "73 01", 1)
    with pytest.raises(CRCError):
        decode_w1_slave(text)


def test_all_zero_scratchpad_passes_crc_but_is_not_a_reading():
    # A shorted data line reads zeros; CRC-8 of zeros is zero, so only a sanity check catches it.
    with pytest.raises(InvalidReadingError):
        decode_w1_slave("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n")


def test_nine_bit_resolution_ignores_undefined_low_bits():
    # Config 0x1F = 9 bits: bits 2..0 are undefined and must not change the value.
    assert decode_scratchpad(scratchpad(0x0197, config=0x1F)) == 25.0


def test_word_beyond_125_degc_is_out_of_range():
    with pytest.raises(OutOfRangeError):
        decode_scratchpad(scratchpad(0x07F0))


def test_truncated_file_is_a_decode_error():
    with pytest.raises(DecodeError):
        decode_w1_slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n")


@given(st.binary(min_size=0, max_size=12))
def test_decoder_on_any_bytes_returns_a_temperature_or_raises_hardware_error(data):
    try:
        value = decode_scratchpad(data)
    except HardwareError:
        return
    assert -55.0 <= value <= 125.0


@given(st.text(max_size=120))
def test_w1_slave_parser_on_any_text_returns_a_temperature_or_raises_hardware_error(text):
    try:
        decode_w1_slave(text)
    except HardwareError:
        pass


def open_sensor(backend, **emulate):
    return registry.open_device("ds18b20", {"device_id": DEVICE}, backend, emulate=emulate or None)


def test_emulator_writes_the_kernel_example_file_for_23_125_degc(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).temperature = 23.125
        assert sensor.read() == {"temperature": 23.125}
        assert (backend.w1_root / DEVICE / "w1_slave").read_text() == KERNEL_EXAMPLE


def test_read_takes_the_12_bit_conversion_time_on_the_bus_clock(backend, clock):
    with open_sensor(backend) as sensor:
        sensor.read()
    assert backend.bus_clock.monotonic() == pytest.approx(0.75)
    assert clock.monotonic() == 0.0


def test_emulated_signal_follows_the_clock(backend, clock):
    with open_sensor(backend, temperature={"mean": 4.0, "amplitude": 2.0, "period_s": 3600}) as sensor:
        first = sensor.read()["temperature"]
        clock.advance(900 - 0.75)  # a quarter period, counting the first read's 0.75 s on the bus
        peak = sensor.read()["temperature"]
    assert first == pytest.approx(4.0, abs=0.0625)
    assert peak == pytest.approx(6.0, abs=0.0625)


def test_single_crc_failure_is_retried_transparently(backend):
    with open_sensor(backend) as sensor:
        emulator = backend.emulator(sensor)
        emulator.temperature = 5.5
        emulator.inject("crc", count=2)
        assert sensor.read() == {"temperature": 5.5}
        assert not emulator.is_faulted("crc")


def test_persistent_crc_failure_raises_after_the_retries(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).inject("crc", count=None)
        with pytest.raises(CRCError, match="3 reads failed"):
            sensor.read()


def test_kernel_line_two_keeps_last_good_bytes_after_a_crc_failure(backend):
    with open_sensor(backend) as sensor:
        emulator = backend.emulator(sensor)
        emulator.temperature = 23.125
        sensor.read()
        emulator.inject("crc", count=None)
        with pytest.raises(CRCError):
            sensor.read()
    line1, line2 = (backend.w1_root / DEVICE / "w1_slave").read_text().splitlines()
    assert line1.endswith(" NO")
    assert line2.startswith("72 01 4b 46 7f ff 0e 10 57 ")


def test_power_on_value_is_reported_as_reset_not_85_degc(backend):
    with open_sensor(backend) as sensor:
        backend.emulator(sensor).inject("reset")
        with pytest.raises(ResetValueError, match=DEVICE):
            sensor.read()
        assert sensor.read()["temperature"] == 21.0


def test_sensor_dropped_from_the_bus_is_absent_then_recovers(backend):
    with open_sensor(backend) as sensor:
        emulator = backend.emulator(sensor)
        emulator.inject("absent", count=None)
        with pytest.raises(DeviceAbsentError):
            sensor.read()
        assert not (backend.w1_root / DEVICE).exists()
        emulator.clear("absent")
        assert sensor.read() == {"temperature": 21.0}


def test_stuck_sensor_keeps_reporting_the_frozen_value(backend, clock):
    with open_sensor(backend, temperature={"mean": 4.0, "amplitude": 2.0, "period_s": 3600}) as sensor:
        backend.emulator(sensor).stuck = True
        frozen = sensor.read()
        clock.advance(900)
        assert sensor.read() == frozen


def test_w1_bus_lists_the_emulated_slave(backend):
    with open_sensor(backend):
        assert backend.w1().devices() == [DEVICE]


def test_device_id_must_be_a_w1_therm_id():
    with pytest.raises(ConfigError, match="device_id: must match"):
        registry.validate_params("ds18b20", {"device_id": "10-000802b4ba0c"})


def test_read_after_close_is_refused(backend):
    sensor = open_sensor(backend)
    sensor.close()
    sensor.close()
    with pytest.raises(HardwareError, match="closed"):
        sensor.read()
