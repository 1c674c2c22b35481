"""Enrollment tokens and the hub endpoint: hashed at rest, one use, expiring, voidable,
rate-limited and audited; the broker is changed only when everything else holds.

The broker is a real Mosquitto with the dynamic-security plugin (or password and ACL files),
changed through the same settings file the hub's web service reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import tomllib
from datetime import timedelta
from importlib.metadata import EntryPoint

import pytest
import requests
from enroll_support import start_hub
from provisioning_support import Peer

from wardlink.hub.config import load_config
from wardlink.hub.db import session_scope, upgrade
from wardlink.hub.db.models import EnrollmentToken
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import enrollment
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.gateways.enrollment import BrokerUnavailable
from wardlink.provisioning.enroll import IdentityStoreAccounts, broker_accounts, parse_settings
from wardlink.provisioning.errors import SettingError


@pytest.fixture
def hub(tmp_path, broker):
    """The hub web service behind HTTPS (three enrollment attempts per address)."""
    made = start_hub(tmp_path, broker.accounts(), https_dir=tmp_path / "https", attempts=3)
    yield made
    made.close()


def _post(hub, body) -> requests.Response:
    return requests.post(f"{hub.url}/api/enroll", json=body, verify=str(hub.ca_file), timeout=15)


def _add(hub, broker, gateway_id: str, **kwargs) -> enrollment.IssuedToken:
    with session_scope(hub.engine) as s:
        return enrollment.add_gateway(s, broker.accounts(), gateway_id=gateway_id, actor=None, clock=hub.clock,
                                      **kwargs)


def _audit(hub, gateway_id: str) -> list[tuple[str, dict]]:
    with session_scope(hub.engine) as s:
        page = audit.list_entries(s, actor=None, entity="gateway", entity_id=gateway_id, per_page=100)
        return [(e.action, json.loads(e.after_json or "null")) for e in reversed(page.items)]


def test_a_token_is_stored_only_as_its_hash(hub, broker, tmp_path):
    issued = _add(hub, broker, "gw-hash-01")
    assert issued.token.startswith("wle_") and len(issued.token) >= 40
    assert issued.token not in repr(issued)
    with session_scope(hub.engine) as s:
        row = s.query(EnrollmentToken).one()
        assert row.token_hash == enrollment.token_digest(issued.token) and row.prefix == issued.token[:10]
    hub.engine.dispose()  # checkpoint: every byte the database holds is in these files
    stored = b"".join(p.read_bytes() for p in (tmp_path / "hub").glob("wardlink.hub.db*"))
    assert issued.token.encode() not in stored and issued.token[10:30].encode() not in stored


def test_a_token_works_once_and_only_before_it_expires(hub, broker):
    issued = _add(hub, broker, "gw-exp-01", ttl=timedelta(hours=3))
    hub.clock.advance(3 * 3600)  # the instant it expires
    answer = _post(hub, {"token": issued.token})
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "token_expired"

    second = _add(hub, broker, "gw-exp-02", ttl=timedelta(hours=3))
    hub.clock.advance(3 * 3600 - 1)  # one second left
    answer = _post(hub, {"token": second.token})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["gateway_id"] == "gw-exp-02" and body["credentials"]["username"] == "gw-exp-02"
    assert body["broker"]["url"] == f"mqtts://127.0.0.1:{broker.tls_port}"
    assert body["broker"]["ca_certificate"] == broker.ca_file.read_text()
    assert answer.headers["Cache-Control"] == "no-store"
    # The password works on the broker; nobody else has seen it.
    peer = Peer("127.0.0.1", broker.tls_port, "gw-exp-02", body["credentials"]["password"],
                client_id="wardlink-gw-gw-exp-02", ca_file=broker.ca_file)
    try:
        assert not peer.connect().is_failure
    finally:
        peer.close()

    used = _post(hub, {"token": second.token})
    assert used.status_code == 410 and used.json()["error"]["code"] == "token_used"
    assert [a for a, _ in _audit(hub, "gw-exp-02")][-2:] == ["gateway.enroll", "gateway.enroll_refused"]


def test_a_new_token_voids_the_unused_one_and_disabling_voids_them_all(hub, broker):
    first = _add(hub, broker, "gw-void-01")
    with session_scope(hub.engine) as s:
        second = enrollment.issue_token(s, gateway_id="gw-void-01", actor=None, clock=hub.clock)
    answer = _post(hub, {"token": first.token})
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "token_revoked"
    with session_scope(hub.engine) as s:
        enrollment.set_enabled(s, broker.accounts(), "gw-void-01", False, actor=None, clock=hub.clock)
    answer = _post(hub, {"token": second.token})
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "token_revoked"
    with session_scope(hub.engine) as s, pytest.raises(InvalidInput, match="is disabled; enable it first"):
        enrollment.issue_token(s, gateway_id="gw-void-01", actor=None, clock=hub.clock)


def test_two_simultaneous_redemptions_of_one_token_give_one_login(hub, broker):
    issued = _add(hub, broker, "gw-race-01")
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def redeem():
        start.wait()
        answers.append(_post(hub, {"token": issued.token}))

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(a.status_code for a in answers) == [200, 410]
    assert [a for a, _ in _audit(hub, "gw-race-01")].count("gateway.enroll") == 1


def test_a_broker_outage_answers_503_and_leaves_the_token_usable(hub, broker):
    issued = _add(hub, broker, "gw-out-01")
    broker.server.stop()
    answer = _post(hub, {"token": issued.token})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "broker_unavailable"
    assert "the token was not used" in answer.json()["error"]["message"]
    broker.server.start()
    answer = _post(hub, {"token": issued.token})
    assert answer.status_code == 200, answer.text


def test_attempts_are_rate_limited_per_address_and_every_refusal_is_audited(hub):
    assert _post(hub, {"token": "wle_" + "A" * 43}).json()["error"]["code"] == "token_unknown"
    assert _post(hub, {"token": "not a token"}).json()["error"]["code"] == "token_malformed"
    assert _post(hub, "just text").status_code == 400
    limited = _post(hub, {"token": "wle_" + "B" * 43})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    refusals = [after["reason"] for action, after in _audit(hub, "-") if action == "gateway.enroll_refused"]
    assert refusals == ["unknown", "malformed", "malformed"]
    with session_scope(hub.engine) as s:
        rows = audit.list_entries(s, actor=None, entity="gateway", entity_id="-").items
        assert {r.source_ip for r in rows} == {"127.0.0.1"} and {r.actor for r in rows} == {"enrollment"}


@pytest.mark.parametrize("config, message", [
    ({"broker": {"url": "mqtt://elsewhere"}}, "unknown key(s) broker"),
    ({"gateway_id": "gw-other"}, "unknown key(s) gateway_id"),
    ({"channels": {"id": "a"}}, "initial_config.channels: must be a list of tables"),
    ({"hardware": "emulated"}, "initial_config.hardware: must be a table"),
    ({"health": {"interval": float("nan")}}, "initial_config: Out of range float values"),
    ({"channels": [{"id": "x" * 70_000}]}, "must be at most 65536 bytes"),
])
def test_the_initial_config_is_checked_before_anything_is_made(config, message):
    with pytest.raises(InvalidInput) as caught:
        enrollment.check_initial_config(config)
    assert message in str(caught.value)


@pytest.mark.parametrize("ttl", [timedelta(minutes=4), timedelta(days=8), timedelta(hours=-1)])
def test_token_lifetimes_outside_five_minutes_to_a_week_are_refused(ttl):
    with pytest.raises(InvalidInput, match="ttl: must be between"):
        enrollment.check_ttl(ttl)


def test_only_gateway_managers_may_add_or_revoke(hub, broker):
    with session_scope(hub.engine) as s:
        viewer = users.create_user(s, username="vera", role="viewer", password=users.generate_password(),
                                   actor=None)
        as_viewer = Actor.for_user(viewer)
        with pytest.raises(PermissionDenied):
            enrollment.add_gateway(s, broker.accounts(), gateway_id="gw-perm-01", actor=as_viewer)
    _add(hub, broker, "gw-perm-02")
    with session_scope(hub.engine) as s, pytest.raises(PermissionDenied):
        enrollment.revoke(s, broker.accounts(), "gw-perm-02", actor=as_viewer)
    assert "gw-perm-01" not in broker.logins() and "gw-perm-02" in broker.logins()


def test_a_ward_technician_adds_gateways_to_their_own_ward_only(hub, broker):
    with session_scope(hub.engine) as s:
        site = org.ensure_site(s, code="MAIN", name="Main", actor=None)
        icu = org.ensure_department(s, site, code="ICU", name="Intensive care", actor=None)
        pharmacy = org.ensure_department(s, site, code="PHARM", name="Pharmacy", actor=None)
        tech = users.create_user(s, username="tina", role="technician", password=users.generate_password(),
                                 department_id=icu.id, actor=None)
        as_tech = Actor.for_user(tech)
        with pytest.raises(PermissionDenied, match="your own department only"):
            enrollment.add_gateway(s, broker.accounts(), gateway_id="gw-ward-01", department_id=pharmacy.id,
                                   actor=as_tech)
        enrollment.add_gateway(s, broker.accounts(), gateway_id="gw-ward-02", actor=as_tech)
        assert gateways.get_gateway(s, "gw-ward-02", actor=as_tech).department_id == icu.id
    assert "gw-ward-01" not in broker.logins()


def test_when_the_broker_refuses_nothing_is_registered(hub, broker, tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-admin-password\n")
    settings = broker.settings_file.read_text().replace(str(tmp_path / "mqtt-admin.secret"), str(wrong))
    accounts = IdentityStoreAccounts.from_settings(parse_settings(tomllib.loads(settings)))
    with pytest.raises(BrokerUnavailable, match="refused the admin login"):
        with session_scope(hub.engine) as s:
            enrollment.add_gateway(s, accounts, gateway_id="gw-nobroker-01", actor=None)
    with session_scope(hub.engine) as s:
        assert s.query(EnrollmentToken).count() == 0
        assert gateways.find_gateway(s, "gw-nobroker-01") is None


def test_without_broker_settings_the_page_says_enrollment_is_not_set_up(tmp_path):
    from wardlink.hub.web.gateways.enroll import use_broker_accounts

    made = start_hub(tmp_path, None, https_dir=tmp_path / "https")
    try:
        use_broker_accounts(made.server.app, None)
        session = made.admin_session()
        page = session.get(f"{made.url}/gateways", timeout=15)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        answer = session.post(f"{made.url}/enrollment/gateways", data={"csrf_token": csrf, "gateway_id": "gw-x-01"},
                              timeout=15)
        assert "Nothing was changed: enrollment is not set up on this hub" in answer.text
        assert "gw-x-01" not in session.get(f"{made.url}/gateways", timeout=15).text
        refused = _post(made, {"token": "wle_" + "C" * 43})
        assert refused.status_code == 503 and "not set up" in refused.json()["error"]["message"]
    finally:
        made.close()


def test_settings_that_appear_after_the_web_started_are_used_without_a_restart(tmp_path, broker, monkeypatch):
    """The deployment guide starts the web unit before it writes the enrollment settings."""
    from wardlink.hub.web import create_app
    from wardlink.hub.web.gateways.enroll import NOT_SET_UP
    from wardlink.hub.web.gateways.enroll import broker_accounts as web_accounts
    from wardlink.provisioning.enroll import DEFAULT_SETTINGS

    if DEFAULT_SETTINGS.exists():
        pytest.skip(f"this machine has enrollment settings at {DEFAULT_SETTINGS}")
    monkeypatch.delenv("WARDLINK_ENROLLMENT_CONFIG", raising=False)
    (tmp_path / "hub").mkdir()
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path / "hub")})
    upgrade(config.resolved_database_url)
    app = create_app(config)
    with app.app_context():
        with pytest.raises(BrokerUnavailable, match=NOT_SET_UP.split(":")[0]):
            web_accounts()
        monkeypatch.setenv("WARDLINK_ENROLLMENT_CONFIG", str(broker.settings_file))
        assert web_accounts().gateway_broker().url == f"mqtts://127.0.0.1:{broker.tls_port}"


def test_the_entry_point_finds_the_settings_file(broker, tmp_path, monkeypatch):
    point = EntryPoint("provisioning", "wardlink.provisioning.enroll:broker_accounts", enrollment.ENTRY_POINT_GROUP)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    monkeypatch.setenv("WARDLINK_ENROLLMENT_CONFIG", str(broker.settings_file))
    accounts = enrollment.load_broker_accounts(config, entry_points=[point])
    assert isinstance(accounts, enrollment.BrokerAccounts)
    assert accounts.gateway_broker().url == f"mqtts://127.0.0.1:{broker.tls_port}"
    monkeypatch.setenv("WARDLINK_ENROLLMENT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingError, match="cannot read"):
        enrollment.load_broker_accounts(config, entry_points=[point])
    # Without the variable the default file may be absent: the hub then runs without enrollment.
    assert broker_accounts(config, environ={}, default=tmp_path / "absent.toml") is None
    assert broker_accounts(config, environ={}, default=broker.settings_file) is not None


@pytest.mark.parametrize("data, message", [
    ({}, "gateways.broker_url: is required"),
    ({"gateways": {"broker_url": "http://x"}}, "gateways.broker_url: broker url: must be mqtt://"),
    ({"gateways": {"broker_url": "mqtts://x:8883"}}, "ca file: required for mqtts://"),
    ({"gateways": {"broker_url": "mqtt://x"}, "broker_admin": {"auth": "ldap"}},
     "broker_admin.auth: must be one of dynsec, files, got 'ldap'"),
    ({"gateways": {"broker_url": "mqtt://x"}, "broker_admin": {"timeout": 0}}, "broker_admin.timeout"),
    ({"gateways": {"broker_url": "mqtt://x", "port": "1"}}, "gateways.port: unknown key"),
    ({"gateway": {}}, "[gateway]: unknown table"),
])
def test_settings_errors_name_the_key(data, message):
    with pytest.raises(SettingError) as caught:
        parse_settings(data, source="enrollment.toml")
    assert message in str(caught.value)


@pytest.mark.timeout(60)
def test_with_password_and_acl_files_a_gateway_is_created_off_issued_disabled_and_removed(file_broker, peers):
    accounts = IdentityStoreAccounts(lambda: contextlib.nullcontext(file_broker.store), "mqtt://127.0.0.1:1", None)
    server = file_broker.server
    accounts.create_gateway("gw-file-01")
    entry = {i.username: i for i in file_broker.store.identities()}["gw-file-01"]
    assert entry.enabled is False

    login = accounts.issue_gateway("gw-file-01")
    gateway = peers(server.host, server.port, login.username, login.password).login()
    hub_peer = peers(server.host, server.port, "wardlink-hub", file_broker.hub_password).login()
    hub_peer.subscribe("wardlink/v1/+/telemetry")
    gateway.publish("wardlink/v1/gw-file-01/telemetry", b"reading")
    hub_peer.wait_message("wardlink/v1/gw-file-01/telemetry", b"reading")

    assert accounts.set_gateway_enabled("gw-file-01", False) is True
    gateway.wait_disconnected()
    assert accounts.remove_gateway("gw-file-01") is True
    assert accounts.remove_gateway("gw-file-01") is False
    assert accounts.set_gateway_enabled("gw-file-01", True) is False
    again = peers(server.host, server.port, login.username, login.password)
    assert again.connect().is_failure
