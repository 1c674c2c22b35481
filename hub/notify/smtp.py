"""E-mail notifications over SMTP (``smtplib``), with STARTTLS or implicit TLS.

An alert goes on a connection of its own: alerts are rare, and a fresh connection never trips
over a server that dropped an idle one. Notice e-mails come in batches and share one
(:class:`SmtpSession`), which spares a connect, greeting, TLS handshake and login per message.
With ``security = "starttls"`` a server that does not offer STARTTLS is an error, never a
silent fall-back to plain text.

An alert is written in each recipient's language: :meth:`EmailNotifier.send` takes the language
of each address (the dispatcher looks them up: the account with that address, else the alert's
site, else the hub's ``default_locale``) and sends one message per language.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable, Mapping, Sequence

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

    def message(self, note: Notification, locale: str | None = None, to: Sequence[str] | None = None) -> EmailMessage:
        """Return the e-mail for ``note`` in ``locale``, to ``to`` (default: every recipient)."""
        msg = EmailMessage()
        msg["Subject"] = note.subject_in(locale)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to if to is None else to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        msg["X-Wardlink-Alert"] = str(note.alert_id)
        msg["X-Wardlink-Event"] = note.event
        if note.severity == "critical" and note.event in ("opened", "escalated"):
            msg["Importance"] = "high"
        msg.set_content(note.text(locale))
        if locale:
            msg["Content-Language"] = locale
        return msg

    def send(self, note: Notification, languages: Mapping[str, str] | None = None) -> str:
        """Deliver ``note``, one message per language of the recipients (``languages``: address ->
        locale; an address not in it reads the language of the alert's site, else the source
        language); raise :class:`NotifyError` (retry) or :class:`DeliveryRejected`."""
        groups: dict[str | None, list[str]] = {}
        for address in self.to:
            groups.setdefault((languages or {}).get(address, note.language), []).append(address)
        if len(groups) == 1:
            [(locale, to)] = groups.items()
            return self.deliver(self.message(note, locale, to), len(to))
        with self.session() as session:
            return "; ".join(f"{locale}: {session.deliver(self.message(note, locale, to), len(to))}"
                             for locale, to in groups.items())

    def connect(self) -> smtplib.SMTP:
        """Return a connection to this notifier's server, greeted, secured and logged in as configured."""
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise NotifyError(f"{self.host}:{self.port} does not offer STARTTLS; refusing to "
                                      "send in plain text (set security = \"none\" only on a trusted link)")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def session(self) -> SmtpSession:
        """Return a session that sends several messages over one connection (close it after use)."""
        return SmtpSession(self)

    def deliver(self, msg: EmailMessage, count: int = 1) -> str:
        """Send a ready message to the recipients in its headers through this notifier's server,
        on a connection of its own; raise :class:`NotifyError` (retry) or :class:`DeliveryRejected`."""
        with self.session() as session:
            return session.deliver(msg, count)

    def close(self) -> None:
        """Nothing is held between messages."""


class SmtpSession:
    """Several messages over one connection to a notifier's server.

    The connection is opened for the first message and kept while the server answers. A refusal
    of one message (the server said no to its sender, recipients or content) leaves it usable:
    ``smtplib`` resets the transaction. Any other error drops it, and the next message opens a new
    one; a message that failed on a connection kept from earlier messages (the server may have
    closed it meanwhile) is tried once more on a fresh one before the error is reported.
    """

    def __init__(self, notifier: EmailNotifier) -> None:
        self.notifier = notifier
        self._smtp: smtplib.SMTP | None = None
        self.connections = 0  # opened so far

    def deliver(self, msg: EmailMessage, count: int = 1) -> str:
        """Send a ready message; raise :class:`NotifyError` (retry) or :class:`DeliveryRejected`."""
        reused = self._smtp is not None
        try:
            return self._deliver(msg, count)
        except NotifyError:
            if not reused or self._smtp is not None:
                raise
        return self._deliver(msg, count)

    def _deliver(self, msg: EmailMessage, count: int) -> str:
        where = f"{self.notifier.host}:{self.notifier.port}"
        try:
            if self._smtp is None:
                self._smtp = self.notifier.connect()
                self.connections += 1
            refused = self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryRejected(f"every recipient refused: {_codes(exc.recipients)}") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if exc.smtp_code == 421:  # the server is closing the connection
                self.close()
            error = DeliveryRejected if 500 <= exc.smtp_code < 600 else NotifyError
            raise error(f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise NotifyError(f"SMTP login refused ({exc.smtp_code}); check username and password_file") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            error = DeliveryRejected if 500 <= exc.smtp_code < 600 else NotifyError
            raise error(f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            self.close()
            if isinstance(exc, NotifyError):
                raise
            raise NotifyError(f"cannot send via {where}: {exc.__class__.__name__}: {exc}") from None
        if refused:
            return f"sent; refused by {_codes(refused)}"
        return f"sent to {count} recipient(s)"

    def close(self) -> None:
        """Say goodbye to the server and close the connection; idempotent."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _codes(recipients: dict) -> str:
    return ", ".join(f"{addr} ({code})" for addr, (code, _msg) in recipients.items())
