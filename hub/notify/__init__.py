"""Notifications about alerts: e-mail (SMTP), webhooks (JSON POST) and gateway commands (MQTT).

- :class:`~wardlink.hub.services.alerts.notifications.Notification`: what is said, built from an alert by
  the rules engine and kept in the outbox.
- Notifiers, one per channel, each with ``send(notification)`` that raises
  :class:`~wardlink.hub.notify.errors.NotifyError` on failure: :class:`~wardlink.hub.notify.smtp.EmailNotifier`,
  :class:`~wardlink.hub.notify.webhook.WebhookNotifier`, :class:`~wardlink.hub.notify.gateway.GatewayCommandNotifier`.
- :func:`~wardlink.hub.notify.config.build_notifiers`: notifier targets from the rules file's
  ``[notifiers.NAME]`` tables (table of types -> classes), validated at start-up.
- :class:`~wardlink.hub.notify.dispatcher.Dispatcher`: delivers the ``notification_outbox`` rows the
  rules engine writes, with retries and backoff; failures are logged and counted, never raised.
"""
