"""Register points: which registers hold a quantity, how to decode and scale them.

A point is configured as::

    {"quantity": "supply_temperature", "address": 0x10, "kind": "input",
     "type": "float32", "word_order": "big", "scale": 1.0, "offset": 0.0, "unit": "C"}

Each register travels big-endian (high byte first) on the wire. 32-bit values span two
registers and vendors disagree on which comes first: ``word_order="big"`` puts the high
word in the lower address (ABCD), ``"little"`` puts it second (CDAB, "word swapped").
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial.modbus import FUNCTIONS, MAX_REGISTERS

# type -> (registers, struct format of the big-endian value)
TYPES: dict[str, tuple[int, str]] = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
}
WORD_ORDERS = ("big", "little")


@dataclass(frozen=True)
class Point:
    """One quantity read from one or two registers."""

    quantity: str
    address: int
    kind: str = "holding"
    type: str = "uint16"
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @property
    def size(self) -> int:
        """Return how many registers the point spans."""
        return TYPES[self.type][0]

    def decode(self, registers: Sequence[int]) -> float:
        """Return ``raw * scale + offset`` for this point's registers."""
        words = list(registers)
        if self.word_order == "little":
            words.reverse()
        raw = struct.unpack(TYPES[self.type][1], struct.pack(f">{len(words)}H", *words))[0]
        return raw * self.scale + self.offset


def encode(value: float, type_: str, word_order: str = "big") -> list[int]:
    """Return the registers that hold the raw (unscaled) ``value``; emulators use this."""
    size, fmt = TYPES[type_]
    raw = value if type_ == "float32" else int(value)
    words = list(struct.unpack(f">{size}H", struct.pack(fmt, raw)))
    return words[::-1] if word_order == "little" else words


_FIELDS = {"quantity", "address", "kind", "type", "word_order", "scale", "offset", "unit"}


def parse_points(spec: object, key: str = "points") -> tuple[Point, ...]:
    """Validate the ``points`` config list and return Points; errors name the key."""
    if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)) or not spec:
        raise ConfigError(f"{key}: must be a non-empty list of register points")
    points, seen = [], set()
    for i, item in enumerate(spec):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: must be a mapping, got {item!r}")
        unknown = set(item) - _FIELDS
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown; allowed: {', '.join(sorted(_FIELDS))}")
        point = _point(item, where)
        if point.quantity in seen:
            raise ConfigError(f"{where}.quantity: {point.quantity!r} is used twice")
        seen.add(point.quantity)
        points.append(point)
    return tuple(points)


def _point(item: Mapping, where: str) -> Point:
    quantity = item.get("quantity")
    if not isinstance(quantity, str) or not quantity:
        raise ConfigError(f"{where}.quantity: required, a non-empty string")
    choices = {"kind": tuple(FUNCTIONS), "type": tuple(TYPES), "word_order": WORD_ORDERS}
    for field, allowed in choices.items():
        if field in item and item[field] not in allowed:
            raise ConfigError(f"{where}.{field}: must be one of {', '.join(allowed)}, got {item[field]!r}")
    address = item.get("address")
    size = TYPES[item.get("type", "uint16")][0]
    if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address <= 0x10000 - size:
        raise ConfigError(f"{where}.address: must be an integer 0..{0x10000 - size}, got {address!r}")
    for field in ("scale", "offset"):
        value = item.get(field, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where}.{field}: must be a finite number, got {value!r}")
    if item.get("scale", 1.0) == 0:
        raise ConfigError(f"{where}.scale: must not be 0")
    return Point(**{k: item[k] for k in item})


@dataclass(frozen=True)
class Block:
    """A run of registers read with one request."""

    kind: str
    address: int
    count: int
    points: tuple[Point, ...]


def plan_blocks(points: Sequence[Point], max_gap: int = 0) -> list[Block]:
    """Group points into as few reads as possible (contiguous, at most 125 registers each)."""
    blocks: list[Block] = []
    ordered = sorted(points, key=lambda p: (p.kind, p.address))
    for point in ordered:
        last = blocks[-1] if blocks else None
        if last is not None and last.kind == point.kind:
            end = max(last.address + last.count, point.address + point.size)
            if point.address <= last.address + last.count + max_gap and end - last.address <= MAX_REGISTERS:
                blocks[-1] = Block(last.kind, last.address, end - last.address, last.points + (point,))
                continue
        blocks.append(Block(point.kind, point.address, point.size, (point,)))
    return blocks
