"""The typed object the app carries in ``app.extensions['wardlink']``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Engine

from wardlink.hub.config import HubConfig
from wardlink.hub.services.people.directory import Directory
from wardlink.clock import Clock

EXTENSION = "wardlink"


class StatusCounts:
    """Responses answered, by status class (``2xx``...), counted by the app's outermost layer."""

    CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.CLASSES, 0)

    def count(self, status: int) -> None:
        key = f"{status // 100}xx"
        with self._lock:
            self._counts[key if key in self._counts else "5xx"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass
class WebState:
    """Everything a request handler needs besides the request itself."""

    config: HubConfig
    engine: Engine
    clock: Clock
    telemetry: object | None
    owns_engine: bool = True
    closers: list = field(default_factory=list)
    responses: StatusCounts = field(default_factory=StatusCounts)
    #: Roles that must sign in with a second factor (the ``two_factor_roles`` setting).
    two_factor_roles: frozenset[str] = frozenset()
    #: The directory server people sign in against (``ldap_url``), or None.
    directory: Directory | None = None

    def close(self) -> None:
        """Release what the app opened; idempotent."""
        while self.closers:
            self.closers.pop()()
        if self.owns_engine:
            self.engine.dispose()


def state() -> WebState:
    """Return the state of the current app."""
    return current_app.extensions[EXTENSION]
