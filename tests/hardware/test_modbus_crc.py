"""CRC-16/MODBUS on published check values and frames, compared as bytes on the wire."""

from hypothesis import given, strategies as st

from wardlink.hardware.serial.crc import crc16_modbus, crc_bytes, crc_ok, with_crc


def test_check_value_of_123456789_is_4b37():
    # CRC catalogue entry CRC-16/MODBUS: check = 0x4B37.
    assert crc16_modbus(b"123456789") == 0x4B37


def test_serial_line_spec_example_puts_the_low_byte_first():
    # MODBUS over Serial Line v1.02, 2.5.1.2 / Appendix B: frame 02 07 is sent as 02 07 41 12.
    assert with_crc(bytes([0x02, 0x07])) == bytes.fromhex("02 07 41 12")


def test_published_rtu_frames_carry_their_crc():
    # Simply Modbus (simplymodbus.ca) FC03 and FC04 request/response examples, and its
    # exception response example (illegal data address).
    frames = [
        "11 03 00 6B 00 03 76 87",
        "11 03 06 AE 41 56 52 43 40 49 AD",
        "11 04 00 08 00 01 B2 98",
        "11 04 02 00 0A F8 F4",
        "0A 81 02 B0 53",
    ]
    for frame in frames:
        raw = bytes.fromhex(frame)
        assert crc_bytes(raw[:-2]) == raw[-2:], frame
        assert crc_ok(raw)


def test_short_frames_never_pass():
    assert not crc_ok(b"")
    assert not crc_ok(b"\x41\x12")


@given(st.binary(min_size=1, max_size=64), st.data())
def test_any_single_bit_flip_is_detected(payload, data):
    frame = bytearray(with_crc(payload))
    assert crc_ok(bytes(frame))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    assert not crc_ok(bytes(frame))
