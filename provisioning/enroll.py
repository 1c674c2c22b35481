"""The broker side of gateway enrollment: the hub's ``BrokerAccounts`` over an identity store.

The hub declares what it needs (:class:`wardlink.hub.services.gateways.enrollment.BrokerAccounts`) and never
imports this package; this module implements it with :mod:`wardlink.provisioning.identities` (the
dynamic-security plugin, or password and ACL files) and offers it to the hub through the
entry point ``wardlink.broker_accounts`` (:func:`broker_accounts`). The ``wardlink gateway``
commands use the same class directly.

Its settings live in one TOML file, by default ``/etc/wardlink/enrollment.toml`` (or
``$WARDLINK_ENROLLMENT_CONFIG``)::

    [gateways]                       # what enrolling gateways are told
    broker_url = "mqtts://broker.hospital.example:8883"
    ca_file = "/etc/mosquitto/certs/ca.crt"

    [broker_admin]                   # how the hub changes broker logins
    auth = "dynsec"                  # or "files"
    url = "mqtt://127.0.0.1:1883"
    admin_user = "wardlink-admin"
    admin_password_file = "/etc/wardlink/mqtt-admin.secret"
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import ssl
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping

from wardlink.hub.services.gateways.enrollment import BrokerLogin, GatewayBroker
from wardlink.provisioning.acl import DEFAULT_ADMIN_USERNAME, check_gateway_id
from wardlink.provisioning.errors import IdentityNotFound, SettingError
from wardlink.provisioning.identities import IdentityStore
from wardlink.provisioning.mqttadmin import BrokerAddress
from wardlink.provisioning.passwords import generate_password

ENV_SETTINGS = "WARDLINK_ENROLLMENT_CONFIG"
DEFAULT_SETTINGS = Path("/etc/wardlink/enrollment.toml")
AUTH_KINDS = ("dynsec", "files")


@dataclass(frozen=True)
class AdminSettings:
    """How to reach the broker's login store."""

    auth: str = "dynsec"
    url: str = "mqtt://127.0.0.1:1883"
    ca_file: Path | None = None
    admin_user: str = DEFAULT_ADMIN_USERNAME
    admin_password_file: Path = Path("/etc/wardlink/mqtt-admin.secret")
    timeout: float = 10.0
    password_file: Path = Path("/etc/mosquitto/wardlink.passwd")
    acl_file: Path = Path("/etc/mosquitto/wardlink.acl")
    reload_pid_file: Path | None = None


@dataclass(frozen=True)
class EnrollmentSettings:
    """The whole settings file: the gateways' view of the broker, and the admin access."""

    broker_url: str
    ca_file: Path | None
    admin: AdminSettings


_GATEWAY_KEYS = {"broker_url", "ca_file"}
_ADMIN_KEYS = {"auth", "url", "ca_file", "admin_user", "admin_password_file", "timeout", "password_file",
               "acl_file", "reload_pid_file"}


