"""The one retry/backoff helper: exponential delays with a cap, optional jitter, a stop event.

:class:`Backoff` computes the delays (``initial``, twice that, ... up to ``maximum``); with
``jitter=True`` each delay is "equal jitter" (half fixed, half random), so a ward of gateways
does not retry in lockstep. :func:`retry` runs a step until it succeeds, sleeping the delays
between attempts; the sleep is injectable (tests pass a fake clock's sleep) and a
``threading.Event`` given as ``stop`` ends the wait at once.

:class:`OutageLog` says what is being retried, at a bounded rate: one WARNING line when a
server stops answering, naming it and the reason, a reminder at most every minute while it
stays away, and an INFO line when it answers again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, TypeVar

from wardlink.clock import Clock, SystemClock

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


class OutageLog:
    """Log an outage of one server at a bounded rate (thread-safe).

    ``subject`` names the process and the server, e.g. ``ingest wardlink-ingest-1: the broker
    at 10.0.0.5:8883``. :meth:`failed` logs the first failure at once and then at most one
    reminder every ``every_s`` seconds, with the attempts so far; :meth:`recovered` logs the
    end of an outage (and nothing when there was none). Every line is one line.
    """

    def __init__(self, logger: logging.Logger, subject: str, *, every_s: float = 60.0,
                 clock: Clock | None = None) -> None:
        self.logger = logger
        self.subject = subject
        self.every_s = every_s
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._since: float | None = None  # monotonic time of the first failure
        self._since_wall: float | None = None
        self._next = 0.0
        self._attempts = 0
        self.reason: str | None = None

    @property
    def down_since(self) -> float | None:
        """Return the wall-clock time (epoch seconds) the outage began, or None."""
        return self._since_wall

    def failed(self, reason: str) -> None:
        """Record a failed attempt; log it when it is the first or a reminder is due."""
        reason = " ".join(str(reason).split())
        now = self.clock.monotonic()
        with self._lock:
            self._attempts += 1
            self.reason = reason
            if self._since is None:
                self._since, self._since_wall = now, self.clock.now()
                self._next = now + self.every_s
                self.logger.warning("%s is unreachable: %s; retrying", self.subject, reason)
            elif now >= self._next:
                self._next = now + self.every_s
                self.logger.warning("%s is still unreachable after %d attempts in %.0f s: %s", self.subject,
                                    self._attempts, now - self._since, reason)

    def recovered(self) -> None:
        """Record a success; log the end of the outage if there was one."""
        with self._lock:
            if self._since is None:
                return
            down = self.clock.monotonic() - self._since
            attempts = self._attempts
            self._since = self._since_wall = None
            self._attempts = 0
            self.reason = None
        self.logger.info("%s answers again after %.0f s (%d failed attempts)", self.subject, down, attempts)
