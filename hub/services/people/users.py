"""Users, passwords, lockout and API tokens.

There are no default credentials: the first administrator gets a generated password that is
shown once. Passwords are stored as Argon2id hashes; API tokens as SHA-256 digests (they are
long random strings, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import ApiToken, Department, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.i18n import LANGUAGES, supported
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people import signin, two_factor
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.errors import AccountLocked, AuthenticationFailed
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import choice, optional_id, parse_fields, text
from wardlink.clock import Clock

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
#: Wrong passwords in a row that lock a signed-in user's e-signatures, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOKEN_PREFIX = "wlt_"
#: How stale ``last_used_at`` may get before a token use writes it again.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

_hasher = PasswordHasher()
_dummy_hash: str | None = None

USER_FIELDS = {
    "display_name": text(200),
    "email": text(254),
    "role": choice(ROLES),
    "department_id": optional_id,
}


# ------------------------------------------------------------------ passwords


def hash_password(password: str) -> str:
    """Return the Argon2id hash of ``password``."""
    return _hasher.hash(password)


def generate_password() -> str:
    """Return a random password of 24 URL-safe characters (about 144 bits)."""
    return secrets.token_urlsafe(18)


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`InvalidInput` for a password that is too short, too long or the username."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(N_("password: must be at least %(min_password_length)s characters"),
                           min_password_length=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(N_("password: must be at most %(max_password_length)s characters"),
                           max_password_length=MAX_PASSWORD_LENGTH)
    if username and password.strip().lower() == username.lower():
        raise InvalidInput(N_("password: must not be the username"))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _burn_verify(password: str) -> None:
    # Spend the same time on an unknown username as on a known one, so response times do not
    # tell an attacker which accounts exist.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_hex(16))
    _verify(_dummy_hash, password)


def session_fingerprint(user: User) -> str:
    """Return a value that changes whenever the user's password changes (ends old sessions)."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


# ------------------------------------------------------------------ queries


def normalise_username(username: str) -> str:
    """Return the stored form of a username (trimmed, lower case)."""
    return (username or "").strip().lower()


def find_user(session: Session, username: str) -> User | None:
    """Return the user called ``username`` or None."""
    return session.scalar(select(User).where(User.username == normalise_username(username)))


def get_user(session: Session, user_id: int) -> User:
    """Return the user with ``user_id`` or raise :class:`NotFound`."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("user %(user_id)s does not exist"), user_id=user_id)
    return user


def list_users(session: Session, *, actor: Actor | None) -> list[User]:
    """Return every user, by username."""
    require(resolve_actor(actor), "user.view")
    return list(session.scalars(select(User).order_by(User.username)))


def has_admin(session: Session) -> bool:
    """Return True when at least one active administrator exists."""
    count = session.scalar(select(func.count()).select_from(User)
                           .where(User.role == "admin", User.is_active.is_(True)))
    return bool(count)


def user_snapshot(user: User) -> dict:
    """Return the audited fields of a user (never the password hash)."""
    return {
        "username": user.username, "display_name": user.display_name, "email": user.email,
        "role": user.role, "department_id": user.department_id, "is_active": user.is_active,
    }


def set_language(session: Session, locale: str | None, *, actor: Actor, clock: Clock | None = None) -> User:
    """Set the signed-in user's own language (a locale code; blank or None: their site's); audited."""
    if actor.user_id is None:
        raise PermissionDenied(N_("only a signed-in user can choose their own language"))
    code = (locale or "").strip() or None
    if code is not None and supported(code) is None:
        raise InvalidInput(N_("locale: must be one of %(choices)s (or blank for your site's), got %(locale)r"),
                           choices=', '.join(LANGUAGES), locale=locale)
    user = get_user(session, actor.user_id)
    if user.locale != code:
        before = user.locale
        user.locale = code
        session.flush()
        audit.record(session, actor=actor, action="user.language", entity="user", entity_id=user.username,
                     before={"locale": before}, after={"locale": code}, clock=resolve_clock(clock))
    return user


# ------------------------------------------------------------------ creating users


def create_user(session: Session, *, username: str, role: str, password: str,
                display_name: str | None = None, email: str | None = None,
                department_id: int | None = None, actor: Actor | None,
                clock: Clock | None = None) -> User:
    """Create a user with ``password`` and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "user.manage")
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise InvalidInput(N_("username: must be 2-64 characters of a-z 0-9 . _ @ - starting with a letter or "
                              "digit, got %(username)r"), username=username)
    if find_user(session, name) is not None:
        raise InvalidInput(N_("username: '%(name)s' is already taken"), name=name)
    fields = parse_fields(USER_FIELDS, {"display_name": display_name or name, "email": email or "",
                                        "role": role, "department_id": department_id},
                          partial=False)
    if fields["department_id"] is not None and session.get(Department, fields["department_id"]) is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=fields['department_id'])
    check_password_policy(password, name)
    now = utc_now(clock)
    user = User(username=name, display_name=fields["display_name"], email=fields["email"] or None,
                role=fields["role"], department_id=fields["department_id"],
                password_hash=hash_password(password), is_active=True, failed_logins=0,
                password_changed_at=now, created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, actor=who, action="user.create", entity="user", entity_id=user.username,
                 after=user_snapshot(user), clock=clock)
    return user


