"""Sign-in limits and revocable browser sessions, both kept in the database.

**Limits.** Only *failed* sign-ins count, and each counts against the client's address (after
the web layer resolved it behind trusted proxies): at most :data:`FAILURES_PER_ACCOUNT` per
user name and address within :data:`ACCOUNT_WINDOW`, and :data:`FAILURES_PER_ADDRESS` per
address (any user names) within :data:`ADDRESS_WINDOW`. A client that guesses therefore locks
out only itself: the account's owner, signing in from elsewhere, is never held back by it,
and nobody can lock the whole site. The limits apply to user names that do not exist exactly
as to those that do, with the same answer, so they reveal nothing about which accounts exist.

**Sessions.** A browser's cookie carries a random session id; only its SHA-256 is stored in
``web_sessions``. Deleting the row ends the session at once, whatever the cookie says:
signing out ends that session; a password change ends the user's other sessions; a password
reset, a disable or a role change ends all of them. Checking a session is one primary-key
lookup joined to the user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import LoginFailure, User, WebSession
from wardlink.hub.db.types import utc_now
from wardlink.clock import Clock

#: Failed sign-ins allowed per user name and client address within ACCOUNT_WINDOW.
FAILURES_PER_ACCOUNT = 5
ACCOUNT_WINDOW = timedelta(minutes=15)
#: Failed sign-ins allowed per client address (any user names) within ADDRESS_WINDOW.
FAILURES_PER_ADDRESS = 20
ADDRESS_WINDOW = timedelta(minutes=5)
#: How long a browser session lasts after signing in.
SESSION_LIFETIME = timedelta(hours=12)

_NO_ADDRESS = "-"


def _address(source_ip: str | None) -> str:
    return (source_ip or _NO_ADDRESS)[:45]


def _name(username: str) -> str:
    return (username or "")[:100]


# ------------------------------------------------------------------ limits


def _blocked_until(session: Session, where, limit: int, window: timedelta,
                   now: datetime) -> datetime | None:
    # The newest `limit` failures in the window; with that many, the block lasts until the
    # oldest of them leaves the window.
    recent = list(session.scalars(select(LoginFailure.at).where(*where, LoginFailure.at > now - window)
                                  .order_by(LoginFailure.at.desc()).limit(limit)))
    if len(recent) < limit:
        return None
    return recent[-1] + window


def blocked_until(session: Session, username: str, source_ip: str | None, *,
                  clock: Clock) -> datetime | None:
    """Return until when sign-ins of ``username`` from ``source_ip`` are refused, or None."""
    now = utc_now(clock)
    address = _address(source_ip)
    by_account = _blocked_until(
        session, (LoginFailure.username == _name(username), LoginFailure.source_ip == address),
        FAILURES_PER_ACCOUNT, ACCOUNT_WINDOW, now)
    by_address = _blocked_until(session, (LoginFailure.source_ip == address,),
                                FAILURES_PER_ADDRESS, ADDRESS_WINDOW, now)
    found = [t for t in (by_account, by_address) if t is not None]
    return max(found) if found else None


def record_failure(session: Session, username: str, source_ip: str | None, *,
                   clock: Clock) -> bool:
    """Count a failed sign-in; return True when it locks ``username`` out at this address."""
    now = utc_now(clock)
    # Failures older than both windows count for nothing: drop them as new ones arrive.
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - max(ACCOUNT_WINDOW, ADDRESS_WINDOW)))
    session.add(LoginFailure(username=_name(username), source_ip=_address(source_ip), at=now))
    session.flush()
    return blocked_until(session, username, source_ip, clock=clock) is not None


def clear_failures(session: Session, username: str, source_ip: str | None = None) -> None:
    """Forget the failed sign-ins of ``username`` (from ``source_ip`` only, when given)."""
    where = [LoginFailure.username == _name(username)]
    if source_ip is not None:
        where.append(LoginFailure.source_ip == _address(source_ip))
    session.execute(delete(LoginFailure).where(*where))


# ------------------------------------------------------------------ sessions


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(session: Session, user: User, *, clock: Clock,
                  source_ip: str | None = None) -> str:
    """Record a new session of ``user`` and return its id (for the cookie; never stored)."""
    now = utc_now(clock)
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=_digest(session_id), user_id=user.id, created_at=now,
                           expires_at=now + SESSION_LIFETIME, source_ip=source_ip))
    session.flush()
    return session_id


def session_user(session: Session, session_id: str | None, *, clock: Clock) -> User | None:
    """Return the active user of a live session ``session_id``, or None (ended, expired...)."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > 200:
        return None
    row = session.execute(select(User, WebSession.expires_at).join(WebSession, WebSession.user_id == User.id)
                          .where(WebSession.id_hash == _digest(session_id))).first()
    if row is None:
        return None
    user, expires_at = row
    if expires_at <= utc_now(clock) or not user.is_active:
        return None
    return user


def end_session(session: Session, session_id: str | None) -> None:
    """End one session (signing out); unknown ids are ignored."""
    if isinstance(session_id, str) and session_id:
        session.execute(delete(WebSession).where(WebSession.id_hash == _digest(session_id)))


def end_user_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """End every session of ``user_id`` except ``keep``; return how many ended."""
    where = [WebSession.user_id == user_id]
    if keep:
        where.append(WebSession.id_hash != _digest(keep))
    result = session.execute(delete(WebSession).where(*where))
    return result.rowcount or 0
