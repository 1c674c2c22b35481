"""Small asyncio helpers shared by the gateway's loops."""

from __future__ import annotations

import asyncio
from typing import Iterable


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; return True if it was set.

    ``asyncio.wait_for(event.wait(), t)`` is not used on purpose: on Python 3.11 it swallows a
    cancellation that arrives while the event is being set, and a loop written around it then
    never stops. ``asyncio.timeout`` keeps the cancellation.
    """
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def await_ended(tasks: Iterable[asyncio.Task]) -> None:
    """Wait until each of ``tasks`` (cancelled or told to stop) has ended, whatever its outcome."""
    for task in tasks:
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
