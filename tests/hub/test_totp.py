"""One-time passwords checked against the RFCs' own test vectors."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from wardlink.hub.services.people import totp

# RFC 4226 appendix D: the HOTP values of the ASCII secret "12345678901234567890", counters 0-9.
RFC4226 = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]

# RFC 6238 appendix B: time, then the 8-digit TOTP for SHA1, SHA256 and SHA512 (X = 30 s).
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
KEYS = {"SHA1": b"12345678901234567890", "SHA256": b"12345678901234567890123456789012",
        "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234"}


def test_hotp_matches_rfc_4226_appendix_d():
    assert [totp.hotp(KEYS["SHA1"], counter) for counter in range(10)] == RFC4226


@pytest.mark.parametrize("row", RFC6238, ids=lambda r: str(r[0]))
def test_totp_matches_rfc_6238_appendix_b(row):
    unix_s, *expected = row
    got = [totp.hotp(KEYS[alg], totp.step_at(unix_s), digits=8, algorithm=alg) for alg in ("SHA1", "SHA256", "SHA512")]
    assert got == expected


def test_a_base32_secret_gives_the_codes_of_its_key():
    secret = base64.b32encode(KEYS["SHA1"]).decode().rstrip("=")
    assert totp.code_at(secret, 1111111109) == "081804"  # the last six digits of the 8-digit vector
    assert totp.code_at(secret.lower(), 59) == "287082"


def test_codes_match_one_step_either_side_and_never_a_used_step_again():
    secret = totp.new_secret()
    now = 1_700_000_000.0
    step = totp.step_at(now)
    assert totp.matching_step(secret, totp.code_at(secret, now), now) == step
    assert totp.matching_step(secret, totp.code_at(secret, now - 30), now) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, now + 30), now) == step + 1
    assert totp.matching_step(secret, totp.code_at(secret, now - 60), now) is None
    assert totp.matching_step(secret, totp.code_at(secret, now), now, after=step) is None
    assert totp.matching_step(secret, "12345", now) is None
    assert totp.matching_step(secret, "abcdef", now) is None


def test_the_provisioning_uri_names_issuer_account_and_parameters():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", account="anna@icu", issuer="St Elsewhere")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/St%20Elsewhere:anna@icu")
    assert parse_qs(parts.query) == {"secret": ["JBSWY3DPEHPK3PXP"], "issuer": ["St Elsewhere"],
                                     "algorithm": ["SHA1"], "digits": ["6"], "period": ["30"]}
