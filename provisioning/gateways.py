"""Gateway credentials: generate a password, register the login, hand the gateway its file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wardlink.provisioning.acl import Identity
from wardlink.provisioning.files import write_private
from wardlink.provisioning.identities import IdentityStore
from wardlink.provisioning.passwords import generate_password


@dataclass(frozen=True)
class IssuedCredentials:
    """A login just created or reset; the password exists nowhere else in clear."""

    identity: Identity
    password: str

    def credentials_file_text(self) -> str:
        """Return the gateway's credentials file (the format edge/credentials.py reads)."""
        return (f"# Broker login of gateway {self.identity.username}. Keep this file mode 0600.\n"
                f'username = "{self.identity.username}"\npassword = "{self.password}"\n')

    def __repr__(self) -> str:
        return f"IssuedCredentials({self.identity.username!r}, password=<hidden>)"


def issue_gateway(store: IdentityStore, gateway_id: str, *, password: str | None = None) -> IssuedCredentials:
    """Create or reset the gateway's login with a new (or given) password and return it."""
    password = password or generate_password()
    identity = store.add_gateway(gateway_id, password)
    return IssuedCredentials(identity, password)


def write_credentials(issued: IssuedCredentials, path: str | os.PathLike) -> Path:
    """Write the gateway's credentials file with mode 0600."""
    return write_private(path, issued.credentials_file_text(), mode=0o600, keep_mode=False)
