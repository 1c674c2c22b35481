"""Exceptions raised by the provisioning tools."""

from __future__ import annotations

import functools
import sys

from wardlink.errors import WardlinkError


class ProvisioningError(WardlinkError):
    """Root of every provisioning error; catch this to catch any of them."""


class SettingError(ProvisioningError, ValueError):
    """An argument or setting has a value that is not allowed; the message names it."""


class BrokerError(ProvisioningError, ConnectionError):
    """The broker could not be reached or refused the administrative connection."""


class DynsecCommandError(ProvisioningError, RuntimeError):
    """The dynamic security plugin answered a command with an error."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"dynamic security command {command} failed: {error}")
        self.command = command
        self.error = error


class IdentityNotFound(ProvisioningError, LookupError):
    """The broker identity named does not exist."""


class GrafanaError(ProvisioningError, RuntimeError):
    """Grafana refused or failed a provisioning request."""


def guarded(fn):
    """Wrap a command function: its :class:`ProvisioningError` becomes one line on standard
    error and exit status 2; otherwise its status (0 for None)."""
    @functools.wraps(fn)
    def wrapper(args) -> int:
        try:
            return fn(args) or 0
        except ProvisioningError as exc:
            print(f"wardlink: {exc}", file=sys.stderr)
            return 2

    return wrapper
