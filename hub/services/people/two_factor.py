"""Two-factor sign-in: authenticator apps (TOTP, RFC 6238) and one-time recovery codes.

**Policy.** The roles named in the hub's ``two_factor_roles`` setting must use a second factor:
a user of such a role who has not enrolled is asked to enrol right after the password, before
any page opens. Users of other roles may enrol on their account page; once enrolled, they are
asked for a code at every sign-in.

**Counting.** A wrong code counts as a failed sign-in for the user name at the client's
address, exactly like a wrong password (:mod:`wardlink.hub.services.people.signin`): five
wrong passwords or codes lock that account at that address. A right password alone clears
nothing; only a complete sign-in does.

**Recovery codes.** Ten random codes, shown once at enrolment; only their SHA-256 digests are
stored (each holds about 50 random bits, so a slow hash adds nothing while the lock-out
limits guessing). Each works once, in place of a code from the app.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from wardlink.clock import Clock
from wardlink.hub.db.models import RecoveryCode, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import ConfigError, InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.errors import AccountLocked, AuthenticationFailed
from wardlink.hub.services.people import signin, totp
from wardlink.hub.services.people.permissions import require

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 10


def parse_roles(value: str) -> frozenset[str]:
    """Return the roles a ``two_factor_roles`` setting names; raise ConfigError for others."""
    names = frozenset(item.strip() for item in (value or "").split(",") if item.strip())
    unknown = sorted(names - set(ROLES))
    if unknown:
        raise ConfigError(f"two_factor_roles: must name roles among {', '.join(ROLES)}, got {', '.join(unknown)}")
    return names


def is_enrolled(user: User) -> bool:
    """Return True when ``user`` signs in with a second factor."""
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def is_required(user: User, roles: frozenset[str]) -> bool:
    """Return True when the policy makes ``user``'s role use a second factor."""
    return user.role in roles


def needs_second_step(user: User, roles: frozenset[str]) -> bool:
    """Return True when a right password alone does not sign ``user`` in."""
    return is_enrolled(user) or is_required(user, roles)


# ------------------------------------------------------------------ enrolment


def start_enrolment(session: Session, user: User) -> str:
    """Return the secret ``user`` is enrolling with (a new one unless enrolment is under way)."""
    if is_enrolled(user):
        raise InvalidInput(N_("two-factor sign-in is already set up; an administrator can reset it"))
    if not user.totp_secret:
        user.totp_secret = totp.new_secret()
        session.flush()
    return user.totp_secret


def provisioning_uri(user: User, issuer: str) -> str:
    """Return the ``otpauth://`` URI of ``user``'s enrolment (what the QR code holds)."""
    if not user.totp_secret:
        raise InvalidInput(N_("two-factor sign-in: enrolment has not started"))
    return totp.provisioning_uri(user.totp_secret, account=user.username, issuer=issuer)


def confirm_enrolment(session: Session, user: User, code: str, *, actor: Actor | None,
                      clock: Clock | None = None) -> list[str]:
    """Turn two-factor sign-in on once ``code`` matches the app; return new recovery codes (shown once)."""
    clock = resolve_clock(clock)
    if is_enrolled(user):
        raise InvalidInput(N_("two-factor sign-in is already set up; an administrator can reset it"))
    if not user.totp_secret:
        raise InvalidInput(N_("two-factor sign-in: enrolment has not started"))
    step = totp.matching_step(user.totp_secret, code, clock.now())
    if step is None:
        raise InvalidInput(N_("code: is not the code your authenticator app shows now; check the "
                              "phone's clock and try the next code"))
    user.totp_enabled_at = utc_now(clock)
    user.totp_last_step = step
    codes = _new_recovery_codes(session, user, clock)
    session.flush()
    audit.record(session, actor=actor or Actor.for_user(user), action="user.2fa_enrol", entity="user",
                 entity_id=user.username, after={"recovery_codes": len(codes)}, clock=clock)
    return codes


def _new_recovery_codes(session: Session, user: User, clock: Clock) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    now = utc_now(clock)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw), created_at=now))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalised(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def recovery_codes_left(session: Session, user: User) -> int:
    """Return how many of ``user``'s recovery codes are still unused."""
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def reset(session: Session, username: str, *, actor: Actor | None, clock: Clock | None = None) -> User:
    """Forget ``username``'s authenticator and recovery codes and end their sessions (administrators)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "user.manage")
    user = session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if user is None:
        raise NotFound(N_("user '%(username)s' does not exist"), username=username)
    was_enrolled = is_enrolled(user)
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    signin.end_user_sessions(session, user.id)
    session.flush()
    audit.record(session, actor=who, action="user.2fa_reset", entity="user", entity_id=user.username,
                 before={"enrolled": was_enrolled}, after={"enrolled": False}, clock=clock)
    return user


# ------------------------------------------------------------------ signing in


def verify(session: Session, user: User, code: str, *, clock: Clock | None = None,
           source_ip: str | None = None) -> str:
    """Check the second step of ``user``'s sign-in; return ``"totp"`` or ``"recovery"``.

    A wrong code is audited and counted like a wrong password, then raises
    :class:`AuthenticationFailed` (the caller must commit); while the account is locked at
    this address every code is refused with :class:`AccountLocked`.
    """
    clock = resolve_clock(clock)
    who = Actor.for_user(user, source_ip)
    until = signin.blocked_until(session, user.username, source_ip, clock=clock)
    if until is not None:
        raise AccountLocked("too many failed sign-in attempts; try again later", until)
    method = _accept(session, user, code, clock) if is_enrolled(user) and user.is_active else None
    if method is None:
        audit.record(session, actor=who, action="user.2fa_failed", entity="user", entity_id=user.username,
                     clock=clock)
        if signin.record_failure(session, user.username, source_ip, clock=clock):
            audit.record(session, actor=who, action="user.locked", entity="user", entity_id=user.username,
                         after={"locked_until": signin.blocked_until(session, user.username, source_ip,
                                                                     clock=clock),
                                "source_ip": source_ip}, clock=clock)
        session.flush()
        raise AuthenticationFailed("invalid code")
    if method == "recovery":
        audit.record(session, actor=who, action="user.2fa_recovery_used", entity="user",
                     entity_id=user.username, after={"left": recovery_codes_left(session, user)}, clock=clock)
    return method


def _accept(session: Session, user: User, code: str, clock: Clock) -> str | None:
    assert user.totp_secret is not None
    step = totp.matching_step(user.totp_secret, code, clock.now(), after=user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        session.flush()
        return "totp"
    normalised = _normalised(code)
    if len(normalised) != _RECOVERY_LENGTH:
        return None
    # One conditional UPDATE: of two requests racing with the same code, only one changes the row.
    used = session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(normalised),
        RecoveryCode.used_at.is_(None)).values(used_at=utc_now(clock)))
    if not used.rowcount:
        return None
    return "recovery"