def create_user_with_generated_password(
    session: Session, *, username: str, role: str, email: str | None = None,
    display_name: str | None = None, department_id: int | None = None,
    actor: Actor | None, clock: Clock | None = None,
) -> tuple[User, str]:
    """Create a user with a generated password; return the user and the password (shown once)."""
    password = generate_password()
    user = create_user(session, username=username, role=role, password=password,
                       display_name=display_name, email=email, department_id=department_id,
                       actor=actor, clock=clock)
    return user, password


def create_first_admin(session: Session, *, username: str = "admin", display_name: str | None = None,
                       email: str | None = None, clock: Clock | None = None) -> tuple[User, str]:
    """Create the first administrator with a generated password; refuse when one exists."""
    if has_admin(session):
        raise InvalidInput(N_("an administrator already exists; sign in as that user to add more"))
    return create_user_with_generated_password(
        session, username=username, role="admin", email=email,
        display_name=display_name or "Administrator", actor=None, clock=clock)


def ensure_admin_with_fresh_password(session: Session, *, username: str = "admin",
                                     clock: Clock | None = None) -> str:
    """Make ``username`` an active administrator with a new generated password; return it.

    For the demo, which prints a fresh password on every start instead of shipping one.
    """
    user = find_user(session, username)
    if user is None:
        _, password = create_user_with_generated_password(
            session, username=username, role="admin", display_name="Administrator",
            actor=None, clock=clock)
        return password
    if user.role != "admin" or not user.is_active:
        update_user(session, user.username, {"role": "admin"}, actor=None, clock=clock)
        set_active(session, user.username, True, actor=None, clock=clock)
    return reset_password(session, username=user.username, actor=None, clock=clock)


def update_user(session: Session, username: str, changes: dict, *, actor: Actor | None,
                clock: Clock | None = None) -> User:
    """Change a user's display name, e-mail, role or department; a new role ends their sessions."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "user.manage")
    user = _existing(session, username)
    fields = parse_fields(USER_FIELDS, changes, partial=True)
    if "email" in fields:
        fields["email"] = fields["email"] or None
    if fields.get("department_id") is not None and session.get(Department, fields["department_id"]) is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=fields['department_id'])
    before = user_snapshot(user)
    if user.role == "admin" and fields.get("role", "admin") != "admin":
        _keep_one_admin(session, user)
    for key, value in fields.items():
        setattr(user, key, value)
    if user.role != before["role"]:
        signin.end_user_sessions(session, user.id)  # sign in again under the new role
    session.flush()
    old, new = audit.changes(before, user_snapshot(user))
    if new:
        audit.record(session, actor=who, action="user.update", entity="user",
                     entity_id=user.username, before=old, after=new, clock=clock)
    if user.role != before["role"]:  # a token made for one role's work does not carry over
        _revoke_all_tokens(session, user, who, "role change", clock)
    return user


def set_active(session: Session, username: str, active: bool, *, actor: Actor | None,
               clock: Clock | None = None) -> User:
    """Enable or disable a user's account (users are never deleted); disabling ends its sessions."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "user.manage")
    user = _existing(session, username)
    if user.is_active == active:
        return user
    if not active and user.role == "admin":
        _keep_one_admin(session, user)
    user.is_active = active
    if not active:
        signin.end_user_sessions(session, user.id)
    session.flush()
    audit.record(session, actor=who, action="user.enable" if active else "user.disable",
                 entity="user", entity_id=user.username, before={"is_active": not active},
                 after={"is_active": active}, clock=clock)
    return user


