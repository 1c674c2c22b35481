"""What a notification says: :class:`hub.services.notifications.Notification`, which the
rules engine writes to the outbox and the notifiers here send."""

from hub.services.notifications import Notification

__all__ = ["Notification"]
