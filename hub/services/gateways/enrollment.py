"""Gateway enrollment: add a gateway, hand it a one-time token, redeem it, cut a gateway off.

The hub never imports the provisioning package, yet adding, disabling and revoking a gateway
must change its broker login at once. The seam is :class:`BrokerAccounts`, a small interface
declared here and implemented elsewhere (``wardlink.provisioning.enroll``, over the dynamic-security
plugin or password and ACL files). An installed package offers an implementation through the
entry point group :data:`ENTRY_POINT_GROUP`; :func:`load_broker_accounts` finds it, and tests
or embedders pass one in directly.

Tokens carry 256 random bits and are stored only as their SHA-256 (a slow hash buys nothing
against that much entropy, and the lookup stays an index seek). A token is redeemed at most
once (a conditional UPDATE claims it, so two racing requests cannot both win), expires after
:data:`DEFAULT_TTL` unless told otherwise, and is voided by a newer token, a disable or a
revocation. The broker password is created at redemption, handed to the gateway in the
answer and kept nowhere on the hub.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Protocol, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wardlink.hub.config import HubConfig
from wardlink.hub.db.models import Department, EnrollmentToken, Gateway
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import HubError, InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.actor import SYSTEM_ROLE, Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.clock import Clock
from wardlink.errors import WardlinkError

ENTRY_POINT_GROUP = "wardlink.broker_accounts"
TOKEN_PREFIX = "wle_"
DEFAULT_TTL = timedelta(hours=24)
MAX_TTL = timedelta(days=7)
MIN_TTL = timedelta(minutes=5)
#: Gateway TOML sections an enrollment may carry; gateway_id, data_dir and [broker] are the
#: gateway's own or come from the enrollment itself.
INITIAL_CONFIG_KEYS = ("hardware", "buffer", "forwarder", "health", "channels", "alarms", "outputs")
MAX_INITIAL_CONFIG_BYTES = 64 * 1024


# ------------------------------------------------------------------ the seam


@dataclass(frozen=True)
class BrokerLogin:
    """A broker login just created or reset; the password exists nowhere else."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class GatewayBroker:
    """Where gateways reach the broker, and the CA certificate (PEM) that signed it."""

    url: str
    ca_pem: str | None = None


@runtime_checkable
class BrokerAccounts(Protocol):
    """What the hub needs from the broker's login store; implementations raise on failure."""

    def create_gateway(self, gateway_id: str) -> None:
        """Create the gateway's login and grants, switched off until it enrolls."""

    def issue_gateway(self, gateway_id: str) -> BrokerLogin:
        """Give the gateway's login a new generated password, switch it on, and return it."""

    def set_gateway_enabled(self, gateway_id: str, enabled: bool) -> bool:
        """Switch the login on or off (off disconnects it at once); return False if it does not exist."""

    def remove_gateway(self, gateway_id: str) -> bool:
        """Delete the login (disconnecting it at once); return False if it did not exist."""

    def gateway_broker(self) -> GatewayBroker:
        """Return the broker address and CA certificate handed to enrolling gateways."""


def load_broker_accounts(config: HubConfig, *, entry_points: Iterable | None = None) -> BrokerAccounts | None:
    """Return the broker accounts an installed package provides for ``config``, or None.

    Each entry point of :data:`ENTRY_POINT_GROUP` names a factory ``f(config)`` that returns
    an implementation, or None when its own settings are absent; the first answer wins.
    """
    if entry_points is None:
        from importlib.metadata import entry_points as installed

        entry_points = installed(group=ENTRY_POINT_GROUP)
    for ep in sorted(entry_points, key=lambda e: e.name):
        accounts = ep.load()(config)
        if accounts is not None:
            return accounts
    return None


# ------------------------------------------------------------------ errors


class BrokerUnavailable(HubError, ConnectionError):
    """The broker's login store could not be changed; nothing was saved."""


