"""Exceptions raised by notifiers."""

from wardlink.hub.errors import HubError


class NotifyError(HubError, OSError):
    """A notification could not be delivered now; delivery is retried later."""


class DeliveryRejected(NotifyError):
    """The receiver refused the notification itself; retrying the same one will fail again."""
