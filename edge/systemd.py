"""systemd's notification protocol without libsystemd: ready, watchdog, stopping.

A notification is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket named
by ``$NOTIFY_SOCKET`` (a file path, or a name in the abstract namespace when it starts with
``@``). Without the variable every call does nothing, so the gateway behaves the same
outside systemd. Sending never raises: systemd going away must not stop the sampling.

:class:`Watchdog` pets systemd's watchdog (``WatchdogSec=`` in the unit, ``$WATCHDOG_USEC``
in the environment) at half its period, and only while a health check passes, so a gateway
whose sampling loop or forwarder died or whose commits stalled is killed and restarted
instead of lingering.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Callable, Mapping

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

    def __init__(self, notifier: Notifier, period_s: float, check: Callable[[], str | None]) -> None:
        self.notifier = notifier
        self.period_s = period_s
        self.check = check
        self.pets = 0
        self.problem: str | None = None

    def tick(self) -> bool:
        """Check once and pet the watchdog if healthy; return whether it was petted."""
        problem = self.check()
        if problem is not None:
            if problem != self.problem:
                log.error("not petting the systemd watchdog: %s; systemd will restart the gateway", problem)
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
