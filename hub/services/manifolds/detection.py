"""Reading a two-bank manifold from its bank pressures: which bank is in use, when it changed over.

Pure: :func:`track` takes the detector's state (a JSON-ready dict), the readings that came
after it in time order and the manifold's settings, and returns the new state and what
happened. It never reads a clock or a database, so the same readings always give the same
changeovers, whether they arrive in one batch or one at a time.

How a changeover shows: the bank in use falls while the reserve stands still at its resting
pressure. When the reserve has fallen ``confirm`` below its resting pressure, the manifold has
switched to it. The moment of the switch is where the reserve's fall started: its first
reading below rest, taken back along the fall at the rate the emptied bank was falling, never
before its last reading at rest. An emptied bank that rises by ``refill`` has had its
cylinders replaced and is a full reserve again; an emptied bank is never taken for one that
is in use, whatever it does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

BANKS = ("a", "b")
#: A fall of this fraction of the full pressure confirms that the reserve is in use.
CONFIRM_FRACTION = 0.005
#: A bank within this fraction of the full pressure below its rest is still at rest (noise).
REST_FRACTION = 0.0002
#: A rise of this fraction of the full pressure is new cylinders.
REFILL_FRACTION = 0.05
#: A "reserve low" episode ends when the gas left lasts this fraction more than the reserve hours.
EPISODE_MARGIN = 0.05
#: Flow is the gas drawn over this much of the latest readings.
FLOW_WINDOW_MS = 3_600_000


@dataclass(frozen=True)
class Settings:
    """What the detector needs to know of the manifold."""

    bank_capacity_l: float
    full_bar: float
    changeover_bar: float
    reserve_hours: float = 0.0  # 0: no "reserve low" episodes

    @property
    def litres_per_bar(self) -> float:
        """Return the gas (litres at NTP) a bank gives per bar of pressure."""
        return self.bank_capacity_l / self.full_bar


@dataclass(frozen=True)
class Changeover:
    """The manifold switched away from ``bank`` (emptied after ``litres`` drawn) at ``at_ms``."""

    at_ms: int
    bank: str
    litres: float
    detected_ms: int


@dataclass(frozen=True)
class Replaced:
    """The cylinders of ``bank`` were replaced: it is a full reserve again."""

    at_ms: int
    bank: str


@dataclass(frozen=True)
class ReserveLow:
    """The reserve is in use and the gas left lasts less than the reserve hours: an episode starts."""

    at_ms: int
    hours: float


@dataclass(frozen=True)
class ReserveRestored:
    """The episode ends: the empty bank was replaced or the gas left lasts the reserve hours again."""

    at_ms: int


Event = Changeover | Replaced | ReserveLow | ReserveRestored


def new_state() -> dict[str, Any]:
    """Return the state of a detector that has seen nothing."""
    return {"active": None, "since_bar": None, "since_ms": None, "drawn_l": 0.0, "flow": [],
            "banks": {bank: {"last": None, "last_ms": None, "rest": None, "rest_ms": None,
                             "fall": None, "emptied": False} for bank in BANKS}}


def other(bank: str) -> str:
    """Return the other bank."""
    return BANKS[1 - BANKS.index(bank)]


def drawn_now(state: dict[str, Any], settings: Settings) -> float:
    """Return the gas drawn since tracking began: finished banks plus the bank in use so far."""
    active = state["active"]
    if active is None:
        return state["drawn_l"]
    last = state["banks"][active]["last"]
    return state["drawn_l"] + (state["since_bar"] - last) * settings.litres_per_bar


def track(state: dict[str, Any] | None, readings: list[tuple[str, int, float | None]],
          settings: Settings) -> tuple[dict[str, Any], list[Event]]:
    """Follow ``readings`` (bank, ts_ms, bar) in time order from ``state``; return the new state and events."""
    state = copy.deepcopy(state) if state else new_state()
    events: list[Event] = []
    for bank, ts_ms, value in readings:
        if value is None:
            continue
        event = _step(state, bank, ts_ms, value, settings)
        if event is not None:
            events.append(event)
        if state["active"] is not None and bank == state["active"]:
            _note_flow(state, ts_ms, settings)
        episode = _episode(state, ts_ms, settings)
        if episode is not None:
            events.append(episode)
    return state, events


def _episode(state: dict[str, Any], ts_ms: int, settings: Settings) -> ReserveLow | ReserveRestored | None:
    """Start or end a "reserve low" episode: each starts once and ends once."""
    if not settings.reserve_hours:
        return None
    hours = hours_left(state, settings)
    in_use = reserve_in_use(state)
    if in_use and hours is None:
        return None  # no flow known yet: neither starts nor ends an episode
    low = in_use and hours is not None and hours < settings.reserve_hours
    if low and not state.get("low"):
        state["low"] = True
        return ReserveLow(ts_ms, hours or 0.0)
    # The flow wavers with the readings' noise: an episode ends only well clear of the threshold.
    clear = not in_use or (hours is not None and hours >= settings.reserve_hours * (1 + EPISODE_MARGIN))
    if clear and state.get("low"):
        state["low"] = False
        return ReserveRestored(ts_ms)
    return None


def hours_left(state: dict[str, Any], settings: Settings) -> float | None:
    """Return how long the usable gas lasts at the present flow, in hours (None: unknown or no flow)."""
    flow = flow_lpm(state)
    left = remaining_l(state, settings)
    if flow is None or left is None or flow <= 0:
        return None
    return left / flow / 60


def _step(state: dict[str, Any], bank: str, ts_ms: int, value: float,
          settings: Settings) -> Changeover | Replaced | None:
    seen = state["banks"][bank]
    seen["last"], seen["last_ms"] = value, ts_ms
    if bank == state["active"]:
        return None
    if seen["rest"] is None:
        seen["rest"], seen["rest_ms"] = value, ts_ms
        return None
    full = settings.full_bar
    if value >= seen["rest"] + REFILL_FRACTION * full:
        was_emptied = seen["emptied"]
        seen.update(rest=value, rest_ms=ts_ms, fall=None, emptied=False)
        return Replaced(ts_ms, bank) if was_emptied else None
    if value >= seen["rest"] - REST_FRACTION * full:
        if value >= seen["rest"]:
            seen["rest"] = value
        seen["rest_ms"], seen["fall"] = ts_ms, None
        return None
    if seen["emptied"]:
        return None  # an emptied bank creeping down is not in use
    if seen["fall"] is None:
        seen["fall"] = [ts_ms, value]
    if value > seen["rest"] - CONFIRM_FRACTION * full:
        return None
    return _switch(state, bank, ts_ms, settings)


def _switch(state: dict[str, Any], bank: str, ts_ms: int, settings: Settings) -> Changeover | None:
    """Make ``bank`` the one in use; return the changeover if another bank was in use before."""
    seen = state["banks"][bank]
    previous = state["active"]
    first_ms, first_bar = seen["fall"]
    rate = _fall_rate(state, seen, ts_ms)
    started = first_ms - (seen["rest"] - first_bar) / rate if rate > 0 else seen["rest_ms"]
    lower = seen["rest_ms"] if previous is None else state["since_ms"]
    at_ms = round(min(first_ms, max(lower, started)))
    event = None
    if previous is not None:
        emptied = state["banks"][previous]
        litres = (state["since_bar"] - emptied["last"]) * settings.litres_per_bar
        state["drawn_l"] += litres
        emptied.update(rest=emptied["last"], rest_ms=emptied["last_ms"], fall=None, emptied=True)
        event = Changeover(at_ms, previous, litres, ts_ms)
    # The emptied bank's flat readings after the switch are not a pause in the flow: the new bank
    # gave the gas meanwhile, and its first point below carries it.
    state["flow"] = [point for point in state["flow"] if point[0] <= at_ms]
    state["active"], state["since_bar"], state["since_ms"] = bank, seen["rest"], at_ms
    seen.update(fall=None, emptied=False)
    return event


def _fall_rate(state: dict[str, Any], seen: dict[str, Any], ts_ms: int) -> float:
    """Return bar per ms: the emptied bank's fall over its stint, else the new bank's own fall so far."""
    previous = state["active"]
    if previous is not None:
        emptied = state["banks"][previous]
        span = emptied["last_ms"] - state["since_ms"]
        if span > 0 and state["since_bar"] > emptied["last"]:
            return (state["since_bar"] - emptied["last"]) / span
    first_ms, first_bar = seen["fall"]
    if ts_ms > first_ms:
        return (first_bar - seen["last"]) / (ts_ms - first_ms)
    return 0.0


def _note_flow(state: dict[str, Any], ts_ms: int, settings: Settings) -> None:
    points = state["flow"]
    points.append([ts_ms, drawn_now(state, settings)])
    while len(points) > 2 and points[1][0] <= ts_ms - FLOW_WINDOW_MS:
        points.pop(0)


def flow_lpm(state: dict[str, Any]) -> float | None:
    """Return the flow (litres a minute) over the latest readings of the bank in use, if known."""
    points = state.get("flow") or []
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    return (points[-1][1] - points[0][1]) / ((points[-1][0] - points[0][0]) / 60_000)


def remaining_l(state: dict[str, Any], settings: Settings) -> float | None:
    """Return the usable gas left: the bank in use down to the changeover pressure, plus a full reserve."""
    active = state["active"]
    if active is None:
        return None
    total = 0.0
    for bank in BANKS:
        seen = state["banks"][bank]
        if seen["last"] is None or (bank != active and seen["emptied"]):
            continue
        total += max(0.0, seen["last"] - settings.changeover_bar) * settings.litres_per_bar
    return total


def reserve_in_use(state: dict[str, Any]) -> bool:
    """Return True while the bank in use is the last: the other was emptied and not replaced."""
    active = state["active"]
    return active is not None and state["banks"][other(active)]["emptied"]
