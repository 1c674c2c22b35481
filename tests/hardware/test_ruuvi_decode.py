"""RuuviTag data format 5 on the official vectors (docs.ruuvi.com, "Data format 5 (RAWv2)")."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.ble.ruuvi import decode
from wardlink.hardware.errors import DecodeError, HardwareError


def test_valid_data_vector():
    decoded = decode(bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"))
    assert decoded == {
        "values": {
            "temperature": 24.3, "humidity": 53.49, "pressure": 100044,
            "acceleration_x": 0.004, "acceleration_y": -0.004, "acceleration_z": 1.036,
            "battery_voltage": 2.977, "tx_power": 4, "movement_count": 66, "sequence": 205,
        },
        "mac": "CB:B8:33:4C:88:4F",
    }


def test_maximum_values_vector():
    values = decode(bytes.fromhex("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F"))["values"]
    assert values == {
        "temperature": 163.835, "humidity": 163.835, "pressure": 115534,
        "acceleration_x": 32.767, "acceleration_y": 32.767, "acceleration_z": 32.767,
        "battery_voltage": 3.646, "tx_power": 20, "movement_count": 254, "sequence": 65534,
    }


def test_minimum_values_vector():
    # As corrected in ruuvi-sensor-protocols issue #30 (temperature 0x8001, the smallest valid value).
    values = decode(bytes.fromhex("058001000000008001800180010000000000CBB8334C884F"))["values"]
    assert values == {
        "temperature": -163.835, "humidity": 0.0, "pressure": 50000,
        "acceleration_x": -32.767, "acceleration_y": -32.767, "acceleration_z": -32.767,
        "battery_voltage": 1.6, "tx_power": -40, "movement_count": 0, "sequence": 0,
    }


def test_invalid_values_vector_reports_nothing_as_a_number():
    # Every field carries its "not available" value, the MAC is all ones.
    assert decode(bytes.fromhex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF")) == {"values": {}, "mac": None}


@pytest.mark.parametrize(
    ("field", "offset", "raw"),
    [
        ("temperature", 1, "8000"),
        ("humidity", 3, "FFFF"),
        ("pressure", 5, "FFFF"),
        ("acceleration_x", 7, "8000"),
        ("acceleration_y", 9, "8000"),
        ("acceleration_z", 11, "8000"),
        ("movement_count", 15, "FF"),
        ("sequence", 16, "FFFF"),
    ],
)
def test_each_not_available_value_drops_only_its_field(field, offset, raw):
    data = bytearray.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
    data[offset:offset + len(raw) // 2] = bytes.fromhex(raw)
    values = decode(bytes(data))["values"]
    assert field not in values and len(values) == 9


def test_battery_and_tx_power_share_two_bytes_and_are_unavailable_separately():
    data = bytearray.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
    data[13:15] = ((0x7FF << 5) | 22).to_bytes(2, "big")  # battery n/a, tx 4 dBm
    values = decode(bytes(data))["values"]
    assert "battery_voltage" not in values and values["tx_power"] == 4
    data[13:15] = ((1377 << 5) | 0x1F).to_bytes(2, "big")  # 2.977 V, tx n/a
    values = decode(bytes(data))["values"]
    assert values["battery_voltage"] == 2.977 and "tx_power" not in values


@pytest.mark.parametrize(("hex_data", "message"), [("0512FC", "24 bytes, got 3"), ("03" + "00" * 23, "format 3")])
def test_wrong_length_or_format(hex_data, message):
    with pytest.raises(DecodeError, match=message):
        decode(bytes.fromhex(hex_data))


@given(st.binary(max_size=30))
def test_random_bytes_decode_or_raise_a_hardware_error(data):
    try:
        decoded = decode(data)
    except HardwareError:
        return
    assert set(decoded) == {"values", "mac"}


@given(st.binary(min_size=23, max_size=23))
def test_every_24_byte_format_5_frame_decodes(body):
    decoded = decode(b"\x05" + body)
    assert -163.84 < decoded["values"].get("temperature", 0) < 163.84
