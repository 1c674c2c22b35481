"""The typed object the app carries in ``app.extensions['wardlink']``."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Engine

from wardlink.hub.config import HubConfig
from wardlink.clock import Clock

EXTENSION = "wardlink"


@dataclass
class WebState:
    """Everything a request handler needs besides the request itself."""

    config: HubConfig
    engine: Engine
    clock: Clock
    telemetry: object | None
    owns_engine: bool = True
    closers: list = field(default_factory=list)

    def close(self) -> None:
        """Release what the app opened; idempotent."""
        while self.closers:
            self.closers.pop()()
        if self.owns_engine:
            self.engine.dispose()


def state() -> WebState:
    """Return the state of the current app."""
    return current_app.extensions[EXTENSION]
