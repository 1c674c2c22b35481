"""Accounts: no default credentials, Argon2 hashes, lockout, password changes and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from relational_support import actor, clock, engine, password, row_count, session
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import AuditLog, User
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.people import signin
from wardlink.hub.services.people import users
from wardlink.hub.services.errors import AccountLocked, AuthenticationFailed


def _audit_actions(session, entity_id: str) -> list[str]:
    return list(session.scalars(select(AuditLog.action).where(AuditLog.entity_id == entity_id)
                                .order_by(AuditLog.seq)))


def test_a_new_database_has_no_users_and_the_first_admin_gets_a_random_password(clock, empty_relational_url):
    url = empty_relational_url
    upgrade(url)
    eng = open_engine(url)
    try:
        assert row_count(eng, "users") == 0
        with session_scope(eng) as s:
            admin, secret = users.create_first_admin(s, clock=clock)
        with session_scope(eng) as s:
            assert len(secret) >= 20 and secret != "admin"
            stored = s.get(User, admin.id)
            assert stored.role == "admin" and secret not in stored.password_hash
            assert stored.password_hash.startswith("$argon2id$")
            assert users.authenticate(s, "admin", secret, clock=clock).id == admin.id
            with pytest.raises(InvalidInput, match="already exists"):
                users.create_first_admin(s, username="second", clock=clock)
    finally:
        eng.dispose()


def test_generated_passwords_differ_every_time():
    assert len({users.generate_password() for _ in range(50)}) == 50


def test_wrong_passwords_are_counted_and_audited_then_that_address_is_locked_out(session, clock):
    here = "192.0.2.9"
    for attempt in range(1, signin.FAILURES_PER_ACCOUNT):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(session, "viewer", "not the password", clock=clock, source_ip=here)
        assert users.find_user(session, "viewer").failed_logins == attempt
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, "viewer", "still not it", clock=clock, source_ip=here)
    # From that address, even the right password is refused until the failures age out...
    with pytest.raises(AccountLocked) as locked:
        users.authenticate(session, "viewer", password("viewer"), clock=clock, source_ip=here)
    assert locked.value.until == users.utc_now(clock) + signin.ACCOUNT_WINDOW
    # ...but the account's owner elsewhere is not held back by someone else's guesses.
    assert users.authenticate(session, "viewer", password("viewer"), clock=clock,
                              source_ip="192.0.2.77").username == "viewer"
    clock.advance(signin.ACCOUNT_WINDOW.total_seconds() - 1)
    with pytest.raises(AccountLocked):
        users.authenticate(session, "viewer", password("viewer"), clock=clock, source_ip=here)
    clock.advance(1)
    assert users.authenticate(session, "viewer", password("viewer"), clock=clock,
                              source_ip=here).username == "viewer"
    assert users.find_user(session, "viewer").failed_logins == 0
    actions = _audit_actions(session, "viewer")
    assert actions.count("user.login_failed") == signin.FAILURES_PER_ACCOUNT
    assert "user.locked" in actions and actions[-1] == "user.login"
    source = session.scalar(select(AuditLog.source_ip).where(AuditLog.action == "user.login_failed"))
    assert source == here


def test_unknown_user_names_lock_out_exactly_like_real_ones(session, clock):
    def outcomes(username):
        seen = []
        for _ in range(signin.FAILURES_PER_ACCOUNT + 1):
            with pytest.raises(AuthenticationFailed) as exc:
                users.authenticate(session, username, "not the password", clock=clock, source_ip="192.0.2.9")
            seen.append((type(exc.value).__name__, str(exc.value), getattr(exc.value, "until", None)))
        return seen

    assert outcomes("nobody") == outcomes("viewer")


def test_unknown_users_and_disabled_accounts_get_the_same_vague_answer(session, clock):
    with pytest.raises(AuthenticationFailed) as unknown:
        users.authenticate(session, "nobody", "whatever-password", clock=clock)
    users.set_active(session, "viewer", False, actor=None, clock=clock)
    with pytest.raises(AuthenticationFailed) as disabled:
        users.authenticate(session, "viewer", password("viewer"), clock=clock)
    assert str(unknown.value) == str(disabled.value) == "invalid username or password"
    assert "user.login_failed" in _audit_actions(session, "nobody")


def test_usernames_are_case_insensitive(session, clock):
    assert users.authenticate(session, "  Viewer ", password("viewer"), clock=clock).username == "viewer"


def test_changing_a_password_checks_the_old_one_and_the_policy(session, clock):
    me = actor(session, "tech")
    before = users.session_fingerprint(users.find_user(session, "tech"))
    with pytest.raises(InvalidInput, match="current_password"):
        users.change_password(session, current="wrong", new="a much better passphrase", actor=me, clock=clock)
    with pytest.raises(InvalidInput, match="at least 12"):
        users.change_password(session, current=password("tech"), new="short", actor=me, clock=clock)
    with pytest.raises(InvalidInput, match="must differ"):
        users.change_password(session, current=password("tech"), new=password("tech"), actor=me, clock=clock)
    with pytest.raises(InvalidInput, match="username"):
        users.check_password_policy("Radiology.Tech1", "radiology.tech1")
    users.change_password(session, current=password("tech"), new="a much better passphrase", actor=me,
                          clock=clock)
    user = users.find_user(session, "tech")
    assert users.session_fingerprint(user) != before
    assert users.authenticate(session, "tech", "a much better passphrase", clock=clock).id == user.id
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, "tech", password("tech"), clock=clock)


def test_only_admins_create_users_and_reset_passwords(session, clock):
    with pytest.raises(PermissionDenied):
        users.create_user(session, username="eve", role="admin", password="x" * 16,
                          actor=actor(session, "manager"), clock=clock)
    user = users.create_user(session, username="Jo.Smith", role="technician", password="x" * 16,
                             email="jo@example.org", actor=actor(session, "admin"), clock=clock)
    assert user.username == "jo.smith"
    with pytest.raises(InvalidInput, match="already taken"):
        users.create_user(session, username="jo.smith", role="viewer", password="x" * 16,
                          actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="role: must be one of"):
        users.create_user(session, username="kim", role="superuser", password="x" * 16, actor=None,
                          clock=clock)
    with pytest.raises(PermissionDenied):
        users.reset_password(session, username="jo.smith", actor=actor(session, "tech"), clock=clock)
    fresh = users.reset_password(session, username="jo.smith", actor=None, clock=clock)
    assert users.authenticate(session, "jo.smith", fresh, clock=clock).id == user.id
    with pytest.raises(NotFound):
        users.reset_password(session, username="ghost", actor=None, clock=clock)


def test_reset_password_also_lifts_a_lockout(session, clock):
    for _ in range(users.MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(session, "buyer", "wrong", clock=clock)
    fresh = users.reset_password(session, username="buyer", actor=None, clock=clock)
    assert users.authenticate(session, "buyer", fresh, clock=clock).username == "buyer"


def test_the_last_active_admin_cannot_be_disabled_or_demoted(session, clock):
    with pytest.raises(InvalidInput, match="last active administrator"):
        users.set_active(session, "admin", False, actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="last active administrator"):
        users.update_user(session, "admin", {"role": "viewer"}, actor=None, clock=clock)
    users.update_user(session, "manager", {"role": "admin"}, actor=None, clock=clock)
    users.set_active(session, "admin", False, actor=None, clock=clock)
    assert not users.find_user(session, "admin").is_active


def test_the_demo_admin_gets_a_fresh_password_on_every_call(session, clock):
    first = users.ensure_admin_with_fresh_password(session, username="demo", clock=clock)
    second = users.ensure_admin_with_fresh_password(session, username="demo", clock=clock)
    assert first != second
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, "demo", first, clock=clock)
    assert users.authenticate(session, "demo", second, clock=clock).role == "admin"


def test_api_tokens_are_shown_once_stored_hashed_and_can_be_revoked(session, clock):
    me = actor(session, "tech")
    row, token = users.create_api_token(session, name="report script", actor=me, clock=clock)
    assert token.startswith(users.TOKEN_PREFIX) and token not in row.token_hash
    assert row.prefix == token[:12]
    assert users.authenticate_token(session, token, clock=clock).username == "tech"
    assert row.last_used_at == users.utc_now(clock)
    clock.advance(10)
    users.authenticate_token(session, token, clock=clock)
    assert row.last_used_at == users.utc_now(clock) - timedelta(seconds=10)  # touched at most once a minute
    with pytest.raises(PermissionDenied):
        users.revoke_api_token(session, row.id, actor=actor(session, "viewer"), clock=clock)
    users.revoke_api_token(session, row.id, actor=me, clock=clock)
    with pytest.raises(AuthenticationFailed):
        users.authenticate_token(session, token, clock=clock)
    for bad in ("", "wlt_", "Bearer x", token[:-1] + ("A" if token[-1] != "A" else "B")):
        with pytest.raises(AuthenticationFailed):
            users.authenticate_token(session, bad, clock=clock)


def test_a_disabled_users_tokens_stop_working(session, clock):
    _, token = users.create_api_token(session, name="t", actor=actor(session, "viewer"), clock=clock)
    users.set_active(session, "viewer", False, actor=None, clock=clock)
    with pytest.raises(AuthenticationFailed):
        users.authenticate_token(session, token, clock=clock)


def test_vendors_cannot_issue_api_tokens(session, clock):
    with pytest.raises(PermissionDenied):
        users.create_api_token(session, name="t", actor=actor(session, "vendor"), clock=clock)


def test_password_hashes_never_reach_the_audit_trail(session, clock):
    users.create_user(session, username="pat", role="viewer", password="correct horse battery",
                      actor=None, clock=clock)
    hashes = [h for (h,) in session.execute(select(User.password_hash))]
    texts = " ".join(filter(None, (f"{a} {b}" for a, b in session.execute(
        select(AuditLog.before_json, AuditLog.after_json)))))
    assert "correct horse battery" not in texts
    assert not any(h in texts for h in hashes)
