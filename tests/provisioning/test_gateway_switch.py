"""Disabling or enabling a gateway takes one path whichever way an administrator works: the
gateway page, `wardlink gateway disable|enable` and `wardlink broker gateway disable|enable`
all change the hub's gateway, the broker login and the audit trail together.

The broker is a real Mosquitto with the dynamic-security plugin; the hub is served by
waitress behind HTTPS; the commands run through ``wardlink``'s own entry point in this process.
"""

from __future__ import annotations

import pytest
from enroll_support import csrf_from

from wardlink.hub.cli import main
from wardlink.hub.db import session_scope
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import enrollment
from wardlink.hub.services.gateways import registry as gateways

pytestmark = pytest.mark.timeout(120)
WAYS = ("gateway page", "wardlink gateway", "wardlink broker gateway")


def _broker_options(broker, tmp_path) -> list[str]:
    secret = tmp_path / "admin.secret"
    secret.write_text(broker.admin_password + "\n")
    return ["--broker-url", f"mqtt://{broker.server.host}:{broker.server.port}", "--admin-password-file",
            str(secret)]


def _switch(way: str, hub, broker, tmp_path, capsys, gateway_id: str, action: str) -> None:
    if way == "gateway page":
        session = hub.admin_session()
        csrf = csrf_from(session.get(f"{hub.url}/gateways/{gateway_id}", timeout=15).text)
        answer = session.post(f"{hub.url}/enrollment/gateways/{gateway_id}/{action}", data={"csrf_token": csrf},
                              timeout=15)
        assert answer.status_code == 200 and f"Gateway {gateway_id} {action}d" in answer.text, answer.text
        return
    if way == "wardlink gateway":
        words = ["gateway", action, gateway_id, "--settings", str(broker.settings_file)]
    else:
        words = ["broker", "gateway", action, gateway_id, *_broker_options(broker, tmp_path)]
    code = main(["--config", str(hub.config_file), *words])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "only the broker login" not in out.err and f"gateway {gateway_id}: {action}d" in out.out


def _hub_side(hub, gateway_id: str) -> tuple[bool, list[str]]:
    """Return whether the hub shows the gateway enabled (its JSON API and its database agree)."""
    shown = hub.admin_session().get(f"{hub.url}/api/v1/gateways/{gateway_id}", timeout=15)
    assert shown.status_code == 200, shown.text
    with session_scope(hub.engine) as s:
        enabled = gateways.get_gateway(s, gateway_id, actor=None).enabled
        page = audit.list_entries(s, actor=None, entity="gateway", entity_id=gateway_id, per_page=100)
        actions = [e.action for e in reversed(page.items)]
    assert shown.json()["enabled"] is enabled
    return enabled, actions


@pytest.mark.parametrize("way", WAYS)
def test_disable_and_enable_change_the_hub_the_broker_and_the_audit_trail(way, hub, broker, peers, tmp_path,
                                                                         capsys):
    gateway_id = "gw-ward-07"
    with session_scope(hub.engine) as s:
        enrollment.add_gateway(s, broker.accounts(), gateway_id=gateway_id, actor=None, clock=hub.clock)
    login = broker.accounts().issue_gateway(gateway_id)  # what enrolling does

    def connect():
        return peers(broker.server.host, broker.server.port, login.username, login.password,
                     client_id=f"wardlink-gw-{gateway_id}")

    connected = connect().login()
    _switch(way, hub, broker, tmp_path, capsys, gateway_id, "disable")
    connected.wait_disconnected()
    assert connect().connect().is_failure  # and it cannot come back
    assert broker.logins()[gateway_id].enabled is False
    assert _hub_side(hub, gateway_id) == (False, ["gateway.create", "gateway.enroll_token", "gateway.disable"])

    _switch(way, hub, broker, tmp_path, capsys, gateway_id, "enable")
    connect().login()
    assert broker.logins()[gateway_id].enabled is True
    assert _hub_side(hub, gateway_id) == (True, ["gateway.create", "gateway.enroll_token", "gateway.disable",
                                                 "gateway.enable"])


def test_the_broker_command_still_cuts_off_a_login_the_hub_does_not_know(hub, broker, peers, tmp_path, capsys):
    login = broker.accounts().issue_gateway("gw-by-hand")  # made with `wardlink broker gateway add`
    connected = peers(broker.server.host, broker.server.port, login.username, login.password,
                      client_id="wardlink-gw-gw-by-hand").login()
    code = main(["--config", str(hub.config_file), "broker", "gateway", "disable", "gw-by-hand",
                 *_broker_options(broker, tmp_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "gateway 'gw-by-hand'" in out.err and "only the broker login is switched" in out.err
    connected.wait_disconnected()
    assert broker.logins()["gw-by-hand"].enabled is False
