"""Give the asyncio side of the gateway a buffer that runs on a thread of its own.

SQLite calls block (a commit with ``synchronous=FULL`` waits for fsync), so they must not run
on the event loop; one worker thread also serialises every access to the connection, which
the forwarder's reasoning about row ids relies on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from typing import Any, Callable

from wardlink.edge.buffer import Buffer
from wardlink.edge.errors import StoreError


class Store:
    """Run :class:`wardlink.edge.buffer.Buffer` methods on one dedicated thread."""

    def __init__(self, buffer: Buffer) -> None:
        self.buffer = buffer
        self._pool: concurrent.futures.ThreadPoolExecutor | None = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="buffer")

    def _thread(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            raise StoreError("the buffer is closed")
        return pool

    async def call(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
        """Run ``buffer.fn(*args)`` (or a callable taking the buffer) on the buffer thread."""
        target = getattr(self.buffer, fn) if isinstance(fn, str) else functools.partial(fn, self.buffer)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread(), functools.partial(target, *args, **kwargs))

    def call_sync(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``buffer.fn(*args)`` on the buffer thread and wait for it (for non-async callers)."""
        return self._thread().submit(getattr(self.buffer, fn), *args, **kwargs).result()

    async def open(self) -> None:
        """Open the buffer on its thread."""
        await self.call("open")

    async def close(self) -> None:
        """Close the buffer and stop the thread; idempotent."""
        if self._pool is None:
            return
        try:
            await self.call("close")
        finally:
            self._pool.shutdown(wait=True)
            self._pool = None
