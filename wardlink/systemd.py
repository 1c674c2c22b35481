"""systemd without libsystemd: the notification protocol, the watchdog, journald priorities.

A notification is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket named
by ``$NOTIFY_SOCKET`` (a file path, or a name in the abstract namespace when it starts with
``@``). Without the variable every call does nothing, so a process behaves the same outside
systemd. Sending never raises: systemd going away must not stop the work.

:class:`Watchdog` pets systemd's watchdog (``WatchdogSec=`` in the unit, ``$WATCHDOG_USEC``
in the environment) at half its period, and only while a health check passes, so a process
whose main loop died or wedged is killed and restarted instead of lingering. The gateway runs
it as an asyncio task (:meth:`Watchdog.run`), the hub's processes on a thread of their own
(:meth:`Watchdog.start_thread`); a :class:`Heartbeat` that the main loop beats on every turn
is the usual check.

Under systemd, standard error usually goes to the journal (``$JOURNAL_STREAM`` names it);
:func:`configure_logging` then starts every line with its syslog priority (``<3>`` for an
error, ``<4>`` a warning...), as sd-daemon(3) describes, so ``journalctl -p warning`` finds
the warnings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
from typing import Callable, Mapping, TextIO

from wardlink.clock import Clock, SystemClock

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """Return the socket address of a ``$NOTIFY_SOCKET`` value (abstract names start with NUL)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Send notifications to systemd; every method is a no-op without ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Return a notifier for this process's ``$NOTIFY_SOCKET`` (or a silent one)."""
        environ = os.environ if environ is None else environ
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """Return True when systemd listens for notifications."""
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=VALUE``) as one datagram; return whether it was sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(lines).encode() + b"\n", socket_address(self.address))
            return True
        except OSError as exc:
            if not self._warned:  # once: a log line per watchdog tick would flood the journal
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
                self._warned = True
            return False

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd the service is up."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Pet the watchdog."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Set the status line ``systemctl status`` shows."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """Tell systemd the service is shutting down."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket; idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_period(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Return the watchdog period in seconds systemd asks of this process, or None.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for; another
    process (a child that inherited the environment) must not pet it.
    """
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        period = int(usec) / 1_000_000
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    return period if period > 0 else None


class Watchdog:
    """Pet the watchdog every half period while ``check()`` returns None (healthy).

    ``check`` returns the reason the service is unhealthy, or None. While a reason stands
    the watchdog is not petted and the status line says why; systemd then kills and
    restarts the service once the period has run out.
    """

    def __init__(self, notifier: Notifier, period_s: float, check: Callable[[], str | None], *,
                 service: str = "the service") -> None:
        self.notifier = notifier
        self.period_s = period_s
        self.check = check
        self.service = service
        self.pets = 0
        self.ticks = 0  # checks made
        self.problem: str | None = None

    def tick(self) -> bool:
        """Check once and pet the watchdog if healthy; return whether it was petted."""
        problem = self.check()
        self.ticks += 1
        if problem is not None:
            if problem != self.problem:
                log.error("not petting the systemd watchdog: %s; systemd will restart %s", problem, self.service)
                self.notifier.status(f"unhealthy: {problem}")
            self.problem = problem
            return False
        if self.problem is not None:
            log.warning("healthy again; petting the systemd watchdog")
            self.notifier.status("running")
            self.problem = None
        self.pets += 1
        return self.notifier.watchdog()

    async def run(self) -> None:
        """Tick every half period until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(self.period_s / 2)

    def start_thread(self, stop: threading.Event) -> threading.Thread:
        """Tick every half period on a daemon thread until ``stop`` is set; return the thread."""

        def loop() -> None:
            while True:
                try:
                    self.tick()
                except Exception:  # a failing check must not end the thread: no pet is the answer
                    log.exception("systemd watchdog check failed")
                if stop.wait(self.period_s / 2):
                    return

        thread = threading.Thread(target=loop, name="systemd-watchdog", daemon=True)
        thread.start()
        return thread


class Heartbeat:
    """When a main loop last went round, judged on a clock's monotonic time.

    The loop calls :meth:`beat` on every turn; :meth:`problem` (a :class:`Watchdog` check)
    names how long it has been silent once that is over ``max_silence_s``.
    """

    def __init__(self, what: str, max_silence_s: float, clock: Clock | None = None) -> None:
        if max_silence_s <= 0:
            raise ValueError(f"max_silence_s: must be > 0, got {max_silence_s}")
        self.what = what
        self.max_silence_s = max_silence_s
        self.clock = clock or SystemClock()
        self._last = self.clock.monotonic()

    def beat(self) -> None:
        """Record that the loop went round now."""
        self._last = self.clock.monotonic()

    def silence_s(self) -> float:
        """Return the seconds since the last beat."""
        return max(0.0, self.clock.monotonic() - self._last)

    def problem(self) -> str | None:
        """Return why the loop counts as wedged, or None while it beats often enough."""
        silent = self.silence_s()
        if silent > self.max_silence_s:
            return f"{self.what} has not gone round for {silent:.0f} s"
        return None


# ------------------------------------------------------------------ journald


#: The syslog priority of each logging level: the ``<N>`` that starts a line under journald.
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
DEBUG_PRIORITY = 7


def syslog_priority(levelno: int) -> int:
    """Return the syslog priority (0 emergency .. 7 debug) of a logging level."""
    for level, priority in PRIORITIES:
        if levelno >= level:
            return priority
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """Start every line of a record with its syslog priority, e.g. ``<4>`` for a warning.

    journald stores each line of a stream as an entry of its own, so a traceback's lines
    carry the record's priority too.
    """

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines()) or prefix


def journal_attached(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Return True when ``stream`` (standard error) is the journal stream systemd named.

    ``$JOURNAL_STREAM`` is ``DEVICE:INODE`` of the stream systemd connected; a child whose
    standard error was redirected elsewhere inherits the variable but not the stream.
    """
    environ = os.environ if environ is None else environ
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    stream = sys.stderr if stream is None else stream
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def configure_logging(level: int, fmt: str, *, journal_fmt: str | None = None, stream: TextIO | None = None,
                      environ: Mapping[str, str] | None = None) -> logging.Handler:
    """Log ``level`` and above to ``stream`` (standard error) in ``fmt``; return the handler.

    Attached to the journal, lines use ``journal_fmt`` (default ``fmt``; journald stamps the
    time itself) behind their syslog priority (:class:`JournalFormatter`).
    """
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    if journal_attached(stream, environ):
        handler.setFormatter(JournalFormatter(journal_fmt or fmt))
    else:
        handler.setFormatter(logging.Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
    return handler
