"""Apple iBeacon manufacturer data, on beacontools' test vector."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.ble.ibeacon import decode, encode
from wardlink.hardware.errors import DecodeError, HardwareError


def test_beacontools_vector():
    # beacontools tests: ... 1A FF 4C 00 02 15 <uuid> 00 01 00 02 F8; the decoder gets the bytes after 4C 00.
    data = bytes.fromhex("02 15 41 42 43 44 45 46 47 48 49 40 41 42 43 44 45 46 00 01 00 02 F8")
    assert decode(data) == {"uuid": "41424344-4546-4748-4940-414243444546", "major": 1, "minor": 2, "tx_power": -8}


def test_encode_produces_the_same_bytes():
    assert encode("41424344-4546-4748-4940-414243444546", 1, 2, -8) == bytes.fromhex(
        "02 15 41 42 43 44 45 46 47 48 49 40 41 42 43 44 45 46 00 01 00 02 F8")


@pytest.mark.parametrize("hex_data", ["02 15 00", "03 15" + " 00" * 21, "02 16" + " 00" * 21])
def test_other_apple_frames_are_not_ibeacons(hex_data):
    with pytest.raises(DecodeError, match="not an iBeacon frame"):
        decode(bytes.fromhex(hex_data))


@given(st.binary(max_size=30))
def test_random_bytes_decode_or_raise_a_hardware_error(data):
    try:
        beacon = decode(data)
    except HardwareError:
        return
    assert 0 <= beacon["major"] <= 0xFFFF and -128 <= beacon["tx_power"] <= 127
