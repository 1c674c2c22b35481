"""CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF, no final xor.

The check value of ASCII ``123456789`` is 0x4B37. On the wire the CRC travels low byte
first (Modbus over Serial Line v1.02, section 2.5.1.2), so ``02 07`` is sent as
``02 07 41 12``. Several libraries return the integer byte-swapped; compare bytes on the
wire, not integers.
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_modbus(data: bytes) -> int:
    """Return the CRC-16/MODBUS of ``data`` as an integer."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc_bytes(data: bytes) -> bytes:
    """Return the two CRC bytes of ``data`` in wire order (low byte first)."""
    return crc16_modbus(data).to_bytes(2, "little")


def with_crc(data: bytes) -> bytes:
    """Return ``data`` followed by its CRC in wire order."""
    return bytes(data) + crc_bytes(data)


def crc_ok(frame: bytes) -> bool:
    """Tell whether the last two bytes of ``frame`` are the CRC of the bytes before them."""
    return len(frame) >= 3 and crc_bytes(frame[:-2]) == bytes(frame[-2:])
