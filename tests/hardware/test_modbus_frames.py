"""Modbus RTU request building and response parsing on published frames."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.errors import ConfigError, CRCError, DecodeError, DeviceExceptionError, HardwareError
from wardlink.hardware.serial.modbus import (
    EXCEPTION_NAMES,
    ModbusExceptionError,
    build_read_request,
    parse_read_response,
    silent_interval,
)


def test_read_holding_request_matches_the_published_frame():
    # Simply Modbus FC03: unit 0x11 reads 3 holding registers from 0x006B (40108..40110).
    assert build_read_request(0x11, 0x03, 0x006B, 3) == bytes.fromhex("11 03 00 6B 00 03 76 87")


def test_read_input_request_matches_the_published_frame():
    # Simply Modbus FC04: unit 0x11 reads input register 0x0008 (30009).
    assert build_read_request(0x11, 0x04, 0x0008, 1) == bytes.fromhex("11 04 00 08 00 01 B2 98")


def test_published_responses_decode_to_their_register_values():
    holding = parse_read_response(bytes.fromhex("11 03 06 AE 41 56 52 43 40 49 AD"), 0x11, 0x03, 3)
    assert holding == [0xAE41, 0x5652, 0x4340]
    assert parse_read_response(bytes.fromhex("11 04 02 00 0A F8 F4"), 0x11, 0x04, 1) == [10]


def test_exception_response_names_the_code():
    # Simply Modbus exception example: unit 0x0A, function 0x01 | 0x80, code 02.
    with pytest.raises(ModbusExceptionError) as caught:
        parse_read_response(bytes.fromhex("0A 81 02 B0 53"), 0x0A, 0x01, 1)
    assert caught.value.code == 2
    assert "ILLEGAL DATA ADDRESS" in str(caught.value)
    assert isinstance(caught.value, DeviceExceptionError) and isinstance(caught.value, OSError)


def test_every_standard_exception_code_has_a_name():
    assert set(EXCEPTION_NAMES) == {1, 2, 3, 4, 5, 6, 8, 10, 11}


def test_corrupt_crc_is_a_crc_error():
    frame = bytearray.fromhex("11 04 02 00 0A F8 F4")
    frame[4] ^= 0x01
    with pytest.raises(CRCError):
        parse_read_response(bytes(frame), 0x11, 0x04, 1)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("12 04 02 00 0A", "from unit 18, expected 17"),
        ("11 03 02 00 0A", "function 0x03, expected 0x04"),
        ("11 04 04 00 0A 00 0B", "4 data bytes, expected 2"),
    ],
)
def test_well_formed_but_wrong_responses_are_decode_errors(frame, message):
    raw = bytes.fromhex(frame)
    from wardlink.hardware.serial.crc import with_crc

    with pytest.raises(DecodeError, match=message):
        parse_read_response(with_crc(raw), 0x11, 0x04, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 3, 0, 1), "unit: must be 1..247, got 0"),
        ((248, 3, 0, 1), "unit: must be 1..247, got 248"),
        ((1, 6, 0, 1), "function: must be 0x03 or 0x04, got 0x06"),
        ((1, 3, 0, 126), "count: must be 1..125"),
        ((1, 3, 0xFFFF, 2), "count: must be 1..125 within the address space"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(args, message):
    with pytest.raises(ConfigError, match=message):
        build_read_request(*args)


def test_silent_interval_is_3_5_characters_below_19200_and_fixed_above():
    # 11 bits per character: at 9600 baud t3.5 = 3.5 * 11 / 9600 s = 4.01 ms.
    assert silent_interval(9600) == pytest.approx(0.0040104, rel=1e-4)
    assert silent_interval(19200) == pytest.approx(3.5 * 11 / 19200)
    assert silent_interval(38400) == 0.00175
    assert silent_interval(115200) == 0.00175


@given(st.binary(max_size=40))
def test_random_bytes_give_registers_or_a_hardware_error(frame):
    try:
        values = parse_read_response(frame, 0x11, 0x03, 2)
    except HardwareError:
        return
    assert len(values) == 2
