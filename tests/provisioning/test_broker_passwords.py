"""Password hashes exactly as mosquitto_passwd writes them, and the password file."""

from __future__ import annotations

import base64
import re
import shutil
import stat
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardlink.provisioning.errors import IdentityNotFound, SettingError
from wardlink.provisioning.passwords import PasswordFile, dynsec_password, hash_password, verify_password

# Written by `mosquitto_passwd -b pw alice secret` (Mosquitto 2.0.11).
MOSQUITTO_PASSWD_LINE = ("alice:$7$101$MlNwGctxcpKzmPAo$/4Q8Jn5URZId4UrRxbnWEXRG9uZTHTF2f/UautHin2k4VQ1KNdigxD"
                         "CNgYSsswB7ohEjjwJJJ0libzA4xgRLxQ==")


def test_hashing_with_the_same_salt_reproduces_mosquitto_passwd_byte_for_byte():
    _, hashed = MOSQUITTO_PASSWD_LINE.split(":", 1)
    salt = base64.b64decode(hashed.split("$")[3])
    assert hash_password("secret", salt=salt) == hashed
    assert verify_password("secret", hashed) and not verify_password("Secret", hashed)


def test_the_format_is_seven_101_iterations_12_byte_salt_64_byte_sha512():
    hashed = hash_password("pw")
    match = re.fullmatch(r"\$7\$101\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", hashed)
    assert match
    assert len(base64.b64decode(match.group(1))) == 12 and len(base64.b64decode(match.group(2))) == 64


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_hashes_from_the_installed_mosquitto_passwd_verify(tmp_path):
    path = tmp_path / "pw"
    path.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(path), "gw-1", "pässword with spaces"], check=True, timeout=30)
    assert PasswordFile(path).verify("gw-1", "pässword with spaces")


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_password_round_trips(password):
    assert verify_password(password, hash_password(password))


def test_dynsec_fields_are_the_same_three_parts():
    fields = dynsec_password("secret", salt=b"0123456789ab")
    assert fields["iterations"] == 101 and base64.b64decode(fields["salt"]) == b"0123456789ab"
    assert hash_password("secret", salt=b"0123456789ab") == f"$7$101${fields['salt']}${fields['password']}"


def test_disabling_keeps_the_hash_as_a_comment_and_enabling_restores_it(tmp_path):
    path = tmp_path / "pw"
    path.write_text("# site logins\n" + MOSQUITTO_PASSWD_LINE + "\n")
    passwords = PasswordFile(path)
    passwords.set_enabled("alice", False)
    passwords.save()
    assert path.read_text() == "# site logins\n# disabled " + MOSQUITTO_PASSWD_LINE + "\n"
    again = PasswordFile(path)
    assert not again.verify("alice", "secret")
    again.set_enabled("alice", True)
    again.save()
    assert path.read_text() == "# site logins\n" + MOSQUITTO_PASSWD_LINE + "\n"


def test_saving_keeps_an_existing_files_mode_and_makes_new_files_private(tmp_path):
    new = PasswordFile(tmp_path / "new")
    new.set_password("gw-1", "x")
    new.save()
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    shared = tmp_path / "shared"
    shared.write_text("")
    shared.chmod(0o640)
    passwords = PasswordFile(shared)
    passwords.set_password("gw-1", "x")
    passwords.save()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_errors_name_the_line_and_the_login(tmp_path):
    path = tmp_path / "pw"
    path.write_text("good:$7$101$a$b\nno-colon-here\n")
    with pytest.raises(SettingError, match="line 2: expected user:hash"):
        PasswordFile(path)
    with pytest.raises(IdentityNotFound, match="nobody"):
        PasswordFile(tmp_path / "empty").set_enabled("nobody", False)
    with pytest.raises(SettingError, match="password: must not be empty"):
        hash_password("")
