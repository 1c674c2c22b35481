"""Signing in and out of the admin UI: CSRF, hardened cookies, lockout, rate limits, expiry."""

from __future__ import annotations

import pytest
from relational_support import clock, csrf_from, hub_config, login, password, web  # noqa: F401

from hub.db import session_scope
from hub.services import users
from hub.web import create_app
from hub.web.app import LOGIN_ATTEMPTS, LOGIN_WINDOW_S
from hub.web.auth import SESSION_LIFETIME


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


def test_a_wrong_password_is_refused_counted_and_the_account_locks(web):
    client = web.client()
    response = login(client, "viewer", "not-my-password")
    assert response.status_code == 401 and "Invalid username or password." in response.text
    assert _failed_logins(web, "viewer") == 1
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        login(client, "viewer", "not-my-password")
    response = login(client, "viewer")  # the right password, too late
    assert response.status_code == 401 and "try again later" in response.text
    web.clock.advance(users.LOCKOUT.total_seconds())
    assert login(client, "viewer").status_code == 302


def test_sign_in_attempts_from_one_address_are_rate_limited(web):
    client = web.client()
    token = csrf_from(client.get("/login").text)
    attempt = {"username": "nobody", "password": "guess-guess", "csrf_token": token}
    for _ in range(LOGIN_ATTEMPTS):
        assert client.post("/login", data=attempt).status_code == 401
    blocked = client.post("/login", data={**attempt, "username": "viewer", "password": password("viewer")})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == LOGIN_WINDOW_S
    other = client.post("/login", data=attempt, environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert other.status_code == 401  # another address is not held back
    web.clock.advance(LOGIN_WINDOW_S)
    assert client.post("/login", data={**attempt, "username": "viewer",
                                       "password": password("viewer")}).status_code == 302


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
