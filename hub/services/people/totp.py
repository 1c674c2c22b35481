"""Time-based one-time passwords (RFC 6238, HOTP of RFC 4226 over 30-second steps).

Pure functions: no database, no clock of their own. The secret is random bytes, written in
base32 without padding, as authenticator apps expect in an ``otpauth://`` URI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

#: Seconds per step (RFC 6238's X) and digits per code: what every authenticator app uses.
STEP_S = 30
DIGITS = 6
#: Steps either side of now a code may come from, for a phone clock a little off.
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length for HMAC-SHA1

_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_secret() -> str:
    """Return a new random secret, base32 without padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def secret_bytes(secret: str) -> bytes:
    """Return the key a base32 secret stands for (spaces and case ignored)."""
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """Return the HOTP code of ``key`` at ``counter`` (RFC 4226 section 5.3)."""
    mac = hmac.new(key, struct.pack(">Q", counter), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step_at(unix_s: float) -> int:
    """Return the time step a moment falls in."""
    return int(unix_s // STEP_S)


def code_at(secret: str, unix_s: float) -> str:
    """Return the code an authenticator shows at ``unix_s``."""
    return hotp(secret_bytes(secret), step_at(unix_s))


def matching_step(secret: str, code: str, unix_s: float, *, after: int | None = None) -> int | None:
    """Return the step whose code is ``code`` within the drift window, or None.

    Steps at or before ``after`` (the last step already used) never match, so a code seen
    over someone's shoulder cannot be used again.
    """
    code = (code or "").replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = secret_bytes(secret)
    now = step_at(unix_s)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """Return the ``otpauth://totp/...`` URI an authenticator app reads from a QR code."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_S})
    return f"otpauth://totp/{label}?{query}"
