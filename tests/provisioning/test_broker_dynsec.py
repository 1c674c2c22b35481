"""Gateway logins through Mosquitto's dynamic-security plugin, checked on a real broker."""

from __future__ import annotations

import json

import pytest

from wardlink.provisioning.acl import gateway_client_id
from wardlink.provisioning.errors import BrokerError, IdentityNotFound
from wardlink.provisioning.gateways import issue_gateway
from wardlink.provisioning.identities import IdentityStore

NOT_AUTHORIZED = "Not authorized"  # CONNACK return code 5 of MQTT 3.1.1, as paho names it
REFUSED = 0x80      # MQTT 3.1.1 SUBACK failure

pytestmark = pytest.mark.timeout(60)


def gateway(peers, broker, issued, **kw):
    return peers(broker.server.host, broker.server.port, issued.identity.username, issued.password,
                 client_id=kw.pop("client_id", gateway_client_id(issued.identity.username)), **kw)


def hub(peers, broker):
    return peers(broker.server.host, broker.server.port, "wardlink-hub", broker.hub_password).login()


def test_the_store_implements_the_identity_interface(identities):
    assert isinstance(identities, IdentityStore)


def test_a_provisioned_gateway_publishes_telemetry_the_hub_receives_through_a_shared_subscription(
        dynsec_broker, identities, peers):
    """The hub subscribes as ingest workers do ($share/...); the gateway publishes its telemetry."""
    issued = issue_gateway(identities, "gw-icu-01")
    ingest = hub(peers, dynsec_broker)
    assert ingest.subscribe("$share/ingest/wardlink/v1/+/telemetry") == 1
    assert ingest.subscribe("wardlink/v1/+/status") == 1
    gw = gateway(peers, dynsec_broker, issued).login()
    gw.publish("wardlink/v1/gw-icu-01/telemetry", b"batch-1")
    gw.publish("wardlink/v1/gw-icu-01/status", b"online", retain=True)
    ingest.wait_message("wardlink/v1/gw-icu-01/telemetry", b"batch-1")
    ingest.wait_message("wardlink/v1/gw-icu-01/status", b"online")


def test_gateway_a_cannot_publish_on_gateway_b_topics(dynsec_broker, identities, peers):
    """A publishes on B's topics, then on its own; the hub sees only A's own message.

    The broker forwards one connection's messages in order, so once the hub holds A's second
    message, the first one would have arrived before it had the broker let it through.
    """
    a = issue_gateway(identities, "gw-a")
    issue_gateway(identities, "gw-b")
    ingest = hub(peers, dynsec_broker)
    ingest.subscribe("wardlink/v1/+/telemetry")
    ingest.subscribe("wardlink/v1/+/status")
    gw_a = gateway(peers, dynsec_broker, a).login()
    gw_a.publish("wardlink/v1/gw-b/telemetry", b"forged")
    gw_a.publish("wardlink/v1/gw-b/status", b"offline", retain=True)
    gw_a.publish("wardlink/v1/gw-a/telemetry", b"marker")
    ingest.wait_message("wardlink/v1/gw-a/telemetry", b"marker")
    assert ingest.payloads("wardlink/v1/gw-b/telemetry") == []
    assert ingest.payloads("wardlink/v1/gw-b/status") == []


