"""Two-factor sign-in through the pages: enrolment with a QR code, codes from the app,
recovery codes (each once), wrong codes counted towards the lock-out, an administrator's reset."""

from __future__ import annotations

import json
import re

import pytest
from relational_support import WebEnv, clock, csrf_from, hub_config, login, password

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.errors import ConfigError
from wardlink.hub.services.people import signin, totp, two_factor, users
from wardlink.hub.web import create_app

_SECRET_RE = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')
_CODES_RE = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


@pytest.fixture
def web(tmp_path, clock, relational_url):
    """The admin UI with the default policy: administrators and managers need a second factor."""
    from wardlink.hub.telemetry.sqlite import SQLiteStore

    config = hub_config(tmp_path, database_url=relational_url, two_factor_roles="admin, manager")
    store = SQLiteStore(tmp_path / "telemetry.db")
    app = create_app(config, telemetry=store, clock=clock)
    from wardlink.hub.db import open_engine

    eng = open_engine(relational_url)
    try:
        yield WebEnv(app, eng, store, clock, config)
    finally:
        app.extensions["wardlink"].close()
        store.close()
        eng.dispose()


def _post(client, path: str, data: dict):
    page = client.get(path)
    return client.post(path, data={**data, "csrf_token": csrf_from(page.text)})


