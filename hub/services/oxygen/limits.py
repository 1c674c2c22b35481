"""NFPA 99's limits on stored non-flammable medical gas, in one table, and the litre / cubic
foot conversion.

NFPA 99 (Health Care Facilities Code, 2012 and later, 11.3) counts gas volume at normal
temperature and pressure (NTP: 20 °C, 1 atm), the volume a cylinder's label gives when full.
Outside a storage room, a smoke compartment may hold at most 300 ft³ (about 8,495 L) of
non-flammable medical gas in cylinders that are in use or ready for use; more than that must be
kept in a designated storage room. A storage room of non-combustible or limited-combustible
construction may hold up to 3,000 ft³ (about 84,950 L); above that NFPA 99 asks for a room of
one-hour fire-resistive construction, which Wardlink does not model: it flags the room instead.
Empty cylinders count for nothing (NFPA counts the gas, not the steel).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

#: Litres in one cubic foot (exactly 0.028316846592 m³).
LITRES_PER_CUBIC_FOOT = Decimal("28.316846592")
#: Statuses whose gas counts against a storage place's limit: full and waiting, or connected.
COUNTED_STATUSES = ("filled", "in_use")


@dataclass(frozen=True)
class StorageLimit:
    """The most gas (at NTP) one kind of storage place may hold, and where NFPA 99 says it."""

    kind: str
    cubic_feet: Decimal
    reference: str

    @property
    def litres(self) -> Decimal:
        """Return the limit in litres, to the litre."""
        return to_litres(self.cubic_feet).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


#: The limit of each kind of storage place (:data:`wardlink.hub.db.vocab.GAS_STORAGE_KINDS`).
LIMITS: dict[str, StorageLimit] = {limit.kind: limit for limit in (
    StorageLimit("smoke_compartment", Decimal("300"), "NFPA 99 11.3.2.2"),
    StorageLimit("storage_room", Decimal("3000"), "NFPA 99 11.3.2.3"),
)}


def to_litres(cubic_feet: Decimal) -> Decimal:
    """Return a volume in cubic feet as litres."""
    return Decimal(cubic_feet) * LITRES_PER_CUBIC_FOOT


def to_cubic_feet(litres: Decimal) -> Decimal:
    """Return a volume in litres as cubic feet, to a hundredth."""
    return (Decimal(litres) / LITRES_PER_CUBIC_FOOT).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def limit_of(kind: str) -> StorageLimit:
    """Return the limit of a kind of storage place."""
    return LIMITS[kind]