def test_gateway_a_cannot_subscribe_to_gateway_b_commands_or_config(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    issue_gateway(identities, "gw-b")
    gw_a = gateway(peers, dynsec_broker, a).login()
    assert gw_a.subscribe("wardlink/v1/gw-b/cmd/+") == REFUSED
    assert gw_a.subscribe("wardlink/v1/gw-b/config") == REFUSED
    assert gw_a.subscribe("wardlink/v1/+/cmd/#") == REFUSED
    assert gw_a.subscribe("#") == REFUSED
    # Its own topics, in the filter form the gateway runtime uses, are granted.
    assert gw_a.subscribe("wardlink/v1/gw-a/cmd/+") == 1
    assert gw_a.subscribe("wardlink/v1/gw-a/config") == 1


def test_the_hub_sends_config_and_commands_that_only_their_gateway_receives(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    gw_a = gateway(peers, dynsec_broker, a).login()
    gw_a.subscribe("wardlink/v1/gw-a/cmd/+")
    gw_a.subscribe("wardlink/v1/gw-a/config")
    sender = hub(peers, dynsec_broker)
    sender.publish("wardlink/v1/gw-a/config", b'{"version": 3}', retain=True)
    sender.publish("wardlink/v1/gw-a/cmd/identify", b"{}")
    gw_a.wait_message("wardlink/v1/gw-a/config", b'{"version": 3}')
    gw_a.wait_message("wardlink/v1/gw-a/cmd/identify", b"{}")


def test_the_hub_cannot_impersonate_a_gateway(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    gw_a = gateway(peers, dynsec_broker, a).login()
    observer = hub(peers, dynsec_broker)
    observer.subscribe("wardlink/v1/+/telemetry")
    observer.publish("wardlink/v1/gw-a/telemetry", b"forged-by-hub")
    gw_a.publish("wardlink/v1/gw-a/telemetry", b"marker")
    observer.wait_message("wardlink/v1/gw-a/telemetry", b"marker")
    assert observer.payloads("wardlink/v1/gw-a/telemetry") == [b"marker"]


def test_a_disabled_gateway_is_disconnected_at_once_and_cannot_reconnect(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    gw_a = gateway(peers, dynsec_broker, a).login()
    identities.set_enabled("gw-a", False)
    gw_a.wait_disconnected()
    again = gateway(peers, dynsec_broker, a)
    assert str(again.connect()) == NOT_AUTHORIZED
    assert {i.username: i.enabled for i in identities.identities()}["gw-a"] is False

    identities.set_enabled("gw-a", True)
    assert not gateway(peers, dynsec_broker, a).connect().is_failure


def test_a_removed_gateway_is_disconnected_and_its_role_is_gone(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    gw_a = gateway(peers, dynsec_broker, a).login()
    identities.remove_gateway("gw-a")
    gw_a.wait_disconnected()
    assert str(gateway(peers, dynsec_broker, a).connect()) == NOT_AUTHORIZED
    assert "gw-a" not in {i.username for i in identities.identities()}
    (answer,) = identities.client.execute({"command": "getRole", "rolename": "gw-gw-a"},
                                          tolerate={"Role not found"})
    assert answer["error"] == "Role not found"
    with pytest.raises(IdentityNotFound):
        identities.set_enabled("gw-a", True)


def test_a_login_works_only_with_the_gateways_own_client_id(dynsec_broker, identities, peers):
    """Binding the client id stops one gateway from taking over another's persistent session."""
    a = issue_gateway(identities, "gw-a")
    issue_gateway(identities, "gw-b")
    assert str(gateway(peers, dynsec_broker, a, client_id=gateway_client_id("gw-b")).connect()) == NOT_AUTHORIZED
    assert str(gateway(peers, dynsec_broker, a, client_id="anything").connect()) == NOT_AUTHORIZED


def test_adding_again_resets_the_password_and_repairs_the_role(dynsec_broker, identities, peers):
    first = issue_gateway(identities, "gw-a")
    identities.client.execute({"command": "modifyRole", "rolename": "gw-gw-a", "acls": [
        {"acltype": "subscribePattern", "topic": "#", "allow": True}]})
    identities.set_enabled("gw-a", False)
    second = issue_gateway(identities, "gw-a")
    assert second.password != first.password
    assert str(gateway(peers, dynsec_broker, first).connect()) == NOT_AUTHORIZED
    gw_a = gateway(peers, dynsec_broker, second).login()
    assert gw_a.subscribe("#") == REFUSED


def test_the_admin_login_can_do_nothing_but_administer(dynsec_broker, peers):
    admin = peers(dynsec_broker.server.host, dynsec_broker.server.port, "wardlink-admin",
                  dynsec_broker.admin_password).login()
    assert admin.subscribe("wardlink/v1/+/telemetry") == REFUSED
    assert admin.subscribe("$CONTROL/dynamic-security/v1/response") == 1


def test_a_wrong_admin_password_is_a_clear_error(dynsec_broker):
    from wardlink.provisioning.dynsec import DynsecClient

    with pytest.raises(BrokerError, match="refused the admin login"):
        DynsecClient(dynsec_broker.address, "wardlink-admin", "wrong", timeout=5).open()


def test_changes_survive_a_broker_restart(dynsec_broker, identities, peers):
    a = issue_gateway(identities, "gw-a")
    identities.client.close()
    dynsec_broker.server.stop()
    saved = json.loads(dynsec_broker.state_file.read_text())
    assert "gw-a" in {c["username"] for c in saved["clients"]}
    dynsec_broker.server.start()
    gateway(peers, dynsec_broker, a).login()


def test_set_password_replaces_the_hubs_password(dynsec_broker, identities, peers):
    identities.set_password("wardlink-hub", "a-new-long-password")
    old = peers(dynsec_broker.server.host, dynsec_broker.server.port, "wardlink-hub", dynsec_broker.hub_password)
    assert str(old.connect()) == NOT_AUTHORIZED
    peers(dynsec_broker.server.host, dynsec_broker.server.port, "wardlink-hub", "a-new-long-password").login()
