"""E-mail notifications over SMTP (``smtplib``), with STARTTLS or implicit TLS.

One connection per message: alerts are rare, and a fresh connection never trips over a
server that dropped an idle one. With ``security = "starttls"`` a server that does not offer
STARTTLS is an error, never a silent fall-back to plain text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable, Sequence

from wardlink.hub.notify.errors import DeliveryRejected, NotifyError
from wardlink.hub.services.alerts.notifications import Notification

SECURITY = ("none", "starttls", "ssl")
DEFAULT_EVENTS = frozenset({"opened", "historical", "escalated", "resolved"})


class EmailNotifier:
    """Send each notification as a plain-text e-mail to a fixed list of recipients."""

    kind = "email"

    def __init__(self, name: str, *, host: str, sender: str, to: Sequence[str], port: int = 25,
                 security: str = "none", username: str | None = None, password: str | None = None,
                 timeout_s: float = 10.0, ca_file: str | None = None,
                 events: Iterable[str] = DEFAULT_EVENTS) -> None:
        if security not in SECURITY:
            raise ValueError(f"security: must be one of {', '.join(SECURITY)}, got {security!r}")
        if username and password is None:
            raise ValueError("password: required when a username is given")
        self.name = name
        self.host, self.port, self.security = host, port, security
        self.sender, self.to = sender, list(to)
        self.username, self._password = username, password
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        self.events = frozenset(events)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def message(self, note: Notification) -> EmailMessage:
        """Return the e-mail for ``note``."""
        msg = EmailMessage()
        msg["Subject"] = note.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        msg["X-Wardlink-Alert"] = str(note.alert_id)
        msg["X-Wardlink-Event"] = note.event
        if note.severity == "critical" and note.event in ("opened", "escalated"):
            msg["Importance"] = "high"
        msg.set_content(note.text())
        return msg

    def send(self, note: Notification) -> str:
        """Deliver ``note``; raise :class:`NotifyError` (retry) or :class:`DeliveryRejected`."""
        return self.deliver(self.message(note), len(self.to))

    def deliver(self, msg: EmailMessage, count: int = 1) -> str:
        """Send a ready message to the recipients in its headers through this notifier's server;
        raise :class:`NotifyError` (retry) or :class:`DeliveryRejected`."""
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise NotifyError(f"{self.host}:{self.port} does not offer STARTTLS; refusing to "
                                          "send in plain text (set security = \"none\" only on a trusted link)")
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryRejected(f"every recipient refused: {_codes(exc.recipients)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"SMTP login refused ({exc.smtp_code}); check username and password_file") from None
        except smtplib.SMTPResponseException as exc:
            error = DeliveryRejected if 500 <= exc.smtp_code < 600 else NotifyError
            raise error(f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            if isinstance(exc, NotifyError):
                raise
            raise NotifyError(f"cannot send via {self.host}:{self.port}: {exc.__class__.__name__}: {exc}") from None
        if refused:
            return f"sent; refused by {_codes(refused)}"
        return f"sent to {count} recipient(s)"

    def close(self) -> None:
        """Nothing is held between messages."""


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _codes(recipients: dict) -> str:
    return ", ".join(f"{addr} ({code})" for addr, (code, _msg) in recipients.items())
