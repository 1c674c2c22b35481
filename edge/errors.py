"""Exceptions raised by the gateway runtime.

Each class derives from :class:`EdgeError` and from the builtin that best describes it.
"""

from __future__ import annotations

from wardlink.errors import WardlinkError


class EdgeError(WardlinkError):
    """Base class of every error the gateway runtime raises."""


class ConfigError(EdgeError, ValueError):
    """The gateway configuration is invalid; ``problems`` lists every offending key."""

    def __init__(self, problems: list[str] | str, *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            text = head + f"{len(self.problems)} problems:\n  " + "\n  ".join(self.problems)
        super().__init__(text)


class CredentialsError(ConfigError, PermissionError):
    """The broker credentials file is missing, unreadable, too permissive or malformed."""


class StoreError(EdgeError, OSError):
    """The buffer database cannot be used (disk full, corrupt, unwritable)."""


class StoreFullError(StoreError):
    """SQLite reported SQLITE_FULL even after the oldest telemetry was dropped."""


class BrokerError(EdgeError, ConnectionError):
    """The MQTT broker refused us or could not be reached."""


class CommandError(EdgeError, ValueError):
    """A command from the hub cannot be carried out."""


__all__ = [
    "BrokerError",
    "CommandError",
    "ConfigError",
    "CredentialsError",
    "EdgeError",
    "StoreError",
    "StoreFullError",
]
