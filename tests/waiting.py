"""Waiting on a condition with a deadline, for tests that watch real processes and servers."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Return the first truthy value of ``predicate()``, polled every ``interval`` s for at most
    ``timeout`` s; raise AssertionError naming ``what`` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
