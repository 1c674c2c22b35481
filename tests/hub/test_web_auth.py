"""Signing in and out of the admin UI: CSRF, hardened cookies, lockout, rate limits, expiry."""

from __future__ import annotations

import json
import re

import pytest
from relational_support import clock, csrf_from, hub_config, login, password, web

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.services.people import users
from wardlink.hub.web import create_app
from wardlink.hub.services.people import signin
from wardlink.hub.web.people.auth import SESSION_LIFETIME


def _client_at(web, address: str):
    """Return a test client whose requests come from ``address``."""
    client = web.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _failed_logins(web, username):
    with session_scope(web.engine, readonly=True) as s:
        return users.find_user(s, username).failed_logins


def test_the_login_form_needs_its_csrf_token(web):
    client = web.client()
    page = client.get("/login")
    assert page.status_code == 200 and csrf_from(page.text)
    response = client.post("/login", data={"username": "viewer", "password": password("viewer")})
    assert response.status_code == 400 and "security token" in response.text
    response = client.post("/login", data={"username": "viewer", "password": password("viewer"),
                                           "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out
    assert _failed_logins(web, "viewer") == 0  # the password was never even checked


def test_signing_in_sets_an_httponly_samesite_cookie(web):
    client = web.client()
    response = login(client, "viewer")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("wardlink_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200


def test_the_session_cookie_is_secure_when_configured(tmp_path, clock, relational_url):
    config = hub_config(tmp_path, database_url=relational_url, secure_cookies=True)
    app = create_app(config, clock=clock)
    try:
        response = login(app.test_client(), "viewer")
        assert "; Secure" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.extensions["wardlink"].close()


def test_wrong_passwords_lock_that_account_at_that_address_only(web):
    client = web.client()
    response = login(client, "viewer", "not-my-password")
    assert response.status_code == 401 and "Invalid username or password." in response.text
    assert _failed_logins(web, "viewer") == 1
    for _ in range(signin.FAILURES_PER_ACCOUNT - 1):
        login(client, "viewer", "not-my-password")
    response = login(client, "viewer")  # the right password, too late
    assert response.status_code == 429 and "Try again in 15 minutes" in response.text
    assert int(response.headers["Retry-After"]) == signin.ACCOUNT_WINDOW.total_seconds()
    elsewhere = _client_at(web, "198.51.100.4")  # the account's owner, at another desk
    assert login(elsewhere, "viewer").status_code == 302
    web.clock.advance(signin.ACCOUNT_WINDOW.total_seconds())
    assert login(client, "viewer").status_code == 302


def test_unknown_and_known_user_names_get_the_same_answers(web):
    def answers(username, address):
        client = _client_at(web, address)
        seen = [login(client, username, "not-the-password") for _ in range(signin.FAILURES_PER_ACCOUNT + 1)]
        return [(r.status_code, re.search(r'role="alert">([^<]*)<', r.text).group(1),
                 r.headers.get("Retry-After")) for r in seen]

    unknown, known = answers("nobody-here", "198.51.100.5"), answers("viewer", "198.51.100.6")
    assert unknown == known
    assert [status for status, _, _ in known] == [401] * signin.FAILURES_PER_ACCOUNT + [429]


def test_failed_sign_ins_from_one_address_are_rate_limited(web):
    client = web.client()
    token = csrf_from(client.get("/login").text)
    for n in range(signin.FAILURES_PER_ADDRESS):
        attempt = {"username": f"guess{n}", "password": "guess-guess", "csrf_token": token}
        assert client.post("/login", data=attempt).status_code == 401
    blocked = client.post("/login", data={"username": "viewer", "password": password("viewer"),
                                          "csrf_token": token})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) == signin.ADDRESS_WINDOW.total_seconds()
    other = _client_at(web, "198.51.100.4")  # another address is not held back
    assert login(other, "viewer").status_code == 302
    web.clock.advance(signin.ADDRESS_WINDOW.total_seconds())
    assert client.post("/login", data={"username": "viewer", "password": password("viewer"),
                                       "csrf_token": token}).status_code == 302


def test_successful_sign_ins_are_never_counted(web):
    for _ in range(signin.FAILURES_PER_ADDRESS + 5):
        client = web.app.test_client()
        assert login(client, "viewer").status_code == 302


def test_pages_send_visitors_to_sign_in_and_back(web):
    client = web.client()
    response = client.get("/assets?q=pump")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/assets?q%3Dpump"
    page = client.get(response.headers["Location"])
    response = client.post("/login", data={"username": "viewer", "password": password("viewer"),
                                           "next": "/assets?q=pump", "csrf_token": csrf_from(page.text)})
    assert response.headers["Location"] == "/assets?q=pump"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_next_never_leads_off_site(web, target):
    client = web.client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "viewer", "password": password("viewer"),
                                           "next": target, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_signing_out_takes_a_post_with_the_csrf_token(web):
    client = web.client("viewer")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
    token = csrf_from(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_changing_the_password_ends_other_sessions_of_that_user(web):
    here, elsewhere = web.client("tech"), web.client("tech")
    token = csrf_from(here.get("/account").text)
    response = here.post("/account/password", data={
        "csrf_token": token, "current_password": password("tech"),
        "new_password": "correct horse battery staple", "confirm_password": "correct horse battery staple"})
    assert response.status_code == 302
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    mismatch = here.post("/account/password", data={
        "csrf_token": token, "current_password": "correct horse battery staple",
        "new_password": "another long passphrase", "confirm_password": "a different one entirely"})
    assert mismatch.status_code == 400 and "do not match" in mismatch.text


def test_a_disabled_users_session_ends_at_once(web):
    client = web.client("viewer")
    with session_scope(web.engine) as s:
        users.set_active(s, "viewer", False, actor=None, clock=web.clock)
    assert client.get("/").status_code == 302


def test_sessions_end_after_their_lifetime(web):
    client = web.client("viewer")
    web.clock.advance(SESSION_LIFETIME.total_seconds() - 1)
    assert client.get("/").status_code == 200
    web.clock.advance(2)
    assert client.get("/").status_code == 302


def test_an_api_token_is_shown_once_on_the_account_page(web):
    client = web.client("tech")
    token_csrf = csrf_from(client.get("/account").text)
    page = client.post("/account/tokens", data={"name": "nightly export", "csrf_token": token_csrf})
    assert page.status_code == 200
    token = page.text.split('data-testid="new-token">')[1].split("<")[0]
    assert token.startswith("wlt_")
    again = client.get("/account").text
    assert token not in again and "nightly export" in again and token[:12] in again
    api = web.app.test_client()
    assert api.get("/api/v1/assets", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# ------------------------------------------------------------------ revocable sessions

COOKIE = "wardlink_session"


def _replay(web, cookie: str, path: str = "/api/v1/assets") -> int:
    """Send a captured session cookie from a fresh client; return the status."""
    client = web.app.test_client()
    client.set_cookie(COOKIE, cookie)
    return client.get(path).status_code


def _sign_out(web, client):
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})


def _change_password(web, client):
    elsewhere = web.client("tech")  # the session that changes the password stays signed in
    response = elsewhere.post("/account/password", data={
        "csrf_token": csrf_from(elsewhere.get("/account").text), "current_password": password("tech"),
        "new_password": "correct horse battery staple", "confirm_password": "correct horse battery staple"})
    assert response.status_code == 302 and elsewhere.get("/").status_code == 200


def _reset_password(web, client):
    with session_scope(web.engine) as s:
        users.reset_password(s, username="tech", actor=None, clock=web.clock)


def _disable(web, client):
    with session_scope(web.engine) as s:
        users.set_active(s, "tech", False, actor=None, clock=web.clock)


def _change_role(web, client):
    with session_scope(web.engine) as s:
        users.update_user(s, "tech", {"role": "viewer"}, actor=None, clock=web.clock)


@pytest.mark.parametrize("event", [_sign_out, _change_password, _reset_password, _disable, _change_role],
                         ids=["sign-out", "password-change", "password-reset", "disable", "role-change"])
def test_a_captured_session_cookie_is_dead_after(web, event):
    client = web.client("tech")
    cookie = client.get_cookie(COOKIE).value
    assert _replay(web, cookie) == 200
    event(web, client)
    assert _replay(web, cookie) == 401
    assert _replay(web, cookie, "/assets") == 302  # pages send it to sign in
    assert client.get("/api/v1/assets").status_code == 401


def test_signing_out_ends_only_that_session(web):
    here, elsewhere = web.client("tech"), web.client("tech")
    _sign_out(web, here)
    assert here.get("/api/v1/assets").status_code == 401
    assert elsewhere.get("/api/v1/assets").status_code == 200


def test_a_disabled_users_api_tokens_stop_working(web):
    client = web.client("tech")
    page = client.post("/account/tokens", data={"name": "script", "csrf_token": csrf_from(client.get("/account").text)})
    token = page.text.split('data-testid="new-token">')[1].split("<")[0]
    bearer = {"Authorization": f"Bearer {token}"}
    api = web.app.test_client()
    assert api.get("/api/v1/assets", headers=bearer).status_code == 200
    _disable(web, client)
    assert api.get("/api/v1/assets", headers=bearer).status_code == 401


@pytest.mark.parametrize("event, kept", [(_reset_password, False), (_change_role, False), (_change_password, True)],
                         ids=["password-reset", "role-change", "own-password-change"])
def test_a_password_reset_or_role_change_revokes_the_users_api_tokens(web, event, kept):
    client = web.client("tech")
    page = client.post("/account/tokens", data={"name": "script", "csrf_token": csrf_from(client.get("/account").text)})
    token = page.text.split('data-testid="new-token">')[1].split("<")[0]
    bearer = {"Authorization": f"Bearer {token}"}
    api = web.app.test_client()
    assert api.get("/api/v1/assets", headers=bearer).status_code == 200
    event(web, client)
    assert api.get("/api/v1/assets", headers=bearer).status_code == (200 if kept else 401)
    with session_scope(web.engine, readonly=True) as s:
        reasons = [json.loads(row.after_json)["reason"] for row in s.scalars(
            select(AuditLog).where(AuditLog.action == "token.revoke"))]
    assert reasons == ([] if kept else [{_reset_password: "password reset", _change_role: "role change"}[event]])


def test_the_sign_in_limits_hold_across_web_processes(web):
    other_process = create_app(web.config, clock=web.clock)  # a second web process of the same hub
    try:
        here = _client_at(web, "198.51.100.8")
        for n in range(signin.FAILURES_PER_ADDRESS):
            assert login(here, f"guess{n}", "guess-guess").status_code == 401
        there = other_process.test_client()
        there.environ_base["REMOTE_ADDR"] = "198.51.100.8"
        assert login(there, "viewer").status_code == 429
    finally:
        other_process.extensions["wardlink"].close()
