"""Straight-line depreciation of equipment, by the day.

An asset bought on ``start`` for ``cost`` loses ``cost - salvage`` evenly over its useful life,
which ends on the anniversary of ``start`` ``life_years`` later (29 February counts as 28
February in a year without it). Depreciation accrues per day: on date ``d`` (at the start of
that day) the accumulated depreciation is ``(cost - salvage) x days(start, d) / days(start,
end)``, rounded to the cent, and nothing more after the end. The book value is ``cost`` less
that, so it never falls below the salvage value. A year's depreciation is the accumulated
depreciation on 1 January of the next year less that on 1 January of the year, so the first and
last years are partial and the years add up to ``cost - salvage`` to the cent.

Pure functions only: nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def anniversary(start: date, years: int) -> date:
    """Return ``start`` moved on by whole ``years`` (29 February becomes 28 February)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


@dataclass(frozen=True)
class YearOfLife:
    """One calendar year of an asset's depreciation."""

    year: int
    opening: Decimal
    depreciation: Decimal
    closing: Decimal


@dataclass(frozen=True)
class StraightLine:
    """The depreciation of one asset: bought on ``start`` for ``cost``, worth ``salvage`` at the
    end of ``life_years``."""

    cost: Decimal
    salvage: Decimal
    life_years: int
    start: date

    def __post_init__(self) -> None:
        if self.life_years < 1:
            raise ValueError(f"life_years: must be 1 or more, got {self.life_years}")
        if not Decimal("0") <= self.salvage <= self.cost:
            raise ValueError(f"salvage: must be between 0 and the cost {self.cost}, got {self.salvage}")

    @property
    def end(self) -> date:
        """Return the day the useful life ends (fully depreciated from then on)."""
        return anniversary(self.start, self.life_years)

    @property
    def depreciable(self) -> Decimal:
        """Return what the asset loses over its life: cost less salvage."""
        return self.cost - self.salvage

    @property
    def per_year(self) -> Decimal:
        """Return the depreciation of a full year of life (the depreciable amount over the years)."""
        return (self.depreciable / self.life_years).quantize(CENT, ROUND_HALF_UP)

    def accumulated(self, on: date) -> Decimal:
        """Return the depreciation accumulated by the start of ``on``."""
        if on <= self.start:
            return Decimal("0.00")
        if on >= self.end:
            return self.depreciable.quantize(CENT)
        days, life = (on - self.start).days, (self.end - self.start).days
        return (self.depreciable * days / life).quantize(CENT, ROUND_HALF_UP)

    def book_value(self, on: date) -> Decimal:
        """Return what the asset is worth at the start of ``on`` (never below the salvage value)."""
        return (self.cost - self.accumulated(on)).quantize(CENT)

    def schedule(self) -> list[YearOfLife]:
        """Return the depreciation of every calendar year of the asset's life, first to last."""
        rows = []
        for year in range(self.start.year, self.end.year + 1):
            opening, closing = self.book_value(date(year, 1, 1)), self.book_value(date(year + 1, 1, 1))
            if opening != closing:
                rows.append(YearOfLife(year, opening, opening - closing, closing))
        return rows

    def in_year(self, year: int) -> Decimal:
        """Return the depreciation of calendar year ``year`` (0 outside the asset's life)."""
        return self.accumulated(date(year + 1, 1, 1)) - self.accumulated(date(year, 1, 1))
