"""Broker credentials, read from a file only its owner can read.

Format (either form; ``#`` starts a comment in the line form)::

    username = gw-icu-01          # TOML, strings quoted: username = "gw-icu-01"
    password = s3cret

There is no default secret: without a credentials file the gateway connects anonymously, and
that is allowed only to a broker on the loopback interface (the demo).
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from wardlink.edge.errors import CredentialsError

_KEYS = ("username", "password")


@dataclass(frozen=True)
class Credentials:
    """A user name and password for the broker."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"


def check_mode(path: Path) -> None:
    """Raise CredentialsError unless ``path`` is a regular file readable by its owner only."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CredentialsError(f"broker.credentials_file: {path} does not exist") from None
    except OSError as exc:
        raise CredentialsError(f"broker.credentials_file: cannot stat {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(f"broker.credentials_file: {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise CredentialsError(
            f"broker.credentials_file: {path} has mode {mode:04o}; it must be 0600 or 0400 "
            f"(run: chmod 600 {path})"
        )


def _parse_lines(text: str, path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise CredentialsError(f"broker.credentials_file: {path} line {n}: expected key=value")
        values[key.strip()] = value.strip()
    return values


def load_credentials(path: str | os.PathLike) -> Credentials:
    """Read and check a credentials file; raise CredentialsError naming what is wrong."""
    path = Path(path)
    check_mode(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"broker.credentials_file: cannot read {path}: {exc.strerror}") from None
    try:
        values = {k: v for k, v in tomllib.loads(text).items()}
    except tomllib.TOMLDecodeError:
        values = _parse_lines(text, path)
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise CredentialsError(
            f"broker.credentials_file: {path}: unknown key(s) {', '.join(unknown)}; allowed: username, password"
        )
    for key in _KEYS:
        value = values.get(key)
        if not isinstance(value, str) or not value:
            raise CredentialsError(f"broker.credentials_file: {path}: {key} is missing or empty")
    return Credentials(values["username"], values["password"])
