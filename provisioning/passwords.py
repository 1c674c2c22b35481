"""Mosquitto password hashes and password files, byte-compatible with ``mosquitto_passwd``.

Mosquitto 2 stores ``<user>:$7$<iterations>$<base64 salt>$<base64 hash>``: PBKDF2-HMAC-SHA512,
a 12-byte random salt, a 64-byte derived key, 101 iterations as ``mosquitto_passwd`` writes.
The dynamic-security plugin keeps the same three parts as separate JSON fields.

The iteration count stays at Mosquitto's 101 on purpose: every CONNECT pays for it, and the
passwords Wardlink issues are 32 random bytes, which no amount of key stretching makes stronger.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from wardlink.provisioning.errors import IdentityNotFound, SettingError
from wardlink.provisioning.files import write_private

ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64
#: Prefix of a password-file line whose login is switched off; Mosquitto skips '#' lines.
DISABLED_PREFIX = "# disabled "


def generate_password() -> str:
    """Return a new random broker password (32 bytes, URL-safe base64)."""
    return secrets.token_urlsafe(32)


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Return the ``$7$`` hash of ``password`` as ``mosquitto_passwd`` writes it."""
    if not password:
        raise SettingError("password: must not be empty")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = _derive(password, salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Return True if ``password`` matches a ``$7$`` hash."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _derive(password, base64.b64decode(salt, validate=True), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def dynsec_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> dict:
    """Return the ``password``/``salt``/``iterations`` fields of a dynamic-security client."""
    _, _, its, salt_b64, digest_b64 = hash_password(password, salt=salt, iterations=iterations).split("$")
    return {"password": digest_b64, "salt": salt_b64, "iterations": int(its)}


@dataclass(slots=True)
class Entry:
    """One login of a password file."""

    username: str
    hashed: str
    enabled: bool = True

    def line(self) -> str:
        """Return the file line of this login."""
        return f"{'' if self.enabled else DISABLED_PREFIX}{self.username}:{self.hashed}"


class PasswordFile:
    """A Mosquitto password file: load, change logins, save atomically.

    Disabled logins stay in the file as comment lines, so re-enabling needs no new password
    and the file says who was switched off. Other comment lines are kept as they are.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lines: list[str | Entry] = []
        if self.path.exists():
            self._parse(self.path.read_text(encoding="utf-8"))

    def _parse(self, text: str) -> None:
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            enabled = True
            if line.startswith(DISABLED_PREFIX):
                line, enabled = line[len(DISABLED_PREFIX):], False
            elif not line or line.startswith("#"):
                self._lines.append(raw)
                continue
            username, sep, hashed = line.partition(":")
            if not sep or not username:
                raise SettingError(f"{self.path} line {n}: expected user:hash")
            self._lines.append(Entry(username, hashed, enabled))

    def entries(self) -> list[Entry]:
        """Return every login, enabled or not, in file order."""
        return [x for x in self._lines if isinstance(x, Entry)]

    def get(self, username: str) -> Entry | None:
        """Return the login ``username`` or None."""
        return next((e for e in self.entries() if e.username == username), None)

    def _require(self, username: str) -> Entry:
        entry = self.get(username)
        if entry is None:
            raise IdentityNotFound(f"{username}: no such login in {self.path}")
        return entry

    def set_password(self, username: str, password: str) -> None:
        """Add ``username`` or give it a new password; the login is enabled."""
        hashed = hash_password(password)
        entry = self.get(username)
        if entry is None:
            self._lines.append(Entry(username, hashed))
        else:
            entry.hashed, entry.enabled = hashed, True

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Switch the login ``username`` on or off."""
        self._require(username).enabled = enabled

    def remove(self, username: str) -> None:
        """Delete the login ``username``."""
        entry = self._require(username)
        self._lines.remove(entry)

    def verify(self, username: str, password: str) -> bool:
        """Return True if ``username`` is enabled and ``password`` is its password."""
        entry = self.get(username)
        return entry is not None and entry.enabled and verify_password(password, entry.hashed)

    def text(self) -> str:
        """Return the file content."""
        return "".join((x.line() if isinstance(x, Entry) else x) + "\n" for x in self._lines)

    def save(self) -> None:
        """Write the file atomically, keeping the mode and owner of an existing file (new: 0600)."""
        write_private(self.path, self.text())