def _existing(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise NotFound(N_("user '%(username)s' does not exist"), username=normalise_username(username))
    return user


def _keep_one_admin(session: Session, user: User) -> None:
    others = session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.is_active.is_(True), User.id != user.id))
    if not others:
        raise InvalidInput(N_("'%(username)s' is the last active administrator; appoint another first"),
                           username=user.username)


# ------------------------------------------------------------------ signing in


def authenticate(session: Session, username: str, password: str, *, clock: Clock | None = None,
                 source_ip: str | None = None, two_factor_roles: frozenset[str] = frozenset()) -> User:
    """Return the user whose credentials these are, or raise :class:`AuthenticationFailed`.

    ``source_ip`` is the client's address. Failures are counted and audited in ``session``
    *before* raising, so the caller must commit even when this raises. After too many failures
    for this user name from this address, or from this address altogether, every attempt from
    it is refused with :class:`AccountLocked` until the failures age out (see
    :mod:`wardlink.hub.services.people.signin`) -- the same way for user names that do not exist, so neither
    the answer nor its timing tells which accounts exist.

    A user who signs in with a second factor (enrolled, or of a role in ``two_factor_roles``)
    is returned with the sign-in unfinished: nothing is cleared until :func:`finish_sign_in`.
    """
    clock = resolve_clock(clock)
    name = normalise_username(username)
    until = signin.blocked_until(session, name, source_ip, clock=clock)
    if until is not None:
        raise AccountLocked("too many failed sign-in attempts; try again later", until)
    user = find_user(session, name) if name else None
    where = Actor(username=name[:100] or "?", role="anonymous", source_ip=source_ip)
    if user is None:
        _burn_verify(password or "")
        fail_sign_in(session, name, where, {"reason": "unknown user"}, clock)
    who = Actor.for_user(user, source_ip)
    if not _verify(user.password_hash, password or ""):
        user.failed_logins += 1
        fail_sign_in(session, name, who, {"reason": "wrong password", "failed_logins": user.failed_logins},
                clock)
    if not user.is_active:
        fail_sign_in(session, name, who, {"reason": "disabled"}, clock)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if two_factor.needs_second_step(user, two_factor_roles):
        session.flush()  # a right password alone clears no failures: wrong codes keep counting
        return user
    return finish_sign_in(session, user, clock=clock, source_ip=source_ip)


def finish_sign_in(session: Session, user: User, *, clock: Clock | None = None, source_ip: str | None = None,
                   second_factor: str | None = None) -> User:
    """Record a complete sign-in of ``user``: clear its failures here and audit it."""
    clock = resolve_clock(clock)
    user.failed_logins = 0
    user.last_login_at = utc_now(clock)
    signin.clear_failures(session, user.username, source_ip)
    session.flush()
    audit.record(session, actor=Actor.for_user(user, source_ip), action="user.login", entity="user",
                 entity_id=user.username, after={"second_factor": second_factor} if second_factor else None,
                 clock=clock)
    return user


def fail_sign_in(session: Session, name: str, who: Actor, details: dict, clock: Clock) -> NoReturn:
    """Count and audit a failed sign-in, then raise the one vague answer every failure gets."""
    audit.record(session, actor=who, action="user.login_failed", entity="user",
                 entity_id=name or "?", after=details, clock=clock)
    if signin.record_failure(session, name, who.source_ip, clock=clock):
        until = signin.blocked_until(session, name, who.source_ip, clock=clock)
        audit.record(session, actor=who, action="user.locked", entity="user", entity_id=name or "?",
                     after={"locked_until": until, "source_ip": who.source_ip}, clock=clock)
    session.flush()
    raise AuthenticationFailed("invalid username or password")


