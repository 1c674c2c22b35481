"""BTHome v2 plain payloads on published vectors (bthome.io, bthome-ble, Home Assistant tests)."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.ble.bthome import OBJECTS, decode
from wardlink.hardware.errors import DecodeError, HardwareError, UnknownObjectError


def values(hex_payload):
    return decode(bytes.fromhex(hex_payload)).values


def test_bthome_io_format_example():
    # bthome.io/format: service data 40 02 C4 09 03 BF 13 -> 25.00 degC, 50.55 %.
    packet = decode(bytes.fromhex("40 02 C4 09 03 BF 13"))
    assert packet.values == {"temperature": 25.0, "humidity": 50.55}
    assert packet.units == {"temperature": "degC", "humidity": "%RH"}
    assert not packet.encrypted and not packet.trigger_based


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # Home Assistant tests/components/bthome/test_sensor.py, BTHome v2 cases.
        ("40 01 5d 02 5d 09 03 b7 18", {"battery": 93, "temperature": 23.97, "humidity": 63.27}),
        ("40 04 13 8a 01", {"pressure": 1008.83}),
        ("40 05 13 8a 14", {"illuminance": 13460.67}),
        ("40 06 5E 1F", {"mass": 80.3}),
        # bthome-ble tests/test_parser_v2.py.
        ("40 43 4E 34", {"current": 13.39}),
        ("40 42 4E 34 00", {"duration": 13.39}),
        ("40 45 11 01", {"temperature": 27.3}),
        ("40 3F 02 0c", {"rotation": 307.4}),
        ("40 40 0C 00", {"distance": 12}),
        ("40 41 4E 00", {"distance_m": 7.8}),
        # Shelly BLU H&T Display ZB (bthome-ble): packet id, battery, humidity (1 byte), temperature 0x45.
        ("40 00 2e 01 64 1e 01 2e 34 45 16 01", {"battery": 100, "light": 1, "humidity": 52, "temperature": 27.8}),
    ],
)
def test_published_sensor_vectors(payload, expected):
    assert values(payload) == pytest.approx(expected)


def test_voltage_count_and_binary_objects():
    # Values from the bthome.io object table examples (voltage 0C 02 0C = 3.074 V, count 09 60 = 96).
    assert values("40 0C 02 0C 09 60") == {"voltage": 3.074, "count": 96}
    # Door (0x1A), opening (0x11) and moisture-detected (0x20) are binary objects: 0/1.
    assert values("40 1A 01 11 00 20 01") == {"door": 1, "opening": 0, "moisture_detected": 1}


def test_packet_id_is_reported_separately_from_values():
    packet = decode(bytes.fromhex("40 00 2e 01 64"))
    assert packet.packet_id == 46 and packet.values == {"battery": 100}


def test_button_events_of_a_three_button_device():
    # bthome-ble test_bthome_event_triple_button_device: button 2 pressed, button 3 triple-pressed.
    packet = decode(bytes.fromhex("40 3A 00 3A 01 3A 03"))
    assert packet.events == [
        {"type": "button", "button": "button_2", "event": "press"},
        {"type": "button", "button": "button_3", "event": "triple_press"},
    ]
    assert packet.values == {}


def test_long_press_and_dimmer_events():
    assert decode(bytes.fromhex("40 3A 04")).events == [{"type": "button", "button": "button", "event": "long_press"}]
    # bthome-ble test_bthome_event_dimmer_rotate_left_3_steps.
    assert decode(bytes.fromhex("40 3C 01 03")).events == [
        {"type": "dimmer", "dimmer": "dimmer", "event": "rotate_left", "steps": 3}
    ]


def test_unknown_button_codes_are_not_events():
    # bthome-ble test_bthome_invalid_button_event: 0xFE yields no event.
    assert decode(bytes.fromhex("40 3A FE")).events == []


def test_repeated_objects_are_numbered():
    assert values("40 02 CA 09 02 C4 09") == {"temperature": 25.06, "temperature_2": 25.0}


def test_mac_included_in_the_payload():
    # Device info bit 1: the advertiser's MAC follows, reversed (random-address devices).
    packet = decode(bytes.fromhex("42 b2 18 8d 38 c1 a4 04 13 8a 01"))
    assert packet.mac == "A4:C1:38:8D:18:B2" and packet.values == {"pressure": 1008.83}


def test_text_and_raw_objects_carry_their_length():
    packet = decode(bytes.fromhex("40 53 05 48 65 6c 6c 6f 54 02 ab cd 01 10"))
    assert packet.text == {"text": "Hello", "raw": "abcd"}
    assert packet.values == {"battery": 16}


def test_unknown_object_id_stops_decoding():
    with pytest.raises(UnknownObjectError, match="unknown BTHome object id 0x3B at byte 2 of the object data"):
        decode(bytes.fromhex("40 01 64 3B 01 02 03"))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "empty"),
        ("20 02 ca 09", "version 1"),
        ("e1 02 00 0c", "version 7"),
        ("40 02 ca", "needs 2 bytes, 1 left"),
        ("40 53", "lacks its length byte"),
        ("42 b2 18", "too short to hold one"),
    ],
)
def test_malformed_payloads(payload, message):
    with pytest.raises(DecodeError, match=message):
        decode(bytes.fromhex(payload))


def test_the_object_table_covers_the_required_measurements():
    names = {obj.name for obj in OBJECTS.values()}
    assert {"packet_id", "battery", "temperature", "humidity", "pressure", "illuminance", "voltage", "current",
            "door", "opening", "moisture_detected", "count", "button"} <= names


@given(st.binary(max_size=40))
def test_random_payloads_decode_or_raise_a_hardware_error(data):
    try:
        packet = decode(data)
    except HardwareError:
        return
    assert all(isinstance(v, float) for v in packet.values.values())


@given(st.binary(max_size=30))
def test_random_plain_objects_after_a_v2_header(body):
    try:
        decode(b"\x40" + body)
    except HardwareError:
        pass
