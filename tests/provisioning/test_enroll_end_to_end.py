"""Enrollment end to end: an administrator adds a gateway on the hub (served by waitress behind
HTTPS), `wardlink-edge enroll` redeems the token as its own process, the gateway runs with what it
received and its telemetry reaches a hub-side subscriber through a real Mosquitto with the
dynamic-security plugin over TLS; then the administrator revokes it and the broker cuts it off.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import tomllib
from datetime import timedelta

import pytest
from enroll_support import INITIAL_CONFIG, INITIAL_TOML, ROOT, edge, mode, wardlink
from provisioning_support import Peer

from wardlink.hub.db import session_scope
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import enrollment
from wardlink import protocol


@pytest.fixture
def peers():
    """MQTT peers closed after the test."""
    made: list[Peer] = []

    def make(*args, **kwargs) -> Peer:
        made.append(Peer(*args, **kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def _add_through_the_page(hub, gateway_id: str) -> str:
    """Add a gateway with the form on the gateways page; return the token the answer shows."""
    session = hub.admin_session()
    page = session.get(f"{hub.url}/gateways", timeout=15)
    assert 'action="/enrollment/gateways"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{hub.url}/enrollment/gateways", timeout=15, allow_redirects=False,
                          data={"csrf_token": csrf, "gateway_id": gateway_id, "name": "ICU fridge room",
                                "ttl_hours": "24"})
    assert answer.status_code == 201, answer.text
    token = re.search(r'value="(wle_[A-Za-z0-9_-]+)"', answer.text).group(1)
    assert f"wardlink-edge enroll {hub.url} {token}" in answer.text
    return token


@pytest.mark.timeout(90)
def test_an_enrolled_gateway_publishes_and_a_revoked_one_is_cut_off(tmp_path, hub, broker, peers):
    # The hub's side: the page creates the gateway, its token and its (switched-off) login.
    page_token = _add_through_the_page(hub, "gw-icu-07")
    assert broker.logins()["gw-icu-07"].enabled is False
    # A new token with an initial config (emulated sensors) from the command line voids the first.
    initial = tmp_path / "initial.toml"
    initial.write_text(INITIAL_TOML)
    out = wardlink("--config", str(hub.config_file), "gateway", "token", "gw-icu-07", "--initial-config", str(initial))
    assert out.returncode == 0, out.stderr
    token = re.search(r"^  (wle_\S+)$", out.stdout, re.M).group(1)
    assert f"wardlink-edge enroll {hub.url} {token} --owner wardlink" in out.stdout
    voided = edge("enroll", hub.url, page_token, "--config-dir", str(tmp_path / "other"), "--ca-file", str(hub.ca_file))
    assert voided.returncode == 1 and "(token_revoked)" in voided.stderr and "voided" in voided.stderr

    # The gateway's side: a real process, verifying the hub's certificate with --ca-file.
    etc = tmp_path / "gw-etc"
    out = edge("enroll", hub.url, token, "--config-dir", str(etc), "--data-dir", str(tmp_path / "gw-data"),
               "--ca-file", str(hub.ca_file))
    assert out.returncode == 0, out.stderr
    assert "enrolled gateway gw-icu-07" in out.stdout
    for name in ("gateway.toml", "gateway.secret", "ca.crt"):
        assert mode(etc / name) == 0o600, name
    config = tomllib.loads((etc / "gateway.toml").read_text())
    assert config["gateway_id"] == "gw-icu-07"
    assert config["broker"] == {"url": f"mqtts://127.0.0.1:{broker.tls_port}", "ca_file": str(etc / "ca.crt"),
                                "credentials_file": str(etc / "gateway.secret")}
    assert {k: config[k] for k in INITIAL_CONFIG} == INITIAL_CONFIG
    assert (etc / "ca.crt").read_text() == broker.ca_file.read_text()
    secret = tomllib.loads((etc / "gateway.secret").read_text())
    assert secret["username"] == "gw-icu-07" and len(secret["password"]) >= 40
    assert broker.logins()["gw-icu-07"].enabled is True

    # The same token a second time: refused, nothing written.
    again = edge("enroll", hub.url, token, "--config-dir", str(tmp_path / "other"), "--ca-file", str(hub.ca_file))
    assert again.returncode == 1
    assert "already used" in again.stderr and "ask the hub for a new token" in again.stderr
    assert not (tmp_path / "other").exists()

    # The gateway runs on exactly what enrollment wrote; the hub's login receives its telemetry.
    subscriber = peers(broker.server.host, broker.server.port, "wardlink-hub", broker.hub_password).login()
    assert subscriber.subscribe("$share/ingest/wardlink/v1/+/telemetry") == 1
    gateway = subprocess.Popen([sys.executable, "-m", "wardlink.edge.cli", "run", "--config", str(etc / "gateway.toml")],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        topic = "wardlink/v1/gw-icu-07/telemetry"
        subscriber.wait(lambda: subscriber.payloads(topic), "telemetry from the enrolled gateway", timeout=20)
        batch = protocol.decode(topic, subscriber.payloads(topic)[0])
        assert {r.channel for r in batch.readings} <= {"fridge1.temp", "pump1.current"}

        # Revoking on the gateway page deletes the login and kicks the session at once.
        session = hub.admin_session()
        page = session.get(f"{hub.url}/gateways/gw-icu-07", timeout=15)
        assert "/enrollment/gateways/gw-icu-07/revoke" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = session.post(f"{hub.url}/enrollment/gateways/gw-icu-07/revoke", data={"csrf_token": csrf},
                              timeout=15)
        assert answer.status_code == 200 and "revoked" in answer.text
        assert "gw-icu-07" not in broker.logins()
        # Kicked at once; the gateway keeps trying (buffering meanwhile) and the broker refuses it.
        broker.server.wait_for_log(
            r"Client wardlink-gw-gw-icu-07 been disconnected by administrative action\.(?s:.*)"
            rf"New connection from [^\n]* on port {broker.tls_port}\.\n[^\n]*Client <unknown> disconnected, "
            r"not authorised", timeout=20)
        thief = peers(broker.server.host, broker.tls_port, secret["username"], secret["password"],
                      client_id="wardlink-gw-gw-icu-07", ca_file=etc / "ca.crt")
        assert thief.connect().is_failure
    finally:
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
    assert gateway.returncode == 0, err[-2000:]
    with session_scope(hub.engine) as s:
        entries = audit.list_entries(s, actor=None, entity="gateway", entity_id="gw-icu-07", per_page=50).items
    actions = [e.action for e in reversed(entries)]
    assert actions == ["gateway.create", "gateway.enroll_token", "gateway.enroll_token", "gateway.enroll_refused",
                       "gateway.enroll", "gateway.enroll_refused", "gateway.disable", "gateway.revoke"]
    enrolled = next(e for e in entries if e.action == "gateway.enroll")
    assert json.loads(enrolled.after_json)["hostname"] == socket.gethostname()
    assert enrolled.source_ip == "127.0.0.1" and enrolled.actor == "enrollment"


@pytest.mark.timeout(60)
def test_expired_tokens_are_refused_and_a_wrong_hub_certificate_spends_nothing(tmp_path, hub, broker):
    with session_scope(hub.engine) as s:
        issued = enrollment.add_gateway(s, broker.accounts(), gateway_id="gw-or-02", actor=None, clock=hub.clock,
                                        ttl=timedelta(hours=2))
    # A hub certificate the gateway cannot verify: refused before the token is sent.
    out = edge("enroll", hub.url, issued.token, "--config-dir", str(tmp_path / "etc"))
    assert out.returncode == 1
    assert "cannot verify the hub's HTTPS certificate" in out.stderr and "--ca-file" in out.stderr
    assert not (tmp_path / "etc").exists()

    hub.clock.advance(2 * 3600 + 1)
    out = edge("enroll", hub.url, issued.token, "--config-dir", str(tmp_path / "etc"), "--ca-file", str(hub.ca_file))
    assert out.returncode == 1
    assert "(token_expired)" in out.stderr and "expired at" in out.stderr
    assert not (tmp_path / "etc").exists()
    # Still switched off: an expired token changes nothing on the broker.
    assert broker.logins()["gw-or-02"].enabled is False
