"""Physical models of a hospital's oxygen supply, as signals of the injected clock.

A cylinder manifold has two banks of cylinders; the gas flows from the *active* bank while
the other stands by as the *reserve*. Cylinder contents follow the ideal gas law: a bank of
``cylinders`` x ``water_l`` litres of water capacity at gauge pressure p holds
``cylinders * water_l * p / ATM_BAR`` litres of free gas (at NTP) above atmospheric, so a
steady flow makes the active bank's pressure fall in a straight line. When it reaches
``changeover_bar`` the manifold switches to the other bank, which becomes active; the emptied
bank stays at its residual pressure until its cylinders are replaced ``replace_after_s``
later, when it jumps to ``fill_bar`` and is the reserve again.

A liquid-oxygen tank's level (percent of its liquid capacity) falls with the gas drawn from
it, ``LOX_EXPANSION`` litres of gas per litre of liquid, and a delivery refills it.

Both are pure functions of time since the origin (the instant the channel opened), so two
channels reading the two banks of one manifold agree, and a test replays exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Standard atmosphere, bar: gauge pressure over this is what a cylinder can deliver.
ATM_BAR = 1.01325
#: Litres of oxygen gas (NTP) from one litre of liquid oxygen (EIGA / CGA figure, 1:861).
LOX_EXPANSION = 861.0
BANKS = ("a", "b")


@dataclass(frozen=True)
class Manifold:
    """Pressure of one bank (``bank``) of a two-bank manifold drawn at ``flow_lpm``."""

    bank: str
    flow_lpm: float
    cylinders: float = 5.0
    water_l: float = 50.0
    fill_bar: float = 200.0
    changeover_bar: float = 10.0
    start_bar: float = 0.0  # the first active bank's pressure at the origin; 0: full
    start_bank: str = "a"
    replace_after_s: float = 7200.0  # 0: the emptied bank is never replaced

    def __post_init__(self) -> None:
        if self.changeover_bar >= self.fill_bar:
            raise ValueError(f"changeover_bar: must be below fill_bar ({self.fill_bar:g}), "
                             f"got {self.changeover_bar:g}")
        if self.start_bar and not self.changeover_bar <= self.start_bar <= self.fill_bar:
            raise ValueError(f"start_bar: must be 0 (full) or within changeover_bar..fill_bar, "
                             f"got {self.start_bar:g}")
        if self.replace_after_s and self.flow_lpm and self.replace_after_s >= self.bank_s:
            raise ValueError(f"replace_after_s: must be shorter than a full bank lasts at flow_lpm "
                             f"({self.bank_s:.0f} s), got {self.replace_after_s:g}")

    @property
    def bar_per_s(self) -> float:
        """Return how fast the active bank's pressure falls."""
        return self.flow_lpm / 60.0 * ATM_BAR / (self.cylinders * self.water_l)

    @property
    def bank_s(self) -> float:
        """Return how long a full bank lasts, from fill to changeover pressure (inf at no flow)."""
        rate = self.bar_per_s
        return (self.fill_bar - self.changeover_bar) / rate if rate else math.inf

    def changeovers(self, until_s: float) -> list[float]:
        """Return the times (s since the origin) of the changeovers up to ``until_s``."""
        rate = self.bar_per_s
        if not rate:
            return []
        first = ((self.start_bar or self.fill_bar) - self.changeover_bar) / rate
        times, at = [], first
        while at <= until_s:
            times.append(at)
            if not self.replace_after_s:
                break  # back on an empty bank: no further switch
            at += self.bank_s
        return times

    def pressures(self, elapsed: float) -> dict[str, float]:
        """Return both banks' pressures ``elapsed`` seconds after the origin."""
        elapsed = max(0.0, elapsed)
        rate = self.bar_per_s
        first, other = self.start_bank, BANKS[1 - BANKS.index(self.start_bank)]
        switches = self.changeovers(elapsed)
        if not switches:
            return {first: (self.start_bar or self.fill_bar) - rate * elapsed, other: self.fill_bar}
        since = elapsed - switches[-1]
        active = other if len(switches) % 2 else first
        emptied = first if active == other else other
        if not self.replace_after_s:
            # The reserve runs down past its changeover pressure: there is nothing to switch to.
            return {active: max(0.0, self.fill_bar - rate * since), emptied: self.changeover_bar}
        replaced = bool(self.replace_after_s) and since >= self.replace_after_s
        return {active: self.fill_bar - rate * since,
                emptied: self.fill_bar if replaced else self.changeover_bar}

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        return self.pressures(t - origin)[self.bank]


@dataclass(frozen=True)
class LoxTank:
    """Level (% of liquid capacity) of a liquid-oxygen tank supplying ``flow_lpm`` of gas."""

    capacity_l: float
    flow_lpm: float
    start_percent: float = 80.0
    refill_at_percent: float = 0.0  # a delivery comes at this level; 0: none comes
    refill_to_percent: float = 90.0

    def __post_init__(self) -> None:
        if not 0 < self.start_percent <= 100:
            raise ValueError(f"start_percent: must be within 0..100, got {self.start_percent:g}")
        if self.refill_at_percent and not self.refill_at_percent < self.refill_to_percent <= 100:
            raise ValueError(f"refill_to_percent: must be above refill_at_percent and at most 100, "
                             f"got {self.refill_to_percent:g}")

    @property
    def percent_per_s(self) -> float:
        """Return how fast the level falls."""
        return self.flow_lpm / 60.0 / LOX_EXPANSION / self.capacity_l * 100.0

    def level(self, elapsed: float) -> float:
        """Return the level ``elapsed`` seconds after the origin."""
        rate, elapsed = self.percent_per_s, max(0.0, elapsed)
        if not rate:
            return self.start_percent
        if not self.refill_at_percent or self.start_percent - rate * elapsed > self.refill_at_percent:
            return max(0.0, self.start_percent - rate * elapsed)
        since = elapsed - (self.start_percent - self.refill_at_percent) / rate
        cycle = (self.refill_to_percent - self.refill_at_percent) / rate
        return self.refill_to_percent - rate * (since % cycle)

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        return self.level(t - origin)