class EnrollmentRefused(HubError, PermissionError):
    """A token was not accepted; ``reason`` is one of :data:`REFUSALS`."""

    def __init__(self, reason: str, message: str, gateway_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.gateway_id = gateway_id


#: reason -> HTTP status the web answer uses.
REFUSALS = {"malformed": 400, "unknown": 403, "expired": 410, "used": 410, "revoked": 410,
            "disabled": 403}


def _broker(what: str, fn: Callable, *args):
    try:
        return fn(*args)
    except (WardlinkError, OSError, TimeoutError) as exc:
        raise BrokerUnavailable(f"broker: cannot {what}: {exc}") from exc


# ------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class IssuedToken:
    """A token just created; ``token`` is shown once and stored only as a hash."""

    gateway_id: str
    token: str = field(repr=False)
    prefix: str
    expires_at: datetime


def token_digest(token: str) -> str:
    """Return the stored form of an enrollment token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_ttl(ttl: timedelta) -> timedelta:
    """Return ``ttl`` if it is an allowed token lifetime, else raise InvalidInput."""
    if not isinstance(ttl, timedelta) or not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidInput(N_("ttl: must be between %(min_ttl)s and %(max_ttl)s, got %(ttl)s"),
                           min_ttl=MIN_TTL, max_ttl=MAX_TTL, ttl=ttl)
    return ttl


def check_initial_config(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the initial gateway config as a plain dict, or raise InvalidInput naming the key.

    Only its shape is checked here; the gateway validates drivers and parameters against its
    own driver registry before it writes anything.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(N_("initial_config: must be a table of gateway settings, got %(type)s"),
                           type=type(value).__name__)
    unknown = sorted(set(value) - set(INITIAL_CONFIG_KEYS))
    if unknown:
        raise InvalidInput(N_("initial_config: unknown key(s) %(choices)s; allowed: %(choices2)s (gateway_id, "
                              "data_dir and [broker] come from the enrollment)"),
                           choices=', '.join(unknown), choices2=', '.join(INITIAL_CONFIG_KEYS))
    for key in ("channels", "alarms"):
        if key in value and not (isinstance(value[key], list) and all(isinstance(i, Mapping) for i in value[key])):
            raise InvalidInput(N_("initial_config.%(key)s: must be a list of tables ([[%(key)s]])"), key=key)
    for key in ("hardware", "buffer", "forwarder", "health", "outputs"):
        if key in value and not isinstance(value[key], Mapping):
            raise InvalidInput(N_("initial_config.%(key)s: must be a table ([%(key)s])"), key=key)
    try:
        text = json.dumps(value, allow_nan=False, default=_no_json)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(N_("initial_config: %(exc)s"), exc=exc) from None
    if len(text.encode()) > MAX_INITIAL_CONFIG_BYTES:
        raise InvalidInput(N_("initial_config: must be at most %(max_initial_config_bytes)s bytes as JSON"),
                           max_initial_config_bytes=MAX_INITIAL_CONFIG_BYTES)
    return json.loads(text)


def _no_json(value: Any) -> Any:
    raise TypeError(f"values must be strings, numbers, booleans, lists or tables, got {type(value).__name__}")


def _void_tokens(session: Session, gateway: Gateway, now: datetime) -> int:
    result = session.execute(update(EnrollmentToken).where(
        EnrollmentToken.gateway_pk == gateway.id, EnrollmentToken.used_at.is_(None),
        EnrollmentToken.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount or 0


def _new_token(session: Session, gateway: Gateway, initial_config: dict, ttl: timedelta,
               who: Actor, clock: Clock) -> IssuedToken:
    now = utc_now(clock)
    voided = _void_tokens(session, gateway, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = EnrollmentToken(gateway_pk=gateway.id, token_hash=token_digest(token), prefix=token[:10],
                          initial_config=initial_config, created_by=who.username, created_at=now,
                          expires_at=now + ttl)
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="gateway.enroll_token", entity="gateway",
                 entity_id=gateway.gateway_id, clock=clock,
                 after={"prefix": row.prefix, "expires_at": row.expires_at, "voided": voided,
                        "channels": len(initial_config.get("channels", []))})
    return IssuedToken(gateway.gateway_id, token, row.prefix, row.expires_at)


def department_by_code(session: Session, code: str | None) -> int | None:
    """Return the id of the department with ``code``, in any case (None for blank), or raise InvalidInput."""
    if code is None or not code.strip():
        return None
    found = list(session.scalars(select(Department).where(func.lower(Department.code) == code.strip().lower())))
    if not found:
        known = ", ".join(sorted(d.code for d in session.scalars(select(Department)))) or "none"
        raise InvalidInput(N_("department: no department with code %(code)r; known: %(known)s"),
                           code=code, known=known)
    if len(found) > 1:
        raise InvalidInput(N_("department: code %(code)r exists on several sites"), code=code)
    return found[0].id


# ------------------------------------------------------------------ administration


def add_gateway(session: Session, accounts: BrokerAccounts, *, gateway_id: str, name: str = "",
                department_id: int | None = None, location_id: int | None = None,
                initial_config: Mapping[str, Any] | None = None, ttl: timedelta = DEFAULT_TTL,
                actor: Actor | None, clock: Clock | None = None) -> IssuedToken:
    """Register a new gateway, create its (switched-off) broker login and return its token.

    The broker is changed last, after every check passed; should it fail, the caller rolls
    the session back and nothing is left half done.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    config = check_initial_config(initial_config)
    ttl = check_ttl(ttl)
    scope = department_scope(who)
    if scope is not None:
        # A user limited to one ward adds gateways to that ward only (and could not see others).
        department_id = scope if department_id is None else department_id
        if department_id != scope:
            raise PermissionDenied(N_("department: you may add gateways to your own department only"))
    if gateways.find_gateway(session, gateway_id) is not None:
        raise InvalidInput(N_("gateway_id: gateway %(gateway_id)r exists; issue a new enrollment token for it "
                              "instead"), gateway_id=gateway_id)
    gateway = gateways.register_gateway(session, gateway_id=gateway_id, name=name, department_id=department_id,
                                        location_id=location_id, actor=who, clock=clock)
    issued = _new_token(session, gateway, config, ttl, who, clock)
    _broker(f"create the login of {gateway_id}", accounts.create_gateway, gateway_id)
    return issued


def issue_token(session: Session, *, gateway_id: str, initial_config: Mapping[str, Any] | None = None,
                ttl: timedelta = DEFAULT_TTL, actor: Actor | None, clock: Clock | None = None) -> IssuedToken:
    """Return a new enrollment token for an existing, enabled gateway; earlier unused ones are voided."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    config = check_initial_config(initial_config)
    ttl = check_ttl(ttl)
    gateway = gateways.get_gateway(session, gateway_id, actor=who)
    if not gateway.enabled:
        raise InvalidInput(N_("gateway_id: gateway %(gateway_id)r is disabled; enable it first"),
                           gateway_id=gateway_id)
    return _new_token(session, gateway, config, ttl, who, clock)


def set_enabled(session: Session, accounts: BrokerAccounts, gateway_id: str, enabled: bool, *,
                actor: Actor | None, clock: Clock | None = None) -> bool:
    """Enable or disable a gateway and its broker login; return whether the login exists.

    Disabling disconnects the gateway at once and voids its unused tokens.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    gateway = gateways.set_gateway_enabled(session, gateway_id, enabled, actor=who, clock=clock)
    if not enabled:
        _void_tokens(session, gateway, utc_now(clock))
    return _broker(f"{'enable' if enabled else 'disable'} the login of {gateway_id}",
                   accounts.set_gateway_enabled, gateway_id, enabled)


def revoke(session: Session, accounts: BrokerAccounts, gateway_id: str, *, actor: Actor | None,
           clock: Clock | None = None) -> bool:
    """Disable a gateway and delete its broker login (it is disconnected at once).

    Its history stays; to bring it back, enable it and enroll it again with a new token.
    Returns whether a login existed.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    gateway = gateways.set_gateway_enabled(session, gateway_id, False, actor=who, clock=clock)
    voided = _void_tokens(session, gateway, utc_now(clock))
    existed = _broker(f"remove the login of {gateway_id}", accounts.remove_gateway, gateway_id)
    audit.record(session, actor=who, action="gateway.revoke", entity="gateway", entity_id=gateway_id,
                 after={"login_removed": existed, "voided": voided}, clock=clock)
    return existed


def tokens_of(session: Session, gateway_id: str, *, actor: Actor | None) -> list[EnrollmentToken]:
    """Return a gateway's enrollment tokens, newest first."""
    gateway = gateways.get_gateway(session, gateway_id, actor=actor)
    return list(session.scalars(select(EnrollmentToken).where(EnrollmentToken.gateway_pk == gateway.id)
                                .order_by(EnrollmentToken.created_at.desc(), EnrollmentToken.id.desc())))


# ------------------------------------------------------------------ redemption


@dataclass(frozen=True)
class Enrollment:
    """What a gateway receives for a valid token."""

    gateway_id: str
    login: BrokerLogin
    broker: GatewayBroker
    initial_config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the answer of the enrollment endpoint (holds the password)."""
        return {"enrollment": 1, "gateway_id": self.gateway_id,
                "credentials": {"username": self.login.username, "password": self.login.password},
                "broker": {"url": self.broker.url, "ca_certificate": self.broker.ca_pem},
                "config": self.initial_config}


def enrollment_actor(source_ip: str | None) -> Actor:
    """Return the actor that enrollment requests act as (no user is signed in)."""
    return Actor(username="enrollment", role=SYSTEM_ROLE, source_ip=source_ip)


def check_token_text(token: Any) -> str:
    """Return ``token`` if it looks like an enrollment token, else refuse it as malformed."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or not 20 <= len(token) <= 200:
        raise EnrollmentRefused("malformed", f"enrollment token: must be the text that starts with "
                                             f"{TOKEN_PREFIX!r}, as the hub printed it")
    return token


def _find(session: Session, token: str) -> EnrollmentToken | None:
    digest = token_digest(token)
    row = session.scalar(select(EnrollmentToken).where(EnrollmentToken.token_hash == digest))
    # The lookup is by digest; the constant-time compare guards against a collation quirk
    # making the WHERE clause looser than byte equality.
    return row if row is not None and hmac.compare_digest(row.token_hash, digest) else None


def redeem(session: Session, accounts: BrokerAccounts, *, token: Any, source_ip: str | None = None,
           clock: Clock | None = None, hostname: Any = None) -> Enrollment:
    """Exchange a valid token for the gateway's new broker login, the broker's CA and config.

    Raises :class:`EnrollmentRefused` (with a reason the gateway shows its operator) or
    :class:`BrokerUnavailable`; on either the caller rolls back, so a failed broker call
    leaves the token usable. ``hostname`` (what the gateway says it is called) goes to the
    audit trail only.
    """
    clock = resolve_clock(clock)
    token = check_token_text(token)
    now = utc_now(clock)
    row = _find(session, token)
    if row is None:
        raise EnrollmentRefused("unknown", "enrollment token not recognised: check it was copied whole, "
                                           "or ask for a new one")
    gateway_id = row.gateway.gateway_id
    if row.used_at is not None:
        raise EnrollmentRefused("used", f"enrollment token {row.prefix}... was already used at "
                                        f"{row.used_at.isoformat()}; ask the hub for a new token", gateway_id)
    if row.revoked_at is not None:
        raise EnrollmentRefused("revoked", f"enrollment token {row.prefix}... was voided at "
                                           f"{row.revoked_at.isoformat()} (a newer token was issued or the "
                                           "gateway was disabled); ask for a new token", gateway_id)
    if now >= row.expires_at:
        raise EnrollmentRefused("expired", f"enrollment token {row.prefix}... expired at "
                                           f"{row.expires_at.isoformat()}; ask the hub for a new token", gateway_id)
    if not row.gateway.enabled:
        raise EnrollmentRefused("disabled", f"gateway {gateway_id} is disabled on the hub", gateway_id)
    claimed = session.execute(update(EnrollmentToken).where(
        EnrollmentToken.id == row.id, EnrollmentToken.used_at.is_(None), EnrollmentToken.revoked_at.is_(None))
        .values(used_at=now, used_from=(source_ip or "")[:64] or None)).rowcount
    if claimed != 1:
        raise EnrollmentRefused("used", f"enrollment token {row.prefix}... was used by another request "
                                        "just now; ask the hub for a new token", gateway_id)
    login = _broker(f"issue the login of {gateway_id}", accounts.issue_gateway, gateway_id)
    broker = _broker("read the gateway broker settings", accounts.gateway_broker)
    audit.record(session, actor=enrollment_actor(source_ip), action="gateway.enroll", entity="gateway",
                 entity_id=gateway_id, clock=clock,
                 after={"token": row.prefix, "username": login.username, "broker": broker.url,
                        "hostname": hostname[:100] if isinstance(hostname, str) else None})
    return Enrollment(gateway_id, login, broker, dict(row.initial_config or {}))


def record_refusal(session: Session, refused: EnrollmentRefused, *, source_ip: str | None,
                   clock: Clock | None = None) -> None:
    """Audit a refused enrollment attempt (in its own transaction: the request itself failed)."""
    audit.record(session, actor=enrollment_actor(source_ip), action="gateway.enroll_refused",
                 entity="gateway", entity_id=refused.gateway_id or "-",
                 after={"reason": refused.reason}, clock=clock)
