"""The one retry/backoff helper: exponential delays with a cap, optional jitter, a stop event.

:class:`Backoff` computes the delays (``initial``, twice that, ... up to ``maximum``); with
``jitter=True`` each delay is "equal jitter" (half fixed, half random), so a ward of gateways
does not retry in lockstep. :func:`retry` runs a step until it succeeds, sleeping the delays
between attempts; the sleep is injectable (tests pass a fake clock's sleep) and a
``threading.Event`` given as ``stop`` ends the wait at once.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

#: Exponents beyond this are capped anyway; it keeps 2**attempt a small number.
_MAX_EXPONENT = 30


class RetryAborted(Exception):
    """The stop event was set while waiting to retry."""


class Backoff:
    """Exponential delays ``initial * 2**attempt`` capped at ``maximum``, optionally jittered."""

    def __init__(self, initial: float, maximum: float | None = None, *, jitter: bool = False,
                 rng: random.Random | None = None) -> None:
        if initial < 0 or (maximum is not None and maximum < 0):
            raise ValueError("backoff delays must be >= 0")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.attempt = 0
        # Seeding a generator reads the OS entropy pool: only a jittered backoff needs one.
        self._rng = rng or (random.Random() if jitter else None)

    def ceiling(self, attempt: int) -> float:
        """Return the un-jittered delay after ``attempt`` failures (0 = the first retry)."""
        delay = self.initial * (2 ** min(max(0, attempt), _MAX_EXPONENT))
        return delay if self.maximum is None else min(self.maximum, delay)

    def next(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        ceiling = self.ceiling(self.attempt)
        self.attempt += 1
        if self._rng is None or not self.jitter:
            return ceiling
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self.attempt = 0


def wait_or_sleep(delay: float, stop: threading.Event | None,
                  sleep: Callable[[float], object] | None) -> bool:
    """Wait ``delay`` s; return True if ``stop`` was set (before or meanwhile)."""
    if sleep is not None:
        sleep(delay)
        return stop is not None and stop.is_set()
    if stop is not None:
        return stop.wait(delay)
    time.sleep(delay)
    return False


def retry(step: Callable[[], T], backoff: Backoff, *, retry_on: type[BaseException] | tuple = Exception,
          attempts: int | None = None, stop: threading.Event | None = None,
          sleep: Callable[[float], object] | None = None,
          on_error: Callable[[BaseException, int], None] | None = None,
          delay_for: Callable[[BaseException, float], float] | None = None) -> T:
    """Return ``step()``, retrying it while it raises ``retry_on``.

    At most ``attempts`` calls (None: until it succeeds or ``stop`` is set). ``on_error(exc, n)``
    hears of each failure (n counts from 1) and may raise to end early. ``delay_for(exc, delay)``
    may adjust a delay (e.g. to honour a server's Retry-After). After the last attempt the last
    error is raised; a set ``stop`` raises :class:`RetryAborted`. The backoff starts afresh.
    """
    backoff.reset()
    failures = 0
    while True:
        try:
            return step()
        except retry_on as exc:
            failures += 1
            if on_error is not None:
                on_error(exc, failures)
            if attempts is not None and failures >= attempts:
                raise
            delay = backoff.next()
            if delay_for is not None:
                delay = delay_for(exc, delay)
            if wait_or_sleep(delay, stop, sleep):
                raise RetryAborted(f"stopped while retrying after {failures} failure(s)") from exc
