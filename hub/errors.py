"""Exceptions raised by the hub."""

from wardlink.errors import WardlinkError


class HubError(WardlinkError):
    """Root of hub errors."""


class ConfigError(HubError, ValueError):
    """A setting is missing or has a value that is not allowed; the message names the key."""


class StoreError(HubError, OSError):
    """A telemetry or relational store could not be reached or refused a write."""


class PermissionDenied(HubError, PermissionError):
    """The acting user's role does not allow this action."""


class NotFound(HubError, LookupError):
    """The requested entity does not exist."""


class InvalidInput(HubError, ValueError):
    """Input data was rejected; the message says which field and why."""