def _table(data: Mapping, name: str, allowed: set[str], source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise SettingError(f"{source}: [{name}] must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SettingError(f"{source}: {name}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")
    for key, item in value.items():
        if key != "timeout" and not isinstance(item, str):
            raise SettingError(f"{source}: {name}.{key}: must be a string, got {item!r}")
    return value


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def parse_settings(data: Mapping[str, Any], *, source: str = "settings",
                   base: Path | None = None) -> EnrollmentSettings:
    """Validate a parsed settings document; errors name the key and what is allowed."""
    base = base or Path.cwd()
    unknown = sorted(set(data) - {"gateways", "broker_admin"})
    if unknown:
        raise SettingError(f"{source}: [{unknown[0]}]: unknown table; allowed: [gateways], [broker_admin]")
    gw = _table(data, "gateways", _GATEWAY_KEYS, source)
    adm = _table(data, "broker_admin", _ADMIN_KEYS, source)
    url = gw.get("broker_url", "")
    if not url:
        raise SettingError(f"{source}: gateways.broker_url: is required (the broker as gateways reach it, "
                           "e.g. mqtts://broker.hospital.example:8883)")
    ca_file = _path(gw.get("ca_file"), base)
    try:
        BrokerAddress.from_url(url, ca_file)
    except SettingError as exc:
        raise SettingError(f"{source}: gateways.broker_url: {exc}") from None
    auth = adm.get("auth", "dynsec")
    if auth not in AUTH_KINDS:
        raise SettingError(f"{source}: broker_admin.auth: must be one of {', '.join(AUTH_KINDS)}, got {auth!r}")
    timeout = adm.get("timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise SettingError(f"{source}: broker_admin.timeout: must be a number of seconds in (0, 300], got {timeout!r}")
    defaults = AdminSettings()
    admin = AdminSettings(
        auth=auth, url=adm.get("url", defaults.url), ca_file=_path(adm.get("ca_file"), base),
        admin_user=adm.get("admin_user", defaults.admin_user),
        admin_password_file=_path(adm.get("admin_password_file"), base) or defaults.admin_password_file,
        timeout=float(timeout),
        password_file=_path(adm.get("password_file"), base) or defaults.password_file,
        acl_file=_path(adm.get("acl_file"), base) or defaults.acl_file,
        reload_pid_file=_path(adm.get("reload_pid_file"), base))
    if auth == "dynsec":
        try:
            BrokerAddress.from_url(admin.url, admin.ca_file)
        except SettingError as exc:
            raise SettingError(f"{source}: broker_admin.url: {exc}") from None
    return EnrollmentSettings(url, ca_file, admin)


def load_settings(path: str | os.PathLike) -> EnrollmentSettings:
    """Read and validate an enrollment settings file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingError(f"enrollment settings: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"enrollment settings: {path} is not valid TOML: {exc}") from None
    return parse_settings(data, source=str(path), base=path.resolve().parent)


def settings_path(environ: Mapping[str, str] | None = None, default: Path = DEFAULT_SETTINGS) -> Path:
    """Return the settings file to use: ``$WARDLINK_ENROLLMENT_CONFIG`` or ``default``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(ENV_SETTINGS) or default)


# ------------------------------------------------------------------ opening the store


def _read_secret(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise SettingError(f"{what}: {path} is empty")
    return value


@contextlib.contextmanager
def open_store(admin: AdminSettings) -> Iterator[IdentityStore]:
    """Yield the identity store ``admin`` describes, connected for one batch of changes."""
    if admin.auth == "files":
        from wardlink.provisioning.identities import FileIdentities, sighup_from_pid_file

        reload = sighup_from_pid_file(admin.reload_pid_file) if admin.reload_pid_file else None
        lock_path = admin.password_file.with_name(admin.password_file.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # The files are rewritten whole: the lock keeps a web request and a command from
        # overwriting each other's change.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield FileIdentities(admin.password_file, admin.acl_file, reload=reload)
        finally:
            os.close(fd)
        return
    from wardlink.provisioning.dynsec import DynsecClient, DynsecIdentities

    address = BrokerAddress.from_url(admin.url, admin.ca_file)
    password = _read_secret(admin.admin_password_file, "broker_admin.admin_password_file")
    client = DynsecClient(address, admin.admin_user, password, timeout=admin.timeout)
    client.open()
    try:
        yield DynsecIdentities(client)
    finally:
        client.close()


# ------------------------------------------------------------------ the implementation


class IdentityStoreAccounts:
    """:class:`wardlink.hub.services.gateways.enrollment.BrokerAccounts` over an identity store.

    ``opener`` returns a context manager yielding a connected store; each call opens it for
    one change, so the object is safe to share between web request threads.
    """

    def __init__(self, opener: Callable[[], ContextManager[IdentityStore]], broker_url: str,
                 ca_file: Path | None) -> None:
        self._opener = opener
        self.broker_url = broker_url
        self.ca_file = ca_file
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: EnrollmentSettings) -> IdentityStoreAccounts:
        """Return the accounts the settings describe."""
        return cls(lambda: open_store(settings.admin), settings.broker_url, settings.ca_file)

    @contextlib.contextmanager
    def _store(self) -> Iterator[IdentityStore]:
        with self._lock, self._opener() as store:
            yield store

    def create_gateway(self, gateway_id: str) -> None:
        """Create the gateway's login and role, switched off until it enrolls."""
        check_gateway_id(gateway_id)
        with self._store() as store:
            # The throwaway password is never shown: enrolling sets the real one.
            store.add_gateway(gateway_id, generate_password())
            store.set_enabled(gateway_id, False)

    def issue_gateway(self, gateway_id: str) -> BrokerLogin:
        """Give the login a new generated password, switch it on (creating it if missing)."""
        check_gateway_id(gateway_id)
        password = generate_password()
        with self._store() as store:
            identity = store.add_gateway(gateway_id, password)
        return BrokerLogin(identity.username, password)

    def set_gateway_enabled(self, gateway_id: str, enabled: bool) -> bool:
        """Switch the login on or off; return False when there is no such login."""
        check_gateway_id(gateway_id)
        with self._store() as store:
            try:
                store.set_enabled(gateway_id, enabled)
            except IdentityNotFound:
                return False
        return True

    def remove_gateway(self, gateway_id: str) -> bool:
        """Delete the login and its grants; return False when there was none."""
        check_gateway_id(gateway_id)
        with self._store() as store:
            try:
                store.remove_gateway(gateway_id)
            except IdentityNotFound:
                return False
        return True

    def gateway_broker(self) -> GatewayBroker:
        """Return the broker URL and CA certificate (read now, so a renewed CA is handed out)."""
        pem = None
        if self.ca_file is not None:
            try:
                pem = self.ca_file.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingError(f"gateways.ca_file: cannot read {self.ca_file}: {exc}") from None
            try:
                ssl.PEM_cert_to_DER_cert(pem.strip())
            except ValueError:
                raise SettingError(f"gateways.ca_file: {self.ca_file} is not a PEM certificate") from None
        return GatewayBroker(self.broker_url, pem)


def broker_accounts(config, environ: Mapping[str, str] | None = None,
                    default: Path = DEFAULT_SETTINGS) -> IdentityStoreAccounts | None:
    """Entry point for the hub: the accounts of the settings file, or None when there is none.

    An explicitly named file (``$WARDLINK_ENROLLMENT_CONFIG``) must exist; the default one
    may be absent, and then the hub runs without enrollment.
    """
    environ = os.environ if environ is None else environ
    path = settings_path(environ, default)
    if not environ.get(ENV_SETTINGS) and not path.exists():
        return None
    return IdentityStoreAccounts.from_settings(load_settings(path))
