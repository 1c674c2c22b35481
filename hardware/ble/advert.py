"""One received BLE advertisement, independent of the radio stack that heard it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wardlink.hardware.errors import DecodeError

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_UUID16 = re.compile(r"^(0x)?[0-9A-Fa-f]{4}$")
_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize_mac(address: str) -> str:
    """Return ``address`` as upper-case ``AA:BB:CC:DD:EE:FF``; raise DecodeError otherwise."""
    if not isinstance(address, str) or not _MAC.match(address):
        raise DecodeError(f"not a MAC address: {address!r}")
    return address.upper()


def mac_bytes(address: str) -> bytes:
    """Return the six bytes of ``address`` in the order they are written."""
    return bytes.fromhex(normalize_mac(address).replace(":", ""))


def normalize_uuid(uuid: str) -> str:
    """Return a 16-bit (``fcd2``, ``0xFCD2``) or 128-bit service UUID in 128-bit lower case."""
    text = uuid.strip().lower() if isinstance(uuid, str) else ""
    if _UUID16.match(text):
        return f"0000{text[-4:]}{BASE_UUID_SUFFIX}"
    if _UUID128.match(text):
        return text
    raise DecodeError(f"not a service UUID: {uuid!r}")


@dataclass(frozen=True)
class Advertisement:
    """What a scanner reports for one advertisement (or scan response)."""

    address: str
    rssi: int
    ts: float
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    name: str | None = None
    gateway: str | None = None

    @classmethod
    def build(cls, address: str, rssi: int, ts: float, *, service_data=None, manufacturer_data=None,
              name: str | None = None, gateway: str | None = None) -> Advertisement:
        """Return an Advertisement with the address and UUIDs normalised."""
        return cls(
            normalize_mac(address),
            int(rssi),
            float(ts),
            {normalize_uuid(u): bytes(v) for u, v in (service_data or {}).items()},
            {int(k): bytes(v) for k, v in (manufacturer_data or {}).items()},
            name,
            gateway,
        )
