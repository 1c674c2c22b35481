"""Notifications about alerts: e-mail (SMTP), webhooks (JSON POST) and gateway commands (MQTT).

- :class:`~hub.services.notifications.Notification`: what is said, built from an alert by
  the rules engine and kept in the outbox.
- Notifiers, one per channel, each with ``send(notification)`` that raises
  :class:`~hub.notify.errors.NotifyError` on failure: :class:`~hub.notify.smtp.EmailNotifier`,
  :class:`~hub.notify.webhook.WebhookNotifier`, :class:`~hub.notify.gateway.GatewayCommandNotifier`.
- :func:`~hub.notify.config.build_notifiers`: notifier targets from the rules file's
  ``[notifiers.NAME]`` tables (table of types -> classes), validated at start-up.
- :class:`~hub.notify.dispatcher.Dispatcher`: delivers the ``notification_outbox`` rows the
  rules engine writes, with retries and backoff; failures are logged and counted, never raised.
"""
