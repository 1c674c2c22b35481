"""Injectable clocks, so rules, schedulers and buffers never read the wall clock directly.

Tests pass a :class:`ManualClock` and advance it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What Wardlink needs from a clock."""

    def now(self) -> float:
        """Return wall-clock time as seconds since the Unix epoch (UTC)."""

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds, for measuring durations."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def now_ms(self) -> int:
        """Return wall-clock time in whole milliseconds since the epoch."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        # Default start: 2026-01-01T00:00:00Z, a fixed instant so test output is stable.
        self._now = float(start)
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current manual time in epoch seconds."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Return the manual monotonic reading."""
        with self._lock:
            return self._mono

    def now_ms(self) -> int:
        """Return the current manual time in whole milliseconds."""
        with self._lock:
            return round(self._now * 1000)

    def advance(self, seconds: float) -> None:
        """Move both wall and monotonic time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards by {seconds} s")
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def set(self, epoch_seconds: float) -> None:
        """Jump wall time (as NTP might); monotonic time is not affected."""
        with self._lock:
            self._now = float(epoch_seconds)


def now_ms(clock: Clock) -> int:
    """Return ``clock``'s wall time in whole milliseconds since the epoch."""
    return round(clock.now() * 1000)
