"""Stretches of use read from one channel's readings: pure, no clock and no database.

:func:`track` walks readings in time order from a saved state and returns the stretches that
ended, plus the state (with the stretch still running, if any). Under ``above`` the asset is in
use from the first reading above the threshold to the first reading at or below it; under
``advancing`` from the reading before the value grows to the first reading where it stops
growing. A failed read (no value) or a gap of more than ``gap_ms`` between two readings ends a
stretch at the last reading that showed use, so an outage is never counted as use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    """How a channel's readings say the asset is in use."""

    mode: str  # above | advancing
    threshold: float | None
    gap_ms: int


@dataclass(frozen=True)
class Stretch:
    """The asset was in use from ``start_ms`` to ``end_ms``."""

    start_ms: int
    end_ms: int


def new_state() -> dict[str, Any]:
    """Return the state of a channel never read: not in use."""
    return {"since": None, "seen": None, "last": None, "value": None}


def _in_use(settings: Settings, previous: float | None, value: float) -> bool:
    if settings.mode == "above":
        return settings.threshold is not None and value > settings.threshold
    return previous is not None and value > previous


def track(state: dict[str, Any], readings: Iterable[tuple[int, float | None]],
          settings: Settings) -> tuple[dict[str, Any], list[Stretch]]:
    """Apply ``readings`` ((ts_ms, value), oldest first) to ``state``; return it and the ended stretches.

    ``since`` is when the running stretch began (None: not in use), ``seen`` the newest reading
    that showed use, ``last`` and ``value`` the newest reading."""
    st = dict(state)
    ended: list[Stretch] = []
    for ts_ms, value in readings:
        if st["last"] is not None and ts_ms <= st["last"]:
            continue  # already seen
        gap = st["last"] is not None and ts_ms - st["last"] > settings.gap_ms
        if st["since"] is not None and (gap or value is None):
            ended.append(Stretch(st["since"], st["seen"]))
            st["since"] = None
        if value is None:
            st.update(last=ts_ms, value=None)
            continue
        previous = None if gap else st["value"]
        using = _in_use(settings, previous, value)
        if using and st["since"] is None:
            # A meter that advanced was running since the reading before.
            st["since"] = st["last"] if settings.mode == "advancing" else ts_ms
        elif not using and st["since"] is not None:
            ended.append(Stretch(st["since"], ts_ms))
            st["since"] = None
        if using:
            st["seen"] = ts_ms
        st.update(last=ts_ms, value=value)
    return st, ended
