"""Web security: the session signing key, CSRF tokens, security headers, rate limiting."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import threading
from collections import OrderedDict, deque
from pathlib import Path

from flask import Response, session

from wardlink.hub.config import HubConfig
from wardlink.hub.errors import ConfigError
from wardlink.clock import Clock

log = logging.getLogger("wardlink.web")

MIN_SECRET_BYTES = 32
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def load_secret_key(config: HubConfig) -> bytes:
    """Return the session signing key: from ``secret_key_file``, or generated into the data dir.

    A generated key is written with mode 0600 and reused on later starts, so sessions survive
    a restart and every worker process signs with the same key.
    """
    if config.secret_key_file:
        secret = config.read_secret("secret_key_file") or ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"secret_key_file: {config.secret_key_file} must hold at least "
                              f"{MIN_SECRET_BYTES} bytes of random text")
        return secret.encode()
    path = config.resolved_secret_key_path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_existing_key(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    log.info("generated a new session signing key in %s", path)
    return _read_existing_key(path)


def _read_existing_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is accessible to other users (mode %o); run: chmod 600 %s",
                    path, stat.S_IMODE(mode), path)
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"secret_key_file: {path} must hold at least {MIN_SECRET_BYTES} bytes "
                          "of random text; delete it to have a new one generated")
    return secret.encode()


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_valid(submitted: str | None) -> bool:
    """Return True when ``submitted`` matches this session's CSRF token."""
    expected = session.get(CSRF_FIELD)
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


def rotate_csrf() -> None:
    """Give the session a new CSRF token (after signing in or out)."""
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def add_security_headers(response: Response, *, https: bool, private: bool) -> Response:
    """Set the security headers on ``response``; ``private`` pages are never cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


class RateLimiter:
    """Allow at most ``limit`` events per key within ``window_s`` seconds (sliding window)."""

    def __init__(self, limit: int, window_s: float, clock: Clock, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one event for ``key``; return None if allowed, else seconds until allowed."""
        now = self._clock.monotonic()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window_s:
                events.popleft()
            self._events[key] = events
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)
            if len(events) >= self.limit:
                return max(0.0, events[0] + self.window_s - now)
            events.append(now)
            return None

    def reset(self, key: str) -> None:
        """Forget the events of ``key``."""
        with self._lock:
            self._events.pop(key, None)