def change_password(session: Session, *, current: str, new: str, actor: Actor,
                    clock: Clock | None = None, keep_session: str | None = None) -> User:
    """Change the signed-in user's own password after checking the current one.

    Every other session of the user ends; ``keep_session`` (the browser session making the
    change) stays signed in.
    """
    clock = resolve_clock(clock)
    if actor.user_id is None:
        raise PermissionDenied(N_("only a signed-in user can change their own password"))
    user = get_user(session, actor.user_id)
    if user.source == "directory":
        raise InvalidInput(N_("current_password: your password is kept by the hospital directory; change it there"))
    if not _verify(user.password_hash, current or ""):
        raise InvalidInput(N_("current_password: is not correct"))
    if new == current:
        raise InvalidInput(N_("new_password: must differ from the current password"))
    check_password_policy(new, user.username)
    user.password_hash = hash_password(new)
    user.password_changed_at = utc_now(clock)
    signin.end_user_sessions(session, user.id, keep=keep_session)
    session.flush()
    audit.record(session, actor=actor, action="user.password_change", entity="user",
                 entity_id=user.username, clock=clock)
    return user


def reset_password(session: Session, *, username: str, actor: Actor | None,
                   clock: Clock | None = None) -> str:
    """Give ``username`` a generated password, clear any lockout, end every session of the
    user, and return the password."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "user.manage")
    user = _existing(session, username)
    password = generate_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = utc_now(clock)
    user.failed_logins = 0
    user.locked_until = None
    signin.clear_failures(session, user.username)
    signin.end_user_sessions(session, user.id)
    session.flush()
    audit.record(session, actor=who, action="user.password_reset", entity="user",
                 entity_id=user.username, clock=clock)
    _revoke_all_tokens(session, user, who, "password reset", clock)
    return password


# ------------------------------------------------------------------ API tokens


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, *, name: str, actor: Actor,
                     clock: Clock | None = None) -> tuple[ApiToken, str]:
    """Issue an API token for the acting user; return the row and the token (shown once)."""
    clock = resolve_clock(clock)
    require(actor, "token.own")
    if actor.user_id is None:
        raise PermissionDenied(N_("API tokens belong to users; sign in to create one"))
    label = text(100, required=True)("name", name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=actor.user_id, name=label, token_hash=_token_digest(token),
                   prefix=token[:12], created_at=utc_now(clock))
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="token.create", entity="api_token", entity_id=row.id,
                 after={"name": label, "prefix": row.prefix}, clock=clock)
    return row, token


def list_api_tokens(session: Session, *, actor: Actor) -> list[ApiToken]:
    """Return the acting user's tokens, newest first."""
    require(actor, "token.own")
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_api_token(session: Session, token_id: int, *, actor: Actor,
                     clock: Clock | None = None) -> ApiToken:
    """Revoke one of the acting user's tokens (administrators may revoke anyone's)."""
    clock = resolve_clock(clock)
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(N_("API token %(token_id)s does not exist"), token_id=token_id)
    if row.user_id != actor.user_id:
        require(actor, "user.manage")
    else:
        require(actor, "token.own")
    if row.revoked_at is None:
        row.revoked_at = utc_now(clock)
        session.flush()
        audit.record(session, actor=actor, action="token.revoke", entity="api_token",
                     entity_id=row.id, after={"name": row.name, "prefix": row.prefix}, clock=clock)
    return row


def _revoke_all_tokens(session: Session, user: User, who: Actor, reason: str, clock: Clock) -> None:
    """Revoke every live API token of ``user``, one audit row each, saying why."""
    live = list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                       ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)))
    for row in live:
        row.revoked_at = utc_now(clock)
        audit.record(session, actor=who, action="token.revoke", entity="api_token", entity_id=row.id,
                     after={"name": row.name, "prefix": row.prefix, "reason": reason}, clock=clock)
    session.flush()


def authenticate_token(session: Session, token: str, *, clock: Clock | None = None) -> User:
    """Return the active user owning ``token``, or raise :class:`AuthenticationFailed`."""
    clock = resolve_clock(clock)
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthenticationFailed("invalid API token")
    digest = _token_digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by digest; the constant-time compare guards against a collation quirk
    # making the WHERE clause looser than byte equality.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        raise AuthenticationFailed("invalid or revoked API token")
    user = row.user
    if not user.is_active:
        raise AuthenticationFailed("invalid or revoked API token")
    now = utc_now(clock)
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
        session.flush()
    return user


def is_locked(user: User, now: datetime) -> bool:
    """Return True while ``user`` is locked out."""
    return user.locked_until is not None and user.locked_until > now
