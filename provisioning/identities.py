"""Broker identities behind one interface: the dynamic-security plugin or plain files.

:class:`IdentityStore` is what the CLI (and later the hub's gateway enrollment) calls; both
implementations give a gateway exactly the grants of :mod:`wardlink.provisioning.acl` and cut a
disabled or removed gateway off at once: the plugin kicks the session itself, the file store
makes Mosquitto reload (SIGHUP), which drops every connection whose login is gone.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from wardlink.provisioning.acl import (
    DEFAULT_HUB_USERNAME,
    Identity,
    check_gateway_id,
    check_username,
    gateway_identity,
    hub_identity,
    render_acl_file,
)
from wardlink.provisioning.errors import IdentityNotFound, ProvisioningError, SettingError
from wardlink.provisioning.files import write_private
from wardlink.provisioning.passwords import PasswordFile


@dataclass(frozen=True, slots=True)
class IdentityInfo:
    """What a store knows about one login."""

    username: str
    kind: str  # "gateway", "hub" or "other"
    enabled: bool
    client_id: str | None = None


@runtime_checkable
class IdentityStore(Protocol):
    """Create, switch off and delete broker logins."""

    def add_gateway(self, gateway_id: str, password: str) -> Identity:
        """Create the gateway's login and role, or reset an existing one; return the identity."""

    def ensure_hub(self, password: str, username: str = DEFAULT_HUB_USERNAME) -> Identity:
        """Create or update the hub's login."""

    def set_password(self, username: str, password: str) -> None:
        """Give an existing login a new password."""

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Switch a login on or off; switching off disconnects its sessions at once."""

    def remove_gateway(self, gateway_id: str) -> None:
        """Delete a gateway's login and role; its sessions are disconnected at once."""

    def identities(self) -> list[IdentityInfo]:
        """Return every login the store holds."""


def sighup_from_pid_file(pid_file: str | os.PathLike) -> Callable[[], None]:
    """Return a function that makes the Mosquitto named by ``pid_file`` reload its files."""
    path = Path(pid_file)

    def reload() -> None:
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise ProvisioningError(f"cannot read the broker pid from {path}: {exc}") from None
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise ProvisioningError(f"broker pid {pid} (from {path}) is not running") from None

    return reload


HUB_MARKER = "# wardlink-hub-users:"


class FileIdentities:
    """Logins in a Mosquitto ``password_file`` and grants in an ``acl_file``, both rewritten whole.

    The ACL file is generated: every login in the password file gets the gateway grants of its
    id, except the hub logins, which the file names on a ``# wardlink-hub-users:`` line.
    ``reload`` (e.g. :func:`sighup_from_pid_file`) is called after every change; without it
    the broker keeps the old files until it is reloaded.
    """

    def __init__(self, password_file: str | os.PathLike, acl_file: str | os.PathLike, *,
                 reload: Callable[[], None] | None = None) -> None:
        self.password_file = Path(password_file)
        self.acl_file = Path(acl_file)
        self._reload = reload

    # -------------------------------------------------------------- internals

    def _hub_users(self) -> list[str]:
        try:
            for line in self.acl_file.read_text(encoding="utf-8").splitlines():
                if line.startswith(HUB_MARKER):
                    return line[len(HUB_MARKER):].split()
        except FileNotFoundError:
            pass
        return []

    def _commit(self, passwords: PasswordFile, hub_users: list[str]) -> None:
        identities = []
        for entry in passwords.entries():
            if entry.username in hub_users:
                identities.append(hub_identity(entry.username))
            else:
                identities.append(gateway_identity(entry.username))
        text = render_acl_file(identities)
        head, _, rest = text.partition("\n")
        text = f"{head}\n{HUB_MARKER} {' '.join(hub_users)}\n{rest}"
        # ACL first: should the second write fail, no login exists without the grants that confine it.
        write_private(self.acl_file, text)
        passwords.save()
        if self._reload is not None:
            self._reload()

    # -------------------------------------------------------------- IdentityStore

    def add_gateway(self, gateway_id: str, password: str) -> Identity:
        """Create the gateway's login, or give it a new password and enable it."""
        identity = gateway_identity(gateway_id)
        hubs = self._hub_users()
        if gateway_id in hubs:
            raise SettingError(f"gateway id: {gateway_id!r} is the hub's login")
        passwords = PasswordFile(self.password_file)
        passwords.set_password(gateway_id, password)
        self._commit(passwords, hubs)
        return identity

    def ensure_hub(self, password: str, username: str = DEFAULT_HUB_USERNAME) -> Identity:
        """Create the hub login or give it a new password."""
        identity = hub_identity(username)
        hubs = self._hub_users()
        passwords = PasswordFile(self.password_file)
        passwords.set_password(username, password)
        self._commit(passwords, hubs + [username] if username not in hubs else hubs)
        return identity

    def set_password(self, username: str, password: str) -> None:
        """Give the existing login ``username`` a new password."""
        passwords = PasswordFile(self.password_file)
        if passwords.get(check_username(username)) is None:
            raise IdentityNotFound(f"{username}: no such login in {self.password_file}")
        passwords.set_password(username, password)
        self._commit(passwords, self._hub_users())

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Switch ``username`` on or off (a disabled login stays in the file as a comment)."""
        passwords = PasswordFile(self.password_file)
        passwords.set_enabled(check_username(username), enabled)
        self._commit(passwords, self._hub_users())

    def remove_gateway(self, gateway_id: str) -> None:
        """Delete the gateway's login and its ACL section."""
        passwords = PasswordFile(self.password_file)
        passwords.remove(check_gateway_id(gateway_id))
        self._commit(passwords, self._hub_users())

    def identities(self) -> list[IdentityInfo]:
        """Return every login in the password file."""
        hubs = set(self._hub_users())
        return [IdentityInfo(e.username, "hub" if e.username in hubs else "gateway", e.enabled,
                             None) for e in PasswordFile(self.password_file).entries()]
