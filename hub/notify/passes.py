"""A background thread that runs one delivery pass now and then: every ``poll_s`` seconds, or
at once when kicked (after new rows were committed). The alert dispatcher and the notice mailer
both deliver this way; a pass that raises is logged and the next one runs as usual."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from wardlink.hub.notify.pacing import lower_priority


class PassThread:
    """Run ``run_pass`` in a daemon thread named ``name`` until stopped; with ``nice`` > 0 the
    thread runs at that lower CPU priority (:func:`~wardlink.hub.notify.pacing.lower_priority`)."""

    def __init__(self, name: str, run_pass: Callable[[], object], log: logging.Logger, *, nice: int = 0) -> None:
        self.name = name
        self.nice = nice
        self._run_pass = run_pass
        self._log = log
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def stopping(self) -> bool:
        """Return True once :meth:`stop` was called: a long pass should wind up."""
        return self._stop.is_set()

    @property
    def native_id(self) -> int | None:
        """Return the operating system's id of the running thread (None when not running)."""
        thread = self._thread
        return thread.native_id if thread is not None else None

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopped meanwhile; return False when stopping."""
        return not self._stop.wait(seconds) if seconds > 0 else not self._stop.is_set()

    def kick(self) -> None:
        """Run the next pass now."""
        self._wake.set()

    def start(self, poll_s: float) -> None:
        """Start the thread (idempotent): a pass every ``poll_s`` seconds or when kicked."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            if self.nice > 0:
                lower_priority(self.nice)
            while not self._stop.is_set():
                try:
                    self._run_pass()
                except Exception:
                    self._log.exception("%s pass failed", self.name)
                self._wake.wait(poll_s)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current pass; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)
