"""Encrypted BTHome v2 (AES-128-CCM) on published vectors, and refusal of bad packets."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.ble.bthome import decode, encrypt
from wardlink.hardware.errors import DecodeError, DecryptionError, HardwareError

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"


def test_bthome_ble_bindkey_vector():
    # bthome-ble tests/test_parser_v2.py, test_bindkey_correct: 25.06 degC, 50.55 %.
    packet = decode(bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"), mac=MAC, key=KEY)
    assert packet.encrypted
    assert packet.values == {"temperature": 25.06, "humidity": 50.55}
    assert packet.counter == 0x33221100  # counter bytes 00 11 22 33, little-endian


def test_bthome_io_encryption_example():
    # bthome.io/encryption example: counter 0x00112233 sent little-endian, MIC 6c7c4519.
    packet = decode(bytes.fromhex("41 e4 45 f3 c9 96 2b 33 22 11 00 6c 7c 45 19"), mac=MAC, key=KEY)
    assert packet.values == {"temperature": 25.06, "humidity": 50.55}
    assert packet.counter == 0x00112233


def test_encrypted_shelly_blu_button_vector():
    # bthome-ble test_encrypted_shelly_blu_button_event (trigger-based, info byte 0x45).
    packet = decode(bytes.fromhex("45 0a eb 84 46 7f 85 ba 01 00 00 31 88 78 8c"), mac="B4:35:22:F5:3D:A4",
                    key=bytes.fromhex("90bffd73cb6b26ef58a7a8eba9232036"))
    assert packet.trigger_based and packet.packet_id == 7 and packet.counter == 442
    assert packet.values == {"battery": 100}
    assert packet.events == [{"type": "button", "button": "button", "event": "press"}]


def test_encrypt_reproduces_the_published_bytes():
    sealed = encrypt(bytes.fromhex("02 CA 09 03 BF 13"), mac=MAC, key=KEY, counter=0x33221100)
    assert sealed == bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")


def test_wrong_key_is_a_decryption_error():
    # bthome-ble test_bindkey_wrong uses this other key on an encrypted packet.
    with pytest.raises(DecryptionError, match="MIC check failed"):
        decode(bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"), mac=MAC,
               key=bytes.fromhex("814aac74c4f17b6c1581e1ab87816b99"))


def test_a_changed_byte_fails_the_integrity_check():
    data = bytearray.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")
    data[3] ^= 0x01
    with pytest.raises(DecryptionError):
        decode(bytes(data), mac=MAC, key=KEY)


def test_the_mac_is_part_of_the_nonce():
    with pytest.raises(DecryptionError):
        decode(bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"), mac="54:48:E6:8F:80:A6", key=KEY)


def test_encrypted_packet_without_a_key_is_refused():
    with pytest.raises(DecryptionError, match="no bind key"):
        decode(bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"), mac=MAC)


def test_plain_packet_from_a_keyed_device_is_a_downgrade():
    # bthome-ble test_encryption_downgrade_fails: unencrypted data is rejected when a key is set.
    with pytest.raises(DecryptionError, match="unencrypted"):
        decode(bytes.fromhex("40 04 13 8a 01"), mac=MAC, key=KEY)


def test_too_short_encrypted_payload():
    with pytest.raises(DecodeError, match="too short"):
        decode(bytes.fromhex("41 00 11 22 33 44"), mac=MAC, key=KEY)


@given(st.binary(min_size=1, max_size=24), st.integers(0, 2**32 - 1))
def test_encrypt_then_decode_round_trips(objects, counter):
    plain = b"\x01" + objects[:1]  # a battery object with a random level
    if len(plain) < 2:
        plain += b"\x00"
    packet = decode(encrypt(plain, mac=MAC, key=KEY, counter=counter), mac=MAC, key=KEY)
    assert packet.counter == counter and packet.values == {"battery": plain[1]}


@given(st.binary(max_size=40))
def test_random_encrypted_payloads_raise_only_hardware_errors(body):
    try:
        decode(b"\x41" + body, mac=MAC, key=KEY)
    except HardwareError:
        pass
