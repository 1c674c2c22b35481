"""Signing in with a directory account, and what the hub's user becomes.

A user name the hub does not know, or whose user came from the directory, is checked by the
directory (:mod:`wardlink.hub.services.people.directory`); local users keep their local
passwords. At every directory sign-in the user's name, e-mail, role and department are taken
from the directory again: a person moved to another group signs in with the new role, and
their older sessions and API tokens end as with any role change. A person in no group that
gives a role cannot sign in. Failures count towards the same lock-out as local passwords, and
the second factor is asked the same way.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wardlink.clock import Clock
from wardlink.hub.db.models import Department, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.errors import AccountLocked
from wardlink.hub.services.people import signin, two_factor, users
from wardlink.hub.services.people.directory import Directory, DirectoryAccount

#: Stands in for the password hash of directory users: never a valid Argon2 hash.
NO_LOCAL_PASSWORD = "!directory"
DIRECTORY = Actor.system("directory")


def authenticate(session: Session, username: str, password: str, *, directory: Directory | None,
                 clock: Clock | None = None, source_ip: str | None = None,
                 two_factor_roles: frozenset[str] = frozenset()) -> User:
    """Return the user whose credentials these are, by the directory or locally (see the module).

    Like :func:`wardlink.hub.services.people.users.authenticate`, failures are counted and
    audited before :class:`AuthenticationFailed` is raised (the caller commits), and a user who
    owes a second factor is returned with the sign-in unfinished. Raises
    :class:`~wardlink.hub.services.people.directory.DirectoryUnavailable` when the directory
    cannot answer (nothing is counted then).
    """
    clock = resolve_clock(clock)
    name = users.normalise_username(username)
    local = users.find_user(session, name) if name else None
    if (directory is None or not users.USERNAME_RE.match(name)
            or (local is not None and local.source != "directory")):
        return users.authenticate(session, username, password, clock=clock, source_ip=source_ip,
                                  two_factor_roles=two_factor_roles)
    until = signin.blocked_until(session, name, source_ip, clock=clock)
    if until is not None:
        raise AccountLocked("too many failed sign-in attempts; try again later", until)
    anonymous = Actor(username=name[:100], role="anonymous", source_ip=source_ip)
    account = directory.authenticate(name, password or "")
    if account is None:
        users.fail_sign_in(session, name, anonymous, {"reason": "refused by the directory"}, clock)
    if account.role is None:
        users.fail_sign_in(session, name, anonymous, {"reason": "in no directory group with a role",
                                                      "dn": account.dn}, clock)
    user = _synchronise(session, local, account, clock)
    who = Actor.for_user(user, source_ip)
    if not user.is_active:
        users.fail_sign_in(session, name, who, {"reason": "disabled"}, clock)
    audit.record(session, actor=who, action="user.directory_login", entity="user", entity_id=user.username,
                 after={"dn": account.dn, "groups": list(account.groups), "role": user.role,
                        "department_id": user.department_id}, clock=clock)
    if two_factor.needs_second_step(user, two_factor_roles):
        session.flush()
        return user
    return users.finish_sign_in(session, user, clock=clock, source_ip=source_ip)


def _department_id(session: Session, value: str | None) -> int | None:
    if not value:
        return None
    key = value.strip().lower()
    found = list(session.scalars(select(Department.id).where(
        or_(func.lower(Department.code) == key, func.lower(Department.name) == key)).limit(2)))
    return found[0] if len(found) == 1 else None


def _synchronise(session: Session, local: User | None, account: DirectoryAccount, clock: Clock) -> User:
    fields = {"display_name": account.display_name[:200], "email": (account.email or "")[:254],
              "role": account.role, "department_id": _department_id(session, account.department)}
    if local is None:
        now = utc_now(clock)
        user = User(username=account.username, display_name=fields["display_name"], email=fields["email"] or None,
                    role=account.role, department_id=fields["department_id"], password_hash=NO_LOCAL_PASSWORD,
                    source="directory", is_active=True, failed_logins=0, created_at=now)
        session.add(user)
        session.flush()
        audit.record(session, actor=DIRECTORY, action="user.create", entity="user", entity_id=user.username,
                     after={**users.user_snapshot(user), "source": "directory", "dn": account.dn}, clock=clock)
        return user
    # The same rules as an administrator's edit: a new role ends sessions and revokes tokens.
    return users.update_user(session, local.username, fields, actor=DIRECTORY, clock=clock)
