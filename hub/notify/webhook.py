"""Webhook notifications: the notification as JSON, POSTed with retries and backoff.

Connection errors, timeouts, 408, 429 and 5xx answers are retried ``retries`` times, waiting
``backoff_s``, then twice that, and so on up to ``max_backoff_s`` (a ``Retry-After`` header
in seconds is honoured within that bound). Other 4xx answers mean the receiver refuses this
payload: no retry. With a ``secret``, each request carries
``X-Wardlink-Signature: sha256=<HMAC-SHA256 of the body>`` so the receiver can check origin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Callable, Iterable, Mapping

import requests

from wardlink.hub.notify.errors import DeliveryRejected, NotifyError
from wardlink.hub.services.alerts.notifications import Notification
from wardlink.retry import Backoff

RETRY_STATUSES = frozenset({408, 429})
ALL_EVENTS = frozenset({"opened", "historical", "escalated", "acknowledged", "shelved", "resolved"})


class WebhookNotifier:
    """POST each notification's JSON payload to ``url``."""

    kind = "webhook"

    def __init__(self, name: str, *, url: str, headers: Mapping[str, str] | None = None,
                 secret: str | None = None, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 1.0, max_backoff_s: float = 30.0, events: Iterable[str] = ALL_EVENTS,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: must be an http:// or https:// URL, got {url!r}")
        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError("retries and backoff_s must be >= 0 and timeout_s > 0")
        self.name = name
        self.url = url
        self.headers = dict(headers or {})
        self._secret = secret.encode() if secret else None
        self.timeout_s, self.retries = timeout_s, retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._backoff = Backoff(backoff_s)
        self.events = frozenset(events)
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._sleep = sleep
        self.attempts = 0  # HTTP requests made, for the status page

    def _request_headers(self, body: bytes, note: Notification) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "wardlink-hub",
                   "X-Wardlink-Event": note.event, **self.headers}
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Wardlink-Signature"] = f"sha256={digest}"
        return headers

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        delay = self._backoff.ceiling(attempt)
        if response is not None:
            try:
                delay = max(delay, float(response.headers.get("Retry-After", "")))
            except ValueError:
                pass  # an HTTP date, or garbage: keep our own backoff
        return min(delay, self.max_backoff_s)

    def send(self, note: Notification) -> str:
        """POST ``note``; raise :class:`NotifyError` after the retries, :class:`DeliveryRejected` on 4xx."""
        body = json.dumps(note.to_webhook(), separators=(",", ":"), allow_nan=False).encode()
        headers = self._request_headers(body, note)
        error = "no attempt made"
        for attempt in range(self.retries + 1):
            response = None
            self.attempts += 1
            try:
                response = self._session.post(self.url, data=body, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return f"HTTP {status} after {attempt + 1} attempt(s)"
                error = f"HTTP {status} {response.reason or ''}".rstrip()
                if status < 500 and status not in RETRY_STATUSES:
                    raise DeliveryRejected(f"{self.url} refused the notification: {error}")
            if attempt < self.retries:
                self._sleep(self._delay(attempt, response))
        raise NotifyError(f"{self.url}: {error} (after {self.retries + 1} attempts)")

    def close(self) -> None:
        """Close the HTTP session if this notifier made it; idempotent."""
        if self._owns_session:
            self._session.close()