def _enrol(web, client, username: str) -> tuple[str, list[str]]:
    """Sign ``username`` in for the first time and enrol; return the secret and recovery codes."""
    response = login(client, username)
    assert response.status_code == 302 and response.headers["Location"] == "/login/enrol"
    page = client.get("/login/enrol")
    assert 'src="data:image/svg+xml' in page.text
    secret = _SECRET_RE.search(page.text).group(1).replace(" ", "")
    done = client.post("/login/enrol", data={"code": totp.code_at(secret, web.clock.now()),
                                             "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200, done.text
    codes = _CODES_RE.findall(done.text)
    assert len(codes) == two_factor.RECOVERY_CODES
    return secret, codes


def _actions(web, username: str) -> list[tuple[str, object]]:
    with session_scope(web.engine, readonly=True) as s:
        return [(row.action, json.loads(row.after_json) if row.after_json else None) for row in s.scalars(
            select(AuditLog).where(AuditLog.entity_id == username).order_by(AuditLog.id))]


def test_an_administrator_enrols_at_first_sign_in_and_then_needs_a_code(web):
    client = web.app.test_client()
    response = login(client, "admin")
    assert response.headers["Location"] == "/login/enrol"
    assert client.get("/").status_code == 302  # no session before the second factor
    page = client.get("/login/enrol")
    secret = _SECRET_RE.search(page.text).group(1).replace(" ", "")
    wrong = client.post("/login/enrol", data={"code": "000000", "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 400 and "authenticator app shows now" in wrong.text
    assert client.get("/").status_code == 302
    page = client.get("/login/enrol")
    assert _SECRET_RE.search(page.text).group(1).replace(" ", "") == secret  # the same enrolment
    done = client.post("/login/enrol", data={"code": totp.code_at(secret, web.clock.now()),
                                             "csrf_token": csrf_from(page.text)})
    assert len(_CODES_RE.findall(done.text)) == 10
    assert client.get("/").status_code == 200
    assert ("user.2fa_enrol", {"recovery_codes": 10}) in _actions(web, "admin")
    assert ("user.login", {"second_factor": "totp"}) in _actions(web, "admin")

    other = web.app.test_client()
    assert login(other, "admin").headers["Location"] == "/login/code"
    assert other.get("/").status_code == 302
    same_step = _post(other, "/login/code", {"code": totp.code_at(secret, web.clock.now())})
    assert same_step.status_code == 401  # the code already used is never taken again
    web.clock.advance(30)
    assert _post(other, "/login/code", {"code": totp.code_at(secret, web.clock.now())}).status_code == 302
    assert other.get("/").status_code == 200


def test_wrong_codes_count_towards_the_lock_out_and_a_right_password_clears_nothing(web):
    client = web.app.test_client()
    secret, _ = _enrol(web, client, "manager")
    client = web.app.test_client()
    login(client, "manager")
    for _ in range(signin.FAILURES_PER_ACCOUNT - 1):
        assert _post(client, "/login/code", {"code": "123456"}).status_code == 401
    assert login(client, "manager").headers["Location"] == "/login/code"  # the password again...
    assert _post(client, "/login/code", {"code": "654321"}).status_code == 401  # ...the fifth failure
    web.clock.advance(30)
    locked = _post(client, "/login/code", {"code": totp.code_at(secret, web.clock.now())})
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.text
    assert login(client, "manager").status_code == 429  # the password form refuses too
    actions = [a for a, _ in _actions(web, "manager")]
    assert actions.count("user.2fa_failed") == signin.FAILURES_PER_ACCOUNT and "user.locked" in actions
    web.clock.advance(signin.ACCOUNT_WINDOW.total_seconds())
    login(client, "manager")
    assert _post(client, "/login/code", {"code": totp.code_at(secret, web.clock.now())}).status_code == 302


def test_each_recovery_code_signs_in_once(web):
    client = web.app.test_client()
    _, codes = _enrol(web, client, "manager")
    client = web.app.test_client()
    login(client, "manager")
    used = _post(client, "/login/code", {"code": codes[3].upper().replace("-", " ")})
    assert used.status_code == 302
    assert "9 codes are left" in client.get("/").text
    again = web.app.test_client()
    login(again, "manager")
    assert _post(again, "/login/code", {"code": codes[3]}).status_code == 401
    assert _post(again, "/login/code", {"code": codes[4]}).status_code == 302
    assert [a for a in _actions(web, "manager") if a[0] == "user.2fa_recovery_used"] == [
        ("user.2fa_recovery_used", {"left": 9}), ("user.2fa_recovery_used", {"left": 8})]


def test_a_sign_in_waiting_for_its_code_expires(web):
    client = web.app.test_client()
    _enrol(web, client, "manager")
    client = web.app.test_client()
    login(client, "manager")
    web.clock.advance(301)
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_an_administrator_resets_two_factor_which_ends_the_users_sessions(web):
    manager = web.app.test_client()
    _enrol(web, manager, "manager")
    assert manager.get("/").status_code == 200
    admin = web.app.test_client()
    _enrol(web, admin, "admin")
    page = admin.get("/admin/users/manager")
    assert "Reset two-factor sign-in" in page.text
    response = admin.post("/admin/users/manager/two-factor/reset", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    assert manager.get("/").status_code == 302  # signed out everywhere
    assert ("user.2fa_reset", {"enrolled": False}) in _actions(web, "manager")
    assert login(web.app.test_client(), "manager").headers["Location"] == "/login/enrol"
    # Only administrators may reset.
    tech = web.app.test_client()
    login(tech, "tech")
    assert tech.post("/admin/users/admin/two-factor/reset",
                     data={"csrf_token": csrf_from(tech.get("/account").text)}).status_code == 403


def test_other_roles_may_enrol_from_their_account_page(web):
    client = web.app.test_client()
    assert login(client, "tech").headers["Location"] == "/"  # no second factor asked of technicians
    assert "Set up two-factor sign-in" in client.get("/account").text
    page = client.get("/account/two-factor")
    secret = _SECRET_RE.search(page.text).group(1).replace(" ", "")
    done = client.post("/account/two-factor", data={"code": totp.code_at(secret, web.clock.now()),
                                                    "csrf_token": csrf_from(page.text)})
    assert len(_CODES_RE.findall(done.text)) == 10
    assert "Unused recovery codes: 10." in client.get("/account/two-factor").text
    later = web.app.test_client()
    assert login(later, "tech").headers["Location"] == "/login/code"


def test_the_policy_names_known_roles_only():
    assert two_factor.parse_roles("admin, manager") == {"admin", "manager"}
    assert two_factor.parse_roles("") == frozenset()
    with pytest.raises(ConfigError, match="two_factor_roles: must name roles among .* got boss"):
        two_factor.parse_roles("admin, boss")


def test_a_password_alone_never_finishes_the_sign_in_of_an_enrolled_user(web):
    with session_scope(web.engine) as s:
        user = users.authenticate(s, "viewer", password("viewer"), clock=web.clock)
        assert user.last_login_at is not None  # nobody asks a viewer for a code
        two_factor.start_enrolment(s, user)
        two_factor.confirm_enrolment(s, user, totp.code_at(user.totp_secret, web.clock.now()), actor=None,
                                     clock=web.clock)
        before = user.last_login_at
        web.clock.advance(60)
        users.authenticate(s, "viewer", password("viewer"), clock=web.clock)
        assert user.last_login_at == before
