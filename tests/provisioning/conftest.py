"""Fixtures for the provisioning tests: brokers set up the way `wardlink broker` sets them up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from enroll_support import start_broker, start_hub
from provisioning_support import Peers, dynsec_plugin

from wardlink.provisioning.dynsec import DynsecClient, DynsecIdentities, initial_config
from wardlink.provisioning.identities import FileIdentities, sighup_from_pid_file
from wardlink.provisioning.mqttadmin import BrokerAddress
from wardlink.provisioning.passwords import generate_password


@pytest.fixture
def peers():
    """Make MQTT peers (provisioning_support.Peer) that are closed after the test."""
    made = Peers()
    yield made
    made.close()


@dataclass
class DynsecBroker:
    """A Mosquitto running the dynamic-security plugin from our initial_config()."""

    server: object
    admin_password: str
    hub_password: str
    state_file: Path

    @property
    def address(self) -> BrokerAddress:
        """Return the plain listener's address."""
        return BrokerAddress(self.server.host, self.server.port)

    def admin(self) -> DynsecClient:
        """Return an unopened admin client."""
        return DynsecClient(self.address, "wardlink-admin", self.admin_password, timeout=10)


@pytest.fixture
def dynsec_broker(mosquitto_factory, tmp_path):
    """Start a broker with the plugin, an admin login and the hub login `wardlink-hub`."""
    admin_password, hub_password = generate_password(), generate_password()
    state = tmp_path / "dynamic-security.json"
    state.write_text(json.dumps(initial_config(admin_password, hub_password)))
    server = mosquitto_factory(extra_config=[
        f"plugin {dynsec_plugin()}",
        f"plugin_opt_config_file {state}",
        # The fixture allows anonymous clients unless it writes a password file; production does not.
        "allow_anonymous false",
    ])
    return DynsecBroker(server, admin_password, hub_password, state)


@pytest.fixture
def identities(dynsec_broker):
    """An open DynsecIdentities on the dynsec broker."""
    client = dynsec_broker.admin().open()
    yield DynsecIdentities(client)
    client.close()


@dataclass
class FileBroker:
    """A Mosquitto whose logins and ACLs come from files that FileIdentities writes."""

    server: object
    store: FileIdentities
    hub_password: str


@pytest.fixture
def file_broker(mosquitto_factory, tmp_path):
    """Start a broker on a password file and ACL file holding the hub login `wardlink-hub`."""
    passwd, acl = tmp_path / "wardlink.passwd", tmp_path / "wardlink.acl"
    hub_password = generate_password()
    FileIdentities(passwd, acl).ensure_hub(hub_password)
    server = mosquitto_factory(extra_config=[f"password_file {passwd}", f"acl_file {acl}",
                                             "allow_anonymous false"])
    # As `--reload-pid-file /run/mosquitto/mosquitto.pid` does, with the test broker's pid.
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{server.pid}\n")
    return FileBroker(server, FileIdentities(passwd, acl, reload=sighup_from_pid_file(pid_file)), hub_password)


@pytest.fixture
def broker(mosquitto_factory, tmp_path):
    """A Mosquitto with the plugin and a TLS listener as production runs it, and the enrollment
    settings file pointing at it."""
    return start_broker(mosquitto_factory, tmp_path)


@pytest.fixture
def hub(tmp_path, broker):
    """The hub web service behind HTTPS, changing broker logins through the settings file."""
    made = start_hub(tmp_path, broker.accounts(), https_dir=tmp_path / "https")
    yield made
    made.close()
