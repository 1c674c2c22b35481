"""RuuviTag data format 5 (RAWv2), manufacturer data of company 0x0499, as a pure decoder.

24 bytes, big-endian (docs.ruuvi.com, "Data format 5 (RAWv2)"). Every field has a
"not available" value (largest unsigned, smallest signed, all-ones MAC); such fields are
left out of the result instead of being reported as numbers.
"""

from __future__ import annotations

import struct

from wardlink.hardware.errors import DecodeError

COMPANY_ID = 0x0499
FORMAT = 5
LENGTH = 24

UNITS = {
    "temperature": "degC",
    "humidity": "%RH",
    "pressure": "Pa",
    "acceleration_x": "g",
    "acceleration_y": "g",
    "acceleration_z": "g",
    "battery_voltage": "V",
    "tx_power": "dBm",
    "movement_count": "",
    "sequence": "",
}

# field -> (raw value meaning "not available", converter to the unit above)
_FIELDS = {
    "temperature": (-0x8000, lambda r: round(r * 0.005, 3)),
    "humidity": (0xFFFF, lambda r: round(r * 0.0025, 4)),
    "pressure": (0xFFFF, lambda r: r + 50000),
    "acceleration_x": (-0x8000, lambda r: r / 1000),
    "acceleration_y": (-0x8000, lambda r: r / 1000),
    "acceleration_z": (-0x8000, lambda r: r / 1000),
    "battery_voltage": (0x7FF, lambda r: (r + 1600) / 1000),
    "tx_power": (0x1F, lambda r: r * 2 - 40),
    "movement_count": (0xFF, lambda r: r),
    "sequence": (0xFFFF, lambda r: r),
}


def decode(data: bytes) -> dict:
    """Decode format-5 manufacturer data (without the 0x0499 company id).

    Returns ``{"values": {field: number}, "mac": "AA:..." or None}``; fields that the
    tag marks "not available" are absent from ``values``.
    """
    data = bytes(data)
    if len(data) != LENGTH:
        raise DecodeError(f"RuuviTag format 5 has {LENGTH} bytes, got {len(data)}")
    if data[0] != FORMAT:
        raise DecodeError(f"RuuviTag data format {data[0]} is not supported (only 5)")
    t, h, p, ax, ay, az, power, move, seq = struct.unpack(">hHHhhhHBH", data[1:18])
    raw = {
        "temperature": t,
        "humidity": h,
        "pressure": p,
        "acceleration_x": ax,
        "acceleration_y": ay,
        "acceleration_z": az,
        "battery_voltage": power >> 5,
        "tx_power": power & 0x1F,
        "movement_count": move,
        "sequence": seq,
    }
    values = {}
    for name, (missing, convert) in _FIELDS.items():
        if raw[name] != missing:
            values[name] = convert(raw[name])
    mac_raw = data[18:24]
    mac = None if mac_raw == b"\xff" * 6 else ":".join(f"{b:02X}" for b in mac_raw)
    return {"values": values, "mac": mac}
