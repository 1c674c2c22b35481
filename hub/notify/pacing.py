"""Keep bulk delivery out of the way of people: a rate limit and a lower CPU priority.

A storm of notices (thousands queued in a minute) must not slow the pages and API requests
served on the same machine. The notice mailer therefore sends at most a configured number of
e-mails per second (:class:`TokenBucket`), however large the backlog, and its threads run at a
lower CPU priority (:func:`lower_priority`), so the kernel serves the web server first whenever
both want a core.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from wardlink.clock import Clock

log = logging.getLogger(__name__)

#: The niceness the mailer's threads run at (0 is normal, 19 the lowest priority). At 10 a
#: thread gets about a tenth of the CPU share of a normal one while both want a core; when the
#: CPU is idle it runs at full speed.
MAILER_NICE = 10


class TokenBucket:
    """Allow ``rate_per_s`` events a second on average, up to ``burst`` at once after a quiet spell.

    :meth:`reserve` takes one token and returns how long the caller must wait before using it
    (0.0 while tokens are left). Reserving ahead keeps the average exact with several threads
    taking turns: each wait is measured from the tokens the others already reserved. Time is
    read from ``clock`` (its monotonic reading).
    """

    def __init__(self, rate_per_s: float, *, clock: Clock, burst: float | None = None) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s: must be > 0, got {rate_per_s}")
        burst = rate_per_s if burst is None else burst
        if burst < 1:
            raise ValueError(f"burst: must be >= 1, got {burst}")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before acting on it."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s

    def refund(self) -> None:
        """Give back a token reserved but not used (the caller stopped before acting)."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1)


def lower_priority(nice: int = MAILER_NICE) -> bool:
    """Run the calling thread at niceness ``nice`` at least (never raise it); return True if done.

    On Linux the niceness belongs to each thread, so only the calling thread is affected; other
    systems apply it to the whole process, so there nothing is changed. A refusal is logged.
    """
    if sys.platform != "linux" or nice <= 0:
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))
    except OSError as exc:
        log.warning("cannot lower the CPU priority of thread %s to %d: %s", threading.current_thread().name,
                    nice, exc)
        return False
    return True
