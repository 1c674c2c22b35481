"""Errors of the service layer that :mod:`wardlink.hub.errors` does not already name."""

from wardlink.hub.errors import HubError


class AuthenticationFailed(HubError, PermissionError):
    """The credentials were wrong, or belong to a disabled account; deliberately vague."""


class AccountLocked(AuthenticationFailed):
    """Too many failed logins: the account refuses every password until ``until``."""

    def __init__(self, message: str, until) -> None:
        super().__init__(message)
        self.until = until
