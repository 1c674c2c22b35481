"""Apple iBeacon frames (manufacturer data of company 0x004C), as a pure decoder.

After the company id: type 0x02, length 0x15, proximity UUID (16 bytes), major and minor
(unsigned 16-bit big-endian) and the measured power at 1 m (signed byte, dBm).
"""

from __future__ import annotations

import struct
import uuid

from wardlink.hardware.errors import DecodeError

COMPANY_ID = 0x004C
PREFIX = b"\x02\x15"


def decode(data: bytes) -> dict:
    """Decode iBeacon manufacturer data (without the 0x004C company id)."""
    data = bytes(data)
    if len(data) != 23 or data[:2] != PREFIX:
        raise DecodeError(f"not an iBeacon frame: {data[:4].hex()}... ({len(data)} bytes)")
    major, minor, power = struct.unpack(">HHb", data[18:23])
    return {"uuid": str(uuid.UUID(bytes=data[2:18])), "major": major, "minor": minor, "tx_power": power}


def encode(beacon_uuid: str, major: int, minor: int, tx_power: int) -> bytes:
    """Return iBeacon manufacturer data (for emulated tags)."""
    return PREFIX + uuid.UUID(beacon_uuid).bytes + struct.pack(">HHb", major, minor, tx_power)
