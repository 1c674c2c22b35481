"""Checking passwords against the hospital's directory (LDAP / Active Directory).

The hub binds as its service account, searches the person by what they typed (escaped into
``ldap_user_filter``), then binds as the entry found with the password given: the directory
alone judges the password, and the hub never stores it. The person's groups (a search under
``ldap_group_base``, and their ``memberOf`` values where the server keeps them) choose the
role through ``ldap_group_roles``, first match wins; their department comes from
``ldap_department_attribute``. Pure directory I/O: what the hub's users become is
:mod:`wardlink.hub.services.people.directory_signin`.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from wardlink.hub.config import HubConfig
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import ConfigError, HubError

log = logging.getLogger(__name__)


class DirectoryUnavailable(HubError, ConnectionError):
    """The directory server cannot be reached, or refuses the service account."""


def normalise_dn(dn: str) -> str:
    """Return ``dn`` in a form two spellings of one name share (case, spaces after commas)."""
    return ",".join(part.strip() for part in (dn or "").split(",")).lower()


def parse_group_roles(value: str) -> tuple[tuple[str, str], ...]:
    """Return the ``(normalised group DN, role)`` pairs of ``ldap_group_roles``; raise ConfigError."""
    pairs = []
    for entry in (item.strip() for item in (value or "").split(";")):
        if not entry:
            continue
        role, sep, dn = entry.partition(":")
        if not sep or role.strip() not in ROLES or "=" not in dn:
            raise ConfigError(f"ldap_group_roles: each entry must be 'role: group DN' with a role among "
                              f"{', '.join(ROLES)}, got {entry!r}")
        pairs.append((normalise_dn(dn), role.strip()))
    return tuple(pairs)


@dataclass(frozen=True)
class DirectorySettings:
    """The directory settings of the hub, checked and with the service password read."""

    url: str
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    group_base: str
    group_filter: str
    group_roles: tuple[tuple[str, str], ...]
    department_attribute: str
    ca_file: str
    timeout_s: int

    @classmethod
    def from_config(cls, config: HubConfig) -> DirectorySettings | None:
        """Return the settings of ``config``, or None when no directory is configured."""
        if not config.ldap_url:
            return None
        return cls(url=config.ldap_url, bind_dn=config.ldap_bind_dn,
                   bind_password=config.read_secret("ldap_bind_password_file") or "",
                   user_base=config.ldap_user_base, user_filter=config.ldap_user_filter,
                   group_base=config.ldap_group_base, group_filter=config.ldap_group_filter,
                   group_roles=parse_group_roles(config.ldap_group_roles),
                   department_attribute=config.ldap_department_attribute, ca_file=config.ldap_ca_file,
                   timeout_s=config.ldap_timeout_s)


@dataclass(frozen=True)
class DirectoryAccount:
    """A person the directory vouched for, with what the hub takes from their entry."""

    username: str
    dn: str
    display_name: str
    email: str | None
    role: str | None  # None: in no group that gives a role
    groups: tuple[str, ...]  # the normalised DNs of the groups that gave a role, matched first
    department: str | None


class Directory:
    """One directory server, reached anew for each sign-in (no connection is kept)."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings
        tls = None
        if settings.ca_file:
            tls = Tls(ca_certs_file=settings.ca_file, validate=ssl.CERT_REQUIRED)
        self._server = Server(settings.url, connect_timeout=settings.timeout_s, get_info=NONE, tls=tls)

    def _connection(self, user: str | None, password: str | None) -> Connection:
        return Connection(self._server, user=user, password=password, receive_timeout=self.settings.timeout_s,
                          read_only=True, raise_exceptions=False)

    def authenticate(self, username: str, password: str) -> DirectoryAccount | None:
        """Return the account whose password this is, or None (unknown, wrong password, ambiguous).

        Raises :class:`DirectoryUnavailable` when the server cannot be reached or refuses the
        service account: that is no verdict on the person's password.
        """
        if not username or not password:
            return None  # an empty password would be an anonymous bind, which always succeeds
        s = self.settings
        service = self._connection(s.bind_dn or None, s.bind_password or None)
        try:
            if not service.bind():
                refused = (service.result or {}).get("description")
                raise DirectoryUnavailable(f"the directory refused the service account: {refused}")
            entry = self._find(service, username)
            if entry is None:
                return None
            dn, attributes = entry
            person = self._connection(dn, password)
            try:
                if not person.bind():
                    return None
            finally:
                person.unbind()
            groups = self._groups(service, dn, attributes)
        except LDAPException as exc:
            log.warning("directory %s: %s", s.url, exc)
            raise DirectoryUnavailable(f"the directory cannot be reached: {exc}") from None
        finally:
            service.unbind()
        return self._account(username, dn, attributes, groups)

    def _find(self, service: Connection, username: str) -> tuple[str, dict] | None:
        s = self.settings
        query = s.user_filter.replace("{username}", escape_filter_chars(username))
        wanted = ["cn", "displayName", "mail", "memberOf", s.department_attribute]
        service.search(s.user_base, query, SUBTREE, attributes=wanted, size_limit=2)
        found = [e for e in service.response or [] if e.get("type") == "searchResEntry"]
        if len(found) != 1:  # nobody, or a filter that names two people: no verdict for either
            return None
        return found[0]["dn"], dict(found[0].get("attributes") or {})

    def _groups(self, service: Connection, dn: str, attributes: dict) -> set[str]:
        s = self.settings
        groups = {normalise_dn(g) for g in _values(attributes.get("memberOf"))}
        if s.group_base:
            query = s.group_filter.replace("{user_dn}", escape_filter_chars(dn))
            service.search(s.group_base, query, SUBTREE, attributes=[])
            groups |= {normalise_dn(e["dn"]) for e in service.response or [] if e.get("type") == "searchResEntry"}
        return groups

    def _account(self, username: str, dn: str, attributes: dict, groups: set[str]) -> DirectoryAccount:
        matched = [(group, role) for group, role in self.settings.group_roles if group in groups]
        name = _first(attributes.get("displayName")) or _first(attributes.get("cn")) or username
        return DirectoryAccount(username=username, dn=dn, display_name=name, email=_first(attributes.get("mail")),
                                role=matched[0][1] if matched else None, groups=tuple(g for g, _ in matched),
                                department=_first(attributes.get(self.settings.department_attribute)))


def _values(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _first(value) -> str | None:
    values = [v for v in _values(value) if v.strip()]
    return values[0].strip() if values else None
