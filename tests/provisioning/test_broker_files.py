"""The fallback without the plugin: a Mosquitto password file and ACL file, on a real broker."""

from __future__ import annotations

import subprocess

import pytest
from provisioning_support import wait_until

from wardlink.provisioning.gateways import issue_gateway
from wardlink.provisioning.identities import IdentityStore
from wardlink.provisioning.passwords import PasswordFile

NOT_AUTHORIZED = "Not authorized"

pytestmark = pytest.mark.timeout(60)


def gateway(peers, broker, issued):
    return peers(broker.server.host, broker.server.port, issued.identity.username, issued.password)


def hub(peers, broker):
    return peers(broker.server.host, broker.server.port, "wardlink-hub", broker.hub_password).login()


def test_the_store_implements_the_identity_interface(file_broker):
    assert isinstance(file_broker.store, IdentityStore)


def test_a_provisioned_gateway_publishes_telemetry_the_hub_receives(file_broker, peers):
    issued = issue_gateway(file_broker.store, "gw-icu-01")
    ingest = hub(peers, file_broker)
    assert ingest.subscribe("$share/ingest/wardlink/v1/+/telemetry") == 1
    gw = gateway(peers, file_broker, issued).login()
    gw.publish("wardlink/v1/gw-icu-01/telemetry", b"batch-1")
    ingest.wait_message("wardlink/v1/gw-icu-01/telemetry", b"batch-1")


def test_gateway_a_cannot_publish_on_gateway_b_topics(file_broker, peers):
    """A's forged message is dropped; A's own later message proves the hub would have seen it."""
    a = issue_gateway(file_broker.store, "gw-a")
    issue_gateway(file_broker.store, "gw-b")
    ingest = hub(peers, file_broker)
    ingest.subscribe("wardlink/v1/+/telemetry")
    gw_a = gateway(peers, file_broker, a).login()
    gw_a.publish("wardlink/v1/gw-b/telemetry", b"forged")
    gw_a.publish("wardlink/v1/gw-a/telemetry", b"marker")
    ingest.wait_message("wardlink/v1/gw-a/telemetry", b"marker")
    assert ingest.payloads("wardlink/v1/gw-b/telemetry") == []


def test_gateway_a_receives_nothing_on_gateway_b_commands(file_broker, peers):
    """Mosquitto 2.0 grants the SUBSCRIBE with an ACL file but delivers nothing on it.

    The hub sends B a command, then A one; A gets its own and never B's (same sender, same
    receiver: the broker keeps the order).
    """
    a = issue_gateway(file_broker.store, "gw-a")
    issue_gateway(file_broker.store, "gw-b")
    gw_a = gateway(peers, file_broker, a).login()
    gw_a.subscribe("wardlink/v1/gw-b/cmd/+")
    gw_a.subscribe("wardlink/v1/gw-a/cmd/+")
    sender = hub(peers, file_broker)
    sender.publish("wardlink/v1/gw-b/cmd/identify", b"for-b")
    sender.publish("wardlink/v1/gw-a/cmd/identify", b"for-a")
    gw_a.wait_message("wardlink/v1/gw-a/cmd/identify", b"for-a")
    assert gw_a.payloads("wardlink/v1/gw-b/cmd/identify") == []


def test_a_disabled_gateway_is_disconnected_on_reload_and_cannot_reconnect(file_broker, peers):
    a = issue_gateway(file_broker.store, "gw-a")
    gw_a = gateway(peers, file_broker, a).login()
    file_broker.store.set_enabled("gw-a", False)
    gw_a.wait_disconnected()
    assert str(gateway(peers, file_broker, a).connect()) == NOT_AUTHORIZED
    entry = PasswordFile(file_broker.store.password_file).get("gw-a")
    assert entry is not None and not entry.enabled

    file_broker.store.set_enabled("gw-a", True)
    wait_until(lambda: not gateway(peers, file_broker, a).connect().is_failure, 10, "re-enabled login accepted")


def test_a_removed_gateway_is_disconnected_and_loses_its_acl(file_broker, peers):
    a = issue_gateway(file_broker.store, "gw-a")
    gw_a = gateway(peers, file_broker, a).login()
    file_broker.store.remove_gateway("gw-a")
    gw_a.wait_disconnected()
    assert str(gateway(peers, file_broker, a).connect()) == NOT_AUTHORIZED
    assert "user gw-a" not in file_broker.store.acl_file.read_text()
    assert [i.username for i in file_broker.store.identities()] == ["wardlink-hub"]


def test_a_password_file_written_by_mosquitto_passwd_is_read_and_kept(tmp_path):
    """Logins added with the broker's own tool survive our edits, hash and all."""
    path = tmp_path / "passwd"
    path.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "s3cret-pw"], check=True, timeout=30)
    original = path.read_text()
    passwords = PasswordFile(path)
    assert passwords.verify("alice", "s3cret-pw") and not passwords.verify("alice", "wrong")
    passwords.set_password("gw-a", "another")
    passwords.save()
    assert path.read_text().startswith(original)
