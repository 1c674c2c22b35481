"""Serving with waitress, the session signing key, and where the web app takes its settings."""

from __future__ import annotations

import json
import os
import stat
import threading
import urllib.request

import pytest
from relational_support import clock, hub_config, login

from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.web import create_app, make_server


def _app(tmp_path, clock, database_url, **overrides):
    overrides["database_url"] = database_url
    return create_app(hub_config(tmp_path, **overrides), clock=clock)


@pytest.mark.timeout(60)
def test_a_real_waitress_server_answers_and_stops(tmp_path, clock, relational_url):
    config = hub_config(tmp_path, database_url=relational_url)
    server = make_server(config, threads=2, clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/health", timeout=10) as response:
            assert response.status == 200
            assert response.headers["X-Frame-Options"] == "DENY"
            # make_server opened the configured telemetry store itself: SQLite in the data dir.
            assert json.loads(response.read()) == {"status": "ok", "database": "ok", "telemetry": "ok",
                                                   "ingest": "not running"}
        assert (tmp_path / "telemetry.db").exists()
    finally:
        server.close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    server.close()  # idempotent


def test_a_generated_signing_key_is_private_and_reused(tmp_path, clock, relational_url):
    first = _app(tmp_path, clock, relational_url)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    client = first.test_client()
    login(client, "viewer")
    cookie = client.get_cookie("wardlink_session").value
    first.extensions["wardlink"].close()
    second = _app(tmp_path, clock, relational_url)  # a restart, or a second worker process
    try:
        other = second.test_client()
        other.set_cookie("wardlink_session", cookie)
        assert other.get("/").status_code == 200
    finally:
        second.extensions["wardlink"].close()


def test_a_configured_key_file_is_used_and_must_be_long_enough(tmp_path, clock, relational_url):
    short = tmp_path / "short.key"
    short.write_text("tooshort\n")
    with pytest.raises(ConfigError, match="secret_key_file: .* at least 32 bytes"):
        _app(tmp_path, clock, relational_url, secret_key_file=str(short))
    with pytest.raises(ConfigError, match="secret_key_file: cannot read"):
        _app(tmp_path, clock, relational_url, secret_key_file=str(tmp_path / "missing.key"))
    good = tmp_path / "good.key"
    good.write_text("k" * 64)
    app = _app(tmp_path, clock, relational_url, secret_key_file=str(good))
    try:
        assert app.secret_key == b"k" * 64
        assert not (tmp_path / "secret_key").exists()
    finally:
        app.extensions["wardlink"].close()


def test_an_unmigrated_database_is_refused_with_the_fix(tmp_path, clock):
    with pytest.raises(StoreError, match="the database is empty .* run 'wardlink db upgrade' first"):
        _app(tmp_path, clock, f"sqlite:///{tmp_path / 'empty.db'}")


def test_flask_settings_come_from_the_instance_file_then_the_environment(tmp_path, clock, monkeypatch, relational_url):
    (tmp_path / "web.toml").write_text('SESSION_COOKIE_NAME = "from_instance"\nMAX_CONTENT_LENGTH = 2048\n')
    monkeypatch.setenv("WARDLINK_FLASK_MAX_CONTENT_LENGTH", "4096")
    app = _app(tmp_path, clock, relational_url)
    try:
        assert app.config["SESSION_COOKIE_NAME"] == "from_instance"
        assert app.config["MAX_CONTENT_LENGTH"] == 4096
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    finally:
        app.extensions["wardlink"].close()


def test_oversized_requests_are_refused(tmp_path, clock, relational_url):
    app = _app(tmp_path, clock, relational_url)
    try:
        response = app.test_client().post("/login", data={"username": "x" * (2 * 1024 * 1024)})
        assert response.status_code == 413
    finally:
        app.extensions["wardlink"].close()


def test_the_generated_key_file_is_not_world_readable_even_with_a_lax_umask(tmp_path, clock, relational_url):
    old = os.umask(0)
    try:
        app = _app(tmp_path, clock, relational_url)
    finally:
        os.umask(old)
    app.extensions["wardlink"].close()
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
